//! Shared by the examples: building safetensors headers.

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
