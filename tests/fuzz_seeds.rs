//! Writes the seed corpora of the fuzz targets into `fuzz/corpus/<target>/`
//! (committed; small): valid inputs each target starts mutating from.
//! `cargo test --release --test fuzz_seeds -- --ignored` regenerates them.

mod common;

use std::path::{Path, PathBuf};

use common::{bf16_gauss, borrowed, every_dtype_tensors, f32_gauss, safetensors, Rng};
use stzip::codec::entropy::{encode_bytes, encode_symbols, put_varint, BitWriter, FreqTable};
use stzip::codec::entropy::{EncTable, RansEncoder};
use stzip::container::StzReader;
use stzip::pipeline::{compress, compress_lossy, Allocation, LossyOptions, Options, Target};
use stzip::safetensors::Dtype;

fn corpus(target: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn put(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes).unwrap();
}

/// Small valid safetensors files: every dtype, metadata and padding,
/// empty and scalar tensors, a single F32 weight.
fn safetensors_files() -> Vec<(&'static str, Vec<u8>)> {
    let mut rng = Rng(7);
    let owned = every_dtype_tensors(&mut rng, 16);
    let mut all = borrowed(&owned);
    all.push(("empty", "F16", vec![0, 3], Vec::new()));
    all.push(("scalar", "F64", vec![], 0.5f64.to_le_bytes().to_vec()));
    vec![
        (
            "every-dtype",
            safetensors(&all, Some(&[("format", "pt")]), 3),
        ),
        (
            "weights",
            safetensors(
                &[
                    ("w", "F32", vec![16, 8], f32_gauss(&mut rng, 128, 0.02)),
                    ("b", "BF16", vec![8], bf16_gauss(&mut rng, 8, 0.1)),
                ],
                None,
                0,
            ),
        ),
        ("empty-object", safetensors(&[], None, 0)),
        ("metadata-only", safetensors(&[], Some(&[("a", "b")]), 7)),
    ]
}

fn small_opts() -> Options {
    Options {
        threads: 1,
        chunk_bytes: 64,
        ..Options::default()
    }
}

fn stz_files() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> =
        std::fs::read_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| {
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .collect();
    for (name, file) in safetensors_files() {
        let mut stz = Vec::new();
        compress(&file[..], &mut stz, &small_opts(), &|_| {}).unwrap();
        out.push((format!("{name}.stz"), stz));
    }
    let weights = &safetensors_files()[1].1;
    let mut stz = Vec::new();
    let l = LossyOptions {
        target: Target::Snr(20.0),
        allocation: Allocation::Uniform,
        tied_embeddings: None,
    };
    compress_lossy(
        &mut || Ok(&weights[..]),
        &mut stz,
        &small_opts(),
        &l,
        &|_| {},
    )
    .unwrap();
    out.push(("weights-lossy.stz".into(), stz));
    out
}

/// `stz_mutate`'s input: `u32 n`, the n header bytes, then frames
/// `u32 tensor, u32 decoded_len, u32 payload_len, payload`.
fn to_frames(stz: &[u8]) -> Vec<u8> {
    let mut r = StzReader::new(stz).unwrap();
    let header = r.safetensors_header().to_vec();
    let mut out = (header.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(&header);
    let mut payload = Vec::new();
    while let Some(ch) = r.next_chunk(&mut payload).unwrap() {
        out.extend_from_slice(&ch.tensor.to_le_bytes());
        out.extend_from_slice(&(ch.decoded_len as u32).to_le_bytes());
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&payload);
    }
    out
}

#[test]
#[ignore = "writes the fuzz seed corpora"]
fn write_fuzz_seeds() {
    let st = safetensors_files();
    let (hd, sd) = (corpus("safetensors_header"), corpus("safetensors_stream"));
    for (name, file) in &st {
        let hlen = 8 + u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
        put(&hd, name, &file[..hlen]);
        put(&sd, name, file);
    }
    put(
        &hd,
        "json-nested",
        br#"{"__metadata__":{"k":"v"},"t":{"dtype":"U8","shape":[1,2],"data_offsets":[0,2]}}"#,
    );

    let (dd, td, md) = (
        corpus("stz_decode"),
        corpus("stz_tensor"),
        corpus("stz_mutate"),
    );
    for (name, stz) in stz_files() {
        put(&dd, &name, &stz);
        put(&td, &name, &stz);
        put(&md, &name, &to_frames(&stz));
    }

    // entropy_decode: mode byte, u16 count, stream.
    let ed = corpus("entropy_decode");
    let mut rng = Rng(11);
    let skewed: Vec<u8> = (0..300)
        .map(|_| (rng.gauss() * 3.0).abs().min(255.0) as u8)
        .collect();
    let seed = |mode: u8, n: usize, body: &[u8]| {
        let mut v = vec![mode];
        v.extend_from_slice(&(n as u16).to_le_bytes());
        v.extend_from_slice(body);
        v
    };
    for (i, data) in [skewed.clone(), vec![9u8; 40], rng.bytes(50)]
        .iter()
        .enumerate()
    {
        let mut body = Vec::new();
        encode_bytes(data, &mut body);
        put(&ed, &format!("bytes-{i}"), &seed(0, data.len(), &body));
    }
    let syms: Vec<u16> = skewed.iter().map(|&b| u16::from(b) * 3).collect();
    let mut body = vec![((syms.iter().max().unwrap() + 1) / 16) as u8 + 1];
    let alphabet = usize::from(body[0]) * 16 + 1;
    encode_symbols(&syms, alphabet, &mut body).unwrap();
    put(&ed, "symbols", &seed(1, syms.len(), &body));
    let mut counts = vec![0u64; 256];
    skewed.iter().for_each(|&b| counts[usize::from(b)] += 1);
    for bits in [10, 12, 15] {
        let t = FreqTable::from_counts(&counts, bits).unwrap();
        let mut body = Vec::new();
        t.write(&mut body);
        let et = EncTable::new(&t);
        let mut enc = RansEncoder::new();
        for &b in &skewed {
            enc.put(&et, u16::from(b));
        }
        body.extend_from_slice(&enc.finish());
        put(&ed, &format!("rans-p{bits}"), &seed(2, skewed.len(), &body));
    }
    let mut bw = BitWriter::new();
    for i in 0..64u64 {
        bw.put(i * 977 % (1 << (i % 20)), (i % 20) as u32);
    }
    put(&ed, "bits", &seed(3, 64, &bw.finish()));
    let mut body = Vec::new();
    for v in [0u64, 127, 128, 1 << 40, u64::MAX] {
        put_varint(&mut body, v);
    }
    put(&ed, "varints", &seed(4, 0, &body));

    // lossy_decode: selector (dtype, bit 2 for method 4), u16 element
    // count, the payload after its method byte.
    let ld = corpus("lossy_decode");
    let seed = |selector: u8, n: usize, payload: &[u8]| {
        let mut v = vec![selector];
        v.extend_from_slice(&(n as u16).to_le_bytes());
        v.extend_from_slice(&payload[1..]);
        v
    };
    for (sel, dtype) in [Dtype::F32, Dtype::BF16, Dtype::F16, Dtype::F64]
        .iter()
        .enumerate()
    {
        for (rows, cols, step) in [(8usize, 16usize, 0.004), (1, 100, 0.02), (40, 4, 0.001)] {
            let n = rows * cols;
            let data: Vec<u8> = (0..n)
                .flat_map(|i| {
                    let v = rng.gauss() * 0.02 * (1.0 + (i / cols % 3) as f64);
                    element_bytes(*dtype, if i == 5 { f64::NAN } else { v })
                })
                .collect();
            let enc = stzip::codec::lossy::encode(*dtype, cols, data.clone(), step).unwrap();
            assert_eq!(enc.payload[0], 3);
            let name = format!("{}-{rows}x{cols}", dtype.name());
            put(&ld, &name, &seed(sel as u8, n, &enc.payload));
        }
        // A smooth chunk, coded as transform coefficients (method 4).
        let (rows, cols) = (24usize, 32usize);
        let data: Vec<u8> = (0..rows * cols)
            .flat_map(|i| {
                let v = ((i / cols) as f64 * 0.1).sin() * ((i % cols) as f64 * 0.07).cos();
                element_bytes(*dtype, v)
            })
            .collect();
        let enc = stzip::codec::lossy::encode(*dtype, cols, data.clone(), 0.01).unwrap();
        assert_eq!(enc.payload[0], 4, "{dtype:?} smooth chunk is transformed");
        let name = format!("{}-transformed", dtype.name());
        put(&ld, &name, &seed(sel as u8 | 4, rows * cols, &enc.payload));
    }
}

/// `v` as one little-endian element of a float `dtype` (F32, F64, BF16
/// truncated, else F16).
fn element_bytes(dtype: Dtype, v: f64) -> Vec<u8> {
    match dtype {
        Dtype::F32 => (v as f32).to_le_bytes().to_vec(),
        Dtype::F64 => v.to_le_bytes().to_vec(),
        Dtype::BF16 => ((v as f32).to_bits() >> 16).to_le_bytes()[..2].to_vec(),
        _ => f16_bits(v as f32).to_le_bytes().to_vec(),
    }
}

/// f32 → IEEE binary16 bits (truncating; seeds only need plausible values).
fn f16_bits(x: f32) -> u16 {
    let b = x.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let e = ((b >> 23) & 0xff) as i32 - 127 + 15;
    if x.is_nan() {
        return sign | 0x7e00;
    }
    if e <= 0 {
        return sign;
    }
    if e >= 31 {
        return sign | 0x7c00;
    }
    sign | ((e as u16) << 10) | ((b >> 13) & 0x3ff) as u16
}
