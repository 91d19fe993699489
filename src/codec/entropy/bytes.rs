//! Self-describing streams of bytes / small-alphabet symbols: the encoder
//! picks the smallest of constant, raw and order-0 rANS.

use super::bits::{BitReader, BitWriter};
use super::rans::{DecTable, EncTable, RansDecoder, RansEncoder, LANES};
use super::table::{FreqTable, MAX_ALPHABET};
use crate::error::{Error, Result};

/// Stream modes (first byte of a stream).
const MODE_RAW: u8 = 0;
const MODE_CONST: u8 = 1;
const MODE_RANS: u8 = 2;

/// prob_bits tried for the order-0 model; the smallest total size wins.
const PROB_BITS_CANDIDATES: [u32; 3] = [10, 12, 14];

/// Appends `v` as LEB128 (7 bits per byte, low first, high bit = more).
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a LEB128 value (at most 10 bytes, no overflow) and advances `input`.
pub fn get_varint(input: &mut &[u8]) -> Result<u64> {
    let mut v = 0u64;
    for i in 0..10 {
        let (&b, rest) = input
            .split_first()
            .ok_or(Error::EntropyStreamCorrupt("truncated varint"))?;
        *input = rest;
        let part = u64::from(b & 0x7f);
        if i == 9 && part > 1 {
            return Err(Error::EntropyStreamCorrupt("varint overflows u64"));
        }
        v |= part << (7 * i);
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(Error::EntropyStreamCorrupt("varint too long"))
}

fn varint_len(v: u64) -> usize {
    (64 - v.leading_zeros() as usize).max(1).div_ceil(7)
}

fn take<'a>(input: &mut &'a [u8], n: u64) -> Result<&'a [u8]> {
    let n = usize::try_from(n).map_err(|_| Error::EntropyStreamCorrupt("length too large"))?;
    if n > input.len() {
        return Err(Error::EntropyStreamCorrupt("stream truncated"));
    }
    let (head, rest) = input.split_at(n);
    *input = rest;
    Ok(head)
}

fn check_len(expected: usize, stored: u64) -> Result<()> {
    if stored != expected as u64 {
        return Err(Error::EntropyLengthMismatch {
            expected: expected as u64,
            stored,
        });
    }
    Ok(())
}

/// Best order-0 table for `counts`, with its estimated rANS body size
/// (table bytes + stream-length varint + states + words).
fn best_table(counts: &[u64]) -> Option<(FreqTable, usize)> {
    let mut best: Option<(FreqTable, usize)> = None;
    for pb in PROB_BITS_CANDIDATES {
        let Ok(t) = FreqTable::from_counts(counts, pb) else {
            continue;
        };
        let mut tb = Vec::new();
        t.write(&mut tb);
        let words = (t.cost_bits(counts) / 16.0).ceil() as usize + 1;
        let stream = 4 * LANES + 2 * words;
        let size = tb.len() + varint_len(stream as u64) + stream;
        if best.as_ref().is_none_or(|b| size < b.1) {
            best = Some((t, size));
        }
    }
    best
}

/// Appends a self-describing encoding of `data`:
/// `mode u8, varint len, body` with body = raw bytes | the byte value |
/// `FreqTable, varint rans_len, rANS stream`.
pub fn encode_bytes(data: &[u8], out: &mut Vec<u8>) {
    let n = data.len();
    if n > 0 && data.iter().all(|&b| b == data[0]) {
        out.push(MODE_CONST);
        put_varint(out, n as u64);
        out.push(data[0]);
        return;
    }
    let mut counts = [0u64; 256];
    for &b in data {
        counts[b as usize] += 1;
    }
    let last_used = counts.iter().rposition(|&c| c > 0).map_or(1, |i| i + 1);
    if let Some((t, size)) = best_table(&counts[..last_used]) {
        if size < n {
            let et = EncTable::new(&t);
            let mut enc = RansEncoder::with_capacity(n);
            for &b in data {
                enc.put(&et, u16::from(b));
            }
            let stream = enc.finish();
            out.push(MODE_RANS);
            put_varint(out, n as u64);
            t.write(out);
            put_varint(out, stream.len() as u64);
            out.extend_from_slice(&stream);
            return;
        }
    }
    out.push(MODE_RAW);
    put_varint(out, n as u64);
    out.extend_from_slice(data);
}

/// Decodes a stream written by [`encode_bytes`] into `out`, whose length
/// must equal the stored length, and advances `input` past the stream.
pub fn decode_bytes(input: &mut &[u8], out: &mut [u8]) -> Result<()> {
    let mut inp = *input;
    let mode = take(&mut inp, 1)?[0];
    let n = get_varint(&mut inp)?;
    check_len(out.len(), n)?;
    match mode {
        MODE_RAW => out.copy_from_slice(take(&mut inp, n)?),
        MODE_CONST => {
            let v = take(&mut inp, 1)?[0];
            if out.is_empty() {
                return Err(Error::EntropyStreamCorrupt("constant stream of length 0"));
            }
            out.fill(v);
        }
        MODE_RANS => {
            let t = FreqTable::read(&mut inp)?;
            if t.alphabet_size() > 256 {
                return Err(Error::EntropyStreamCorrupt("byte table alphabet > 256"));
            }
            let len = get_varint(&mut inp)?;
            let stream = take(&mut inp, len)?;
            let dt = DecTable::new(&t);
            let mut dec = RansDecoder::new(stream)?;
            for o in out.iter_mut() {
                *o = dec.get(&dt) as u8;
            }
            dec.finish()?;
        }
        _ => return Err(Error::EntropyStreamCorrupt("unknown byte stream mode")),
    }
    *input = inp;
    Ok(())
}

fn bits_for(alphabet: usize) -> u32 {
    usize::BITS - (alphabet.max(2) - 1).leading_zeros()
}

/// Like [`encode_bytes`] for symbols `< alphabet` (alphabet 1..=4096).
/// Raw mode packs each symbol in `ceil(log2 alphabet)` bits
/// ([`BitWriter`] order); constant mode stores the symbol as a varint.
/// Errors if the alphabet is out of range or a symbol is not below it.
pub fn encode_symbols(data: &[u16], alphabet: usize, out: &mut Vec<u8>) -> Result<()> {
    if alphabet == 0 || alphabet > MAX_ALPHABET {
        return Err(Error::BadFreqTable("alphabet size outside 1..=4096"));
    }
    let mut counts = vec![0u64; alphabet];
    for &s in data {
        *counts
            .get_mut(s as usize)
            .ok_or(Error::BadFreqTable("symbol outside the alphabet"))? += 1;
    }
    let n = data.len();
    if n > 0 && data.iter().all(|&s| s == data[0]) {
        out.push(MODE_CONST);
        put_varint(out, n as u64);
        put_varint(out, u64::from(data[0]));
        return Ok(());
    }
    let nbits = bits_for(alphabet);
    let raw_size = (n * nbits as usize).div_ceil(8);
    if let Some((t, size)) = best_table(&counts) {
        if size < raw_size {
            let et = EncTable::new(&t);
            let mut enc = RansEncoder::with_capacity(n);
            for &s in data {
                enc.put(&et, s);
            }
            let stream = enc.finish();
            out.push(MODE_RANS);
            put_varint(out, n as u64);
            t.write(out);
            put_varint(out, stream.len() as u64);
            out.extend_from_slice(&stream);
            return Ok(());
        }
    }
    out.push(MODE_RAW);
    put_varint(out, n as u64);
    let mut w = BitWriter::with_capacity(raw_size);
    for &s in data {
        w.put(u64::from(s), nbits);
    }
    out.extend_from_slice(&w.finish());
    Ok(())
}

/// Decodes a stream written by [`encode_symbols`] with the same `alphabet`.
/// Every decoded symbol is `< alphabet`.
pub fn decode_symbols(input: &mut &[u8], alphabet: usize, out: &mut [u16]) -> Result<()> {
    if alphabet == 0 || alphabet > MAX_ALPHABET {
        return Err(Error::BadFreqTable("alphabet size outside 1..=4096"));
    }
    let mut inp = *input;
    let mode = take(&mut inp, 1)?[0];
    let n = get_varint(&mut inp)?;
    check_len(out.len(), n)?;
    match mode {
        MODE_RAW => {
            let nbits = bits_for(alphabet);
            let body = take(&mut inp, (out.len() as u64 * u64::from(nbits)).div_ceil(8))?;
            let mut r = BitReader::new(body);
            for o in out.iter_mut() {
                let s = r.get(nbits);
                if s >= alphabet as u64 {
                    return Err(Error::EntropyStreamCorrupt(
                        "raw symbol outside the alphabet",
                    ));
                }
                *o = s as u16;
            }
            r.finish_exact()?;
        }
        MODE_CONST => {
            let v = get_varint(&mut inp)?;
            if v >= alphabet as u64 || out.is_empty() {
                return Err(Error::EntropyStreamCorrupt("bad constant symbol stream"));
            }
            out.fill(v as u16);
        }
        MODE_RANS => {
            let t = FreqTable::read(&mut inp)?;
            if t.alphabet_size() > alphabet {
                return Err(Error::EntropyStreamCorrupt(
                    "table alphabet larger than expected",
                ));
            }
            let len = get_varint(&mut inp)?;
            let stream = take(&mut inp, len)?;
            let dt = DecTable::new(&t);
            let mut dec = RansDecoder::new(stream)?;
            for o in out.iter_mut() {
                *o = dec.get(&dt);
            }
            dec.finish()?;
        }
        _ => return Err(Error::EntropyStreamCorrupt("unknown symbol stream mode")),
    }
    *input = inp;
    Ok(())
}
