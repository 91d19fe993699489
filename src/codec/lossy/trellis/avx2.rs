//! The search's forward pass with AVX2: per value, the four candidate
//! indices (each quantizer's even and odd one) are the lanes of one vector,
//! and so are the four states' path costs. Lane for lane it does the
//! operations of [`super::candidates`] and [`super::advance`] (multiplies
//! and adds apart, never fused), so it chooses the same indices; values
//! whose indices reach past the rate table take the scalar step.

use std::arch::x86_64::*;

use super::{step, Back, Rates};

/// Values below this many steps have every candidate index below 256, in
/// the rate table: the largest is `⌊(a + 1) / 2⌋ + 1`.
const VECTOR_LIMIT: f64 = 500.0;

/// [`super::forward_portable`], vectorised.
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn forward<'a>(
    values: impl Iterator<Item = &'a f64>,
    cost: &mut [f64; 4],
    rates: &Rates,
    back: &mut [Back],
) {
    let zero = _mm256_setzero_pd();
    let half = _mm256_set1_pd(0.5);
    let two = _mm256_set1_pd(2.0);
    // Lanes: quantizer 0 even, quantizer 0 odd, quantizer 1 even, odd.
    let plus_q = _mm256_setr_pd(0.0, 0.0, 1.0, 1.0);
    let odd = _mm_setr_epi32(0, 1, 0, 1);
    let one = _mm_set1_epi32(1);
    let even_lanes = _mm256_castsi256_pd(_mm256_setr_epi64x(-1, 0, -1, 0));
    let sign_bit = _mm256_set1_pd(-0.0);
    let mut c = _mm256_loadu_pd(cost.as_ptr());
    for (&r, b) in values.zip(back) {
        let a = r.abs();
        if a.is_nan() || a >= VECTOR_LIMIT {
            c = scalar_step(r, c, &rates.single, b);
            continue;
        }
        let av = _mm256_set1_pd(a);
        // ⌊a / 2⌋ for quantizer 0, ⌊(a + 1) / 2⌋ for quantizer 1; then the
        // even and the odd magnitude next to it.
        let lo = _mm256_cvttpd_epi32(_mm256_mul_pd(_mm256_add_pd(av, plus_q), half));
        let m = _mm_add_epi32(lo, _mm_xor_si128(_mm_and_si128(lo, one), odd));
        let mf = _mm256_cvtepi32_pd(m);
        // Level 2m, less one under quantizer 1 when m > 0.
        let below = _mm256_and_pd(_mm256_cmp_pd::<_CMP_GT_OQ>(mf, zero), plus_q);
        let level = _mm256_sub_pd(_mm256_mul_pd(two, mf), below);
        let e = _mm256_sub_pd(av, level);
        // The four rates at `lo0 + lo1` (lanes 0 and 2 of `lo`).
        let at = _mm_cvtsi128_si32(_mm_add_epi32(lo, _mm_unpackhi_epi64(lo, lo)));
        // (Always in the table for `a` below the limit; a select, not a
        // second way out of the loop, keeps the costs in a register.)
        let quad = rates.quads.get(at as usize).unwrap_or(&[0.0; 4]);
        let rate = _mm256_loadu_pd(quad.as_ptr());
        let mut best = _mm256_add_pd(_mm256_mul_pd(e, e), rate);
        // Zero competes with the even ones.
        let zero_cost = _mm256_set1_pd(r * r + rates.single[0]);
        let take_zero = _mm256_and_pd(_mm256_cmp_pd::<_CMP_LT_OQ>(zero_cost, best), even_lanes);
        best = _mm256_blendv_pd(best, zero_cost, take_zero);
        // Signed like the value, by a mask: a branch on the sign was
        // mispredicted half the time.
        let negative = _mm256_cmp_pd::<_CMP_LT_OQ>(_mm256_set1_pd(r), zero);
        let k = _mm256_xor_pd(
            _mm256_andnot_pd(take_zero, mf),
            _mm256_and_pd(negative, sign_bit),
        );
        // State t comes from states [0, 2, 0, 2][t] with candidate
        // [0, 2, 1, 3][t], or from [1, 3, 1, 3][t] with [1, 3, 0, 2][t].
        let j1 = _mm256_add_pd(
            _mm256_permute4x64_pd::<0b10_00_10_00>(c),
            _mm256_permute4x64_pd::<0b11_01_10_00>(best),
        );
        let j2 = _mm256_add_pd(
            _mm256_permute4x64_pd::<0b11_01_11_01>(c),
            _mm256_permute4x64_pd::<0b10_00_11_01>(best),
        );
        // `min(j2, j1)` is `j2 < j1 ? j2 : j1`, the scalar select, and
        // keeps the comparison off the chain of costs.
        let second = _mm256_cmp_pd::<_CMP_LT_OQ>(j2, j1);
        c = _mm256_min_pd(j2, j1);
        let mut out = [0i32; 4];
        _mm_storeu_si128(out.as_mut_ptr().cast(), _mm256_cvttpd_epi32(k));
        *b = Back {
            ks: out,
            second: _mm256_movemask_pd(second) as u8,
        };
    }
    _mm256_storeu_pd(cost.as_mut_ptr(), c);
}

/// Large, non-finite or NaN values: the scalar step (escapes included).
/// Out of line, so that the loop keeps its costs in a register.
#[cold]
#[inline(never)]
#[target_feature(enable = "avx2")]
unsafe fn scalar_step(r: f64, c: __m256d, rates: &[f64; 256], back: &mut Back) -> __m256d {
    let mut cost = [0.0; 4];
    _mm256_storeu_pd(cost.as_mut_ptr(), c);
    *back = step(r, &mut cost, rates);
    _mm256_loadu_pd(cost.as_ptr())
}

#[cfg(test)]
mod tests {
    use super::super::forward_portable;
    use super::*;

    /// The vector pass and the scalar one give the same indices, ways and
    /// path costs, bit for bit: on ties (values on levels), past the rate
    /// table, on escapes, and from every start state.
    #[test]
    fn avx2_build_gives_the_same_choices() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            eprintln!("skipped: no AVX2");
            return;
        }
        let rates = Rates::new();
        let mut rng = crate::codec::test_rng::Rng(11);
        for round in 0..200 {
            let row: Vec<f64> = (0..300)
                .map(|i| match (i + round) % 7 {
                    0 => rng.below(21) as f64 - 10.0,
                    1 => (rng.unit() - 0.5) * 1200.0,
                    2 if rng.below(40) == 0 => {
                        [f64::NAN, f64::INFINITY, -1e12, 499.99, -0.0][rng.below(5) as usize]
                    }
                    3 => rng.gauss() * 0.3,
                    _ => rng.gauss() * 6.0,
                })
                .collect();
            let start: [f64; 4] =
                std::array::from_fn(|s| if s == round % 4 { 0.0 } else { f64::INFINITY });
            let (mut c1, mut c2) = (start, start);
            let (mut b1, mut b2) = (vec![Back::default(); 300], vec![Back::default(); 300]);
            forward_portable(row.iter(), &mut c1, &rates.single, &mut b1);
            // SAFETY: checked above.
            unsafe { forward(row.iter(), &mut c2, &rates, &mut b2) };
            assert_eq!(c1.map(f64::to_bits), c2.map(f64::to_bits), "round {round}");
            for (i, (x, y)) in b1.iter().zip(&b2).enumerate() {
                assert_eq!(
                    (x.ks, x.second),
                    (y.ks, y.second),
                    "round {round}, value {i}"
                );
            }
        }
    }
}
