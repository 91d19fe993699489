//! Convert an F32 safetensors file to BF16: every F32 tensor is rounded to
//! nearest-even (NaN stays NaN), other tensors are copied; names, order and
//! `__metadata__` are kept.
//!
//! Run: `cargo run --release --example make_bf16 -- IN.safetensors OUT.safetensors`

mod common;

use std::error::Error;
use std::fs;
use std::io::{BufWriter, Write};

use common::Entry;
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Deserialize)]
struct Info {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: [u64; 2],
}

/// F32 → BF16 bits, round to nearest, ties to even; NaN is kept NaN.
fn bf16_bits(x: f32) -> u16 {
    let bits = x.to_bits();
    if x.is_nan() {
        return ((bits >> 16) | 0x0040) as u16;
    }
    let round = 0x7fff + ((bits >> 16) & 1);
    (bits.wrapping_add(round) >> 16) as u16
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        return Err("usage: make_bf16 IN.safetensors OUT.safetensors".into());
    };
    let file = fs::read(input)?;
    let prefix: [u8; 8] = file.get(..8).ok_or("file too short")?.try_into()?;
    let header_end = usize::try_from(u64::from_le_bytes(prefix))?
        .checked_add(8)
        .ok_or("bad header length")?;
    let json: Map<String, Value> =
        serde_json::from_slice(file.get(8..header_end).ok_or("truncated header")?)?;
    let data = &file[header_end..];

    let mut metadata = None;
    let mut tensors = Vec::new();
    for (name, value) in json {
        if name == "__metadata__" {
            metadata = Some(value);
        } else {
            tensors.push((name, serde_json::from_value::<Info>(value)?));
        }
    }
    tensors.sort_by_key(|(_, t)| t.data_offsets[0]);

    let mut entries = Vec::new();
    let mut body = Vec::new();
    for (name, t) in tensors {
        let [begin, end] = t.data_offsets.map(usize::try_from);
        let src = data
            .get(begin?..end?)
            .ok_or_else(|| format!("{name}: data out of range"))?;
        let before = body.len();
        let dtype = if t.dtype == "F32" {
            for word in src.chunks_exact(4) {
                body.extend_from_slice(
                    &bf16_bits(f32::from_le_bytes(word.try_into()?)).to_le_bytes(),
                );
            }
            "BF16".to_string()
        } else {
            body.extend_from_slice(src);
            t.dtype
        };
        let len = (body.len() - before) as u64;
        entries.push(Entry {
            name,
            dtype,
            shape: t.shape,
            len,
        });
    }

    let mut out = BufWriter::new(fs::File::create(output)?);
    out.write_all(&common::header(metadata.as_ref(), &entries))?;
    out.write_all(&body)?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::bf16_bits;

    #[test]
    fn rounds_to_nearest_even() {
        assert_eq!(bf16_bits(1.0), 0x3f80);
        assert_eq!(bf16_bits(f32::from_bits(0x3f80_8000)), 0x3f80); // tie, even stays
        assert_eq!(bf16_bits(f32::from_bits(0x3f81_8000)), 0x3f82); // tie, odd rounds up
        assert_eq!(bf16_bits(f32::from_bits(0x3f80_8001)), 0x3f81);
        assert_eq!(bf16_bits(-0.0), 0x8000);
        assert_eq!(bf16_bits(f32::MAX), 0x7f80); // overflows to infinity
        assert_eq!(bf16_bits(f32::INFINITY), 0x7f80);
        let nan = bf16_bits(f32::from_bits(0x7f80_0001));
        assert!(nan & 0x7f80 == 0x7f80 && nan & 0x7f != 0);
    }
}
