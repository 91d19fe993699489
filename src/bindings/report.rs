//! Reports as plain JS objects, the page's table and chart input.

use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::pipeline::Report;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsReport<'a> {
    raw_bytes: f64,
    stz_bytes: f64,
    float_params: f64,
    bits_per_weight: f64,
    ratio: f64,
    snr_db: Option<f64>,
    tensors: Vec<JsTensor<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsTensor<'a> {
    name: &'a str,
    dtype: &'static str,
    shape: Vec<f64>,
    raw_bytes: f64,
    stored_bytes: f64,
    bits_per_weight: f64,
    snr_db: Option<f64>,
    step: Option<f64>,
    codec: &'static str,
    /// `none`, `dct-0`, `dct-1`, `rft-0`, `rft-1` or `mixed`; `null` when
    /// lossless.
    transform: Option<&'static str>,
}

/// Infinite SNR (an exact tensor) has no JSON form: reported as `null`.
fn finite(x: Option<f64>) -> Option<f64> {
    x.filter(|v| v.is_finite())
}

pub(super) fn to_js(report: &Report) -> Result<JsValue, JsError> {
    let js = JsReport {
        raw_bytes: report.raw_bytes as f64,
        stz_bytes: report.stz_bytes as f64,
        float_params: report.float_params as f64,
        bits_per_weight: report.bits_per_weight(),
        ratio: report.raw_bytes as f64 / report.stz_bytes.max(1) as f64,
        snr_db: finite(report.snr_db()),
        tensors: report
            .tensors
            .iter()
            .map(|t| JsTensor {
                name: &t.name,
                dtype: t.dtype.name(),
                shape: t.shape.iter().map(|&d| d as f64).collect(),
                raw_bytes: t.raw_bytes as f64,
                stored_bytes: t.stored_bytes as f64,
                bits_per_weight: t.bits_per_weight(),
                snr_db: finite(t.snr_db()),
                step: t.step,
                transform: t.step.map(|_| t.transform.map_or("none", |tr| tr.name())),
                codec: if t.step.is_some() {
                    "quantized"
                } else {
                    "lossless"
                },
            })
            .collect(),
    };
    js.serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&e.to_string()))
}
