//! End-to-end lossless round trips through the pipeline.

mod common;

use common::{bf16_gauss, borrowed, every_dtype_tensors, f32_gauss, safetensors, Rng};
use stzip::pipeline::{compress, decompress, Options};
use stzip::Error;

fn opts(threads: usize, chunk_bytes: usize) -> Options {
    Options {
        threads,
        chunk_bytes,
        ..Options::default()
    }
}

fn stz(file: &[u8], o: &Options) -> Vec<u8> {
    let mut out = Vec::new();
    compress(file, &mut out, o, &|_| {}).unwrap();
    out
}

fn restore(stz: &[u8], o: &Options) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    decompress(stz, Some(&mut out), o, &|_| {})?;
    Ok(out)
}

fn assert_round_trip(file: &[u8]) -> Vec<u8> {
    let o = opts(2, 1 << 12);
    let packed = stz(file, &o);
    assert_eq!(restore(&packed, &o).unwrap(), file);
    packed
}

fn every_dtype_file(rng: &mut Rng, n: usize) -> Vec<u8> {
    let tensors = every_dtype_tensors(rng, n);
    safetensors(&borrowed(&tensors), Some(&[("format", "pt")]), 3)
}

#[test]
fn every_dtype_round_trips_byte_exact() {
    let mut rng = Rng(10);
    for n in [4usize, 64, 4096] {
        assert_round_trip(&every_dtype_file(&mut rng, n));
    }
}

#[test]
fn empty_scalar_and_metadata_only_files() {
    // Only __metadata__, no tensors.
    assert_round_trip(&safetensors(&[], Some(&[("k", "v")]), 0));
    // Nothing at all.
    assert_round_trip(&safetensors(&[], None, 0));
    // Zero-dim, zero-element and scalar tensors between normal ones.
    let mut rng = Rng(11);
    let file = safetensors(
        &[
            ("a", "F32", vec![3, 5], f32_gauss(&mut rng, 15, 1.0)),
            ("empty", "F16", vec![0, 7], vec![]),
            ("scalar", "F64", vec![], 1.5f64.to_le_bytes().to_vec()),
            ("b", "I64", vec![2], rng.bytes(16)),
            ("empty2", "BF16", vec![0], vec![]),
        ],
        None,
        0,
    );
    assert_round_trip(&file);
}

#[test]
fn unusual_header_padding_is_kept() {
    let mut rng = Rng(12);
    for pad in [0, 1, 7, 8, 100] {
        let file = safetensors(
            &[("w", "F32", vec![8, 8], f32_gauss(&mut rng, 64, 1.0))],
            None,
            pad,
        );
        assert_round_trip(&file);
    }
}

#[test]
fn output_is_identical_for_any_thread_count() {
    let mut rng = Rng(13);
    let file = safetensors(
        &[
            (
                "w1",
                "F32",
                vec![256, 64],
                f32_gauss(&mut rng, 256 * 64, 0.05),
            ),
            (
                "w2",
                "BF16",
                vec![128, 128],
                bf16_gauss(&mut rng, 128 * 128, 0.05),
            ),
            ("ids", "I32", vec![1000], rng.bytes(4000)),
        ],
        None,
        0,
    );
    let reference = stz(&file, &opts(1, 1 << 12));
    for threads in [2, 3, 8] {
        assert_eq!(
            stz(&file, &opts(threads, 1 << 12)),
            reference,
            "{threads} threads"
        );
        assert_eq!(restore(&reference, &opts(threads, 1 << 12)).unwrap(), file);
    }
}

#[test]
fn weights_compress_below_raw_size() {
    let mut rng = Rng(14);
    let file = safetensors(
        &[(
            "w",
            "F32",
            vec![512, 256],
            f32_gauss(&mut rng, 512 * 256, 0.02),
        )],
        None,
        0,
    );
    let o = Options::default();
    let packed = stz(&file, &o);
    assert_eq!(restore(&packed, &o).unwrap(), file);
    // Gaussian F32 carries about 26.46 bits of entropy per value.
    let bpw = packed.len() as f64 * 8.0 / (512.0 * 256.0);
    assert!(bpw < 26.7, "{bpw} bits/weight");
}

#[test]
fn corrupt_stz_is_detected() {
    let mut rng = Rng(15);
    let file = safetensors(
        &[("w", "F32", vec![64, 64], f32_gauss(&mut rng, 4096, 0.02))],
        None,
        0,
    );
    let o = opts(1, 1 << 12);
    let packed = stz(&file, &o);
    for cut in [0, 1, 8, packed.len() / 2, packed.len() - 1] {
        assert!(restore(&packed[..cut], &o).is_err(), "truncated at {cut}");
    }
    let mut detected = 0;
    for i in 0..packed.len() {
        let mut bad = packed.clone();
        bad[i] ^= 0x10;
        match restore(&bad, &o) {
            Err(_) => detected += 1,
            Ok(_) => eprintln!("undetected flip at {i} of {}", packed.len()),
        }
    }
    assert_eq!(
        detected,
        packed.len(),
        "every single-byte corruption must be detected"
    );
}

#[test]
fn bad_safetensors_input_is_named() {
    let o = opts(1, 1 << 12);
    let mut out = Vec::new();
    let err = compress(&b"\x05\0\0\0\0\0\0\0{}"[..], &mut out, &o, &|_| {}).unwrap_err();
    assert!(matches!(err, Error::TruncatedHeader { .. }), "{err:?}");
    let mut rng = Rng(16);
    let file = safetensors(
        &[("w", "F32", vec![64, 64], f32_gauss(&mut rng, 4096, 0.02))],
        None,
        0,
    );
    let err = compress(&file[..file.len() - 3], &mut out, &o, &|_| {}).unwrap_err();
    assert!(matches!(err, Error::TruncatedData { .. }), "{err:?}");
    let mut long = file.clone();
    long.push(0);
    let err = compress(&long[..], &mut out, &o, &|_| {}).unwrap_err();
    assert!(matches!(err, Error::TrailingData { .. }), "{err:?}");
}

#[test]
fn minilm_round_trips() {
    for name in ["model.safetensors", "model-bf16.safetensors"] {
        let Some(path) = common::minilm(name) else {
            continue;
        };
        let file = std::fs::read(path).unwrap();
        let o = Options::default();
        let packed = stz(&file, &o);
        assert_eq!(restore(&packed, &o).unwrap(), file);
        assert!(
            packed.len() < file.len() * 85 / 100,
            "{name}: {} of {}",
            packed.len(),
            file.len()
        );
    }
}

/// One decode buffer through long, short and long chunks (as the pipeline
/// reuses them): it keeps its longest length, and each chunk is decoded
/// into its start, checked against the frame.
#[test]
fn a_reused_decode_buffer_decodes_each_chunk_into_its_start() {
    use stzip::container::ChunkHeader;
    use stzip::pipeline::{decode_chunk_into, encode_chunk};
    use stzip::safetensors::Dtype;
    let mut rng = Rng(11);
    let mut buf = Vec::new();
    for (i, n) in [5000usize, 7, 300, 5000, 1].into_iter().enumerate() {
        let data = f32_gauss(&mut rng, n, 0.02);
        let enc = encode_chunk(Dtype::F32, 100, None, data.clone()).unwrap();
        let chunk = ChunkHeader {
            tensor: i as u32,
            decoded_len: data.len() as u64,
            checksum: enc.checksum,
        };
        let len = decode_chunk_into(Dtype::F32, &chunk, &enc.payload, &mut buf).unwrap();
        assert_eq!(len, data.len());
        assert_eq!(buf.len(), 5000 * 4);
        assert_eq!(&buf[..len], &data[..]);
    }
    // A payload that decodes to other bytes still fails its check.
    let data = f32_gauss(&mut rng, 300, 0.02);
    let enc = encode_chunk(Dtype::F32, 100, None, data.clone()).unwrap();
    let chunk = ChunkHeader {
        tensor: 0,
        decoded_len: data.len() as u64,
        checksum: enc.checksum ^ 1,
    };
    let err = decode_chunk_into(Dtype::F32, &chunk, &enc.payload, &mut buf).unwrap_err();
    assert!(matches!(err, Error::StzChunkChecksum { .. }), "{err:?}");
}

/// What a second writer gives for a file of just `picked` (in file order)
/// with the same `__metadata__`: header padded to 8 bytes.
fn file_of(picked: &[(&str, &'static str, Vec<u64>, Vec<u8>)]) -> Vec<u8> {
    let unpadded = safetensors(picked, Some(&[("format", "pt")]), 0);
    let json_len = u64::from_le_bytes(unpadded[..8].try_into().unwrap()) as usize;
    let pad = (8 + json_len).next_multiple_of(8) - 8 - json_len;
    safetensors(picked, Some(&[("format", "pt")]), pad)
}

/// Tensors picked by name come out as the safetensors file of just those
/// tensors, byte for byte, from their chunks alone (several per tensor
/// here), whatever the thread count and the order the names are given in.
#[test]
fn extracting_tensors_writes_the_file_of_just_those() {
    let mut rng = Rng(77);
    let tensors = every_dtype_tensors(&mut rng, 3000);
    let all = borrowed(&tensors);
    let file = safetensors(&all, Some(&[("format", "pt")]), 5);
    let packed = stz(&file, &opts(2, 1 << 12));
    let names = ["t.I16", "t.F32", "t.BOOL", "t.F32"];
    let want = file_of(
        &all.iter()
            .filter(|t| names.contains(&t.0))
            .cloned()
            .collect::<Vec<_>>(),
    );
    for threads in [1, 2, 5] {
        let mut out = Vec::new();
        let header = stzip::pipeline::extract_tensors(
            &mut std::io::Cursor::new(&packed),
            &names,
            &mut out,
            &opts(threads, 1 << 12),
            &|_| {},
        )
        .unwrap();
        assert_eq!(out, want, "{threads} threads");
        assert_eq!(header.file_len(), want.len() as u64);
    }
    let mut out = Vec::new();
    let err = stzip::pipeline::extract_tensors(
        &mut std::io::Cursor::new(&packed),
        &["t.F32", "t.nope"],
        &mut out,
        &opts(1, 1 << 12),
        &|_| {},
    );
    assert!(
        matches!(&err, Err(Error::TensorNotFound { name }) if name == "t.nope"),
        "{err:?}"
    );
    assert!(
        out.is_empty(),
        "nothing is written before the names are checked"
    );
    // A file too large for the limit is refused before anything is written.
    let small = Options {
        max_output_bytes: want.len() as u64 - 1,
        ..opts(1, 1 << 12)
    };
    let err = stzip::pipeline::extract_tensors(
        &mut std::io::Cursor::new(&packed),
        &names,
        &mut out,
        &small,
        &|_| {},
    );
    assert!(
        matches!(err, Err(Error::StzOutputTooLarge { .. })),
        "{err:?}"
    );
    assert!(out.is_empty());
}
