//! Dependent quantization (trellis-coded quantization with four states, as
//! in VVC): two scalar quantizers whose levels interleave, `Q0 = {2k}` and
//! `Q1 = {2k − sgn k}` (in units of the step), and a state machine driven
//! by the parity of each index picks which one codes the next value. The
//! encoder chooses the indices of a whole row with a Viterbi search over
//! squared error plus an estimate of their rate, which buys about 0.85 dB
//! (0.14 bit/weight) over plain scalar quantization at the same rate; the
//! decoder only follows the states.

use super::values;
use crate::safetensors::Dtype;

/// `NEXT[state][k & 1]`; states 0 and 1 use `Q0`, states 2 and 3 use `Q1`.
pub const NEXT: [[u8; 2]; 4] = [[0, 2], [2, 0], [1, 3], [3, 1]];

/// Weight of the rate estimate against squared error (in step² units).
const LAMBDA: f64 = 0.06;
/// Indices at or beyond this magnitude escape (see the symbol alphabet).
const LIMIT: f64 = (1u64 << 30) as f64;

/// The quantizer a state uses.
#[inline(always)]
pub fn quantizer(state: u8) -> u8 {
    state >> 1
}

/// Reconstruction of index `k` under quantizer `q`, in units of the step.
#[inline(always)]
pub fn level(k: i64, q: u8) -> f64 {
    let two_k = 2.0 * k as f64;
    if q == 0 {
        two_k
    } else {
        two_k - (k.signum() as f64)
    }
}

/// Rough bits of an index: zero is cheap, larger magnitudes cost about
/// log2 of themselves plus a sign. Only steers the search.
#[inline(always)]
fn rate(table: &[f64; 256], k: i64) -> f64 {
    let a = k.unsigned_abs();
    match table.get(a as usize) {
        Some(&r) => r,
        None => LAMBDA * (1.7 + 1.6 * crate::codec::math::log2((a + 1) as f64)),
    }
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

/// Indices of one chunk (`None`: the value escapes and keeps its bits; it
/// leaves the state unchanged) and the quantizer each value used. The
/// state starts at 0 for every chunk and runs on across rows.
pub fn quantize(
    dtype: Dtype,
    data: &[u8],
    row_len: usize,
    step: f64,
) -> (Vec<Option<i64>>, Vec<u8>) {
    let w = dtype.size();
    let n = data.len() / w;
    let mut ks = Vec::with_capacity(n);
    let mut qs = Vec::with_capacity(n);
    let mut state = 0u8;
    let rates = rate_table();
    // Per value and state: the predecessor state and the chosen index.
    let mut back: Vec<[(u8, i32); 4]> = Vec::with_capacity(row_len);
    for row in data.chunks(row_len * w) {
        back.clear();
        let mut cost = [f64::INFINITY; 4];
        cost[usize::from(state)] = 0.0;
        for b in row.chunks_exact(w) {
            let x = values::load(dtype, b);
            let r = x / step;
            let mut next_cost = [f64::INFINITY; 4];
            let mut step_back = [(0u8, 0i32); 4];
            if r.is_nan() || r.abs() >= LIMIT / 2.0 - 2.0 {
                // Escape (non-finite or huge): the state passes through.
                for s in 0..4 {
                    next_cost[s] = cost[s];
                    step_back[s] = (s as u8, i32::MIN);
                }
            } else {
                // Candidates are the same for the two states sharing a
                // quantizer: the two levels around |r| and zero, signed.
                let a = r.abs();
                let sign = if r < 0.0 { -1 } else { 1 };
                for q in 0..2u8 {
                    let half = if q == 0 { a / 2.0 } else { (a + 1.0) / 2.0 };
                    let lo = half as i64; // a ≥ 0: truncation is floor
                    for k in [sign * lo, sign * (lo + 1), 0] {
                        let e = r - level(k, q);
                        let m = e * e + rate(&rates, k);
                        let parity = (k & 1) as usize;
                        for s in [2 * q, 2 * q + 1] {
                            let j = cost[usize::from(s)] + m;
                            let t = usize::from(NEXT[usize::from(s)][parity]);
                            if j < next_cost[t] {
                                next_cost[t] = j;
                                step_back[t] = (s, k as i32);
                            }
                        }
                    }
                }
            }
            cost = next_cost;
            back.push(step_back);
        }
        // Trace back from the cheapest end state.
        let mut s = (0..4)
            .min_by(|&a, &b| cost[a].total_cmp(&cost[b]))
            .unwrap_or(0);
        let start = ks.len();
        ks.resize(start + back.len(), None);
        qs.resize(start + back.len(), 0);
        for (i, step_back) in back.iter().enumerate().rev() {
            let (prev, k) = step_back[s];
            if let (Some(ko), Some(qo)) = (ks.get_mut(start + i), qs.get_mut(start + i)) {
                *ko = (k != i32::MIN).then_some(i64::from(k));
                *qo = quantizer(prev);
            }
            s = usize::from(prev);
        }
        state = (0..4)
            .min_by(|&a, &b| cost[a].total_cmp(&cost[b]))
            .unwrap_or(0) as u8;
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

    #[test]
    fn states_follow_parity() {
        let data: Vec<u8> = [0.3f32, -2.2, 5.1, 0.0, 7.7, -0.4, f32::NAN, 1.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let (ks, qs) = quantize(Dtype::F32, &data, 4, 0.5);
        let mut state = 0u8;
        for (k, q) in ks.iter().zip(&qs) {
            assert_eq!(*q, quantizer(state));
            if let Some(k) = k {
                state = NEXT[usize::from(state)][(k & 1) as usize];
            }
        }
        assert_eq!(ks[6], None, "NaN escapes");
    }
}
