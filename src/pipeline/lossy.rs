//! Lossy compression: a statistics pass picks the quantizer step that meets
//! the target (bits per weight or weight SNR), then a coding pass writes the
//! file. The input is read twice, so it comes from a function that opens it.

use std::io::{Read, Write};

use super::{chunking, encode_file, EncodedChunk, Options, Progress, Report};
use crate::codec::{lossless, lossy};
use crate::container::StzWriter;
use crate::error::{Error, Result};
use crate::safetensors::{self, Dtype};

/// What the rate controller aims for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// Average bits per float parameter over the whole file, everything
    /// counted.
    BitsPerWeight(f64),
    /// Weight SNR in dB over all float tensors.
    Snr(f64),
}

/// How the bits are spread over tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocation {
    /// One quantizer step for every float tensor: the most whole-file weight
    /// SNR for a given size.
    Uniform,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossyOptions {
    pub target: Target,
    pub allocation: Allocation,
}

/// At most this many bytes of rows are kept to evaluate candidate steps;
/// larger files are subsampled by whole rows.
const SAMPLE_BYTES: u64 = 4 << 20;
/// Bisection steps on log2(step) within a 2-octave bracket: 2^-11 of an
/// octave, below the sampling noise.
const BISECTIONS: usize = 11;

/// Rows of one chunk kept for rate control, standing for `weight` times
/// their size.
struct Sample {
    dtype: Dtype,
    row_len: usize,
    data: Vec<u8>,
    weight: f64,
}

/// What the statistics pass learned.
struct Stats {
    samples: Vec<Sample>,
    /// Σw² over the finite float values, and the number of float elements.
    sig2: f64,
    float_params: u64,
    /// Bits of everything that is not a quantized float: lossless tensors
    /// and the container.
    fixed_bits: f64,
    /// Widest lossless rate of the float dtypes present (bits per weight).
    raw_bits: f64,
}

fn check_target(target: Target) -> Result<()> {
    let bad = |reason: String| Err(Error::InvalidLossyTarget { reason });
    match target {
        Target::BitsPerWeight(b) if !(b.is_finite() && b > 0.0) => bad(format!(
            "bits per weight must be a positive number, not {b}"
        )),
        Target::Snr(s) if !(s.is_finite() && s > 0.0 && s <= 200.0) => {
            bad(format!("SNR must be a number of dB in (0, 200], not {s}"))
        }
        _ => Ok(()),
    }
}

/// Compress with a quantizer step chosen to meet `lossy.target`.
/// `open` is called twice and must return the same bytes each time.
pub fn compress_lossy<R: Read, W: Write + Send>(
    open: &mut dyn FnMut() -> Result<R>,
    output: W,
    opts: &Options,
    lossy: &LossyOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Report> {
    check_target(lossy.target)?;
    let stats = gather(open()?, opts)?;
    let step = choose_step(&stats, lossy.target, opts)?;

    let (header, data) = safetensors::open(open()?)?;
    let steps: Vec<Option<f64>> = header
        .tensors()
        .iter()
        .map(|t| t.dtype.float_layout().map(|_| step))
        .collect();
    if header
        .tensors()
        .iter()
        .filter(|t| t.dtype.float_layout().is_some())
        .map(|t| t.num_elements())
        .sum::<u64>()
        != stats.float_params
    {
        return Err(Error::InputChanged);
    }
    encode_file(
        &header,
        data,
        output,
        opts,
        progress,
        steps,
        &|chunk, dtype, buf| {
            if dtype.float_layout().is_some() {
                let enc = lossy::encode(dtype, chunk.row_len, &buf, step)?;
                Ok(EncodedChunk {
                    chunk,
                    payload: enc.payload,
                    decoded: enc.decoded,
                    err2: enc.err2,
                    sig2: enc.sig2,
                })
            } else {
                EncodedChunk::lossless(chunk, dtype, buf)
            }
        },
    )
}

/// The statistics pass: signal power, a row sample of every float chunk,
/// and the exact cost of everything else.
fn gather<R: Read>(input: R, opts: &Options) -> Result<Stats> {
    let (header, mut data) = safetensors::open(input)?;
    let plan = chunking::plan(&header, opts.chunk_bytes);
    let float_bytes: u64 = header
        .tensors()
        .iter()
        .filter(|t| t.dtype.float_layout().is_some())
        .map(|t| t.byte_len())
        .sum();
    let stride = float_bytes.div_ceil(SAMPLE_BYTES).max(1) as usize;
    // Container: preamble and stored header, a frame and an index record
    // per chunk, a record per tensor (with extras when lossy), the trailer.
    let mut fixed_bytes = StzWriter::new(Vec::new(), header.raw())?.bytes_written() as f64
        + 64.0 * plan.len() as f64
        + 34.0 * header.tensors().len() as f64
        + 100.0;
    let mut stats = Stats {
        samples: Vec::new(),
        sig2: 0.0,
        float_params: 0,
        fixed_bits: 0.0,
        raw_bits: 0.0,
    };
    for chunk in &plan {
        let mut buf = vec![0u8; chunk.len];
        data.read_exact(&mut buf)?;
        let dtype = header
            .tensors()
            .get(chunk.tensor)
            .map(|t| t.dtype)
            .ok_or(Error::Internal("chunk of no tensor"))?;
        if dtype.float_layout().is_none() {
            fixed_bytes += lossless::encode_chunk(dtype, chunk.row_len, &buf)?.len() as f64;
            continue;
        }
        let w = dtype.size();
        stats.raw_bits = stats.raw_bits.max(8.0 * w as f64);
        stats.float_params += (chunk.len / w) as u64;
        for b in buf.chunks_exact(w) {
            let x = lossy::values::load(dtype, b);
            if x.is_finite() {
                stats.sig2 += x * x;
            }
        }
        let row_bytes = chunk.row_len * w;
        let rows: Vec<&[u8]> = buf.chunks(row_bytes).collect();
        let kept: Vec<u8> = rows
            .iter()
            .step_by(stride)
            .flat_map(|r| r.iter().copied())
            .collect();
        let weight = buf.len() as f64 / kept.len().max(1) as f64;
        stats.samples.push(Sample {
            dtype,
            row_len: chunk.row_len,
            data: kept,
            weight,
        });
    }
    data.finish()?;
    stats.fixed_bits = 8.0 * fixed_bytes;
    Ok(stats)
}

/// Estimated total bits and squared error of the whole file at `step`.
fn evaluate(stats: &Stats, step: f64, opts: &Options) -> Result<(f64, f64)> {
    let threads = opts.threads.max(1).min(stats.samples.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Result<(f64, f64)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let (mut bits, mut err2) = (0.0, 0.0);
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(s) = stats.samples.get(i) else { break };
                        let (scaled, once, e) = lossy::estimate(s.dtype, s.row_len, &s.data, step)?;
                        bits += scaled * s.weight + once;
                        err2 += e * s.weight;
                    }
                    Ok((bits, err2))
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or(Err(Error::Internal("a rate-control thread panicked")))
            })
            .collect()
    });
    let (mut bits, mut err2) = (stats.fixed_bits, 0.0);
    for r in results {
        let (b, e) = r?;
        bits += b;
        err2 += e;
    }
    Ok((bits, err2))
}

/// The quantizer step meeting `target`, by bisection on log2(step).
fn choose_step(stats: &Stats, target: Target, opts: &Options) -> Result<f64> {
    if stats.float_params == 0 {
        return Ok(1.0);
    }
    let n = stats.float_params as f64;
    let rms = (stats.sig2 / n).sqrt();
    if rms.is_nan() || rms <= 0.0 {
        return Ok(1.0); // all zeros: any step codes them exactly
    }
    if let Target::BitsPerWeight(b) = target {
        let fixed = stats.fixed_bits / n;
        if b <= fixed {
            return Err(Error::InvalidLossyTarget {
                reason: format!("{b} bits/weight is below what the container and lossless tensors alone take ({fixed:.3})"),
            });
        }
        if b >= stats.raw_bits {
            return Err(Error::InvalidLossyTarget {
                reason: format!("{b} bits/weight is not below the uncompressed size ({} bits/weight): use lossless mode", stats.raw_bits),
            });
        }
    }
    // `too_coarse(step)`: the step misses the target on the lossy side.
    let too_coarse = |step: f64| -> Result<bool> {
        let (bits, err2) = evaluate(stats, step, opts)?;
        Ok(match target {
            Target::BitsPerWeight(b) => bits / n < b,
            Target::Snr(s) => super::snr_db(stats.sig2, err2) < s,
        })
    };
    // High-rate guess, then widen a bracket [fine, coarse] around the target.
    let guess = match target {
        Target::Snr(s) => rms * 12f64.sqrt() * 10f64.powf(-s / 20.0),
        Target::BitsPerWeight(b) => rms * 2f64.powf(2.0 - b),
    };
    let (mut fine, mut coarse) = (guess.log2(), guess.log2());
    for _ in 0..64 {
        if too_coarse(2f64.powf(coarse))? {
            break;
        }
        coarse += 2.0;
    }
    for _ in 0..64 {
        if !too_coarse(2f64.powf(fine))? {
            break;
        }
        fine -= 2.0;
    }
    if too_coarse(2f64.powf(fine))? || !too_coarse(2f64.powf(coarse))? {
        return Err(Error::InvalidLossyTarget {
            reason: "no quantizer step reaches this target".to_string(),
        });
    }
    for _ in 0..BISECTIONS {
        let mid = 0.5 * (fine + coarse);
        if too_coarse(2f64.powf(mid))? {
            coarse = mid;
        } else {
            fine = mid;
        }
    }
    Ok(2f64.powf(fine))
}
