//! Shared helpers for the integration tests: a safetensors file builder and
//! deterministic test data.
#![allow(dead_code)]

use std::path::PathBuf;

/// Build a safetensors file from (name, dtype, shape, bytes) in that order,
/// with optional `__metadata__` and `pad` extra spaces after the JSON.
pub fn safetensors(
    tensors: &[(&str, &str, Vec<u64>, Vec<u8>)],
    metadata: Option<&[(&str, &str)]>,
    pad: usize,
) -> Vec<u8> {
    let mut json = String::from("{");
    let mut first = true;
    if let Some(md) = metadata {
        let entries: Vec<String> = md
            .iter()
            .map(|(k, v)| format!("{}:{}", quote(k), quote(v)))
            .collect();
        json.push_str(&format!("\"__metadata__\":{{{}}}", entries.join(",")));
        first = false;
    }
    let mut offset = 0usize;
    let mut data = Vec::new();
    for (name, dtype, shape, bytes) in tensors {
        if !first {
            json.push(',');
        }
        first = false;
        let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
        json.push_str(&format!(
            "{}:{{\"dtype\":\"{dtype}\",\"shape\":[{}],\"data_offsets\":[{offset},{}]}}",
            quote(name),
            dims.join(","),
            offset + bytes.len()
        ));
        offset += bytes.len();
        data.extend_from_slice(bytes);
    }
    json.push('}');
    json.push_str(&" ".repeat(pad));
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(json.as_bytes());
    out.extend_from_slice(&data);
    out
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// SplitMix64: small, fast, deterministic.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn gauss(&mut self) -> f64 {
        let (u, v) = (self.unit().max(1e-300), self.unit());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

/// `n` Gaussian values as little-endian F32 bytes.
pub fn f32_gauss(rng: &mut Rng, n: usize, scale: f64) -> Vec<u8> {
    (0..n)
        .flat_map(|_| ((rng.gauss() * scale) as f32).to_le_bytes())
        .collect()
}

/// `n` Gaussian values as little-endian BF16 bytes (truncated).
pub fn bf16_gauss(rng: &mut Rng, n: usize, scale: f64) -> Vec<u8> {
    (0..n)
        .flat_map(|_| ((((rng.gauss() * scale) as f32).to_bits() >> 16) as u16).to_le_bytes())
        .collect()
}

/// The cached all-MiniLM-L6-v2 weights, if `scripts/setup-data.sh` fetched them.
pub fn minilm(file: &str) -> Option<PathBuf> {
    let cache = std::env::var_os("STZIP_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/stzip")))?;
    let path = cache.join("minilm").join(file);
    if path.exists() {
        Some(path)
    } else {
        eprintln!(
            "SKIP: {} not found — run scripts/setup-data.sh to fetch all-MiniLM-L6-v2",
            path.display()
        );
        None
    }
}

/// One `[n/4, 4]` tensor of every dtype, named `t.<DTYPE>`: Gaussian F32 and
/// BF16, random bytes otherwise (0/1 for BOOL).
pub fn every_dtype_tensors(
    rng: &mut Rng,
    n: usize,
) -> Vec<(String, &'static str, Vec<u64>, Vec<u8>)> {
    stzip::safetensors::Dtype::ALL
        .iter()
        .map(|d| {
            let mut bytes = match d.name() {
                "F32" => f32_gauss(rng, n, 0.02),
                "BF16" => bf16_gauss(rng, n, 0.02),
                _ => rng.bytes(n * d.size()),
            };
            if d.name() == "BOOL" {
                bytes.iter_mut().for_each(|b| *b &= 1);
            }
            (
                format!("t.{}", d.name()),
                d.name(),
                vec![n as u64 / 4, 4],
                bytes,
            )
        })
        .collect()
}

/// Borrow names for [`safetensors`].
pub fn borrowed<'a>(
    t: &'a [(String, &'static str, Vec<u64>, Vec<u8>)],
) -> Vec<(&'a str, &'static str, Vec<u64>, Vec<u8>)> {
    t.iter()
        .map(|(n, d, s, b)| (n.as_str(), *d, s.clone(), b.clone()))
        .collect()
}
