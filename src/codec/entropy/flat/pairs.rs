//! Decoding where each value's context is one of a pair, `t` or `t + 1`,
//! picked by the values before it (as dependent quantization picks its
//! quantizer by the parity of an earlier index).
//!
//! Lane by lane, each lane state is looked up in both contexts before the
//! pick is known (so the lookup is off the chain of picks), then moved
//! past the picked symbol. When the picks are known ahead — each lane
//! carrying its own state, moved by its own values — streams of
//! [`PAIR_LANES`] lanes run with AVX2 as four vectors of 8 lanes whose
//! dependency chains (three gathers, a multiply, the renormalisation)
//! overlap, and a vector's 8 values are handed over together, to be worked
//! out in vectors too. Both paths give the same values, state for state.

use super::FlatTables;
use crate::codec::entropy::rans::{Lane, LaneSteps, RansDecoder, LANES};

/// Lanes of the streams the SIMD pair decoder runs: four AVX2 vectors.
pub const PAIR_LANES: usize = VECTORS * LANES;
/// AVX2 vectors of a [`PAIR_LANES`]-lane stream.
const VECTORS: usize = 4;

#[cfg(test)]
thread_local! {
    /// Set by tests that hold the SIMD path to the lane steps: this
    /// thread's pair decoders then take the lane steps alone.
    pub(crate) static LANE_STEPS_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The per-value work of a [`FlatTables::pair_steps`] decoder.
pub trait PairSteps {
    /// Whether each value's pick is known before its symbol is (as when
    /// each lane carries its own state, moved by that lane's values
    /// alone): the SIMD path runs only then, through
    /// [`PairSteps::picks_ahead`] and [`PairSteps::take_lanes`].
    const PICKS_AHEAD: bool = false;

    /// Value `i`, whose lane state reads `s0` in its first context and
    /// `s1` in the second: works the value out and says which applies
    /// (`false`: the first). Called once per value, in order.
    fn pick(&mut self, i: usize, s0: u16, s1: u16) -> bool;

    /// The picks of values `first..first + LANES` (`first` a multiple of
    /// [`LANES`]) as a lane mask (all ones: the second context), before
    /// their symbols are looked up. Only called when
    /// [`PairSteps::PICKS_AHEAD`].
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn picks_ahead(&self, _first: usize) -> std::arch::x86_64::__m256i {
        // SAFETY: the caller's promise.
        unsafe { std::arch::x86_64::_mm256_setzero_si256() }
    }

    /// Values `first..first + LANES`, whose picks [`PairSteps::picks_ahead`]
    /// gave, with their picked symbols `s` (lane `l` for value `first +
    /// l`): works them out as [`PairSteps::pick`] would (given `s` as both
    /// symbols), in vectors; or returns `false` having done nothing, and
    /// they go through [`PairSteps::pick`] one by one.
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn take_lanes(&mut self, _first: usize, _s: std::arch::x86_64::__m256i) -> bool {
        false
    }
}

impl<const C: usize> FlatTables<C> {
    /// Decodes values `0..n` (at most `B`) from `dec`, value `i` in context
    /// `ctxs[i]` or `ctxs[i] + 1` (modulo `C`), as `f` picks.
    pub fn pair_steps<F: PairSteps, const N: usize, const B: usize>(
        &self,
        dec: &mut RansDecoder<'_, N>,
        ctxs: &[u8; B],
        n: usize,
        f: &mut F,
    ) {
        let n = n.min(B);
        let done = simd_pairs(self, dec, ctxs, n, f);
        dec.steps(
            n - done,
            &mut ScalarPairs {
                tables: self,
                ctxs,
                first: done,
                f,
            },
        );
    }
}

/// The lane-by-lane path: both lookups, the pick, then the move.
struct ScalarPairs<'a, F, const C: usize, const B: usize> {
    tables: &'a FlatTables<C>,
    ctxs: &'a [u8; B],
    /// The value of step 0.
    first: usize,
    f: &'a mut F,
}

impl<F: PairSteps, const C: usize, const B: usize> LaneSteps for ScalarPairs<'_, F, C, B> {
    #[inline(always)]
    fn step(&mut self, i: usize, lane: Lane<'_>) {
        let i = self.first + i;
        // `i < B`: the modulo only spares the bounds check.
        let t = usize::from(self.ctxs[i % B]);
        let x = lane.state();
        let (s0, s1) = (self.tables.peek(t, x), self.tables.peek(t + 1, x));
        if self.f.pick(i, s0, s1) {
            self.tables.take(t + 1, s1, lane);
        } else {
            self.tables.take(t, s0, lane);
        }
    }
}

/// Whole groups from lane 0 with AVX2 when the CPU has it and the stream
/// has [`PAIR_LANES`] lanes; returns the values done (a multiple of
/// [`PAIR_LANES`]; 0 otherwise).
fn simd_pairs<F: PairSteps, const N: usize, const C: usize, const B: usize>(
    t: &FlatTables<C>,
    dec: &mut RansDecoder<'_, N>,
    ctxs: &[u8; B],
    n: usize,
    f: &mut F,
) -> usize {
    #[cfg(test)]
    if LANE_STEPS_ONLY.with(std::cell::Cell::get) {
        return 0;
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("popcnt")
    {
        // SAFETY: the CPU has AVX2 and POPCNT (checked above).
        return unsafe { avx2::pairs(t, dec, ctxs, n, f) };
    }
    let _ = (t, dec, ctxs, n, f);
    0
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::super::{FlatTables, FLAT_ALPHABET, INFO_BITS, PARAM_SHIFT};
    use super::{PairSteps, PAIR_LANES, VECTORS};
    use crate::codec::entropy::rans::{RansDecoder, LANES};

    const _: () = assert!(LANES == 8, "8 lanes per AVX2 vector");

    /// See [`super::simd_pairs`]: per vector of 8 lanes, the states are
    /// looked up in the picked contexts (two gathers), the values worked
    /// out, and the symbols move the states (a gather, a multiply, the
    /// renormalisation as in [`super::super::avx2::groups`]).
    ///
    /// # Safety
    /// The CPU must have AVX2 and POPCNT.
    #[target_feature(enable = "avx2,popcnt")]
    pub(super) unsafe fn pairs<F: PairSteps, const N: usize, const C: usize, const B: usize>(
        t: &FlatTables<C>,
        dec: &mut RansDecoder<'_, N>,
        ctxs: &[u8; B],
        n: usize,
        f: &mut F,
    ) -> usize {
        // Contexts are taken modulo C by a mask, and entries are found at
        // `ctx << 9 | sym` in 32-bit arithmetic.
        const { assert!(C.is_power_of_two() && C <= 1 << (31 - INFO_BITS)) };
        if !F::PICKS_AHEAD
            || N != PAIR_LANES
            || !dec.lane.is_multiple_of(N)
            || !t.gathers_stay_in_bounds(dec)
        {
            return 0;
        }
        let words = dec.words.as_slice();
        let len = dec.len;
        let Some(states) = dec.states.first_chunk_mut::<PAIR_LANES>() else {
            return 0;
        };
        let mut x = [_mm256_setzero_si256(); VECTORS];
        for (x, s) in x.iter_mut().zip(states.chunks_exact(LANES)) {
            // SAFETY: `s` holds 8 u32, 32 bytes.
            *x = unsafe { _mm256_loadu_si256(s.as_ptr().cast()) };
        }
        let mut pos = dec.pos;
        let mut done = 0;
        for group in ctxs.get(..n).unwrap_or(&[]).chunks_exact(PAIR_LANES) {
            // Each vector reads 8 words at `pos` and moves it by at most 8:
            // from `pos <= len` two stay inside the padding.
            if pos > len {
                break;
            }
            for (v, (x, ctx)) in x.iter_mut().zip(group.chunks_exact(LANES)).enumerate() {
                // SAFETY: the CPU features, `gathers_stay_in_bounds`, 8
                // context bytes and 8 words from `pos` (see above).
                unsafe { *x = vector(t, *x, ctx, done + LANES * v, f, words, &mut pos) };
            }
            done += PAIR_LANES;
        }
        for (x, s) in x.iter().zip(states.chunks_exact_mut(LANES)) {
            // SAFETY: as above.
            unsafe { _mm256_storeu_si256(s.as_mut_ptr().cast(), *x) };
        }
        dec.pos = pos;
        done
    }

    /// Values `first..first + 8`, in the 8 lanes with states `x` and first
    /// contexts `ctx`; returns the states after them.
    ///
    /// # Safety
    /// The CPU must have AVX2 and POPCNT, `t`'s tables must pass
    /// `gathers_stay_in_bounds`, `ctx` must hold 8 bytes and `words` 8
    /// words from `pos`.
    #[inline]
    #[target_feature(enable = "avx2,popcnt")]
    unsafe fn vector<F: PairSteps, const C: usize>(
        t: &FlatTables<C>,
        x: __m256i,
        ctx: &[u8],
        first: usize,
        f: &mut F,
        words: &[u16],
        pos: &mut usize,
    ) -> __m256i {
        let one = _mm256_set1_epi32(1);
        let ctx_mask = _mm256_set1_epi32(C as i32 - 1);
        let pb_mask = _mm256_set1_epi32((1 << PARAM_SHIFT) - 1);
        let sym_mask = _mm256_set1_epi32(FLAT_ALPHABET as i32 - 1);
        let params = t.params.as_ptr().cast::<i32>();
        let slot_sym = t.slot_sym.as_ptr().cast::<i32>();
        // SAFETY (every unchecked read): the caller's promises; contexts
        // are below C (masked), symbols below 512 (masked).
        unsafe {
            let c0 = _mm256_and_si256(
                _mm256_cvtepu8_epi32(_mm_loadl_epi64(ctx.as_ptr().cast())),
                ctx_mask,
            );
            let c1 = _mm256_and_si256(_mm256_add_epi32(c0, one), ctx_mask);
            let c = _mm256_blendv_epi8(c0, c1, f.picks_ahead(first));
            let p = _mm256_i32gather_epi32::<4>(params, c);
            let pb = _mm256_and_si256(p, pb_mask);
            let slot = _mm256_and_si256(x, _mm256_sub_epi32(_mm256_sllv_epi32(one, pb), one));
            let at = _mm256_add_epi32(_mm256_srli_epi32::<PARAM_SHIFT_I>(p), slot);
            let sym = _mm256_and_si256(_mm256_i32gather_epi32::<2>(slot_sym, at), sym_mask);
            if !f.take_lanes(first, sym) {
                one_by_one(f, first, sym);
            }
            let info = _mm256_i32gather_epi32::<4>(
                t.sym_info.as_ptr().cast(),
                _mm256_or_si256(_mm256_slli_epi32::<INFO_BITS_I>(c), sym),
            );
            let y = _mm256_add_epi32(
                _mm256_mullo_epi32(
                    _mm256_and_si256(info, _mm256_set1_epi32(0xffff)),
                    _mm256_srlv_epi32(x, pb),
                ),
                _mm256_sub_epi32(slot, _mm256_srli_epi32::<16>(info)),
            );
            let renorm = _mm256_cmpeq_epi32(_mm256_srli_epi32::<16>(y), _mm256_setzero_si256());
            let m = _mm256_movemask_ps(_mm256_castsi256_ps(renorm)) as usize & 0xff;
            let pick = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(super::super::avx2::PICK[m] as i64));
            let w = _mm256_permutevar8x32_epi32(
                _mm256_cvtepu16_epi32(_mm_loadu_si128(words.as_ptr().add(*pos).cast())),
                pick,
            );
            *pos += m.count_ones() as usize;
            _mm256_blendv_epi8(y, _mm256_or_si256(_mm256_slli_epi32::<16>(y), w), renorm)
        }
    }

    /// Values `first..first + 8` through [`PairSteps::pick`], their
    /// symbols `s` as both candidates.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn one_by_one<F: PairSteps>(f: &mut F, first: usize, s: __m256i) {
        let mut syms = [0u32; LANES];
        // SAFETY: `syms` holds 8 u32, 32 bytes.
        unsafe { _mm256_storeu_si256(syms.as_mut_ptr().cast(), s) };
        for (l, &s) in syms.iter().enumerate() {
            f.pick(first + l, s as u16, s as u16);
        }
    }

    const PARAM_SHIFT_I: i32 = PARAM_SHIFT as i32;
    const INFO_BITS_I: i32 = INFO_BITS as i32;
}
