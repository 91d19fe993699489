//! Orthonormal block bases, as `B × B` row-major matrices: coefficient `k`
//! of a block `x` is `Σ_n m[k·B + n] · x[n]`.
//!
//! The entries come from `libm` (the same bits on every platform), so the
//! matrices — and every product computed with them in a fixed order — are
//! identical on x86-64 and wasm32.

use std::f64::consts::PI;

/// Which family a basis belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// DCT-II: `m[k][n] = a_k · cos(π(2n+1)k / 2B)`, `a_0 = √(1/B)`,
    /// `a_k = √(2/B)`.
    Dct,
    /// The golden-ratio "resonance Fourier transform" `Ψ = D_φ · F` in a
    /// real orthonormal form (see [`rft`]).
    Rft,
}

/// A basis and its transpose (the inverse), both row-major.
pub struct Basis {
    pub size: usize,
    pub forward: Vec<f64>,
    pub inverse: Vec<f64>,
}

impl Basis {
    pub fn new(family: Family, size: usize) -> Basis {
        let forward = match family {
            Family::Dct => dct(size),
            Family::Rft => rft(size),
        };
        let mut inverse = vec![0.0; forward.len()];
        for k in 0..size {
            for n in 0..size {
                if let (Some(t), Some(&f)) =
                    (inverse.get_mut(n * size + k), forward.get(k * size + n))
                {
                    *t = f;
                }
            }
        }
        Basis {
            size,
            forward,
            inverse,
        }
    }
}

fn dct(b: usize) -> Vec<f64> {
    let bf = b as f64;
    let mut m = Vec::with_capacity(b * b);
    for k in 0..b {
        let a = libm::sqrt(if k == 0 { 1.0 } else { 2.0 } / bf);
        for n in 0..b {
            // The angle in half turns, reduced exactly in integers first:
            // (2n+1)k mod 4B over 2B.
            let t = ((2 * n + 1) * k % (4 * b)) as f64 / (2.0 * bf);
            m.push(a * libm::cos(PI * t));
        }
    }
    m
}

/// `Ψ = D_φ · F` on `M = ⌊B/2⌋` complex values: `F` the unitary DFT and
/// `D_φ = diag(e^{iθ_k})` with `θ_k = 2π·frac(k/φ)` (φ the golden ratio).
/// A real block `x` is read as `z_j = x_{2j} + i·x_{2j+1}` and coefficient
/// `k` is written as `(Re y_k, Im y_k)` at `2k, 2k+1`; a unitary map of
/// `C^M` is an orthogonal map of `R^{2M}`. An odd last element passes
/// through unchanged.
fn rft(b: usize) -> Vec<f64> {
    let m = b / 2;
    let mut out = vec![0.0; b * b];
    if b % 2 == 1 {
        if let Some(x) = out.get_mut(b * b - 1) {
            *x = 1.0;
        }
    }
    if m == 0 {
        return out;
    }
    let phi = (1.0 + libm::sqrt(5.0)) / 2.0;
    let norm = 1.0 / libm::sqrt(m as f64);
    for k in 0..m {
        let theta = k as f64 / phi;
        let theta = theta - libm::floor(theta);
        for j in 0..m {
            // Phase in turns: frac(k/φ) − (jk mod M)/M.
            let turns = theta - ((j * k) % m) as f64 / m as f64;
            let (s, c) = libm::sincos(2.0 * PI * turns);
            let (c, s) = (c * norm, s * norm);
            let mut set = |r: usize, col: usize, v: f64| {
                if let Some(x) = out.get_mut(r * b + col) {
                    *x = v;
                }
            };
            set(2 * k, 2 * j, c);
            set(2 * k, 2 * j + 1, -s);
            set(2 * k + 1, 2 * j, s);
            set(2 * k + 1, 2 * j + 1, c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `m · mᵀ = I` to rounding: an orthonormal basis keeps the squared
    /// error of the coefficients equal to that of the weights.
    #[test]
    fn bases_are_orthonormal() {
        for family in [Family::Dct, Family::Rft] {
            for b in [1, 2, 3, 8, 17, 64, 255, 256] {
                let basis = Basis::new(family, b);
                for i in 0..b {
                    for j in 0..b {
                        let dot: f64 = (0..b)
                            .map(|n| basis.forward[i * b + n] * basis.forward[j * b + n])
                            .sum();
                        let want = if i == j { 1.0 } else { 0.0 };
                        assert!(
                            (dot - want).abs() < 1e-12,
                            "{family:?} {b}: ({i},{j}) = {dot}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn dct_matches_its_definition() {
        let basis = Basis::new(Family::Dct, 8);
        for k in 0..8 {
            for n in 0..8 {
                let a = if k == 0 {
                    (1.0f64 / 8.0).sqrt()
                } else {
                    (2.0f64 / 8.0).sqrt()
                };
                let want = a * (PI * (2 * n + 1) as f64 * k as f64 / 16.0).cos();
                assert!((basis.forward[k * 8 + n] - want).abs() < 1e-14);
            }
        }
    }

    /// The RFT is the DFT followed by the golden-ratio phases: checked
    /// against a direct complex evaluation.
    #[test]
    fn rft_is_phase_modulated_dft() {
        let b = 10;
        let m = 5;
        let basis = Basis::new(Family::Rft, b);
        let x: Vec<f64> = (0..b).map(|i| ((i * 7 + 3) % 11) as f64 - 5.0).collect();
        let y: Vec<f64> = (0..b)
            .map(|k| (0..b).map(|n| basis.forward[k * b + n] * x[n]).sum())
            .collect();
        let phi = (1.0 + 5f64.sqrt()) / 2.0;
        for k in 0..m {
            let (mut re, mut im) = (0.0, 0.0);
            for j in 0..m {
                let ang = -2.0 * PI * (j * k) as f64 / m as f64;
                let (zr, zi) = (x[2 * j], x[2 * j + 1]);
                re += zr * ang.cos() - zi * ang.sin();
                im += zr * ang.sin() + zi * ang.cos();
            }
            let theta = 2.0 * PI * (k as f64 / phi).fract();
            let (c, s) = (theta.cos(), theta.sin());
            let (yr, yi) = (
                (re * c - im * s) / (m as f64).sqrt(),
                (re * s + im * c) / (m as f64).sqrt(),
            );
            assert!((y[2 * k] - yr).abs() < 1e-12 && (y[2 * k + 1] - yi).abs() < 1e-12);
        }
    }
}
