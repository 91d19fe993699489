//! `stzip inspect`: list the tensors of a `.safetensors` or `.stz` file.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};

use serde_json::json;
use stzip::container::{self, MODE_LOSSY};
use stzip::pipeline::{snr_db, LossyRecord};
use stzip::safetensors::{Header, TensorInfo};

use super::{human, Failure};

/// One line of the listing.
struct Row<'a> {
    info: &'a TensorInfo,
    stored: Option<u64>,
    mode: Option<&'static str>,
    /// Quantizer step and weight SNR of a lossy tensor.
    lossy: Option<LossyRecord>,
}

pub fn run(path: &str, json: bool) -> Result<(), Failure> {
    if path == "-" {
        return Err(Failure::usage(
            "inspect needs a file path (it seeks to the index)",
        ));
    }
    let file = BufReader::new(File::open(path).map_err(|e| Failure {
        message: format!("cannot open {path}: {e}"),
        code: 1,
    })?);
    list(file, path, json)
}

/// The listing of the file `file` reads (`path` in messages): a `.stz`'s
/// header and index, or a safetensors file's header; nothing else is read.
pub fn list(mut file: impl Read + Seek, path: &str, json: bool) -> Result<(), Failure> {
    let mut magic = [0u8; 8];
    let n = stzip::io::read_full(&mut file, &mut magic)?;
    if n == magic.len() && magic == container::MAGIC {
        let (st_header, index, _) = container::read_index(&mut file)?;
        let header = Header::parse(st_header)?;
        let stz_len = file.seek(SeekFrom::End(0))?;
        let rows: Vec<Row> = header
            .tensors()
            .iter()
            .enumerate()
            .map(|(i, info)| {
                let t = i as u32;
                Row {
                    info,
                    stored: Some(
                        index
                            .chunks_of(t)
                            .iter()
                            .map(|c| u64::from(c.payload_len))
                            .sum(),
                    ),
                    mode: Some(match index.tensor(t).map(|r| r.mode) {
                        Some(MODE_LOSSY) => "lossy",
                        _ => "lossless",
                    }),
                    lossy: index.tensor(t).and_then(|r| LossyRecord::parse(&r.extras)),
                }
            })
            .collect();
        super::write_stdout(&listing(path, "stz", &header, &rows, Some(stz_len), json))?;
    } else {
        // The bytes already read, then the rest (no seek back: from the
        // Hub that would be a second request for the same bytes).
        let header = Header::read_from(&mut magic.get(..n).unwrap_or(&[]).chain(file))?;
        let rows: Vec<Row> = header
            .tensors()
            .iter()
            .map(|info| Row {
                info,
                stored: None,
                mode: None,
                lossy: None,
            })
            .collect();
        super::write_stdout(&listing(path, "safetensors", &header, &rows, None, json))?;
    }
    Ok(())
}

/// Tensor names come from the file: escape control characters so a name
/// cannot drive the terminal.
pub fn printable(name: &str) -> String {
    name.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

fn shape_text(shape: &[u64]) -> String {
    let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
    format!("[{}]", dims.join(", "))
}

/// The listing as text: a table and a summary line, or the JSON document.
fn listing(
    path: &str,
    format: &str,
    header: &Header,
    rows: &[Row],
    stz_len: Option<u64>,
    as_json: bool,
) -> String {
    let float_params: u64 = header
        .tensors()
        .iter()
        .filter(|t| t.dtype.is_float())
        .map(|t| t.num_elements())
        .sum();
    if as_json {
        let tensors: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({
                    "name": r.info.name,
                    "dtype": r.info.dtype.name(),
                    "shape": r.info.shape,
                    "bytes": r.info.byte_len(),
                    "stored_bytes": r.stored,
                    "bits_per_weight": r.stored.map(|b| b as f64 * 8.0 / r.info.num_elements().max(1) as f64),
                    "mode": r.mode,
                    "step": r.lossy.map(|l| l.step),
                    "transform": r.lossy.map(|l| l.transform.name()),
                    "snr_db": r.lossy.map(|l| snr_db(l.sig2, l.err2)).filter(|s| s.is_finite()),
                })
            })
            .collect();
        let doc = json!({
            "file": path,
            "format": format,
            "file_bytes": header.file_len(),
            "stz_bytes": stz_len,
            "float_params": float_params,
            "bits_per_weight": stz_len.map(|s| s as f64 * 8.0 / float_params.max(1) as f64),
            "snr_db": file_snr(rows).filter(|s| s.is_finite()),
            "metadata": header.metadata(),
            "tensors": tensors,
        });
        return serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
    }
    let mut out = String::new();
    let names: Vec<String> = rows.iter().map(|r| printable(&r.info.name)).collect();
    let name_w = names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = write!(
        out,
        "{:name_w$}  {:7}  {:>20}  {:>10}",
        "name", "dtype", "shape", "size"
    );
    if stz_len.is_some() {
        let _ = write!(
            out,
            "  {:>10}  {:>7}  {:>7}  {:8}  {:9}  {:>9}  {:>8}",
            "stored", "ratio", "bits/w", "mode", "transform", "step", "SNR dB"
        );
    }
    out.push('\n');
    for (r, name) in rows.iter().zip(&names) {
        let _ = write!(
            out,
            "{:name_w$}  {:7}  {:>20}  {:>10}",
            name,
            r.info.dtype.name(),
            shape_text(&r.info.shape),
            human(r.info.byte_len())
        );
        if let Some(stored) = r.stored {
            let ratio = stored as f64 / r.info.byte_len().max(1) as f64;
            let bpw = stored as f64 * 8.0 / r.info.num_elements().max(1) as f64;
            let (transform, step, snr) = match r.lossy {
                Some(l) => (
                    l.transform.name(),
                    format!("{:.3e}", l.step),
                    format!("{:.2}", snr_db(l.sig2, l.err2)),
                ),
                None => ("-", "-".to_string(), "exact".to_string()),
            };
            let _ = write!(
                out,
                "  {:>10}  {:>6.1}%  {:>7.3}  {:8}  {:9}  {:>9}  {:>8}",
                human(stored),
                100.0 * ratio,
                bpw,
                r.mode.unwrap_or(""),
                transform,
                step,
                snr
            );
        }
        out.push('\n');
    }
    let _ = write!(
        out,
        "{} tensors, {} float parameters, {} ({format})",
        rows.len(),
        float_params,
        human(header.file_len())
    );
    if let Some(s) = stz_len {
        let _ = write!(
            out,
            " → {} stored ({:.1} %, {:.3} bits/weight)",
            human(s),
            100.0 * s as f64 / header.file_len().max(1) as f64,
            s as f64 * 8.0 / float_params.max(1) as f64
        );
        match file_snr(rows) {
            Some(snr) => {
                let _ = write!(out, ", lossy, weight SNR {snr:.2} dB");
            }
            None => out.push_str(", lossless"),
        }
    }
    out.push('\n');
    out
}

/// Whole-file weight SNR from the lossy tensors' records.
fn file_snr(rows: &[Row]) -> Option<f64> {
    let lossy: Vec<LossyRecord> = rows.iter().filter_map(|r| r.lossy).collect();
    if lossy.is_empty() {
        return None;
    }
    let (sig2, err2) = lossy
        .iter()
        .fold((0.0, 0.0), |(s, e), l| (s + l.sig2, e + l.err2));
    Some(snr_db(sig2, err2))
}
