//! The files of a repo at a revision: the tree API, page by page along its
//! `Link: <…>; rel="next"` headers, or the revision API's `siblings` when
//! the tree API is not there (older Hubs and some mirrors). Every answer
//! is size-capped, the number of pages and entries is bounded, and a next
//! page must stay on the Hub's origin (the token goes along).

use serde::Deserialize;

use super::client::{Ctx, Hub};
use super::refs;
use crate::error::{Error, Result};

/// Largest API answer accepted (one page of a listing, revision info).
pub const MAX_API_BYTES: u64 = 16 << 20;
/// At most this many pages are followed.
const MAX_PAGES: usize = 10_000;
/// At most this many files are listed.
const MAX_FILES: usize = 1_000_000;

/// A file of a repo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoFile {
    /// Path inside the repo (validated: relative, no `..`).
    pub path: String,
    /// Size in bytes, when the API says.
    pub size: Option<u64>,
}

#[derive(Deserialize)]
struct TreeEntry {
    #[serde(rename = "type")]
    kind: String,
    path: String,
    size: Option<u64>,
    lfs: Option<Lfs>,
}

#[derive(Deserialize)]
struct Lfs {
    size: Option<u64>,
}

#[derive(Deserialize)]
struct RevisionInfo {
    siblings: Vec<Sibling>,
}

#[derive(Deserialize)]
struct Sibling {
    rfilename: String,
    size: Option<u64>,
}

/// All files of `repo` at `rev`.
pub fn list(hub: &Hub, repo: &str, rev: &str) -> Result<Vec<RepoFile>> {
    match list_tree(hub, repo, rev) {
        Ok(files) => Ok(files),
        Err(
            e @ (Error::HubTokenNeeded { .. }
            | Error::HubTokenRefused { .. }
            | Error::HubNotFound { .. }
            | Error::HubResponseTooLarge { .. }),
        ) => Err(e),
        Err(_) => list_revision(hub, repo, rev),
    }
}

fn ctx(repo: &str, rev: &str) -> Ctx {
    Ctx {
        repo: repo.to_string(),
        revision: rev.to_string(),
        path: None,
    }
}

fn list_tree(hub: &Hub, repo: &str, rev: &str) -> Result<Vec<RepoFile>> {
    let ctx = ctx(repo, rev);
    let mut url = hub.tree_url(repo, rev);
    let mut files = Vec::new();
    for _ in 0..MAX_PAGES {
        let (body, headers) = hub.get_doc(&url, MAX_API_BYTES, &ctx)?;
        let entries: Vec<TreeEntry> =
            serde_json::from_slice(&body).map_err(|e| Error::HubBadResponse {
                what: format!("listing {}", ctx.what()),
                reason: format!("not a tree listing: {e}"),
            })?;
        for e in entries.into_iter().filter(|e| e.kind == "file") {
            push(
                &mut files,
                e.path,
                e.lfs.and_then(|l| l.size).or(e.size),
                &ctx,
            )?;
        }
        let next = headers
            .get_all("link")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(next_link);
        match next {
            None => return Ok(files),
            Some(next) => url = same_origin(hub, &next, &ctx)?,
        }
    }
    Err(Error::HubBadResponse {
        what: format!("listing {}", ctx.what()),
        reason: format!("more than {MAX_PAGES} pages"),
    })
}

fn list_revision(hub: &Hub, repo: &str, rev: &str) -> Result<Vec<RepoFile>> {
    let ctx = ctx(repo, rev);
    let (body, _) = hub.get_doc(&hub.revision_url(repo, rev), MAX_API_BYTES, &ctx)?;
    let info: RevisionInfo = serde_json::from_slice(&body).map_err(|e| Error::HubBadResponse {
        what: format!("revision info of {}", ctx.what()),
        reason: e.to_string(),
    })?;
    let mut files = Vec::new();
    for s in info.siblings {
        push(&mut files, s.rfilename, s.size, &ctx)?;
    }
    Ok(files)
}

fn push(files: &mut Vec<RepoFile>, path: String, size: Option<u64>, ctx: &Ctx) -> Result<()> {
    if files.len() >= MAX_FILES {
        return Err(Error::HubBadResponse {
            what: format!("listing {}", ctx.what()),
            reason: format!("more than {MAX_FILES} files"),
        });
    }
    // A path that could escape the repo is not a file we would fetch;
    // keep it out rather than fail a listing over a README.
    if refs::path_problem(&path).is_none() {
        files.push(RepoFile { path, size });
    }
    Ok(())
}

/// The `rel="next"` target of a `Link` header value, if any.
pub fn next_link(value: &str) -> Option<String> {
    let mut rest = value;
    while let Some(start) = rest.find('<') {
        let after = rest.get(start + 1..)?;
        let end = after.find('>')?;
        let target = after.get(..end)?;
        let params_all = after.get(end + 1..)?;
        let params = params_all.split('<').next().unwrap_or_default();
        let is_next = params.split(';').any(|p| {
            let p = p.trim().trim_end_matches(',').trim();
            p.eq_ignore_ascii_case("rel=\"next\"") || p.eq_ignore_ascii_case("rel=next")
        });
        if is_next {
            return Some(target.to_string());
        }
        rest = params_all;
    }
    None
}

/// An absolute URL for a next page, refused when it leaves the Hub.
fn same_origin(hub: &Hub, next: &str, ctx: &Ctx) -> Result<String> {
    let url = if next.starts_with('/') {
        format!("{}{next}", hub.origin_prefix())
    } else {
        next.to_string()
    };
    if hub.is_hub(&url) {
        Ok(url)
    } else {
        Err(Error::HubBadResponse {
            what: format!("listing {}", ctx.what()),
            reason: "the next page is on another origin".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_header() {
        assert_eq!(
            next_link(r#"<https://h/api/x?cursor=abc>; rel="next""#).as_deref(),
            Some("https://h/api/x?cursor=abc")
        );
        assert_eq!(
            next_link(r#"<https://h/p1>; rel="prev", <https://h/p3>; rel="next""#).as_deref(),
            Some("https://h/p3")
        );
        assert_eq!(next_link(r#"<https://h/p1>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
    }
}
