//! Golden `.stz` files: the format is a promise, so files written by a
//! released version must keep decoding to exactly the same bytes.
//! `cargo test --test golden -- --ignored` writes the ones missing (for a
//! new method or format version; existing files are never rewritten).

mod common;

use std::path::PathBuf;

use common::{bf16_gauss, borrowed, every_dtype_tensors, safetensors, Rng};
use stzip::pipeline::{
    compress, compress_lossy, decompress, Allocation, LossyOptions, Options, Target,
};
use xxhash_rust::xxh3::xxh3_64;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// (file name, expected decoded length, expected XXH3-64 of the decoded file)
const GOLDEN: &[(&str, usize, u64)] = &[
    ("v1-mixed.stz", 5891, 0x4764fa6bede15564),
    ("v1-weights.stz", 24837, 0xcfeae86ab08d1859),
    ("v1-lossy.stz", 24837, 0x4dea8fe8c1e0a9b2),
    ("v1-lossy-dq.stz", 24837, 0xa5410a50468f5a0a),
    ("v1-lossy-split.stz", 24837, 0x32f35f7703bd8bbf),
    ("v1-lossy-transform.stz", 19155, 0x13796a623a0a7914),
    ("v1-lossy-chains.stz", 295569, 0xb6aa6003fb64e22d),
    ("v1-wide.stz", 328465, 0x230d0e2a909e29a5),
];

/// The inputs the lossless golden files were made from, with the chunk
/// size they were written with.
fn inputs() -> Vec<(&'static str, Vec<u8>, usize)> {
    let mut rng = Rng(2024);
    let owned = every_dtype_tensors(&mut rng, 96);
    let mut tensors = borrowed(&owned);
    tensors.push(("empty", "F16", vec![0, 3], Vec::new()));
    tensors.push(("scalar", "F64", vec![], 0.5f64.to_le_bytes().to_vec()));
    let mixed = safetensors(
        &tensors,
        Some(&[("format", "pt"), ("note", "golden v1")]),
        5,
    );

    // Weight-like F32 with per-row scales, a row of fp16-born values, specials.
    let (rows, cols) = (96usize, 64usize);
    let mut w = Vec::new();
    for i in 0..rows {
        let scale = 0.01 * (1.0 + (i % 7) as f64);
        for j in 0..cols {
            let mut v = (rng.gauss() * scale) as f32;
            if i % 5 == 0 {
                v = f32::from_bits(v.to_bits() & !0x1fff);
            }
            if i == 3 && j < 4 {
                v = [f32::NAN, f32::INFINITY, -0.0, 1e-40][j];
            }
            w.extend_from_slice(&v.to_le_bytes());
        }
    }
    let weights = safetensors(
        &[
            ("w", "F32", vec![rows as u64, cols as u64], w),
            ("b", "BF16", vec![64], bf16_gauss(&mut rng, 64, 0.1)),
        ],
        None,
        0,
    );
    // Large enough for one 32-lane (method 5) chunk, beside a small
    // method-2 one.
    let (rows, cols) = (256usize, 320usize);
    let wide: Vec<u8> = (0..rows * cols)
        .flat_map(|i| ((rng.gauss() * 0.002 * (1.0 + (i / cols % 5) as f64)) as f32).to_le_bytes())
        .collect();
    let wide = safetensors(
        &[
            ("proj", "F32", vec![rows as u64, cols as u64], wide),
            ("norm", "BF16", vec![320], bf16_gauss(&mut rng, 320, 0.5)),
        ],
        None,
        0,
    );
    vec![
        ("v1-mixed.stz", mixed, 1 << 12),
        ("v1-weights.stz", weights, 1 << 12),
        ("v1-wide.stz", wide, 1 << 20),
    ]
}

#[test]
fn golden_files_decode_to_known_bytes() {
    for &(name, len, hash) in GOLDEN {
        let stz = std::fs::read(dir().join(name)).unwrap();
        for threads in [1, 2] {
            let mut out = Vec::new();
            let o = Options {
                threads,
                ..Options::default()
            };
            decompress(&stz[..], Some(&mut out), &o, &|_| {}).unwrap();
            assert_eq!((out.len(), xxh3_64(&out)), (len, hash), "{name}");
        }
    }
    // And the lossless ones decode to the inputs they were made from.
    for (name, input, _) in inputs() {
        let &(_, len, hash) = GOLDEN.iter().find(|g| g.0 == name).unwrap();
        assert_eq!((input.len(), xxh3_64(&input)), (len, hash), "{name} input");
    }
}

#[test]
#[ignore = "writes missing golden files; run only for a new method or format version"]
fn regenerate() {
    let o = Options {
        threads: 1,
        chunk_bytes: 1 << 12,
        ..Options::default()
    };
    for (name, input, chunk_bytes) in inputs() {
        if dir().join(name).exists() {
            continue;
        }
        let mut stz = Vec::new();
        let o = Options { chunk_bytes, ..o };
        compress(&input[..], &mut stz, &o, &|_| {}).unwrap();
        std::fs::write(dir().join(name), &stz).unwrap();
        println!("(\"{name}\", {}, {:#018x}),", input.len(), xxh3_64(&input));
    }
    // Lossy, quantized to 30 dB. v1-lossy.stz (scalar quantization),
    // v1-lossy-dq.stz (one class per octave) and v1-lossy-split.stz (no
    // transforms) came from earlier encoders; v1-lossy-transform.stz from
    // one whose chunks all had one quantizer chain. v1-lossy-transform:
    // a smooth tensor (coded as DCT coefficients), a noise-like one and a
    // smooth BF16 vector.
    let mut rng = Rng(77);
    let smooth: Vec<u8> = (0..64 * 48)
        .flat_map(|i| {
            let (r, c) = ((i / 48) as f64, (i % 48) as f64);
            (((r * 0.07).sin() * (c * 0.05).cos() * 0.05) as f32).to_le_bytes()
        })
        .collect();
    let noise: Vec<u8> = (0..32 * 48)
        .flat_map(|_| ((rng.gauss() * 0.02) as f32).to_le_bytes())
        .collect();
    let vector: Vec<u8> = (0..256)
        .flat_map(|i| {
            let x = (1.0 + 0.05 * (i as f64 * 0.03).sin()) as f32;
            ((x.to_bits() >> 16) as u16).to_le_bytes()
        })
        .collect();
    let input = safetensors(
        &[
            ("smooth", "F32", vec![64, 48], smooth),
            ("noise", "F32", vec![32, 48], noise),
            ("norm", "BF16", vec![256], vector.clone()),
        ],
        None,
        0,
    );
    write_lossy("v1-lossy-transform.stz", &input, &o);
    // v1-lossy-chains: a chunk large enough for lane chains (2^16 values
    // and more), with rows of different scales, escapes among them, and
    // the BF16 vector (one chain).
    let (rows, cols) = (256usize, 288usize);
    let big: Vec<u8> = (0..rows * cols)
        .flat_map(|i| {
            let x = match i % 4099 {
                17 => f32::NAN,
                18 => f32::NEG_INFINITY,
                _ => (rng.gauss() * 0.01 * (1.0 + (i / cols % 7) as f64)) as f32,
            };
            x.to_le_bytes()
        })
        .collect();
    let input = safetensors(
        &[
            ("proj", "F32", vec![rows as u64, cols as u64], big),
            ("norm", "BF16", vec![256], vector),
        ],
        None,
        0,
    );
    let o = Options {
        chunk_bytes: 1 << 20,
        ..o
    };
    write_lossy("v1-lossy-chains.stz", &input, &o);
}

/// Writes golden file `name` (unless it exists): `input` quantized to 30
/// dB with one step, and prints its table row.
fn write_lossy(name: &str, input: &[u8], o: &Options) {
    if dir().join(name).exists() {
        return;
    }
    let mut stz = Vec::new();
    let l = LossyOptions {
        target: Target::Snr(30.0),
        allocation: Allocation::Uniform,
        tied_embeddings: None,
    };
    let report = compress_lossy(&mut || Ok(input), &mut stz, o, &l, &|_| {}).unwrap();
    let names: Vec<_> = report
        .tensors
        .iter()
        .map(|t| t.transform.map(|t| t.name()))
        .collect();
    println!("{name} transforms: {names:?}");
    std::fs::write(dir().join(name), &stz).unwrap();
    let mut out = Vec::new();
    decompress(&stz[..], Some(&mut out), o, &|_| {}).unwrap();
    println!("(\"{name}\", {}, {:#018x}),", out.len(), xxh3_64(&out));
}
