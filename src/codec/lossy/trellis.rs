//! Dependent quantization (trellis-coded quantization with four states, as
//! in VVC): two scalar quantizers whose levels interleave, `Q0 = {2k}` and
//! `Q1 = {2k − sgn k}` (in units of the step), and a state machine driven
//! by the parity of each index picks which one codes the next value of its
//! chain (one chain, or one per rANS lane: see [`quantize`]). The encoder
//! chooses the indices with a Viterbi search over squared error plus an
//! estimate of their rate, which buys about 0.85 dB (0.14 bit/weight) over
//! plain scalar quantization at the same rate; the decoder only follows the
//! states.

use super::values;
use crate::safetensors::Dtype;

#[cfg(target_arch = "x86_64")]
mod avx2;

/// The state after an index of parity `parity` (its low bit) in `state`.
/// States 0 and 1 use `Q0`, states 2 and 3 use `Q1`; as a table,
/// `[[0, 2], [2, 0], [1, 3], [3, 1]]`. Written as arithmetic so the
/// decoder's serial chain has no load: the high bit is the state's low bit
/// xor the parity, the low bit is the state's high bit.
#[inline(always)]
pub fn next_state(state: u8, parity: u8) -> u8 {
    (((state ^ parity) & 1) << 1) | ((state >> 1) & 1)
}

/// `INTO[t]`: the (state, index parity) pairs that lead to state `t`.
const INTO: [[(u8, usize); 2]; 4] = [
    [(0, 0), (1, 1)],
    [(2, 0), (3, 1)],
    [(0, 1), (1, 0)],
    [(2, 1), (3, 0)],
];

/// Weight of the rate estimate against squared error (in step² units).
const LAMBDA: f64 = 0.06;
/// Indices at or beyond this magnitude escape (see the symbol alphabet).
const LIMIT: f64 = (1u64 << 30) as f64;

/// The quantizer a state uses.
#[inline(always)]
pub fn quantizer(state: u8) -> u8 {
    state >> 1
}

/// Reconstruction of index `k` under quantizer `q` (0 or 1), in units of
/// the step.
#[inline(always)]
pub fn level(k: i64, q: u8) -> f64 {
    // `2k − q·sgn k` as a product: a branch on the quantizer was
    // mispredicted half the time in the coding pass.
    2.0 * k as f64 - (i64::from(q) * k.signum()) as f64
}

/// Rough bits of an index: zero is cheap, larger magnitudes cost about
/// log2 of themselves plus a sign. Only steers the search.
#[inline(always)]
fn rate(table: &[f64; 256], k: i64) -> f64 {
    let a = k.unsigned_abs();
    match table.get(a as usize) {
        Some(&r) => r,
        None => rate_beyond_table(a),
    }
}

/// [`rate`] of magnitudes past the table: rare, and kept out of line so
/// the search loop's registers are not spent on `log2`.
#[cold]
#[inline(never)]
fn rate_beyond_table(a: u64) -> f64 {
    LAMBDA * (1.7 + 1.6 * crate::codec::math::log2((a + 1) as f64))
}

/// `LAMBDA × rate(|k|)` for small `|k|`.
fn rate_table() -> [f64; 256] {
    std::array::from_fn(|a| {
        LAMBDA
            * if a == 0 {
                0.6
            } else {
                1.7 + 1.6 * crate::codec::math::log2((a + 1) as f64)
            }
    })
}

/// The rates the search looks up: per magnitude, and per value the four
/// candidates' at once.
struct Rates {
    single: [f64; 256],
    /// The rates of the four candidates ([`Back::ks`] order) of a value
    /// whose quantizers' lower magnitudes are `lo0 = ⌊a/2⌋` and
    /// `lo1 = ⌊(a+1)/2⌋` (`lo0` or `lo0 + 1`), at `lo0 + lo1`: the AVX2
    /// step loads them at once instead of gathering four.
    #[cfg(target_arch = "x86_64")]
    quads: Vec<[f64; 4]>,
}

impl Rates {
    fn new() -> Rates {
        let single = rate_table();
        #[cfg(target_arch = "x86_64")]
        let quads = (0..2 * 256i64)
            .map(|i| {
                let (lo0, lo1) = (i / 2, i / 2 + i % 2);
                let [even0, odd0] = [lo0 + (lo0 & 1), lo0 + 1 - (lo0 & 1)];
                let [even1, odd1] = [lo1 + (lo1 & 1), lo1 + 1 - (lo1 & 1)];
                [even0, odd0, even1, odd1].map(|m| rate(&single, m))
            })
            .collect();
        Rates {
            single,
            #[cfg(target_arch = "x86_64")]
            quads,
        }
    }
}

/// Cost (squared error + weighted rate) of the index of magnitude `m`
/// under quantizer `q` for a value of magnitude `a` (in steps). Levels are
/// odd-symmetric, so the sign of the value and of the index cancel: this
/// is exactly the cost of the signed index for the signed value.
#[inline(always)]
fn magnitude_cost(a: f64, m: i64, q: u8, rates: &[f64; 256]) -> f64 {
    let e = a - level(m, q);
    e * e + rate(rates, m)
}

/// The cheapest index of each parity under each quantizer for `r` (in
/// steps), with its cost: the two levels around `|r|`, signed, and zero.
/// Of the two levels one is odd and one even; zero competes with the even
/// one. Written with selects only: which candidate wins is random, and
/// mispredicted branches were most of the search's time.
#[inline(always)]
fn candidates(r: f64, rates: &[f64; 256]) -> [[(f64, i32); 2]; 2] {
    let a = r.abs();
    let sign = if r < 0.0 { -1 } else { 1 };
    let zero = r * r + rate(rates, 0);
    let mut best = [[(0.0, 0); 2]; 2];
    for (q, slot) in best.iter_mut().enumerate() {
        let q = q as u8;
        let half = if q == 0 { a / 2.0 } else { (a + 1.0) / 2.0 };
        let lo = half as i64; // a ≥ 0: truncation is floor
        let (m_even, m_odd) = (lo + (lo & 1), lo + 1 - (lo & 1));
        let c_even = magnitude_cost(a, m_even, q, rates);
        let c_odd = magnitude_cost(a, m_odd, q, rates);
        let take_zero = zero < c_even;
        slot[0] = (
            if take_zero { zero } else { c_even },
            if take_zero { 0 } else { (sign * m_even) as i32 },
        );
        slot[1] = (c_odd, (sign * m_odd) as i32);
    }
    best
}

/// One trellis step: from the path costs into each state before a value
/// (`cost`), the costs after it, the candidate indices, and per state
/// whether the path came by its second way in ([`INTO`]).
#[inline(always)]
fn advance(cost: &[f64; 4], best: &[[(f64, i32); 2]; 2]) -> ([f64; 4], Back) {
    let mut next = [0.0; 4];
    let [[(_, k0), (_, k1)], [(_, k2), (_, k3)]] = *best;
    let mut back = Back {
        ks: [k0, k1, k2, k3],
        second: 0,
    };
    for (t, ways) in INTO.iter().enumerate() {
        let [(s1, p1), (s2, p2)] = *ways;
        let (m1, _) = best[usize::from(quantizer(s1))][p1];
        let (m2, _) = best[usize::from(quantizer(s2))][p2];
        let j1 = cost[usize::from(s1)] + m1;
        let j2 = cost[usize::from(s2)] + m2;
        // The cheaper way in; the first on a tie.
        let second = j2 < j1;
        next[t] = if second { j2 } else { j1 };
        back.second |= u8::from(second) << t;
    }
    (next, back)
}

/// Per value, what the trace-back needs: the candidate indices, by
/// quantizer and parity (`2q + p`; all `ESCAPE` when the value escaped),
/// and, as bit `t`, whether state `t` was entered by its second way in.
/// (Candidates rather than each state's index: sorting them by state cost
/// the search a third of its shuffles.)
#[derive(Clone, Copy, Default)]
struct Back {
    ks: [i32; 4],
    second: u8,
}

/// The candidate ([`Back::ks`]) that the path into state `t` took: by
/// [`INTO`], `[0, 2, 1, 3][t]` by the first way in, `[1, 3, 0, 2][t]` by
/// the second.
#[inline(always)]
fn taken(back: &Back, t: usize) -> usize {
    let way = usize::from((back.second >> (t & 3)) & 1);
    (((t & 1) << 1) | ((t >> 1) & 1)) ^ way
}

/// An index the search chose, in 4 bytes (a chunk's indices are a pass
/// of their own over memory: as `Option<i64>` they took 16).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Index(i32);

impl Index {
    /// The index, or `None` when the value escapes and keeps its bits.
    #[inline(always)]
    pub fn get(self) -> Option<i64> {
        (!self.is_escape()).then_some(i64::from(self.0))
    }

    /// Whether the value escapes.
    #[inline(always)]
    pub fn is_escape(self) -> bool {
        self.0 == ESCAPE
    }

    /// [`level`] of the index under quantizer `q`, as an integer (of an
    /// escape: some number). `|2k| < 2^30` (see `LIMIT`).
    #[inline(always)]
    pub fn level(self, q: u8) -> i32 {
        let k = self.0;
        k.wrapping_mul(2).wrapping_sub(i32::from(q) * k.signum())
    }
}

/// Marks an escaped value in [`Back::ks`]; no index reaches it (see `LIMIT`).
const ESCAPE: i32 = i32::MIN;

/// The state before a value, given the state after it: of [`INTO`]`[t]`,
/// whose ways in come from states `2·(t & 1)` and `2·(t & 1) + 1`, the one
/// taken. Arithmetic rather than a table: the trace-back is a chain of
/// these, and a load on it cost a tenth of the search.
#[inline(always)]
fn predecessor(back: &Back, t: usize) -> usize {
    let way = usize::from((back.second >> (t & 3)) & 1);
    ((t & 1) << 1) | way
}

/// The state with the lowest path cost (the first on a tie). Out of line,
/// for the same reason as the costs' initialisation.
#[inline(never)]
fn cheapest_state(cost: [f64; 4]) -> usize {
    (0..4)
        .min_by(|&a, &b| cost[a].total_cmp(&cost[b]))
        .unwrap_or(0)
}

/// The search's forward pass over one chain's values in a span (`scaled`:
/// the span's values in steps, of which every `stride`-th from `first`):
/// from the path costs into each state before them, the costs after, and
/// each value's [`Back`]. With AVX2 (detected at run time)
/// a value's four candidates and four states are one vector each; the
/// same IEEE operations in the same order, so the same bits.
fn forward(
    scaled: &[f64],
    (first, stride): (usize, usize),
    cost: &mut [f64; 4],
    rates: &Rates,
    back: &mut [Back],
) {
    let values = scaled.iter().skip(first).step_by(stride.max(1));
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        unsafe { avx2::forward(values, cost, rates, back) };
        return;
    }
    forward_portable(values, cost, &rates.single, back);
}

/// [`forward`] in scalar code: on wasm and CPUs without AVX2, and the
/// reference the AVX2 pass is tested against.
fn forward_portable<'a>(
    values: impl Iterator<Item = &'a f64>,
    cost: &mut [f64; 4],
    rates: &[f64; 256],
    back: &mut [Back],
) {
    for (&r, b) in values.zip(back) {
        *b = step(r, cost, rates);
    }
}

/// One value of the forward pass.
#[inline(always)]
fn step(r: f64, cost: &mut [f64; 4], rates: &[f64; 256]) -> Back {
    if r.is_nan() || r.abs() >= LIMIT / 2.0 - 2.0 {
        // Escape (non-finite or huge): the state passes through.
        Back {
            ks: [ESCAPE; 4],
            second: 0,
        }
    } else {
        let (next, b) = advance(cost, &candidates(r, rates));
        *cost = next;
        b
    }
}

/// Values searched together: the search runs over spans of this many
/// (its memory is bounded by them), and each chain's path is cut at its
/// cheapest state at a span's end.
const SPAN: usize = 1 << 15;

/// Indices of one chunk ([`Index::get`] is `None` where the value escapes
/// and keeps its bits; it leaves the state unchanged) and the quantizer
/// each value used.
///
/// Value `i` belongs to chain `i % chains` (`chains` a power of two up to
/// 64), whose state starts at 0 and runs on through the chain's values
/// only. Chains that are a stream's rANS lanes let a decoder follow the
/// states of a vector of lanes side by side instead of as one serial chain;
/// quantization gains the same (the search needs a sequence, not
/// neighbours). Not inlined: the search loop's code then does not depend
/// on its callers'.
#[inline(never)]
pub fn quantize(dtype: Dtype, data: &[u8], step: f64, chains: usize) -> (Vec<Index>, Vec<u8>) {
    let chains = chains.clamp(1, 64).next_power_of_two();
    let w = dtype.size();
    let n = data.len() / w;
    let mut ks = vec![Index(ESCAPE); n];
    let mut qs = vec![0u8; n];
    let rates = Rates::new();
    let span = SPAN;
    let per_chain = span / chains;
    let mut scaled: Vec<f64> = Vec::with_capacity(span.min(n));
    // Written over span after span (every entry of a chain is written).
    let mut back_buf = vec![Back::default(); per_chain.min(n)];
    let mut states = vec![0u8; chains];
    let outs = ks.chunks_mut(span).zip(qs.chunks_mut(span));
    for (values_in, (ks, qs)) in data.chunks(span * w).zip(outs) {
        values::map_into(dtype, values_in, &mut scaled, |x| x / step);
        // `span` is a multiple of `chains`: chain `c` is every
        // `chains`-th value from `c`.
        for (c, state) in states.iter_mut().enumerate() {
            let count = (scaled.len() + chains - 1 - c) / chains;
            let back = back_buf.get_mut(..count).unwrap_or_default();
            // Paths start in `state`. (Indexing the costs by a variable
            // would keep them in memory for the whole loop.)
            let mut cost: [f64; 4] = std::array::from_fn(|s| {
                if s == usize::from(*state) {
                    0.0
                } else {
                    f64::INFINITY
                }
            });
            forward(&scaled, (c, chains), &mut cost, &rates, back);
            // Trace back from the cheapest end state.
            let cheapest = cheapest_state(cost);
            let mut s = cheapest;
            // (An index stepped down, not reversed zipped strides: those
            // walked each stride from its start again.)
            let mut at = c + back.len() * chains;
            for b in back.iter().rev() {
                at -= chains;
                let k = b.ks.get(taken(b, s)).copied().unwrap_or(ESCAPE);
                // An escape keeps the state: the same state holds before
                // it. (An escaped value is `ESCAPE` in every state; asking
                // state 0 keeps the loaded index off the chain of states.)
                let prev = if b.ks[0] == ESCAPE {
                    s
                } else {
                    predecessor(b, s)
                };
                if let (Some(ko), Some(qo)) = (ks.get_mut(at), qs.get_mut(at)) {
                    *ko = Index(k);
                    *qo = quantizer(prev as u8);
                }
                s = prev;
            }
            *state = cheapest as u8;
        }
    }
    (ks, qs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_interleave() {
        let q0: Vec<f64> = (-2..=2).map(|k| level(k, 0)).collect();
        let q1: Vec<f64> = (-2..=2).map(|k| level(k, 1)).collect();
        assert_eq!(q0, [-4.0, -2.0, 0.0, 2.0, 4.0]);
        assert_eq!(q1, [-3.0, -1.0, 0.0, 1.0, 3.0]);
    }

    /// The coding pass's integer level is the search's, up to the largest
    /// index that does not escape.
    #[test]
    fn integer_levels_are_levels() {
        let top = (LIMIT / 4.0) as i32;
        let ks = (-1000..=1000).chain([top, -top, top - 1, 1 - top]);
        for k in ks {
            for q in [0, 1] {
                assert_eq!(
                    f64::from(Index(k).level(q)),
                    level(i64::from(k), q),
                    "k = {k}"
                );
            }
        }
        assert!(Index(ESCAPE).is_escape() && !Index(0).is_escape());
    }

    /// The transition table of the dependent quantizer (VVC's).
    const NEXT: [[u8; 2]; 4] = [[0, 2], [2, 0], [1, 3], [3, 1]];

    #[test]
    fn next_state_is_the_table() {
        for state in 0..4u8 {
            for parity in 0..2u8 {
                assert_eq!(
                    next_state(state, parity),
                    NEXT[usize::from(state)][usize::from(parity)]
                );
            }
        }
    }

    /// `advance` is the Viterbi step over the [`INTO`] table: each state
    /// takes the cheaper of its two ways in (the first on a tie), and
    /// [`predecessor`] finds the way it took.
    #[test]
    fn advance_follows_the_table() {
        let mut rng = crate::codec::test_rng::Rng(5);
        for _ in 0..2000 {
            // Small whole numbers make ties common.
            let mut pick = || (rng.below(6) as f64, rng.below(9) as i32 - 4);
            let best = [[pick(), pick()], [pick(), pick()]];
            let cost: [f64; 4] = std::array::from_fn(|_| rng.below(6) as f64);
            let (next, back) = advance(&cost, &best);
            for (t, ways) in INTO.iter().enumerate() {
                let j = ways.map(|(s, p)| {
                    let (m, k) = best[usize::from(quantizer(s))][p];
                    (cost[usize::from(s)] + m, k, usize::from(s))
                });
                let way = usize::from(j[1].0 < j[0].0);
                assert_eq!(next[t], j[way].0);
                assert_eq!(back.ks[taken(&back, t)], j[way].1);
                assert_eq!(predecessor(&back, t), j[way].2);
            }
        }
    }

    /// `candidates` works on magnitudes, with selects; it must give
    /// exactly what the plain signed formulation gives: the two levels
    /// around `r`, the even one against zero.
    #[test]
    fn candidates_match_the_signed_formulation() {
        let rates = rate_table();
        let reference = |r: f64| {
            let sign = if r < 0.0 { -1 } else { 1 };
            let zero = r * r + rate(&rates, 0);
            let mut best = [[(0.0, 0); 2]; 2];
            for q in 0..2u8 {
                let a = r.abs();
                let lo = (if q == 0 { a / 2.0 } else { (a + 1.0) / 2.0 }) as i64;
                let cost = |k: i64| {
                    let e = r - level(k, q);
                    e * e + rate(&rates, k)
                };
                let (k_lo, k_hi) = (sign * lo, sign * (lo + 1));
                let ((k_even, m_even), (k_odd, m_odd)) = if lo % 2 == 0 {
                    ((k_lo, cost(k_lo)), (k_hi, cost(k_hi)))
                } else {
                    ((k_hi, cost(k_hi)), (k_lo, cost(k_lo)))
                };
                best[usize::from(q)] = [
                    if zero < m_even {
                        (zero, 0)
                    } else {
                        (m_even, k_even as i32)
                    },
                    (m_odd, k_odd as i32),
                ];
            }
            best
        };
        let mut rng = crate::codec::test_rng::Rng(6);
        for i in 0..20_000 {
            let r = match i % 4 {
                0 => rng.below(9) as f64 - 4.0, // on a level
                1 => (rng.unit() - 0.5) * 4.0,
                2 => (rng.unit() - 0.5) * 600.0, // past the rate table
                _ => -0.0,
            };
            let (got, want) = (candidates(r, &rates), reference(r));
            for (g, w) in got.iter().flatten().zip(want.iter().flatten()) {
                assert_eq!((g.0.to_bits(), g.1), (w.0.to_bits(), w.1), "r = {r}");
            }
        }
    }

    /// Each value's quantizer is its chain's state, which its chain's
    /// earlier indices set, across spans; escapes keep the state.
    #[test]
    fn states_follow_parity_along_each_chain() {
        let mut rng = crate::codec::test_rng::Rng(8);
        let n = 2 * SPAN + 37;
        let data: Vec<u8> = (0..n)
            .map(|i| match i % 1001 {
                6 => f32::NAN,
                _ => ((rng.unit() - 0.5) * 20.0) as f32,
            })
            .flat_map(|x| x.to_le_bytes())
            .collect();
        for chains in [1, 16] {
            let (ks, qs) = quantize(Dtype::F32, &data, 0.5, chains);
            assert_eq!((ks.len(), qs.len()), (n, n));
            let mut states = [0u8; 16];
            let mut odd = [0usize; 2];
            for (i, (k, q)) in ks.iter().zip(&qs).enumerate() {
                let state = &mut states[i % chains];
                assert_eq!(*q, quantizer(*state), "value {i}");
                if let Some(k) = k.get() {
                    *state = NEXT[usize::from(*state)][(k & 1) as usize];
                    odd[usize::from(*q)] += (k & 1) as usize;
                }
            }
            assert_eq!(ks[6].get(), None, "NaN escapes");
            // Both quantizers were used, and odd indices under each.
            assert!(odd.iter().all(|&o| o > n / 10), "{odd:?}");
        }
    }
}
