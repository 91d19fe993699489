//! The per-tensor report of a compression: a table for people, JSON for
//! machines. Every ratio comes with its error.

use serde_json::json;
use stzip::pipeline::{Report, TensorReport};

use super::inspect::printable;

/// Per tensor: mode, transform, quantizer step, bits per weight, SNR;
/// then totals.
pub fn table(report: &Report) -> String {
    let names: Vec<String> = report.tensors.iter().map(|t| printable(&t.name)).collect();
    let w = names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = format!(
        "{:w$}  {:7}  {:8}  {:9}  {:>10}  {:>8}  {:>9}\n",
        "name", "dtype", "mode", "transform", "step", "bits/w", "SNR dB"
    );
    for (t, name) in report.tensors.iter().zip(&names) {
        let (mode, step, snr) = match (t.step, t.snr_db()) {
            (Some(step), Some(snr)) => ("lossy", format!("{step:.3e}"), format!("{snr:.2}")),
            _ => ("lossless", "-".to_string(), "exact".to_string()),
        };
        let transform = transform_name(t);
        out += &format!(
            "{name:w$}  {:7}  {mode:8}  {transform:9}  {step:>10}  {:>8.3}  {snr:>9}\n",
            t.dtype.name(),
            t.bits_per_weight()
        );
    }
    out += &format!(
        "total: {:.3} bits/weight over {} float parameters, weight SNR {}\n",
        report.bits_per_weight(),
        report.float_params,
        report
            .snr_db()
            .map_or("exact (lossless)".to_string(), |s| format!("{s:.2} dB"))
    );
    out
}

/// The transform of a lossy tensor's chunks; `-` when lossless.
fn transform_name(t: &TensorReport) -> &'static str {
    match (t.step, t.transform) {
        (Some(_), Some(tr)) => tr.name(),
        (Some(_), None) => "none",
        _ => "-",
    }
}

/// The report as a JSON document.
pub fn json(input: &str, report: &Report) -> String {
    let tensors: Vec<_> = report
        .tensors
        .iter()
        .map(|t| {
            json!({
                "name": t.name,
                "dtype": t.dtype.name(),
                "shape": t.shape,
                "bytes": t.raw_bytes,
                "stored_bytes": t.stored_bytes,
                "mode": if t.step.is_some() { "lossy" } else { "lossless" },
                "step": t.step,
                "transform": t.step.map(|_| transform_name(t)),
                "bits_per_weight": t.bits_per_weight(),
                "snr_db": t.snr_db().filter(|s| s.is_finite()),
            })
        })
        .collect();
    let doc = json!({
        "file": input,
        "file_bytes": report.raw_bytes,
        "stz_bytes": report.stz_bytes,
        "float_params": report.float_params,
        "bits_per_weight": report.bits_per_weight(),
        "snr_db": report.snr_db().filter(|s| s.is_finite()),
        "tensors": tensors,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}
