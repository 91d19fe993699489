//! Transcendental functions for encoder decisions, from the pure-Rust
//! `libm`. Platform maths libraries may differ in the last bit; a near-tie
//! decided differently would change the output bytes, and the native CLI
//! and the wasm build must write identical files.

use std::sync::OnceLock;

#[inline]
pub fn log2(x: f64) -> f64 {
    libm::log2(x)
}

/// Integers the tables below cover: every frequency a rANS table can hold.
const TABULATED: u32 = 1 << crate::codec::entropy::MAX_PROB_BITS;

/// [`log2`] of a whole number `n` ≥ 1 (from a table up to 2^15: the same
/// values, looked up; building frequency tables evaluates it thousands of
/// times per chunk).
#[inline]
pub fn log2_int(n: u32) -> f64 {
    static TABLE: OnceLock<Vec<f64>> = OnceLock::new();
    tabulated(&TABLE, n, |n| log2(f64::from(n)))
}

/// `log2((n + 1) / n)` for a whole number `n` ≥ 1, from a table up to 2^15
/// like [`log2_int`]: the bits a count gains per unit of frequency.
#[inline]
pub fn log2_step(n: u32) -> f64 {
    static TABLE: OnceLock<Vec<f64>> = OnceLock::new();
    tabulated(&TABLE, n, |n| log2(f64::from(n + 1) / f64::from(n)))
}

/// `f(n)`, from `table` (filled with `f(0..=TABULATED)` on first use) or,
/// past its end, computed.
#[inline]
fn tabulated(table: &OnceLock<Vec<f64>>, n: u32, f: fn(u32) -> f64) -> f64 {
    let t = table.get_or_init(|| (0..=TABULATED).map(f).collect());
    t.get(n as usize).copied().unwrap_or_else(|| f(n))
}

#[inline]
pub fn exp2(x: f64) -> f64 {
    libm::exp2(x)
}

#[inline]
pub fn log10(x: f64) -> f64 {
    libm::log10(x)
}

#[inline]
pub fn pow(x: f64, y: f64) -> f64 {
    libm::pow(x, y)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tables hold exactly what `libm` computes, and past them the
    /// functions compute it.
    #[test]
    fn tabulated_logs_are_libm_bit_for_bit() {
        for n in 1..=TABULATED + 3 {
            assert_eq!(
                log2_int(n).to_bits(),
                libm::log2(f64::from(n)).to_bits(),
                "{n}"
            );
            let step = libm::log2(f64::from(n + 1) / f64::from(n));
            assert_eq!(log2_step(n).to_bits(), step.to_bits(), "{n}");
        }
    }
}
