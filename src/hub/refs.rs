//! What the user names: `hf://owner/repo[@rev][/file]` or a Hub URL
//! (`https://huggingface.co/owner/repo[/tree/rev|/blob/rev/file|/resolve/rev/file]`),
//! and the checks every name from the Hub goes through before it is used
//! in a URL or on disk. Pure string work: no I/O.

use crate::error::{Error, Result};

/// The official Hub; `--hub` or `HF_ENDPOINT` replace it.
pub const DEFAULT_HUB: &str = "https://huggingface.co";

/// A model repo at a revision, and optionally one file in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoRef {
    /// `owner/name`.
    pub repo: String,
    /// Branch, tag or commit (default `main`).
    pub revision: String,
    /// A path inside the repo, when one file is meant.
    pub file: Option<String>,
}

impl RepoRef {
    /// `owner/name@rev`, for messages.
    pub fn display(&self) -> String {
        format!("{}@{}", self.repo, self.revision)
    }
}

/// Whether `input` is meant for the Hub rather than a local path.
pub fn is_hub_ref(input: &str) -> bool {
    input.starts_with("hf://") || input.starts_with("https://") || input.starts_with("http://")
}

/// Parse a Hub reference. URLs are accepted on huggingface.co (and hf.co)
/// and on `hub_base`, the Hub actually used.
pub fn parse(input: &str, hub_base: &str) -> Result<RepoRef> {
    let bad = |reason| Error::HubBadReference {
        input: input.to_string(),
        reason,
    };
    if input.chars().any(char::is_control) {
        return Err(bad("it contains control characters"));
    }
    if let Some(rest) = input.strip_prefix("hf://") {
        return parse_hf(rest, input);
    }
    let base = hub_base.trim_end_matches('/');
    let rest = [
        "https://huggingface.co/",
        "https://hf.co/",
        "https://www.huggingface.co/",
    ]
    .iter()
    .find_map(|p| input.strip_prefix(p))
    .or_else(|| input.strip_prefix(base).and_then(|r| r.strip_prefix('/')))
    .ok_or_else(|| bad("only hf://owner/repo and URLs of the Hub are supported"))?;
    // Drop a query or fragment (`?download=true`, `#L1`).
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    if matches!(segs.first(), Some(&("datasets" | "spaces"))) {
        return Err(bad("only model repos hold weights to compress here"));
    }
    let (owner, name) = match segs.as_slice() {
        [o, n, ..] => (*o, *n),
        _ => return Err(bad("it names no owner/repo")),
    };
    let repo = format!("{owner}/{name}");
    validate_repo_id(&repo)?;
    let (revision, file) = match segs.get(2..).unwrap_or_default() {
        [] => ("main".to_string(), None),
        ["tree", rev, ..] => (percent_decode(rev, input)?, None),
        ["blob" | "resolve", rev, path @ ..] if !path.is_empty() => {
            let parts: Result<Vec<String>> =
                path.iter().map(|p| percent_decode(p, input)).collect();
            (percent_decode(rev, input)?, Some(parts?.join("/")))
        }
        _ => {
            return Err(bad(
                "expected /tree/REV, /blob/REV/FILE or /resolve/REV/FILE after the repo",
            ))
        }
    };
    validate_revision(&revision, input)?;
    if let Some(f) = &file {
        validate_repo_path(f)?;
    }
    Ok(RepoRef {
        repo,
        revision,
        file,
    })
}

/// `owner/repo[@rev][/file]`; a revision with slashes (`refs/pr/1`) is
/// written percent-encoded (`refs%2Fpr%2F1`) or as `refs/pr/N` itself.
fn parse_hf(rest: &str, input: &str) -> Result<RepoRef> {
    let bad = |reason| Error::HubBadReference {
        input: input.to_string(),
        reason,
    };
    if rest.starts_with("datasets/") || rest.starts_with("spaces/") {
        return Err(bad("only model repos hold weights to compress here"));
    }
    let mut segs = rest.split('/');
    let owner = segs.next().unwrap_or_default();
    let name_rev = segs.next().ok_or_else(|| bad("expected hf://owner/repo"))?;
    let mut tail: Vec<&str> = segs.collect();
    let (name, revision) = match name_rev.split_once('@') {
        None => (name_rev, "main".to_string()),
        Some((name, rev)) => {
            let mut rev = rev.to_string();
            // refs/pr/N and refs/convert/X span three segments.
            if rev == "refs" && tail.len() >= 2 && matches!(tail.first(), Some(&("pr" | "convert")))
            {
                rev = format!("refs/{}/{}", tail[0], tail[1]);
                tail.drain(..2);
            }
            (name, percent_decode(&rev, input)?)
        }
    };
    let repo = format!("{owner}/{name}");
    validate_repo_id(&repo)?;
    validate_revision(&revision, input)?;
    let file = if tail.is_empty() || tail.iter().all(|s| s.is_empty()) {
        None
    } else {
        let f = tail.join("/");
        validate_repo_path(&f)?;
        Some(f)
    };
    Ok(RepoRef {
        repo,
        revision,
        file,
    })
}

/// The Hub's rules for `owner/name`: two parts of letters, digits, `-`,
/// `_` and `.`, at most 96 characters each, not starting or ending with
/// `-` or `.`, and no `--` or `..`.
pub fn validate_repo_id(id: &str) -> Result<()> {
    let bad = |reason| {
        Err(Error::HubBadRepoId {
            id: id.to_string(),
            reason,
        })
    };
    let parts: Vec<&str> = id.split('/').collect();
    if parts.len() != 2 {
        return bad("expected owner/name");
    }
    for part in parts {
        if part.is_empty() || part.len() > 96 {
            return bad("each part must be 1 to 96 characters");
        }
        if !part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return bad("only letters, digits, '-', '_' and '.' are allowed");
        }
        if part.starts_with(['-', '.']) || part.ends_with(['-', '.']) {
            return bad("a part may not start or end with '-' or '.'");
        }
        if part.contains("--") || part.contains("..") {
            return bad("'--' and '..' are not allowed");
        }
    }
    Ok(())
}

fn validate_revision(rev: &str, input: &str) -> Result<()> {
    let ok = !rev.is_empty()
        && rev.len() <= 256
        && !rev.chars().any(|c| c.is_control() || c.is_whitespace())
        && !rev
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..");
    if ok {
        Ok(())
    } else {
        Err(Error::HubBadReference {
            input: input.to_string(),
            reason: "bad revision",
        })
    }
}

/// A path inside a repo: relative, no `..` or `.` components, no empty
/// components, no backslashes, no URL, no control characters.
pub fn validate_repo_path(path: &str) -> Result<()> {
    path_problem(path).map_or(Ok(()), |reason| {
        Err(Error::HubBadPath {
            path: path.to_string(),
            reason,
        })
    })
}

/// Why `path` is not a safe relative repo path, if it is not.
pub fn path_problem(path: &str) -> Option<&'static str> {
    if path.is_empty() || path.len() > 1024 {
        Some("empty or longer than 1024 bytes")
    } else if path.contains("://") {
        Some("a URL, not a file name")
    } else if path.starts_with('/') || path.starts_with('\\') || path.get(1..2) == Some(":") {
        Some("an absolute path")
    } else if path.contains('\\') {
        Some("contains a backslash")
    } else if path.chars().any(char::is_control) {
        Some("contains control characters")
    } else if path.split('/').any(|s| s == "..") {
        Some("a '..' component would leave the repo")
    } else if path.split('/').any(|s| s.is_empty() || s == ".") {
        Some("an empty or '.' component")
    } else {
        None
    }
}

/// A name for a repo file on the local disk: one component (directories
/// folded into `_`), no `..`, no control or reserved characters, not
/// hidden, at most 200 bytes.
pub fn output_name(path: &str) -> String {
    let mut name: String = path
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '/' | '\\' | ':' | '<' | '>' | '"' | '|' | '?' | '*') {
                '_'
            } else {
                c
            }
        })
        .collect();
    while name.contains("..") {
        name = name.replace("..", "._");
    }
    if name.starts_with('.') || name.is_empty() {
        name.insert(0, '_');
    }
    let mut end = name.len().min(200);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name.truncate(end);
    name
}

/// Percent-encode one path segment (RFC 3986 unreserved characters pass).
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-encode a repo path, keeping its `/` separators.
pub fn encode_path(path: &str) -> String {
    path.split('/')
        .map(encode_segment)
        .collect::<Vec<_>>()
        .join("/")
}

fn percent_decode(s: &str, input: &str) -> Result<String> {
    let bad = || Error::HubBadReference {
        input: input.to_string(),
        reason: "bad percent-encoding",
    };
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or_else(bad)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<RepoRef> {
        parse(s, "http://127.0.0.1:9")
    }

    fn r(repo: &str, rev: &str, file: Option<&str>) -> RepoRef {
        RepoRef {
            repo: repo.into(),
            revision: rev.into(),
            file: file.map(Into::into),
        }
    }

    #[test]
    fn hf_scheme() {
        assert_eq!(p("hf://a/b").unwrap(), r("a/b", "main", None));
        assert_eq!(p("hf://a/b@v1").unwrap(), r("a/b", "v1", None));
        assert_eq!(
            p("hf://a/b@v1/sub/model.safetensors").unwrap(),
            r("a/b", "v1", Some("sub/model.safetensors"))
        );
        assert_eq!(
            p("hf://a/b/model.safetensors").unwrap(),
            r("a/b", "main", Some("model.safetensors"))
        );
        assert_eq!(
            p("hf://a/b@refs/pr/3/x.safetensors").unwrap(),
            r("a/b", "refs/pr/3", Some("x.safetensors"))
        );
        assert_eq!(
            p("hf://a/b@refs%2Fpr%2F3").unwrap(),
            r("a/b", "refs/pr/3", None)
        );
        assert_eq!(p("hf://a/b/").unwrap(), r("a/b", "main", None));
    }

    #[test]
    fn urls() {
        assert_eq!(
            p("https://huggingface.co/a/b").unwrap(),
            r("a/b", "main", None)
        );
        assert_eq!(
            p("https://huggingface.co/a/b/tree/dev").unwrap(),
            r("a/b", "dev", None)
        );
        assert_eq!(
            p("https://huggingface.co/a/b/blob/main/m.safetensors?download=true").unwrap(),
            r("a/b", "main", Some("m.safetensors"))
        );
        assert_eq!(
            p("https://hf.co/a/b/resolve/refs%2Fpr%2F1/d/m.safetensors").unwrap(),
            r("a/b", "refs/pr/1", Some("d/m.safetensors"))
        );
        assert_eq!(
            p("http://127.0.0.1:9/a/b/resolve/main/m.safetensors").unwrap(),
            r("a/b", "main", Some("m.safetensors"))
        );
    }

    #[test]
    fn bad_references() {
        for bad in [
            "hf://a",
            "hf://a/b/c/../x",
            "hf://a/b@",
            "hf://a/b@x/..",
            "hf://datasets/a/b",
            "https://example.com/a/b",
            "https://huggingface.co/a",
            "https://huggingface.co/datasets/a/b",
            "https://huggingface.co/a/b/commits/main",
            "hf://a/b@%zz",
            "hf://a/b\n",
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
        for bad_id in [
            "hf://-a/b",
            "hf://a/b.",
            "hf://a--x/b",
            "hf://a/b c",
            "hf://a/é",
        ] {
            assert!(
                matches!(p(bad_id), Err(Error::HubBadRepoId { .. })),
                "{bad_id}"
            );
        }
    }

    #[test]
    fn paths_and_names() {
        assert!(validate_repo_path("a/b.safetensors").is_ok());
        for bad in [
            "",
            "../x",
            "a/../x",
            "/etc/x",
            "C:x",
            "a\\b",
            "http://x/y",
            "a//b",
            "./a",
        ] {
            assert!(validate_repo_path(bad).is_err(), "{bad}");
        }
        assert_eq!(output_name("model.safetensors"), "model.safetensors");
        assert_eq!(output_name("unet/m.safetensors"), "unet_m.safetensors");
        assert_eq!(output_name("../x"), "_.__x");
        assert_eq!(output_name(".hidden"), "_.hidden");
        assert_eq!(output_name("a\u{1b}[31m"), "a_[31m");
        assert!(!output_name("a....b").contains(".."));
        assert_eq!(encode_path("a b/c%"), "a%20b/c%25");
    }
}
