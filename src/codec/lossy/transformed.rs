//! Lossy coding in a transform domain (see [`crate::codec::transform`]):
//! the chunk's values are transformed, the coefficients quantized and coded
//! exactly as plain values are (as F64, in the same `rows × row_len`
//! layout, so the row and column scale contexts follow the frequencies),
//! and the decoder inverts the transform and rounds to the dtype.
//!
//! Body layout (after the method byte): the transform's code (1..=4), its
//! block length (LEB128, 2..=1024), then a complete quantized payload —
//! method byte 3 and its body — of the F64 coefficients.

use super::{values, Encoded};
use crate::codec::entropy::{get_varint, put_varint};
use crate::codec::transform::{self, Transform};
use crate::codec::METHOD_QUANTIZED;
use crate::error::{Error, Result};
use crate::safetensors::Dtype;

/// Most values in a transformed chunk: bounds the decoder's working memory
/// (coefficients and values as f64, 64 MiB together) whatever a file says.
pub const MAX_VALUES: usize = 1 << 22;

/// The chunk's values as `f64`, when all are finite and a transform may
/// apply.
pub fn finite_values(dtype: Dtype, data: &[u8]) -> Option<Vec<f64>> {
    let w = dtype.size();
    if data.len() / w > MAX_VALUES
        || !matches!(dtype, Dtype::F16 | Dtype::BF16 | Dtype::F32 | Dtype::F64)
    {
        return None;
    }
    let mut v = vec![0f64; data.len() / w];
    // Without an early exit, so that the loop vectorises.
    let finite = values::specialised(
        dtype,
        #[inline(always)]
        |dtype| {
            let mut finite = true;
            for (x, b) in v.iter_mut().zip(data.chunks_exact(dtype.size())) {
                *x = values::load(dtype, b);
                finite &= x.is_finite();
            }
            finite
        },
    );
    finite.then_some(v)
}

/// Coefficients as F64 bytes.
pub fn coefficient_bytes(coeffs: &[f64]) -> Vec<u8> {
    let mut out = vec![0u8; coeffs.len() * 8];
    for (o, c) in out.chunks_exact_mut(8).zip(coeffs) {
        o.copy_from_slice(&c.to_le_bytes());
    }
    out
}

/// F64 bytes as coefficients (a plain loop: it vectorises).
fn coefficients(bytes: &[u8]) -> Vec<f64> {
    let mut out = vec![0f64; bytes.len() / 8];
    for (c, b) in out.iter_mut().zip(bytes.chunks_exact(8)) {
        *c = values::load(Dtype::F64, b);
    }
    out
}

/// Code the chunk's `values` (from `data`, `row_len` per row) under `t`.
pub fn encode(
    dtype: Dtype,
    row_len: usize,
    data: &[u8],
    values_f64: &[f64],
    step: f64,
    t: Transform,
) -> Result<Encoded> {
    let coeffs = transform::forward(t, values_f64, row_len).ok_or(Error::Internal(
        "transform of a chunk that is not whole rows",
    ))?;
    let inner = super::encode_plain(Dtype::F64, row_len, coefficient_bytes(&coeffs), step)?;
    drop(coeffs);
    let quantized = coefficients(&inner.decoded);
    let restored = transform::inverse(t, &quantized, row_len)
        .ok_or(Error::Internal("inverse transform of a partial chunk"))?;
    let mut decoded = vec![0u8; data.len()];
    values::round_all(dtype, &restored, &mut decoded);
    // The values are finite (see `finite_values`), so all are summed.
    let (err2, sig2) = values::error_sums(dtype, data, &decoded);
    let mut payload = Vec::with_capacity(inner.payload.len() + 2);
    payload.push(crate::codec::METHOD_TRANSFORMED);
    payload.push(t.code());
    put_varint(&mut payload, t.block as u64);
    payload.extend_from_slice(&inner.payload);
    Ok(Encoded {
        payload,
        decoded,
        err2,
        sig2,
        transform: Some(t),
    })
}

/// Decode a body written by [`encode`] (after its method byte) into `out`.
pub fn decode(dtype: Dtype, body: &[u8], out: &mut [u8]) -> Result<()> {
    if !matches!(dtype, Dtype::F16 | Dtype::BF16 | Dtype::F32 | Dtype::F64) {
        return Err(Error::CodecCorrupt(
            "transformed chunk of a non-float tensor",
        ));
    }
    let (&code, mut rest) = body.split_first().ok_or(Error::CodecTruncated)?;
    let t = Transform::from_code(code).ok_or(Error::CodecCorrupt("unknown transform"))?;
    let block = usize::try_from(get_varint(&mut rest)?)
        .ok()
        .filter(|b| (2..=transform::MAX_BLOCK).contains(b))
        .ok_or(Error::CodecCorrupt("transform block length out of range"))?;
    let t = Transform { block, ..t };
    let w = dtype.size();
    let n = out.len() / w;
    if n > MAX_VALUES {
        return Err(Error::CodecCorrupt(
            "transformed chunk larger than the limit",
        ));
    }
    let (&method, mut inner) = rest.split_first().ok_or(Error::CodecTruncated)?;
    if method != METHOD_QUANTIZED {
        return Err(Error::CodecCorrupt(
            "transform of a chunk that is not quantized",
        ));
    }
    let mut coeff_bytes = vec![0u8; n * 8];
    let row_len = super::decode(Dtype::F64, &mut inner, &mut coeff_bytes, None)?;
    if !inner.is_empty() {
        return Err(Error::CodecCorrupt("trailing bytes after the chunk body"));
    }
    let coeffs = coefficients(&coeff_bytes);
    drop(coeff_bytes);
    let restored = transform::inverse(t, &coeffs, row_len)
        .ok_or(Error::CodecCorrupt("transformed chunk is not whole rows"))?;
    values::round_all(dtype, &restored, out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::transform::{Axis, Family};

    fn smooth_f32(rows: usize, cols: usize) -> Vec<u8> {
        (0..rows * cols)
            .flat_map(|i| {
                let (r, c) = ((i / cols) as f64, (i % cols) as f64);
                (((r * 0.07).sin() + (c * 0.05).cos()) as f32).to_le_bytes()
            })
            .collect()
    }

    #[test]
    fn a_smooth_chunk_is_coded_transformed_and_decodes_to_what_the_encoder_said() {
        let data = smooth_f32(64, 48);
        let enc = super::super::encode(Dtype::F32, 48, data.clone(), 1e-3).unwrap();
        let t = enc.transform.expect("a smooth chunk is transformed");
        assert_eq!(t.family, Family::Dct);
        assert_eq!(crate::codec::transform_of(&enc.payload), Some(t));
        let mut out = vec![0u8; data.len()];
        crate::codec::decode_chunk(Dtype::F32, &enc.payload, &mut out).unwrap();
        assert_eq!(out, enc.decoded);
        // Orthonormal: the error is that of the step, as when the values
        // are coded as they are, in far fewer bytes.
        let plain = super::super::encode_plain(Dtype::F32, 48, data.clone(), 1e-3).unwrap();
        assert!(
            enc.err2 < 1.1 * plain.err2,
            "{} vs {}",
            enc.err2,
            plain.err2
        );
        assert!(enc.payload.len() * 2 < plain.payload.len());
        // Every transform decodes what its encoder produced.
        let values = finite_values(Dtype::F32, &data).unwrap();
        for t in Transform::ALL {
            let enc = encode(Dtype::F32, 48, &data, &values, 1e-3, t).unwrap();
            crate::codec::decode_chunk(Dtype::F32, &enc.payload, &mut out).unwrap();
            assert_eq!(out, enc.decoded, "{t:?}");
        }
        assert_eq!(
            Transform::new(Family::Rft, Axis::Rows).name(),
            "rft-1",
            "names in reports"
        );
    }

    /// A domain handed on from the statistics pass codes the chunk as the
    /// measurement in the coding pass would; a stale one still codes it.
    #[test]
    fn a_known_domain_gives_the_bytes_of_a_measured_one() {
        use super::super::{coding_domain, encode as measured, encode_in, Domain};
        let mut rng = crate::codec::test_rng::Rng(3);
        let noise: Vec<u8> = (0..64 * 48)
            .flat_map(|_| (rng.gauss() as f32).to_le_bytes())
            .collect();
        for (data, transformed) in [(smooth_f32(64, 48), true), (noise, false)] {
            let found = coding_domain(Dtype::F32, 48, &data, 1).map(|(t, _)| t);
            assert_eq!(found.is_some(), transformed);
            let known = encode_in(Dtype::F32, 48, data.clone(), 1e-3, Domain::Known(found));
            let known = known.unwrap();
            let expected = measured(Dtype::F32, 48, data.clone(), 1e-3).unwrap();
            assert_eq!(known.payload, expected.payload);
            assert_eq!(known.decoded, expected.decoded);
            assert_eq!(known.transform, found);
        }
        // Told "transformed" of values that cannot be: coded as they are.
        let mut data = smooth_f32(64, 48);
        data[..4].copy_from_slice(&f32::NAN.to_le_bytes());
        let t = Some(Transform::new(Family::Dct, Axis::Columns));
        let enc = encode_in(Dtype::F32, 48, data.clone(), 1e-3, Domain::Known(t)).unwrap();
        assert_eq!(enc.transform, None);
        assert_eq!(
            enc.payload,
            measured(Dtype::F32, 48, data, 1e-3).unwrap().payload
        );
    }

    #[test]
    fn bad_transformed_bodies_are_named_errors() {
        let data = smooth_f32(32, 32);
        let values = finite_values(Dtype::F32, &data).unwrap();
        let t = Transform::new(Family::Dct, Axis::Columns);
        let enc = encode(Dtype::F32, 32, &data, &values, 1e-3, t).unwrap();
        let mut out = vec![0u8; data.len()];
        let mut p = enc.payload.clone();
        p[1] = 9;
        assert!(matches!(
            crate::codec::decode_chunk(Dtype::F32, &p, &mut out),
            Err(Error::CodecCorrupt("unknown transform"))
        ));
        let mut p = enc.payload.clone();
        p[2] = 0;
        assert!(matches!(
            crate::codec::decode_chunk(Dtype::F32, &p, &mut out),
            Err(Error::CodecCorrupt("transform block length out of range"))
        ));
        let mut p = enc.payload.clone();
        p[3] = 0;
        assert!(matches!(
            crate::codec::decode_chunk(Dtype::F32, &p, &mut out),
            Err(Error::CodecCorrupt(
                "transform of a chunk that is not quantized"
            ))
        ));
        assert!(matches!(
            crate::codec::decode_chunk(Dtype::I32, &enc.payload, &mut out),
            Err(Error::CodecCorrupt(
                "transformed chunk of a non-float tensor"
            ))
        ));
        assert!(crate::codec::decode_chunk(Dtype::F32, &enc.payload[..2], &mut out).is_err());
        let mut long = enc.payload.clone();
        long.push(0);
        assert!(crate::codec::decode_chunk(Dtype::F32, &long, &mut out).is_err());
        // A chunk claiming more values than the limit is refused before
        // its coefficients are allocated.
        let mut huge = vec![0u8; 4 * (MAX_VALUES + 1)];
        assert!(matches!(
            crate::codec::decode_chunk(Dtype::F32, &enc.payload, &mut huge),
            Err(Error::CodecCorrupt(
                "transformed chunk larger than the limit"
            ))
        ));
    }

    #[test]
    fn non_finite_values_keep_the_chunk_untransformed() {
        let mut data = smooth_f32(64, 48);
        data[40..44].copy_from_slice(&f32::NAN.to_le_bytes());
        data[80..84].copy_from_slice(&f32::INFINITY.to_le_bytes());
        let enc = super::super::encode(Dtype::F32, 48, data.clone(), 1e-3).unwrap();
        assert_eq!(enc.transform, None);
        assert_eq!(&enc.decoded[40..44], &data[40..44]);
        assert_eq!(&enc.decoded[80..84], &data[80..84]);
    }
}
