//! A vector's values at once, for chunks whose quantizer states run per
//! rANS lane ([`super::FLAG_LANE_CHAINS`]): the [`LANES`] values of a
//! vector are then independent — each lane's state picks its symbol, and the
//! symbol its field, magnitude, level and next state — but for where their
//! raw fields lie, a prefix sum of the fields' widths. The arithmetic is
//! [`LevelPass`]'s `pick`, lane for lane. Vectors with an escape, or whose
//! fields reach into the last 32 bytes of the raw stream, are left to it.

use std::arch::x86_64::*;

use super::{LevelPass, DIRECT};
use crate::codec::entropy::LANES;

const _: () = assert!(LANES == 8, "one AVX2 vector of lanes");

/// Values `first..first + 8` of the block (`first` a multiple of 8),
/// lane `l`'s symbol `s` under its state's quantizer: their levels into
/// the pass, its states and reader moved past them; `false` (having
/// changed nothing) for the scalar path.
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
pub(super) fn levels<const DEPENDENT: bool, const CHAINS: usize>(
    pass: &mut LevelPass<'_, '_, DEPENDENT, CHAINS>,
    first: usize,
    s: __m256i,
) -> bool {
    levels_or_none(pass, first, s).is_some()
}

/// [`levels`], `None` for the scalar path.
#[inline]
#[target_feature(enable = "avx2")]
fn levels_or_none<const DEPENDENT: bool, const CHAINS: usize>(
    pass: &mut LevelPass<'_, '_, DEPENDENT, CHAINS>,
    first: usize,
    s: __m256i,
) -> Option<()> {
    if !CHAINS.is_multiple_of(LANES) {
        return None;
    }
    let classes = pass.classes;
    // `first` is a multiple of LANES: the values' chains are consecutive.
    let states = pass
        .states
        .get_mut(first % CHAINS..)?
        .first_chunk_mut::<8>()?;
    let out = pass.levels.get_mut(first..)?.first_chunk_mut::<8>()?;
    let zero = _mm256_setzero_si256();
    let one = _mm256_set1_epi32(1);
    let st = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(i64::from_le_bytes(*states)));
    let q = _mm256_srli_epi32::<1>(st);
    // An escape (or anything past it, which no valid table has) goes the
    // scalar way.
    let past = _mm256_cmpgt_epi32(s, _mm256_set1_epi32(classes.escape as i32 - 1));
    if _mm256_movemask_epi8(past) != 0 {
        return None;
    }
    // Field widths: a class symbol's, else 1 (a sign) but 0 for zero.
    let is_class = _mm256_cmpgt_epi32(s, _mm256_set1_epi32(i32::from(DIRECT) - 1));
    let shift = _mm256_set1_epi32(classes.shift as i32);
    let c = _mm256_sub_epi32(s, _mm256_set1_epi32(i32::from(DIRECT)));
    let class_bits = _mm256_add_epi32(
        _mm256_srlv_epi32(c, shift),
        _mm256_set1_epi32(classes.bits as i32),
    );
    let sign_bit = _mm256_andnot_si256(_mm256_cmpeq_epi32(s, zero), one);
    let width = _mm256_blendv_epi8(sign_bit, class_bits, is_class);
    // Where each field starts: an exclusive prefix sum of the widths (at
    // most 8 × 30 bits), from the reader's position.
    let mut end = _mm256_add_epi32(width, _mm256_slli_si256::<4>(width));
    end = _mm256_add_epi32(end, _mm256_slli_si256::<8>(end));
    let low_total = _mm256_permutevar8x32_epi32(end, _mm256_set1_epi32(3));
    end = _mm256_add_epi32(end, _mm256_blend_epi32::<0b1111_0000>(zero, low_total));
    let total = _mm256_extract_epi32::<7>(end) as u32;
    let consumed = pass.bits.bits_consumed();
    let data = pass.bits.data();
    let base = usize::try_from(consumed >> 3).ok()?;
    // The fields lie in the 32 bytes from `base`: they start at most 7 +
    // 7 × 30 bits in and end before bit 7 + 8 × 30 = 247. (Near the
    // stream's end, the scalar path.)
    let window = data.get(base..)?.first_chunk::<32>()?;
    // SAFETY: `window` is 32 bytes.
    let window = unsafe { _mm256_loadu_si256(window.as_ptr().cast()) };
    let at = _mm256_add_epi32(
        _mm256_sub_epi32(end, width),
        _mm256_set1_epi32((consumed & 7) as i32),
    );
    // A field's bits, least significant first: from bit `at % 32` of the
    // window's 32-bit word `at / 32` on into the next word.
    let word = _mm256_srli_epi32::<5>(at);
    let bit = _mm256_and_si256(at, _mm256_set1_epi32(31));
    let this_word = _mm256_srlv_epi32(_mm256_permutevar8x32_epi32(window, word), bit);
    let next_word = _mm256_sllv_epi32(
        _mm256_permutevar8x32_epi32(window, _mm256_add_epi32(word, one)),
        _mm256_sub_epi32(_mm256_set1_epi32(32), bit),
    );
    let field = _mm256_and_si256(
        _mm256_or_si256(this_word, next_word),
        _mm256_sub_epi32(_mm256_sllv_epi32(one, width), one),
    );
    // |k|: a direct symbol is it; a class symbol gives the high bits and
    // the field the `raw` bits below, then the sign.
    let raw = _mm256_and_si256(is_class, _mm256_sub_epi32(class_bits, one));
    let top = _mm256_and_si256(c, _mm256_set1_epi32(((1u32 << classes.shift) - 1) as i32));
    let high = _mm256_or_si256(
        _mm256_sllv_epi32(one, _mm256_add_epi32(raw, shift)),
        _mm256_sllv_epi32(top, raw),
    );
    let a = _mm256_or_si256(
        _mm256_blendv_epi8(s, high, is_class),
        _mm256_and_si256(field, _mm256_sub_epi32(_mm256_sllv_epi32(one, raw), one)),
    );
    let negative = _mm256_sub_epi32(zero, _mm256_and_si256(_mm256_srlv_epi32(field, raw), one));
    // The parity (a large index's is its lowest raw bit) moves the state.
    let parity = _mm256_and_si256(_mm256_blendv_epi8(s, field, is_class), one);
    let next = _mm256_or_si256(
        _mm256_slli_epi32::<1>(_mm256_and_si256(_mm256_xor_si256(st, parity), one)),
        q,
    );
    // |level| = 2|k| − q (0 for k = 0), then the sign.
    let m = _mm256_andnot_si256(
        _mm256_cmpeq_epi32(a, zero),
        _mm256_sub_epi32(_mm256_slli_epi32::<1>(a), q),
    );
    let level = _mm256_sub_epi32(_mm256_xor_si256(m, negative), negative);
    // SAFETY: `out` holds 8 i32, 32 bytes.
    unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), level) };
    let packed = _mm256_shuffle_epi8(
        next,
        _mm256_setr_epi8(
            0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 4, 8, 12, -1, -1, -1,
            -1, -1, -1, -1, -1, -1, -1, -1, -1,
        ),
    );
    let lanes_lo = _mm256_extract_epi32::<0>(packed) as u32;
    let lanes_hi = _mm256_extract_epi32::<4>(packed) as u32;
    *states = (u64::from(lanes_lo) | u64::from(lanes_hi) << 32).to_le_bytes();
    pass.bits.skip(u64::from(total));
    Some(())
}

/// The lanes of values `first..first + 8` (`first` a multiple of 8) under
/// quantizer 1 (all ones), from their chains' `states` (none without
/// whole vectors of chains).
///
/// # Safety
/// The CPU must have AVX2.
#[inline]
#[target_feature(enable = "avx2")]
pub(super) fn quantizers<const CHAINS: usize>(states: &[u8; CHAINS], first: usize) -> __m256i {
    let Some(states) = states
        .get(first % CHAINS..)
        .and_then(<[u8]>::first_chunk::<8>)
    else {
        return _mm256_setzero_si256();
    };
    let st = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(i64::from_le_bytes(*states)));
    _mm256_cmpeq_epi32(_mm256_srli_epi32::<1>(st), _mm256_set1_epi32(1))
}
