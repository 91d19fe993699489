//! Lossless model for IEEE-style floats (F16, BF16, F32, F64).
//!
//! Weights are close to continuous random values whose scale varies by row
//! and by column, so the model codes each value's *log-magnitude relative to
//! the scale expected at its position* and leaves the bits that carry no
//! information (sign, low mantissa) raw:
//!
//! - `L = exponent << 3 | top 3 mantissa bits` is a log2 magnitude in steps
//!   of roughly an eighth of an octave.
//! - The expected scale is `q = r[row] + c[col] - g`, from the integer mean
//!   of `L` over each row, each column and the whole chunk (sent as side
//!   information, one byte per row and column).
//! - The symbol `L - q` is entropy coded with a static rANS table chosen by
//!   `q & 7` (where in the octave the expected scale falls) and by whether
//!   the row has dropped trailing mantissa bits.
//! - Rows whose mantissas all end in `d` zero bits (weights never updated
//!   from a lower-precision init, an fp16-born pooler, ...) are flagged per
//!   row, and those `d` bits are not stored.
//! - The sign and remaining mantissa bits are written raw: measured on real
//!   checkpoints they are within a few thousandths of a bit of uniform.
//!
//! Every step is integer arithmetic, so encoder and decoder agree on every
//! platform.

use super::{read_varint, write_varint};
use crate::codec::entropy::{
    decode_bytes, encode_bytes, BitReader, BitWriter, DecTable, EncTable, FreqTable, RansDecoder,
    RansEncoder,
};
use crate::error::{Error, Result};
use crate::safetensors::FloatLayout;

/// Mantissa bits folded into the log-magnitude `L`.
const LOG_FRAC_BITS: u32 = 3;
/// Symbol alphabet: escape, zero exponent, then `L - q + BIAS` in range.
const ALPHABET: usize = 512;
const SYM_ESCAPE: u16 = 0;
const SYM_ZERO_EXP: u16 = 1;
const FIRST_REL: i64 = 2;
/// `L - q` values from `-BIAS` to `ALPHABET - 3 - BIAS` get their own
/// symbol: 50 octaves below the expected scale, 13.6 above.
const BIAS: i64 = 400;
/// Contexts: 8 positions of `q` within an octave × trailing-zero class.
const FRAC_CONTEXTS: usize = 1 << LOG_FRAC_BITS;
const CONTEXTS: usize = 2 * FRAC_CONTEXTS;
/// Column scales are only worth their side information with enough rows.
const MIN_ROWS_FOR_COLUMNS: usize = 8;
/// rANS precision: finer tables waste less on skewed symbols.
const PROB_BITS: u32 = 14;
/// Row/column scale offsets are stored as a byte around the chunk mean.
const SCALE_OFFSET_LIMIT: i64 = 127;

/// How one value is split into a coded symbol and raw bits.
struct Layout {
    exp_bits: u32,
    mant_bits: u32,
    exp_max: u64,
    width_bytes: usize,
}

impl Layout {
    fn new(f: FloatLayout) -> Layout {
        Layout {
            exp_bits: f.exp_bits,
            mant_bits: f.mant_bits,
            exp_max: (1u64 << f.exp_bits) - 1,
            width_bytes: (f.bits() / 8) as usize,
        }
    }

    #[inline(always)]
    fn load(&self, bytes: &[u8]) -> u64 {
        let mut v = 0u64;
        for (i, b) in bytes.iter().take(self.width_bytes).enumerate() {
            v |= u64::from(*b) << (8 * i);
        }
        v
    }

    #[inline(always)]
    fn store(&self, v: u64, out: &mut [u8]) {
        for (i, b) in out.iter_mut().take(self.width_bytes).enumerate() {
            *b = (v >> (8 * i)) as u8;
        }
    }

    #[inline(always)]
    fn exponent(&self, v: u64) -> u64 {
        (v >> self.mant_bits) & self.exp_max
    }

    #[inline(always)]
    fn mantissa(&self, v: u64) -> u64 {
        v & ((1u64 << self.mant_bits) - 1)
    }

    /// Log-magnitude of a value with a non-zero exponent field.
    #[inline(always)]
    fn log_mag(&self, v: u64) -> i64 {
        ((v >> (self.mant_bits - LOG_FRAC_BITS)) & ((self.exp_max << LOG_FRAC_BITS) | 7)) as i64
    }

    /// Whether a value takes part in the scale means (finite, normal).
    #[inline(always)]
    fn counts_for_scale(&self, v: u64) -> bool {
        let e = self.exponent(v);
        e != 0 && e != self.exp_max
    }
}

/// Per-row side information shared by encoder and decoder.
struct Scales {
    /// Trailing mantissa bits known to be zero in each row.
    dropped: Vec<u8>,
    /// Row mean of `L`, as an offset from `global`.
    row: Vec<i8>,
    /// Column mean of `L` as an offset from `global` (empty: not used).
    col: Vec<i8>,
    global: i64,
}

fn rounded_mean(sum: u64, count: u64) -> Option<i64> {
    if count == 0 {
        return None;
    }
    i64::try_from((2 * sum + count) / (2 * count)).ok()
}

fn clamp_offset(x: i64) -> i8 {
    x.clamp(-SCALE_OFFSET_LIMIT, SCALE_OFFSET_LIMIT) as i8
}

fn analyse(lay: &Layout, data: &[u8], row_len: usize) -> Scales {
    let n = data.len() / lay.width_bytes;
    let rows = n.div_ceil(row_len.max(1));
    let cols = row_len.min(n);
    let use_cols = rows >= MIN_ROWS_FOR_COLUMNS;
    let mut dropped = Vec::with_capacity(rows);
    let mut row_sums = Vec::with_capacity(rows);
    let mut col_sum = vec![0u64; if use_cols { cols } else { 0 }];
    let mut col_cnt = vec![0u64; col_sum.len()];
    let (mut gsum, mut gcnt) = (0u64, 0u64);
    for row in data.chunks(row_len.max(1) * lay.width_bytes) {
        let (mut sum, mut cnt, mut mant_or) = (0u64, 0u64, 0u64);
        for (j, b) in row.chunks_exact(lay.width_bytes).enumerate() {
            let v = lay.load(b);
            mant_or |= lay.mantissa(v);
            if lay.counts_for_scale(v) {
                let l = lay.log_mag(v) as u64;
                sum += l;
                cnt += 1;
                if let (Some(s), Some(c)) = (col_sum.get_mut(j), col_cnt.get_mut(j)) {
                    *s += l;
                    *c += 1;
                }
            }
        }
        let tz = if mant_or == 0 { lay.mant_bits } else { mant_or.trailing_zeros() };
        dropped.push(tz.min(lay.mant_bits) as u8);
        row_sums.push((sum, cnt));
        gsum += sum;
        gcnt += cnt;
    }
    let global = rounded_mean(gsum, gcnt).unwrap_or(0);
    let offset = |s: u64, c: u64| clamp_offset(rounded_mean(s, c).unwrap_or(global) - global);
    Scales {
        dropped,
        row: row_sums.iter().map(|&(s, c)| offset(s, c)).collect(),
        col: col_sum.iter().zip(&col_cnt).map(|(&s, &c)| offset(s, c)).collect(),
        global,
    }
}

#[inline(always)]
fn context(dropped: u8, q: i64) -> usize {
    usize::from(dropped > 0) * FRAC_CONTEXTS + (q & (FRAC_CONTEXTS as i64 - 1)) as usize
}

/// Split of one value: its symbol and how many raw bits follow.
#[inline(always)]
fn classify(lay: &Layout, v: u64, q: i64, dropped: u32) -> (u16, u32) {
    let e = lay.exponent(v);
    if e == 0 {
        return (SYM_ZERO_EXP, 1 + lay.mant_bits - dropped);
    }
    let rel = lay.log_mag(v) - q + BIAS + FIRST_REL;
    if (FIRST_REL..ALPHABET as i64).contains(&rel) {
        (rel as u16, in_range_raw_bits(lay, dropped))
    } else {
        (SYM_ESCAPE, 1 + lay.exp_bits + lay.mant_bits - dropped)
    }
}

/// Encode `data` (whole elements, little-endian) whose rows hold `row_len`
/// elements. Appends the model's payload to `out`.
pub fn encode(f: FloatLayout, data: &[u8], row_len: usize, out: &mut Vec<u8>) -> Result<()> {
    let lay = Layout::new(f);
    let row_len = row_len.max(1);
    let sc = analyse(&lay, data, row_len);
    write_varint(out, row_len as u64);
    out.push(u8::from(!sc.col.is_empty()));
    write_varint(out, zigzag(sc.global));
    encode_bytes(&sc.dropped, out);
    encode_bytes(&bytes_of_i8(&sc.row), out);
    if !sc.col.is_empty() {
        encode_bytes(&bytes_of_i8(&sc.col), out);
    }

    // Pass 1: symbols, contexts and raw bits.
    let n = data.len() / lay.width_bytes;
    let mut syms = Vec::with_capacity(n);
    let mut ctxs = Vec::with_capacity(n);
    let mut counts = vec![[0u64; ALPHABET]; CONTEXTS];
    let mut bits = BitWriter::new();
    let row_bytes = row_len * lay.width_bytes;
    for ((row, &d), &r) in data.chunks(row_bytes).zip(&sc.dropped).zip(&sc.row) {
        let base = sc.global + i64::from(r);
        let d32 = u32::from(d);
        for (j, b) in row.chunks_exact(lay.width_bytes).enumerate() {
            let v = lay.load(b);
            let q = base + sc.col.get(j).map_or(0, |&c| i64::from(c));
            let ctx = context(d, q);
            let (sym, nraw) = classify(&lay, v, q, d32);
            syms.push(sym);
            ctxs.push(ctx as u8);
            if let Some(c) = counts.get_mut(ctx).and_then(|c| c.get_mut(usize::from(sym))) {
                *c += 1;
            }
            let raw = raw_bits(&lay, v, sym, nraw, d32);
            put_raw(&mut bits, raw, nraw);
        }
    }

    // Tables for the contexts in use.
    let mut mask = 0u32;
    let mut enc_tables: Vec<Option<EncTable>> = Vec::with_capacity(CONTEXTS);
    let mut tables_out = Vec::new();
    for (i, c) in counts.iter().enumerate() {
        if c.iter().any(|&x| x > 0) {
            mask |= 1 << i;
            let t = FreqTable::from_counts(c, PROB_BITS)?;
            t.write(&mut tables_out);
            enc_tables.push(Some(EncTable::new(&t)));
        } else {
            enc_tables.push(None);
        }
    }
    write_varint(out, u64::from(mask));
    out.extend_from_slice(&tables_out);
    let mut enc = RansEncoder::with_capacity(n);
    for (&s, &c) in syms.iter().zip(&ctxs) {
        if let Some(Some(t)) = enc_tables.get(usize::from(c)) {
            enc.put(t, s);
        }
    }
    let rans = enc.finish();
    let raw = bits.finish();
    write_varint(out, rans.len() as u64);
    out.extend_from_slice(&rans);
    write_varint(out, raw.len() as u64);
    out.extend_from_slice(&raw);
    Ok(())
}

/// The raw bits stored after a symbol: sign on top, then the mantissa bits
/// the symbol does not carry, minus the row's known-zero tail.
#[inline(always)]
fn raw_bits(lay: &Layout, v: u64, sym: u16, nraw: u32, dropped: u32) -> u64 {
    let sign = v >> (lay.exp_bits + lay.mant_bits);
    let body = match sym {
        SYM_ESCAPE => (v & ((1u64 << (lay.exp_bits + lay.mant_bits)) - 1)) >> dropped,
        SYM_ZERO_EXP => lay.mantissa(v) >> dropped,
        _ => (lay.mantissa(v) & low_mask(lay.mant_bits - LOG_FRAC_BITS)) >> dropped,
    };
    (sign << (nraw - 1)) | body
}

#[inline(always)]
fn low_mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

/// Decode a payload written by [`encode`] into `out` (whole elements).
pub fn decode(f: FloatLayout, input: &mut &[u8], out: &mut [u8]) -> Result<()> {
    let lay = Layout::new(f);
    if out.len() % lay.width_bytes != 0 {
        return Err(Error::CodecCorrupt("output length is not a whole number of elements"));
    }
    let n = out.len() / lay.width_bytes;
    let row_len = usize::try_from(read_varint(input)?)
        .ok()
        .filter(|&r| r >= 1)
        .ok_or(Error::CodecCorrupt("row length is zero or too large"))?;
    let rows = n.div_ceil(row_len);
    let cols = row_len.min(n);
    let use_cols = match take_byte(input)? {
        0 => false,
        1 => true,
        _ => return Err(Error::CodecCorrupt("bad column-context flag")),
    };
    let global = unzigzag(read_varint(input)?);
    let mut dropped = vec![0u8; rows];
    decode_bytes(input, &mut dropped)?;
    if dropped.iter().any(|&d| u32::from(d) > lay.mant_bits) {
        return Err(Error::CodecCorrupt("dropped mantissa bits exceed the mantissa"));
    }
    let mut row = vec![0u8; rows];
    decode_bytes(input, &mut row)?;
    let mut col = vec![0u8; if use_cols { cols } else { 0 }];
    if use_cols {
        decode_bytes(input, &mut col)?;
    }
    let mask = read_varint(input)?;
    if mask >> CONTEXTS != 0 {
        return Err(Error::CodecCorrupt("context mask names unknown contexts"));
    }
    let mut tables: Vec<Option<DecTable>> = Vec::with_capacity(CONTEXTS);
    for i in 0..CONTEXTS {
        if mask >> i & 1 == 1 {
            let t = FreqTable::read(input)?;
            if t.alphabet_size() > ALPHABET {
                return Err(Error::CodecCorrupt("symbol table larger than the alphabet"));
            }
            tables.push(Some(DecTable::new(&t)));
        } else {
            tables.push(None);
        }
    }
    let rans = take_slice(input)?;
    let raw = take_slice(input)?;
    let mut dec = RansDecoder::new(rans)?;
    let mut bits = BitReader::new(raw);
    let row_bytes = row_len * lay.width_bytes;
    let sign_shift = lay.exp_bits + lay.mant_bits;
    let frac_shift = lay.mant_bits - LOG_FRAC_BITS;
    for ((orow, &d), &r) in out.chunks_mut(row_bytes).zip(&dropped).zip(&row) {
        let base = global + i64::from(r as i8);
        let d32 = u32::from(d);
        for (j, ob) in orow.chunks_exact_mut(lay.width_bytes).enumerate() {
            let q = base + col.get(j).map_or(0, |&c| i64::from(c as i8));
            let table = tables
                .get(context(d, q))
                .and_then(Option::as_ref)
                .ok_or(Error::CodecCorrupt("value needs a context without a table"))?;
            let sym = dec.get(table);
            let v = match sym {
                SYM_ESCAPE => {
                    let nraw = 1 + lay.exp_bits + lay.mant_bits - d32;
                    let raw = get_raw(&mut bits, nraw);
                    let sign = raw >> (nraw - 1);
                    (sign << sign_shift) | ((raw & low_mask(nraw - 1)) << d32)
                }
                SYM_ZERO_EXP => {
                    let nraw = 1 + lay.mant_bits - d32;
                    let raw = get_raw(&mut bits, nraw);
                    let sign = raw >> (nraw - 1);
                    (sign << sign_shift) | ((raw & low_mask(nraw - 1)) << d32)
                }
                s => {
                    let l = (i64::from(s) - FIRST_REL - BIAS + q) as u64;
                    let nraw = in_range_raw_bits(&lay, d32);
                    let raw = get_raw(&mut bits, nraw);
                    let sign = raw >> (nraw - 1);
                    let low = (raw & low_mask(nraw - 1)) << d32;
                    let top = (l & ((lay.exp_max << LOG_FRAC_BITS) | 7)) << frac_shift;
                    (sign << sign_shift) | top | (low & low_mask(frac_shift))
                }
            };
            lay.store(v, ob);
        }
    }
    dec.finish()?;
    bits.finish()?;
    Ok(())
}

/// Raw-bit count for an in-range symbol in a row with `dropped` zero bits:
/// the sign and the mantissa bits below those folded into `L`.
#[inline(always)]
fn in_range_raw_bits(lay: &Layout, dropped: u32) -> u32 {
    1 + (lay.mant_bits - LOG_FRAC_BITS).saturating_sub(dropped)
}

/// Raw fields can exceed the bit coder's 57-bit limit (an escaped F64).
#[inline(always)]
fn put_raw(bits: &mut BitWriter, v: u64, n: u32) {
    if n > 32 {
        bits.put(v & 0xffff_ffff, 32);
        bits.put(v >> 32, n - 32);
    } else {
        bits.put(v, n);
    }
}

#[inline(always)]
fn get_raw(bits: &mut BitReader, n: u32) -> u64 {
    if n > 32 {
        let lo = bits.get(32);
        lo | (bits.get(n - 32) << 32)
    } else {
        bits.get(n)
    }
}

fn bytes_of_i8(v: &[i8]) -> Vec<u8> {
    v.iter().map(|&x| x as u8).collect()
}

fn zigzag(x: i64) -> u64 {
    ((x << 1) ^ (x >> 63)) as u64
}

fn unzigzag(x: u64) -> i64 {
    ((x >> 1) as i64) ^ -((x & 1) as i64)
}

fn take_byte(input: &mut &[u8]) -> Result<u8> {
    let (&b, rest) = input.split_first().ok_or(Error::CodecTruncated)?;
    *input = rest;
    Ok(b)
}

fn take_slice<'a>(input: &mut &'a [u8]) -> Result<&'a [u8]> {
    let len = usize::try_from(read_varint(input)?).map_err(|_| Error::CodecTruncated)?;
    if len > input.len() {
        return Err(Error::CodecTruncated);
    }
    let (head, rest) = input.split_at(len);
    *input = rest;
    Ok(head)
}
