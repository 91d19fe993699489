//! The measurement that picks a chunk's transform.
//!
//! For each way a transform could run (DCT or RFT, along the rows or down
//! the columns) a sample of blocks is taken as it is and transformed, and
//! both are priced the way the quantizer codes them: each position (or
//! frequency) in the block is one group whose values are modelled as
//! Laplacian with the group's mean magnitude, quantized with a step of an
//! eighth of the chunk's RMS (about 29 dB). The step does not depend on
//! the rate target, so the statistics pass and the coding pass, which see
//! the same chunk, make the same choice. A transform is kept only when it
//! saves at least [`MIN_GAIN`] bit per value over the plain values on the
//! same sample; the arithmetic is `libm` and fixed-order sums, so the
//! choice is the same on every platform.

use super::basis::{Basis, Family};
use super::{blocks, Axis, Transform, DEFAULT_BLOCK};

/// Bits per value a transform must save to be chosen: several times the
/// estimate's sampling noise, so noise-like weights stay as they are.
const MIN_GAIN: f64 = 0.05;
/// Shortest line worth transforming.
const MIN_LINE: usize = 16;
/// Budget of multiply-adds per candidate (sample blocks × B²).
const BUDGET: usize = 1 << 19;
/// Fewest sample blocks: chunks with fewer blocks along an axis (short
/// vectors) are not priced along it, as the estimate would be noise.
const MIN_SAMPLES: usize = 32;

/// The transform that codes `values` (`rows × row_len`, row-major) in
/// measurably fewer bits, or `None` (also for non-finite values, which
/// must keep their bits).
pub fn choose(values: &[f64], row_len: usize) -> Option<Transform> {
    if row_len == 0 || values.is_empty() || !values.len().is_multiple_of(row_len) {
        return None;
    }
    let sum2 = finite_energy(values)?;
    let rms = libm::sqrt(sum2 / values.len() as f64);
    if !(rms > 0.0 && rms.is_finite()) {
        return None;
    }
    let step = rms / 8.0;
    let rows = values.len() / row_len;
    let mut best: Option<(f64, Transform)> = None;
    for axis in [Axis::Columns, Axis::Rows] {
        let line = match axis {
            Axis::Columns => rows,
            Axis::Rows => row_len,
        };
        if line < MIN_LINE {
            continue;
        }
        // Too few blocks to price reliably (a short vector): no evidence.
        let lines = values.len() / line;
        if lines * line.div_ceil(DEFAULT_BLOCK) < MIN_SAMPLES {
            continue;
        }
        let sample = sample_blocks(values, row_len, axis);
        let Some(plain) = price(&sample, None, step) else {
            continue;
        };
        for family in [Family::Dct, Family::Rft] {
            let Some(coded) = price(&sample, Some(family), step) else {
                continue;
            };
            let count: usize = sample.iter().map(Vec::len).sum();
            let gain = (plain - coded) / count.max(1) as f64;
            if gain >= MIN_GAIN && best.as_ref().is_none_or(|b| gain > b.0) {
                best = Some((gain, Transform::new(family, axis)));
            }
        }
    }
    best.map(|(_, t)| t)
}

/// Σv² of `values` in a fixed order (four interleaved partial sums, added
/// up at the end: one running sum was a chain of dependent additions, a
/// twentieth of the encoder's time), or `None` if any is not finite.
fn finite_energy(values: &[f64]) -> Option<f64> {
    let mut parts = [0f64; 4];
    let mut finite = true;
    let quads = values.chunks_exact(4);
    let rest = quads.remainder();
    for q in quads {
        for (p, &v) in parts.iter_mut().zip(q) {
            *p += v * v;
            finite &= v.is_finite();
        }
    }
    for (p, &v) in parts.iter_mut().zip(rest) {
        *p += v * v;
        finite &= v.is_finite();
    }
    let [a, b, c, d] = parts;
    finite.then_some((a + b) + (c + d))
}

/// Blocks along `axis`, evenly spaced over the chunk, as vectors.
fn sample_blocks(values: &[f64], row_len: usize, axis: Axis) -> Vec<Vec<f64>> {
    let rows = values.len() / row_len;
    let (line, lines) = match axis {
        Axis::Columns => (rows, row_len),
        Axis::Rows => (row_len, rows),
    };
    let spans: Vec<(usize, usize)> = blocks(line, DEFAULT_BLOCK).collect();
    let widest = spans.iter().map(|s| s.1).max().unwrap_or(1).max(1);
    let total = spans.len() * lines;
    let wanted = (BUDGET / (widest * widest)).max(MIN_SAMPLES).min(total);
    (0..wanted)
        .filter_map(|i| {
            let at = i * total / wanted;
            let (&(start, size), which) = (spans.get(at % spans.len())?, at / spans.len());
            Some(match axis {
                Axis::Rows => values
                    .get(which * row_len + start..which * row_len + start + size)?
                    .to_vec(),
                Axis::Columns => (start..start + size)
                    .map(|r| values.get(r * row_len + which).copied().unwrap_or(0.0))
                    .collect(),
            })
        })
        .collect()
}

/// Estimated bits of the sample (transformed by `family` when given) at
/// `step`: per position in the block, a quantized Laplacian with the
/// position's mean magnitude.
fn price(sample: &[Vec<f64>], family: Option<Family>, step: f64) -> Option<f64> {
    let widest = sample.iter().map(Vec::len).max()?;
    let mut bases: Vec<Basis> = Vec::new();
    let (mut sum, mut count) = (vec![0.0; widest], vec![0u64; widest]);
    for block in sample {
        let coeffs = match family {
            None => block.clone(),
            Some(f) => {
                let b = match bases.iter().position(|b| b.size == block.len()) {
                    Some(i) => bases.get(i)?,
                    None => {
                        bases.push(Basis::new(f, block.len()));
                        bases.last()?
                    }
                };
                // The forward transform; its transpose is the inverse.
                let mut coeffs = vec![0.0; block.len()];
                super::add_product(&b.inverse, block, &mut coeffs);
                coeffs
            }
        };
        for ((s, c), y) in sum.iter_mut().zip(&mut count).zip(&coeffs) {
            *s += y.abs();
            *c += 1;
        }
    }
    Some(
        sum.iter()
            .zip(&count)
            .filter(|(_, &c)| c > 0)
            .map(|(&s, &c)| c as f64 * laplace_bits(s / c as f64, step))
            .sum(),
    )
}

/// Entropy in bits of `round(x / step)` for a Laplacian `x` with mean
/// magnitude `mean`: with `θ = e^{−step/mean}`, `P(0) = 1 − √θ` and
/// `P(±j) = ½(1 − θ)·θ^{j − ½}`, which sums in closed form.
fn laplace_bits(mean: f64, step: f64) -> f64 {
    if mean.is_nan() || mean <= 0.0 {
        return 0.0;
    }
    let theta = libm::exp(-step / mean);
    let root = libm::sqrt(theta);
    if !(theta > 0.0 && theta < 1.0) {
        return 0.0;
    }
    let p0 = 1.0 - root;
    let c = 0.5 * (1.0 - theta) / root;
    let h0 = if p0 > 0.0 { -p0 * libm::log2(p0) } else { 0.0 };
    h0 - root * libm::log2(c) - root / (1.0 - theta) * libm::log2(theta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_rng::Rng;

    #[test]
    fn laplace_bits_matches_a_direct_sum() {
        for (mean, step) in [(1.0f64, 0.1f64), (1.0, 1.0), (0.3, 2.0), (5.0, 0.01)] {
            let theta = (-step / mean).exp();
            let mut h = 0.0;
            let p0 = 1.0 - theta.sqrt();
            h -= p0 * p0.log2();
            for j in 1..200_000 {
                let p = 0.5 * (1.0 - theta) * theta.powf(j as f64 - 0.5);
                if p > 0.0 {
                    h -= 2.0 * p * p.log2();
                }
            }
            let got = laplace_bits(mean, step);
            assert!((got - h).abs() < 1e-6, "{mean} {step}: {got} vs {h}");
        }
        assert_eq!(laplace_bits(0.0, 1.0), 0.0);
    }

    fn smooth(rows: usize, cols: usize, rng: &mut Rng) -> Vec<f64> {
        // Random low-frequency cosines down the columns: each column a
        // smooth curve over the rows.
        let waves: Vec<(f64, f64, f64)> = (0..6)
            .map(|_| (rng.unit() * 4.0, rng.unit() * 6.0, rng.gauss()))
            .collect();
        (0..rows * cols)
            .map(|i| {
                let (r, c) = ((i / cols) as f64, (i % cols) as f64);
                waves
                    .iter()
                    .map(|&(f, p, a)| {
                        a * (f * r / rows as f64 * std::f64::consts::TAU + p + 0.37 * c).cos()
                    })
                    .sum::<f64>()
                    + 0.01 * rng.gauss()
            })
            .collect()
    }

    #[test]
    fn a_smooth_tensor_chooses_a_dct_down_its_smooth_axis() {
        let mut rng = Rng(3);
        let x = smooth(512, 64, &mut rng);
        assert_eq!(
            choose(&x, 64),
            Some(Transform::new(Family::Dct, Axis::Columns))
        );
        // The same data transposed: smooth along the rows.
        let t: Vec<f64> = (0..64 * 512).map(|i| x[(i % 512) * 64 + i / 512]).collect();
        assert_eq!(
            choose(&t, 512),
            Some(Transform::new(Family::Dct, Axis::Rows))
        );
    }

    #[test]
    fn noise_stays_untransformed() {
        let mut rng = Rng(4);
        let gauss: Vec<f64> = (0..256 * 384).map(|_| 0.02 * rng.gauss()).collect();
        assert_eq!(choose(&gauss, 384), None);
        let laplace: Vec<f64> = (0..256 * 384)
            .map(|_| {
                let u = rng.unit() - 0.5;
                -0.02 * u.signum() * (1.0 - 2.0 * u.abs()).max(1e-300).ln()
            })
            .collect();
        assert_eq!(choose(&laplace, 384), None);
        let mut with_nan = gauss.clone();
        with_nan[5] = f64::NAN;
        assert_eq!(choose(&with_nan, 384), None);
        assert_eq!(choose(&[0.0; 64], 8), None);
    }
}
