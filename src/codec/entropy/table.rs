//! Static frequency tables: normalization of counts to `1 << prob_bits`,
//! exact cost evaluation and a compact serialization.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::bits::{get_gamma, put_gamma, BitReader, BitWriter};
use crate::error::{Error, Result};

/// Largest alphabet a table may describe.
pub const MAX_ALPHABET: usize = 4096;
/// Smallest accepted `prob_bits`.
pub const MIN_PROB_BITS: u32 = 10;
/// Largest accepted `prob_bits` (frequencies then fit in 16 bits, and the
/// rANS state bound `L = 2^16` stays a multiple of `M`).
pub const MAX_PROB_BITS: u32 = 15;

/// A static model: `freqs[s] / 2^prob_bits` is the probability of symbol `s`;
/// the frequencies sum to exactly `1 << prob_bits`. Symbols with frequency 0
/// cannot be coded. A table always has at least one symbol with a nonzero
/// frequency (there is no "empty" table: building one from all-zero counts
/// is an error, since there is nothing to code with it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreqTable {
    prob_bits: u32,
    freqs: Vec<u32>,
}

/// Max-heap key for the greedy normalizer (ties broken by symbol index so
/// the result is deterministic across platforms).
struct Cand {
    key: f64,
    sym: usize,
}
impl PartialEq for Cand {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Cand {}
impl PartialOrd for Cand {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Cand {
    fn cmp(&self, o: &Self) -> Ordering {
        self.key
            .total_cmp(&o.key)
            .then_with(|| o.sym.cmp(&self.sym))
    }
}

/// Bits saved by raising `f` to `f + 1` for a symbol seen `c` times.
#[inline]
fn inc_gain(c: f64, f: u32) -> f64 {
    c * crate::codec::math::log2_step(f)
}
/// Bits lost by lowering `f` to `f - 1` (infinite if that would reach 0).
#[inline]
fn dec_loss(c: f64, f: u32) -> f64 {
    if f <= 1 {
        f64::INFINITY
    } else {
        c * crate::codec::math::log2_step(f - 1)
    }
}

fn check_prob_bits(prob_bits: u32) -> Result<()> {
    if (MIN_PROB_BITS..=MAX_PROB_BITS).contains(&prob_bits) {
        Ok(())
    } else {
        Err(Error::BadFreqTable("prob_bits outside 10..=15"))
    }
}

impl FreqTable {
    /// Builds the table minimising the coded size of exactly these counts:
    /// every symbol with a nonzero count gets a frequency >= 1, the others 0.
    ///
    /// Method: round `c * M / total` to nearest (min 1), fix the sum with a
    /// greedy on the marginal cost (`c * log2(f'/f)`), then swap single
    /// units while that strictly lowers the cost. The cost is separable and
    /// convex in each frequency, so the final exchange-optimal point is the
    /// integer optimum (up to the swap cap, never reached in practice).
    ///
    /// Errors: empty or > [`MAX_ALPHABET`] counts, all counts zero, bad
    /// `prob_bits`, or more used symbols than `1 << prob_bits`.
    pub fn from_counts(counts: &[u64], prob_bits: u32) -> Result<FreqTable> {
        check_prob_bits(prob_bits)?;
        if counts.is_empty() || counts.len() > MAX_ALPHABET {
            return Err(Error::BadFreqTable("alphabet size outside 1..=4096"));
        }
        let m = 1u32 << prob_bits;
        let total: u128 = counts.iter().map(|&c| u128::from(c)).sum();
        if total == 0 {
            return Err(Error::BadFreqTable("all counts are zero"));
        }
        // Canonical form: the alphabet ends at the last used symbol, so a
        // serialized table has exactly one valid encoding.
        let last_used = counts.iter().rposition(|&c| c > 0).map_or(0, |i| i + 1);
        let counts = counts.get(..last_used).unwrap_or(counts);
        let used = counts.iter().filter(|&&c| c > 0).count();
        if used > m as usize {
            return Err(Error::BadFreqTable("more used symbols than 1 << prob_bits"));
        }
        let mut freqs = vec![0u32; counts.len()];
        let mut sum: u64 = 0;
        for (f, &c) in freqs.iter_mut().zip(counts) {
            if c > 0 {
                // round(c * m / total), at least 1; <= m since c <= total.
                let r = (u128::from(c) * u128::from(m) * 2 + total) / (total * 2);
                *f = (r as u32).max(1);
                sum += u64::from(*f);
            }
        }
        let cf: Vec<f64> = counts.iter().map(|&c| c as f64).collect();

        // Phase 1: make the sum exact, one unit at a time, cheapest first.
        match sum.cmp(&u64::from(m)) {
            Ordering::Greater => {
                let mut heap: BinaryHeap<Cand> = (0..freqs.len())
                    .filter(|&s| freqs[s] > 1)
                    .map(|s| Cand {
                        key: -dec_loss(cf[s], freqs[s]),
                        sym: s,
                    })
                    .collect();
                while sum > u64::from(m) {
                    // `used <= m` guarantees a symbol with f > 1 exists.
                    let Some(Cand { sym, .. }) = heap.pop() else {
                        return Err(Error::BadFreqTable("normalization failed"));
                    };
                    freqs[sym] -= 1;
                    sum -= 1;
                    if freqs[sym] > 1 {
                        heap.push(Cand {
                            key: -dec_loss(cf[sym], freqs[sym]),
                            sym,
                        });
                    }
                }
            }
            Ordering::Less => {
                let mut heap: BinaryHeap<Cand> = (0..freqs.len())
                    .filter(|&s| freqs[s] > 0)
                    .map(|s| Cand {
                        key: inc_gain(cf[s], freqs[s]),
                        sym: s,
                    })
                    .collect();
                while sum < u64::from(m) {
                    let Some(Cand { sym, .. }) = heap.pop() else {
                        return Err(Error::BadFreqTable("normalization failed"));
                    };
                    freqs[sym] += 1;
                    sum += 1;
                    heap.push(Cand {
                        key: inc_gain(cf[sym], freqs[sym]),
                        sym,
                    });
                }
            }
            Ordering::Equal => {}
        }

        // Phase 2: move single units from the cheapest donor to the most
        // profitable receiver while it helps (rounding + the min-1 rule can
        // leave a few such pairs).
        for _ in 0..256 {
            let mut best_inc = (0.0f64, usize::MAX);
            let mut best_dec = (f64::INFINITY, usize::MAX);
            for s in 0..freqs.len() {
                let f = freqs[s];
                if f == 0 {
                    continue;
                }
                let g = inc_gain(cf[s], f);
                if g > best_inc.0 {
                    best_inc = (g, s);
                }
                let l = dec_loss(cf[s], f);
                if l < best_dec.0 {
                    best_dec = (l, s);
                }
            }
            let (g, i) = best_inc;
            let (l, d) = best_dec;
            if i == usize::MAX || d == usize::MAX || i == d || g <= l * (1.0 + 1e-12) + 1e-12 {
                break;
            }
            freqs[i] += 1;
            freqs[d] -= 1;
        }
        Ok(FreqTable { prob_bits, freqs })
    }

    /// Wraps already-normalized frequencies (validated like [`FreqTable::read`]).
    pub fn from_freqs(freqs: Vec<u32>, prob_bits: u32) -> Result<FreqTable> {
        check_prob_bits(prob_bits)?;
        if freqs.is_empty() || freqs.len() > MAX_ALPHABET {
            return Err(Error::BadFreqTable("alphabet size outside 1..=4096"));
        }
        let sum: u64 = freqs.iter().map(|&f| u64::from(f)).sum();
        if sum != 1u64 << prob_bits {
            return Err(Error::BadFreqTable(
                "frequencies don't sum to 1 << prob_bits",
            ));
        }
        Ok(FreqTable { prob_bits, freqs })
    }

    /// Uniform-as-possible table over `alphabet` symbols (all usable).
    pub fn uniform(alphabet: usize, prob_bits: u32) -> Result<FreqTable> {
        let counts = vec![1u64; alphabet];
        Self::from_counts(&counts, prob_bits)
    }

    /// The table for `counts` at whichever of `precisions` minimises its
    /// serialized size plus the coded size of `counts`; appends the
    /// serialization to `out` and returns the table and the coded bits.
    pub fn cheapest(
        counts: &[u64],
        precisions: &[u32],
        out: &mut Vec<u8>,
    ) -> Result<(FreqTable, f64)> {
        let mut best: Option<(f64, f64, FreqTable, Vec<u8>)> = None;
        for &bits in precisions {
            let Ok(t) = FreqTable::from_counts(counts, bits) else {
                continue;
            };
            let mut bytes = Vec::new();
            t.write(&mut bytes);
            let coded = t.cost_bits(counts);
            let total = coded + 8.0 * bytes.len() as f64;
            if best.as_ref().is_none_or(|b| total < b.0) {
                best = Some((total, coded, t, bytes));
            }
        }
        let (_, coded, table, bytes) =
            best.ok_or(Error::BadFreqTable("no precision fits the counts"))?;
        out.extend_from_slice(&bytes);
        Ok((table, coded))
    }

    pub fn prob_bits(&self) -> u32 {
        self.prob_bits
    }

    /// Number of symbols the table covers (used or not).
    pub fn alphabet_size(&self) -> usize {
        self.freqs.len()
    }

    pub fn freqs(&self) -> &[u32] {
        &self.freqs
    }

    /// Frequency of `sym` (0 if unused or outside the alphabet).
    pub fn freq(&self, sym: usize) -> u32 {
        self.freqs.get(sym).copied().unwrap_or(0)
    }

    /// Number of symbols with a nonzero frequency.
    pub fn used_symbols(&self) -> usize {
        self.freqs.iter().filter(|&&f| f > 0).count()
    }

    /// Ideal code length in bits of `counts` under this table:
    /// `sum c_s * (prob_bits - log2 f_s)`. Infinite if a counted symbol has
    /// frequency 0 or lies outside the alphabet. rANS output matches this to
    /// a small fraction of a percent plus its fixed flush cost.
    pub fn cost_bits(&self, counts: &[u64]) -> f64 {
        let mut bits = 0.0;
        let pb = f64::from(self.prob_bits);
        for (s, &c) in counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            let f = self.freq(s);
            if f == 0 {
                return f64::INFINITY;
            }
            bits += c as f64 * (pb - crate::codec::math::log2_int(f));
        }
        bits
    }

    /// Appends the compact serialization (see the module docs of
    /// `codec::entropy` for the exact format). Always a whole number of bytes.
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut w = BitWriter::new();
        w.put(self.freqs.len() as u64 - 1, 12);
        w.put(u64::from(self.prob_bits - MIN_PROB_BITS), 3);
        let used = self.used_symbols();
        put_gamma(&mut w, used as u32);
        let all_used = used == self.freqs.len();
        let mut next = 0usize; // first symbol not yet described
        let mut prev_len = INITIAL_LEN;
        let mut seen = 0usize;
        for (s, &f) in self.freqs.iter().enumerate() {
            if f == 0 {
                continue;
            }
            if !all_used {
                put_gamma(&mut w, (s - next + 1) as u32);
            }
            next = s + 1;
            seen += 1;
            if seen == used {
                break; // the last frequency is implied by the sum
            }
            let len = 32 - f.leading_zeros(); // 1..=16
            let d = len as i32 - prev_len as i32;
            let zz = ((d << 1) ^ (d >> 31)) as u32;
            put_gamma(&mut w, zz + 1);
            w.put(u64::from(f), len - 1);
            prev_len = len;
        }
        out.extend_from_slice(&w.finish());
    }

    /// Parses a table written by [`FreqTable::write`] and advances `input`
    /// past it. Validates everything; never allocates more than
    /// [`MAX_ALPHABET`] entries and never reads past `input`.
    pub fn read(input: &mut &[u8]) -> Result<FreqTable> {
        let data: &[u8] = input;
        let mut r = BitReader::new(data);
        let alphabet = r.get(12) as usize + 1;
        let prob_bits = r.get(3) as u32 + MIN_PROB_BITS;
        check_prob_bits(prob_bits)?;
        let m = 1u64 << prob_bits;
        let used = get_gamma(&mut r, 13)? as usize;
        if used > alphabet || used as u64 > m {
            return Err(Error::BadFreqTable("more used symbols than the alphabet"));
        }
        let all_used = used == alphabet;
        let mut freqs = vec![0u32; alphabet];
        let mut next = 0usize;
        let mut prev_len = INITIAL_LEN;
        let mut sum = 0u64;
        for k in 0..used {
            if r.overrun() {
                return Err(Error::BadFreqTable("truncated"));
            }
            let s = if all_used {
                next
            } else {
                next + get_gamma(&mut r, 13)? as usize - 1
            };
            let slot = freqs
                .get_mut(s)
                .ok_or(Error::BadFreqTable("symbol outside the alphabet"))?;
            next = s + 1;
            let f = if k + 1 == used {
                if sum >= m {
                    return Err(Error::BadFreqTable("frequencies exceed 1 << prob_bits"));
                }
                m - sum
            } else {
                let zz = get_gamma(&mut r, 6)? - 1;
                let d = (zz >> 1) as i32 ^ -((zz & 1) as i32);
                let len = prev_len as i32 + d;
                if !(1..=16).contains(&len) {
                    return Err(Error::BadFreqTable("frequency length out of range"));
                }
                let len = len as u32;
                prev_len = len;
                (1u64 << (len - 1)) | r.get(len - 1)
            };
            sum += f;
            if sum > m || (k + 1 < used && sum >= m) {
                return Err(Error::BadFreqTable("frequencies exceed 1 << prob_bits"));
            }
            *slot = f as u32;
        }
        if r.overrun() {
            return Err(Error::BadFreqTable("truncated"));
        }
        if !r.padding_is_zero() {
            return Err(Error::BadFreqTable("padding bits are not zero"));
        }
        if freqs.last().is_some_and(|&f| f == 0) {
            return Err(Error::BadFreqTable(
                "alphabet extends past the last used symbol",
            ));
        }
        if sum != m {
            return Err(Error::BadFreqTable(
                "frequencies don't sum to 1 << prob_bits",
            ));
        }
        let n = r.bytes_consumed() as usize;
        *input = data.get(n..).ok_or(Error::BadFreqTable("truncated"))?;
        Ok(FreqTable { prob_bits, freqs })
    }
}

/// Bit length the first frequency is delta-coded against.
const INITIAL_LEN: u32 = 8;

#[cfg(test)]
mod tests {
    use super::*;

    fn brute_opt_cost(counts: &[u64], pb: u32) -> f64 {
        // Greedy from all-ones is exactly optimal for separable concave gain.
        let m = 1u32 << pb;
        let mut f: Vec<u32> = counts.iter().map(|&c| u32::from(c > 0)).collect();
        let mut sum: u32 = f.iter().sum();
        while sum < m {
            let (mut bi, mut bg) = (0, -1.0);
            for s in 0..f.len() {
                if f[s] > 0 {
                    let g = inc_gain(counts[s] as f64, f[s]);
                    if g > bg {
                        bg = g;
                        bi = s;
                    }
                }
            }
            f[bi] += 1;
            sum += 1;
        }
        FreqTable {
            prob_bits: pb,
            freqs: f,
        }
        .cost_bits(counts)
    }

    #[test]
    fn normalization_is_optimal_on_small_cases() {
        let mut seed = 7u64;
        for trial in 0..200 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let n = 1 + (seed >> 40) as usize % 40;
            let counts: Vec<u64> = (0..n)
                .map(|i| {
                    let h = (seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
                        .wrapping_mul(0xff51_afd7_ed55_8ccd);
                    let h = h >> 33;
                    match trial % 3 {
                        0 => h % 1000,
                        1 => (h % 4) * (h % 4) * (h % 4) * 300 / (1 + i as u64 * i as u64),
                        _ => (1u64 << (h % 30)) % 1_000_000,
                    }
                })
                .collect();
            if counts.iter().all(|&c| c == 0) {
                continue;
            }
            let t = FreqTable::from_counts(&counts, 10).unwrap();
            assert_eq!(t.freqs.iter().map(|&f| u64::from(f)).sum::<u64>(), 1024);
            for (c, f) in counts.iter().zip(&t.freqs) {
                assert_eq!(*c > 0, *f > 0);
            }
            let got = t.cost_bits(&counts);
            let opt = brute_opt_cost(&counts, 10);
            assert!(
                got <= opt * (1.0 + 1e-9) + 1e-6,
                "got {got} opt {opt} {counts:?}"
            );
        }
    }

    #[test]
    fn errors() {
        assert!(FreqTable::from_counts(&[0, 0, 0], 14).is_err());
        assert!(FreqTable::from_counts(&[], 14).is_err());
        assert!(FreqTable::from_counts(&[1; 4097], 14).is_err());
        assert!(FreqTable::from_counts(&[1; 4096], 11).is_err());
        assert!(FreqTable::from_counts(&[1; 2048], 11).is_ok());
        assert!(FreqTable::from_counts(&[1, 2], 9).is_err());
        assert!(FreqTable::from_counts(&[1, 2], 16).is_err());
        assert!(FreqTable::from_freqs(vec![1, 2], 10).is_err());
        assert!(FreqTable::from_freqs(vec![1000, 24], 10).is_ok());
    }

    #[test]
    fn cost_bits_exact() {
        let t = FreqTable::from_freqs(vec![512, 256, 256, 0], 10).unwrap();
        assert_eq!(t.cost_bits(&[4, 2, 2, 0]), 4.0 + 4.0 + 4.0);
        assert_eq!(t.cost_bits(&[0, 0, 0, 1]), f64::INFINITY);
        assert_eq!(t.cost_bits(&[0, 0, 0, 0, 3]), f64::INFINITY);
        assert_eq!(t.cost_bits(&[]), 0.0);
    }

    #[test]
    fn huge_counts_dont_overflow() {
        let t = FreqTable::from_counts(&[u64::MAX, u64::MAX, 1], 15).unwrap();
        assert_eq!(t.freqs.iter().sum::<u32>(), 1 << 15);
        assert_eq!(t.freqs[2], 1);
    }

    fn round_trip(t: &FreqTable) -> usize {
        let mut out = vec![];
        t.write(&mut out);
        let n = out.len();
        out.extend_from_slice(&[0xAB, 0xCD]);
        let mut inp: &[u8] = &out;
        let back = FreqTable::read(&mut inp).unwrap();
        assert_eq!(&back, t);
        assert_eq!(inp, &[0xAB, 0xCD]);
        n
    }

    #[test]
    fn serialization_round_trip_and_size() {
        // Single symbol, full alphabet, sparse, max alphabet.
        round_trip(&FreqTable::from_counts(&[0, 0, 5], 10).unwrap());
        round_trip(&FreqTable::from_counts(&[5], 15).unwrap());
        round_trip(&FreqTable::uniform(256, 14).unwrap());
        round_trip(&FreqTable::uniform(4096, 15).unwrap());
        let mut c = vec![0u64; 4096];
        c[4095] = 3;
        c[0] = 1;
        round_trip(&FreqTable::from_counts(&c, 12).unwrap());
        // Typical: 100 used symbols out of 4096, geometric-ish around a mode.
        let mut c = vec![0u64; 4096];
        for i in 0..100usize {
            let d = (i as f64 - 40.0).abs();
            c[1000 + i * 3] = (1e6 * (0.8f64).powf(d)) as u64 + 1;
        }
        let t = FreqTable::from_counts(&c, 14).unwrap();
        let n = round_trip(&t);
        assert!(n < 100 * 2, "{n} bytes for 100 used symbols");
        // Skewed over a byte alphabet, all used.
        let c: Vec<u64> = (0..256)
            .map(|i| 1 + (1e7 * (0.9f64).powi(i)) as u64)
            .collect();
        let t = FreqTable::from_counts(&c, 14).unwrap();
        let n = round_trip(&t);
        assert!(n < 256 * 2, "{n}");
    }

    #[test]
    fn read_rejects_corruption() {
        let c: Vec<u64> = (0..300)
            .map(|i| {
                if i % 3 == 0 {
                    0
                } else {
                    1 + (1e5 * (0.97f64).powi(i)) as u64
                }
            })
            .collect();
        let t = FreqTable::from_counts(&c, 13).unwrap();
        let mut out = vec![];
        t.write(&mut out);
        // Every strict prefix is rejected.
        for k in 0..out.len() {
            let mut inp = &out[..k];
            assert!(FreqTable::read(&mut inp).is_err(), "prefix {k} accepted");
        }
        // prob_bits codes 6 and 7 are invalid.
        for pbc in [6u64, 7] {
            let mut w = BitWriter::new();
            w.put(255, 12);
            w.put(pbc, 3);
            put_gamma(&mut w, 1);
            let b = w.finish();
            assert!(FreqTable::read(&mut &b[..]).is_err());
        }
        // More used symbols than the alphabet.
        let mut w = BitWriter::new();
        w.put(3, 12);
        w.put(0, 3);
        put_gamma(&mut w, 5);
        let b = w.finish();
        assert!(FreqTable::read(&mut &b[..]).is_err());
        // Gap past the alphabet end.
        let mut w = BitWriter::new();
        w.put(3, 12);
        w.put(0, 3);
        put_gamma(&mut w, 1);
        put_gamma(&mut w, 5);
        let b = w.finish();
        assert!(FreqTable::read(&mut &b[..]).is_err());
        // Explicit frequencies summing to M leave nothing for the last symbol.
        let mut w = BitWriter::new();
        w.put(1, 12);
        w.put(0, 3);
        put_gamma(&mut w, 2);
        put_gamma(&mut w, (11 - 8) * 2 + 1); // len 11 -> f = 1024
        w.put(0, 10);
        let b = w.finish();
        assert!(FreqTable::read(&mut &b[..]).is_err());
        // Random bit flips never panic; accepted tables are valid.
        let mut seed = 99u64;
        for _ in 0..20000 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let mut b = out.clone();
            let nflip = 1 + (seed >> 60) as usize % 3;
            for j in 0..nflip {
                let bit = ((seed >> (j * 16)) as usize) % (b.len() * 8);
                b[bit / 8] ^= 1 << (bit % 8);
            }
            if let Ok(t2) = FreqTable::read(&mut &b[..]) {
                assert_eq!(
                    t2.freqs.iter().map(|&f| u64::from(f)).sum::<u64>(),
                    1 << t2.prob_bits
                );
                assert!(t2.freqs.len() <= MAX_ALPHABET);
            }
        }
        // Arbitrary garbage.
        for len in 0..64 {
            for k in 0..50u64 {
                let b: Vec<u8> = (0..len)
                    .map(|i| (k.wrapping_mul(31).wrapping_add(i as u64 * 77) >> 1) as u8)
                    .collect();
                let _ = FreqTable::read(&mut &b[..]);
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn prop_table_round_trip(counts in proptest::collection::vec(proptest::prop_oneof![
                3 => proptest::strategy::Just(0u64), 3 => 0u64..10, 2 => 0u64..100000, 1 => proptest::num::u64::ANY], 1..600),
                pb in 10u32..=15) {
            match FreqTable::from_counts(&counts, pb) {
                Ok(t) => {
                    proptest::prop_assert_eq!(t.freqs.iter().map(|&f| u64::from(f)).sum::<u64>(), 1u64 << pb);
                    for (c, f) in counts.iter().zip(&t.freqs) { proptest::prop_assert_eq!(*c > 0, *f > 0); }
                    round_trip(&t);
                }
                Err(_) => proptest::prop_assert!(counts.iter().all(|&c| c == 0) || counts.iter().filter(|&&c| c > 0).count() > 1 << pb),
            }
        }
    }
}
