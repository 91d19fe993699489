//! Lossless model for IEEE-style floats (F16, BF16, F32, F64).
//!
//! Weights are close to continuous random values whose scale varies by row
//! and by column, so the model codes each value's *log-magnitude relative to
//! the scale expected at its position* and leaves the bits that carry no
//! information (sign, low mantissa) raw:
//!
//! - `L = exponent << 3 | top 3 mantissa bits` is a log2 magnitude in steps
//!   of roughly an eighth of an octave.
//! - The expected scale is `q = g + r[row] + c[col]`, from the integer mean
//!   of `L` over the chunk (`g`), and each row's and column's offset from it
//!   (side information, one byte per row and per column).
//! - The symbol `L - q` is entropy coded with a static rANS table chosen by
//!   `q & 7` (where in the octave the expected scale falls: `L`'s steps are
//!   linear inside an octave, so the distribution shape depends on it) and
//!   by whether the row has dropped trailing mantissa bits.
//! - Rows whose mantissas all end in `d` zero bits (weights never updated
//!   from a lower-precision init, an fp16-born layer, ...) are flagged per
//!   row, and those `d` bits are not stored.
//! - The sign and remaining mantissa bits are written raw: measured on real
//!   checkpoints they are within a few thousandths of a bit of uniform.
//!
//! Small chunks can't afford the side information and tables, so the
//! encoder also prices simpler variants (no column offsets, no row offsets)
//! and keeps the cheapest. Every step the decoder repeats is integer
//! arithmetic, so all platforms decode the same bytes.
//!
//! Body layout (after the method byte): LEB128 row length; flags byte (bit
//! 0: column offsets present, bit 1: row offsets present); zigzag LEB128
//! `g`; the per-row dropped-bit counts, row offsets (if flagged) and column
//! offsets (if flagged), each as an `encode_bytes` stream of i8/u8; LEB128
//! context mask (bit `k`: context `k` has a table) and the tables in context
//! order; then the rANS stream and the raw bit stream, each LEB128
//! length-prefixed. Per value, the symbol `s` is decoded with the table of
//! context `8 * (d > 0) + (q & 7)`; `s = 0` escape: `1 + E + M - d` raw bits
//! (sign, exponent, mantissa without its `d` zero bits); `s = 1` zero
//! exponent: `1 + M - d` raw bits (sign, mantissa); otherwise
//! `L = s - 2 - 400 + q` and `1 + max(0, M - 3 - d)` raw bits (sign, the
//! mantissa below `L`'s 3 bits). The sign is the top bit of each raw field.

use std::cell::RefCell;
use std::ops::Range;
use std::sync::OnceLock;

use super::builtin;

#[cfg(target_arch = "x86_64")]
mod simd;
use crate::codec::entropy::{
    decode_bytes, encode_bytes, encode_indexed, get_varint, put_varint, BitReader, BitWriter,
    ContextTables, DecTable, EncTable, FlatTables, FreqTable, RansDecoder, LANES, WIDE_LANES,
};
use crate::codec::fields::{bytes_of_i8, take_byte, take_slice, unzigzag, zigzag};
use crate::container::hash::Xxh3;
use crate::error::{Error, Result};
use crate::safetensors::FloatLayout;

/// Mantissa bits folded into the log-magnitude `L`.
const LOG_FRAC_BITS: u32 = 3;
const FRAC_MASK: i64 = (1 << LOG_FRAC_BITS) - 1;
/// Symbol alphabet: escape, zero exponent, then `L - q + BIAS` in range.
const ALPHABET: usize = 512;
const SYM_ESCAPE: u16 = 0;
const SYM_ZERO_EXP: u16 = 1;
const FIRST_REL: i64 = 2;
/// `L - q` from `-BIAS` to `ALPHABET - 3 - BIAS` has its own symbol: 50
/// octaves below the expected scale to 13.6 above.
const BIAS: i64 = 400;
/// Contexts: 8 positions of `q` within an octave × trailing-zero class.
const FRAC_CONTEXTS: usize = 1 << LOG_FRAC_BITS;
const CONTEXTS: usize = 2 * FRAC_CONTEXTS;
/// Column offsets are only considered with enough rows to estimate them.
const MIN_ROWS_FOR_COLUMNS: usize = 8;
/// Chunks at least this many values always use every context: the cheaper
/// variants only pay off on small chunks, and pricing them costs passes.
const ALWAYS_FULL_VALUES: usize = 1 << 18;
/// rANS precisions tried per table: finer ones code closer to the entropy,
/// coarser ones cost fewer bytes to send.
const PROB_BITS: [u32; 4] = [11, 12, 13, 14];
/// Row/column scale offsets are stored as one signed byte.
const SCALE_OFFSET_LIMIT: i64 = 127;
const FLAG_COLUMNS: u8 = 1;
const FLAG_ROWS: u8 = 2;

/// Bit layout of a float type, as constants so every shift and mask in the
/// hot loops is known at compile time.
trait Bits {
    /// Bytes per element.
    const W: usize;
    const EXP_BITS: u32;
    const MANT_BITS: u32;
    const EXP_MAX: u64 = (1 << Self::EXP_BITS) - 1;

    #[inline(always)]
    fn exponent(v: u64) -> u64 {
        (v >> Self::MANT_BITS) & Self::EXP_MAX
    }

    #[inline(always)]
    fn mantissa(v: u64) -> u64 {
        v & low_mask(Self::MANT_BITS)
    }

    /// `L`: exponent and top mantissa bits (sign removed).
    #[inline(always)]
    fn log_mag(v: u64) -> i64 {
        ((v >> (Self::MANT_BITS - LOG_FRAC_BITS)) & low_mask(Self::EXP_BITS + LOG_FRAC_BITS)) as i64
    }

    /// Finite, normal values take part in the scale means.
    #[inline(always)]
    fn counts_for_scale(v: u64) -> bool {
        let e = Self::exponent(v);
        e != 0 && e != Self::EXP_MAX
    }

    /// Raw bits after an in-range symbol: sign and the mantissa below `L`.
    #[inline(always)]
    fn in_range_raw_bits(dropped: u32) -> u32 {
        1 + (Self::MANT_BITS - LOG_FRAC_BITS).saturating_sub(dropped)
    }

    /// Little-endian load of one element (`b` is exactly `F::W` bytes).
    fn load(b: &[u8]) -> u64;

    /// Little-endian store of one element into `out` (exactly `F::W` bytes).
    fn store(v: u64, out: &mut [u8]);
}

struct F16;
struct Bf16;
struct F32;
struct F64;

/// One load and one store of the element's width (a byte loop would
/// stay a byte loop in some builds, e.g. wasm).
macro_rules! bits_impl {
    ($t:ty, $int:ty, $exp:expr, $mant:expr) => {
        impl Bits for $t {
            const W: usize = std::mem::size_of::<$int>();
            const EXP_BITS: u32 = $exp;
            const MANT_BITS: u32 = $mant;

            #[inline(always)]
            fn load(b: &[u8]) -> u64 {
                b.first_chunk()
                    .map_or(0, |a| <$int>::from_le_bytes(*a) as u64)
            }

            #[inline(always)]
            fn store(v: u64, out: &mut [u8]) {
                if let Some(o) = out.first_chunk_mut() {
                    *o = (v as $int).to_le_bytes();
                }
            }
        }
    };
}

bits_impl!(F16, u16, 5, 10);
bits_impl!(Bf16, u16, 8, 7);
bits_impl!(F32, u32, 8, 23);
bits_impl!(F64, u64, 11, 52);

#[inline(always)]
fn low_mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

/// Side information shared by encoder and decoder.
#[derive(Clone)]
struct Scales {
    /// Trailing mantissa bits known to be zero, per row.
    dropped: Vec<u8>,
    /// Row offsets from `global` (empty: not used).
    row: Vec<i8>,
    /// Column offsets from `global` (empty: not used).
    col: Vec<i8>,
    global: i64,
}

impl Scales {
    fn flags(&self) -> u8 {
        (if self.col.is_empty() { 0 } else { FLAG_COLUMNS })
            | (if self.row.is_empty() { 0 } else { FLAG_ROWS })
    }

    /// Column offsets widened to one entry per column (zeros when unused).
    fn col_offsets(&self, cols: usize) -> Vec<i64> {
        (0..cols)
            .map(|j| self.col.get(j).map_or(0, |&c| i64::from(c)))
            .collect()
    }

    fn row_offset(&self, i: usize) -> i64 {
        self.row.get(i).map_or(0, |&r| i64::from(r))
    }
}

fn rounded_mean(sum: u64, count: u64) -> Option<i64> {
    if count == 0 {
        return None;
    }
    i64::try_from((2 * sum + count) / (2 * count)).ok()
}

/// The chunk's scales and dropped bits. With AVX2, F32 rows take the
/// vector loop of `simd` and other layouts' loops are compiled for AVX2
/// (twice the lanes).
fn analyse<F: Bits>(data: &[u8], row_len: usize) -> Scales {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked above).
        return unsafe { analyse_avx2::<F>(data, row_len) };
    }
    analyse_portable::<F>(data, row_len)
}

/// [`analyse`] compiled for AVX2.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn analyse_avx2<F: Bits>(data: &[u8], row_len: usize) -> Scales {
    analyse_portable::<F>(data, row_len)
}

#[inline(always)]
fn analyse_portable<F: Bits>(data: &[u8], row_len: usize) -> Scales {
    let n = data.len() / F::W;
    let rows = n.div_ceil(row_len);
    let cols = row_len.min(n);
    let mut dropped = Vec::with_capacity(rows);
    let mut row_sums = Vec::with_capacity(rows);
    let mut columns = ColumnSums::new(if rows >= MIN_ROWS_FOR_COLUMNS {
        cols
    } else {
        0
    });
    let (mut gsum, mut gcnt) = (0u64, 0u64);
    for row in data.chunks(row_len * F::W) {
        let (sum, cnt, mant_or) = row_stats::<F>(row, &mut columns);
        columns.row_done();
        let tz = if mant_or == 0 {
            F::MANT_BITS
        } else {
            mant_or.trailing_zeros()
        };
        dropped.push(tz.min(F::MANT_BITS) as u8);
        row_sums.push((sum, cnt));
        gsum += sum;
        gcnt += cnt;
    }
    let global = rounded_mean(gsum, gcnt).unwrap_or(0);
    let offset = |s: u64, c: u64| {
        let x = rounded_mean(s, c).unwrap_or(global) - global;
        x.clamp(-SCALE_OFFSET_LIMIT, SCALE_OFFSET_LIMIT) as i8
    };
    let (col_sum, col_cnt) = columns.totals();
    Scales {
        dropped,
        row: row_sums.iter().map(|&(s, c)| offset(s, c)).collect(),
        col: col_sum
            .iter()
            .zip(&col_cnt)
            .map(|(&s, &c)| offset(s, c))
            .collect(),
        global,
    }
}

/// Per column, the sum of `L` and the count of the values that count for
/// the scale: `u32` for a run of rows (twice the lanes of `u64` in the
/// loops), added to `u64` totals before a run could overflow.
struct ColumnSums {
    sum: Vec<u32>,
    cnt: Vec<u32>,
    total_sum: Vec<u64>,
    total_cnt: Vec<u64>,
    rows: usize,
}

/// Rows per `u32` run: `L < 2^14` for every layout, so sums stay below
/// `2^30`.
const COLUMN_RUN_ROWS: usize = 1 << 16;

impl ColumnSums {
    /// Sums over `cols` columns (0: columns unused).
    fn new(cols: usize) -> Self {
        ColumnSums {
            sum: vec![0; cols],
            cnt: vec![0; cols],
            total_sum: vec![0; cols],
            total_cnt: vec![0; cols],
            rows: 0,
        }
    }

    fn is_used(&self) -> bool {
        !self.sum.is_empty()
    }

    /// Counts a row added to the runs (if any).
    fn row_done(&mut self) {
        self.rows += 1;
        if self.rows.is_multiple_of(COLUMN_RUN_ROWS) {
            self.flush();
        }
    }

    fn flush(&mut self) {
        for (t, s) in self.total_sum.iter_mut().zip(&mut self.sum) {
            *t += u64::from(std::mem::take(s));
        }
        for (t, c) in self.total_cnt.iter_mut().zip(&mut self.cnt) {
            *t += u64::from(std::mem::take(c));
        }
    }

    fn totals(mut self) -> (Vec<u64>, Vec<u64>) {
        self.flush();
        (self.total_sum, self.total_cnt)
    }
}

/// One row's sum and count of `L` over the values that count for the
/// scale, and the OR of its mantissas; adds the row to `columns`' runs
/// when they are used (the caller then counts it with `row_done`).
#[inline(always)]
fn row_stats<F: Bits>(row: &[u8], columns: &mut ColumnSums) -> (u64, u64, u64) {
    #[cfg(target_arch = "x86_64")]
    if F::W == 4 && F::MANT_BITS == 23 && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked above).
        return unsafe { simd::row_stats_f32(row, columns) };
    }
    row_stats_portable::<F>(row, columns)
}

#[inline(always)]
fn row_stats_portable<F: Bits>(row: &[u8], columns: &mut ColumnSums) -> (u64, u64, u64) {
    // Branch-free bodies over zipped slices, so the compiler vectorises them.
    let visit = |v: u64, mant_or: &mut u64| {
        *mant_or |= F::mantissa(v);
        let ok = F::counts_for_scale(v);
        (if ok { F::log_mag(v) as u32 } else { 0 }, u32::from(ok))
    };
    let (mut sum, mut cnt, mut mant_or) = (0u64, 0u64, 0u64);
    let values = row.chunks_exact(F::W);
    if columns.is_used() {
        let cols = columns.sum.iter_mut().zip(columns.cnt.iter_mut());
        for (b, (s, c)) in values.zip(cols) {
            let (l, k) = visit(F::load(b), &mut mant_or);
            sum += u64::from(l);
            cnt += u64::from(k);
            *s += l;
            *c += k;
        }
    } else {
        for b in values {
            let (l, k) = visit(F::load(b), &mut mant_or);
            sum += u64::from(l);
            cnt += u64::from(k);
        }
    }
    (sum, cnt, mant_or)
}

/// The symbol of a normal value near its expected scale `q` (the common
/// case), or `None`.
#[inline(always)]
fn in_range_symbol<F: Bits>(v: u64, q: i64) -> Option<u16> {
    let rel = F::log_mag(v) - q + BIAS + FIRST_REL;
    (F::exponent(v) != 0 && (FIRST_REL..ALPHABET as i64).contains(&rel)).then_some(rel as u16)
}

/// Symbol of one value and the number of raw bits that follow it.
#[inline(always)]
fn classify<F: Bits>(v: u64, q: i64, dropped: u32) -> (u16, u32) {
    if let Some(sym) = in_range_symbol::<F>(v, q) {
        (sym, F::in_range_raw_bits(dropped))
    } else if F::exponent(v) == 0 {
        (SYM_ZERO_EXP, 1 + F::MANT_BITS - dropped)
    } else {
        (SYM_ESCAPE, 1 + F::EXP_BITS + F::MANT_BITS - dropped)
    }
}

/// The raw body of an in-range value: the mantissa below `L`'s bits,
/// without the row's known-zero tail.
#[inline(always)]
fn in_range_body<F: Bits>(v: u64, dropped: u32) -> u64 {
    (v & low_mask(F::MANT_BITS - LOG_FRAC_BITS)) >> dropped
}

/// `body` under the value's sign bit: a raw field of `nraw` bits.
#[inline(always)]
fn signed_field<F: Bits>(v: u64, nraw: u32, body: u64) -> u64 {
    ((v >> (F::EXP_BITS + F::MANT_BITS)) << (nraw - 1)) | body
}

/// The raw field after a symbol: sign on top, then the bits the symbol
/// does not carry, without the row's known-zero tail.
#[inline(always)]
fn raw_field<F: Bits>(v: u64, sym: u16, nraw: u32, dropped: u32) -> u64 {
    let body = match sym {
        SYM_ESCAPE => (v & low_mask(F::EXP_BITS + F::MANT_BITS)) >> dropped,
        SYM_ZERO_EXP => F::mantissa(v) >> dropped,
        _ => in_range_body::<F>(v, dropped),
    };
    signed_field::<F>(v, nraw, body)
}

#[inline(always)]
fn context(dropped: u8, q: i64) -> usize {
    usize::from(dropped > 0) * FRAC_CONTEXTS + (q & FRAC_MASK) as usize
}

/// Visit every value with its row's dropped bits and expected scale.
#[inline(always)]
fn for_each_value<F: Bits>(
    data: &[u8],
    row_len: usize,
    sc: &Scales,
    mut f: impl FnMut(u64, u8, i64),
) {
    let cols = sc.col_offsets(row_len);
    for (i, (row, &d)) in data.chunks(row_len * F::W).zip(&sc.dropped).enumerate() {
        let base = sc.global + sc.row_offset(i);
        for (b, &c) in row.chunks_exact(F::W).zip(&cols) {
            f(F::load(b), d, base + c);
        }
    }
}

type Counts = Vec<[u32; ALPHABET]>;

fn count_symbols<F: Bits>(data: &[u8], row_len: usize, sc: &Scales) -> Counts {
    let mut counts = vec![[0u32; ALPHABET]; CONTEXTS];
    for_each_value::<F>(data, row_len, sc, |v, d, q| {
        let (sym, _) = classify::<F>(v, q, u32::from(d));
        if let Some(c) = counts
            .get_mut(context(d, q))
            .and_then(|c| c.get_mut(usize::from(sym)))
        {
            *c += 1;
        }
    });
    counts
}

/// Symbol counts per context of packed indices, in their own tight pass
/// (inside the value loop they cost more than the whole pass).
fn histogram(idx: &[u16]) -> Counts {
    let mut flat = vec![0u32; CONTEXTS * ALPHABET];
    for &x in idx {
        if let Some(c) = flat.get_mut(usize::from(x)) {
            *c += 1;
        }
    }
    flat.chunks_exact(ALPHABET)
        .map(|c| std::array::from_fn(|s| c.get(s).copied().unwrap_or(0)))
        .collect()
}

/// The tables for `counts`: per used context a selector byte (0: a table
/// follows; `k` in 1..=SHAPES: built-in shape `k - 1`) and, for 0, the
/// table at its cheapest precision.
struct Tables {
    mask: u32,
    tables: Vec<Option<FreqTable>>,
    bytes: Vec<u8>,
    /// Estimated total: selectors, table bytes and coded symbols, in bits.
    cost_bits: f64,
}

fn build_tables(counts: &Counts) -> Result<Tables> {
    let mut t = Tables {
        mask: 0,
        tables: Vec::with_capacity(CONTEXTS),
        bytes: Vec::new(),
        cost_bits: 0.0,
    };
    for (i, c) in counts.iter().enumerate() {
        if !c.iter().any(|&x| x > 0) {
            t.tables.push(None);
            continue;
        }
        t.mask |= 1 << i;
        let wide: Vec<u64> = c.iter().map(|&x| u64::from(x)).collect();
        let mut own = Vec::new();
        let (table, coded) = FreqTable::cheapest(&wide, &PROB_BITS, &mut own)?;
        let mut best = (coded + 8.0 * own.len() as f64, 0u8, table);
        for (k, shape) in builtin_tables(i % FRAC_CONTEXTS).iter().enumerate() {
            let cost = shape.cost_bits(&wide);
            if cost < best.0 {
                best = (cost, k as u8 + 1, shape.clone());
            }
        }
        let (cost, selector, table) = best;
        t.bytes.push(selector);
        if selector == 0 {
            t.bytes.extend_from_slice(&own);
        }
        t.cost_bits += cost + 8.0;
        t.tables.push(Some(table));
    }
    Ok(t)
}

/// The built-in tables for one position of `q` within the octave.
fn builtin_tables(frac: usize) -> &'static [FreqTable] {
    static TABLES: OnceLock<Vec<Vec<FreqTable>>> = OnceLock::new();
    let all = TABLES.get_or_init(|| {
        (0..FRAC_CONTEXTS)
            .map(|f| {
                builtin::FREQS
                    .iter()
                    .filter_map(|shape| {
                        let window = shape.get(f)?;
                        let mut freqs = vec![0u32; builtin::FIRST_SYMBOL + builtin::WIDTH];
                        freqs[usize::from(SYM_ESCAPE)] = 1;
                        freqs[usize::from(SYM_ZERO_EXP)] = 1;
                        for (d, &w) in freqs[builtin::FIRST_SYMBOL..].iter_mut().zip(window) {
                            *d = u32::from(w);
                        }
                        FreqTable::from_freqs(freqs, builtin::PROB_BITS).ok()
                    })
                    .collect()
            })
            .collect()
    });
    all.get(frac).map_or(&[], Vec::as_slice)
}

fn side_info(sc: &Scales) -> Vec<u8> {
    let mut out = Vec::new();
    out.push(sc.flags());
    put_varint(&mut out, zigzag(sc.global));
    encode_bytes(&sc.dropped, &mut out);
    if !sc.row.is_empty() {
        encode_bytes(&bytes_of_i8(&sc.row), &mut out);
    }
    if !sc.col.is_empty() {
        encode_bytes(&bytes_of_i8(&sc.col), &mut out);
    }
    out
}

/// The rANS stream of a body: 8 lanes (method 2) or 32 (method 5, which
/// SIMD decodes faster; its 96 more bytes of states only pay off on
/// large chunks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lanes {
    Narrow,
    Wide,
}

impl Lanes {
    /// The stream for a chunk of `values` elements.
    pub fn for_values(values: usize) -> Lanes {
        if values >= WIDE_MIN_VALUES {
            Lanes::Wide
        } else {
            Lanes::Narrow
        }
    }
}

/// Chunks from this many values get the wide stream.
const WIDE_MIN_VALUES: usize = 1 << 16;

/// Encode `data` (whole elements, little-endian) whose rows hold `row_len`
/// elements, with a `lanes` stream. Appends the model's body to `out`.
pub fn encode(
    f: FloatLayout,
    data: &[u8],
    row_len: usize,
    lanes: Lanes,
    out: &mut Vec<u8>,
) -> Result<()> {
    match (f.exp_bits, f.mant_bits) {
        (5, 10) => encode_typed::<F16>(data, row_len, lanes, out),
        (8, 7) => encode_typed::<Bf16>(data, row_len, lanes, out),
        (8, 23) => encode_typed::<F32>(data, row_len, lanes, out),
        (11, 52) => encode_typed::<F64>(data, row_len, lanes, out),
        _ => Err(Error::Internal("float model: unsupported float layout")),
    }
}

/// Buffers of the value pass, kept per thread from chunk to chunk: fresh
/// multi-megabyte buffers for every chunk cost more in page faults than
/// the pass that fills them.
#[derive(Default)]
struct Scratch {
    idx: Vec<u16>,
    raw: Vec<u8>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::default();
}

fn encode_typed<F: Bits>(
    data: &[u8],
    row_len: usize,
    lanes: Lanes,
    out: &mut Vec<u8>,
) -> Result<()> {
    SCRATCH.with_borrow_mut(|scratch| encode_with::<F>(data, row_len, lanes, out, scratch))
}

fn encode_with<F: Bits>(
    data: &[u8],
    row_len: usize,
    lanes: Lanes,
    out: &mut Vec<u8>,
    scratch: &mut Scratch,
) -> Result<()> {
    let n = data.len() / F::W;
    let row_len = row_len.clamp(1, n.max(1));
    let full = analyse::<F>(data, row_len);

    // Small chunks: price the cheaper variants too. Large ones always use
    // every context, so one pass computes symbols, raw bits and counts.
    let sc = if n < ALWAYS_FULL_VALUES {
        let mut candidates = vec![full.clone()];
        if !full.col.is_empty() {
            candidates.push(Scales {
                col: Vec::new(),
                ..full.clone()
            });
        }
        candidates.push(Scales {
            col: Vec::new(),
            row: Vec::new(),
            ..full
        });
        let mut best: Option<(f64, Scales)> = None;
        for sc in candidates {
            let tables = build_tables(&count_symbols::<F>(data, row_len, &sc))?;
            let cost = tables.cost_bits + 8.0 * side_info(&sc).len() as f64;
            if best.as_ref().is_none_or(|b| cost < b.0) {
                best = Some((cost, sc));
            }
        }
        best.ok_or(Error::Internal("no float model variant"))?.1
    } else {
        full
    };

    // Context and symbol packed as `ctx * ALPHABET + sym`: one array for
    // the histogram and the rANS coder.
    // Every index is written below: what the last chunk left is not
    // cleared first.
    let idx = &mut scratch.idx;
    idx.resize(n, 0);
    let mut bits = BitWriter::reusing(std::mem::take(&mut scratch.raw), data.len());
    let cols = column_offsets(&sc, row_len);
    for (i, ((row, &d), irow)) in data
        .chunks(row_len * F::W)
        .zip(&sc.dropped)
        .zip(idx.chunks_mut(row_len))
        .enumerate()
    {
        let q_base = (sc.global + sc.row_offset(i)) as i32;
        encode_row::<F>(row, &cols, q_base, d, irow, &mut bits);
    }
    let counts = histogram(idx);
    let tables = build_tables(&counts)?;
    let enc_tables: Vec<EncTable> = tables
        .tables
        .iter()
        .map(|t| t.as_ref().map_or_else(EncTable::empty, EncTable::new))
        .collect();
    let raw = bits.finish();

    put_varint(out, row_len as u64);
    out.extend_from_slice(&side_info(&sc));
    put_varint(out, u64::from(tables.mask));
    out.extend_from_slice(&tables.bytes);
    match lanes {
        Lanes::Narrow => put_rans::<LANES>(&enc_tables, idx, out)?,
        Lanes::Wide => put_rans::<WIDE_LANES>(&enc_tables, idx, out)?,
    }
    put_varint(out, raw.len() as u64);
    out.extend_from_slice(&raw);
    scratch.raw = raw;
    Ok(())
}

/// Column offsets as `i32`: `|q| < 2^21` (a mean of `L`, checked by the
/// decoder, plus offsets of at most 127), so `i32` holds every `q` and the
/// value loops run eight to a vector.
fn column_offsets(sc: &Scales, row_len: usize) -> Vec<i32> {
    sc.col_offsets(row_len).iter().map(|&c| c as i32).collect()
}

/// One row's packed context-and-symbol indices (into `idx`) and raw fields
/// (into `bits`); `q_base` is the row's expected scale before column
/// offsets, `d` its dropped bits.
#[inline(always)]
fn encode_row<F: Bits>(
    row: &[u8],
    cols: &[i32],
    q_base: i32,
    d: u8,
    idx: &mut [u16],
    bits: &mut BitWriter,
) {
    #[cfg(target_arch = "x86_64")]
    if simd::vector_rows::<F>()
        && u32::from(d) <= F::MANT_BITS - LOG_FRAC_BITS
        && std::arch::is_x86_feature_detected!("avx2")
    {
        // SAFETY: the CPU has AVX2 (checked above).
        unsafe { simd::encode_row_avx2::<F>(row, cols, q_base, d, idx, bits) };
        return;
    }
    encode_row_scalar::<F>(row, cols, q_base, d, idx, bits);
}

#[inline(always)]
fn encode_row_scalar<F: Bits>(
    row: &[u8],
    cols: &[i32],
    q_base: i32,
    d: u8,
    idx: &mut [u16],
    bits: &mut BitWriter,
) {
    for ((b, &c), ix) in row.chunks_exact(F::W).zip(cols).zip(idx) {
        *ix = encode_value::<F>(F::load(b), q_base + c, d, bits);
    }
}

/// One value: its raw field goes to `bits`, its context and symbol come
/// back packed as `ctx * ALPHABET + sym`.
#[inline(always)]
fn encode_value<F: Bits>(v: u64, q: i32, d: u8, bits: &mut BitWriter) -> u16 {
    let q = i64::from(q);
    let d32 = u32::from(d);
    let ctx = context(d, q);
    // The common case inline (a field of at most 57 bits), the rest
    // through `classify`.
    let sym = match in_range_symbol::<F>(v, q) {
        Some(sym) => {
            let nraw = F::in_range_raw_bits(d32);
            bits.put(signed_field::<F>(v, nraw, in_range_body::<F>(v, d32)), nraw);
            sym
        }
        None => {
            let (sym, wide) = classify::<F>(v, q, d32);
            bits.put_wide(raw_field::<F>(v, sym, wide, d32), wide);
            sym
        }
    };
    (ctx * ALPHABET) as u16 | sym
}

/// The `N`-lane rANS stream of `idx` (context and symbol packed), length
/// prefixed.
fn put_rans<const N: usize>(tables: &[EncTable], idx: &[u16], out: &mut Vec<u8>) -> Result<()> {
    let rans = encode_indexed::<N>(tables, ALPHABET, idx)?;
    put_varint(out, rans.len() as u64);
    rans.append_to(out);
    Ok(())
}

/// Decode a body written by [`encode`] with `lanes` into `out` (whole
/// elements).
/// Returns the XXH3-64 of `out`, hashed block by block as the values are
/// decoded.
pub fn decode(f: FloatLayout, lanes: Lanes, input: &mut &[u8], out: &mut [u8]) -> Result<u64> {
    match (f.exp_bits, f.mant_bits) {
        (5, 10) => decode_typed::<F16>(lanes, input, out),
        (8, 7) => decode_typed::<Bf16>(lanes, input, out),
        (8, 23) => decode_typed::<F32>(lanes, input, out),
        (11, 52) => decode_typed::<F64>(lanes, input, out),
        _ => Err(Error::Internal("float model: unsupported float layout")),
    }
}

fn decode_typed<F: Bits>(lanes: Lanes, input: &mut &[u8], out: &mut [u8]) -> Result<u64> {
    if !out.len().is_multiple_of(F::W) {
        return Err(Error::CodecCorrupt(
            "output length is not a whole number of elements",
        ));
    }
    let n = out.len() / F::W;
    let row_len = usize::try_from(get_varint(input)?)
        .ok()
        .filter(|&r| r >= 1 && r <= n.max(1))
        .ok_or(Error::CodecCorrupt(
            "row length is zero or beyond the chunk",
        ))?;
    let rows = n.div_ceil(row_len);
    let cols = row_len.min(n);
    let flags = take_byte(input)?;
    if flags & !(FLAG_COLUMNS | FLAG_ROWS) != 0 {
        return Err(Error::CodecCorrupt("unknown float model flags"));
    }
    let global = unzigzag(get_varint(input)?);
    if global.unsigned_abs() > 1 << 20 {
        return Err(Error::CodecCorrupt("chunk scale out of range"));
    }
    let mut dropped = vec![0u8; rows];
    decode_bytes(input, &mut dropped)?;
    if dropped.iter().any(|&d| u32::from(d) > F::MANT_BITS) {
        return Err(Error::CodecCorrupt(
            "dropped mantissa bits exceed the mantissa",
        ));
    }
    let mut sc = Scales {
        dropped,
        row: Vec::new(),
        col: Vec::new(),
        global,
    };
    if flags & FLAG_ROWS != 0 {
        let mut row = vec![0u8; rows];
        decode_bytes(input, &mut row)?;
        sc.row = row.into_iter().map(|b| b as i8).collect();
    }
    if flags & FLAG_COLUMNS != 0 {
        let mut col = vec![0u8; cols];
        decode_bytes(input, &mut col)?;
        sc.col = col.into_iter().map(|b| b as i8).collect();
    }
    let tables = read_tables(input)?;
    let rans = take_slice(input)?;
    let mut bits = BitReader::new(take_slice(input)?);
    let mut hash = Xxh3::new();
    match lanes {
        Lanes::Narrow => {
            let tables = tables.each_ref().map(DecTable::new);
            let mut dec = RansDecoder::new(rans)?;
            let coder = (&mut dec, &tables);
            decode_values::<F, _, LANES>(out, row_len, &sc, coder, &mut bits, &mut hash);
            dec.finish()?;
        }
        Lanes::Wide => {
            let tables = FlatTables::new(&tables)?;
            let mut dec = RansDecoder::with_lanes(rans)?;
            let coder = (&mut dec, &tables);
            decode_values::<F, _, WIDE_LANES>(out, row_len, &sc, coder, &mut bits, &mut hash);
            dec.finish()?;
        }
    }
    bits.finish_exact()?;
    Ok(hash.digest())
}

/// The context mask and each context's table. Contexts without a table
/// get a uniform one: a valid stream never uses them, and the hot loop
/// needs no branch; a corrupt stream that does decodes to bytes the chunk
/// checksum rejects.
fn read_tables(input: &mut &[u8]) -> Result<[FreqTable; CONTEXTS]> {
    let mask = get_varint(input)?;
    if mask >> CONTEXTS != 0 {
        return Err(Error::CodecCorrupt("context mask names unknown contexts"));
    }
    let fallback = FreqTable::uniform(ALPHABET, 10)?;
    let mut tables = Vec::with_capacity(CONTEXTS);
    for i in 0..CONTEXTS {
        if mask >> i & 1 == 0 {
            tables.push(fallback.clone());
            continue;
        }
        let table = match take_byte(input)? {
            0 => {
                let t = FreqTable::read(input)?;
                if t.alphabet_size() > ALPHABET {
                    return Err(Error::CodecCorrupt("symbol table larger than the alphabet"));
                }
                t
            }
            k => builtin_tables(i % FRAC_CONTEXTS)
                .get(usize::from(k) - 1)
                .cloned()
                .ok_or(Error::CodecCorrupt("unknown built-in table"))?,
        };
        tables.push(table);
    }
    tables
        .try_into()
        .map_err(|_| Error::Internal("context tables missing"))
}

/// Values decoded per block: symbols first (the rANS lanes run together),
/// then the values, within buffers that stay in L1. A multiple of every
/// lane count, so blocks start on lane 0.
const DECODE_BLOCK: usize = 2048;

/// The value loop of [`decode`]: symbols from the rANS decoder with its
/// context tables, raw fields from `bits`, in the encoder's order, each
/// block then added to `hash`. Blocks run across row ends, so short rows
/// still give the symbol decoder whole groups of lanes. With AVX2, its
/// loops are compiled for it (twice the lanes for the contexts and scales
/// of each block).
fn decode_values<F: Bits, T: ContextTables<N>, const N: usize>(
    out: &mut [u8],
    row_len: usize,
    sc: &Scales,
    dec: (&mut RansDecoder<'_, N>, &T),
    reader: &mut BitReader,
    hash: &mut Xxh3,
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked above).
        unsafe { decode_values_avx2::<F, T, N>(out, row_len, sc, dec, reader, hash) };
        return;
    }
    decode_values_portable::<F, T, N>(out, row_len, sc, dec, reader, hash);
}

/// [`decode_values`] compiled for AVX2.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn decode_values_avx2<F: Bits, T: ContextTables<N>, const N: usize>(
    out: &mut [u8],
    row_len: usize,
    sc: &Scales,
    dec: (&mut RansDecoder<'_, N>, &T),
    reader: &mut BitReader,
    hash: &mut Xxh3,
) {
    decode_values_portable::<F, T, N>(out, row_len, sc, dec, reader, hash);
}

#[inline(always)]
fn decode_values_portable<F: Bits, T: ContextTables<N>, const N: usize>(
    out: &mut [u8],
    row_len: usize,
    sc: &Scales,
    (dec, tables): (&mut RansDecoder<'_, N>, &T),
    reader: &mut BitReader,
    hash: &mut Xxh3,
) {
    // `g` and the offsets are checked: `i32` holds every `q`.
    let cols = column_offsets(sc, row_len);
    // A local copy keeps the read position in a register across the
    // stores to `out`.
    let mut local = reader.clone();
    let bits = &mut local;
    let mut ctxs = [0u8; DECODE_BLOCK];
    let mut syms = [0u16; DECODE_BLOCK];
    // Per value `q - FIRST_REL - BIAS`: an in-range symbol plus this is `L`.
    let mut lbase = [0i32; DECODE_BLOCK];
    for (b, oblock) in out.chunks_mut(DECODE_BLOCK * F::W).enumerate() {
        let first = b * DECODE_BLOCK;
        let m = oblock.len() / F::W;
        for (i, blk, seg) in row_segments(first, m, row_len) {
            let q_base = (sc.global + sc.row_offset(i)) as i32;
            let class = u8::from(sc.dropped.get(i).is_some_and(|&d| d > 0)) * FRAC_CONTEXTS as u8;
            let (Some(cx), Some(lb), Some(cs)) =
                (ctxs.get_mut(blk.clone()), lbase.get_mut(blk), cols.get(seg))
            else {
                break;
            };
            for ((cx, lb), &c) in cx.iter_mut().zip(lb.iter_mut()).zip(cs) {
                let q = q_base + c;
                *cx = class + (q & FRAC_MASK as i32) as u8;
                *lb = q - (FIRST_REL + BIAS) as i32;
            }
        }
        dec.get_many(tables, &ctxs[..m], &mut syms[..m]);
        for (i, blk, _) in row_segments(first, m, row_len) {
            let d = u32::from(sc.dropped.get(i).copied().unwrap_or(0));
            let bytes = blk.start * F::W..blk.end * F::W;
            let (Some(ob), Some(lb), Some(ss)) =
                (oblock.get_mut(bytes), lbase.get(blk.clone()), syms.get(blk))
            else {
                break;
            };
            if d <= F::MANT_BITS - LOG_FRAC_BITS {
                decode_row_part::<F>(ob, ss, lb, d, bits);
            } else {
                let nraw = F::in_range_raw_bits(d);
                for ((ob, &lb), &sym) in ob.chunks_exact_mut(F::W).zip(lb).zip(ss) {
                    F::store(decode_value::<F>(sym, lb, d, nraw, bits), ob);
                }
            }
        }
        // Hashed while it is in L1 rather than in a pass of its own.
        hash.update(oblock);
    }
    *reader = local;
}

/// The rows met by values `first..first + m` of a chunk with rows of
/// `row_len`: per row, its index, the range of its values within the block
/// and their columns.
fn row_segments(
    first: usize,
    m: usize,
    row_len: usize,
) -> impl Iterator<Item = (usize, Range<usize>, Range<usize>)> {
    let mut k = 0;
    std::iter::from_fn(move || {
        if k >= m || row_len == 0 {
            return None;
        }
        let v = first + k;
        let (row, col) = (v / row_len, v % row_len);
        let len = (row_len - col).min(m - k);
        let seg = (row, k..k + len, col..col + len);
        k += len;
        Some(seg)
    })
}

/// The values of part of a row whose dropped bits `d` leave mantissa bits
/// below `L` (`d <= M - 3`, every row but near-empty ones). Not inlined:
/// alone, its loop keeps every pointer and constant in a register.
#[inline(never)]
fn decode_row_part<F: Bits>(
    out: &mut [u8],
    syms: &[u16],
    lbase: &[i32],
    d: u32,
    reader: &mut BitReader,
) {
    #[cfg(target_arch = "x86_64")]
    if simd::vector_rows::<F>() {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vbmi")
        {
            // SAFETY: the CPU has AVX-512F and VBMI (checked above).
            unsafe { simd::decode_row_part_avx512::<F>(out, syms, lbase, d, reader) };
            return;
        }
        if F::W == 4 && F::MANT_BITS == 23 && std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked above).
            unsafe { simd::decode_row_part_f32(out, syms, lbase, d, reader) };
            return;
        }
    }
    decode_row_part_scalar::<F>(out, syms, lbase, d, reader);
}

#[inline(always)]
fn decode_row_part_scalar<F: Bits>(
    out: &mut [u8],
    syms: &[u16],
    lbase: &[i32],
    d: u32,
    reader: &mut BitReader,
) {
    let n = syms.len().min(lbase.len()).min(out.len() / F::W);
    let (out, syms, lbase) = (&mut out[..n * F::W], &syms[..n], &lbase[..n]);
    let mut local = reader.clone();
    let bits = &mut local;
    let nraw = F::in_range_raw_bits(d);
    for ((ob, &lb), &sym) in out.chunks_exact_mut(F::W).zip(lbase).zip(syms) {
        F::store(decode_in_row::<F>(sym, lb, d, nraw, bits), ob);
    }
    *reader = local;
}

/// One value of a row with `d <= M - 3`: an in-range raw field is then
/// exactly the sign over `M - 3 - d` mantissa bits, so shifting it left by
/// `d` puts the sign at bit `M - 3` whatever `d` is, and no per-row mask is
/// needed. `lb` is `q - FIRST_REL - BIAS`.
#[inline(always)]
fn decode_in_row<F: Bits>(sym: u16, lb: i32, d: u32, nraw: u32, bits: &mut BitReader) -> u64 {
    let frac_shift = F::MANT_BITS - LOG_FRAC_BITS;
    if sym >= FIRST_REL as u16 {
        let l = log_mag_of::<F>(sym, lb);
        let shifted = bits.get(nraw) << d;
        ((shifted >> frac_shift) << (F::EXP_BITS + F::MANT_BITS))
            | (l << frac_shift)
            | (shifted & low_mask(frac_shift))
    } else {
        let nraw = exceptional_width::<F>(sym, d);
        exceptional_value::<F>(bits.get_wide(nraw), nraw, d)
    }
}

/// `L` of an in-range symbol, `lb` being `q - FIRST_REL - BIAS` (kept to
/// `L`'s bits: a corrupt stream may point outside them).
#[inline(always)]
fn log_mag_of<F: Bits>(sym: u16, lb: i32) -> u64 {
    (i64::from(sym) + i64::from(lb)) as u64 & low_mask(F::EXP_BITS + LOG_FRAC_BITS)
}

/// One value from its symbol, `lb` = `q - FIRST_REL - BIAS`, the row's
/// dropped bits `d` (any) and raw-field width `nraw` (for in-range
/// symbols).
#[inline(always)]
fn decode_value<F: Bits>(sym: u16, lb: i32, d: u32, nraw: u32, bits: &mut BitReader) -> u64 {
    if sym >= FIRST_REL as u16 {
        let frac_shift = F::MANT_BITS - LOG_FRAC_BITS;
        let l = log_mag_of::<F>(sym, lb);
        let raw = bits.get(nraw);
        let sign = raw >> (nraw - 1);
        (sign << (F::EXP_BITS + F::MANT_BITS))
            | (l << frac_shift)
            | ((raw << d) & low_mask(frac_shift))
    } else {
        let nraw = exceptional_width::<F>(sym, d);
        exceptional_value::<F>(bits.get_wide(nraw), nraw, d)
    }
}

/// Raw bits of an escaped or zero-exponent value: everything but what the
/// row's known-zero tail drops, sign on top. (The reader stays in the hot
/// loop: a cold function taking it would pin it in memory.)
#[inline(always)]
fn exceptional_width<F: Bits>(sym: u16, d: u32) -> u32 {
    let body_bits = if sym == SYM_ESCAPE {
        F::EXP_BITS + F::MANT_BITS
    } else {
        F::MANT_BITS
    };
    1 + body_bits - d
}

/// The value of an escaped or zero-exponent raw field of `nraw` bits.
#[inline(always)]
fn exceptional_value<F: Bits>(raw: u64, nraw: u32, d: u32) -> u64 {
    let sign = raw >> (nraw - 1);
    (sign << (F::EXP_BITS + F::MANT_BITS)) | ((raw & low_mask(nraw - 1)) << d)
}
