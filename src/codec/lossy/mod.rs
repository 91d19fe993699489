//! Lossy chunk coding: uniform scalar quantization, entropy coded with
//! contexts that follow the row and column scales.
//!
//! A value `w` becomes the integer `k = round(w / step)` (ties to even) and
//! decodes to `k × step` rounded to the tensor's dtype: one IEEE multiply
//! and a round, so every platform decodes the same bytes. `|k|` is coded as
//! a symbol: below 16 directly, above as its bit length (the bits below the
//! leading one follow raw), with the sign as a raw bit. Non-finite values,
//! and any `|k| ≥ 2^30`, escape and keep their exact bits.
//!
//! The symbol's table is chosen by the expected size of `|k|` at the
//! value's position, in half octaves: `ctx = clamp(G + r[row] + c[col],
//! 0, 23)`, where `G` is the chunk's mean `|w|` over the step and `r`, `c`
//! are each row's and column's offset from it (side information, a signed
//! byte each). Small chunks price dropping the column and row offsets.
//!
//! Body layout (after the method byte): LEB128 row length; the step as an
//! f64 (8 bytes LE, finite and > 0); flags (bit 0 column offsets, bit 1
//! row offsets, bit 2 dependent quantization, bit 3 split classes, bit 4
//! lane chains: a 32-lane stream whose lanes carry their own quantizer
//! states); zigzag LEB128 `G`; row offsets and column offsets as
//! `encode_bytes` streams of i8 (when flagged); LEB128 context mask and one
//! serialized table per used context; LEB128-prefixed rANS stream and raw
//! bit stream. Per value: symbol `s` with the table of its context; `s <
//! 16`: `|k| = s`; `16 ≤ s < 42`: bit length `b = s - 11`, `|k| = 2^(b-1)
//! | raw(b-1)`; then a sign bit when `k ≠ 0`; `s = 42`: the element's bits
//! (`8 × size` raw bits, low 32 first when wider than 32).

#[cfg(target_arch = "x86_64")]
mod lane_levels;
mod transformed;
mod trellis;
pub mod values;

pub use transformed::MAX_VALUES as MAX_TRANSFORM_VALUES;

use crate::codec::entropy::{
    decode_bytes, encode_bytes, encode_indexed, get_varint, put_varint, BitReader, BitWriter,
    EncTable, FlatTables, FreqTable, PairSteps, RansDecoder, LANES, PAIR_LANES,
};
use crate::codec::fields::{bytes_of_i8, take_byte, take_slice, unzigzag, zigzag};
use crate::codec::transform::{self, Transform};
use crate::container::hash::Xxh3;
use crate::error::{Error, Result};
use crate::safetensors::Dtype;
use trellis::Index;

/// `|k|` below this is its own symbol.
const DIRECT: u16 = 16;
/// Larger `|k|` are coded by bit length (5..=30) and the two bits below
/// the leading one: four symbols per octave, so the falling density inside
/// an octave is modelled, not paid for in raw bits (which matters at high
/// rates). Symbols 16..=119; the escape is 120.
const MIN_CLASS_BITS: u32 = 5;
const MAX_BITS: u32 = 30;
const CLASS_SPLIT: u32 = 2;
const SYM_ESCAPE: u16 = DIRECT + ((MAX_BITS - MIN_CLASS_BITS + 1) << CLASS_SPLIT) as u16;
const ALPHABET: usize = SYM_ESCAPE as usize + 1;
/// Symbols per context in a packed `ctx * INDEX_STRIDE + sym` index.
const INDEX_STRIDE: usize = ALPHABET.next_power_of_two();
/// Chunks of earlier encoders (flags bit 3 clear): one symbol per octave,
/// 16..=41, escape 42.
const LEGACY_ESCAPE: u16 = DIRECT + (MAX_BITS - MIN_CLASS_BITS + 1) as u16;
const LEGACY_ALPHABET: usize = LEGACY_ESCAPE as usize + 1;
/// Scale contexts; with dependent quantization each splits by quantizer.
const SCALE_CONTEXTS: usize = 24;
const CONTEXTS: usize = 2 * SCALE_CONTEXTS;
/// Tables the decoder lays out: the contexts, rounded up to a power of two
/// so that a context number needs no bounds check (the rest are unused).
const TABLES: usize = CONTEXTS.next_power_of_two();
/// Table precisions the encoder chooses from. Finer tables cost no measurable
/// rate here (MiniLM: the same bits/weight to 3 decimals) but 4× the slots,
/// and the decoder looks each state up in two tables: at 2^14 slots they
/// fell out of L1 and decoding was 1.16× slower (chunk_speed).
const PROB_BITS: [u32; 2] = [11, 12];
const MIN_ROWS_FOR_COLUMNS: usize = 8;
const ALWAYS_FULL_VALUES: usize = 1 << 18;
const FLAG_COLUMNS: u8 = 1;
const FLAG_ROWS: u8 = 2;
/// Indices are dependent-quantization indices (see [`trellis`]).
const FLAG_DEPENDENT: u8 = 4;
/// Four symbols per octave for large `|k|` (see [`CLASS_SPLIT`]).
const FLAG_SPLIT_CLASSES: u8 = 8;
/// With [`FLAG_DEPENDENT`]: the rANS stream has [`CHAIN_LANES`] lanes
/// and each has its own quantizer state (value `i`'s is lane `i %
/// CHAIN_LANES`'s), so that a decoder follows a vector of lanes' states
/// side by side. Without, the stream has [`LANES`] lanes and one state
/// runs through every value (small chunks, and earlier encoders).
const FLAG_LANE_CHAINS: u8 = 16;
/// Lanes (and quantizer chains) of a [`FLAG_LANE_CHAINS`] chunk.
const CHAIN_LANES: usize = PAIR_LANES;
/// Chunks of fewer values keep one chain and [`LANES`] lanes: their lane
/// states would cost more than their decoding speed is worth.
const MIN_CHAIN_VALUES: usize = 1 << 16;

/// The quantizer chains a chunk of `n` values is coded with.
fn chains_for(n: f64) -> usize {
    if n >= MIN_CHAIN_VALUES as f64 {
        CHAIN_LANES
    } else {
        1
    }
}

/// A coded chunk with its reconstruction and error.
pub struct Encoded {
    pub payload: Vec<u8>,
    /// The bytes the decoder will produce.
    pub decoded: Vec<u8>,
    /// Σ(w − ŵ)² and Σw² over the finite values.
    pub err2: f64,
    pub sig2: f64,
    /// The transform the chunk was coded in, if any.
    pub transform: Option<Transform>,
}

/// `round(2·log2(x))` for finite `x > 0`, from the bits alone (the same on
/// every platform); very small or zero `x` give a large negative number.
fn half_octaves(x: f64) -> i64 {
    if !x.is_finite() || x <= 0.0 {
        return -4096;
    }
    let bits = x.to_bits();
    let e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let m = f64::from_bits((bits & ((1 << 52) - 1)) | (1023 << 52));
    // m in [1, 2): 2·log2(m) rounds to 0 below 2^0.25, to 2 from 2^0.75.
    2 * e + i64::from(m >= std::f64::consts::SQRT_2.sqrt()) + i64::from(m >= 1.681_792_830_507_429)
}

/// Side information: the scale offsets in half octaves.
#[derive(Clone)]
struct Scales {
    global: i64,
    row: Vec<i8>,
    col: Vec<i8>,
}

impl Scales {
    fn flags(&self) -> u8 {
        (if self.col.is_empty() { 0 } else { FLAG_COLUMNS })
            | (if self.row.is_empty() { 0 } else { FLAG_ROWS })
    }

    fn side_info(&self) -> Vec<u8> {
        let mut out = vec![self.flags()];
        put_varint(&mut out, zigzag(self.global));
        out.extend_from_slice(&Self::offsets(&self.row));
        out.extend_from_slice(&Self::offsets(&self.col));
        out
    }

    /// The coded row or column offsets (nothing when unused).
    fn offsets(v: &[i8]) -> Vec<u8> {
        let mut out = Vec::new();
        if !v.is_empty() {
            encode_bytes(&bytes_of_i8(v), &mut out);
        }
        out
    }

    /// In `i32`, which the contexts are computed in: the decoder fills
    /// them for a block at a time, and i64 arithmetic there did not
    /// vectorize (10 % of lossy decoding).
    fn col_offsets(&self, cols: usize) -> Vec<i32> {
        (0..cols)
            .map(|j| self.col.get(j).map_or(0, |&c| i32::from(c)))
            .collect()
    }

    /// `global` is within ±4096 (the encoder clamps it, the decoder checks).
    fn row_base(&self, i: usize) -> i32 {
        i32::try_from(self.global).unwrap_or(0) + self.row.get(i).map_or(0, |&r| i32::from(r))
    }
}

#[inline(always)]
fn context(base: i32, c: i32) -> usize {
    (base + c).clamp(0, SCALE_CONTEXTS as i32 - 1) as usize
}

/// Context of a dependent-quantization index: scale, then quantizer.
#[inline(always)]
fn dq_context(base: i32, c: i32, q: u8) -> usize {
    2 * context(base, c) + usize::from(q & 1)
}

fn analyse(dtype: Dtype, data: &[u8], row_len: usize, step: f64) -> Scales {
    let w = dtype.size();
    let n = data.len() / w;
    let rows = n.div_ceil(row_len);
    let use_cols = rows >= MIN_ROWS_FOR_COLUMNS;
    let mut col_sum = vec![0f64; if use_cols { row_len } else { 0 }];
    let mut col_cnt = vec![0u64; col_sum.len()];
    let mut row_mean = Vec::with_capacity(rows);
    let (mut total, mut count) = (0f64, 0u64);
    let mut mags = Vec::with_capacity(row_len);
    for row in data.chunks(row_len * w) {
        // Non-finite values are marked −1: they add +0.0 (which leaves
        // these non-negative sums as they are) and no count. The same sums
        // without a branch, and the column sums vectorize.
        values::map_into(dtype, row, &mut mags, |x| {
            let a = x.abs();
            if a.is_finite() {
                a
            } else {
                -1.0
            }
        });
        // Four interleaved partial sums: one running sum was a chain of
        // dependent additions as long as the row.
        let (mut parts, mut c) = ([0f64; 4], 0u64);
        let quads = mags.chunks_exact(4);
        for &a in quads.remainder() {
            parts[0] += a.max(0.0);
            c += u64::from(a >= 0.0);
        }
        for q in quads {
            for (p, &a) in parts.iter_mut().zip(q) {
                *p += a.max(0.0);
                c += u64::from(a >= 0.0);
            }
        }
        let s = (parts[0] + parts[1]) + (parts[2] + parts[3]);
        for ((cs, cc), &a) in col_sum.iter_mut().zip(&mut col_cnt).zip(&mags) {
            *cs += a.max(0.0);
            *cc += u64::from(a >= 0.0);
        }
        row_mean.push(if c > 0 { s / c as f64 } else { 0.0 });
        total += s;
        count += c;
    }
    let mean = if count > 0 { total / count as f64 } else { 0.0 };
    let g = half_octaves(mean);
    let offset = |x: f64| (half_octaves(x) - g).clamp(-127, 127) as i8;
    Scales {
        global: (half_octaves(mean / step)).clamp(-4096, 4096),
        row: row_mean.iter().map(|&m| offset(m)).collect(),
        col: col_sum
            .iter()
            .zip(&col_cnt)
            .map(|(&s, &c)| offset(if c > 0 { s / c as f64 } else { 0.0 }))
            .collect(),
    }
}

/// Symbol, raw field and its width for one value; `k` is `None` to escape.
#[inline(always)]
fn symbolize(k: Option<i64>, raw: u64, width_bits: u32) -> (u16, u64, u32) {
    match k {
        None => (SYM_ESCAPE, raw, width_bits),
        Some(k) => {
            // Both codes are worked out and one is selected: at high rates
            // direct and class symbols mix at random, and a branch between
            // them (or on zero, which has no sign bit) was mispredicted.
            let sign = u64::from(k < 0);
            let a = k.unsigned_abs();
            let b = 64 - (a | 1).leading_zeros();
            let raw_bits = b.saturating_sub(1 + CLASS_SPLIT);
            let top = (a >> raw_bits) & ((1 << CLASS_SPLIT) - 1);
            let low = a & ((1 << raw_bits) - 1);
            let class =
                u32::from(DIRECT) + (b.wrapping_sub(MIN_CLASS_BITS) << CLASS_SPLIT | top as u32);
            // All ones for a class symbol (masks, as a plain `if` was
            // compiled back into a branch).
            let is_class = 0u64.wrapping_sub(u64::from(a >= u64::from(DIRECT)));
            let mask = is_class as u32;
            let sym = (class & mask) | (a as u32 & !mask);
            let field = ((low | sign << raw_bits) & is_class) | (sign & !is_class);
            let nbits = ((raw_bits + 1) & mask) | (u32::from(a != 0) & !mask);
            (sym as u16, field, nbits)
        }
    }
}

type Counts = Vec<[u64; ALPHABET]>;

/// Symbol counts per context under each candidate's contexts, in one pass
/// (the symbols are the same; only the contexts differ).
fn count_symbols(ks: &[Index], qs: &[u8], row_len: usize, candidates: &[Scales]) -> Vec<Counts> {
    let mut counts = vec![vec![[0u64; ALPHABET]; CONTEXTS]; candidates.len()];
    let cols: Vec<Vec<i32>> = candidates
        .iter()
        .map(|sc| sc.col_offsets(row_len))
        .collect();
    // Per candidate, each column's context in the current row under
    // quantizer 0 (the value's quantizer bit is added to it): worked out
    // once per row, not once per value.
    const _: () = assert!(CONTEXTS <= 1 << 8);
    let mut row_ctx = vec![vec![0u8; row_len]; candidates.len()];
    for (i, (krow, qrow)) in ks.chunks(row_len).zip(qs.chunks(row_len)).enumerate() {
        for ((rc, sc), col) in row_ctx.iter_mut().zip(candidates).zip(&cols) {
            let base = sc.row_base(i);
            for (r, &c) in rc.iter_mut().zip(col) {
                *r = dq_context(base, c, 0) as u8;
            }
        }
        if let ([c], [rc]) = (counts.as_mut_slice(), row_ctx.as_slice()) {
            // One candidate (most chunks): no loop over candidates per value.
            for ((&k, &q), &r) in krow.iter().zip(qrow).zip(rc) {
                count_one(c, r, q, symbolize(k.get(), 0, 0).0);
            }
            continue;
        }
        for (j, (&k, &q)) in krow.iter().zip(qrow).enumerate() {
            let (sym, _, _) = symbolize(k.get(), 0, 0);
            for (c, rc) in counts.iter_mut().zip(&row_ctx) {
                count_one(c, rc.get(j).copied().unwrap_or(0), q, sym);
            }
        }
    }
    counts
}

/// Counts symbol `sym` (of an index under quantizer `q`) in the context
/// whose quantizer-0 number is `ctx0`.
#[inline(always)]
fn count_one(counts: &mut Counts, ctx0: u8, q: u8, sym: u16) {
    let ctx = usize::from(ctx0) + usize::from(q & 1);
    if let Some(x) = counts
        .get_mut(ctx)
        .and_then(|t| t.get_mut(usize::from(sym)))
    {
        *x += 1;
    }
}

/// Quick cost of coding `counts` with a table per context: their entropy,
/// and about 7 bits per used symbol for the tables.
fn estimated_bits(counts: &Counts) -> (f64, f64) {
    let (mut entropy, mut tables) = (0.0, 0.0);
    for c in counts {
        let t = c.iter().sum::<u64>() as f64;
        for &x in c.iter().filter(|&&x| x > 0) {
            entropy += x as f64 * crate::codec::math::log2(t / x as f64);
            tables += 7.0;
        }
    }
    (entropy, tables)
}

/// Tables for the used contexts: mask, tables and their serialization.
fn build_tables(counts: &Counts) -> Result<(u64, Vec<Option<FreqTable>>, Vec<u8>)> {
    let (mut mask, mut tables, mut bytes) = (0u64, Vec::new(), Vec::new());
    for (i, c) in counts.iter().enumerate() {
        if c.iter().any(|&x| x > 0) {
            mask |= 1 << i;
            tables.push(Some(FreqTable::cheapest(c, &PROB_BITS, &mut bytes)?.0));
        } else {
            tables.push(None);
        }
    }
    Ok((mask, tables, bytes))
}

/// Estimated size of a chunk's coded symbols: the part that grows with the
/// number of rows (symbols, row offsets), and the part paid once per chunk
/// (tables, column offsets).
pub struct Cost {
    pub entropy: f64,
    pub fixed: f64,
}

/// The side information variant (all offsets, rows only, none) that codes
/// the chunk in the fewest estimated bits, and that estimate. `weight`:
/// `None` when coding the chunk itself (a lone candidate is then returned
/// without its cost); `Some(w)` when it is a sample of rows standing for a
/// chunk `w` times its size, so the variant is the one the whole chunk
/// would take: its per-row bits count `w` times, its once-per-chunk bits
/// once. (Priced at the sample's own size, column offsets never paid for
/// themselves and rate control overstated big chunks by 2 %.)
#[allow(clippy::too_many_arguments)]
fn choose_scales(
    dtype: Dtype,
    data: &[u8],
    row_len: usize,
    step: f64,
    ks: &[Index],
    qs: &[u8],
    weight: Option<f64>,
) -> Result<(Scales, Cost)> {
    let w = weight.unwrap_or(1.0);
    let n = data.len() / dtype.size();
    let full = analyse(dtype, data, row_len, step);
    let mut candidates = vec![full.clone()];
    if (n as f64 * w) < ALWAYS_FULL_VALUES as f64 {
        if !full.col.is_empty() {
            candidates.push(Scales {
                col: Vec::new(),
                ..full.clone()
            });
        }
        candidates.push(Scales {
            col: Vec::new(),
            row: Vec::new(),
            ..full.clone()
        });
    }
    if candidates.len() == 1 && weight.is_none() {
        return Ok((
            full,
            Cost {
                entropy: 0.0,
                fixed: 0.0,
            },
        ));
    }
    let counts = count_symbols(ks, qs, row_len, &candidates);
    let mut best: Option<(f64, Scales, Cost)> = None;
    for (sc, c) in candidates.into_iter().zip(&counts) {
        let (entropy, tables) = estimated_bits(c);
        let side = sc.side_info().len();
        let per_row = 8.0 * Scales::offsets(&sc.row).len() as f64;
        let cost = Cost {
            entropy: entropy + per_row,
            fixed: tables + 8.0 * side as f64 - per_row,
        };
        let total = w * cost.entropy + cost.fixed;
        if best.as_ref().is_none_or(|b| total < b.0) {
            best = Some((total, sc, cost));
        }
    }
    best.map(|(_, sc, cost)| (sc, cost))
        .ok_or(Error::Internal("no lossy model variant"))
}

/// Estimated coded bits of a chunk at `step` — the part proportional to its
/// rows and the part paid once per chunk — and its squared error, without
/// producing the stream: what rate control needs, at a fraction of the cost.
/// `data` may be a sample of rows standing for a chunk `weight` times its
/// size (1 for a whole chunk).
pub fn estimate(
    dtype: Dtype,
    row_len: usize,
    data: &[u8],
    step: f64,
    weight: f64,
) -> Result<(f64, f64, f64)> {
    if !(step.is_finite() && step > 0.0) || dtype.float_layout().is_none() {
        return Err(Error::Internal(
            "lossy coding needs a float dtype and a positive step",
        ));
    }
    let w = dtype.size();
    let row_len = row_len.clamp(1, (data.len() / w).max(1));
    // The sample in one chain, as long as the chunk's chains are (a
    // sample's rows cut into short chains would price their ends); the
    // chunk's lane states are counted.
    let lane_states = if chains_for((data.len() / w) as f64 * weight) > 1 {
        CHAIN_LANES
    } else {
        LANES
    };
    let (ks, qs) = trellis::quantize(dtype, data, step, 1);
    let (_, cost) = choose_scales(dtype, data, row_len, step, &ks, &qs, Some(weight))?;
    let (raw_bits, err2) = values::specialised(
        dtype,
        #[inline(always)]
        |dtype| {
            // The error in four interleaved partial sums (fixed order), kept
            // in registers by a loop over groups of four: one running sum
            // was a chain of dependent additions.
            let w = dtype.size();
            let (mut raw_bits, mut err2) = (0u64, [0f64; 4]);
            let (groups, ks4, qs4) = (
                data.chunks_exact(4 * w),
                ks.chunks_exact(4),
                qs.chunks_exact(4),
            );
            let rest = (groups.remainder(), ks4.remainder(), qs4.remainder());
            for ((g, k4), q4) in groups.zip(ks4).zip(qs4) {
                let values = g.chunks_exact(w).zip(k4).zip(q4);
                for (part, ((b, &k), &q)) in err2.iter_mut().zip(values) {
                    raw_bits += value_cost(dtype, step, b, k, q, part);
                }
            }
            let values = rest.0.chunks_exact(w).zip(rest.1).zip(rest.2);
            for (part, ((b, &k), &q)) in err2.iter_mut().zip(values) {
                raw_bits += value_cost(dtype, step, b, k, q, part);
            }
            (raw_bits, (err2[0] + err2[1]) + (err2[2] + err2[3]))
        },
    );
    Ok((
        cost.entropy + raw_bits as f64,
        cost.fixed + 8.0 * (24.0 + 4.0 * (lane_states - LANES) as f64),
        err2,
    ))
}

/// One value of [`estimate`]: its raw bits; its squared error is added to
/// `err2` (an escape has none).
#[inline(always)]
fn value_cost(dtype: Dtype, step: f64, b: &[u8], k: Index, q: u8, err2: &mut f64) -> u64 {
    let k = k.get();
    if let Some(k) = k {
        let x = values::load(dtype, b);
        let y = values::round_to(dtype, trellis::level(k, q) * step);
        let e = x - values::from_bits(dtype, y);
        *err2 += e * e;
    }
    u64::from(symbolize(k, 0, 8 * dtype.size() as u32).2)
}

/// The values the quantizer will see for a chunk: the chunk itself, or —
/// when [`transform::choose`] picks a transform — its coefficients as F64,
/// of which only rows `0, every, 2·every, …` are returned (rate control
/// samples these rows, so it prices what [`encode`] codes).
pub fn coding_domain(
    dtype: Dtype,
    row_len: usize,
    data: &[u8],
    every: usize,
) -> Option<(Transform, Vec<u8>)> {
    let values = transformed::finite_values(dtype, data)?;
    let t = transform::choose(&values, row_len)?;
    let coeffs = transform::forward_rows(t, &values, row_len, every)?;
    Some((t, transformed::coefficient_bytes(&coeffs)))
}

/// Quantize and code one chunk of a float tensor with the given step, in
/// the transform domain when a transform measurably codes it smaller.
/// The chunk's buffer becomes [`Encoded::decoded`] when it is coded as it
/// is (the reconstruction is written over the values as they are coded).
pub fn encode(dtype: Dtype, row_len: usize, data: Vec<u8>, step: f64) -> Result<Encoded> {
    encode_in(dtype, row_len, data, step, Domain::Measure)
}

/// Where a chunk is coded, as [`encode_in`] is told it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Domain {
    /// Not known yet: [`transform::choose`] measures it.
    Measure,
    /// What [`coding_domain`] found for the same bytes (the measurement is
    /// deterministic, so a statistics pass can hand its answer on).
    Known(Option<Transform>),
}

/// [`encode`] in a domain that may be known already.
pub fn encode_in(
    dtype: Dtype,
    row_len: usize,
    data: Vec<u8>,
    step: f64,
    domain: Domain,
) -> Result<Encoded> {
    if domain != Domain::Known(None) {
        if let Some(values) = transformed::finite_values(dtype, &data) {
            let chosen = match domain {
                Domain::Known(t) => t,
                Domain::Measure => transform::choose(&values, row_len),
            };
            if let Some(t) = chosen {
                return transformed::encode(dtype, row_len, &data, &values, step, t);
            }
        }
    }
    encode_plain(dtype, row_len, data, step)
}

/// Quantize and code one chunk as it is; its buffer ends up holding the
/// reconstruction.
fn encode_plain(dtype: Dtype, row_len: usize, mut data: Vec<u8>, step: f64) -> Result<Encoded> {
    if !(step.is_finite() && step > 0.0) || dtype.float_layout().is_none() {
        return Err(Error::Internal(
            "lossy coding needs a float dtype and a positive step",
        ));
    }
    let w = dtype.size();
    let n = data.len() / w;
    let row_len = row_len.clamp(1, n.max(1));
    let chains = chains_for(n as f64);
    let (ks, qs) = trellis::quantize(dtype, &data, step, chains);
    let (sc, _) = choose_scales(dtype, &data, row_len, step, &ks, &qs, None)?;

    // Context and symbol packed as `ctx * INDEX_STRIDE + sym` (see
    // `encode_indexed`).
    let mut idx = vec![0u16; n];
    let mut bits = BitWriter::with_capacity(n);
    let cols = sc.col_offsets(row_len);
    let quant = Quantized {
        row_len,
        step,
        ks: &ks,
        qs: &qs,
        sc: &sc,
        cols: &cols,
    };
    let (err2, sig2) = values::specialised(
        dtype,
        #[inline(always)]
        |dtype| quant.code(dtype, &mut data, &mut idx, &mut bits),
    );
    let mut counts = vec![[0u64; ALPHABET]; CONTEXTS];
    for &x in &idx {
        let (ctx, sym) = (usize::from(x) / INDEX_STRIDE, usize::from(x) % INDEX_STRIDE);
        if let Some(t) = counts.get_mut(ctx).and_then(|t| t.get_mut(sym)) {
            *t += 1;
        }
    }
    let (mask, tables, table_bytes) = build_tables(&counts)?;
    let enc: Vec<EncTable> = tables
        .iter()
        .map(|t| t.as_ref().map_or_else(EncTable::empty, EncTable::new))
        .collect();
    let rans = if chains > 1 {
        encode_indexed::<CHAIN_LANES>(&enc, INDEX_STRIDE, &idx)?.to_bytes()
    } else {
        encode_indexed::<LANES>(&enc, INDEX_STRIDE, &idx)?.to_bytes()
    };
    let raw = bits.finish();

    let mut payload = Vec::with_capacity(rans.len() + raw.len() + table_bytes.len() + 64);
    payload.push(super::METHOD_QUANTIZED);
    put_varint(&mut payload, row_len as u64);
    payload.extend_from_slice(&step.to_le_bytes());
    let mut side = sc.side_info();
    if let Some(flags) = side.first_mut() {
        *flags |= FLAG_DEPENDENT | FLAG_SPLIT_CLASSES;
        if chains > 1 {
            *flags |= FLAG_LANE_CHAINS;
        }
    }
    payload.extend_from_slice(&side);
    put_varint(&mut payload, mask);
    payload.extend_from_slice(&table_bytes);
    put_varint(&mut payload, rans.len() as u64);
    payload.extend_from_slice(&rans);
    put_varint(&mut payload, raw.len() as u64);
    payload.extend_from_slice(&raw);
    Ok(Encoded {
        payload,
        decoded: data,
        err2,
        sig2,
        transform: None,
    })
}

/// A chunk's chosen indices and scales, for its coding pass.
struct Quantized<'a> {
    row_len: usize,
    step: f64,
    ks: &'a [Index],
    qs: &'a [u8],
    sc: &'a Scales,
    cols: &'a [i32],
}

impl Quantized<'_> {
    /// Per value: its context and symbol into `idx`, its raw field into
    /// `bits`, and its reconstruction over it in `data`. Returns Σ(w − ŵ)²
    /// and Σw² over the finite values, summed in element order (as
    /// [`values::error_sums`] does).
    #[inline(always)]
    fn code(
        &self,
        dtype: Dtype,
        data: &mut [u8],
        idx: &mut [u16],
        bits: &mut BitWriter,
    ) -> (f64, f64) {
        let &Quantized {
            row_len,
            step,
            ks,
            qs,
            sc,
            cols,
        } = self;
        let w = dtype.size();
        let mut sums = (0f64, 0f64);
        // A row's reconstruction goes to a scratch row first: its error
        // needs the row's values (a separate loop: summed in the coding
        // loop, the sums were spilled and made it slower).
        let mut decoded = vec![0u8; row_len * w];
        let mut levels = vec![0i32; row_len];
        let quant = ks.chunks(row_len).zip(qs.chunks(row_len));
        let rows = data.chunks_mut(row_len * w).zip(idx.chunks_mut(row_len));
        for (i, ((row, irow), (krow, qrow))) in rows.zip(quant).enumerate() {
            let base = sc.row_base(i);
            let drow = decoded.get_mut(..row.len()).unwrap_or_default();
            reconstruct(dtype, step, (row, krow, qrow), &mut levels, drow);
            let codes = irow.iter_mut().zip(krow.iter().zip(qrow));
            let values = row.chunks_exact(w).zip(cols).zip(codes);
            bits.put_all(values.map(|((b, &c), (ix, (&k, &q)))| {
                let (sym, field, nbits) = symbolize(k.get(), values::raw_bits(b), 8 * w as u32);
                *ix = (dq_context(base, c, q) * INDEX_STRIDE) as u16 + sym;
                (field, nbits)
            }));
            sums = values::add_error_sums(dtype, row, drow, sums);
            for (o, &d) in row.iter_mut().zip(drow.iter()) {
                *o = d;
            }
        }
        sums
    }
}

/// The reconstruction of a row's values from their indices, as the
/// decoder makes it: integer levels, then [`dequantize`] (loops that
/// vectorise); an escaped value keeps its bits.
fn reconstruct(
    dtype: Dtype,
    step: f64,
    (row, ks, qs): (&[u8], &[Index], &[u8]),
    levels: &mut [i32],
    out: &mut [u8],
) {
    for (l, (&k, &q)) in levels.iter_mut().zip(ks.iter().zip(qs)) {
        *l = k.level(q);
    }
    dequantize(dtype, step, levels.get(..ks.len()).unwrap_or(levels), out);
    let w = dtype.size();
    let elems = row.chunks_exact(w).zip(out.chunks_exact_mut(w));
    for ((b, ob), k) in elems.zip(ks) {
        if k.is_escape() {
            ob.copy_from_slice(b);
        }
    }
}

/// Decode a transformed-chunk body (after its method byte) into `out`.
pub fn decode_transformed(dtype: Dtype, body: &[u8], out: &mut [u8]) -> Result<()> {
    transformed::decode(dtype, body, out)
}

/// Decode a quantized-chunk body (after its method byte) into `out`;
/// returns its row length. `hash`, if given, is fed `out` block by block
/// as it is decoded (while the block is in cache: a pass less than
/// hashing the chunk afterwards).
pub fn decode(
    dtype: Dtype,
    input: &mut &[u8],
    out: &mut [u8],
    hash: Option<&mut Xxh3>,
) -> Result<usize> {
    if dtype.float_layout().is_none() {
        return Err(Error::CodecCorrupt("quantized chunk of a non-float tensor"));
    }
    let w = dtype.size();
    if !out.len().is_multiple_of(w) {
        return Err(Error::CodecCorrupt(
            "output length is not a whole number of elements",
        ));
    }
    let n = out.len() / w;
    let row_len = usize::try_from(get_varint(input)?)
        .ok()
        .filter(|&r| r >= 1 && r <= n.max(1))
        .ok_or(Error::CodecCorrupt(
            "row length is zero or beyond the chunk",
        ))?;
    let rows = n.div_ceil(row_len);
    let step_bytes = input.get(..8).ok_or(Error::CodecTruncated)?;
    let step = f64::from_le_bytes(step_bytes.try_into().map_err(|_| Error::CodecTruncated)?);
    *input = input.get(8..).unwrap_or(&[]);
    if !(step.is_finite() && step > 0.0) {
        return Err(Error::CodecCorrupt(
            "quantizer step is not a positive number",
        ));
    }
    let flags = take_byte(input)?;
    let known = FLAG_COLUMNS | FLAG_ROWS | FLAG_DEPENDENT | FLAG_SPLIT_CLASSES | FLAG_LANE_CHAINS;
    if flags & !known != 0 {
        return Err(Error::CodecCorrupt("unknown quantized-chunk flags"));
    }
    if flags & (FLAG_DEPENDENT | FLAG_LANE_CHAINS) == FLAG_LANE_CHAINS {
        return Err(Error::CodecCorrupt(
            "quantizer chains flagged without dependent quantization",
        ));
    }
    let global = unzigzag(get_varint(input)?);
    if global.unsigned_abs() > 4096 {
        return Err(Error::CodecCorrupt("chunk scale out of range"));
    }
    let mut sc = Scales {
        global,
        row: Vec::new(),
        col: Vec::new(),
    };
    if flags & FLAG_ROWS != 0 {
        let mut row = vec![0u8; rows];
        decode_bytes(input, &mut row)?;
        sc.row = row.into_iter().map(|b| b as i8).collect();
    }
    if flags & FLAG_COLUMNS != 0 {
        let mut col = vec![0u8; row_len];
        decode_bytes(input, &mut col)?;
        sc.col = col.into_iter().map(|b| b as i8).collect();
    }
    let dependent = flags & FLAG_DEPENDENT != 0;
    let split = flags & FLAG_SPLIT_CLASSES != 0;
    let (alphabet, escape) = if split {
        (ALPHABET, SYM_ESCAPE)
    } else {
        (LEGACY_ALPHABET, LEGACY_ESCAPE)
    };
    let contexts = if dependent { CONTEXTS } else { SCALE_CONTEXTS };
    let mask = get_varint(input)?;
    if mask >> contexts != 0 {
        return Err(Error::CodecCorrupt("context mask names unknown contexts"));
    }
    // Contexts the chunk does not use decode with a uniform table (a valid
    // stream never reaches them).
    let fallback = FreqTable::uniform(alphabet, 10)?;
    let mut tables = Vec::with_capacity(TABLES);
    for i in 0..TABLES {
        if mask >> i & 1 == 1 {
            let t = FreqTable::read(input)?;
            if t.alphabet_size() > alphabet {
                return Err(Error::CodecCorrupt("symbol table larger than the alphabet"));
            }
            tables.push(t);
        } else {
            tables.push(fallback.clone());
        }
    }
    let tables: [FreqTable; TABLES] = tables
        .try_into()
        .map_err(|_| Error::Internal("lossy context tables"))?;
    let tables = FlatTables::new(&tables)?;
    let rans = take_slice(input)?;
    let mut bits = BitReader::new(take_slice(input)?);
    let layout = Layout {
        dtype,
        row_len,
        step,
        split,
        escape,
    };
    let (tables, bits) = (&tables, &mut bits);
    if flags & FLAG_LANE_CHAINS != 0 {
        let mut dec = RansDecoder::<CHAIN_LANES>::with_lanes(rans)?;
        decode_values::<true, CHAIN_LANES, CHAIN_LANES>(
            &layout, &sc, tables, &mut dec, bits, out, hash,
        );
        dec.finish()?;
    } else {
        let mut dec = RansDecoder::new(rans)?;
        if dependent {
            decode_values::<true, LANES, 1>(&layout, &sc, tables, &mut dec, bits, out, hash);
        } else {
            decode_values::<false, LANES, 1>(&layout, &sc, tables, &mut dec, bits, out, hash);
        }
        dec.finish()?;
    }
    bits.finish_exact()?;
    Ok(row_len)
}

/// What the value loop of [`decode`] needs to know about a chunk.
struct Layout {
    dtype: Dtype,
    row_len: usize,
    step: f64,
    split: bool,
    escape: u16,
}

/// Values decoded together: first their scale contexts, then their
/// levels, then their bytes (each pass a loop of its own over arrays that
/// stay in L1).
const BLOCK: usize = 2048;

/// The value loop of [`decode`]: symbols, raw fields and dequantized values
/// of the whole chunk into `out`, from an `N`-lane stream. `DEPENDENT`:
/// indices are dependent-quantization indices, whose quantizer (and so
/// context) is decided by the parity of the previous one in their chain
/// (value `i` is in chain `i % CHAINS`).
///
/// With one chain that makes the symbols one serial chain (state →
/// context → symbol → parity → state), kept short: the lane state is looked
/// up in both quantizers' tables before the state is known (the state only
/// picks one), and a large index's parity is its lowest raw bit. With a
/// chain per lane, vectors of lanes are worked out at once where the CPU
/// can (see [`PairSteps`] and [`lane_levels`]).
#[inline(never)]
fn decode_values<const DEPENDENT: bool, const N: usize, const CHAINS: usize>(
    layout: &Layout,
    sc: &Scales,
    tables: &FlatTables<TABLES>,
    dec: &mut RansDecoder<'_, N>,
    bits: &mut BitReader,
    out: &mut [u8],
    mut hash: Option<&mut Xxh3>,
) {
    let &Layout {
        dtype,
        row_len,
        step,
        split,
        escape,
    } = layout;
    let w = dtype.size();
    let cols = sc.col_offsets(row_len);
    let classes = ClassCode::new(split, escape, 8 * w as u32);
    let mut escapes = Vec::new();
    let mut pass = LevelPass::<DEPENDENT, CHAINS> {
        classes: &classes,
        bits: bits.clone(),
        states: [0; CHAINS],
        levels: [0; BLOCK],
        escapes: &mut escapes,
    };
    // Each value's context as the encoder numbers them, quantizer 0 when
    // dependent (quantizer 1 is the next context).
    let mut ctxs = [0u8; BLOCK];
    let mut first = 0usize;
    for block in out.chunks_mut(BLOCK * w) {
        let len = block.len() / w;
        let mut done = 0;
        while done < len {
            let (row, col) = ((first + done) / row_len, (first + done) % row_len);
            let seg = (row_len - col).min(len - done);
            let base = sc.row_base(row);
            let at = ctxs.iter_mut().skip(done).take(seg);
            for (t, &c) in at.zip(cols.iter().skip(col)) {
                *t = if DEPENDENT {
                    dq_context(base, c, 0)
                } else {
                    context(base, c)
                } as u8;
            }
            done += seg;
        }
        tables.pair_steps(dec, &ctxs, len, &mut pass);
        dequantize(dtype, step, pass.levels.get(..len).unwrap_or(&[]), block);
        for (i, raw) in pass.escapes.drain(..) {
            if let Some(ob) = block.get_mut(i * w..(i + 1) * w) {
                values::store_bits(raw, ob);
            }
        }
        if let Some(h) = hash.as_deref_mut() {
            h.update(block);
        }
        first += len;
    }
    *bits = pass.bits;
}

/// The fields and levels of one block of [`decode_values`], from its
/// symbols.
struct LevelPass<'a, 'b, const DEPENDENT: bool, const CHAINS: usize> {
    classes: &'a ClassCode,
    /// The raw fields (a copy of the decoder's reader).
    bits: BitReader<'b>,
    /// The dependent quantizer's states: value `i`'s is `i % CHAINS`.
    states: [u8; CHAINS],
    /// Each value's level (0 for an escape), and the escapes' bits.
    levels: [i32; BLOCK],
    escapes: &'a mut Vec<(usize, u64)>,
}

impl<const DEPENDENT: bool, const CHAINS: usize> PairSteps
    for LevelPass<'_, '_, DEPENDENT, CHAINS>
{
    /// Chains that are the stream's lanes (whole vectors of them).
    const PICKS_AHEAD: bool = DEPENDENT && CHAINS.is_multiple_of(LANES);

    /// Value `i` of the block, in quantizer chain `i % CHAINS`: its symbol
    /// is `s1` (the next context's) under dependent quantization's
    /// quantizer 1, else `s0`.
    #[inline(always)]
    fn pick(&mut self, i: usize, s0: u16, s1: u16) -> bool {
        // `i < BLOCK`: the modulos only spare bounds checks.
        let i = i % BLOCK;
        let state = &mut self.states[i % CHAINS];
        let q = if DEPENDENT {
            trellis::quantizer(*state)
        } else {
            0
        };
        let sym = if q == 0 { s0 } else { s1 };
        let s = u32::from(sym);
        self.levels[i] = if s == self.classes.escape {
            escaped(self.escapes, i, self.bits.get_wide(self.classes.width));
            0
        } else {
            let field = self.bits.get(self.classes.field_bits(s));
            let (a, negative) = self.classes.magnitude(s, field);
            let m = if DEPENDENT {
                // A large index's parity is its lowest raw bit.
                let parity = if s < u32::from(DIRECT) {
                    s
                } else {
                    field as u32
                };
                *state = trellis::next_state(*state, (parity & 1) as u8);
                // |level| = 2|k| − q (0 for k = 0).
                if a == 0 {
                    0
                } else {
                    2 * a - i64::from(q)
                }
            } else {
                a
            };
            (if negative { -m } else { m }) as i32
        };
        q != 0
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn picks_ahead(&self, first: usize) -> std::arch::x86_64::__m256i {
        // SAFETY: the CPU has AVX2 (the caller's promise).
        unsafe { lane_levels::quantizers(&self.states, first) }
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn take_lanes(&mut self, first: usize, s: std::arch::x86_64::__m256i) -> bool {
        // SAFETY: the CPU has AVX2 (the caller's promise).
        DEPENDENT && unsafe { lane_levels::levels(self, first, s) }
    }
}

/// Records escaped value `i` (rare: out of line, so that the loop keeps
/// its registers).
#[cold]
#[inline(never)]
fn escaped(escapes: &mut Vec<(usize, u64)>, i: usize, raw: u64) {
    escapes.push((i, raw));
}

/// How a symbol's magnitude and sign are read: symbols below [`DIRECT`]
/// are `|k|` followed by a sign bit (none for 0); larger ones name an
/// octave (and, split, its quarter) with the bits below following raw, then
/// the sign, as one field.
struct ClassCode {
    /// Per symbol: the magnitude's known high part and the raw bits below.
    known: [(i64, u32); 128],
    /// The escape symbol, and its field's width (the element's bits).
    escape: u32,
    width: u32,
    /// A class symbol's field is `((s − DIRECT) >> shift) + bits` wide.
    shift: u32,
    bits: u32,
}

impl ClassCode {
    fn new(split: bool, escape: u16, width: u32) -> ClassCode {
        let (shift, bits) = if split { (CLASS_SPLIT, 3) } else { (0, 5) };
        let known = std::array::from_fn(|s| {
            let s = s as u32;
            if s < u32::from(DIRECT) {
                (i64::from(s), 0)
            } else if s < u32::from(escape) {
                let c = s - u32::from(DIRECT);
                let raw = (c >> shift) + bits - 1;
                let top = i64::from(c & ((1 << shift) - 1));
                ((1 << (raw + shift)) | top << raw, raw)
            } else {
                (0, 0)
            }
        });
        ClassCode {
            known,
            escape: u32::from(escape),
            width,
            shift,
            bits,
        }
    }

    /// Width of symbol `s`'s raw field (the sign included). Arithmetic, not
    /// a lookup, since the next field's position waits on it; and without
    /// a branch, since at high rates direct and class symbols mix at random
    /// (1.3x faster decoding at 7 bits/weight).
    #[inline(always)]
    fn field_bits(&self, s: u32) -> u32 {
        let class = (s.wrapping_sub(u32::from(DIRECT)) >> self.shift).wrapping_add(self.bits);
        let direct = u32::from(s != 0);
        // All ones for a class symbol.
        let is_class = 0u32.wrapping_sub(u32::from(s >= u32::from(DIRECT)));
        (class & is_class) | (direct & !is_class)
    }

    /// `|k|` and its sign from symbol `s` and its field.
    #[inline(always)]
    fn magnitude(&self, s: u32, field: u64) -> (i64, bool) {
        let (high, raw) = self.known.get(s as usize).copied().unwrap_or((0, 0));
        let low = (field & ((1 << raw) - 1)) as i64;
        (high | low, (field >> raw) & 1 == 1)
    }
}

/// Levels × step, rounded to `dtype`, into `out`'s elements.
fn dequantize(dtype: Dtype, step: f64, levels: &[i32], out: &mut [u8]) {
    values::specialised(
        dtype,
        #[inline(always)]
        |dtype| {
            for (&l, ob) in levels.iter().zip(out.chunks_exact_mut(dtype.size())) {
                values::store_bits(values::round_to(dtype, f64::from(l) * step), ob);
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every index's code reads back as the index: symbol, field width,
    /// magnitude and sign, across the direct and class ranges.
    #[test]
    fn symbols_read_back_as_their_indices() {
        let classes = ClassCode::new(true, SYM_ESCAPE, 32);
        let far = (0..30)
            .map(|b| (1i64 << b) + 1)
            .chain((1..30).map(|b| (1i64 << b) - 1));
        for k in (-70_000..70_000).chain(far.clone()).chain(far.map(|k| -k)) {
            let (sym, field, nbits) = symbolize(Some(k), 0xdead, 32);
            let s = u32::from(sym);
            assert!(sym < SYM_ESCAPE, "k = {k}");
            assert_eq!(classes.field_bits(s), nbits, "k = {k}");
            assert!(field < 1 << nbits, "k = {k}");
            assert_eq!(classes.magnitude(s, field), (k.abs(), k < 0), "k = {k}");
        }
        assert_eq!(symbolize(None, 0xdead, 32), (SYM_ESCAPE, 0xdead, 32));
        assert_eq!(symbolize(Some(0), 0, 32), (0, 0, 0));
        assert_eq!(symbolize(Some(-15), 0, 32), (15, 1, 1));
        assert_eq!(symbolize(Some(16), 0, 32).0, DIRECT);
    }

    #[test]
    fn huge_and_non_finite_values_escape_with_their_bits() {
        let data: Vec<u8> = [1_073_741_823.75f64, 3.0, -1e300, 0.5]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let enc = encode(Dtype::F64, 4, data.clone(), 1.0).unwrap();
        let mut out = vec![0u8; data.len()];
        crate::codec::decode_chunk(Dtype::F64, &enc.payload, &mut out).unwrap();
        assert_eq!(out, enc.decoded);
        assert_eq!(&out[..8], &data[..8], "escaped values keep their bits");
        let data: Vec<u8> = [f64::NAN, f64::INFINITY, 1e308, -0.25]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let enc = encode(Dtype::F64, 2, data.clone(), 1e-3).unwrap();
        crate::codec::decode_chunk(Dtype::F64, &enc.payload, &mut out).unwrap();
        assert_eq!(out, enc.decoded);
        assert_eq!(&out[..24], &data[..24]);
    }

    /// A chunk decoded with the vector paths (where the CPU has them) and
    /// with the lane steps alone: the same bytes and the same verdict.
    fn decode_both_ways(dtype: Dtype, payload: &[u8], len: usize) -> [(Vec<u8>, String); 2] {
        [false, true].map(|lane_steps| {
            crate::codec::entropy::LANE_STEPS_ONLY.with(|c| c.set(lane_steps));
            let mut out = vec![0u8; len];
            let r = crate::codec::decode_chunk(dtype, payload, &mut out);
            crate::codec::entropy::LANE_STEPS_ONLY.with(|c| c.set(false));
            (out, format!("{r:?}"))
        })
    }

    /// Values drawn from `kind`: Gaussian, Laplacian, heavy-tailed (a
    /// Gaussian over a Gaussian) or with specials among them.
    fn draw(rng: &mut crate::codec::test_rng::Rng, kind: usize, i: usize) -> f64 {
        let g = |rng: &mut crate::codec::test_rng::Rng| {
            let (u, v) = (rng.unit().max(1e-300), rng.unit());
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        };
        match kind {
            0 => g(rng),
            1 => {
                let u = rng.unit() - 0.5;
                -u.signum() * (1.0 - 2.0 * u.abs()).max(1e-300).ln()
            }
            2 => g(rng) / g(rng).abs().max(1e-3),
            _ => match i % 97 {
                3 => f64::NAN,
                5 => f64::INFINITY,
                7 => -3e9,
                _ => g(rng),
            },
        }
    }

    #[test]
    fn lane_vectors_decode_as_the_lane_steps() {
        let mut rng = crate::codec::test_rng::Rng(41);
        for dtype in [Dtype::F32, Dtype::F16, Dtype::BF16, Dtype::F64] {
            for kind in 0..4 {
                // Coarse (mostly zeros), moderate, fine (large classes);
                // a chunk with lane chains and a small one without.
                for (step, n) in [(2.0, 70_000), (0.1, 66_000), (1e-4, 65_600), (0.1, 5000)] {
                    let n = n + rng.below(100) as usize;
                    let data: Vec<u8> = (0..n)
                        .flat_map(|i| {
                            let x = draw(&mut rng, kind, i);
                            let mut b = vec![0u8; dtype.size()];
                            values::store_bits(values::round_to(dtype, x), &mut b);
                            b
                        })
                        .collect();
                    let enc = encode(dtype, 48, data.clone(), step).unwrap();
                    // Method byte, row length 48 (one byte), the step.
                    let flags = enc.payload.get(1 + 1 + 8).copied().unwrap_or(0);
                    let chains = n >= MIN_CHAIN_VALUES;
                    assert_eq!(flags & FLAG_LANE_CHAINS != 0, chains, "{n}");
                    let [vectors, lanes] = decode_both_ways(dtype, &enc.payload, data.len());
                    assert!(vectors.1.starts_with("Ok("), "{dtype:?} {kind} {step}");
                    assert!(vectors.0 == enc.decoded, "{dtype:?} {kind} {step}");
                    assert!(vectors == lanes, "{dtype:?} {kind} {step}");
                }
            }
        }
    }

    #[test]
    fn corrupt_chunks_decode_alike_on_both_paths() {
        let mut rng = crate::codec::test_rng::Rng(42);
        let n = MIN_CHAIN_VALUES + 3;
        let data: Vec<u8> = (0..n)
            .flat_map(|i| ((draw(&mut rng, 3, i) * 0.05) as f32).to_le_bytes())
            .collect();
        let enc = encode(Dtype::F32, 64, data.clone(), 1e-3).unwrap();
        let mut errors = 0;
        for trial in 0..400 {
            let mut p = enc.payload.clone();
            match trial % 2 {
                0 => {
                    let bit = rng.below(p.len() as u64 * 8) as usize;
                    p[bit / 8] ^= 1 << (bit % 8);
                }
                _ => p.truncate(rng.below(p.len() as u64) as usize),
            }
            let [vectors, lanes] = decode_both_ways(Dtype::F32, &p, data.len());
            assert!(
                vectors == lanes,
                "trial {trial}: {} / {}",
                vectors.1,
                lanes.1
            );
            errors += usize::from(!vectors.1.starts_with("Ok("));
        }
        assert!(errors > 200, "{errors} of 400 corrupt chunks refused");
    }
}
