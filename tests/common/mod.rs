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

/// The file whose `.stz` bytes the native and wasm builds must both write
/// (`tests/session.rs` and `tests/wasm/`): Gaussian and Laplacian F32 rows
/// with per-row scales, a smooth tensor, BF16 and F16 weights, a 1-D norm,
/// an integer tensor.
pub fn parity_file() -> Vec<u8> {
    let mut rng = Rng(4242);
    let (rows, cols) = (192usize, 96usize);
    let mut gauss = Vec::new();
    let mut laplace = Vec::new();
    let mut smooth = Vec::new();
    for i in 0..rows {
        let scale = 0.02 * (1.0 + (i % 5) as f64);
        for j in 0..cols {
            gauss.extend_from_slice(&((rng.gauss() * scale) as f32).to_le_bytes());
            let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
            let l = -scale * u.signum() * (1.0 - 2.0 * u.abs()).max(1e-300).ln();
            laplace.extend_from_slice(&(l as f32).to_le_bytes());
            let s = (i as f64 * 0.05).sin() * (j as f64 * 0.11).cos() * 0.1;
            smooth.extend_from_slice(&(s as f32).to_le_bytes());
        }
    }
    let f16: Vec<u8> = (0..4096)
        .flat_map(|_| {
            let x = half_bits(rng.gauss() * 0.05);
            x.to_le_bytes()
        })
        .collect();
    safetensors(
        &[
            (
                "embed_tokens.weight",
                "F32",
                vec![rows as u64, cols as u64],
                gauss,
            ),
            (
                "layers.0.mlp.weight",
                "F32",
                vec![rows as u64, cols as u64],
                laplace,
            ),
            (
                "layers.0.smooth",
                "F32",
                vec![rows as u64, cols as u64],
                smooth,
            ),
            (
                "layers.0.attn.weight",
                "BF16",
                vec![128, 64],
                bf16_gauss(&mut rng, 128 * 64, 0.03),
            ),
            ("layers.0.proj.weight", "F16", vec![64, 64], f16),
            (
                "layers.0.norm.weight",
                "F32",
                vec![96],
                f32_gauss(&mut rng, 96, 1.0),
            ),
            (
                "position_ids",
                "I64",
                vec![8],
                (0..8i64).flat_map(|i| i.to_le_bytes()).collect(),
            ),
        ],
        Some(&[("format", "pt")]),
        2,
    )
}

/// XXH3-64 of the `.stz` of [`parity_file`]: lossless, and lossy at 4.5
/// bits per weight (model allocation, default chunking).
pub const PARITY_LOSSLESS: u64 = 0x5abf6d50379bba47;
pub const PARITY_LOSSY: u64 = 0xe4317b208975711b;

/// IEEE half bits of `x` (round to nearest even, finite inputs).
fn half_bits(x: f64) -> u16 {
    let f = x as f32;
    let b = f.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let exp = ((b >> 23) & 0xff) as i32 - 127 + 15;
    if exp <= 0 {
        return sign;
    }
    let mant = b & 0x7f_ffff;
    let mut h = (sign as u32) | ((exp as u32) << 10) | (mant >> 13);
    let rest = mant & 0x1fff;
    if rest > 0x1000 || (rest == 0x1000 && h & 1 == 1) {
        h += 1;
    }
    h as u16
}

/// Random access to every tensor of a `.stz` (when its index and header
/// read): each alone, then all extracted together. Any answer but a panic;
/// for malformed files, where the checks' order may differ from a full
/// decode's.
pub fn random_access_all(data: &[u8], opts: &stzip::pipeline::Options) {
    let mut cur = std::io::Cursor::new(data);
    let Ok((raw, _, _)) = stzip::container::read_index(&mut cur) else {
        return;
    };
    let Ok(h) = stzip::safetensors::Header::parse(raw) else {
        return;
    };
    for t in h.tensors() {
        let _ = stzip::pipeline::decompress_tensor(&mut cur, &t.name, opts);
    }
    let names: Vec<&str> = h.tensors().iter().map(|t| t.name.as_str()).collect();
    let _ = stzip::pipeline::extract_tensors(&mut cur, &names, std::io::sink(), opts, &|_| {});
}
