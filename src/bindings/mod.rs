//! The browser API: a thin wasm-bindgen layer over the pipeline's sessions
//! and chunk coders. A coordinator (a Web Worker) reads the file and drives
//! a [`Compressor`] or [`Decompressor`]; a pool of workers codes chunks
//! with [`encode_chunk`] / [`decode_chunk`]. No codec logic lives here.

mod compress;
mod decompress;
mod report;

use wasm_bindgen::prelude::*;

use crate::error::Error;
use crate::safetensors::Dtype;

pub use compress::Compressor;
pub use decompress::Decompressor;

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// Every error reaches JS as an `Error` with the core's message.
fn js_err(e: Error) -> JsError {
    JsError::new(&e.to_string())
}

fn dtype_of(code: u8) -> Result<Dtype, JsError> {
    Dtype::from_code(code).ok_or_else(|| JsError::new(&format!("unknown dtype code {code}")))
}

/// Sets `obj[key] = value` on a fresh plain object.
fn set(obj: &js_sys::Object, key: &str, value: impl Into<JsValue>) -> Result<(), JsError> {
    js_sys::Reflect::set(obj, &JsValue::from_str(key), &value.into())
        .map(|_| ())
        .map_err(|_| JsError::new("could not build a result object"))
}

/// `{version, simd, formatVersion}`: which build is running.
#[wasm_bindgen(js_name = buildInfo)]
pub fn build_info() -> Result<JsValue, JsError> {
    let o = js_sys::Object::new();
    set(&o, "version", env!("CARGO_PKG_VERSION"))?;
    set(&o, "simd", cfg!(target_feature = "simd128"))?;
    set(&o, "formatVersion", crate::container::FORMAT_VERSION)?;
    Ok(o.into())
}

/// Total bytes of a safetensors header (length prefix included), from the
/// file's first 8 bytes; throws on a length the format does not allow.
#[wasm_bindgen(js_name = headerLength)]
pub fn header_length(first8: &[u8]) -> Result<f64, JsError> {
    let prefix: [u8; 8] = first8
        .get(..8)
        .and_then(|p| p.try_into().ok())
        .ok_or_else(|| {
            js_err(Error::HeaderTooShort {
                len: first8.len() as u64,
            })
        })?;
    let json = crate::safetensors::header::check_declared_len(prefix).map_err(js_err)?;
    Ok((json + 8) as f64)
}

/// `{fileLength, tensors, params: {F32: n, ...}}` of a safetensors header
/// (the file's first `headerLength` bytes, e.g. from a Range request):
/// validated as for compression, so a listing never shows a file the codec
/// would refuse.
#[wasm_bindgen(js_name = headerSummary)]
pub fn header_summary(header: Vec<u8>) -> Result<JsValue, JsError> {
    let h = crate::safetensors::Header::parse(header).map_err(js_err)?;
    let mut params = std::collections::BTreeMap::<&str, u64>::new();
    for t in h.tensors() {
        *params.entry(t.dtype.name()).or_default() += t.num_elements();
    }
    let by_dtype = js_sys::Object::new();
    for (dtype, n) in params {
        set(&by_dtype, dtype, n as f64)?;
    }
    let o = js_sys::Object::new();
    set(&o, "fileLength", h.file_len() as f64)?;
    set(&o, "tensors", h.tensors().len())?;
    set(&o, "params", by_dtype)?;
    Ok(o.into())
}

/// Codes one chunk (a worker's job): lossy at `step` when given, else
/// lossless. Returns `{payload, checksum, decoded?, err2, sig2}`;
/// `decoded` only when lossy (lossless decodes to the input itself).
#[wasm_bindgen(js_name = encodeChunk)]
pub fn encode_chunk(
    dtype: u8,
    row_len: usize,
    step: Option<f64>,
    data: Vec<u8>,
) -> Result<JsValue, JsError> {
    let enc =
        crate::pipeline::encode_chunk(dtype_of(dtype)?, row_len, step, data).map_err(js_err)?;
    let o = js_sys::Object::new();
    set(&o, "payload", js_sys::Uint8Array::from(&enc.payload[..]))?;
    set(&o, "checksum", enc.checksum)?;
    if step.is_some() {
        set(&o, "decoded", js_sys::Uint8Array::from(&enc.decoded[..]))?;
    }
    set(&o, "err2", enc.err2)?;
    set(&o, "sig2", enc.sig2)?;
    Ok(o.into())
}

/// Decodes one frame's payload (a worker's job) and checks it against the
/// frame's length and checksum.
#[wasm_bindgen(js_name = decodeChunk)]
pub fn decode_chunk(
    dtype: u8,
    len: f64,
    checksum: u64,
    payload: &[u8],
) -> Result<Vec<u8>, JsError> {
    let chunk = crate::container::ChunkHeader {
        tensor: 0,
        decoded_len: len as u64,
        checksum,
    };
    crate::pipeline::decode_chunk(dtype_of(dtype)?, &chunk, payload).map_err(js_err)
}
