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

/// A safetensors file from `(name, dtype, shape, data)` tensors.
pub fn safetensors(tensors: Vec<(&str, &str, Vec<u64>, Vec<u8>)>) -> Vec<u8> {
    let entries: Vec<Entry> = tensors
        .iter()
        .map(|(name, dtype, shape, data)| Entry {
            name: name.to_string(),
            dtype: dtype.to_string(),
            shape: shape.clone(),
            len: data.len() as u64,
        })
        .collect();
    let mut out = header(None, &entries);
    for (_, _, _, data) in tensors {
        out.extend_from_slice(&data);
    }
    out
}

/// `$STZIP_CACHE`, else `~/.cache/stzip` (where `scripts/setup-data.sh` puts data).
pub fn cache_dir() -> std::path::PathBuf {
    match std::env::var_os("STZIP_CACHE") {
        Some(dir) => dir.into(),
        None => std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
            .join(".cache/stzip"),
    }
}

/// Run `f` `runs` times; return its last result and the fastest time.
pub fn best_of<T>(
    runs: usize,
    mut f: impl FnMut() -> stzip::Result<T>,
) -> stzip::Result<(T, std::time::Duration)> {
    let mut best = std::time::Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let start = std::time::Instant::now();
        last = Some(f()?);
        best = best.min(start.elapsed());
    }
    Ok((last.expect("at least one run"), best))
}

/// Throughput in MB/s (10⁶ bytes per second).
pub fn mb_per_s(bytes: usize, t: std::time::Duration) -> f64 {
    bytes as f64 / 1e6 / t.as_secs_f64()
}

/// A target's verdict.
pub fn pass(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "MISS"
    }
}

/// F32 → F16 bits, round to nearest even, with subnormals, infinities, NaN.
pub fn f16_bits(x: f32) -> u16 {
    const DENORM_MAGIC: u32 = ((127 - 15) + (23 - 10) + 1) << 23;
    let bits = x.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let abs = bits & 0x7fff_ffff;
    let half = if abs >= (127 + 16) << 23 {
        if abs > 0x7f80_0000 {
            0x7e00
        } else {
            0x7c00
        }
    } else if abs < 113 << 23 {
        let sum = f32::from_bits(abs) + f32::from_bits(DENORM_MAGIC);
        (sum.to_bits() - DENORM_MAGIC) as u16
    } else {
        let odd = (abs >> 13) & 1;
        (abs.wrapping_sub(112 << 23).wrapping_add(0xfff + odd) >> 13) as u16
    };
    sign | half
}

/// F16 bits → F32 (exact).
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let mant = f32::from(h & 0x3ff);
    sign * match exp {
        0 => mant * 2f32.powi(-24),
        31 if mant == 0.0 => f32::INFINITY,
        31 => f32::NAN,
        _ => (1.0 + mant / 1024.0) * 2f32.powi(exp - 15),
    }
}
