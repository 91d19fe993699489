//! [`super::encode_indexed`] with AVX2: the lanes of a group are 8-lane
//! vectors of states, each taking its 8 symbols' constants with gathers
//! and emitting its renormalisation words with one store. Vectors go from
//! the group's last to its first and each writes its words from its last
//! lane down, the scalar loop's order, so the stream is the same.

use std::arch::x86_64::*;

use super::{EncSym, EncTable, RansStream, RANS_L};
use crate::codec::entropy::MAX_PROB_BITS;

/// With `prob_bits <= 15`, every renormalisation bound `x_max =
/// freq << (32 - prob_bits)` is a multiple of 2^17, so the low 17 bits of
/// `x_max - 1` are ones and can carry a start below 2^16 instead, and
/// `cmpl` fits in 16 bits (see [`entry`]).
const _: () = assert!(MAX_PROB_BITS <= 15);
const LOW17: i32 = (1 << 17) - 1;

/// For each 8-bit mask of the lanes that keep their state (bit `l` for
/// lane `l`), the bytes of the renormalising lanes' words out of a vector
/// holding lane 7's word first and lane 0's last: those words, in that
/// order, at the front.
static COMPRESS: [[u8; 16]; 256] = {
    let mut t = [[0x80u8; 16]; 256];
    let mut m = 0;
    while m < 256 {
        let (mut k, mut p) = (0, 0);
        while p < 8 {
            if (m >> (7 - p)) & 1 == 0 {
                t[m][k] = 2 * p as u8;
                t[m][k + 1] = 2 * p as u8 + 1;
                k += 2;
            }
            p += 1;
        }
        m += 1;
    }
    t
};

/// One symbol's constants in three gathers rather than five, 16 bytes so
/// that one index vector (shifted by 2) serves every field: see [`entry`].
type Entry = [u32; 4];

/// The [`Entry`] of `e`:
/// - `x_max - 1` with its low 17 bits (ones) replaced by `start`: the
///   bound is the field with those bits set again; 0 for a symbol without
///   a frequency (no coded symbol's is);
/// - the reciprocal `rcp_lo`;
/// - `cmpl << 16 | (shift - 1)`;
/// - unused.
///
/// `q = floor(s / freq)` becomes `t >> (shift - 1)` with `t = hi + ((s -
/// hi) >> 1)` and `hi = floor(s * rcp_lo / 2^32)`: `t` is
/// `floor((hi + s) / 2)` (as `hi <= s`) without the 33-bit sum, and the
/// scalar `q` is `(hi + s) >> shift`. A frequency of 1 (shift 0) takes
/// `rcp_lo = 2^32 - 1`, so that `q = s - 1` for every state `s >= 1` (a
/// renormalised state is at least 2: states are at least 2^16 and
/// renormalise only from `2^(32 - prob_bits) * freq` up), and `start +
/// cmpl` as its start (below 2^16), which adds back the missing `cmpl`.
fn entry(e: &EncSym) -> Entry {
    if !e.is_coded() {
        return [0; 4];
    }
    let (rcp, start, shift) = match e.shift.checked_sub(1) {
        Some(sh) => (e.rcp_lo, e.start, sh),
        None => (u32::MAX, e.start + e.cmpl, 0),
    };
    [
        (e.x_max_m1 & !(LOW17 as u32)) | start,
        rcp,
        (e.cmpl << 16) | shift,
        0,
    ]
}

/// An entry that leaves a state as it is: it never renormalises, and
/// `start` and `cmpl` are zero. It fills the lanes a partial group lacks.
const IDENTITY: Entry = [!(LOW17 as u32), 0, 0, 0];

/// The encoder's tables as one array of [`Entry`], then an entry without
/// a frequency (where indices past the tables go), then [`IDENTITY`].
fn pack(tables: &[EncTable], stride: usize) -> Vec<Entry> {
    // u16 indices: entries past 2^16 are never used.
    let len = tables.len().saturating_mul(stride).min(1 << 16);
    let mut packed = vec![[0; 4]; len + 2];
    if let Some(body) = packed.get_mut(..len).filter(|_| stride > 0) {
        for (row, t) in body.chunks_mut(stride).zip(tables) {
            for (d, e) in row.iter_mut().zip(&t.syms) {
                *d = entry(e);
            }
        }
    }
    if let Some(d) = packed.last_mut() {
        *d = IDENTITY;
    }
    packed
}

/// [`super::encode_indexed_portable`], 8 lanes per vector; `None` where it
/// errs. The partial group (coded first) is a full one whose missing
/// lanes use [`IDENTITY`].
///
/// # Safety
/// The CPU must have AVX2 and POPCNT, and `N` must be a multiple of 8 up to 32.
#[target_feature(enable = "avx2,popcnt")]
pub(super) unsafe fn encode_indexed<const N: usize>(
    tables: &[EncTable],
    stride: usize,
    idx: &[u16],
) -> Option<RansStream<N>> {
    let table = pack(tables, stride);
    let uncoded = table.len() as u32 - 2;
    let n = idx.len();
    // Each vector stores 8 words, of which it keeps up to one per symbol:
    // 8 more than the symbols leaves room for the last store.
    let mut words = vec![0u16; n + 8];
    let mut nw = 0;
    // Lanes `8 * v..8 * v + 8` in `x[v]`; the first `N / 8` are used.
    let mut x = [_mm256_set1_epi32(RANS_L as i32); 4];
    // The lanewise least bound field seen: 0 after an uncoded symbol.
    let mut seen = _mm256_set1_epi32(-1);
    let (groups, tail) = idx.split_at(n - n % N);
    // The partial group first, as in the scalar loop: its symbols in the
    // first lanes, the identity in the others.
    if !tail.is_empty() {
        let mut pad = [uncoded + 1; 32];
        for (p, &i) in pad.iter_mut().zip(tail) {
            *p = u32::from(i).min(uncoded);
        }
        for (v, p) in x.iter_mut().zip(pad.chunks_exact(8)).take(N / 8).rev() {
            // SAFETY: `p` holds 8 u32; its indices are at most
            // `uncoded + 1`, the table's last entry.
            *v = step(
                *v,
                _mm256_loadu_si256(p.as_ptr().cast()),
                &table,
                &mut words,
                &mut nw,
                &mut seen,
            )?;
        }
    }
    let limit = _mm256_set1_epi32(uncoded as i32);
    // Groups as arrays: a constant trip count below, so the loop unrolls
    // and the states stay in registers.
    let groups = groups
        .chunks_exact(N)
        .filter_map(|g| <&[u16; N]>::try_from(g).ok());
    for g in groups.rev() {
        for (v, c) in x.iter_mut().zip(g.chunks_exact(8)).rev() {
            // SAFETY: `c` holds 8 u16, 16 bytes.
            let i = _mm256_cvtepu16_epi32(_mm_loadu_si128(c.as_ptr().cast()));
            // Indices past the tables take the entry without a frequency.
            let i = _mm256_min_epu32(i, limit);
            // SAFETY: the indices are at most `uncoded`, in the table.
            *v = step(*v, i, &table, &mut words, &mut nw, &mut seen)?;
        }
    }
    let bad = _mm256_cmpeq_epi32(seen, _mm256_setzero_si256());
    if _mm256_testz_si256(bad, bad) == 0 {
        return None;
    }
    let mut states = [0u32; N];
    for (v, s) in x.iter().zip(states.chunks_exact_mut(8)) {
        // SAFETY: `s` holds 8 u32, 32 bytes.
        _mm256_storeu_si256(s.as_mut_ptr().cast(), *v);
    }
    words.truncate(nw);
    Some(RansStream { states, words })
}

/// Encodes the symbols of table entries `i` into the 8 states `s`: writes
/// the renormalising lanes' words (lane 7's first) at `words[*nw..]`,
/// advancing `nw`, and lowers `seen` to the entries' bound fields (0 for a
/// symbol without a frequency). `None` if `words` has no room for 8 more
/// words.
///
/// # Safety
/// The CPU must have AVX2 and POPCNT, and every lane of `i` must index `table`.
#[inline]
#[target_feature(enable = "avx2,popcnt")]
unsafe fn step(
    s: __m256i,
    i: __m256i,
    table: &[Entry],
    words: &mut [u16],
    nw: &mut usize,
    seen: &mut __m256i,
) -> Option<__m256i> {
    let base = table.as_ptr().cast::<i32>();
    let at = _mm256_slli_epi32::<2>(i);
    // SAFETY: entry `i` is in `table` (the caller's promise); its fields
    // are the 4 u32 from `base + 4 * i`.
    let (bound_start, rcp, cmpl_shift) = (
        _mm256_i32gather_epi32::<4>(base, at),
        _mm256_i32gather_epi32::<4>(base.add(1), at),
        _mm256_i32gather_epi32::<4>(base.add(2), at),
    );
    *seen = _mm256_min_epu32(*seen, bound_start);
    // Lanes with `s <= x_max - 1` keep their state; the others emit its
    // low half and shift it down.
    let bound = _mm256_or_si256(bound_start, _mm256_set1_epi32(LOW17));
    let keep = _mm256_cmpeq_epi32(_mm256_max_epu32(s, bound), bound);
    let m = (_mm256_movemask_ps(_mm256_castsi256_ps(keep)) & 0xff) as usize;
    // The low halves, lane 7's first: 4 per 128-bit half, then the
    // halves swapped into one.
    let rev = _mm256_setr_epi8(
        12, 13, 8, 9, 4, 5, 0, 1, -1, -1, -1, -1, -1, -1, -1, -1, //
        12, 13, 8, 9, 4, 5, 0, 1, -1, -1, -1, -1, -1, -1, -1, -1,
    );
    let halves = _mm256_permute4x64_epi64::<0b10>(_mm256_shuffle_epi8(s, rev));
    let pick = COMPRESS[m];
    // SAFETY: `pick` is 16 bytes.
    let w = _mm_shuffle_epi8(
        _mm256_castsi256_si128(halves),
        _mm_loadu_si128(pick.as_ptr().cast()),
    );
    // Never `None` with the caller's buffer: 8 more than the symbols.
    let dst = words.get_mut(*nw..*nw + 8)?;
    // SAFETY: `dst` holds 8 u16, 16 bytes.
    _mm_storeu_si128(dst.as_mut_ptr().cast(), w);
    *nw += 8 - m.count_ones() as usize;
    let s = _mm256_srlv_epi32(s, _mm256_andnot_si256(keep, _mm256_set1_epi32(16)));
    // hi = floor(s * rcp / 2^32): even lanes, then odd ones.
    let even = _mm256_mul_epu32(s, rcp);
    let odd = _mm256_mul_epu32(_mm256_srli_epi64::<32>(s), _mm256_srli_epi64::<32>(rcp));
    let hi = _mm256_blend_epi32::<0b1010_1010>(_mm256_srli_epi64::<32>(even), odd);
    let t = _mm256_add_epi32(hi, _mm256_srli_epi32::<1>(_mm256_sub_epi32(s, hi)));
    let q = _mm256_srlv_epi32(t, _mm256_and_si256(cmpl_shift, _mm256_set1_epi32(0xffff)));
    let start = _mm256_and_si256(bound_start, _mm256_set1_epi32(LOW17));
    let qc = _mm256_mullo_epi32(q, _mm256_srli_epi32::<16>(cmpl_shift));
    Some(_mm256_add_epi32(_mm256_add_epi32(s, start), qc))
}

#[cfg(test)]
mod tests {
    use super::super::{encode_indexed_portable, LANES, WIDE_LANES};
    use super::*;
    use crate::codec::entropy::{FreqTable, MIN_PROB_BITS};
    use crate::codec::test_rng::Rng;

    /// Frequencies summing to `2^pb` over `alphabet` symbols, some unused:
    /// uniform, one near the maximum among ones, or random and skewed.
    fn random_table(rng: &mut Rng, alphabet: usize) -> FreqTable {
        let pb = MIN_PROB_BITS + rng.below(u64::from(MAX_PROB_BITS - MIN_PROB_BITS + 1)) as u32;
        let m = 1u64 << pb;
        let used = (1 + rng.below(alphabet as u64)).min(m) as usize;
        let mut freqs = vec![0u32; alphabet];
        let mut syms: Vec<usize> = (0..alphabet).collect();
        for k in 0..used {
            let j = k + rng.below((alphabet - k) as u64) as usize;
            syms.swap(k, j);
        }
        let syms = &syms[..used];
        match rng.below(3) {
            0 => {
                for (k, &s) in syms.iter().enumerate() {
                    freqs[s] = (m / used as u64) as u32 + u32::from((k as u64) < m % used as u64);
                }
            }
            1 => {
                for &s in syms {
                    freqs[s] = 1;
                }
                freqs[syms[0]] = (m - used as u64 + 1) as u32;
            }
            _ => {
                let mut counts = vec![0u64; alphabet];
                for &s in syms {
                    counts[s] = 1 + (rng.next() >> (34 + rng.below(30)));
                }
                return FreqTable::from_counts(&counts, pb).unwrap();
            }
        }
        FreqTable::from_freqs(freqs, pb).unwrap()
    }

    /// `n` indices: a random context each, then its symbol drawn by
    /// frequency (`skewed`) or uniformly among the coded ones (rare
    /// symbols and renormalisations often).
    fn random_indices(
        rng: &mut Rng,
        tables: &[FreqTable],
        stride: usize,
        n: usize,
        skewed: bool,
    ) -> Vec<u16> {
        let coded: Vec<Vec<usize>> = tables
            .iter()
            .map(|t| (0..t.alphabet_size()).filter(|&s| t.freq(s) > 0).collect())
            .collect();
        (0..n)
            .map(|_| {
                let k = rng.below(tables.len() as u64) as usize;
                let t = &tables[k];
                let s = if skewed {
                    let mut slot = rng.below(1 << t.prob_bits()) as u32;
                    let mut s = 0;
                    while slot >= t.freq(s) {
                        slot -= t.freq(s);
                        s += 1;
                    }
                    s
                } else {
                    coded[k][rng.below(coded[k].len() as u64) as usize]
                };
                (k * stride + s) as u16
            })
            .collect()
    }

    /// Both encoders' results, which must agree: the same states and words,
    /// or both an error.
    fn check<const N: usize>(tables: &[EncTable], stride: usize, idx: &[u16]) -> bool {
        let scalar = encode_indexed_portable::<N>(tables, stride, idx);
        // SAFETY: the callers check for AVX2 and POPCNT; N is 8 or 32.
        let simd = unsafe { encode_indexed::<N>(tables, stride, idx) };
        match (scalar, simd) {
            (Ok(a), Some(b)) => {
                assert_eq!(a.states, b.states, "states, N {N}, n {}", idx.len());
                assert_eq!(a.words, b.words, "words, N {N}, n {}", idx.len());
                true
            }
            (Err(_), None) => false,
            (a, b) => panic!("scalar {:?}, AVX2 {:?}", a.is_ok(), b.is_some()),
        }
    }

    /// The AVX2 encoder makes the scalar one's stream bit for bit, and
    /// errs where it does, for 8 and 32 lanes: random tables of every
    /// precision (frequencies 1 and near the maximum, single-symbol ones),
    /// up to 20 contexts (beyond 2^16 entries), lengths from 0 through the
    /// partial group sizes to 100k, and indices naming a symbol without a
    /// frequency or past the tables.
    #[test]
    fn avx2_encoder_gives_the_scalar_stream() {
        if !(std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("popcnt"))
        {
            eprintln!("skipped: no AVX2 or POPCNT");
            return;
        }
        let mut rng = Rng(17);
        for round in 0..60 {
            let stride = [2usize, 17, 300, 512, 4096][round % 5];
            // Beyond 2^16 entries with the widest stride.
            let contexts = match stride {
                4096 => 17 + rng.below(4) as usize,
                _ => 1 + rng.below(20) as usize,
            };
            let tables: Vec<FreqTable> = (0..contexts)
                .map(|_| {
                    let alphabet = 1 + rng.below(stride as u64) as usize;
                    random_table(&mut rng, alphabet)
                })
                .collect();
            let enc: Vec<EncTable> = tables.iter().map(EncTable::new).collect();
            let usable = tables.len().min(65536 / stride);
            let tables = &tables[..usable];
            for n in [
                0,
                1,
                7,
                8,
                9,
                31,
                32,
                33,
                64,
                65,
                1000,
                rng.below(5000) as usize,
            ] {
                let idx = random_indices(&mut rng, tables, stride, n, round % 2 == 0);
                assert!(check::<LANES>(&enc, stride, &idx));
                assert!(check::<WIDE_LANES>(&enc, stride, &idx));
                if n == 0 {
                    continue;
                }
                // A symbol without a frequency (past a table's alphabet
                // or of frequency 0) or an index past the tables, in the
                // partial group or a full one.
                let k = rng.below(usable as u64) as usize;
                let t = &tables[k];
                let bad = (0..stride)
                    .find(|&s| t.freq(s) == 0)
                    .map(|s| k * stride + s);
                let past = contexts * stride + rng.below(3) as usize;
                for b in bad.into_iter().chain(Some(past).filter(|&p| p < 65536)) {
                    let mut idx = idx.clone();
                    idx[rng.below(n as u64) as usize] = b as u16;
                    assert!(!check::<LANES>(&enc, stride, &idx));
                    assert!(!check::<WIDE_LANES>(&enc, stride, &idx));
                }
            }
            if round % 10 == 0 {
                let idx = random_indices(&mut rng, tables, stride, 100_000, round % 20 == 0);
                assert!(check::<LANES>(&enc, stride, &idx));
                assert!(check::<WIDE_LANES>(&enc, stride, &idx));
            }
        }
    }
}
