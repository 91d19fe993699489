//! One thread, one 8 MiB chunk of Gaussian F32 rows: the chunk coders'
//! speed, the figure the wasm build is compared with (the browser
//! benchmark, `tests/e2e/bench.mjs`, runs the same coders in workers).
//! `cargo run --release --example chunk_speed [MiB]`

mod common;

use common::{best_of, mb_per_s, Rng};
use stzip::container::ChunkHeader;
use stzip::pipeline::{decode_chunk, encode_chunk};
use stzip::safetensors::Dtype;

fn main() -> stzip::Result<()> {
    let mib: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(8);
    let (n, row_len) = (mib << 18, 1024usize);
    let mut rng = Rng(12345);
    let data: Vec<u8> = (0..n)
        .flat_map(|_| ((0.02 * rng.gaussian()) as f32).to_le_bytes())
        .collect();
    let (enc, t_enc) = best_of(5, || encode_chunk(Dtype::F32, row_len, None, data.clone()))?;
    let chunk = ChunkHeader {
        tensor: 0,
        decoded_len: data.len() as u64,
        checksum: enc.checksum,
    };
    let (out, t_dec) = best_of(5, || decode_chunk(Dtype::F32, &chunk, &enc.payload))?;
    assert_eq!(out, data);
    println!(
        "native compress MB/s {:.1} decompress MB/s {:.1} ratio {:.3}",
        mb_per_s(data.len(), t_enc),
        mb_per_s(data.len(), t_dec),
        data.len() as f64 / enc.payload.len() as f64
    );
    // Lossy at a step of σ/8 (about 4.4 bits/weight, 29 dB): the coding
    // pass alone (no rate control).
    let step = Some(0.02 / 8.0);
    let (enc, t_enc) = best_of(5, || encode_chunk(Dtype::F32, row_len, step, data.clone()))?;
    let chunk = ChunkHeader {
        tensor: 0,
        decoded_len: data.len() as u64,
        checksum: enc.checksum,
    };
    let (out, t_dec) = best_of(5, || decode_chunk(Dtype::F32, &chunk, &enc.payload))?;
    assert_eq!(out, enc.decoded);
    println!(
        "native lossy compress MB/s {:.1} decompress MB/s {:.1} bits/weight {:.3}",
        mb_per_s(data.len(), t_enc),
        mb_per_s(data.len(), t_dec),
        enc.payload.len() as f64 * 32.0 / data.len() as f64
    );
    Ok(())
}
