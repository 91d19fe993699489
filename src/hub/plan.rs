//! What compressing a whole repo means: every `.safetensors` file becomes
//! `<sanitized name>.stz`, and every shard index is fetched, validated
//! (before any weight is downloaded, so a hostile index costs nothing) and
//! rewritten to name the `.stz` shards. Plus the helpers that open a file
//! for streaming and fetch small ones.

use std::collections::HashMap;
use std::sync::Arc;

use super::client::{Ctx, Hub};
use super::download::{Download, FetchStats};
use super::index::{self, ShardIndex, MAX_INDEX_BYTES};
use super::list::{self, RepoFile};
use super::prefetch::Prefetch;
use super::refs::{self, RepoRef};
use crate::error::{Error, Result};

/// Read-ahead of a download: blocks of 1 MiB, 16 of them (two 8 MiB
/// chunks of the pipeline).
const PREFETCH_BLOCK: usize = 1 << 20;
const PREFETCH_DEPTH: usize = 16;

/// One file to compress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Path in the repo.
    pub path: String,
    /// Size from the listing.
    pub size: Option<u64>,
    /// Output file name (one component, sanitized), ending in `.stz`.
    pub output: String,
}

/// A shard index to write beside the outputs.
#[derive(Debug, Clone)]
pub struct IndexOut {
    /// Output file name (sanitized).
    pub output: String,
    /// The rewritten index.
    pub bytes: Vec<u8>,
}

/// Everything a whole-repo compression will do.
#[derive(Debug, Clone)]
pub struct RepoPlan {
    pub jobs: Vec<Job>,
    pub indexes: Vec<IndexOut>,
    /// The repo has a root `config.json` (lossy mode reads it).
    pub has_config: bool,
}

/// The `.stz` name of a repo file.
pub fn stz_name(path: &str) -> String {
    refs::output_name(&format!("{path}.stz"))
}

/// List `r`'s repo and plan its compression.
pub fn plan_repo(hub: &Hub, r: &RepoRef) -> Result<RepoPlan> {
    let files = list::list(hub, &r.repo, &r.revision)?;
    plan_files(hub, r, &files)
}

fn plan_files(hub: &Hub, r: &RepoRef, files: &[RepoFile]) -> Result<RepoPlan> {
    let mut taken: HashMap<String, String> = HashMap::new();
    let mut jobs = Vec::new();
    for f in files.iter().filter(|f| f.path.ends_with(".safetensors")) {
        let output = stz_name(&f.path);
        if let Some(first) = taken.insert(output.clone(), f.path.clone()) {
            return Err(Error::HubNameClash {
                first,
                second: f.path.clone(),
                name: output,
            });
        }
        jobs.push(Job {
            path: f.path.clone(),
            size: f.size,
            output,
        });
    }
    if jobs.is_empty() {
        return Err(Error::HubNoSafetensors {
            repo: r.repo.clone(),
            revision: r.revision.clone(),
        });
    }
    let mut indexes = Vec::new();
    for f in files.iter().filter(|f| index::is_index(&f.path)) {
        let bytes = fetch_small(hub, r, &f.path, MAX_INDEX_BYTES)?;
        let idx = ShardIndex::parse(&f.path, &bytes)?;
        for shard in idx.shard_paths() {
            if !jobs.iter().any(|j| j.path == shard) {
                return Err(Error::HubBadIndex {
                    index: f.path.clone(),
                    reason: format!("it names {shard:?}, which {} does not have", r.display()),
                });
            }
        }
        indexes.push(IndexOut {
            output: refs::output_name(&f.path),
            bytes: idx.rewrite(stz_name),
        });
    }
    Ok(RepoPlan {
        jobs,
        indexes,
        has_config: files.iter().any(|f| f.path == "config.json"),
    })
}

/// What a request for `path` in `r` is about (for messages).
pub fn ctx(r: &RepoRef, path: &str) -> Ctx {
    Ctx {
        repo: r.repo.clone(),
        revision: r.revision.clone(),
        path: Some(path.to_string()),
    }
}

/// A small repo file (index, config), at most `limit` bytes.
pub fn fetch_small(hub: &Hub, r: &RepoRef, path: &str, limit: u64) -> Result<Vec<u8>> {
    let url = hub.resolve_url(&r.repo, &r.revision, path);
    hub.get_doc(&url, limit, &ctx(r, path))
        .map(|(body, _)| body)
}

/// A file of `r` as a stream: resumable download, read ahead.
pub fn open(
    hub: &Arc<Hub>,
    r: &RepoRef,
    path: &str,
    size: Option<u64>,
    stats: &Arc<FetchStats>,
) -> Prefetch {
    let download = Download::new(Arc::clone(hub), ctx(r, path), size, Arc::clone(stats));
    Prefetch::new(download, PREFETCH_BLOCK, PREFETCH_DEPTH)
}
