//! `Decompressor`: the coordinator's side of a decompression. Input is
//! pushed as it arrives; `next()` hands out frames for the workers
//! ([`super::decode_chunk`]), whose results come back through `add` in
//! order.

use wasm_bindgen::prelude::*;

use super::{js_err, report, set};
use crate::pipeline::session::{Decompression, Event};

#[wasm_bindgen]
#[derive(Default)]
pub struct Decompressor {
    session: Decompression,
}

#[wasm_bindgen]
impl Decompressor {
    #[wasm_bindgen(constructor)]
    pub fn new() -> Decompressor {
        Decompressor::default()
    }

    /// Appends input bytes (any slice sizes, in order).
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), JsError> {
        self.session.push(bytes).map_err(js_err)
    }

    /// No more input.
    pub fn end(&mut self) {
        self.session.end();
    }

    /// `{kind: 'need'}`, `{kind: 'header', bytes, fileLength}`,
    /// `{kind: 'chunk', seq, tensor, dtype, len, checksum, payload}` or
    /// `{kind: 'end'}`. Call until `need` before pushing more.
    #[wasm_bindgen(js_name = next)]
    pub fn next_event(&mut self) -> Result<JsValue, JsError> {
        let o = js_sys::Object::new();
        match self.session.next_event().map_err(js_err)? {
            Event::NeedInput => set(&o, "kind", "need")?,
            Event::Header(bytes) => {
                set(&o, "kind", "header")?;
                let len = self.session.header().map_or(0, |h| h.file_len());
                set(&o, "fileLength", len as f64)?;
                set(&o, "bytes", js_sys::Uint8Array::from(&bytes[..]))?;
            }
            Event::Chunk {
                seq,
                dtype,
                chunk,
                payload,
            } => {
                set(&o, "kind", "chunk")?;
                set(&o, "seq", seq as f64)?;
                set(&o, "tensor", chunk.tensor)?;
                set(&o, "dtype", dtype.code())?;
                set(&o, "len", chunk.decoded_len as f64)?;
                set(&o, "checksum", chunk.checksum)?;
                set(&o, "payload", js_sys::Uint8Array::from(&payload[..]))?;
            }
            Event::End => set(&o, "kind", "end")?,
        }
        Ok(o.into())
    }

    /// Hands back frame `seq`'s decoded bytes, in order.
    pub fn add(&mut self, seq: f64, decoded: &[u8]) -> Result<(), JsError> {
        self.session.add(seq as u64, decoded).map_err(js_err)
    }

    /// Checks the whole-file checksum (after `end` and every `add`) and
    /// returns the report.
    pub fn finish(&mut self) -> Result<JsValue, JsError> {
        let r = self.session.finish().map_err(js_err)?;
        report::to_js(&r)
    }
}
