//! Where the access token comes from, as the Hugging Face tools look for
//! it: the `HF_TOKEN` variable, else the token file (`HF_TOKEN_PATH`, else
//! `$HF_HOME/token`, else `$XDG_CACHE_HOME/huggingface/token`, else
//! `~/.cache/huggingface/token`). Not a command-line flag: arguments show
//! in process lists and shell history. The token is never printed.

use std::path::PathBuf;

use crate::error::{Error, Result};

/// Token files larger than this are not tokens.
const MAX_TOKEN_FILE: u64 = 4096;

/// The token to use, if the environment provides one.
pub fn find() -> Result<Option<String>> {
    find_with(|k| std::env::var_os(k).map(|v| v.to_string_lossy().into_owned()))
}

/// [`find`] over an injectable environment (for tests).
pub fn find_with(env: impl Fn(&str) -> Option<String>) -> Result<Option<String>> {
    if let Some(t) = env("HF_TOKEN").filter(|t| !t.trim().is_empty()) {
        return check(t.trim(), "HF_TOKEN").map(Some);
    }
    let Some(path) = token_path(&env) else {
        return Ok(None);
    };
    let Ok(meta) = std::fs::metadata(&path) else {
        return Ok(None);
    };
    let source = path.display().to_string();
    if !meta.is_file() || meta.len() > MAX_TOKEN_FILE {
        return Err(Error::HubBadToken {
            source_name: source,
        });
    }
    match std::fs::read_to_string(&path) {
        Ok(text) if text.trim().is_empty() => Ok(None),
        Ok(text) => check(text.trim(), &source).map(Some),
        Err(_) => Err(Error::HubBadToken {
            source_name: source,
        }),
    }
}

fn token_path(env: &impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let nonempty = |k: &str| env(k).filter(|v| !v.is_empty());
    if let Some(p) = nonempty("HF_TOKEN_PATH") {
        return Some(PathBuf::from(p));
    }
    if let Some(home) = nonempty("HF_HOME") {
        return Some(PathBuf::from(home).join("token"));
    }
    if let Some(cache) = nonempty("XDG_CACHE_HOME") {
        return Some(PathBuf::from(cache).join("huggingface").join("token"));
    }
    nonempty("HOME").map(|h| PathBuf::from(h).join(".cache/huggingface/token"))
}

/// A token goes into an HTTP header: printable ASCII without spaces only.
fn check(token: &str, source: &str) -> Result<String> {
    if token.len() <= 1024 && token.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(token.to_string())
    } else {
        Err(Error::HubBadToken {
            source_name: source.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_order() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().to_string_lossy().into_owned();
        std::fs::write(dir.path().join("token"), "hf_file\n").unwrap();
        let env = |vars: Vec<(&'static str, String)>| {
            move |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
        };
        assert_eq!(
            find_with(env(vec![
                ("HF_TOKEN", "hf_env".into()),
                ("HF_HOME", home.clone())
            ]))
            .unwrap(),
            Some("hf_env".into())
        );
        assert_eq!(
            find_with(env(vec![("HF_HOME", home.clone())])).unwrap(),
            Some("hf_file".into())
        );
        assert_eq!(
            find_with(env(vec![("HF_HOME", "/nonexistent".into())])).unwrap(),
            None
        );
        assert!(find_with(env(vec![("HF_TOKEN", "a b".into())])).is_err());
        let err = find_with(env(vec![("HF_TOKEN", "hf_x\u{7}".into())])).unwrap_err();
        assert!(!err.to_string().contains("hf_x"));
    }
}
