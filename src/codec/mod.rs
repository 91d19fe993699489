//! Per-chunk codecs: the entropy coder, the lossless models and the lossy
//! quantizer built on it.
//!
//! A chunk payload starts with its method byte: 0 stored, 1 byte planes,
//! 2 float fields (lossless), 3 quantized floats (lossy), 4 quantized
//! transform coefficients (lossy), 5 float fields with a wide rANS stream
//! (lossless).

pub mod entropy;
mod fields;
pub mod lossless;
pub mod lossy;
pub mod math;
#[cfg(test)]
mod test_rng;
pub mod transform;

use crate::container::hash::{xxh3_64, Xxh3};
use crate::error::{Error, Result};
use crate::safetensors::Dtype;

const METHOD_STORED: u8 = 0;
const METHOD_PLANES: u8 = 1;
const METHOD_FLOAT: u8 = 2;
const METHOD_QUANTIZED: u8 = 3;
const METHOD_TRANSFORMED: u8 = 4;
const METHOD_FLOAT_WIDE: u8 = 5;

/// The transform a chunk payload was coded in, if any.
pub fn transform_of(payload: &[u8]) -> Option<transform::Transform> {
    match payload {
        [METHOD_TRANSFORMED, code, ..] => transform::Transform::from_code(*code),
        _ => None,
    }
}

/// Decode any chunk payload of a `dtype` tensor into `out`, whose length the
/// container states; returns the XXH3-64 of `out`, the chunk's checksum.
/// (The lossless float model and plain quantized chunks hash each block as
/// they decode it, while the block is in cache: a pass over the chunk less.)
pub fn decode_chunk(dtype: Dtype, payload: &[u8], out: &mut [u8]) -> Result<u64> {
    match payload.first() {
        Some(&METHOD_QUANTIZED) => {
            let mut body = payload.get(1..).unwrap_or(&[]);
            let mut hash = Xxh3::new();
            lossy::decode(dtype, &mut body, out, Some(&mut hash))?;
            if !body.is_empty() {
                return Err(Error::CodecCorrupt("trailing bytes after the chunk body"));
            }
            Ok(hash.digest())
        }
        Some(&METHOD_TRANSFORMED) => {
            lossy::decode_transformed(dtype, payload.get(1..).unwrap_or(&[]), out)?;
            Ok(xxh3_64(out))
        }
        _ => lossless::decode_chunk(dtype, payload, out),
    }
}
