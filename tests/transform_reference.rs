//! The codec's transforms (block products with `libm` bases, for
//! bit-identical decoding everywhere) checked against the same transforms
//! computed the textbook way with `rustfft`: the DCT-II by Makhoul's
//! N-point FFT algorithm, the RFT as an FFT followed by the golden-ratio
//! phases.

mod common;

use common::Rng;
use rustfft::num_complex::Complex64;
use rustfft::FftPlanner;
use stzip::codec::transform::{forward, inverse, Axis, Family, Transform};

/// Orthonormal DCT-II of `x` via one complex FFT of the reordered input:
/// `X_k = a_k · Re(e^{−iπk/2N} · FFT(v)_k)`, `v = (x0, x2, …, x3, x1)`.
fn dct_fft(x: &[f64], planner: &mut FftPlanner<f64>) -> Vec<f64> {
    let n = x.len();
    let mut v: Vec<Complex64> = (0..n)
        .map(|i| {
            let src = if i < n.div_ceil(2) {
                2 * i
            } else {
                2 * (n - i) - 1
            };
            Complex64::new(x[src], 0.0)
        })
        .collect();
    planner.plan_fft_forward(n).process(&mut v);
    (0..n)
        .map(|k| {
            let a = if k == 0 {
                (1.0 / n as f64).sqrt()
            } else {
                (2.0 / n as f64).sqrt()
            };
            let w = Complex64::from_polar(1.0, -std::f64::consts::PI * k as f64 / (2.0 * n as f64));
            a * (w * v[k]).re
        })
        .collect()
}

/// `Ψ = D_φ·F` on `z_j = x_{2j} + i·x_{2j+1}`, written back as (Re, Im).
fn rft_fft(x: &[f64], planner: &mut FftPlanner<f64>) -> Vec<f64> {
    let m = x.len() / 2;
    let mut z: Vec<Complex64> = (0..m)
        .map(|j| Complex64::new(x[2 * j], x[2 * j + 1]))
        .collect();
    planner.plan_fft_forward(m).process(&mut z);
    let phi = (1.0 + 5f64.sqrt()) / 2.0;
    let mut out = x.to_vec(); // an odd last value passes through
    for (k, zk) in z.iter().enumerate() {
        let theta = std::f64::consts::TAU * (k as f64 / phi).fract();
        let y = Complex64::from_polar(1.0 / (m as f64).sqrt(), theta) * zk;
        out[2 * k] = y.re;
        out[2 * k + 1] = y.im;
    }
    out
}

#[test]
fn block_transforms_match_fft_references() {
    let mut planner = FftPlanner::new();
    let mut rng = Rng(8);
    for n in [2usize, 7, 16, 64, 100, 255, 256, 1024] {
        let x: Vec<f64> = (0..n).map(|_| rng.gauss()).collect();
        let scale = x.iter().map(|v| v * v).sum::<f64>().sqrt();
        for (family, reference) in [
            (Family::Dct, dct_fft(&x, &mut planner)),
            (Family::Rft, rft_fft(&x, &mut planner)),
        ] {
            // One row, one block of the whole length.
            let t = Transform {
                block: n,
                ..Transform::new(family, Axis::Rows)
            };
            let ours = forward(t, &x, n).unwrap();
            for (k, (a, b)) in ours.iter().zip(&reference).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-12 * scale,
                    "{family:?} n={n} k={k}: {a} vs {b}"
                );
            }
            // Down the columns of an n × 1 chunk it is the same transform.
            let t = Transform {
                axis: Axis::Columns,
                ..t
            };
            assert_eq!(forward(t, &x, 1).unwrap(), ours, "{family:?} n={n} columns");
            let back = inverse(t, &ours, 1).unwrap();
            for (a, b) in back.iter().zip(&x) {
                assert!((a - b).abs() <= 1e-12 * scale);
            }
        }
    }
}
