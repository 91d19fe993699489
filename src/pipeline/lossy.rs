//! Lossy compression: a statistics pass picks the quantizer step that meets
//! the target (bits per weight or weight SNR), then a coding pass writes the
//! file. The input is read twice, so it comes from a function that opens it.

use std::io::{Read, Write};

use super::parallel::ordered_map;
use super::{chunking, encode_file, BufferPool, Options, Progress, Report, Stage};
use crate::codec::lossy::Domain;
use crate::codec::{lossless, lossy, math};
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
    /// Steps scaled by tensor role, for the model's outputs rather than the
    /// weight SNR (see [`Role`]).
    Model,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossyOptions {
    pub target: Target,
    pub allocation: Allocation,
    /// Whether the token embedding is tied to the output head, as the
    /// model's config.json says (`None`: unknown; then only an explicit
    /// `lm_head` tensor or an encoder-only layout proves it is not tied).
    pub tied_embeddings: Option<bool>,
}

/// What a tensor does in the model, as far as its step is concerned:
/// recognised from the usual naming conventions (BERT, LLaMA and its
/// kin, T5, BART/OPT, GPT-2), as llama.cpp picks per-tensor types by role.
/// A role's step multiplier goes as 1/√(the output error one unit of
/// weight error in it causes): measured by noise injection on MiniLM's
/// sentence embeddings, rounded towards 1, and in line with the mixed
/// precision schemes in use (llama.cpp gives the attention values more
/// bits). Anything not recognised is a plain matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// 1-D tensors (norms, biases): tiny, and they scale whole activations.
    Vector,
    /// A token-embedding lookup table (not tied to the output head): one
    /// row is read per token.
    TokenEmbedding,
    /// Position and token-type tables: small, and added to every token.
    OtherEmbedding,
    /// Attention queries and keys: their errors pass through the softmax,
    /// which damps them.
    QueryKey,
    /// Attention values: their errors go straight into the output.
    Value,
    /// The attention output projection.
    AttentionOutput,
    Matrix,
}

impl Role {
    fn of(name: &str, shape: &[u64], tied: bool) -> Role {
        if shape.len() <= 1 {
            return Role::Vector;
        }
        if is_token_embedding(name) {
            return if tied {
                Role::Matrix
            } else {
                Role::TokenEmbedding
            };
        }
        // The module's name and its parents': `...<grandparent>.<parent>.
        // <module>.weight` (or a bare parameter, `...<parent>.<module>`).
        let mut parts = name.strip_suffix(".weight").unwrap_or(name).rsplit('.');
        let module = parts.next().unwrap_or("");
        let parent = parts.next().unwrap_or("");
        let grandparent = parts.next().unwrap_or("");
        let attention = parent.contains("attn") || parent.contains("ttention");
        match module {
            "position_embeddings"
            | "position_embedding"
            | "token_type_embeddings"
            | "wpe"
            | "embed_positions" => Role::OtherEmbedding,
            "query" | "key" | "q_proj" | "k_proj" => Role::QueryKey,
            "q" | "k" | "wq" | "wk" if attention => Role::QueryKey,
            "value" | "v_proj" => Role::Value,
            "v" | "wv" if attention => Role::Value,
            "o_proj" => Role::AttentionOutput,
            // T5, LLaMA (Meta), BART/OPT, GPT-2, GPT-NeoX/Falcon.
            "o" | "wo" | "out_proj" | "c_proj" | "dense" if attention => Role::AttentionOutput,
            // BERT: attention.output.dense
            "dense" if parent == "output" && grandparent == "attention" => Role::AttentionOutput,
            _ => Role::Matrix,
        }
    }

    /// Step multiplier under [`Allocation::Model`].
    fn step(self) -> f64 {
        match self {
            Role::Vector => 0.25,
            Role::TokenEmbedding => 8.0,
            Role::OtherEmbedding => 0.5,
            Role::QueryKey => 2.5,
            Role::Value => 0.6,
            Role::AttentionOutput => 0.75,
            Role::Matrix => 1.0,
        }
    }
}

/// Names of token-embedding tables in the usual conventions (BERT, LLaMA,
/// GPT-2, T5, ...).
fn is_token_embedding(name: &str) -> bool {
    [
        "word_embeddings.weight",
        "embed_tokens.weight",
        "tok_embeddings.weight",
        "wte.weight",
        "shared.weight",
    ]
    .iter()
    .any(|suffix| name.ends_with(suffix))
}

/// Per-tensor step multipliers for an allocation.
pub(super) fn multipliers(header: &safetensors::Header, lossy: &LossyOptions) -> Vec<f64> {
    let has_head = header
        .tensors()
        .iter()
        .any(|t| t.name.contains("lm_head") || t.name.ends_with("embed_out.weight"));
    let tied = match lossy.tied_embeddings {
        Some(t) => t && !has_head,
        // Unknown: a separate head proves it untied; otherwise assume tied
        // (the safe side) unless no tensor could be a head at all.
        None => !has_head,
    };
    header
        .tensors()
        .iter()
        .map(|t| match lossy.allocation {
            Allocation::Uniform => 1.0,
            Allocation::Model => Role::of(&t.name, &t.shape, tied).step(),
        })
        .collect()
}

/// At most this many bytes of rows are kept to evaluate candidate steps;
/// larger files are subsampled by whole rows.
const SAMPLE_BYTES: u64 = 4 << 20;
/// The step search stops within 2^-11 of an octave (below the sampling
/// noise) and gives up refining after twice as many evaluations.
const BISECTIONS: usize = 11;
/// Secant steps tried before the bracketed search (each one evaluation).
const SECANT_STEPS: usize = 4;
/// dB an SNR target is aimed above: the sample's SNR differs from the
/// file's by about a thousandth of a dB either way, and the file must meet
/// the target (a margin of 0.005 dB costs about 0.001 bit/weight).
const SNR_MARGIN: f64 = 0.005;

/// The first steps of the search are taken on one row in this many of the
/// sample: they only need to land near the target, for a quarter of the
/// cost of an evaluation.
const COARSE_STRIDE: usize = 4;
/// Evaluations on the coarse sample at most.
const COARSE_STEPS: usize = 6;
/// The coarse search stops within this many tolerances of the target: the
/// coarse sample's estimate differs from the whole one's by about as much.
const COARSE_TOLERANCES: f64 = 20.0;

/// Rows of one chunk kept for rate control, standing for `weight` times
/// their size.
struct Sample {
    dtype: Dtype,
    row_len: usize,
    data: Vec<u8>,
    weight: f64,
    /// The tensor's step multiplier.
    scale: f64,
}

/// What the statistics pass learned.
pub(super) struct Stats {
    samples: Vec<Sample>,
    /// Per chunk of the plan, in order: the domain it is coded in, as
    /// measured here (so the coding pass need not measure it again).
    domains: Vec<Domain>,
    /// Σw² over the finite float values, and the number of float elements.
    sig2: f64,
    float_params: u64,
    /// Bits of everything that is not a quantized float: lossless tensors
    /// and the container.
    fixed_bits: f64,
    /// Widest lossless rate of the float dtypes present (bits per weight).
    raw_bits: f64,
    /// Size of the safetensors file (for progress reports).
    raw_total: u64,
}

pub(super) fn check_target(target: Target) -> Result<()> {
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
pub fn compress_lossy<R: Read + Send, W: Write + Send>(
    open: &mut dyn FnMut() -> Result<R>,
    output: W,
    opts: &Options,
    lossy: &LossyOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Report> {
    check_target(lossy.target)?;
    let stats = gather(open()?, opts, lossy, progress)?;
    progress(Progress {
        raw_bytes: stats.raw_total,
        raw_total: stats.raw_total,
        stz_bytes: 0,
        stage: Stage::ChoosingStep,
    });
    let step = choose_step(&stats, lossy.target, opts)?;

    let (header, data) = safetensors::open(open()?)?;
    let scales = multipliers(&header, lossy);
    let steps: Vec<Option<f64>> = header
        .tensors()
        .iter()
        .zip(&scales)
        .map(|(t, m)| t.dtype.float_layout().map(|_| step * m))
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
        &steps,
        &stats.domains,
    )
}

/// The statistics pass over a whole file: chunks are measured on the
/// worker threads and recorded in file order, so the statistics (and the
/// output) do not depend on the thread count.
fn gather<R: Read + Send>(
    input: R,
    opts: &Options,
    lossy: &LossyOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Stats> {
    let (header, mut data) = safetensors::open(input)?;
    let plan = chunking::plan(&header, opts.chunk_bytes);
    let mut stats = StatsBuilder::new(&header, lossy, &plan)?;
    let raw_total = header.file_len();
    let mut done = header.raw().len() as u64;
    let sampler = stats.sampler.clone();
    let pool = BufferPool::new(opts.in_flight() + 2);
    let mut next = plan.iter();
    ordered_map(
        opts.threads,
        || {
            let Some(chunk) = next.next() else {
                return Ok(None);
            };
            let mut buf = pool.take();
            data.read_into(&mut buf, chunk.len)?;
            Ok(Some((*chunk, buf)))
        },
        |(chunk, buf): (chunking::Chunk, Vec<u8>)| {
            let seen = sampler.measure(&header, &chunk, &buf)?;
            Ok((seen, buf))
        },
        |(seen, buf): (Observation, Vec<u8>)| {
            stats.record(seen);
            done += buf.len() as u64;
            pool.give(buf);
            progress(Progress {
                raw_bytes: done,
                raw_total,
                stz_bytes: 0,
                stage: Stage::Measuring,
            });
            Ok(())
        },
    )?;
    data.finish()?;
    Ok(stats.finish())
}

/// Accumulates [`Stats`] chunk by chunk (in file order): signal power, a
/// row sample of every float chunk, and the exact cost of everything else.
pub(super) struct StatsBuilder {
    sampler: Sampler,
    fixed_bytes: f64,
    stats: Stats,
}

/// What the statistics pass keeps of a chunk, worked out on any thread.
#[derive(Clone)]
struct Sampler {
    /// Per tensor, its step multiplier.
    scales: Vec<f64>,
    /// Keep one row in `stride`.
    stride: usize,
}

/// What the statistics pass learned from one chunk.
enum Observation {
    /// A chunk stored losslessly, and its coded size.
    Lossless(usize),
    /// A float chunk: Σw² over its finite values (summed from zero in
    /// element order), its element count and width, the domain it will
    /// be coded in, and its sample.
    Float {
        sig2: f64,
        elements: u64,
        width: usize,
        domain: Domain,
        sample: Sample,
    },
}

impl Sampler {
    fn measure(
        &self,
        header: &safetensors::Header,
        chunk: &chunking::Chunk,
        buf: &[u8],
    ) -> Result<Observation> {
        if buf.len() != chunk.len {
            return Err(Error::Internal("a chunk of the wrong length"));
        }
        let dtype = header
            .tensors()
            .get(chunk.tensor)
            .map(|t| t.dtype)
            .ok_or(Error::Internal("chunk of no tensor"))?;
        if dtype.float_layout().is_none() {
            let coded = lossless::encode_chunk(dtype, chunk.row_len, buf)?.len();
            return Ok(Observation::Lossless(coded));
        }
        let w = dtype.size();
        let sig2 = lossy::values::specialised(
            dtype,
            #[inline(always)]
            |dtype| {
                let mut sig2 = 0f64;
                for b in buf.chunks_exact(dtype.size()) {
                    let x = lossy::values::load(dtype, b);
                    if x.is_finite() {
                        sig2 += x * x;
                    }
                }
                sig2
            },
        );
        // Sample what the coder will quantize: one row in `stride` of the
        // values, or of the chunk's transform coefficients when it will be
        // coded transformed (only those rows are transformed).
        let coded_in = lossy::coding_domain(dtype, chunk.row_len, buf, self.stride);
        let domain = Domain::Known(coded_in.as_ref().map(|(t, _)| *t));
        let elements = buf.len() / w;
        let (sample_dtype, kept) = match coded_in {
            Some((_, coeffs)) => (Dtype::F64, coeffs),
            None => (dtype, every_row(buf, chunk.row_len * w, self.stride)),
        };
        let weight = (elements * sample_dtype.size()) as f64 / kept.len().max(1) as f64;
        Ok(Observation::Float {
            sig2,
            elements: elements as u64,
            width: w,
            domain,
            sample: Sample {
                dtype: sample_dtype,
                row_len: chunk.row_len,
                data: kept,
                weight,
                scale: self.scales.get(chunk.tensor).copied().unwrap_or(1.0),
            },
        })
    }
}

impl StatsBuilder {
    pub(super) fn new(
        header: &safetensors::Header,
        lossy: &LossyOptions,
        plan: &[chunking::Chunk],
    ) -> Result<Self> {
        let float_bytes: u64 = header
            .tensors()
            .iter()
            .filter(|t| t.dtype.float_layout().is_some())
            .map(|t| t.byte_len())
            .sum();
        // Container: preamble and stored header, a frame and an index record
        // per chunk, a record per tensor (with extras when lossy), the trailer.
        let fixed_bytes = StzWriter::new(Vec::new(), header.raw())?.bytes_written() as f64
            + 64.0 * plan.len() as f64
            + 34.0 * header.tensors().len() as f64
            + 100.0;
        Ok(StatsBuilder {
            sampler: Sampler {
                scales: multipliers(header, lossy),
                stride: float_bytes.div_ceil(SAMPLE_BYTES).max(1) as usize,
            },
            fixed_bytes,
            stats: Stats {
                samples: Vec::new(),
                domains: Vec::new(),
                sig2: 0.0,
                float_params: 0,
                fixed_bits: 0.0,
                raw_bits: 0.0,
                raw_total: header.file_len(),
            },
        })
    }

    /// The next chunk in file order (measured and recorded at once).
    pub(super) fn observe(
        &mut self,
        header: &safetensors::Header,
        chunk: &chunking::Chunk,
        buf: &[u8],
    ) -> Result<()> {
        let seen = self.sampler.measure(header, chunk, buf)?;
        self.record(seen);
        Ok(())
    }

    /// Adds the next chunk's observation, in file order.
    fn record(&mut self, seen: Observation) {
        let stats = &mut self.stats;
        match seen {
            Observation::Lossless(coded) => {
                stats.domains.push(Domain::Known(None));
                self.fixed_bytes += coded as f64;
            }
            Observation::Float {
                sig2,
                elements,
                width,
                domain,
                sample,
            } => {
                stats.raw_bits = stats.raw_bits.max(8.0 * width as f64);
                stats.float_params += elements;
                stats.sig2 += sig2;
                stats.domains.push(domain);
                stats.samples.push(sample);
            }
        }
    }

    pub(super) fn finish(mut self) -> Stats {
        self.stats.fixed_bits = 8.0 * self.fixed_bytes;
        self.stats
    }
}

/// Rows `0, stride, 2·stride, …` of `data` (rows of `row_bytes`, the last
/// one possibly short), one after another.
fn every_row(data: &[u8], row_bytes: usize, stride: usize) -> Vec<u8> {
    data.chunks(row_bytes.max(1))
        .step_by(stride.max(1))
        .flat_map(|r| r.iter().copied())
        .collect()
}

impl Sample {
    /// One row in `stride` of the sample, standing for as much.
    fn thinned(&self, stride: usize) -> Sample {
        let data = every_row(&self.data, self.row_len * self.dtype.size(), stride);
        Sample {
            dtype: self.dtype,
            row_len: self.row_len,
            weight: self.weight * self.data.len() as f64 / data.len().max(1) as f64,
            data,
            scale: self.scale,
        }
    }
}

/// Estimated bits and squared error of one sample.
type Estimate = Result<(f64, f64)>;

/// Estimated total bits and squared error of the whole file at `step`.
/// Samples are summed in file order whatever the thread count, so the
/// chosen step (and the output) never depends on it.
fn evaluate(stats: &Stats, samples: &[Sample], step: f64, opts: &Options) -> Result<(f64, f64)> {
    let one = |s: &Sample| -> Estimate {
        let (scaled, once, e) =
            lossy::estimate(s.dtype, s.row_len, &s.data, step * s.scale, s.weight)?;
        Ok((scaled * s.weight + once, e * s.weight))
    };
    let threads = opts.threads.max(1).min(samples.len().max(1));
    let results: Vec<Estimate> = if threads == 1 {
        samples.iter().map(one).collect()
    } else {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let mut slots: Vec<Option<Estimate>> = Vec::new();
        slots.resize_with(samples.len(), || None);
        let done: Vec<Vec<(usize, Estimate)>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        let mut mine = Vec::new();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(s) = samples.get(i) else { break };
                            mine.push((i, one(s)));
                        }
                        mine
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| {
                    w.join().unwrap_or_else(|_| {
                        vec![(0, Err(Error::Internal("a rate-control thread panicked")))]
                    })
                })
                .collect()
        });
        for (i, r) in done.into_iter().flatten() {
            if let Some(slot) = slots.get_mut(i) {
                *slot = Some(r);
            }
        }
        slots
            .into_iter()
            .map(|r| r.unwrap_or(Err(Error::Internal("a rate-control sample was lost"))))
            .collect()
    };
    let (mut bits, mut err2) = (stats.fixed_bits, 0.0);
    for r in results {
        let (b, e) = r?;
        bits += b;
        err2 += e;
    }
    Ok((bits, err2))
}

/// The quantizer step meeting `target`: a root search on log2(step) for
/// the point where the estimated rate (or SNR) crosses the target.
pub(super) fn choose_step(stats: &Stats, target: Target, opts: &Options) -> Result<f64> {
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
    // `slack(x)` at step 2^x: how far the estimate is on the fine side of
    // the target (bits per weight above it, or dB above it); it falls as
    // the step grows, and the answer is the step where it reaches zero.
    // Evaluations are the cost here: each is memoised in `seen`.
    let slack_on = |samples: &[Sample], x: f64| -> Result<f64> {
        let (bits, err2) = evaluate(stats, samples, math::exp2(x), opts)?;
        let v = match target {
            Target::BitsPerWeight(b) => bits / n - b,
            Target::Snr(s) => super::snr_db(stats.sig2, err2) - s - SNR_MARGIN,
        };
        Ok(if v.is_nan() { f64::NEG_INFINITY } else { v })
    };
    let mut seen: Vec<(f64, f64)> = Vec::new();
    let slack = |seen: &mut Vec<(f64, f64)>, x: f64| -> Result<f64> {
        if let Some(&(_, v)) = seen.iter().find(|(at, _)| *at == x) {
            return Ok(v);
        }
        let v = slack_on(&stats.samples, x)?;
        seen.push((x, v));
        Ok(v)
    };
    let tolerance = match target {
        Target::BitsPerWeight(_) => 2e-4,
        Target::Snr(_) => 1e-3,
    };
    // High-rate guess, then secant steps: the slack is close to linear in
    // log2(step) (about 1 bit/weight, or 6 dB, per octave). The first
    // steps are taken on a coarse sample, which lands near the target and
    // measures the slope there; then on the whole sample, a few evaluations
    // usually land within the tolerance on the fine side. They aim at its
    // middle, where the estimate's small wiggles still land in it.
    let guess = math::log2(match target {
        Target::Snr(s) => rms * 12f64.sqrt() * math::pow(10.0, -s / 20.0),
        Target::BitsPerWeight(b) => rms * math::exp2(2.0 - b),
    });
    let mut slope = -match target {
        Target::BitsPerWeight(_) => 1.0,
        Target::Snr(_) => 6.02,
    };
    let aim = tolerance / 2.0;
    let secant = |x: f64, s: f64, slope: f64| x - ((s - aim) / slope).clamp(-4.0, 4.0);
    let coarse_samples: Vec<Sample> = stats
        .samples
        .iter()
        .map(|s| s.thinned(COARSE_STRIDE))
        .collect();
    let mut x1 = guess;
    let mut last: Option<(f64, f64)> = None;
    for _ in 0..COARSE_STEPS {
        let s1 = slack_on(&coarse_samples, x1)?;
        if let Some((x0, s0)) = last {
            let measured = (s1 - s0) / (x1 - x0);
            if measured.is_finite() && measured < 0.0 {
                slope = measured;
            }
        }
        last = Some((x1, s1));
        if (s1 - aim).abs() <= COARSE_TOLERANCES * tolerance {
            break;
        }
        x1 = secant(x1, s1, slope);
        if !x1.is_finite() {
            x1 = guess;
            break;
        }
    }
    drop(coarse_samples);
    let (mut x0, mut s0) = (x1, slack(&mut seen, x1)?);
    if (0.0..=tolerance).contains(&s0) {
        return Ok(math::exp2(x0));
    }
    x1 = secant(x0, s0, slope);
    for _ in 0..SECANT_STEPS {
        if !x1.is_finite() {
            break;
        }
        let s1 = slack(&mut seen, x1)?;
        if (0.0..=tolerance).contains(&s1) {
            return Ok(math::exp2(x1));
        }
        let next = x1 - (s1 - aim) * (x1 - x0) / (s1 - s0);
        (x0, s0) = (x1, s1);
        x1 = x0 + (next - x0).clamp(-4.0, 4.0);
    }
    // Otherwise a bracket [fine, coarse] around the target, from the
    // nearest points seen on each side, widened until it holds:
    // slack(fine) ≥ 0 > slack(coarse).
    let nearest = |fine_side: bool| {
        let side = seen.iter().filter(|(_, v)| (*v >= 0.0) == fine_side);
        if fine_side {
            side.max_by(|a, b| a.0.total_cmp(&b.0)).copied()
        } else {
            side.min_by(|a, b| a.0.total_cmp(&b.0)).copied()
        }
    };
    let (fine_seen, coarse_seen) = (nearest(true), nearest(false));
    let (mut fine, mut s_fine) = fine_seen.or(coarse_seen).unwrap_or((x0, s0));
    let (mut coarse, mut s_coarse) = coarse_seen.unwrap_or((fine, s_fine));
    for _ in 0..64 {
        if s_coarse < 0.0 {
            break;
        }
        fine = coarse;
        s_fine = s_coarse;
        coarse += 2.0;
        s_coarse = slack(&mut seen, coarse)?;
    }
    for _ in 0..64 {
        if s_fine >= 0.0 {
            break;
        }
        coarse = fine;
        s_coarse = s_fine;
        fine -= 2.0;
        s_fine = slack(&mut seen, fine)?;
    }
    if s_fine < 0.0 || s_coarse >= 0.0 {
        return Err(Error::InvalidLossyTarget {
            reason: "no quantizer step reaches this target".to_string(),
        });
    }
    // False position with the Illinois correction (the estimates are close
    // to linear in log2(step), so few evaluations are needed), down to
    // 2^-11 octave or a slack within the tolerance; bisection when the
    // interpolation is not usable.
    let (mut w_fine, mut w_coarse) = (s_fine, s_coarse);
    let mut last_side = 0i8;
    for _ in 0..2 * BISECTIONS {
        if coarse - fine <= math::exp2(-(BISECTIONS as f64)) || s_fine <= tolerance {
            break;
        }
        let t = w_fine / (w_fine - w_coarse);
        let mid = if t.is_finite() && t > 0.0 && t < 1.0 {
            (fine + t * (coarse - fine)).clamp(
                fine + (coarse - fine) / 64.0,
                coarse - (coarse - fine) / 64.0,
            )
        } else {
            0.5 * (fine + coarse)
        };
        let v = slack(&mut seen, mid)?;
        if v >= 0.0 {
            fine = mid;
            s_fine = v;
            w_fine = v;
            if last_side == 1 {
                w_coarse /= 2.0;
            }
            last_side = 1;
        } else {
            coarse = mid;
            w_coarse = v;
            if last_side == -1 {
                w_fine /= 2.0;
            }
            last_side = -1;
        }
    }
    Ok(math::exp2(fine))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A coarse sample keeps rows 0, 4, 8, … whole, and stands for the
    /// rows it dropped.
    #[test]
    fn a_thinned_sample_keeps_every_fourth_row_and_its_weight() {
        let rows: Vec<u8> = (0..10u8).flat_map(|r| [r; 12]).collect();
        let sample = Sample {
            dtype: Dtype::F32,
            row_len: 3,
            data: rows,
            weight: 2.0,
            scale: 0.5,
        };
        let thin = sample.thinned(COARSE_STRIDE);
        let kept: Vec<u8> = [0u8, 4, 8].iter().flat_map(|&r| [r; 12]).collect();
        assert_eq!(thin.data, kept);
        assert_eq!(thin.weight, 2.0 * 10.0 / 3.0);
        assert_eq!((thin.row_len, thin.scale, thin.dtype), (3, 0.5, Dtype::F32));
        // One row stays itself.
        let one = Sample {
            data: vec![7; 12],
            ..sample
        };
        assert_eq!(one.thinned(COARSE_STRIDE).data, vec![7; 12]);
        assert_eq!(one.thinned(COARSE_STRIDE).weight, 2.0);
    }

    fn header(names: &[(&str, &[u64])]) -> safetensors::Header {
        let mut json = String::from("{");
        let mut offset = 0u64;
        for (i, (name, shape)) in names.iter().enumerate() {
            let len = 4 * shape.iter().product::<u64>();
            let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
            json += &format!(
                "{}\"{name}\":{{\"dtype\":\"F32\",\"shape\":[{}],\"data_offsets\":[{offset},{}]}}",
                if i > 0 { "," } else { "" },
                dims.join(","),
                offset + len
            );
            offset += len;
        }
        json.push('}');
        let mut raw = (json.len() as u64).to_le_bytes().to_vec();
        raw.extend_from_slice(json.as_bytes());
        safetensors::Header::parse(raw).unwrap()
    }

    fn model(tied: Option<bool>) -> LossyOptions {
        LossyOptions {
            target: Target::Snr(30.0),
            allocation: Allocation::Model,
            tied_embeddings: tied,
        }
    }

    #[test]
    fn roles_set_the_step_multipliers() {
        let (emb, vector, qk) = (
            Role::TokenEmbedding.step(),
            Role::Vector.step(),
            Role::QueryKey.step(),
        );
        let bert = header(&[
            ("embeddings.word_embeddings.weight", &[100, 8]),
            ("embeddings.LayerNorm.weight", &[8]),
            ("encoder.layer.0.attention.self.query.weight", &[8, 8]),
        ]);
        assert_eq!(multipliers(&bert, &model(Some(false))), [emb, vector, qk]);
        // Not known to be untied: the embedding might be the output head.
        assert_eq!(multipliers(&bert, &model(None)), [1.0, vector, qk]);
        let uniform = LossyOptions {
            allocation: Allocation::Uniform,
            ..model(Some(false))
        };
        assert_eq!(multipliers(&bert, &uniform), [1.0, 1.0, 1.0]);

        // GPT-2: the head is the embedding (no lm_head tensor): tied.
        let gpt2 = header(&[
            ("transformer.wte.weight", &[100, 8]),
            ("transformer.h.0.mlp.c_fc.weight", &[8, 32]),
        ]);
        assert_eq!(multipliers(&gpt2, &model(None)), [1.0, 1.0]);
        assert_eq!(multipliers(&gpt2, &model(Some(true))), [1.0, 1.0]);

        // A separate lm_head proves the embedding is only a lookup table.
        let llama = header(&[
            ("model.embed_tokens.weight", &[100, 8]),
            ("lm_head.weight", &[100, 8]),
        ]);
        assert_eq!(multipliers(&llama, &model(None)), [emb, 1.0]);
    }

    /// Roles by the naming conventions of the usual families, including
    /// names that look alike but are not the role (fused projections, the
    /// feed-forward `wo` of T5, BERT's feed-forward `output.dense`).
    #[test]
    fn roles_from_names() {
        use Role::*;
        let cases: &[(&str, Role)] = &[
            // BERT
            ("encoder.layer.3.attention.self.query.weight", QueryKey),
            ("encoder.layer.3.attention.self.key.weight", QueryKey),
            ("encoder.layer.3.attention.self.value.weight", Value),
            (
                "encoder.layer.3.attention.output.dense.weight",
                AttentionOutput,
            ),
            ("encoder.layer.3.intermediate.dense.weight", Matrix),
            ("encoder.layer.3.output.dense.weight", Matrix),
            ("embeddings.position_embeddings.weight", OtherEmbedding),
            ("embeddings.token_type_embeddings.weight", OtherEmbedding),
            ("pooler.dense.weight", Matrix),
            // LLaMA, Mistral, Qwen (HF)
            ("model.layers.0.self_attn.q_proj.weight", QueryKey),
            ("model.layers.0.self_attn.k_proj.weight", QueryKey),
            ("model.layers.0.self_attn.v_proj.weight", Value),
            ("model.layers.0.self_attn.o_proj.weight", AttentionOutput),
            ("model.layers.0.mlp.down_proj.weight", Matrix),
            ("model.layers.0.mlp.gate_proj.weight", Matrix),
            // LLaMA (Meta's names)
            ("layers.0.attention.wq.weight", QueryKey),
            ("layers.0.attention.wv.weight", Value),
            ("layers.0.attention.wo.weight", AttentionOutput),
            ("layers.0.feed_forward.w2.weight", Matrix),
            // T5
            ("encoder.block.0.layer.0.SelfAttention.q.weight", QueryKey),
            ("encoder.block.0.layer.0.SelfAttention.v.weight", Value),
            (
                "encoder.block.0.layer.0.SelfAttention.o.weight",
                AttentionOutput,
            ),
            ("encoder.block.0.layer.1.DenseReluDense.wo.weight", Matrix),
            // BART / OPT
            (
                "model.decoder.layers.0.self_attn.out_proj.weight",
                AttentionOutput,
            ),
            ("model.decoder.embed_positions.weight", OtherEmbedding),
            // GPT-2: fused q, k, v stay a plain matrix
            ("transformer.h.0.attn.c_attn.weight", Matrix),
            ("transformer.h.0.attn.c_proj.weight", AttentionOutput),
            ("transformer.h.0.mlp.c_proj.weight", Matrix),
            ("transformer.wpe.weight", OtherEmbedding),
            // GPT-NeoX / Falcon: fused, whose name ends like a value's
            ("gpt_neox.layers.0.attention.query_key_value.weight", Matrix),
            ("gpt_neox.layers.0.attention.dense.weight", AttentionOutput),
            (
                "transformer.h.0.self_attention.query_key_value.weight",
                Matrix,
            ),
        ];
        for &(name, role) in cases {
            assert_eq!(Role::of(name, &[8, 8], false), role, "{name}");
        }
        assert_eq!(Role::of("x.attention.self.query.bias", &[8], false), Vector);
        assert_eq!(
            Role::of("model.embed_tokens.weight", &[9, 8], false),
            TokenEmbedding
        );
        assert_eq!(Role::of("model.embed_tokens.weight", &[9, 8], true), Matrix);
    }
}
