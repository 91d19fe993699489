//! AVX2 value loop for F32 rows: eight values at a time when all eight
//! symbols are in range (nearly always). Their raw fields then have the
//! same width, so the eight bit offsets are known up front and one gather
//! reads them all; the rest (sign, `L`, mantissa) is lane arithmetic. A
//! group with an escape or zero exponent, and the tail, take the scalar
//! path, which gives the same values.

use std::arch::x86_64::*;

use super::{decode_in_row, BitReader, Bits, F32, FIRST_REL, LOG_FRAC_BITS};

/// Mantissa bits below `L`'s: an in-range raw field is the sign over at
/// most this many (all of them when the row drops none).
const FRAC_SHIFT: u32 = F32::MANT_BITS - LOG_FRAC_BITS;
/// The last of a group's 8 fields (at most `FRAC_SHIFT + 1` bits each)
/// starts at most this many bits after the byte holding the group's first
/// bit.
const LAST_FIELD_BIT: u64 = 7 + 7 * (FRAC_SHIFT as u64 + 1);
/// Bytes a group may touch from that byte: each field is read as 4 bytes.
const GROUP_SPAN: u64 = LAST_FIELD_BIT / 8 + 4;

/// [`super::decode_row_part`] for F32, `d <= 20`.
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn decode_row_part_f32(
    out: &mut [u8],
    syms: &[u16],
    lbase: &[i32],
    d: u32,
    reader: &mut BitReader,
) {
    let n = syms.len().min(lbase.len()).min(out.len() / 4);
    let (out, syms, lbase) = (&mut out[..n * 4], &syms[..n], &lbase[..n]);
    let mut local = reader.clone();
    let bits = &mut local;
    let nraw = F32::in_range_raw_bits(d);
    let data = bits.data();
    // Lane k's field starts `k * nraw` bits after the group's first.
    let lane_bits = _mm256_mullo_epi32(
        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
        _mm256_set1_epi32(nraw as i32),
    );
    let field_mask = _mm256_set1_epi32((1 << nraw) - 1);
    let d_v = _mm256_set1_epi32(d as i32);
    let seven = _mm256_set1_epi32(7);
    let l_mask = _mm256_set1_epi32((1 << (F32::EXP_BITS + LOG_FRAC_BITS)) - 1);
    let frac_mask = _mm256_set1_epi32((1 << FRAC_SHIFT) - 1);
    let first_rel = _mm_set1_epi16(FIRST_REL as i16 - 1);
    let mut groups = out
        .chunks_exact_mut(32)
        .zip(syms.chunks_exact(8))
        .zip(lbase.chunks_exact(8));
    for ((ob, s8), l8) in &mut groups {
        let at = bits.bits_consumed();
        let byte = at >> 3;
        let s = _mm_loadu_si128(s8.as_ptr().cast());
        let in_range = _mm_movemask_epi8(_mm_cmpgt_epi16(s, first_rel)) == 0xffff;
        if !in_range || byte + GROUP_SPAN > data.len() as u64 {
            for ((ob, &lb), &sym) in ob.chunks_exact_mut(4).zip(l8).zip(s8) {
                F32::store(decode_in_row::<F32>(sym, lb, d, nraw, bits), ob);
            }
            continue;
        }
        // Bit offsets from `byte`, then byte offsets and shifts per lane.
        let rel = _mm256_add_epi32(_mm256_set1_epi32((at & 7) as i32), lane_bits);
        // In bounds: every lane reads 4 bytes within `GROUP_SPAN` of `byte`
        // (checked above).
        let words = _mm256_i32gather_epi32::<1>(
            data.as_ptr().add(byte as usize).cast(),
            _mm256_srli_epi32::<3>(rel),
        );
        let field = _mm256_and_si256(
            _mm256_srlv_epi32(words, _mm256_and_si256(rel, seven)),
            field_mask,
        );
        let shifted = _mm256_sllv_epi32(field, d_v);
        // The sign sits at bit `FRAC_SHIFT` whatever `d` is (see
        // `decode_in_row`); it moves to bit 31.
        let sign = _mm256_slli_epi32::<31>(_mm256_srli_epi32::<{ FRAC_SHIFT as i32 }>(shifted));
        let l = _mm256_and_si256(
            _mm256_add_epi32(
                _mm256_cvtepu16_epi32(s),
                _mm256_loadu_si256(l8.as_ptr().cast()),
            ),
            l_mask,
        );
        let v = _mm256_or_si256(
            _mm256_or_si256(sign, _mm256_slli_epi32::<{ FRAC_SHIFT as i32 }>(l)),
            _mm256_and_si256(shifted, frac_mask),
        );
        _mm256_storeu_si256(ob.as_mut_ptr().cast(), v);
        bits.skip(8 * u64::from(nraw));
    }
    let done = n - n % 8;
    for ((ob, &lb), &sym) in out[done * 4..]
        .chunks_exact_mut(4)
        .zip(&lbase[done..])
        .zip(&syms[done..])
    {
        F32::store(decode_in_row::<F32>(sym, lb, d, nraw, bits), ob);
    }
    *reader = local;
}

#[cfg(test)]
mod tests {
    use super::super::decode_row_part_scalar;
    use super::*;
    use crate::codec::test_rng::Rng;

    /// Random symbols (some escapes and zero exponents among in-range
    /// ones), `L` bases, dropped bits and raw bytes, often too few of them
    /// (the reader then hands out zeros): the AVX2 loop must give the
    /// scalar loop's values and end at the same bit.
    #[test]
    fn avx2_rows_decode_like_the_scalar_loop() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            eprintln!("skipped: this CPU has no AVX2");
            return;
        }
        let mut rng = Rng(5);
        for trial in 0..2000 {
            let n = rng.below(100) as usize;
            let d = rng.below(21) as u32;
            let syms: Vec<u16> = (0..n)
                .map(|_| match rng.below(24) {
                    0 => 0,
                    1 => 1,
                    _ => 2 + rng.below(510) as u16,
                })
                .collect();
            let lbase: Vec<i32> = (0..n).map(|_| (rng.next() as i32) >> 8).collect();
            let raw: Vec<u8> = (0..rng.below(300)).map(|_| rng.next() as u8).collect();
            let mut simd = BitReader::new(&raw);
            simd.skip(rng.below(16));
            let mut scalar = simd.clone();
            let (mut a, mut b) = (vec![0u8; 4 * n], vec![0u8; 4 * n]);
            // SAFETY: the CPU has AVX2 (checked above).
            unsafe { decode_row_part_f32(&mut a, &syms, &lbase, d, &mut simd) };
            decode_row_part_scalar::<F32>(&mut b, &syms, &lbase, d, &mut scalar);
            assert_eq!(a, b, "trial {trial}");
            assert_eq!(
                simd.bits_consumed(),
                scalar.bits_consumed(),
                "trial {trial}"
            );
        }
    }
}
