//! `Compressor`: the coordinator's side of a compression. Chunks are read
//! by JS, coded by workers ([`super::encode_chunk`]) and added back here
//! in order; every method returns the output bytes to append.

use serde::Deserialize;
use wasm_bindgen::prelude::*;

use super::{js_err, report, set};
use crate::pipeline::session::Compression;
use crate::pipeline::{
    Allocation, EncodedChunk, LossyOptions, Report, Target, DEFAULT_CHUNK_BYTES,
};

/// `{mode: 'lossless'|'bpw'|'snr', value?, allocation?: 'model'|'uniform',
/// tiedEmbeddings?: boolean, chunkBytes?}`: the CLI's options.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JsOptions {
    mode: String,
    value: Option<f64>,
    allocation: Option<String>,
    tied_embeddings: Option<bool>,
    chunk_bytes: Option<usize>,
}

fn parse_options(options: JsValue) -> Result<(Option<LossyOptions>, usize), JsError> {
    let o: JsOptions = serde_wasm_bindgen::from_value(options)
        .map_err(|e| JsError::new(&format!("bad options: {e}")))?;
    let value = || {
        o.value
            .ok_or_else(|| JsError::new(&format!("mode {:?} needs a value", o.mode)))
    };
    let target = match o.mode.as_str() {
        "lossless" => None,
        "bpw" => Some(Target::BitsPerWeight(value()?)),
        "snr" => Some(Target::Snr(value()?)),
        m => {
            return Err(JsError::new(&format!(
                "unknown mode {m:?}: lossless, bpw or snr"
            )))
        }
    };
    let allocation = match o.allocation.as_deref() {
        None | Some("model") => Allocation::Model,
        Some("uniform") => Allocation::Uniform,
        Some(a) => {
            return Err(JsError::new(&format!(
                "unknown allocation {a:?}: model or uniform"
            )))
        }
    };
    let lossy = target.map(|target| LossyOptions {
        target,
        allocation,
        tied_embeddings: o.tied_embeddings,
    });
    Ok((lossy, o.chunk_bytes.unwrap_or(DEFAULT_CHUNK_BYTES)))
}

#[wasm_bindgen]
pub struct Compressor {
    session: Compression,
    report: Option<Report>,
}

#[wasm_bindgen]
impl Compressor {
    /// `header`: the file's first `headerLength` bytes.
    #[wasm_bindgen(constructor)]
    pub fn new(header: Vec<u8>, options: JsValue) -> Result<Compressor, JsError> {
        let (lossy, chunk_bytes) = parse_options(options)?;
        let session = Compression::new(header, chunk_bytes, lossy).map_err(js_err)?;
        Ok(Compressor {
            session,
            report: None,
        })
    }

    #[wasm_bindgen(getter, js_name = fileLength)]
    pub fn file_length(&self) -> f64 {
        self.session.header().file_len() as f64
    }

    #[wasm_bindgen(getter, js_name = chunkCount)]
    pub fn chunk_count(&self) -> usize {
        self.session.chunks().len()
    }

    /// `{index, tensor, name, dtype, rowLen, offset, len}`; `offset` is
    /// where the chunk's bytes start in the safetensors file.
    pub fn chunk(&self, index: usize) -> Result<JsValue, JsError> {
        let c = self
            .session
            .chunks()
            .get(index)
            .ok_or_else(|| JsError::new(&format!("no chunk {index}")))?;
        let t = self
            .session
            .header()
            .tensors()
            .get(c.tensor)
            .ok_or_else(|| JsError::new("chunk of no tensor"))?;
        let o = js_sys::Object::new();
        set(&o, "index", index)?;
        set(&o, "tensor", c.tensor)?;
        set(&o, "name", t.name.as_str())?;
        set(&o, "dtype", t.dtype.code())?;
        set(&o, "rowLen", c.row_len)?;
        set(&o, "offset", self.session.file_offset(c) as f64)?;
        set(&o, "len", c.len)?;
        Ok(o.into())
    }

    /// Whether the lossy statistics pass is still due.
    #[wasm_bindgen(js_name = needsStats)]
    pub fn needs_stats(&self) -> bool {
        self.session.needs_stats()
    }

    /// Statistics pass: every chunk's bytes, in order.
    pub fn observe(&mut self, index: usize, data: &[u8]) -> Result<(), JsError> {
        self.session.observe(index, data).map_err(js_err)
    }

    /// Picks the quantizer step for the target (after the statistics pass).
    #[wasm_bindgen(js_name = chooseStep)]
    pub fn choose_step(&mut self) -> Result<f64, JsError> {
        self.session.choose_step().map_err(js_err)
    }

    /// The quantizer step of chunk `index` (`undefined`: lossless).
    pub fn step(&self, index: usize) -> Option<f64> {
        self.session
            .chunks()
            .get(index)
            .and_then(|c| self.session.step(c))
    }

    /// The first output bytes.
    pub fn start(&mut self) -> Result<Vec<u8>, JsError> {
        self.session.start().map_err(js_err)
    }

    /// Adds coded chunk `index` (in order) and returns its frame bytes.
    /// `decoded` is the worker's, or the input itself when lossless.
    pub fn add(
        &mut self,
        index: usize,
        payload: Vec<u8>,
        checksum: u64,
        decoded: Vec<u8>,
        err2: f64,
        sig2: f64,
    ) -> Result<Vec<u8>, JsError> {
        let enc = EncodedChunk {
            payload,
            decoded,
            checksum,
            err2,
            sig2,
        };
        self.session.add(index, &enc).map_err(js_err)
    }

    /// The last output bytes (index and trailer); the report is then ready.
    pub fn finish(&mut self) -> Result<Vec<u8>, JsError> {
        let (bytes, report) = self.session.finish().map_err(js_err)?;
        self.report = Some(report);
        Ok(bytes)
    }

    /// Totals and per-tensor figures, after `finish`.
    pub fn report(&self) -> Result<JsValue, JsError> {
        let r = self
            .report
            .as_ref()
            .ok_or_else(|| JsError::new("the report is ready after finish"))?;
        report::to_js(r)
    }
}
