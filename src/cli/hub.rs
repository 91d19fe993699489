//! `stzip compress hf://owner/repo[@rev][/file]` (or a Hub URL): each
//! safetensors file streams from the network straight through the codec
//! (lossy mode fetches it twice: statistics, then coding). A whole repo
//! gives `OUTDIR/<name>.stz` per file and its shard index rewritten to name
//! them, so a sharded model stays a model. `stzip decompress` of a `.stz`
//! on the Hub streams it the same way, or with `--tensor` fetches only
//! the parts of it those tensors need.
//!
//! The Hub is `--hub URL`, else `HF_ENDPOINT`, else huggingface.co; the
//! token comes from `HF_TOKEN` or the token file and is never printed.
//! `STZIP_HUB_RETRY_MS` sets the first backoff delay (tests use a short
//! one).

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use stzip::hub::client::Hub;
use stzip::hub::download::{Download, FetchStats};
use stzip::hub::plan::{self, Job};
use stzip::hub::prefetch::Prefetch;
use stzip::hub::{refs, token, RepoRef, DEFAULT_HUB};
use stzip::pipeline::{self, LossyOptions};

use super::args::{CommonArgs, LossyArgs};
use super::files::Output;
use super::{
    human, lossy_options, print_restored, print_summary, restored_name, run_job_from,
    tied_from_config, Failure,
};

/// Largest config.json read (for the lossy allocation).
const MAX_CONFIG_BYTES: u64 = 1 << 20;

pub fn compress(
    input: &str,
    output: Option<&str>,
    hub_flag: Option<&str>,
    lossy: &LossyArgs,
    json: bool,
    common: &CommonArgs,
) -> Result<(), Failure> {
    let (hub, r) = connect(input, hub_flag)?;
    let stats = Arc::new(FetchStats::default());
    let run = Run {
        hub: &hub,
        r: &r,
        stats: &stats,
        lossy,
        json,
        common,
    };
    match &r.file {
        Some(path) => {
            refs::validate_repo_path(path)?;
            let out = output
                .map(str::to_string)
                .unwrap_or_else(|| plan::stz_name(path));
            let tied = if lossy_options(lossy, None).is_some() {
                config_tied(&hub, &r)
            } else {
                None
            };
            run.one(path, None, &out, tied)?;
        }
        None => run.repo(output)?,
    }
    if !common.quiet {
        print_fetched(&hub, &stats);
    }
    Ok(())
}

/// The Hub (`--hub`, else `HF_ENDPOINT`, else huggingface.co; the token
/// from the environment) and what `input` names on it.
fn connect(input: &str, hub_flag: Option<&str>) -> Result<(Arc<Hub>, RepoRef), Failure> {
    let base = hub_flag
        .map(str::to_string)
        .or_else(|| std::env::var("HF_ENDPOINT").ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| DEFAULT_HUB.to_string());
    let r = refs::parse(input, &base)?;
    let mut hub = Hub::new(&base, token::find()?)?;
    if let Some(ms) = std::env::var("STZIP_HUB_RETRY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        hub.retry.first_delay = std::time::Duration::from_millis(ms);
    }
    Ok((Arc::new(hub), r))
}

/// `hf://owner/repo@rev/path`, for messages.
fn file_label(r: &RepoRef, path: &str) -> String {
    format!("hf://{}@{}/{path}", r.repo, r.revision)
}

/// One file of a repo: the Hub, the reference, the file's path and its
/// [`file_label`].
struct RepoFile {
    hub: Arc<Hub>,
    r: RepoRef,
    path: String,
    label: String,
    stats: Arc<FetchStats>,
}

impl RepoFile {
    /// The file from its first byte, read ahead on a second thread.
    fn stream(&self) -> Prefetch {
        plan::open(&self.hub, &self.r, &self.path, None, &self.stats)
    }

    /// The file for random access (it seeks).
    fn random_access(&self) -> Download {
        Download::new(
            Arc::clone(&self.hub),
            plan::ctx(&self.r, &self.path),
            None,
            Arc::clone(&self.stats),
        )
    }

    fn print_fetched(&self, common: &CommonArgs) {
        if !common.quiet {
            print_fetched(&self.hub, &self.stats);
        }
    }
}

/// [`connect`] for one file of a repo (`kind`, as `.stz`, for messages).
fn connect_file(input: &str, hub_flag: Option<&str>, kind: &str) -> Result<RepoFile, Failure> {
    let (hub, r) = connect(input, hub_flag)?;
    let path = r.file.clone().ok_or_else(|| {
        Failure::usage(format!(
            "{input} names a repo: name the {kind} file in it (hf://owner/repo/file{kind})"
        ))
    })?;
    refs::validate_repo_path(&path)?;
    let label = file_label(&r, &path);
    Ok(RepoFile {
        hub,
        r,
        path,
        label,
        stats: Arc::new(FetchStats::default()),
    })
}

/// `stzip inspect hf://owner/repo[@rev]/file`: a safetensors file's header,
/// or a `.stz`'s header and index, with Range requests (the data is not
/// fetched).
pub fn inspect(input: &str, hub_flag: Option<&str>, json: bool) -> Result<(), Failure> {
    let file = connect_file(input, hub_flag, "")?;
    let mut src = file.random_access();
    // Random access from the first byte: bounded windows, not the file.
    std::io::Seek::rewind(&mut src)?;
    super::inspect::list(src, &file.label, json)
}

/// `stzip verify hf://owner/repo[@rev]/file.stz`: the file streams through
/// the decoder, nothing is written.
pub fn verify(input: &str, hub_flag: Option<&str>, common: &CommonArgs) -> Result<(), Failure> {
    let file = connect_file(input, hub_flag, ".stz")?;
    super::verify(file.stream(), &file.label, common)?;
    file.print_fetched(common);
    Ok(())
}

fn print_fetched(hub: &Hub, stats: &FetchStats) {
    eprintln!(
        "fetched {} from {} ({} resumed after a drop, {} signed URLs renewed)",
        human(stats.bytes.load(Ordering::Relaxed)),
        hub.base(),
        stats.resumes.load(Ordering::Relaxed),
        stats.re_resolves.load(Ordering::Relaxed),
    );
}

/// `stzip decompress hf://owner/repo[@rev]/file.stz`: the whole file
/// streams through the decoder; with `--tensor`, only the trailer, the
/// index and those tensors' frames are fetched (Range requests).
pub fn decompress(
    input: &str,
    output: Option<&str>,
    hub_flag: Option<&str>,
    tensors: &[String],
    common: &CommonArgs,
) -> Result<(), Failure> {
    let file = connect_file(input, hub_flag, ".stz")?;
    if tensors.is_empty() {
        let out = match output {
            Some(o) => o.to_string(),
            None => restored_name(&refs::output_name(&file.path))?,
        };
        let (report, secs) = run_job_from(
            Box::new(file.stream()),
            &out,
            common,
            file.path.clone(),
            &mut |src, w, opts, p| pipeline::decompress(src, Some(w), opts, p),
        )?;
        print_restored(&file.label, &out, &report, secs, common);
    } else {
        let out = super::extract_output(input, output)?;
        super::extract(file.random_access(), &file.label, out, tensors, common)?;
    }
    file.print_fetched(common);
    Ok(())
}

/// Whether the repo's config.json ties the embeddings (lossy allocation);
/// `None` when it has none or it cannot be read.
fn config_tied(hub: &Hub, r: &RepoRef) -> Option<bool> {
    let bytes = plan::fetch_small(hub, r, "config.json", MAX_CONFIG_BYTES).ok()?;
    tied_from_config(std::str::from_utf8(&bytes).ok()?)
}

struct Run<'a> {
    hub: &'a Arc<Hub>,
    r: &'a RepoRef,
    stats: &'a Arc<FetchStats>,
    lossy: &'a LossyArgs,
    json: bool,
    common: &'a CommonArgs,
}

impl Run<'_> {
    /// Every safetensors file of the repo into `outdir` (default: the
    /// repo's name), then the rewritten indexes.
    fn repo(&self, outdir: Option<&str>) -> Result<(), Failure> {
        let plan = plan::plan_repo(self.hub, self.r)?;
        let default_dir = self
            .r
            .repo
            .rsplit('/')
            .next()
            .map(refs::output_name)
            .unwrap_or_default();
        let dir = Path::new(outdir.unwrap_or(&default_dir));
        if outdir == Some("-") {
            return Err(Failure::usage(
                "a whole repo gives several files: -o names a directory",
            ));
        }
        std::fs::create_dir_all(dir).map_err(|e| Failure {
            message: format!("cannot create {}: {e}", dir.display()),
            code: 1,
        })?;
        let path_of = |name: &str| dir.join(name).to_string_lossy().into_owned();
        // Refuse before downloading anything rather than halfway.
        if !self.common.force {
            let names = plan.jobs.iter().map(|j| &j.output);
            for name in names.chain(plan.indexes.iter().map(|i| &i.output)) {
                if dir.join(name).exists() {
                    return Err(Failure::usage(format!(
                        "{} already exists (use --force to overwrite)",
                        path_of(name)
                    )));
                }
            }
        }
        let tied = if lossy_options(self.lossy, None).is_some() && plan.has_config {
            config_tied(self.hub, self.r)
        } else {
            None
        };
        for Job { path, size, output } in &plan.jobs {
            self.one(path, *size, &path_of(output), tied)?;
        }
        for idx in &plan.indexes {
            let target = path_of(&idx.output);
            let mut out = Output::create(&target, self.common.force)?;
            match std::io::Write::write_all(&mut out, &idx.bytes) {
                Ok(()) => out.commit()?,
                Err(e) => {
                    out.discard();
                    return Err(e.into());
                }
            }
            if !self.common.quiet {
                eprintln!("wrote {target} (shards renamed to their .stz files)");
            }
        }
        Ok(())
    }

    /// One repo file into `out`.
    fn one(
        &self,
        path: &str,
        size: Option<u64>,
        out: &str,
        tied: Option<bool>,
    ) -> Result<(), Failure> {
        let label = file_label(self.r, path);
        let verb = path.to_string();
        let (report, secs) = match lossy_options(self.lossy, tied) {
            None => run_job_from(
                Box::new(plan::open(self.hub, self.r, path, size, self.stats)),
                out,
                self.common,
                verb,
                &mut |src, w, opts, p| pipeline::compress(src, w, opts, p),
            )?,
            Some(lossy) => {
                let lossy: LossyOptions = lossy;
                run_job_from(
                    Box::new(std::io::empty()),
                    out,
                    self.common,
                    verb,
                    &mut |_, w, opts, p| {
                        let mut open = || Ok(plan::open(self.hub, self.r, path, size, self.stats));
                        pipeline::compress_lossy(&mut open, w, opts, &lossy, p)
                    },
                )?
            }
        };
        print_summary(&label, out, &report, secs, self.json, self.common)
    }
}
