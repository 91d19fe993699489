//! Context tables laid out flat: a context number and a lane state find the
//! symbol and its frequency by index arithmetic alone, which is what a SIMD
//! gather needs, and what lets a decoder look a state up in two contexts
//! before it knows which one applies ([`FlatTables::peek`]).
//!
//! Sixteen contexts decode [`WIDE_LANES`]-lane streams through
//! [`ContextTables`].
//!
//! With AVX-512F (detected at run time) the 32 lanes run as two 16-lane
//! vectors, with AVX2 as four 8-lane ones: their dependency chains (two
//! gathers, a multiply, the renormalisation) are independent, so the
//! gathers' latencies overlap. Elsewhere (wasm, other CPUs) the lane steps
//! decode the same layout. All give the symbols of [`RansDecoder::get`]
//! with the same tables, state for state.

#[cfg(target_arch = "x86_64")]
use super::rans::WORD_PAD;
use super::rans::{advance, ContextTables, Lane, RansDecoder, WIDE_LANES};
use super::table::{FreqTable, MAX_PROB_BITS};
use crate::error::{Error, Result};

mod pairs;
#[cfg(test)]
pub(crate) use pairs::LANE_STEPS_ONLY;
pub use pairs::{PairSteps, PAIR_LANES};

/// Contexts of the flat table set that decodes wide streams (a context
/// byte is taken modulo this).
pub const FLAT_CONTEXTS: usize = 16;
/// Largest alphabet of a flat table: symbol entries have a fixed stride of
/// `2^INFO_BITS` per context.
pub const FLAT_ALPHABET: usize = 1 << INFO_BITS;
const INFO_BITS: u32 = 9;
/// A context's parameters pack its `prob_bits` below its first slot.
const PARAM_SHIFT: u32 = 5;

/// The `prob_bits` of a context's packed parameters.
#[inline(always)]
fn prob_bits_of(params: u32) -> u32 {
    (params & ((1 << PARAM_SHIFT) - 1)).min(MAX_PROB_BITS)
}

/// Decode tables of `C` contexts in one layout.
#[derive(Debug, Clone)]
pub struct FlatTables<const C: usize = FLAT_CONTEXTS> {
    /// Every context's slot → symbol map, one after another, then one
    /// entry of padding (a 32-bit gather of the last slot reads 2 bytes
    /// past it).
    slot_sym: Vec<u16>,
    /// `freq | start << 16` of symbol `s` of context `c` at `c << 9 | s`.
    sym_info: Vec<u32>,
    /// Per context: `first slot << 5 | prob_bits`.
    params: [u32; C],
    /// Per context: `prob_bits`, and `2^prob_bits - 1` (unpacked for the
    /// lane steps).
    prob_bits: [u32; C],
    masks: [u32; C],
}

impl<const C: usize> FlatTables<C> {
    /// The tables of `tables[c]` for context `c`. Errors on an alphabet
    /// larger than [`FLAT_ALPHABET`].
    pub fn new(tables: &[FreqTable; C]) -> Result<FlatTables<C>> {
        let slots: usize = tables.iter().map(|t| 1usize << t.prob_bits()).sum();
        let mut slot_sym = Vec::with_capacity(slots + 1);
        let mut sym_info = vec![0u32; C << INFO_BITS];
        let mut params = [0u32; C];
        for ((t, p), info) in tables
            .iter()
            .zip(&mut params)
            .zip(sym_info.chunks_exact_mut(FLAT_ALPHABET))
        {
            if t.alphabet_size() > FLAT_ALPHABET {
                return Err(Error::BadFreqTable("alphabet too large for a flat table"));
            }
            let first = u32::try_from(slot_sym.len())
                .map_err(|_| Error::Internal("flat tables too large"))?;
            *p = first << PARAM_SHIFT | t.prob_bits();
            let mut start = 0u32;
            for ((s, &f), e) in t.freqs().iter().enumerate().zip(info.iter_mut()) {
                slot_sym.resize(slot_sym.len() + f as usize, s as u16);
                *e = f | start << 16;
                start += f;
            }
        }
        // Frequencies sum to `2^prob_bits` (a FreqTable invariant), so every
        // context has exactly its slots; the padding entry follows.
        slot_sym.resize(slots + 1, 0);
        let prob_bits = params.map(prob_bits_of);
        let masks = prob_bits.map(|pb| (1 << pb) - 1);
        Ok(FlatTables {
            slot_sym,
            sym_info,
            params,
            prob_bits,
            masks,
        })
    }

    /// The symbol lane state `x` stands for in context `c % C`, without
    /// moving the lane: a decoder whose context hangs on the previous
    /// symbol looks the state up in every candidate context while that
    /// symbol is still being worked out, then [`FlatTables::take`]s one.
    #[inline(always)]
    pub fn peek(&self, c: usize, x: u32) -> u16 {
        let c = c % C;
        let p = self.params.get(c).copied().unwrap_or(0);
        let slot = x & self.masks.get(c).copied().unwrap_or(0);
        let at = ((p >> PARAM_SHIFT) + slot) as usize;
        self.slot_sym.get(at).copied().unwrap_or(0) & (FLAT_ALPHABET as u16 - 1)
    }

    /// Moves `lane` past `sym`, the symbol [`FlatTables::peek`] gave for
    /// its state in context `c`.
    #[inline(always)]
    pub fn take(&self, c: usize, sym: u16, lane: Lane<'_>) {
        let c = c % C;
        let pb = self.prob_bits.get(c).copied().unwrap_or(0);
        let info = self
            .sym_info
            .get(c << INFO_BITS | usize::from(sym))
            .copied()
            .unwrap_or(0);
        let slot = *lane.x & self.masks.get(c).copied().unwrap_or(0);
        advance(lane.x, slot, pb, info, lane.pos, lane.words);
    }
}

impl<const C: usize> FlatTables<C> {
    /// Whether the SIMD decoders' unchecked reads stay in bounds: a slot
    /// index is a context's first slot plus `x & (2^prob_bits - 1)`, a
    /// symbol entry is `(ctx % C) << 9 | (sym & 511)`, and the words read
    /// from `pos <= len` lie within the stream's padding.
    #[cfg(target_arch = "x86_64")]
    fn gathers_stay_in_bounds<const N: usize>(&self, dec: &RansDecoder<'_, N>) -> bool {
        let slots_ok = self.params.iter().all(|&p| {
            let end = (p >> PARAM_SHIFT) as usize + (1usize << prob_bits_of(p));
            end < self.slot_sym.len()
        });
        slots_ok
            && self.sym_info.len() == self.params.len() << INFO_BITS
            && dec.words.len() >= dec.len + WORD_PAD
    }
}

impl ContextTables<WIDE_LANES> for FlatTables {
    /// Context `ctx % 16`.
    #[inline(always)]
    fn step(&self, ctx: u8, x: &mut u32, pos: &mut usize, words: &[u16]) -> u16 {
        let c = usize::from(ctx);
        let sym = self.peek(c, *x);
        self.take(c, sym, Lane { x, pos, words });
        sym
    }

    /// With AVX-512F or AVX2: 32 lanes in vectors.
    fn groups(&self, dec: &mut RansDecoder<'_, WIDE_LANES>, ctxs: &[u8], out: &mut [u16]) -> usize {
        simd_groups(dec, self, ctxs, out)
    }
}

/// Whole groups decoded with AVX-512F or AVX2 when the CPU has one;
/// returns the symbols done (a multiple of [`WIDE_LANES`]; 0 without).
#[cfg(target_arch = "x86_64")]
fn simd_groups(
    dec: &mut RansDecoder<'_, WIDE_LANES>,
    tables: &FlatTables,
    ctxs: &[u8],
    out: &mut [u16],
) -> usize {
    if std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("popcnt")
    {
        // SAFETY: the CPU has AVX-512F and POPCNT (checked above).
        unsafe { avx512::groups(dec, tables, ctxs, out) }
    } else if std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("popcnt")
    {
        // SAFETY: the CPU has AVX2 and POPCNT (checked above).
        unsafe { avx2::groups(dec, tables, ctxs, out) }
    } else {
        0
    }
}

/// A SIMD whole-group decoder, as [`simd_groups`] (for tests that hold
/// each to the lane steps).
#[cfg(test)]
pub(super) type GroupDecoder =
    unsafe fn(&mut RansDecoder<'_, WIDE_LANES>, &FlatTables, &[u8], &mut [u16]) -> usize;

/// The SIMD whole-group decoders this CPU runs, by name.
#[cfg(test)]
pub(super) fn simd_group_decoders() -> Vec<(&'static str, GroupDecoder)> {
    #[allow(unused_mut)]
    let mut found: Vec<(&'static str, GroupDecoder)> = Vec::new();
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("popcnt") {
        if std::arch::is_x86_feature_detected!("avx2") {
            found.push(("AVX2", avx2::groups));
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            found.push(("AVX-512", avx512::groups));
        }
    }
    found
}

#[cfg(not(target_arch = "x86_64"))]
fn simd_groups(
    _: &mut RansDecoder<'_, WIDE_LANES>,
    _: &FlatTables,
    _: &[u8],
    _: &mut [u16],
) -> usize {
    0
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{FlatTables, FLAT_ALPHABET, INFO_BITS, PARAM_SHIFT, WIDE_LANES};
    use crate::codec::entropy::rans::RansDecoder;

    /// For each 8-bit renormalisation mask, which of the loaded words each
    /// lane takes: lane `l` takes the word after those of the renormalising
    /// lanes below it.
    pub(super) static PICK: [u64; 256] = {
        let mut t = [0u64; 256];
        let mut m = 0;
        while m < 256 {
            let (mut k, mut l) = (0u64, 0);
            while l < 8 {
                t[m] |= k << (8 * l);
                k += (m >> l & 1) as u64;
                l += 1;
            }
            m += 1;
        }
        t
    };

    /// Decodes whole groups of 32 symbols while the stream has words left
    /// (a corrupt stream that runs out goes on in the scalar loop, which
    /// reads zeros). Returns the symbols done.
    ///
    /// # Safety
    /// The CPU must have AVX2 and POPCNT (the renormalising lanes are
    /// counted on the chain to the next vector's words).
    #[target_feature(enable = "avx2,popcnt")]
    pub(super) unsafe fn groups(
        dec: &mut RansDecoder<'_, WIDE_LANES>,
        t: &FlatTables,
        ctxs: &[u8],
        out: &mut [u16],
    ) -> usize {
        if !t.gathers_stay_in_bounds(dec) {
            return 0;
        }
        let words = dec.words.as_slice();
        let (plo, phi) = (
            _mm256_loadu_si256(t.params.as_ptr().cast()),
            _mm256_loadu_si256(t.params.as_ptr().add(8).cast()),
        );
        let one = _mm256_set1_epi32(1);
        let pb_mask = _mm256_set1_epi32((1 << PARAM_SHIFT) - 1);
        let sym_mask = _mm256_set1_epi32(FLAT_ALPHABET as i32 - 1);
        let low16 = _mm256_set1_epi32(0xffff);
        let seven = _mm256_set1_epi32(7);
        let ctx_mask = _mm256_set1_epi32(15);
        let mut x = [_mm256_setzero_si256(); 4];
        for (v, s) in x.iter_mut().zip(dec.states.chunks_exact(8)) {
            *v = _mm256_loadu_si256(s.as_ptr().cast());
        }
        let mut pos = dec.pos;
        let mut done = 0;
        for (cg, og) in ctxs
            .chunks_exact(WIDE_LANES)
            .zip(out.chunks_exact_mut(WIDE_LANES))
        {
            // Each step reads 8 words at `pos` and moves it by at most 8,
            // so four steps from `pos <= len` stay inside the padding.
            if pos > dec.len {
                break;
            }
            for ((v, c8), o8) in x
                .iter_mut()
                .zip(cg.chunks_exact(8))
                .zip(og.chunks_exact_mut(8))
            {
                let c = _mm256_and_si256(
                    _mm256_cvtepu8_epi32(_mm_loadl_epi64(c8.as_ptr().cast())),
                    ctx_mask,
                );
                let p = _mm256_blendv_epi8(
                    _mm256_permutevar8x32_epi32(plo, c),
                    _mm256_permutevar8x32_epi32(phi, c),
                    _mm256_cmpgt_epi32(c, seven),
                );
                let pb = _mm256_and_si256(p, pb_mask);
                let slot = _mm256_and_si256(*v, _mm256_sub_epi32(_mm256_sllv_epi32(one, pb), one));
                let at = _mm256_add_epi32(_mm256_srli_epi32::<PARAM_SHIFT_I>(p), slot);
                let sym = _mm256_and_si256(
                    _mm256_i32gather_epi32::<2>(t.slot_sym.as_ptr().cast(), at),
                    sym_mask,
                );
                let info = _mm256_i32gather_epi32::<4>(
                    t.sym_info.as_ptr().cast(),
                    _mm256_or_si256(_mm256_slli_epi32::<INFO_BITS_I>(c), sym),
                );
                let y = _mm256_add_epi32(
                    _mm256_mullo_epi32(_mm256_and_si256(info, low16), _mm256_srlv_epi32(*v, pb)),
                    _mm256_sub_epi32(slot, _mm256_srli_epi32::<16>(info)),
                );
                let renorm = _mm256_cmpeq_epi32(_mm256_srli_epi32::<16>(y), _mm256_setzero_si256());
                let m = _mm256_movemask_ps(_mm256_castsi256_ps(renorm)) as usize & 0xff;
                let pick = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(PICK[m] as i64));
                let w = _mm256_permutevar8x32_epi32(
                    _mm256_cvtepu16_epi32(_mm_loadu_si128(words.as_ptr().add(pos).cast())),
                    pick,
                );
                pos += m.count_ones() as usize;
                *v = _mm256_blendv_epi8(y, _mm256_or_si256(_mm256_slli_epi32::<16>(y), w), renorm);
                let packed = _mm256_permute4x64_epi64::<0b1000>(_mm256_packus_epi32(sym, sym));
                _mm_storeu_si128(o8.as_mut_ptr().cast(), _mm256_castsi256_si128(packed));
            }
            done += WIDE_LANES;
        }
        for (v, s) in x.iter().zip(dec.states.chunks_exact_mut(8)) {
            _mm256_storeu_si256(s.as_mut_ptr().cast(), *v);
        }
        dec.pos = pos;
        done
    }

    const PARAM_SHIFT_I: i32 = PARAM_SHIFT as i32;
    const INFO_BITS_I: i32 = INFO_BITS as i32;
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{FlatTables, FLAT_ALPHABET, INFO_BITS, PARAM_SHIFT, WIDE_LANES};
    use crate::codec::entropy::rans::RansDecoder;

    /// [`super::avx2::groups`] as two 16-lane vectors: one permute finds
    /// the 16 contexts' parameters, and the renormalising lanes take their
    /// words with one expand instead of a table of shuffles.
    ///
    /// # Safety
    /// The CPU must have AVX-512F and POPCNT.
    #[target_feature(enable = "avx512f,popcnt")]
    pub(super) unsafe fn groups(
        dec: &mut RansDecoder<'_, WIDE_LANES>,
        t: &FlatTables,
        ctxs: &[u8],
        out: &mut [u16],
    ) -> usize {
        if !t.gathers_stay_in_bounds(dec) {
            return 0;
        }
        let words = dec.words.as_slice();
        let (lo, hi) = dec.states.split_at_mut(16);
        // SAFETY: `lo` and `hi` hold 16 u32 each, 64 bytes.
        let (mut x0, mut x1) = unsafe {
            (
                _mm512_loadu_si512(lo.as_ptr().cast()),
                _mm512_loadu_si512(hi.as_ptr().cast()),
            )
        };
        let mut pos = dec.pos;
        let mut done = 0;
        for (cg, og) in ctxs
            .chunks_exact(WIDE_LANES)
            .zip(out.chunks_exact_mut(WIDE_LANES))
        {
            // Each step reads 16 words at `pos` and moves it by at most
            // 16, so two steps from `pos <= len` stay inside the padding.
            if pos > dec.len {
                break;
            }
            let (o0, o1) = og.split_at_mut(16);
            let (Some(c0), Some(c1), Some(o0), Some(o1)) = (
                cg.first_chunk(),
                cg.last_chunk(),
                o0.first_chunk_mut(),
                o1.first_chunk_mut(),
            ) else {
                break;
            };
            // SAFETY: the CPU features and tables checked above, and 16
            // words from `pos` (see above).
            unsafe {
                x0 = step(x0, t, c0, o0, words, &mut pos);
                x1 = step(x1, t, c1, o1, words, &mut pos);
            }
            done += WIDE_LANES;
        }
        // SAFETY: as above.
        unsafe {
            _mm512_storeu_si512(lo.as_mut_ptr().cast(), x0);
            _mm512_storeu_si512(hi.as_mut_ptr().cast(), x1);
        }
        dec.pos = pos;
        done
    }

    /// One symbol in each of 16 lanes with states `x` and contexts `c`,
    /// out to `o`; returns the states.
    ///
    /// # Safety
    /// The CPU must have AVX-512F and POPCNT, `t`'s tables must pass the
    /// checks of [`groups`], and `words` must hold 16 words from `pos`.
    #[inline]
    #[target_feature(enable = "avx512f,popcnt")]
    unsafe fn step(
        x: __m512i,
        t: &FlatTables,
        c: &[u8; 16],
        o: &mut [u16; 16],
        words: &[u16],
        pos: &mut usize,
    ) -> __m512i {
        // SAFETY: `params` holds 16 u32, 64 bytes; `c` 16 bytes.
        let (params, c) = unsafe {
            (
                _mm512_loadu_si512(t.params.as_ptr().cast()),
                _mm_loadu_si128(c.as_ptr().cast()),
            )
        };
        let c = _mm512_and_si512(_mm512_cvtepu8_epi32(c), _mm512_set1_epi32(15));
        let p = _mm512_permutexvar_epi32(c, params);
        let pb = _mm512_and_si512(p, _mm512_set1_epi32((1 << PARAM_SHIFT) - 1));
        let one = _mm512_set1_epi32(1);
        let slot = _mm512_and_si512(x, _mm512_sub_epi32(_mm512_sllv_epi32(one, pb), one));
        let at = _mm512_add_epi32(_mm512_srli_epi32::<PARAM_SHIFT>(p), slot);
        // SAFETY: `at` indexes `slot_sym`, whose padding entry covers the
        // 4-byte read of the last slot.
        let sym = _mm512_and_si512(
            unsafe { _mm512_i32gather_epi32::<2>(at, t.slot_sym.as_ptr().cast()) },
            _mm512_set1_epi32(FLAT_ALPHABET as i32 - 1),
        );
        // SAFETY: `(ctx & 15) << 9 | (sym & 511)` indexes `sym_info`.
        let info = unsafe {
            _mm512_i32gather_epi32::<4>(
                _mm512_or_si512(_mm512_slli_epi32::<INFO_BITS>(c), sym),
                t.sym_info.as_ptr().cast(),
            )
        };
        let y = _mm512_add_epi32(
            _mm512_mullo_epi32(
                _mm512_and_si512(info, _mm512_set1_epi32(0xffff)),
                _mm512_srlv_epi32(x, pb),
            ),
            _mm512_sub_epi32(slot, _mm512_srli_epi32::<16>(info)),
        );
        let renorm = _mm512_cmplt_epu32_mask(y, _mm512_set1_epi32(1 << 16));
        // SAFETY: 16 words from `pos` (the caller's promise); `o` holds 16
        // u16, 32 bytes.
        let w =
            _mm512_cvtepu16_epi32(unsafe { _mm256_loadu_si256(words.as_ptr().add(*pos).cast()) });
        unsafe { _mm256_storeu_si256(o.as_mut_ptr().cast(), _mm512_cvtepi32_epi16(sym)) };
        *pos += renorm.count_ones() as usize;
        _mm512_mask_mov_epi32(
            y,
            renorm,
            _mm512_or_si512(
                _mm512_slli_epi32::<16>(y),
                _mm512_maskz_expand_epi32(renorm, w),
            ),
        )
    }
}
