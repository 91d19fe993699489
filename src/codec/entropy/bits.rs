//! Raw bit fields, LSB-first: for values that are (close to) uniform and not
//! worth modelling, and for compact headers such as serialized tables.
//!
//! Format: bit `k` of the stream is bit `k % 8` of byte `k / 8`; a field of
//! `n` bits occupies the next `n` stream bits, least significant bit first.
//! The last byte is zero-padded.

use crate::error::{Error, Result};

/// Largest field width accepted by [`BitWriter::put`] / [`BitReader::get`].
pub const MAX_FIELD_BITS: u32 = 57;

#[inline]
fn low_mask(nbits: u32) -> u64 {
    // nbits <= 57 in all callers; the `min` keeps the shift in range anyway.
    (1u64 << nbits.min(63)) - 1
}

/// Appends bit fields to a byte vector, a 64-bit word at a time.
#[derive(Debug, Default, Clone)]
pub struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    /// Number of valid bits in `acc` (always < 64 between calls).
    fill: u32,
}

impl BitWriter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_capacity(bytes: usize) -> Self {
        Self {
            out: Vec::with_capacity(bytes),
            ..Self::default()
        }
    }

    /// A writer into `buf`'s memory (its contents are dropped), with room
    /// for at least `bytes`.
    pub fn reusing(mut buf: Vec<u8>, bytes: usize) -> Self {
        buf.clear();
        buf.reserve(bytes);
        Self {
            out: buf,
            ..Self::default()
        }
    }

    /// Writes the low `nbits` bits of `value` (bits above are ignored).
    ///
    /// # Panics
    /// If `nbits > 57` (a caller bug, never data dependent).
    #[inline]
    pub fn put(&mut self, value: u64, nbits: u32) {
        push(&mut self.out, &mut self.acc, &mut self.fill, value, nbits);
    }

    /// Writes a field of up to 64 bits (as a 32-bit low part, then the rest).
    #[inline(always)]
    pub fn put_wide(&mut self, value: u64, nbits: u32) {
        push_wide(&mut self.out, &mut self.acc, &mut self.fill, value, nbits);
    }

    /// Writes each `(value, nbits)` of `fields` as [`BitWriter::put_wide`]
    /// would. The pending word and its fill stay in locals for the whole
    /// run: field by field through `self`, they went to memory and back
    /// for every value.
    #[inline(always)]
    pub fn put_all(&mut self, fields: impl IntoIterator<Item = (u64, u32)>) {
        let (mut acc, mut fill) = (self.acc, self.fill);
        for (value, nbits) in fields {
            push_wide(&mut self.out, &mut acc, &mut fill, value, nbits);
        }
        (self.acc, self.fill) = (acc, fill);
    }

    /// Number of bits written so far.
    pub fn bit_len(&self) -> u64 {
        self.out.len() as u64 * 8 + u64::from(self.fill)
    }

    /// Pads the last byte with zeros and returns the bytes.
    pub fn finish(mut self) -> Vec<u8> {
        let nbytes = self.fill.div_ceil(8) as usize;
        self.out
            .extend_from_slice(self.acc.to_le_bytes().get(..nbytes).unwrap_or(&[]));
        self.out
    }
}

/// [`BitWriter::put`] on the writer's parts.
#[inline(always)]
fn push(out: &mut Vec<u8>, acc: &mut u64, fill: &mut u32, value: u64, nbits: u32) {
    assert!(nbits <= MAX_FIELD_BITS, "bit field wider than 57 bits");
    let v = value & low_mask(nbits);
    *acc |= v << *fill;
    let total = *fill + nbits;
    if total >= 64 {
        out.extend_from_slice(&acc.to_le_bytes());
        // total >= 64 with nbits <= 57 means fill >= 7: shift in range.
        *acc = v >> (64 - *fill);
        *fill = total - 64;
    } else {
        *fill = total;
    }
}

/// [`BitWriter::put_wide`] on the writer's parts.
#[inline(always)]
fn push_wide(out: &mut Vec<u8>, acc: &mut u64, fill: &mut u32, value: u64, nbits: u32) {
    if nbits > 32 {
        push(out, acc, fill, value & 0xffff_ffff, 32);
        push(out, acc, fill, value >> 32, nbits.min(64) - 32);
    } else {
        push(out, acc, fill, value, nbits);
    }
}

/// Reads bit fields written by [`BitWriter`]. Reading past the end yields
/// zero bits and is reported by [`BitReader::finish`]; it never panics.
///
/// The only state is the bit position: each field is one unaligned 64-bit
/// load at `position / 8`, shifted by `position % 8`, so consecutive reads
/// depend on each other through one addition, not through a refill branch.
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    data: &'a [u8],
    /// Total bits handed out by `get` (the read position).
    consumed: u64,
}

impl<'a> BitReader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, consumed: 0 }
    }

    /// The 8 bytes from `byte` as a little-endian word, zeros past the end.
    #[inline(always)]
    fn word_at(&self, byte: u64) -> u64 {
        let at = usize::try_from(byte).unwrap_or(usize::MAX);
        match self.data.get(at..).and_then(<[u8]>::first_chunk::<8>) {
            Some(c) => u64::from_le_bytes(*c),
            None => tail_word(self.data, at),
        }
    }

    /// Reads an `nbits`-bit field (0..=57; wider requests are clamped to 57
    /// bits, a caller bug). Past the end returns zero bits.
    #[inline(always)]
    pub fn get(&mut self, nbits: u32) -> u64 {
        debug_assert!(nbits <= MAX_FIELD_BITS, "bit field wider than 57 bits");
        let nbits = nbits.min(MAX_FIELD_BITS);
        let w = self.word_at(self.consumed >> 3);
        // shift <= 7 and nbits <= 57: the field lies inside the word.
        let v = (w >> (self.consumed & 7)) & low_mask(nbits);
        self.consumed += u64::from(nbits);
        v
    }

    /// Reads a field of up to 64 bits written by [`BitWriter::put_wide`].
    #[inline(always)]
    pub fn get_wide(&mut self, nbits: u32) -> u64 {
        if nbits > 32 {
            let lo = self.get(32);
            lo | (self.get(nbits.min(64) - 32) << 32)
        } else {
            self.get(nbits)
        }
    }

    /// Reads one bit.
    #[inline]
    pub fn get_bit(&mut self) -> bool {
        self.get(1) != 0
    }

    /// Bits handed out so far (including any zeros read past the end).
    pub fn bits_consumed(&self) -> u64 {
        self.consumed
    }

    /// The whole input, for a caller that reads several fields at once
    /// (SIMD) from [`BitReader::bits_consumed`] and then [`BitReader::skip`]s
    /// them.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Moves past `nbits` bits read directly from [`BitReader::data`].
    #[inline(always)]
    pub fn skip(&mut self, nbits: u64) {
        self.consumed += nbits;
    }

    /// Whole bytes touched so far: `ceil(bits_consumed / 8)`.
    pub fn bytes_consumed(&self) -> u64 {
        self.consumed.div_ceil(8)
    }

    /// True if more bits were read than the input holds.
    pub fn overrun(&self) -> bool {
        self.consumed > self.data.len() as u64 * 8
    }

    /// True if the unread bits of the last byte touched are all zero (the
    /// writer pads with zeros; anything else is corruption).
    pub fn padding_is_zero(&self) -> bool {
        let used = (self.consumed % 8) as u32;
        if used == 0 {
            return true;
        }
        let last = usize::try_from(self.consumed / 8)
            .ok()
            .and_then(|i| self.data.get(i));
        last.is_none_or(|&b| b >> used == 0)
    }

    /// Errors unless the input was consumed exactly: no read past the end,
    /// no unread byte, zero padding. Every bit of a valid stream matters.
    pub fn finish_exact(&self) -> Result<()> {
        self.finish()?;
        if self.bytes_consumed() != self.data.len() as u64 {
            return Err(Error::EntropyStreamCorrupt("bit stream has trailing bytes"));
        }
        if !self.padding_is_zero() {
            return Err(Error::EntropyStreamCorrupt(
                "bit stream padding is not zero",
            ));
        }
        Ok(())
    }

    /// Errors if any read went past the end of the input.
    pub fn finish(&self) -> Result<()> {
        if self.overrun() {
            Err(Error::EntropyStreamCorrupt("bit stream read past its end"))
        } else {
            Ok(())
        }
    }
}

/// [`BitReader`]'s word at `at` near or past the end of `data`. A free
/// function, so the reader's address never escapes its hot loops (it would
/// pin the reader in memory, and its position with it).
#[cold]
fn tail_word(data: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    for (d, s) in w.iter_mut().zip(data.get(at..).unwrap_or(&[])) {
        *d = *s;
    }
    u64::from_le_bytes(w)
}

/// Writes `v >= 1` as an Elias-gamma code: `n-1` zero bits, then the `n`
/// significant bits of `v` from the top (`n = bit length of v`), emitted as
/// a one-bit then the `n-1` low bits LSB-first.
pub(crate) fn put_gamma(w: &mut BitWriter, v: u32) {
    debug_assert!(v >= 1);
    let n = 32 - v.max(1).leading_zeros();
    w.put(0, n - 1);
    w.put(1, 1);
    w.put(u64::from(v), n - 1);
}

/// Reads an Elias-gamma code written by [`put_gamma`]; rejects codes of more
/// than `max_len` significant bits (so corrupt input can't loop or overflow).
pub(crate) fn get_gamma(r: &mut BitReader<'_>, max_len: u32) -> Result<u32> {
    let mut zeros = 0u32;
    while !r.get_bit() {
        zeros += 1;
        if zeros >= max_len.min(32) {
            return Err(Error::BadFreqTable("gamma code too long"));
        }
    }
    let low = r.get(zeros) as u32;
    Ok((1u32 << zeros) | low)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_all_widths() {
        let mut w = BitWriter::new();
        let mut expect = Vec::new();
        let mut seed = 0x1234_5678_9abc_def0u64;
        for i in 0..5000u32 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let nbits = (seed >> 58) as u32 % 58; // 0..=57
            let nbits = if i % 7 == 0 { 57 } else { nbits };
            let v = seed.rotate_left(17) & low_mask(nbits);
            w.put(
                v | ((!0u64 << nbits.min(63)) * u64::from(nbits < 57)),
                nbits,
            );
            expect.push((v, nbits));
        }
        let total: u64 = expect.iter().map(|&(_, n)| u64::from(n)).sum();
        assert_eq!(w.bit_len(), total);
        let bytes = w.finish();
        assert_eq!(bytes.len() as u64, total.div_ceil(8));
        let mut r = BitReader::new(&bytes);
        for &(v, n) in &expect {
            assert_eq!(r.get(n), v, "width {n}");
        }
        assert!(r.finish().is_ok());
        assert_eq!(r.bits_consumed(), total);
    }

    #[test]
    fn max_width_fields() {
        let vals = [0u64, 1, (1 << 57) - 1, 0x0155_5555_5555_5555, 1 << 56];
        let mut w = BitWriter::new();
        for (i, &v) in vals.iter().enumerate() {
            w.put(1, i as u32 % 3);
            w.put(v, 57);
        }
        let bytes = w.finish();
        let mut r = BitReader::new(&bytes);
        for (i, &v) in vals.iter().enumerate() {
            assert_eq!(r.get(i as u32 % 3), u64::from(i % 3 != 0));
            assert_eq!(r.get(57), v);
        }
        r.finish().unwrap();
    }

    #[test]
    fn overrun_reads_zeros_and_is_flagged() {
        let mut w = BitWriter::new();
        w.put(0b1011, 4);
        let bytes = w.finish();
        let mut r = BitReader::new(&bytes);
        assert_eq!(r.get(4), 0b1011);
        assert_eq!(r.get(4), 0); // padding, still inside the byte
        r.finish().unwrap();
        assert_eq!(r.get(57), 0);
        assert_eq!(r.get(57), 0);
        assert!(r.overrun());
        assert!(r.finish().is_err());
        let mut r = BitReader::new(&[]);
        assert_eq!(r.get(0), 0);
        r.finish().unwrap();
        assert_eq!(r.get(1), 0);
        assert!(r.finish().is_err());
    }

    #[test]
    fn gamma_round_trip_and_limits() {
        let mut w = BitWriter::new();
        for v in 1..3000u32 {
            put_gamma(&mut w, v);
        }
        put_gamma(&mut w, u32::MAX);
        let b = w.finish();
        let mut r = BitReader::new(&b);
        for v in 1..3000u32 {
            assert_eq!(get_gamma(&mut r, 32).unwrap(), v);
        }
        assert!(get_gamma(&mut r, 31).is_err());
        let mut r = BitReader::new(&[0, 0, 0, 0, 0]);
        assert!(get_gamma(&mut r, 13).is_err());
    }

    proptest::proptest! {
        #[test]
        fn prop_round_trip(fields in proptest::collection::vec((proptest::num::u64::ANY, 0u32..=57), 0..300)) {
            let mut w = BitWriter::new();
            for &(v, n) in &fields { w.put(v, n); }
            let b = w.finish();
            let mut r = BitReader::new(&b);
            for &(v, n) in &fields { proptest::prop_assert_eq!(r.get(n), v & low_mask(n)); }
            proptest::prop_assert!(r.finish().is_ok());
        }

        /// A run of fields through `put_all`, between single ones, writes
        /// the bytes that `put_wide` field by field writes.
        #[test]
        fn prop_put_all_is_put_wide(
            before in proptest::collection::vec((proptest::num::u64::ANY, 0u32..=64), 0..20),
            run in proptest::collection::vec((proptest::num::u64::ANY, 0u32..=64), 0..300),
            after in proptest::collection::vec((proptest::num::u64::ANY, 0u32..=64), 0..20),
        ) {
            let (mut one, mut all) = (BitWriter::new(), BitWriter::new());
            for &(v, n) in before.iter().chain(&run).chain(&after) {
                one.put_wide(v, n);
            }
            for &(v, n) in &before { all.put_wide(v, n); }
            all.put_all(run.iter().copied());
            for &(v, n) in &after { all.put_wide(v, n); }
            proptest::prop_assert_eq!(all.bit_len(), one.bit_len());
            proptest::prop_assert_eq!(all.finish(), one.finish());
        }
    }
}
