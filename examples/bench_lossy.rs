//! Lossy benchmark: stzip's lossy mode against reference quantizers (ggml
//! Q8_0 and Q4_0, round-to-nearest int4 / int8 per group of 64) on MiniLM
//! FP32 (from `scripts/setup-data.sh`) and on generated tensors, plus the
//! per-tensor gap to the Shannon lower bound, printed as markdown with
//! targets. Every SNR here is computed by the benchmark itself from the
//! original and the decompressed (or dequantized) values.
//!
//! The end-to-end proxy (MiniLM sentence embeddings, original against
//! decompressed, both allocations at 4.0 and 4.5 bits/weight) runs
//! `scripts/proxy_minilm.py` with `$STZIP_PYTHON` (default `python3`)
//! when that has numpy and tokenizers; otherwise it says so and skips.
//!
//! Run: `cargo run --release --example bench_lossy [-- --quick]`
//! (`--quick` uses smaller generated tensors). Exits non-zero if a
//! decompression fails or changes a tensor's name, shape or dtype.

mod common;

use std::error::Error;
use std::f64::consts::{E, LN_2, PI, TAU};
use std::process::{Command, ExitCode};
use std::time::Duration;

use common::{best_of, mb_per_s, pass, Rng};
use stzip::pipeline::{
    compress_lossy, decompress, Allocation, LossyOptions, Options, Report, Target,
};
use stzip::safetensors::{Dtype, Header};

/// Timed runs per measurement (the best counts).
const RUNS: usize = 3;

/// Tensors smaller than this are left out of the Shannon-bound gap.
const GAP_MIN_ELEMENTS: usize = 4096;

type BoxResult<T> = Result<T, Box<dyn Error>>;

/// A lossy target, as the command line spells it.
#[derive(Clone, Copy)]
enum Goal {
    BitsPerWeight(f64),
    Snr(f64),
}

impl Goal {
    fn label(self) -> String {
        match self {
            Goal::BitsPerWeight(b) => format!("stzip --bits-per-weight {b}"),
            Goal::Snr(s) => format!("stzip --snr {s}"),
        }
    }
}

/// The one call into the lossy API: compress `data` towards `goal` with
/// uniform allocation (best of [`RUNS`]); the `.stz` bytes, the report and
/// the best time.
fn compress_lossy_timed(
    data: &[u8],
    goal: Goal,
    opts: &Options,
) -> stzip::Result<(Vec<u8>, Report, Duration)> {
    let lossy = LossyOptions {
        target: match goal {
            Goal::BitsPerWeight(b) => Target::BitsPerWeight(b),
            Goal::Snr(s) => Target::Snr(s),
        },
        allocation: Allocation::Uniform,
        tied_embeddings: None,
    };
    let mut out = Vec::with_capacity(data.len() / 4);
    let (report, time) = best_of(RUNS, || {
        out.clear();
        compress_lossy(&mut || Ok(data), &mut out, opts, &lossy, &|_| {})
    })?;
    Ok((out, report, time))
}

/// One float tensor, decoded to f32.
struct FloatTensor {
    name: String,
    shape: Vec<u64>,
    values: Vec<f32>,
}

/// A parsed safetensors file: name, dtype and shape of every tensor, and
/// the values of the float ones, both sorted by name.
struct Parsed {
    layout: Vec<(String, Dtype, Vec<u64>)>,
    floats: Vec<FloatTensor>,
}

impl Parsed {
    fn new(data: &[u8]) -> BoxResult<Parsed> {
        let header = Header::read_from(&mut &data[..])?;
        let body = &data[header.raw().len()..];
        let mut infos: Vec<_> = header.tensors().iter().collect();
        infos.sort_by(|a, b| a.name.cmp(&b.name));
        let mut floats = Vec::new();
        for t in infos.iter().filter(|t| t.dtype.is_float()) {
            let bytes = usize::try_from(t.start)
                .ok()
                .zip(usize::try_from(t.end).ok())
                .and_then(|(start, end)| body.get(start..end))
                .ok_or_else(|| format!("tensor {} lies beyond the end of the file", t.name))?;
            floats.push(FloatTensor {
                name: t.name.clone(),
                shape: t.shape.clone(),
                values: decode(t.dtype, bytes),
            });
        }
        let layout = infos
            .iter()
            .map(|t| (t.name.clone(), t.dtype, t.shape.clone()))
            .collect();
        Ok(Parsed { layout, floats })
    }

    fn float_params(&self) -> usize {
        self.floats.iter().map(|t| t.values.len()).sum()
    }

    /// An error naming the first tensor whose name, dtype or shape differs.
    fn check_same_layout(&self, restored: &Parsed) -> BoxResult<()> {
        for (a, b) in self.layout.iter().zip(&restored.layout) {
            if a != b {
                return Err(
                    format!("decompressed tensor {b:?} differs from original {a:?}").into(),
                );
            }
        }
        if self.layout.len() != restored.layout.len() {
            return Err(format!(
                "decompressed file has {} tensors, original {}",
                restored.layout.len(),
                self.layout.len()
            )
            .into());
        }
        Ok(())
    }
}

/// Little-endian elements of a float dtype, as f32 (F64 is rounded).
fn decode(dtype: Dtype, bytes: &[u8]) -> Vec<f32> {
    let size = dtype.size();
    bytes
        .chunks_exact(size)
        .map(|b| match dtype {
            Dtype::F64 => f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32,
            Dtype::F32 => f32::from_le_bytes(b.try_into().expect("4 bytes")),
            Dtype::F16 => common::f16_to_f32(u16::from_le_bytes([b[0], b[1]])),
            Dtype::BF16 => f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16),
            // E5M2 is the upper byte of an F16.
            Dtype::F8E5M2 => common::f16_to_f32(u16::from(b[0]) << 8),
            Dtype::F8E4M3 => f8e4m3_to_f32(b[0]),
            _ => unreachable!("decode called on a non-float dtype"),
        })
        .collect()
}

/// FP8 E4M3 (the "fn" variant: bias 7, no infinities, NaN = S.1111.111).
fn f8e4m3_to_f32(b: u8) -> f32 {
    let sign = if b & 0x80 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((b >> 3) & 0xf);
    let mant = f32::from(b & 7);
    sign * match (exp, b & 7) {
        (15, 7) => f32::NAN,
        (0, _) => mant / 8.0 * 2f32.powi(-6),
        _ => (1.0 + mant / 8.0) * 2f32.powi(exp - 7),
    }
}

/// Σw² and Σ(w − ŵ)² over some weights.
#[derive(Clone, Copy, Default)]
struct Errors {
    signal: f64,
    noise: f64,
}

impl Errors {
    fn between(original: &[f32], restored: &[f32]) -> Errors {
        let mut e = Errors::default();
        for (&w, &r) in original.iter().zip(restored) {
            e.add(w, r);
        }
        e
    }

    fn add(&mut self, w: f32, restored: f32) {
        let (w, r) = (f64::from(w), f64::from(restored));
        self.signal += w * w;
        self.noise += (w - r) * (w - r);
    }

    fn sum(all: impl IntoIterator<Item = Errors>) -> Errors {
        all.into_iter().fold(Errors::default(), |a, b| Errors {
            signal: a.signal + b.signal,
            noise: a.noise + b.noise,
        })
    }

    /// 10·log10(Σw² / Σ(w − ŵ)²), in dB.
    fn snr_db(self) -> f64 {
        10.0 * (self.signal / self.noise).log10()
    }
}

/// F32 rounded to F16 precision, as a stored F16 scale reads back.
fn fp16_round(x: f32) -> f32 {
    common::f16_to_f32(common::f16_bits(x))
}

/// Reference quantizers, applied along the last dimension with a final
/// partial block where a row is not a multiple of the block length.
#[derive(Clone, Copy)]
enum Quantizer {
    /// ggml `quantize_row_q8_0_ref`: d = max|x| / 127, q = round(x / d).
    Q8_0,
    /// ggml `quantize_row_q4_0_ref`: d = (the x of largest |x|) / −8,
    /// q = min(15, trunc(x / d + 8.5)), value (q − 8)·d.
    Q4_0,
    /// Symmetric round to nearest, d = max|x| / (2^(bits−1) − 1) rounded
    /// to F16, q = clamp(round(x / d), ±(2^(bits−1) − 1)), groups of 64.
    Rtn { bits: u32 },
}

impl Quantizer {
    const ALL: [Quantizer; 4] = [
        Quantizer::Q8_0,
        Quantizer::Q4_0,
        Quantizer::Rtn { bits: 8 },
        Quantizer::Rtn { bits: 4 },
    ];

    fn label(self) -> String {
        match self {
            Quantizer::Q8_0 => "ggml Q8_0 (32, fp16 scale)".into(),
            Quantizer::Q4_0 => "ggml Q4_0 (32, fp16 scale)".into(),
            Quantizer::Rtn { bits } => format!("RTN int{bits} sym. (64, fp16 scale)"),
        }
    }

    fn block(self) -> usize {
        match self {
            Quantizer::Q8_0 | Quantizer::Q4_0 => 32,
            Quantizer::Rtn { .. } => 64,
        }
    }

    fn bits(self) -> usize {
        match self {
            Quantizer::Q8_0 => 8,
            Quantizer::Q4_0 => 4,
            Quantizer::Rtn { bits } => bits as usize,
        }
    }

    /// Quantize and dequantize one block (the F16 scale as stored) into `out`.
    fn round_trip(self, x: &[f32], out: &mut Vec<f32>) {
        // As ggml: the codes come from the F32 scale, the values from F16.
        match self {
            Quantizer::Q8_0 => {
                let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
                let d = amax / 127.0;
                let id = if d != 0.0 { 1.0 / d } else { 0.0 };
                let d16 = fp16_round(d);
                out.extend(x.iter().map(|v| f32::from((v * id).round() as i8) * d16));
            }
            Quantizer::Q4_0 => {
                let (mut amax, mut max) = (0f32, 0f32);
                for &v in x {
                    if amax < v.abs() {
                        amax = v.abs();
                        max = v;
                    }
                }
                let d = max / -8.0;
                let id = if d != 0.0 { 1.0 / d } else { 0.0 };
                let d16 = fp16_round(d);
                out.extend(x.iter().map(|v| {
                    let q = ((v * id + 8.5) as i8).min(15);
                    f32::from(q - 8) * d16
                }));
            }
            Quantizer::Rtn { bits } => {
                let qmax = ((1 << (bits - 1)) - 1) as f32;
                let d16 = fp16_round(x.iter().fold(0f32, |m, v| m.max(v.abs())) / qmax);
                out.extend(x.iter().map(|v| {
                    let q = if d16 != 0.0 { (v / d16).round() } else { 0.0 };
                    q.clamp(-qmax, qmax) * d16
                }));
            }
        }
    }

    /// Payload bytes (codes and F16 scales) and errors for one tensor.
    fn apply(self, t: &FloatTensor) -> (usize, Errors) {
        let row = t.shape.last().map_or(1, |&n| (n as usize).max(1));
        let mut bytes = 0;
        let mut errors = Errors::default();
        let mut out = Vec::with_capacity(self.block());
        for row in t.values.chunks(row) {
            for block in row.chunks(self.block()) {
                out.clear();
                self.round_trip(block, &mut out);
                bytes += 2 + (block.len() * self.bits()).div_ceil(8);
                for (&w, &r) in block.iter().zip(&out) {
                    errors.add(w, r);
                }
            }
        }
        (bytes, errors)
    }
}

/// Bits per weight and SNR of a reference quantizer over all float tensors.
fn reference(q: Quantizer, original: &Parsed) -> (f64, f64) {
    let (bytes, errors): (Vec<usize>, Vec<Errors>) =
        original.floats.iter().map(|t| q.apply(t)).unzip();
    let bpw = bytes.iter().sum::<usize>() as f64 * 8.0 / original.float_params() as f64;
    (bpw, Errors::sum(errors).snr_db())
}

/// One stzip lossy round trip, measured.
struct LossyRun {
    goal: Goal,
    bpw: f64,
    snr: f64,
    compress_mbs: f64,
    decompress_mbs: f64,
    report: Report,
    /// Per float tensor, in the order of [`Parsed::floats`].
    errors: Vec<Errors>,
}

/// Compress `data` towards `goal` on one thread, decompress, check the
/// layout and measure size, SNR and speed.
fn lossy_run(data: &[u8], original: &Parsed, goal: Goal) -> BoxResult<LossyRun> {
    let opts = Options {
        threads: 1,
        ..Options::default()
    };
    let (stz, report, compress_time) = compress_lossy_timed(data, goal, &opts)?;
    let mut restored = Vec::with_capacity(data.len());
    let ((), decompress_time) = best_of(RUNS, || {
        restored.clear();
        decompress(stz.as_slice(), Some(&mut restored), &opts, &|_| {}).map(drop)
    })?;
    let restored = Parsed::new(&restored)?;
    original.check_same_layout(&restored)?;
    let errors: Vec<Errors> = original
        .floats
        .iter()
        .zip(&restored.floats)
        .map(|(a, b)| Errors::between(&a.values, &b.values))
        .collect();
    Ok(LossyRun {
        goal,
        bpw: stz.len() as f64 * 8.0 / original.float_params() as f64,
        snr: Errors::sum(errors.iter().copied()).snr_db(),
        compress_mbs: mb_per_s(data.len(), compress_time),
        decompress_mbs: mb_per_s(data.len(), decompress_time),
        report,
        errors,
    })
}

/// Differential entropy in bits of the distribution `values` are drawn
/// from: Vasicek's m-spacing estimator with the boundary correction of
/// Ebrahimi, Pflughoeft & Soofi (1994), m = round(√n), on the sorted
/// sample x₁ ≤ … ≤ xₙ (indices clamped to 1..n):
/// Ĥ = (1/n) Σᵢ ln(n·(x_{i+m} − x_{i−m}) / (cᵢ·m)), cᵢ = 1 + (i−1)/m for
/// i ≤ m, 1 + (n−i)/m for i > n−m, 2 otherwise. A point mass (2m + 1 equal
/// values) gives −∞. Needs n ≥ 5.
fn entropy_bits(values: &[f32]) -> f64 {
    let mut x: Vec<f64> = values.iter().map(|&v| f64::from(v)).collect();
    x.sort_unstable_by(f64::total_cmp);
    let n = x.len();
    let m = ((n as f64).sqrt().round() as usize).max(1);
    let mf = m as f64;
    let sum: f64 = (0..n)
        .map(|i| {
            let spacing = x[(i + m).min(n - 1)] - x[i.saturating_sub(m)];
            let c = if i < m {
                1.0 + i as f64 / mf
            } else if i >= n - m {
                1.0 + (n - 1 - i) as f64 / mf
            } else {
                2.0
            };
            (n as f64 * spacing / (c * mf)).ln()
        })
        .sum();
    sum / n as f64 / LN_2
}

/// One tensor's rate against the Shannon lower bound at its distortion.
struct Gap {
    name: String,
    elements: usize,
    mse: f64,
    entropy: f64,
    slb: f64,
    ours: f64,
}

impl Gap {
    fn gap(&self) -> f64 {
        self.ours - self.slb
    }
}

/// R_SLB(D) = h(X) − ½·log2(2πe·D), clamped at 0, against each large
/// tensor's share of the file; tensors stored without loss (D = 0, where
/// the bound is infinite) are left out.
fn shannon_gaps(original: &Parsed, run: &LossyRun) -> Vec<Gap> {
    original
        .floats
        .iter()
        .zip(&run.errors)
        .filter(|(t, e)| t.values.len() >= GAP_MIN_ELEMENTS && e.noise > 0.0)
        .map(|(t, e)| {
            let elements = t.values.len();
            let mse = e.noise / elements as f64;
            let entropy = entropy_bits(&t.values);
            let stored = run
                .report
                .tensors
                .iter()
                .find(|r| r.name == t.name)
                .map_or(0, |r| r.stored_bytes);
            Gap {
                name: t.name.clone(),
                elements,
                mse,
                entropy,
                slb: (entropy - 0.5 * (2.0 * PI * E * mse).log2()).max(0.0),
                ours: stored as f64 * 8.0 / elements as f64,
            }
        })
        .collect()
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// Section 1 and 2: MiniLM FP32, if present.
fn minilm() -> BoxResult<()> {
    let path = common::cache_dir().join("minilm/model.safetensors");
    let data = match std::fs::read(&path) {
        Ok(data) => data,
        Err(e) => {
            println!(
                "> skipping MiniLM: cannot read {} ({e}); run scripts/setup-data.sh",
                path.display()
            );
            return Ok(());
        }
    };
    let original = Parsed::new(&data)?;
    let params = original.float_params();
    println!(
        "## all-MiniLM-L6-v2 FP32 ({} bytes, {params} float params)\n",
        data.len()
    );
    println!("| method | bits/weight | weight SNR dB | compress MB/s | decompress MB/s | transforms (tensors) |");
    println!("|---|---:|---:|---:|---:|---|");
    for q in Quantizer::ALL {
        eprintln!("{}...", q.label());
        let (bpw, snr) = reference(q, &original);
        println!("| {} | {bpw:.3} | {snr:.2} | – | – | – |", q.label());
    }
    let mut runs = Vec::new();
    for goal in [Goal::BitsPerWeight(4.75), Goal::Snr(27.0), Goal::Snr(45.0)] {
        eprintln!("{}...", goal.label());
        let run = lossy_run(&data, &original, goal)?;
        println!(
            "| {} (1 thread) | {:.3} | {:.2} | {:.1} | {:.1} | {} |",
            goal.label(),
            run.bpw,
            run.snr,
            run.compress_mbs,
            run.decompress_mbs,
            transforms(&run.report)
        );
        runs.push(run);
    }
    println!(
        "\nReference bits/weight count codes and scales of the float tensors \
         only; a real file adds its header (and non-float tensors), a few KB \
         here. stzip bits/weight count the whole `.stz` file.\n"
    );

    println!("| target | measured | result |");
    println!("|---|---:|---|");
    let [at_bpw, snr27, snr45] = &runs[..] else {
        unreachable!("three runs")
    };
    let measured = |r: &LossyRun| format!("{:.2} dB at {:.3} bpw", r.snr, r.bpw);
    let slowest_compress = runs.iter().map(|r| r.compress_mbs).fold(f64::MAX, f64::min);
    let slowest_decompress = runs
        .iter()
        .map(|r| r.decompress_mbs)
        .fold(f64::MAX, f64::min);
    for (label, value, ok) in [
        (
            "4.75 bpw: SNR ≥ 28.5 dB".to_string(),
            measured(at_bpw),
            at_bpw.snr >= 28.5 && at_bpw.bpw <= 4.75,
        ),
        (
            "SNR 27 at ≤ 4.45 bpw".into(),
            measured(snr27),
            snr27.snr >= 27.0 && snr27.bpw <= 4.45,
        ),
        (
            "SNR 45 at ≤ 7.4 bpw".into(),
            measured(snr45),
            snr45.snr >= 45.0 && snr45.bpw <= 7.4,
        ),
        (
            "compress ≥ 100 MB/s (1 thread, slowest run)".into(),
            format!("{slowest_compress:.1} MB/s"),
            slowest_compress >= 100.0,
        ),
        (
            "decompress ≥ 500 MB/s (1 thread, slowest run)".into(),
            format!("{slowest_decompress:.1} MB/s"),
            slowest_decompress >= 500.0,
        ),
    ] {
        println!("| {label} | {value} | {} |", pass(ok));
    }

    eprintln!("entropy estimates...");
    let mut gaps = shannon_gaps(&original, snr27);
    gaps.sort_by(|a, b| b.gap().total_cmp(&a.gap()));
    let mut values: Vec<f64> = gaps.iter().map(Gap::gap).collect();
    values.sort_by(f64::total_cmp);
    let median_gap = median(&values);
    let mean_gap = values.iter().sum::<f64>() / values.len() as f64;
    println!(
        "\n## Gap to the Shannon lower bound ({}, {} float tensors of ≥ {GAP_MIN_ELEMENTS} elements)\n",
        snr27.goal.label(),
        gaps.len()
    );
    println!("R_SLB(D) = h(X) − ½·log2(2πe·D), h(X) by the m-spacing (Vasicek–Ebrahimi) estimator, D = MSE per weight; R_ours = the tensor's stored bytes × 8 / elements.\n");
    println!("| statistic | bits/weight | result |");
    println!("|---|---:|---|");
    println!(
        "| median gap (target ≤ 0.3) | {median_gap:.3} | {} |",
        pass(median_gap <= 0.3)
    );
    println!("| mean gap | {mean_gap:.3} | |");
    println!("\nLargest gaps:\n");
    println!("| tensor | elements | D | h(X) bits | R_SLB | R_ours | gap |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for g in gaps.iter().take(5) {
        println!(
            "| {} | {} | {:.3e} | {:.3} | {:.3} | {:.3} | {:.3} |",
            g.name,
            g.elements,
            g.mse,
            g.entropy,
            g.slb,
            g.ours,
            g.gap()
        );
    }
    Ok(())
}

/// Rates of the end-to-end proxy, and its targets (mean cosine on each
/// sentence set, model allocation).
const FIDELITY: [(f64, f64); 2] = [(4.0, 0.992), (4.5, 0.997)];

/// MiniLM decompressed at each rate and allocation, then its sentence
/// embeddings against the original's (`scripts/proxy_minilm.py`).
fn fidelity() -> BoxResult<()> {
    let dir = common::cache_dir().join("minilm");
    let python = std::env::var("STZIP_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/proxy_minilm.py");
    println!("\n## End to end: MiniLM sentence embeddings (`scripts/proxy_minilm.py`)\n");
    let has_modules = Command::new(&python)
        .args(["-c", "import numpy, tokenizers"])
        .output()
        .is_ok_and(|o| o.status.success());
    let data = match std::fs::read(dir.join("model.safetensors")) {
        Ok(d) if has_modules && dir.join("tokenizer.json").exists() => d,
        _ => {
            println!(
                "> skipped: needs {}/{{model.safetensors,tokenizer.json}} (scripts/setup-data.sh) \
                 and a python with numpy and tokenizers (`pip install numpy tokenizers`; \
                 STZIP_PYTHON names the interpreter)",
                dir.display()
            );
            return Ok(());
        }
    };
    let tmp = tempfile::tempdir()?;
    let opts = Options {
        threads: 2,
        ..Options::default()
    };
    let mut runs = Vec::new();
    for (bpw, _) in FIDELITY {
        for (label, allocation) in [
            ("uniform", Allocation::Uniform),
            ("model", Allocation::Model),
        ] {
            eprintln!("proxy: {bpw} bits/weight, {label}...");
            let lossy = LossyOptions {
                target: Target::BitsPerWeight(bpw),
                allocation,
                // MiniLM's config.json: a BertModel, no head to tie to.
                tied_embeddings: Some(false),
            };
            let mut stz = Vec::new();
            let report = compress_lossy(&mut || Ok(&data[..]), &mut stz, &opts, &lossy, &|_| {})?;
            let mut restored = Vec::new();
            decompress(&stz[..], Some(&mut restored), &opts, &|_| {})?;
            let path = tmp.path().join(format!("{label}-{bpw}.safetensors"));
            std::fs::write(&path, restored)?;
            runs.push((bpw, label, report, path));
        }
    }
    let out = Command::new(&python)
        .arg(script)
        .arg(&dir)
        .args(runs.iter().map(|r| &r.3))
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "proxy_minilm.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    // "<path>: <set>: mean cosine M  min cosine N", two sets per path.
    let cosines = |path: &std::path::Path| -> Vec<(f64, f64)> {
        let prefix = format!("{}: ", path.display());
        text.lines()
            .filter_map(|l| l.strip_prefix(&prefix))
            .filter_map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                let at = |k: &str| {
                    w.iter()
                        .position(|x| *x == k)
                        .and_then(|i| w.get(i + 2)?.parse().ok())
                };
                Some((at("mean")?, at("min")?))
            })
            .collect()
    };
    println!("Sentences: the 32 that guided the role multipliers; check: 48 written apart and never used to choose anything.\n");
    println!("| bits/weight | allocation | weight SNR dB | mean cosine | min cosine | mean cosine (check) | min cosine (check) |");
    println!("|---:|---|---:|---:|---:|---:|---:|");
    let mut verdicts = Vec::new();
    for (target, label, report, path) in &runs {
        let c = cosines(path);
        let [(mean, min), (check_mean, check_min)] = c[..] else {
            return Err(format!("proxy_minilm.py printed no result for {}", path.display()).into());
        };
        println!(
            "| {:.3} | {label} | {:.2} | {mean:.5} | {min:.5} | {check_mean:.5} | {check_min:.5} |",
            report.bits_per_weight(),
            report.snr_db().unwrap_or(f64::NAN)
        );
        if *label == "model" {
            let goal = FIDELITY
                .iter()
                .find(|f| f.0 == *target)
                .map_or(1.0, |f| f.1);
            verdicts.push((
                *target,
                goal,
                report.bits_per_weight(),
                mean.min(check_mean),
            ));
        }
    }
    println!("\n| target (model allocation, both sentence sets) | measured | result |");
    println!("|---|---:|---|");
    for (target, goal, bpw, worst) in verdicts {
        println!(
            "| mean cosine ≥ {goal} at ≤ {target} bits/weight | {worst:.5} at {bpw:.3} | {} |",
            pass(worst >= goal && bpw <= target)
        );
    }
    Ok(())
}

/// Standard deviation of the generated weights.
const STD: f64 = 0.02;

/// A seeded `rows × cols` F32 tensor from `sample(rng, column)`, row by
/// row, as a safetensors file.
fn generated(
    name: &str,
    seed: u64,
    rows: usize,
    cols: usize,
    mut sample: impl FnMut(&mut Rng, usize) -> f64,
) -> Vec<u8> {
    let mut rng = Rng(seed);
    let mut bytes = Vec::with_capacity(rows * cols * 4);
    for _ in 0..rows {
        for c in 0..cols {
            bytes.extend_from_slice(&(sample(&mut rng, c) as f32).to_le_bytes());
        }
    }
    common::safetensors(vec![(name, "F32", vec![rows as u64, cols as u64], bytes)])
}

/// Gaussian, Laplacian, Student-t (ν = 3) and smooth (per row, a sum of
/// three low-frequency sinusoids plus 5 % noise) tensors, all of
/// standard deviation about [`STD`].
fn generated_inputs(quick: bool) -> Vec<(String, Vec<u8>)> {
    let (n, rows, cols) = if quick {
        (256, 128, 768)
    } else {
        (1024, 512, 768)
    };
    let mut waves = [(0.0, 0.0, 0.0); 3];
    vec![
        (
            format!("gaussian {n}×{n}"),
            generated("gaussian", 11, n, n, |rng, _| STD * rng.gaussian()),
        ),
        (
            format!("laplacian {n}×{n}"),
            generated("laplacian", 12, n, n, |rng, _| {
                let u = rng.uniform() - 0.5;
                -STD / 2f64.sqrt() * u.signum() * (1.0 - 2.0 * u.abs()).ln()
            }),
        ),
        (
            format!("student-t3 {n}×{n}"),
            generated("student_t3", 13, n, n, |rng, _| {
                let chi2: f64 = (0..3).map(|_| rng.gaussian().powi(2)).sum();
                // Variance of t₃ is 3.
                STD / 3f64.sqrt() * rng.gaussian() / (chi2 / 3.0).sqrt()
            }),
        ),
        (
            format!("smooth {rows}×{cols}"),
            generated("smooth", 14, rows, cols, |rng, c| {
                if c == 0 {
                    for w in &mut waves {
                        *w = (
                            rng.gaussian(),
                            0.5 + 3.5 * rng.uniform(),
                            TAU * rng.uniform(),
                        );
                    }
                }
                let t = c as f64 / cols as f64;
                let wave: f64 = waves
                    .iter()
                    .map(|&(amp, freq, phase)| amp * (TAU * freq * t + phase).sin())
                    .sum();
                // Three unit-variance amplitudes times sin (variance ½).
                STD * (wave / 1.5f64.sqrt() + 0.05 * rng.gaussian())
            }),
        ),
    ]
}

/// The transforms the encoder chose, with how many lossy tensors took each
/// (`dct-0: 1, none: 99`).
fn transforms(report: &Report) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for t in report.tensors.iter().filter(|t| t.step.is_some()) {
        let name = t.transform.map_or("none", |t| t.name());
        match counts.iter_mut().find(|c| c.0 == name) {
            Some(c) => c.1 += 1,
            None => counts.push((name, 1)),
        }
    }
    counts.sort();
    if let [(name, _)] = counts[..] {
        return name.to_string();
    }
    let parts: Vec<String> = counts.iter().map(|(n, c)| format!("{n}: {c}")).collect();
    parts.join(", ")
}

/// Section 3: generated tensors.
fn generated_section(quick: bool) -> BoxResult<()> {
    println!("\n## Generated F32 tensors (σ = {STD})\n");
    println!("| data | method | transform | bits/weight | weight SNR dB |");
    println!("|---|---|---|---:|---:|");
    for (name, data) in generated_inputs(quick) {
        eprintln!("{name}...");
        let original = Parsed::new(&data)?;
        for goal in [Goal::Snr(27.0), Goal::BitsPerWeight(4.0)] {
            let run = lossy_run(&data, &original, goal)?;
            println!(
                "| {name} | {} | {} | {:.3} | {:.2} |",
                goal.label(),
                transforms(&run.report),
                run.bpw,
                run.snr
            );
        }
        for q in [Quantizer::Q4_0, Quantizer::Q8_0] {
            let (bpw, snr) = reference(q, &original);
            println!("| {name} | {} | – | {bpw:.3} | {snr:.2} |", q.label());
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    stzip::pipeline::keep_freed_memory();
    let quick = std::env::args().skip(1).any(|a| a == "--quick");
    match minilm()
        .and_then(|()| fidelity())
        .and_then(|()| generated_section(quick))
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_round_trip() {
        for x in [0.0f32, 1.0, -2.5, 65504.0, 1e-3, 0.333] {
            let back = fp16_round(x);
            assert!((back - x).abs() <= x.abs() / 1024.0, "{x} → {back}");
        }
        assert_eq!(common::f16_to_f32(0x3c00), 1.0);
        assert_eq!(common::f16_to_f32(0x0001), 5.960_464_5e-8);
        assert_eq!(f8e4m3_to_f32(0x7e), 448.0);
    }

    #[test]
    fn q4_0_matches_ggml() {
        // max = −0.8 → d = 0.1; x/d + 8.5 truncated, capped at 15.
        let x = [-0.8f32, 0.0, 0.24, 0.7, 0.79];
        let mut out = Vec::new();
        Quantizer::Q4_0.round_trip(&x, &mut out);
        let d = fp16_round(0.1);
        let q: Vec<f32> = out.iter().map(|v| (v / d).round()).collect();
        assert_eq!(q, [-8.0, 0.0, 2.0, 7.0, 7.0]);
    }

    #[test]
    fn partial_blocks_pay_a_scale_each() {
        let t = FloatTensor {
            name: "t".into(),
            shape: vec![2, 40],
            values: (0..80).map(|i| i as f32 / 80.0).collect(),
        };
        // Per row: 32 + 8 elements → 2 + 32 and 2 + 8 bytes.
        assert_eq!(Quantizer::Q8_0.apply(&t).0, 2 * (34 + 10));
        assert_eq!(Quantizer::Q4_0.apply(&t).0, 2 * (18 + 6));
    }

    #[test]
    fn entropy_of_gaussian() {
        let mut rng = Rng(1);
        let x: Vec<f32> = (0..100_000)
            .map(|_| (3.0 * rng.gaussian()) as f32)
            .collect();
        let exact = 0.5 * (2.0 * PI * E * 9.0).log2();
        let estimate = entropy_bits(&x);
        assert!((estimate - exact).abs() < 0.01, "{estimate} vs {exact}");
    }
}
