//! SIMD value loops with AVX2, eight values at a time when all eight
//! symbols are in range (nearly always). Their raw fields then have the
//! same width, so the eight bit offsets are known up front: the encoder
//! (F32, F16, BF16) packs them in pairs, the F32 decoder reads them with
//! one gather; the rest (sign, `L`, mantissa, context) is lane arithmetic.
//! With AVX-512 VBMI the decoder takes sixteen F32, F16 or BF16 values at
//! a time, their fields from one load and a byte permute. A group with an
//! escape or zero exponent, and the tail, take the scalar path, which
//! gives the same values and bits.

use std::arch::x86_64::*;

use super::{
    decode_in_row, decode_row_part_scalar, encode_row_scalar, encode_value, BitReader, BitWriter,
    Bits, ColumnSums, ALPHABET, BIAS, F32, FIRST_REL, FRAC_CONTEXTS, FRAC_MASK, LOG_FRAC_BITS,
};

/// Whether the layout-generic loops take rows of `F`: elements of 2 or 4
/// bytes (F16, BF16, F32), widened to 32-bit lanes.
pub(super) const fn vector_rows<F: Bits>() -> bool {
    F::W <= 4
}

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

/// The last of a 16-value group's fields starts at most this many bits
/// after the byte holding the group's first bit (F32's fields are the
/// widest of the layouts decoded sixteen at a time).
const LAST_WIDE_FIELD_BIT: u64 = 7 + 15 * (FRAC_SHIFT as u64 + 1);
/// Bytes a 16-value group loads from that byte: every field, read as 4
/// bytes, lies within them.
const WIDE_GROUP_SPAN: u64 = 64;
const _: () = assert!(LAST_WIDE_FIELD_BIT / 8 + 4 <= WIDE_GROUP_SPAN);

/// [`super::decode_row_part`] for F32, F16 and BF16 (`d <= M - 3`),
/// sixteen values at a time: the group's fields come out of one 64-byte
/// load with a byte permute (4 bytes to each lane) instead of a gather.
/// Other layouts go to the scalar loop.
///
/// # Safety
/// The CPU must have AVX-512F and AVX-512VBMI.
#[target_feature(enable = "avx512f,avx512vbmi")]
pub(super) unsafe fn decode_row_part_avx512<F: Bits>(
    out: &mut [u8],
    syms: &[u16],
    lbase: &[i32],
    d: u32,
    reader: &mut BitReader,
) {
    if !vector_rows::<F>() {
        decode_row_part_scalar::<F>(out, syms, lbase, d, reader);
        return;
    }
    let n = syms.len().min(lbase.len()).min(out.len() / F::W);
    let (out, syms, lbase) = (&mut out[..n * F::W], &syms[..n], &lbase[..n]);
    let mut local = reader.clone();
    let bits = &mut local;
    let nraw = F::in_range_raw_bits(d);
    let data = bits.data();
    let frac_shift = F::MANT_BITS - LOG_FRAC_BITS;
    let splat = |x: u32| _mm512_set1_epi32(x as i32);
    // Lane k's field starts `k * nraw` bits after the group's first.
    let lane_bits = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        splat(nraw),
    );
    let field_mask = splat((1 << nraw) - 1);
    let d_v = splat(d);
    let seven = splat(7);
    let l_mask = splat((1 << (F::EXP_BITS + LOG_FRAC_BITS)) - 1);
    let frac_mask = splat((1 << frac_shift) - 1);
    let frac_shift_v = splat(frac_shift);
    let sign_shift = splat(F::EXP_BITS + F::MANT_BITS);
    let first_rel = splat(FIRST_REL as u32 - 1);
    // A lane's byte offset `b` becomes the byte indices `b..b + 4`.
    let spread = splat(0x0101_0101);
    let byte_steps = splat(0x0302_0100);
    let mut groups = out
        .chunks_exact_mut(16 * F::W)
        .zip(syms.chunks_exact(16))
        .zip(lbase.chunks_exact(16));
    for ((ob, s16), l16) in &mut groups {
        let at = bits.bits_consumed();
        let byte = at >> 3;
        // SAFETY: `s16` holds 16 u16, 32 bytes.
        let s = _mm512_cvtepu16_epi32(unsafe { _mm256_loadu_si256(s16.as_ptr().cast()) });
        let in_range = _mm512_cmpgt_epi32_mask(s, first_rel) == 0xffff;
        if !in_range || byte + WIDE_GROUP_SPAN > data.len() as u64 {
            for ((ob, &lb), &sym) in ob.chunks_exact_mut(F::W).zip(l16).zip(s16) {
                F::store(decode_in_row::<F>(sym, lb, d, nraw, bits), ob);
            }
            continue;
        }
        // SAFETY: the group's 64 bytes from `byte` are in `data` (checked
        // above).
        let block = unsafe { _mm512_loadu_si512(data.as_ptr().add(byte as usize).cast()) };
        // Bit offsets from `byte`, then 4 bytes and a shift per lane.
        let rel = _mm512_add_epi32(splat((at & 7) as u32), lane_bits);
        let idx = _mm512_add_epi32(
            _mm512_mullo_epi32(_mm512_srli_epi32::<3>(rel), spread),
            byte_steps,
        );
        let words = _mm512_permutexvar_epi8(idx, block);
        let field = _mm512_and_si512(
            _mm512_srlv_epi32(words, _mm512_and_si512(rel, seven)),
            field_mask,
        );
        let shifted = _mm512_sllv_epi32(field, d_v);
        // The sign sits at bit `M - 3` whatever `d` is (see
        // `decode_in_row`); it moves to the top of the element.
        let sign = _mm512_sllv_epi32(_mm512_srlv_epi32(shifted, frac_shift_v), sign_shift);
        // SAFETY: `l16` holds 16 i32, 64 bytes.
        let lb = unsafe { _mm512_loadu_si512(l16.as_ptr().cast()) };
        let l = _mm512_and_si512(_mm512_add_epi32(s, lb), l_mask);
        let v = _mm512_or_si512(
            _mm512_or_si512(sign, _mm512_sllv_epi32(l, frac_shift_v)),
            _mm512_and_si512(shifted, frac_mask),
        );
        // SAFETY: `ob` holds 16 elements of `F::W` (4 or 2) bytes.
        unsafe {
            if F::W == 4 {
                _mm512_storeu_si512(ob.as_mut_ptr().cast(), v);
            } else {
                _mm256_storeu_si256(ob.as_mut_ptr().cast(), _mm512_cvtepi32_epi16(v));
            }
        }
        bits.skip(16 * u64::from(nraw));
    }
    let done = n - n % 16;
    for ((ob, &lb), &sym) in out[done * F::W..]
        .chunks_exact_mut(F::W)
        .zip(&lbase[done..])
        .zip(&syms[done..])
    {
        F::store(decode_in_row::<F>(sym, lb, d, nraw, bits), ob);
    }
    *reader = local;
}

/// Values of a row summed per lane in `u32` before going to the `u64`
/// totals: a lane gets an eighth of them, each `L < 2^11`.
const ROW_PART: usize = 1 << 20;

/// [`super::row_stats`] for F32.
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn row_stats_f32(row: &[u8], columns: &mut ColumnSums) -> (u64, u64, u64) {
    let n = row.len() / 4;
    let (mut sum, mut cnt) = (0u64, 0u64);
    let mut or_all = _mm256_setzero_si256();
    let mut tail = (0u64, 0u64, 0u64);
    if columns.is_used() {
        let n = n.min(columns.sum.len()).min(columns.cnt.len());
        let parts = row[..n * 4]
            .chunks(ROW_PART * 4)
            .zip(columns.sum[..n].chunks_mut(ROW_PART))
            .zip(columns.cnt[..n].chunks_mut(ROW_PART));
        for ((part, cs), cc) in parts {
            let (mut sum_v, mut cnt_v) = (_mm256_setzero_si256(), _mm256_setzero_si256());
            let mut groups = part
                .chunks_exact(32)
                .zip(cs.chunks_exact_mut(8))
                .zip(cc.chunks_exact_mut(8));
            for ((vb, s8), c8) in &mut groups {
                let v = _mm256_loadu_si256(vb.as_ptr().cast());
                let (l, ok) = scale_lanes(v);
                or_all = _mm256_or_si256(or_all, v);
                sum_v = _mm256_add_epi32(sum_v, l);
                cnt_v = _mm256_sub_epi32(cnt_v, ok);
                let s = _mm256_add_epi32(_mm256_loadu_si256(s8.as_ptr().cast()), l);
                _mm256_storeu_si256(s8.as_mut_ptr().cast(), s);
                let c = _mm256_sub_epi32(_mm256_loadu_si256(c8.as_ptr().cast()), ok);
                _mm256_storeu_si256(c8.as_mut_ptr().cast(), c);
            }
            sum += lane_sum(sum_v);
            cnt += lane_sum(cnt_v);
            let done = part.len() / 32 * 8;
            let rest = part[done * 4..]
                .chunks_exact(4)
                .zip(&mut cs[done..])
                .zip(&mut cc[done..]);
            for ((b, s), c) in rest {
                let (l, k) = scale_value(F32::load(b), &mut tail.2);
                tail.0 += u64::from(l);
                tail.1 += u64::from(k);
                *s += l;
                *c += k;
            }
        }
    } else {
        for part in row[..n * 4].chunks(ROW_PART * 4) {
            let (mut sum_v, mut cnt_v) = (_mm256_setzero_si256(), _mm256_setzero_si256());
            let mut groups = part.chunks_exact(32);
            for vb in &mut groups {
                let v = _mm256_loadu_si256(vb.as_ptr().cast());
                let (l, ok) = scale_lanes(v);
                or_all = _mm256_or_si256(or_all, v);
                sum_v = _mm256_add_epi32(sum_v, l);
                cnt_v = _mm256_sub_epi32(cnt_v, ok);
            }
            sum += lane_sum(sum_v);
            cnt += lane_sum(cnt_v);
            for b in groups.remainder().chunks_exact(4) {
                let (l, k) = scale_value(F32::load(b), &mut tail.2);
                tail.0 += u64::from(l);
                tail.1 += u64::from(k);
            }
        }
    }
    let mut lanes = [0u32; 8];
    _mm256_storeu_si256(lanes.as_mut_ptr().cast(), or_all);
    let or_bits = lanes.iter().fold(0u64, |a, &v| a | u64::from(v));
    (sum + tail.0, cnt + tail.1, F32::mantissa(or_bits) | tail.2)
}

/// Per lane: `L` where the value counts for the scale (else 0), and an
/// all-ones mask where it does.
#[inline(always)]
unsafe fn scale_lanes(v: __m256i) -> (__m256i, __m256i) {
    let exp = _mm256_and_si256(
        _mm256_srli_epi32::<{ F32::MANT_BITS as i32 }>(v),
        _mm256_set1_epi32(F32::EXP_MAX as i32),
    );
    let special = _mm256_or_si256(
        _mm256_cmpeq_epi32(exp, _mm256_setzero_si256()),
        _mm256_cmpeq_epi32(exp, _mm256_set1_epi32(F32::EXP_MAX as i32)),
    );
    let l = _mm256_and_si256(
        _mm256_srli_epi32::<{ FRAC_SHIFT as i32 }>(v),
        _mm256_set1_epi32((1 << (F32::EXP_BITS + LOG_FRAC_BITS)) - 1),
    );
    (
        _mm256_andnot_si256(special, l),
        _mm256_andnot_si256(special, _mm256_set1_epi32(-1)),
    )
}

/// One value of a row's tail, as [`scale_lanes`] and the OR of mantissas.
#[inline(always)]
fn scale_value(v: u64, mant_or: &mut u64) -> (u32, u32) {
    *mant_or |= F32::mantissa(v);
    let ok = F32::counts_for_scale(v);
    (if ok { F32::log_mag(v) as u32 } else { 0 }, u32::from(ok))
}

/// The sum of the eight lanes.
#[inline(always)]
unsafe fn lane_sum(v: __m256i) -> u64 {
    let mut lanes = [0u32; 8];
    _mm256_storeu_si256(lanes.as_mut_ptr().cast(), v);
    lanes.iter().map(|&x| u64::from(x)).sum()
}

/// [`super::encode_row`] for F32, F16 and BF16 (`d <= M - 3`); other
/// layouts go to the scalar loop.
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn encode_row_avx2<F: Bits>(
    row: &[u8],
    cols: &[i32],
    q_base: i32,
    d: u8,
    idx: &mut [u16],
    bits: &mut BitWriter,
) {
    if !vector_rows::<F>() {
        encode_row_scalar::<F>(row, cols, q_base, d, idx, bits);
        return;
    }
    let n = (row.len() / F::W).min(cols.len()).min(idx.len());
    let (row, cols, idx) = (&row[..n * F::W], &cols[..n], &mut idx[..n]);
    let nraw = F::in_range_raw_bits(u32::from(d));
    let frac_shift = F::MANT_BITS - LOG_FRAC_BITS;
    let splat = |x: u32| _mm256_set1_epi32(x as i32);
    let class = i32::from(d > 0) * FRAC_CONTEXTS as i32;
    let q_base_v = _mm256_set1_epi32(q_base);
    let l_mask = splat((1 << (F::EXP_BITS + LOG_FRAC_BITS)) - 1);
    let exp_mask = splat(F::EXP_MAX as u32);
    let body_mask = splat((1 << frac_shift) - 1);
    let frac_shift_v = splat(frac_shift);
    let mant_v = splat(F::MANT_BITS);
    let sign_from = splat(F::EXP_BITS + F::MANT_BITS);
    let rel_offset = _mm256_set1_epi32((BIAS + FIRST_REL) as i32);
    // In range: `FIRST_REL <= rel < ALPHABET`.
    let below = _mm256_set1_epi32(FIRST_REL as i32);
    let top = _mm256_set1_epi32(ALPHABET as i32 - 1);
    let frac = _mm256_set1_epi32(FRAC_MASK as i32);
    let class_v = _mm256_set1_epi32(class);
    let d_v = _mm256_set1_epi32(i32::from(d));
    let sign_at = splat(nraw - 1);
    let odd_at = _mm256_set1_epi64x(i64::from(nraw));
    let low_half = _mm256_set1_epi64x(0xffff_ffff);
    let mut groups = row
        .chunks_exact(8 * F::W)
        .zip(cols.chunks_exact(8))
        .zip(idx.chunks_exact_mut(8));
    for ((vb, c8), i8) in &mut groups {
        // SAFETY: `vb` holds 8 elements of `F::W` (4 or 2) bytes.
        let v = if F::W == 4 {
            _mm256_loadu_si256(vb.as_ptr().cast())
        } else {
            _mm256_cvtepu16_epi32(_mm_loadu_si128(vb.as_ptr().cast()))
        };
        let q = _mm256_add_epi32(q_base_v, _mm256_loadu_si256(c8.as_ptr().cast()));
        let l = _mm256_and_si256(_mm256_srlv_epi32(v, frac_shift_v), l_mask);
        let rel = _mm256_add_epi32(_mm256_sub_epi32(l, q), rel_offset);
        let exp = _mm256_and_si256(_mm256_srlv_epi32(v, mant_v), exp_mask);
        let out_of_range = _mm256_or_si256(
            _mm256_cmpeq_epi32(exp, _mm256_setzero_si256()),
            _mm256_or_si256(_mm256_cmpgt_epi32(below, rel), _mm256_cmpgt_epi32(rel, top)),
        );
        if _mm256_movemask_epi8(out_of_range) != 0 {
            for ((b, &c), ix) in vb.chunks_exact(F::W).zip(c8).zip(i8.iter_mut()) {
                *ix = encode_value::<F>(F::load(b), q_base + c, d, bits);
            }
            continue;
        }
        // `ctx * ALPHABET + rel`, below 2^13: packed to 16 bits in order.
        let ctx = _mm256_add_epi32(class_v, _mm256_and_si256(q, frac));
        let packed = _mm256_or_si256(_mm256_slli_epi32::<9>(ctx), rel);
        let words = _mm256_permute4x64_epi64::<0b1000>(_mm256_packus_epi32(packed, packed));
        _mm_storeu_si128(i8.as_mut_ptr().cast(), _mm256_castsi256_si128(words));
        // Fields (sign over the mantissa below `L`, without the dropped
        // tail), then each odd field above its even neighbour: four puts
        // of `2 * nraw` bits write the eight fields in order.
        let field = _mm256_or_si256(
            _mm256_sllv_epi32(_mm256_srlv_epi32(v, sign_from), sign_at),
            _mm256_srlv_epi32(_mm256_and_si256(v, body_mask), d_v),
        );
        let pairs = _mm256_or_si256(
            _mm256_and_si256(field, low_half),
            _mm256_sllv_epi64(_mm256_srli_epi64::<32>(field), odd_at),
        );
        let mut p = [0u64; 4];
        _mm256_storeu_si256(p.as_mut_ptr().cast(), pairs);
        for w in p {
            bits.put(w, 2 * nraw);
        }
    }
    let done = n - n % 8;
    for ((b, &c), ix) in row[done * F::W..]
        .chunks_exact(F::W)
        .zip(&cols[done..])
        .zip(&mut idx[done..])
    {
        *ix = encode_value::<F>(F::load(b), q_base + c, d, bits);
    }
}

#[cfg(test)]
mod tests {
    use super::super::{row_stats_portable, Bf16, F16};
    use super::*;
    use crate::codec::test_rng::Rng;

    /// Random symbols (some escapes and zero exponents among in-range
    /// ones, or none in a run), `L` bases, dropped bits and raw bytes,
    /// often too few of them (the reader then hands out zeros) for a
    /// layout: the SIMD loops this CPU runs must give the scalar loop's
    /// values and end at the same bit.
    fn simd_rows_decode_like_the_scalar_loop<F: Bits>(seed: u64) {
        let avx2 = F::W == 4 && std::arch::is_x86_feature_detected!("avx2");
        let avx512 = std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vbmi");
        if !avx512 {
            eprintln!("AVX-512 loop skipped: this CPU has no AVX-512F and VBMI");
        }
        if !(avx2 || avx512) {
            return;
        }
        let mut rng = Rng(seed);
        for trial in 0..3000 {
            let n = rng.below(200) as usize;
            let d = rng.below(u64::from(F::MANT_BITS - LOG_FRAC_BITS) + 1) as u32;
            let exceptional = if trial % 2 == 0 { 24 } else { u64::MAX };
            let syms: Vec<u16> = (0..n)
                .map(|_| match rng.below(exceptional) {
                    0 => 0,
                    1 => 1,
                    _ => 2 + rng.below(510) as u16,
                })
                .collect();
            let lbase: Vec<i32> = (0..n).map(|_| (rng.next() as i32) >> 8).collect();
            let raw: Vec<u8> = (0..rng.below(700)).map(|_| rng.next() as u8).collect();
            let mut scalar = BitReader::new(&raw);
            scalar.skip(rng.below(16));
            let (mut simd, mut wide) = (scalar.clone(), scalar.clone());
            let mut want = vec![0u8; F::W * n];
            decode_row_part_scalar::<F>(&mut want, &syms, &lbase, d, &mut scalar);
            if avx2 {
                let mut got = vec![0u8; F::W * n];
                // SAFETY: the CPU has AVX2 (checked above).
                unsafe { decode_row_part_f32(&mut got, &syms, &lbase, d, &mut simd) };
                assert_eq!(got, want, "AVX2, trial {trial}");
                assert_eq!(
                    simd.bits_consumed(),
                    scalar.bits_consumed(),
                    "AVX2, trial {trial}"
                );
            }
            if avx512 {
                let mut got = vec![0u8; F::W * n];
                // SAFETY: the CPU has AVX-512F and VBMI (checked above).
                unsafe { decode_row_part_avx512::<F>(&mut got, &syms, &lbase, d, &mut wide) };
                assert_eq!(got, want, "AVX-512, trial {trial}");
                assert_eq!(
                    wide.bits_consumed(),
                    scalar.bits_consumed(),
                    "AVX-512, trial {trial}"
                );
            }
        }
    }

    #[test]
    fn simd_f32_rows_decode_like_the_scalar_loop() {
        simd_rows_decode_like_the_scalar_loop::<F32>(5);
    }

    #[test]
    fn simd_f16_rows_decode_like_the_scalar_loop() {
        simd_rows_decode_like_the_scalar_loop::<F16>(6);
    }

    #[test]
    fn simd_bf16_rows_decode_like_the_scalar_loop() {
        simd_rows_decode_like_the_scalar_loop::<Bf16>(7);
    }

    /// Random rows of a layout mixing ordinary values with every
    /// exceptional kind (zero, subnormal, ±Inf, NaN, values far from the
    /// row's scale), odd lengths and every `d` the SIMD loop takes (values
    /// keep `d` zero low bits, as the encoder guarantees): the AVX2 row
    /// encoder must give the scalar loop's indices and bits.
    fn avx2_rows_encode_like_the_scalar_loop<F: Bits>(seed: u64) {
        if !std::arch::is_x86_feature_detected!("avx2") {
            eprintln!("skipped: this CPU has no AVX2");
            return;
        }
        let frac_shift = F::MANT_BITS - LOG_FRAC_BITS;
        let l_max = (1u64 << (F::EXP_BITS + LOG_FRAC_BITS)) - 1;
        let sign = 1u64 << (F::EXP_BITS + F::MANT_BITS);
        let all = (sign << 1) - 1;
        let mut rng = Rng(seed);
        for trial in 0..2000 {
            let n = rng.below(100) as usize;
            let d = rng.below(u64::from(frac_shift) + 1) as u8;
            let q_base = (60 + rng.below(l_max - 120)) as i32;
            let cols: Vec<i32> = (0..n).map(|_| rng.below(41) as i32 - 20).collect();
            let mut row = vec![0u8; n * F::W];
            for e in row.chunks_exact_mut(F::W) {
                let v = match rng.below(30) {
                    0 => 0,
                    1 => rng.next() & (sign | ((1 << F::MANT_BITS) - 1)),
                    2 => (F::EXP_MAX << F::MANT_BITS) | (rng.next() & sign),
                    3 => (F::EXP_MAX << F::MANT_BITS) | 1,
                    4 => rng.next() & all,
                    _ => {
                        let l = (q_base as u64 + rng.below(120) - 60) & l_max;
                        (rng.next() & (sign | ((1 << frac_shift) - 1))) | (l << frac_shift)
                    }
                };
                F::store(v & !((1u64 << d) - 1), e);
            }
            // Start at any bit position.
            let mut simd = BitWriter::new();
            simd.put(rng.next(), rng.below(58) as u32);
            let mut scalar = simd.clone();
            let (mut a, mut b) = (vec![0u16; n], vec![0u16; n]);
            // SAFETY: the CPU has AVX2 (checked above).
            unsafe { encode_row_avx2::<F>(&row, &cols, q_base, d, &mut a, &mut simd) };
            encode_row_scalar::<F>(&row, &cols, q_base, d, &mut b, &mut scalar);
            assert_eq!(a, b, "trial {trial}");
            assert_eq!(simd.finish(), scalar.finish(), "trial {trial}");
        }
    }

    #[test]
    fn avx2_f32_rows_encode_like_the_scalar_loop() {
        avx2_rows_encode_like_the_scalar_loop::<F32>(11);
    }

    #[test]
    fn avx2_f16_rows_encode_like_the_scalar_loop() {
        avx2_rows_encode_like_the_scalar_loop::<F16>(12);
    }

    #[test]
    fn avx2_bf16_rows_encode_like_the_scalar_loop() {
        avx2_rows_encode_like_the_scalar_loop::<Bf16>(13);
    }

    /// Rows of every length up to a few groups, with and without column
    /// sums, mixing normal values with zeros, subnormals, ±Inf and NaN
    /// (which don't count for the scale): the AVX2 row statistics must be
    /// the portable loop's, sums, counts, mantissa OR and column runs.
    #[test]
    fn avx2_row_stats_match_the_portable_loop() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            eprintln!("skipped: this CPU has no AVX2");
            return;
        }
        let mut rng = Rng(17);
        for trial in 0..2000 {
            let n = rng.below(70) as usize;
            let cols = if rng.below(2) == 0 {
                0
            } else {
                n + rng.below(3) as usize
            };
            let low_zeros = rng.below(24) as u32;
            let row: Vec<u8> = (0..n)
                .flat_map(|_| {
                    let v = match rng.below(12) {
                        0 => 0,
                        1 => rng.next() as u32 & 0x807f_ffff,
                        2 => 0x7f80_0000,
                        3 => 0xffc0_0001,
                        _ => rng.next() as u32,
                    };
                    (v & !((1u64 << low_zeros) - 1) as u32).to_le_bytes()
                })
                .collect();
            let mut simd_cols = ColumnSums::new(cols);
            let mut portable_cols = ColumnSums::new(cols);
            for (s, c) in simd_cols.sum.iter_mut().zip(&mut simd_cols.cnt) {
                *s = rng.below(1000) as u32;
                *c = rng.below(10) as u32;
            }
            portable_cols.sum.clone_from(&simd_cols.sum);
            portable_cols.cnt.clone_from(&simd_cols.cnt);
            // SAFETY: the CPU has AVX2 (checked above).
            let a = unsafe { row_stats_f32(&row, &mut simd_cols) };
            let b = row_stats_portable::<F32>(&row, &mut portable_cols);
            assert_eq!(a, b, "trial {trial}");
            assert_eq!(simd_cols.sum, portable_cols.sum, "trial {trial}");
            assert_eq!(simd_cols.cnt, portable_cols.cnt, "trial {trial}");
        }
    }
}
