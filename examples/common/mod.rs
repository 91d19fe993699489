//! Shared by the examples: building safetensors headers, a seeded generator.
#![allow(dead_code)] // each example uses part of this module

use serde_json::{json, Value};

/// One tensor of a safetensors file, as its header describes it.
pub struct Entry {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<u64>,
    /// Data length in bytes.
    pub len: u64,
}

/// The 8-byte length prefix and JSON header of a safetensors file whose
/// tensors are laid out back to back in `entries` order, with keys in that
/// order and the JSON padded with spaces to a multiple of 8 bytes.
pub fn header(metadata: Option<&Value>, entries: &[Entry]) -> Vec<u8> {
    let mut fields: Vec<String> = metadata
        .map(|m| format!("\"__metadata__\":{m}"))
        .into_iter()
        .collect();
    let mut offset = 0;
    for e in entries {
        let info =
            json!({ "dtype": e.dtype, "shape": e.shape, "data_offsets": [offset, offset + e.len] });
        fields.push(format!("{}:{info}", Value::from(e.name.as_str())));
        offset += e.len;
    }
    let mut json = format!("{{{}}}", fields.join(","));
    json.extend(std::iter::repeat_n(
        ' ',
        json.len().next_multiple_of(8) - json.len(),
    ));
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(json.as_bytes());
    out
}

/// SplitMix64: a small seeded generator, plenty for synthetic weights.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    pub fn gaussian(&mut self) -> f64 {
        (-2.0 * self.uniform().ln()).sqrt() * (std::f64::consts::TAU * self.uniform()).cos()
    }
}
