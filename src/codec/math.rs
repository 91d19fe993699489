//! Transcendental functions for encoder decisions, from the pure-Rust
//! `libm`. Platform maths libraries may differ in the last bit; a near-tie
//! decided differently would change the output bytes, and the native CLI
//! and the wasm build must write identical files.

#[inline]
pub fn log2(x: f64) -> f64 {
    libm::log2(x)
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
