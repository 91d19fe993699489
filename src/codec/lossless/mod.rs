//! Lossless chunk coding: picks a model per dtype and falls back to storing
//! the bytes when modelling would not shrink them.
//!
//! Payload = one method byte, then the method's body:
//! - `0` stored: the chunk bytes verbatim;
//! - `1` byte planes: byte `k` of every element forms plane `k`, each coded
//!   by [`encode_bytes`] (integers, bool, fp8; decoders accept it for any
//!   dtype);
//! - `2` float fields: see [`float`];
//! - `5` float fields with a 32-lane rANS stream (chunks of 2^16 values and
//!   more, for the SIMD decoder).

mod builtin;
pub mod float;
mod planes;

use crate::codec::entropy::{decode_bytes, encode_bytes};
use crate::container::hash::xxh3_64;
use crate::error::{Error, Result};
use crate::safetensors::Dtype;

use float::Lanes;

use super::{METHOD_FLOAT, METHOD_FLOAT_WIDE, METHOD_PLANES, METHOD_STORED};

/// Encode one chunk of `dtype` elements laid out in rows of `row_len`
/// elements. Returns the payload.
pub fn encode_chunk(dtype: Dtype, row_len: usize, data: &[u8]) -> Result<Vec<u8>> {
    // Room for the worst case kept (stored: the data and a byte), so the
    // models append without reallocating (and copying) megabytes.
    let mut out = Vec::with_capacity(data.len() + 64);
    match dtype.float_layout() {
        Some(layout) if !data.is_empty() => {
            let lanes = Lanes::for_values(data.len() / dtype.size());
            out.push(match lanes {
                Lanes::Narrow => METHOD_FLOAT,
                Lanes::Wide => METHOD_FLOAT_WIDE,
            });
            float::encode(layout, data, row_len, lanes, &mut out)?;
        }
        _ => {
            out.push(METHOD_PLANES);
            planes::encode(dtype.size(), data, &mut out);
        }
    }
    if out.len() > data.len() + 1 {
        out.clear();
        out.push(METHOD_STORED);
        out.extend_from_slice(data);
    }
    Ok(out)
}

/// Decode a lossless chunk payload into `out`, whose length the container
/// states, and return the XXH3-64 of `out`. (Use
/// [`crate::codec::decode_chunk`], which knows every method.)
pub(crate) fn decode_chunk(dtype: Dtype, payload: &[u8], out: &mut [u8]) -> Result<u64> {
    let (&method, mut body) = payload.split_first().ok_or(Error::CodecTruncated)?;
    let hash = match method {
        METHOD_STORED => {
            if body.len() != out.len() {
                return Err(Error::CodecCorrupt("stored chunk has the wrong length"));
            }
            out.copy_from_slice(body);
            return Ok(xxh3_64(out));
        }
        METHOD_PLANES => {
            planes::decode(dtype.size(), &mut body, out)?;
            xxh3_64(out)
        }
        METHOD_FLOAT | METHOD_FLOAT_WIDE => {
            let layout = dtype.float_layout().ok_or(Error::CodecCorrupt(
                "float model used for a non-float dtype",
            ))?;
            let lanes = if method == METHOD_FLOAT {
                Lanes::Narrow
            } else {
                Lanes::Wide
            };
            float::decode(layout, lanes, &mut body, out)?
        }
        _ => return Err(Error::UnknownCodecMethod(method)),
    };
    if !body.is_empty() {
        return Err(Error::CodecCorrupt("trailing bytes after the chunk body"));
    }
    Ok(hash)
}

#[cfg(test)]
mod tests;
