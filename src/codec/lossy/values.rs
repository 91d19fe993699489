//! Float elements as `f64` and back, with round-to-nearest-even into the
//! stored dtype, in plain integer and IEEE arithmetic so every platform
//! produces the same bytes.

use crate::safetensors::Dtype;

/// Reads element `b` (little-endian, `dtype.size()` bytes) as `f64`
/// (exact for every float dtype stzip codes lossily).
#[inline(always)]
pub fn load(dtype: Dtype, b: &[u8]) -> f64 {
    from_bits(dtype, raw_bits(b))
}

/// The value of an element's bits (as [`raw_bits`] reads them) as `f64`.
#[inline(always)]
pub fn from_bits(dtype: Dtype, bits: u64) -> f64 {
    match dtype {
        Dtype::F64 => f64::from_bits(bits),
        Dtype::F32 => f64::from(f32::from_bits(bits as u32)),
        Dtype::BF16 => f64::from(f32::from_bits((bits as u32) << 16)),
        Dtype::F16 => f64::from(f16_to_f32(bits as u16)),
        _ => 0.0,
    }
}

/// Raw bits of a 2-, 4- or 8-byte little-endian element (fixed-size loads:
/// a byte loop of unknown length would become a `memcpy` call per value).
#[inline(always)]
pub fn raw_bits(b: &[u8]) -> u64 {
    if let Some(a) = b.first_chunk::<8>().filter(|_| b.len() == 8) {
        u64::from_le_bytes(*a)
    } else if let Some(a) = b.first_chunk::<4>().filter(|_| b.len() == 4) {
        u64::from(u32::from_le_bytes(*a))
    } else if let Some(a) = b.first_chunk::<2>() {
        u64::from(u16::from_le_bytes(*a))
    } else {
        0
    }
}

/// Writes `bits` as a 2-, 4- or 8-byte little-endian element.
#[inline(always)]
pub fn store_bits(bits: u64, out: &mut [u8]) {
    match out.len() {
        8 => out.copy_from_slice(&bits.to_le_bytes()),
        4 => out.copy_from_slice(&(bits as u32).to_le_bytes()),
        2 => out.copy_from_slice(&(bits as u16).to_le_bytes()),
        _ => {}
    }
}

/// Rounds a finite `x` to `dtype` (nearest, ties to even; beyond the
/// largest finite value it saturates rather than becoming infinite) and
/// returns the element's bits.
#[inline(always)]
pub fn round_to(dtype: Dtype, x: f64) -> u64 {
    match dtype {
        Dtype::F64 => x.to_bits(),
        Dtype::F32 => u64::from(saturate_f32(x).to_bits()),
        Dtype::BF16 => u64::from(f32_to_bf16(saturate_f32(x).clamp(BF16_MIN, BF16_MAX))),
        Dtype::F16 => u64::from(f32_to_f16(saturate_f32(x).clamp(-F16_MAX, F16_MAX))),
        _ => 0,
    }
}

/// Runs `f` with `dtype` as a constant of each float dtype, so that the
/// loops in `f` are compiled once per dtype with its size, loads and
/// rounding known (with the dtype a variable, every element took a jump
/// table, and the loops neither vectorised nor kept sums in registers).
/// `f` should be an `#[inline(always)]` closure. On x86-64 CPUs with
/// AVX2, the loops are compiled for it ([`with_avx2`]).
#[inline(always)]
pub fn specialised<T>(dtype: Dtype, f: impl FnMut(Dtype) -> T) -> T {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked above).
        return unsafe { with_avx2(dtype, f) };
    }
    by_dtype(dtype, f)
}

/// [`by_dtype`] compiled for AVX2: the loops vectorise four `f64` wide,
/// not two. Only the width changes: LLVM neither reorders nor fuses
/// floating-point operations, so every result is the same bit for bit.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn with_avx2<T>(dtype: Dtype, f: impl FnMut(Dtype) -> T) -> T {
    by_dtype(dtype, f)
}

/// `f` with `dtype` as a constant of each float dtype.
#[inline(always)]
fn by_dtype<T>(dtype: Dtype, mut f: impl FnMut(Dtype) -> T) -> T {
    match dtype {
        Dtype::F32 => f(Dtype::F32),
        Dtype::BF16 => f(Dtype::BF16),
        Dtype::F16 => f(Dtype::F16),
        Dtype::F64 => f(Dtype::F64),
        _ => f(dtype),
    }
}

/// `f` of each element of `bytes` (of `dtype`) into `out`, resized to the
/// element count: one plain loop per dtype (through `extend`, the dtype's
/// match stayed per value).
#[inline(always)]
pub fn map_into(dtype: Dtype, bytes: &[u8], out: &mut Vec<f64>, f: impl Fn(f64) -> f64) {
    out.resize(bytes.len() / dtype.size(), 0.0);
    specialised(
        dtype,
        #[inline(always)]
        |dtype| {
            for (o, b) in out.iter_mut().zip(bytes.chunks_exact(dtype.size())) {
                *o = f(load(dtype, b));
            }
        },
    )
}

/// Each of `xs` rounded to `dtype` (see [`round_to`]) into `out`'s
/// elements.
pub fn round_all(dtype: Dtype, xs: &[f64], out: &mut [u8]) {
    specialised(
        dtype,
        #[inline(always)]
        |dtype| {
            for (o, &x) in out.chunks_exact_mut(dtype.size()).zip(xs) {
                store_bits(round_to(dtype, x), o);
            }
        },
    )
}

/// Squared error of `decoded` against `original` and the original's
/// energy, over the finite original values (elements of `dtype`), summed
/// in element order.
pub fn error_sums(dtype: Dtype, original: &[u8], decoded: &[u8]) -> (f64, f64) {
    add_error_sums(dtype, original, decoded, (0.0, 0.0))
}

/// [`error_sums`] added on to `sums` (element by element: so a chunk's
/// sums taken a row at a time are the same bits). Not inlined: inside the
/// coding pass the sums were kept in memory, a store and a load per value.
#[inline(never)]
pub fn add_error_sums(
    dtype: Dtype,
    original: &[u8],
    decoded: &[u8],
    sums: (f64, f64),
) -> (f64, f64) {
    specialised(
        dtype,
        #[inline(always)]
        |dtype| {
            let w = dtype.size();
            let (mut err2, mut sig2) = sums;
            for (b, d) in original.chunks_exact(w).zip(decoded.chunks_exact(w)) {
                let x = load(dtype, b);
                if x.is_finite() {
                    let e = x - load(dtype, d);
                    err2 += e * e;
                    sig2 += x * x;
                }
            }
            (err2, sig2)
        },
    )
}

const BF16_MAX: f32 = f32::from_bits(0x7f7f_0000);
const BF16_MIN: f32 = f32::from_bits(0xff7f_0000);
const F16_MAX: f32 = 65504.0;

fn saturate_f32(x: f64) -> f32 {
    (x as f32).clamp(f32::MIN, f32::MAX)
}

/// f32 → bf16, round to nearest even (finite input).
fn f32_to_bf16(x: f32) -> u16 {
    let b = x.to_bits();
    let round = 0x7fff + ((b >> 16) & 1);
    (b.wrapping_add(round) >> 16) as u16
}

/// f16 bits → f32 (exact), including subnormals, infinities and NaN.
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let mant = u32::from(h & 0x3ff);
    let bits = match (exp, mant) {
        (0, 0) => sign,
        (0, m) => {
            // Subnormal: normalise.
            let shift = m.leading_zeros() - 21;
            let m = (m << shift) & 0x3ff;
            sign | ((127 - 15 + 1 - shift) << 23) | (m << 13)
        }
        (0x1f, m) => sign | 0x7f80_0000 | (m << 13),
        (e, m) => sign | ((e + 127 - 15) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

/// f32 → f16, round to nearest even (finite input within ±65504).
fn f32_to_f16(x: f32) -> u16 {
    let b = x.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let exp = ((b >> 23) & 0xff) as i32;
    let mant = b & 0x7f_ffff;
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7bff; // saturate (callers clamp first)
    }
    if e <= 0 {
        // Subnormal or zero in f16: shift the full significand.
        if e < -10 {
            return sign;
        }
        let full = mant | 0x80_0000;
        let shift = (14 - e) as u32; // 13 + (1 - e)
        let half = 1u32 << (shift - 1);
        let rest = full & ((1 << shift) - 1);
        let mut q = full >> shift;
        if rest > half || (rest == half && q & 1 == 1) {
            q += 1;
        }
        return sign | q as u16;
    }
    let mut v = ((e as u32) << 10) | (mant >> 13);
    let rest = mant & 0x1fff;
    if rest > 0x1000 || (rest == 0x1000 && v & 1 == 1) {
        v += 1; // may carry into the exponent, which is correct rounding
    }
    sign | v as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `xs` scaled and rounded to `dtype`, and their squared error.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn round_and_sum(dtype: Dtype, xs: &[f64]) -> (Vec<u8>, u64) {
        let w = dtype.size();
        let mut out = vec![0u8; xs.len() * w];
        for (o, &x) in out.chunks_exact_mut(w).zip(xs) {
            store_bits(round_to(dtype, x * 0.37), o);
        }
        let mut sum = 0f64;
        for (o, &x) in out.chunks_exact(w).zip(xs) {
            let e = x - load(dtype, o);
            sum += e * e;
        }
        (out, sum.to_bits())
    }

    /// The AVX2 build of a loop gives the portable build's bits: rounding
    /// to every float dtype (saturating, subnormals, ties) and sums.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_build_gives_the_same_bits() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        let mut rng = crate::codec::test_rng::Rng(7);
        let mut xs: Vec<f64> = (0..4099)
            .map(|i| (rng.unit() - 0.5) * 2f64.powi(i % 300 - 150))
            .collect();
        xs.extend([1e300, -1e300, 65520.0, 1.0 + 2f64.powi(-11), 2f64.powi(-25)]);
        for dtype in [Dtype::F64, Dtype::F32, Dtype::BF16, Dtype::F16] {
            // SAFETY: the CPU has AVX2 (checked above).
            let wide = unsafe {
                with_avx2(
                    dtype,
                    #[inline(always)]
                    |d| round_and_sum(d, &xs),
                )
            };
            let portable = by_dtype(
                dtype,
                #[inline(always)]
                |d| round_and_sum(d, &xs),
            );
            assert_eq!(wide, portable, "{dtype:?}");
        }
    }

    #[test]
    fn f16_conversions_round_trip_every_finite_value() {
        for h in 0..=u16::MAX {
            let x = f16_to_f32(h);
            if x.is_finite() {
                let back = f32_to_f16(x);
                assert!(back == h || (x == 0.0 && back & 0x7fff == 0), "{h:#06x}");
            }
        }
    }

    #[test]
    fn rounding_is_to_nearest_even() {
        // 1 + 2^-11 is halfway between two f16 values: ties to even (1.0).
        assert_eq!(f32_to_f16(1.0 + 2f32.powi(-11)), 0x3c00);
        assert_eq!(f32_to_f16(1.0 + 3.0 * 2f32.powi(-11)), 0x3c02);
        assert_eq!(f32_to_bf16(1.0 + 2f32.powi(-8)), 0x3f80);
        assert_eq!(f32_to_bf16(1.0 + 3.0 * 2f32.powi(-8)), 0x3f82);
        assert_eq!(round_to(Dtype::F16, 1e9), 0x7bff);
        assert_eq!(round_to(Dtype::BF16, -1e300), 0xff7f);
        assert_eq!(round_to(Dtype::F32, 1e300), u64::from(f32::MAX.to_bits()));
    }

    #[test]
    fn loads_are_exact() {
        assert_eq!(load(Dtype::BF16, &0x3f80u16.to_le_bytes()), 1.0);
        assert_eq!(load(Dtype::F16, &0x3c00u16.to_le_bytes()), 1.0);
        assert_eq!(load(Dtype::F16, &0x0001u16.to_le_bytes()), 2f64.powi(-24));
        assert_eq!(load(Dtype::F32, &1.5f32.to_le_bytes()), 1.5);
        assert_eq!(load(Dtype::F64, &0.1f64.to_le_bytes()), 0.1);
    }
}
