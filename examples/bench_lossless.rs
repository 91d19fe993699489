//! Lossless benchmark: stzip against zstd -3 / -19 on MiniLM (FP32 and
//! BF16, from `scripts/setup-data.sh`) and on synthetic weights generated
//! in memory, plus thread scaling, printed as markdown with targets.
//!
//! Run: `cargo run --release --example bench_lossless [-- --quick] [--stzip-only]`
//! (`--stzip-only` skips the zstd baselines, for quick iterations).
//! (`--quick` uses smaller synthetic files). Exits non-zero if any round
//! trip is not byte-exact.

mod common;

use common::{best_of, cache_dir, f16_bits, mb_per_s, pass, safetensors, Rng};

use std::process::ExitCode;
use std::time::Duration;

use stzip::pipeline::{compress, decompress, Options};

/// Timed runs per measurement (the best counts); zstd -19 runs once.
const RUNS: usize = 3;
/// Rounds of one-thread and two-thread runs, in turn, for the scaling table.
const SCALING_ROUNDS: usize = 3;

/// One benchmark input, held in memory.
struct Input {
    name: String,
    data: Vec<u8>,
}

/// Sizes and best times of one method on one input.
struct Measured {
    bytes: usize,
    compress: Duration,
    decompress: Duration,
    exact: bool,
}

impl Measured {
    /// The faster compression and the faster decompression of two runs.
    fn best(self, other: Measured) -> Measured {
        Measured {
            compress: self.compress.min(other.compress),
            decompress: self.decompress.min(other.decompress),
            exact: self.exact && other.exact,
            ..self
        }
    }

    fn compress_mbs(&self, raw: usize) -> f64 {
        mb_per_s(raw, self.compress)
    }
    fn decompress_mbs(&self, raw: usize) -> f64 {
        mb_per_s(raw, self.decompress)
    }
}

/// stzip round trip; returns the measurement and the float parameter count.
fn measure_stzip(data: &[u8], threads: usize) -> stzip::Result<(Measured, u64)> {
    let opts = Options {
        threads,
        ..Options::default()
    };
    let mut stz = Vec::with_capacity(data.len());
    let (report, compress_t) = best_of(RUNS, || {
        stz.clear();
        compress(data, &mut stz, &opts, &|_| {})
    })?;
    let mut out = Vec::with_capacity(data.len());
    let ((), decompress_t) = best_of(RUNS, || {
        out.clear();
        decompress(stz.as_slice(), Some(&mut out), &opts, &|_| {}).map(drop)
    })?;
    let m = Measured {
        bytes: stz.len(),
        compress: compress_t,
        decompress: decompress_t,
        exact: out == data,
    };
    Ok((m, report.float_params))
}

fn measure_zstd(data: &[u8], level: i32, runs: usize) -> stzip::Result<Measured> {
    let (packed, compress_t) = best_of(runs, || Ok(zstd::bulk::compress(data, level)?))?;
    let (out, decompress_t) = best_of(runs, || Ok(zstd::bulk::decompress(&packed, data.len())?))?;
    Ok(Measured {
        bytes: packed.len(),
        compress: compress_t,
        decompress: decompress_t,
        exact: out == data,
    })
}

/// A `rows × cols` Gaussian weight matrix with standard deviation `std`,
/// scaled per row (log-normal, σ = 0.5) and per column (log-normal, σ = 0.2).
fn weight_matrix(rng: &mut Rng, rows: usize, cols: usize, std: f64) -> Vec<f32> {
    let col_scale: Vec<f64> = (0..cols).map(|_| (0.2 * rng.gaussian()).exp()).collect();
    let mut out = Vec::with_capacity(rows * cols);
    for _ in 0..rows {
        let row_scale = std * (0.5 * rng.gaussian()).exp();
        out.extend(
            col_scale
                .iter()
                .map(|c| (rng.gaussian() * row_scale * c) as f32),
        );
    }
    out
}

/// Values near `center` with small Gaussian spread (biases, norm weights).
fn vector(rng: &mut Rng, len: usize, center: f64, std: f64) -> Vec<f32> {
    (0..len)
        .map(|_| (center + std * rng.gaussian()) as f32)
        .collect()
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn f16_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|&x| f16_bits(x).to_le_bytes()).collect()
}

/// Two transformer-like weight matrices with bias and norm vectors,
/// encoded with `encode` as `dtype`.
fn synthetic_layer(
    seed: u64,
    n: usize,
    k: usize,
    std: f64,
    dtype: &str,
    encode: fn(&[f32]) -> Vec<u8>,
) -> Vec<u8> {
    let mut rng = Rng(seed);
    let (n64, k64) = (n as u64, k as u64);
    safetensors(vec![
        (
            "layer.0.attn.weight",
            dtype,
            vec![n64, k64],
            encode(&weight_matrix(&mut rng, n, k, std)),
        ),
        (
            "layer.0.attn.bias",
            dtype,
            vec![n64],
            encode(&vector(&mut rng, n, 0.0, std)),
        ),
        (
            "layer.0.mlp.weight",
            dtype,
            vec![k64, n64],
            encode(&weight_matrix(&mut rng, k, n, std)),
        ),
        (
            "layer.0.norm.weight",
            dtype,
            vec![k64],
            encode(&vector(&mut rng, k, 1.0, 0.05)),
        ),
    ])
}

/// An FP32 embedding table in which exactly 5 % of the rows are exactly
/// FP16-representable (low 13 mantissa bits zero), plus a norm vector.
fn synthetic_embedding(seed: u64, vocab: usize, dim: usize) -> Vec<u8> {
    let mut rng = Rng(seed);
    let mut table = weight_matrix(&mut rng, vocab, dim, 0.05);
    let mut rows: Vec<usize> = (0..vocab).collect();
    let picked = vocab / 20;
    for i in 0..picked {
        let j = i + (rng.next_u64() % (vocab - i) as u64) as usize;
        rows.swap(i, j);
    }
    for &r in &rows[..picked] {
        for x in &mut table[r * dim..(r + 1) * dim] {
            *x = f32::from_bits(x.to_bits() & !0x1fff);
        }
    }
    safetensors(vec![
        (
            "embeddings.word_embeddings.weight",
            "F32",
            vec![vocab as u64, dim as u64],
            f32_bytes(&table),
        ),
        (
            "embeddings.norm.weight",
            "F32",
            vec![dim as u64],
            f32_bytes(&vector(&mut rng, dim, 1.0, 0.05)),
        ),
    ])
}

/// The MiniLM files that are present; a message for each that is not.
fn minilm_inputs() -> Vec<Input> {
    let dir = cache_dir().join("minilm");
    let mut inputs = Vec::new();
    for (name, file) in [
        ("minilm-fp32", "model.safetensors"),
        ("minilm-bf16", "model-bf16.safetensors"),
    ] {
        let path = dir.join(file);
        match std::fs::read(&path) {
            Ok(data) => inputs.push(Input {
                name: name.into(),
                data,
            }),
            Err(e) => println!(
                "> skipping {name}: cannot read {} ({e}); run scripts/setup-data.sh",
                path.display()
            ),
        }
    }
    inputs
}

fn synthetic_inputs(quick: bool) -> Vec<Input> {
    let (n, k, vocab, dim) = if quick {
        (1024, 256, 2048, 256)
    } else {
        (4096, 1024, 8192, 768)
    };
    vec![
        Input {
            name: "synth-fp32".into(),
            data: synthetic_layer(1, n, k, 0.02, "F32", f32_bytes),
        },
        Input {
            name: "synth-fp16".into(),
            data: synthetic_layer(2, n, k, 0.02, "F16", f16_bytes),
        },
        Input {
            name: "synth-embed-fp16rows".into(),
            data: synthetic_embedding(3, vocab, dim),
        },
    ]
}

fn main() -> stzip::Result<ExitCode> {
    stzip::pipeline::keep_freed_memory();
    let quick = std::env::args().skip(1).any(|a| a == "--quick");
    let stzip_only = std::env::args().skip(1).any(|a| a == "--stzip-only");
    let mut inputs = minilm_inputs();
    inputs.extend(synthetic_inputs(quick));

    let mut table = String::from(
        "| file | method | compressed bytes | bits/weight | ratio | compress MB/s | decompress MB/s | byte-exact |\n\
         |---|---|---:|---:|---:|---:|---:|---|\n",
    );
    let mut all_exact = true;
    let mut minilm_bpw = [None, None];
    let threads = Options::default().threads;
    for input in &inputs {
        let raw = input.data.len();
        eprintln!("measuring {} ({raw} bytes)...", input.name);
        let (default, params) = measure_stzip(&input.data, threads)?;
        match input.name.as_str() {
            "minilm-fp32" => minilm_bpw[0] = Some(default.bytes as f64 * 8.0 / params as f64),
            "minilm-bf16" => minilm_bpw[1] = Some(default.bytes as f64 * 8.0 / params as f64),
            _ => {}
        }
        let (one, _) = measure_stzip(&input.data, 1)?;
        let mut rows = vec![
            (format!("stzip default ({threads} threads)"), default, true),
            ("stzip (1 thread)".to_string(), one, true),
        ];
        if !stzip_only {
            rows.push((
                "zstd -3".to_string(),
                measure_zstd(&input.data, 3, RUNS)?,
                false,
            ));
            eprintln!("  zstd -19 (slow)...");
            let slow = measure_zstd(&input.data, 19, 1)?;
            let slow_label = format!("zstd -19 (1 run, {:.1} s)", slow.compress.as_secs_f64());
            rows.push((slow_label, slow, false));
        }
        for (method, m, is_stzip) in rows {
            all_exact &= m.exact;
            let exact = match (is_stzip, m.exact) {
                (false, _) => "",
                (true, true) => "yes",
                (true, false) => "**NO**",
            };
            table += &format!(
                "| {} | {method} | {} | {:.2} | {:.4} | {:.1} | {:.1} | {exact} |\n",
                input.name,
                m.bytes,
                m.bytes as f64 * 8.0 / params as f64,
                m.bytes as f64 / raw as f64,
                m.compress_mbs(raw),
                m.decompress_mbs(raw),
            );
        }
    }
    println!("\n{table}");

    // Scaling needs many chunks per thread: with a handful, the last round
    // codes one chunk while the other thread idles (synth-fp32 above has
    // four 8 MiB chunks). The same layer, 4× the rows: 16 chunks.
    let (n, k) = if quick { (4096, 256) } else { (16384, 1024) };
    let scaling = Input {
        name: "synth-fp32-4x".into(),
        data: synthetic_layer(4, n, k, 0.02, "F32", f32_bytes),
    };
    let raw = scaling.data.len();
    eprintln!("measuring thread scaling on {}...", scaling.name);
    // One and two threads taken in turn, best of each: the machine's speed
    // drifts between runs, and a ratio of runs taken apart picks that up.
    let (mut one, _) = measure_stzip(&scaling.data, 1)?;
    let (mut two, _) = measure_stzip(&scaling.data, 2)?;
    for _ in 1..SCALING_ROUNDS {
        let (a, _) = measure_stzip(&scaling.data, 1)?;
        let (b, _) = measure_stzip(&scaling.data, 2)?;
        one = one.best(a);
        two = two.best(b);
    }
    all_exact &= one.exact && two.exact;
    let compress_speedup = one.compress.as_secs_f64() / two.compress.as_secs_f64();
    let decompress_speedup = one.decompress.as_secs_f64() / two.decompress.as_secs_f64();
    println!("Thread scaling on {} ({raw} bytes):\n", scaling.name);
    println!("| threads | compress MB/s | decompress MB/s |");
    println!("|---:|---:|---:|");
    println!(
        "| 1 | {:.1} | {:.1} |",
        one.compress_mbs(raw),
        one.decompress_mbs(raw)
    );
    println!(
        "| 2 | {:.1} | {:.1} |",
        two.compress_mbs(raw),
        two.decompress_mbs(raw)
    );
    println!("| speedup | {compress_speedup:.2}× | {decompress_speedup:.2}× |");

    println!(
        "\nTargets (speeds: stzip, 1 thread, on {}):\n",
        scaling.name
    );
    println!("| target | measured | result |");
    println!("|---|---:|---|");
    for (label, bpw, limit) in [
        ("FP32 MiniLM ≤ 26.0 bpw", minilm_bpw[0], 26.0),
        ("BF16 MiniLM ≤ 10.5 bpw", minilm_bpw[1], 10.5),
    ] {
        match bpw {
            Some(b) => println!("| {label} | {b:.3} | {} |", pass(b <= limit)),
            None => println!("| {label} | – | SKIP (no data) |"),
        }
    }
    let checks = [
        (
            "compress ≥ 500 MB/s (1 thread)",
            format!("{:.1} MB/s", one.compress_mbs(raw)),
            one.compress_mbs(raw) >= 500.0,
        ),
        (
            "decompress ≥ 1000 MB/s (1 thread)",
            format!("{:.1} MB/s", one.decompress_mbs(raw)),
            one.decompress_mbs(raw) >= 1000.0,
        ),
        (
            "compress 2 threads ≥ 1.7× one",
            format!("{compress_speedup:.2}×"),
            compress_speedup >= 1.7,
        ),
        (
            "decompress 2 threads ≥ 1.7× one",
            format!("{decompress_speedup:.2}×"),
            decompress_speedup >= 1.7,
        ),
    ];
    for (label, measured, ok) in checks {
        println!("| {label} | {measured} | {} |", pass(ok));
    }

    if all_exact {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("error: a round trip was not byte-exact");
        Ok(ExitCode::FAILURE)
    }
}

#[cfg(test)]
mod tests {
    use super::f16_bits;

    #[test]
    fn f16_rounding() {
        assert_eq!(f16_bits(1.0), 0x3c00);
        assert_eq!(f16_bits(-2.0), 0xc000);
        assert_eq!(f16_bits(65504.0), 0x7bff);
        assert_eq!(f16_bits(65520.0), 0x7c00); // rounds up to infinity
        assert_eq!(f16_bits(f32::from_bits(0x3f80_1000)), 0x3c00); // tie, even stays
        assert_eq!(f16_bits(f32::from_bits(0x3f80_3000)), 0x3c02); // tie, odd rounds up
        assert_eq!(f16_bits(5.960_464_5e-8), 0x0001); // smallest subnormal
        assert_eq!(f16_bits(2.0e-8), 0x0000);
        assert_eq!(f16_bits(f32::NAN) & 0x7e00, 0x7e00);
    }
}
