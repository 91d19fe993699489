//! Byte-plane model: byte `k` of every element is gathered into plane `k`
//! and each plane is coded order-0. The high bytes of integers and the
//! sign/exponent byte of small floats are very skewed; the low ones are not.

use super::{decode_bytes, encode_bytes};
use crate::error::{Error, Result};

pub fn encode(width: usize, data: &[u8], out: &mut Vec<u8>) {
    let n = data.len() / width.max(1);
    let mut plane = vec![0u8; n];
    for k in 0..width {
        for (p, e) in plane.iter_mut().zip(data.chunks_exact(width)) {
            *p = e.get(k).copied().unwrap_or(0);
        }
        encode_bytes(&plane, out);
    }
}

pub fn decode(width: usize, input: &mut &[u8], out: &mut [u8]) -> Result<()> {
    if width == 0 || !out.len().is_multiple_of(width) {
        return Err(Error::CodecCorrupt(
            "output length is not a whole number of elements",
        ));
    }
    let n = out.len() / width;
    let mut plane = vec![0u8; n];
    for k in 0..width {
        decode_bytes(input, &mut plane)?;
        for (p, e) in plane.iter().zip(out.chunks_exact_mut(width)) {
            if let Some(b) = e.get_mut(k) {
                *b = *p;
            }
        }
    }
    Ok(())
}
