//! Compressing from the Hub vs from a local file: the same ~200 MB FP32
//! safetensors file, lossless, one coding thread, once read from disk
//! (page cache) and once streamed over loopback from the mock Hub
//! (`tests/hub/mock-hub.mjs`: resolve → 302 → CDN), through the same
//! resumable download and read-ahead the CLI uses. Target: the Hub path
//! at ≥ 80 % of the local throughput. Prints a markdown table.
//!
//! Run: `cargo run --release --example bench_hub [-- --size-mb N]`
//! (needs node on the PATH).

mod common;

use std::error::Error;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;

use stzip::hub::client::Hub;
use stzip::hub::download::FetchStats;
use stzip::hub::{plan, RepoRef};
use stzip::pipeline::{self, Options};

const TARGET: f64 = 0.80;
const RUNS: usize = 3;
const COLS: usize = 4096;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_hub: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().collect();
    let size_mb: usize = args
        .iter()
        .position(|a| a == "--size-mb")
        .and_then(|i| args.get(i + 1))
        .map_or(Ok(200), |v| v.parse())?;

    let dir = tempfile::tempdir()?;
    let repo_dir = dir.path().join("repos/test/bench");
    std::fs::create_dir_all(&repo_dir)?;
    let file = repo_dir.join("model.safetensors");
    let bytes = write_model(&file, size_mb)?;

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hub/mock-hub.mjs");
    let mut mock = Command::new("node")
        .arg(script)
        .arg("--repos")
        .arg(dir.path().join("repos"))
        .args(["--lifeline", "--max-seconds", "900"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the mock Hub (node): {e}"))?;
    let result = measure(&mut mock, &file, bytes);
    let _ = mock.kill();
    let _ = mock.wait();
    result
}

fn measure(mock: &mut std::process::Child, file: &Path, bytes: u64) -> Result<(), Box<dyn Error>> {
    let mut line = String::new();
    BufReader::new(mock.stdout.take().ok_or("no stdout")?).read_line(&mut line)?;
    let ready: serde_json::Value = serde_json::from_str(&line)?;
    let base = ready["hub"].as_str().ok_or("no hub in the ready line")?;

    let opts = Options {
        threads: 1,
        ..Options::default()
    };
    let quiet = |_| {};
    let (local, t_local) = common::best_of(RUNS, || {
        pipeline::compress(
            BufReader::with_capacity(1 << 20, File::open(file)?),
            std::io::sink(),
            &opts,
            &quiet,
        )
    })?;

    let hub = Arc::new(Hub::new(base, None)?);
    let stats = Arc::new(FetchStats::default());
    let r = RepoRef {
        repo: "test/bench".into(),
        revision: "main".into(),
        file: None,
    };
    let (remote, t_hub) = common::best_of(RUNS, || {
        let src = plan::open(&hub, &r, "model.safetensors", Some(bytes), &stats);
        pipeline::compress(src, std::io::sink(), &opts, &quiet)
    })?;
    if remote.stz_bytes != local.stz_bytes {
        return Err("the Hub and local outputs differ in size".into());
    }

    let n = bytes as usize;
    let (mb_local, mb_hub) = (common::mb_per_s(n, t_local), common::mb_per_s(n, t_hub));
    let ratio = mb_hub / mb_local;
    println!(
        "File: {bytes} bytes FP32 safetensors, lossless, 1 coding thread, best of {RUNS}; .stz {} bytes\n",
        local.stz_bytes
    );
    println!("| source | compress MB/s |");
    println!("|---|---:|");
    println!("| local file (page cache) | {mb_local:.1} |");
    println!("| mock Hub over loopback (302 → CDN, read-ahead) | {mb_hub:.1} |");
    println!();
    println!("| target | measured | result |");
    println!("|---|---:|---|");
    println!(
        "| Hub ≥ {:.0} % of local | {:.1} % | {} |",
        TARGET * 100.0,
        ratio * 100.0,
        common::pass(ratio >= TARGET)
    );
    Ok(())
}

/// A Llama-like stack of FP32 Gaussian matrices of about `size_mb` MB.
fn write_model(path: &Path, size_mb: usize) -> Result<u64, Box<dyn Error>> {
    let mut rng = common::Rng(7);
    let rows = 1024;
    let tensor_bytes = rows * COLS * 4;
    let count = (size_mb * 1_000_000).div_ceil(tensor_bytes).max(1);
    let names: Vec<String> = (0..count)
        .map(|i| format!("model.layers.{}.mlp.proj_{}.weight", i / 4, i % 4))
        .collect();
    let entries: Vec<common::Entry> = names
        .iter()
        .map(|name| common::Entry {
            name: name.clone(),
            dtype: "F32".into(),
            shape: vec![rows as u64, COLS as u64],
            len: tensor_bytes as u64,
        })
        .collect();
    let mut out = std::io::BufWriter::new(File::create(path)?);
    let header = common::header(None, &entries);
    out.write_all(&header)?;
    let mut buf = Vec::with_capacity(tensor_bytes);
    for _ in 0..count {
        buf.clear();
        for _ in 0..rows * COLS {
            buf.extend_from_slice(&((rng.gaussian() * 0.02) as f32).to_le_bytes());
        }
        out.write_all(&buf)?;
    }
    out.flush()?;
    Ok((header.len() + count * tensor_bytes) as u64)
}
