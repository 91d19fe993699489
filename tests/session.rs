//! The step-by-step sessions the browser drives write and read exactly what
//! the threaded pipeline does: same bytes out, same errors.

mod common;

use common::{borrowed, every_dtype_tensors, safetensors, Rng};
use stzip::pipeline::session::{Compression, Decompression, Event};
use stzip::pipeline::{
    compress, compress_lossy, decode_chunk, decompress, encode_chunk, Allocation, LossyOptions,
    Options, Target,
};
use stzip::Error;

const CHUNK: usize = 64 << 10;

fn opts(threads: usize) -> Options {
    Options {
        threads,
        chunk_bytes: CHUNK,
        ..Options::default()
    }
}

fn lossy(target: Target) -> LossyOptions {
    LossyOptions {
        target,
        allocation: Allocation::Model,
        tied_embeddings: None,
    }
}

fn header_len(file: &[u8]) -> usize {
    8 + u64::from_le_bytes(file[..8].try_into().unwrap()) as usize
}

/// Compress as the browser does: the coordinator's session, chunks coded
/// one by one by `encode_chunk`.
fn session_compress(file: &[u8], lossy: Option<LossyOptions>) -> Result<Vec<u8>, Error> {
    let mut s = Compression::new(file[..header_len(file)].to_vec(), CHUNK, lossy)?;
    let chunks = s.chunks().to_vec();
    let slice = |s: &Compression, i: usize| {
        let c = &chunks[i];
        let at = s.file_offset(c) as usize;
        file[at..at + c.len].to_vec()
    };
    if s.needs_stats() {
        for i in 0..chunks.len() {
            let data = slice(&s, i);
            s.observe(i, &data)?;
        }
        s.choose_step()?;
    }
    let mut out = s.start()?;
    for (i, c) in chunks.iter().enumerate() {
        let dtype = s.header().tensors()[c.tensor].dtype;
        let enc = encode_chunk(dtype, c.row_len, s.step(c), slice(&s, i))?;
        out.extend(s.add(i, &enc)?);
    }
    out.extend(s.finish()?.0);
    Ok(out)
}

/// Decompress as the browser does, pushing `piece` bytes at a time.
fn session_decompress(stz: &[u8], piece: usize) -> Result<Vec<u8>, Error> {
    let mut d = Decompression::new();
    let mut input = stz.chunks(piece.max(1));
    let mut out = Vec::new();
    loop {
        match d.next_event()? {
            Event::NeedInput => match input.next() {
                Some(p) => d.push(p)?,
                None => d.end(),
            },
            Event::Header(h) => out.extend(h),
            Event::Chunk {
                seq,
                dtype,
                chunk,
                payload,
            } => {
                let decoded = decode_chunk(dtype, &chunk, &payload)?;
                d.add(seq, &decoded)?;
                out.extend(decoded);
            }
            Event::End => break,
        }
    }
    let report = d.finish()?;
    assert_eq!(report.stz_bytes, stz.len() as u64);
    Ok(out)
}

fn sample_file() -> Vec<u8> {
    let mut rng = Rng(7);
    let mut t = every_dtype_tensors(&mut rng, 4096);
    t.push((
        "model.embed_tokens.weight".into(),
        "F32",
        vec![300, 128],
        common::f32_gauss(&mut rng, 300 * 128, 0.05),
    ));
    t.push((
        "lm_head.weight".into(),
        "BF16",
        vec![300, 128],
        common::bf16_gauss(&mut rng, 300 * 128, 0.05),
    ));
    safetensors(&borrowed(&t), Some(&[("format", "pt")]), 3)
}

/// Mostly floats, with an integer tensor and a 1-D one, for lossy targets.
fn float_file() -> Vec<u8> {
    let mut rng = Rng(9);
    safetensors(
        &[
            (
                "model.embed_tokens.weight",
                "F32",
                vec![400, 64],
                common::f32_gauss(&mut rng, 400 * 64, 0.05),
            ),
            (
                "layers.0.norm.weight",
                "F32",
                vec![64],
                common::f32_gauss(&mut rng, 64, 1.0),
            ),
            (
                "layers.0.mlp.weight",
                "BF16",
                vec![256, 64],
                common::bf16_gauss(&mut rng, 256 * 64, 0.02),
            ),
            ("position_ids", "I64", vec![4], vec![0; 32]),
            (
                "lm_head.weight",
                "F32",
                vec![400, 64],
                common::f32_gauss(&mut rng, 400 * 64, 0.03),
            ),
        ],
        None,
        0,
    )
}

#[test]
fn lossless_session_writes_the_pipelines_bytes() {
    let file = sample_file();
    let mut native = Vec::new();
    compress(&file[..], &mut native, &opts(2), &|_| {}).unwrap();
    assert_eq!(session_compress(&file, None).unwrap(), native);
    for piece in [1, 7, 4096, 1 << 20] {
        assert_eq!(
            session_decompress(&native, piece).unwrap(),
            file,
            "piece {piece}"
        );
    }
}

#[test]
fn lossy_session_writes_the_pipelines_bytes() {
    let file = float_file();
    for target in [Target::BitsPerWeight(4.5), Target::Snr(30.0)] {
        let mut native = Vec::new();
        compress_lossy(
            &mut || Ok(&file[..]),
            &mut native,
            &opts(2),
            &lossy(target),
            &|_| {},
        )
        .unwrap();
        assert_eq!(
            session_compress(&file, Some(lossy(target))).unwrap(),
            native
        );
        let mut restored = Vec::new();
        decompress(&native[..], Some(&mut restored), &opts(1), &|_| {}).unwrap();
        assert_eq!(session_decompress(&native, 5000).unwrap(), restored);
    }
}

#[test]
fn lossy_step_does_not_depend_on_the_thread_count() {
    let file = float_file();
    let run = |threads| {
        let mut out = Vec::new();
        compress_lossy(
            &mut || Ok(&file[..]),
            &mut out,
            &opts(threads),
            &lossy(Target::BitsPerWeight(3.0)),
            &|_| {},
        )
        .unwrap();
        out
    };
    assert_eq!(run(1), run(3));
}

#[test]
fn session_errors_name_what_is_wrong() {
    let file = sample_file();
    let mut native = Vec::new();
    compress(&file[..], &mut native, &opts(1), &|_| {}).unwrap();

    // Truncated anywhere: a truncation error, never a panic or a hang.
    for cut in [0, 10, 47, 60, native.len() / 2, native.len() - 1] {
        let err = session_decompress(&native[..cut], 1000).unwrap_err();
        assert!(
            matches!(err, Error::StzTruncated { .. } | Error::StzTrailerMissing),
            "cut {cut}: {err:?}"
        );
    }
    let mut bad = native.clone();
    bad[0] ^= 1;
    assert!(matches!(
        session_decompress(&bad, 100),
        Err(Error::StzBadMagic)
    ));
    // A flipped payload byte: the chunk checksum (or the codec) catches it.
    let mut bad = native.clone();
    let mid = native.len() / 2;
    bad[mid] ^= 0x40;
    assert!(session_decompress(&bad, 4096).is_err());

    // Steps out of order.
    let h = file[..header_len(&file)].to_vec();
    let mut s = Compression::new(h.clone(), CHUNK, None).unwrap();
    assert!(matches!(s.observe(0, &[]), Err(Error::SessionOrder(_))));
    assert!(matches!(s.finish(), Err(Error::SessionOrder(_))));
    let enc = encode_chunk(stzip::safetensors::Dtype::U8, 1, None, vec![1]).unwrap();
    assert!(matches!(s.add(0, &enc), Err(Error::SessionOrder(_))));
    s.start().unwrap();
    assert!(matches!(s.add(1, &enc), Err(Error::SessionOrder(_))));
    assert!(
        matches!(s.add(0, &enc), Err(Error::Internal(_))),
        "wrong length"
    );
    let mut s = Compression::new(h, CHUNK, Some(lossy(Target::Snr(20.0)))).unwrap();
    assert!(matches!(s.start(), Err(Error::SessionOrder(_))));
    assert!(matches!(s.choose_step(), Err(Error::SessionOrder(_))));
    assert!(matches!(
        Compression::new(b"\x02\0\0\0\0\0\0\0{x".to_vec(), CHUNK, None),
        Err(Error::InvalidJson { .. })
    ));
    assert!(matches!(
        Compression::new(vec![0; 8], CHUNK, None),
        Err(Error::HeaderLenZero)
    ));
}

#[test]
fn parity_file_bytes_are_pinned() {
    // The wasm tests assert the same hashes: native and browser builds
    // write identical files.
    use xxhash_rust::xxh3::xxh3_64;
    let file = common::parity_file();
    let mut out = Vec::new();
    compress(&file[..], &mut out, &Options::default(), &|_| {}).unwrap();
    let lossless = xxh3_64(&out);
    let mut out = Vec::new();
    let l = LossyOptions {
        target: Target::BitsPerWeight(4.5),
        allocation: Allocation::Model,
        tied_embeddings: None,
    };
    let report = compress_lossy(
        &mut || Ok(&file[..]),
        &mut out,
        &Options::default(),
        &l,
        &|_| {},
    )
    .unwrap();
    // The hash covers the transform path too: the smooth tensor is coded
    // as DCT coefficients, the noise-like ones as they are.
    let transforms: Vec<&str> = report
        .tensors
        .iter()
        .map(|t| t.transform.map_or("-", |t| t.name()))
        .collect();
    assert_eq!(transforms[..3], ["none", "none", "dct-0"]);
    let lossy = xxh3_64(&out);
    assert_eq!(
        (lossless, lossy),
        (common::PARITY_LOSSLESS, common::PARITY_LOSSY),
        "{lossless:#018x} {lossy:#018x}"
    );
}
