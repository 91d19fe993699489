//! Peak memory of the `stzip` CLI on a large file: generates a safetensors
//! file on disk (default 6 GiB of FP32 Gaussian-ish weights in many
//! tensors, streamed), compresses and decompresses it with the `stzip`
//! binary, records each child's peak RSS by polling `VmHWM` in
//! `/proc/<pid>/status` every 10 ms, checks the round trip is
//! byte-identical (xxh3 of both files), and deletes the files.
//!
//! Run: `cargo build --release && cargo run --release --example peak_rss
//! [-- --size-mib N] [--bin PATH]`. The binary defaults to `stzip` beside
//! this example's target directory (`target/release/stzip`); files go to a
//! temporary directory under `$TMPDIR` (default `/tmp`).

mod common;

use std::error::Error;
use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::Entry;
use xxhash_rust::xxh3::Xxh3;

const TARGET_MIB: f64 = 256.0;
/// Columns of every weight matrix, rows per full weight tensor.
const COLS: u64 = 4096;
const ROWS_PER_TENSOR: u64 = 2048;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

struct Args {
    size_mib: u64,
    bin: PathBuf,
}

fn parse_args() -> Result<Args> {
    let default_bin = std::env::current_exe()?
        .parent()
        .and_then(Path::parent)
        .map_or_else(
            || PathBuf::from("target/release/stzip"),
            |dir| dir.join("stzip"),
        );
    let mut args = Args {
        size_mib: 6144,
        bin: default_bin,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--size-mib" => args.size_mib = it.next().ok_or("--size-mib needs a value")?.parse()?,
            "--bin" => args.bin = it.next().ok_or("--bin needs a value")?.into(),
            other => {
                return Err(
                    format!("unknown argument {other:?} (use --size-mib N, --bin PATH)").into(),
                )
            }
        }
    }
    Ok(args)
}

/// xorshift64*: fast enough to generate gigabytes.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Approximately standard normal: the centred sum of four 16-bit uniforms.
    fn gaussianish(&mut self) -> f32 {
        const MEAN: f32 = 2.0 * 65535.0;
        const INV_STD: f32 = 1.0 / 37_837.0; // 65536 / √3
        let r = self.next_u64();
        let sum: u64 = (0..4).map(|i| (r >> (16 * i)) & 0xffff).sum();
        (sum as f32 - MEAN) * INV_STD
    }
}

/// Write a safetensors file of about `bytes` bytes of FP32 weights — layers
/// of a `ROWS_PER_TENSOR × COLS` matrix with per-row scales and a norm
/// vector — and return the file's xxh3 and tensor count.
fn generate(path: &Path, bytes: u64) -> Result<(u64, usize)> {
    let row_bytes = COLS * 4;
    let mut rows_left = (bytes / row_bytes).max(1);
    let mut entries = Vec::new();
    while rows_left > 0 {
        let rows = rows_left.min(ROWS_PER_TENSOR);
        let layer = entries.len() / 2;
        let f32_entry = |name: String, shape: Vec<u64>| Entry {
            len: shape.iter().product::<u64>() * 4,
            name,
            dtype: "F32".into(),
            shape,
        };
        entries.push(f32_entry(
            format!("layers.{layer}.weight"),
            vec![rows, COLS],
        ));
        entries.push(f32_entry(format!("layers.{layer}.norm"), vec![COLS]));
        rows_left -= rows;
    }
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let mut hash = Xxh3::new();
    let header = common::header(None, &entries);
    out.write_all(&header)?;
    hash.update(&header);
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut row = vec![0u8; row_bytes as usize];
    for entry in &entries {
        let (rows, norm) = match entry.shape[..] {
            [rows, _] => (rows, false),
            _ => (1, true),
        };
        for _ in 0..rows {
            let scale = if norm {
                0.05
            } else {
                0.02 * (0.5 * rng.gaussianish()).exp()
            };
            let center = if norm { 1.0 } else { 0.0 };
            for word in row.chunks_exact_mut(4) {
                word.copy_from_slice(&(center + scale * rng.gaussianish()).to_le_bytes());
            }
            out.write_all(&row)?;
            hash.update(&row);
        }
    }
    out.flush()?;
    Ok((hash.digest(), entries.len()))
}

fn xxh3_file(path: &Path) -> Result<u64> {
    let mut file = BufReader::new(File::open(path)?);
    let mut hash = Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match file.read(&mut buf)? {
            0 => return Ok(hash.digest()),
            n => hash.update(&buf[..n]),
        }
    }
}

/// Peak resident set size so far, from a `/proc/<pid>/status` text.
fn vm_hwm_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Run `bin args…`; return its wall time and peak RSS in KiB.
fn run_measured(bin: &Path, args: &[&Path]) -> Result<(Duration, u64)> {
    let start = Instant::now();
    let mut child = Command::new(bin)
        .args(args)
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    let status = loop {
        // Read before reaping: once the child is waited for, /proc is gone.
        if let Some(kib) = fs::read_to_string(&status_path)
            .ok()
            .as_deref()
            .and_then(vm_hwm_kib)
        {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        sleep(Duration::from_millis(10));
    };
    if !status.success() {
        return Err(format!("{} {args:?} failed: {status}", bin.display()).into());
    }
    Ok((start.elapsed(), peak))
}

fn main() -> Result<ExitCode> {
    let args = parse_args()?;
    let dir = tempfile::tempdir()?;
    let raw = dir.path().join("model.safetensors");
    let stz = dir.path().join("model.stz");
    let back = dir.path().join("roundtrip.safetensors");

    eprintln!(
        "generating {} MiB in {}...",
        args.size_mib,
        dir.path().display()
    );
    let (raw_hash, tensors) = generate(&raw, args.size_mib << 20)?;
    let raw_len = fs::metadata(&raw)?.len();

    eprintln!("compressing...");
    let (compress_t, compress_kib) = run_measured(
        &args.bin,
        &[Path::new("compress"), &raw, Path::new("-o"), &stz],
    )?;
    let stz_len = fs::metadata(&stz)?.len();
    eprintln!("decompressing...");
    let (decompress_t, decompress_kib) = run_measured(
        &args.bin,
        &[Path::new("decompress"), &stz, Path::new("-o"), &back],
    )?;
    let identical = fs::metadata(&back)?.len() == raw_len && xxh3_file(&back)? == raw_hash;

    println!(
        "\nInput: {raw_len} bytes, {tensors} FP32 tensors; .stz: {stz_len} bytes (ratio {:.4})\n",
        stz_len as f64 / raw_len as f64
    );
    println!("| step | wall s | MB/s | peak RSS MiB | target | result |");
    println!("|---|---:|---:|---:|---|---|");
    for (step, t, kib) in [
        ("compress", compress_t, compress_kib),
        ("decompress", decompress_t, decompress_kib),
    ] {
        let mib = kib as f64 / 1024.0;
        let verdict = if mib <= TARGET_MIB { "PASS" } else { "MISS" };
        println!(
            "| {step} | {:.1} | {:.1} | {mib:.1} | ≤ {TARGET_MIB} MiB | {verdict} |",
            t.as_secs_f64(),
            raw_len as f64 / 1e6 / t.as_secs_f64()
        );
    }
    println!(
        "\nRound trip: {}",
        if identical {
            "byte-identical"
        } else {
            "MISMATCH"
        }
    );
    drop(dir); // deletes the files
    Ok(if identical {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
