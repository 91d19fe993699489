//! The browser API, run in a real browser (page and dedicated worker, in
//! Chromium and Firefox): round trips as the coordinator and workers do
//! them, the same bytes as the native build, the golden files, and errors
//! on bad input.

use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::wasm_bindgen_test;
use xxhash_rust::xxh3::xxh3_64;

use super::common::{self, borrowed, every_dtype_tensors, safetensors, Rng};
use stzip::bindings::{
    build_info, decode_chunk, encode_chunk, header_length, header_summary, Compressor, Decompressor,
};

fn message(e: JsError) -> String {
    let v: JsValue = e.into();
    js_sys::Error::from(v).message().into()
}

fn get(o: &JsValue, key: &str) -> JsValue {
    Reflect::get(o, &key.into()).unwrap()
}

fn num(o: &JsValue, key: &str) -> f64 {
    get(o, key).as_f64().unwrap()
}

fn bytes(o: &JsValue, key: &str) -> Vec<u8> {
    Uint8Array::from(get(o, key)).to_vec()
}

fn big(o: &JsValue, key: &str) -> u64 {
    u64::try_from(get(o, key)).unwrap()
}

/// Compress as `www/coordinator.js` does; returns the file and the report.
fn compress(file: &[u8], options: &str) -> Result<(Vec<u8>, JsValue), String> {
    let opts = js_sys::JSON::parse(options).unwrap();
    let hl = header_length(&file[..8.min(file.len())]).map_err(message)? as usize;
    let mut c = Compressor::new(file[..hl].to_vec(), opts).map_err(message)?;
    let slice = |c: &Compressor, i| {
        let ch = c.chunk(i).unwrap();
        let at = num(&ch, "offset") as usize;
        (ch.clone(), file[at..at + num(&ch, "len") as usize].to_vec())
    };
    if c.needs_stats() {
        for i in 0..c.chunk_count() {
            c.observe(i, &slice(&c, i).1).map_err(message)?;
        }
        c.choose_step().map_err(message)?;
    }
    let mut out = c.start().map_err(message)?;
    for i in 0..c.chunk_count() {
        let (ch, data) = slice(&c, i);
        let enc = encode_chunk(
            num(&ch, "dtype") as u8,
            num(&ch, "rowLen") as usize,
            c.step(i),
            data.clone(),
        )
        .map_err(message)?;
        let decoded = if c.step(i).is_some() {
            bytes(&enc, "decoded")
        } else {
            data
        };
        out.extend(
            c.add(
                i,
                bytes(&enc, "payload"),
                big(&enc, "checksum"),
                decoded,
                num(&enc, "err2"),
                num(&enc, "sig2"),
            )
            .map_err(message)?,
        );
    }
    out.extend(c.finish().map_err(message)?);
    let report = c.report().map_err(message)?;
    Ok((out, report))
}

/// Decompress as the coordinator does, pushing `piece` bytes at a time.
fn decompress(stz: &[u8], piece: usize) -> Result<(Vec<u8>, JsValue), String> {
    let mut d = Decompressor::new();
    let mut input = stz.chunks(piece);
    let mut out = Vec::new();
    loop {
        let ev = d.next_event().map_err(message)?;
        match get(&ev, "kind").as_string().unwrap().as_str() {
            "need" => match input.next() {
                Some(p) => d.push(p).map_err(message)?,
                None => d.end(),
            },
            "header" => out.extend(bytes(&ev, "bytes")),
            "chunk" => {
                let decoded = decode_chunk(
                    num(&ev, "dtype") as u8,
                    num(&ev, "len"),
                    big(&ev, "checksum"),
                    &bytes(&ev, "payload"),
                )
                .map_err(message)?;
                d.add(num(&ev, "seq"), &decoded).map_err(message)?;
                out.extend(decoded);
            }
            "end" => break,
            k => panic!("unknown event {k}"),
        }
    }
    let report = d.finish().map_err(message)?;
    Ok((out, report))
}

#[wasm_bindgen_test]
fn reports_the_build() {
    let info = build_info().unwrap();
    assert_eq!(
        get(&info, "simd").as_bool(),
        Some(cfg!(target_feature = "simd128"))
    );
    assert_eq!(num(&info, "formatVersion"), 1.0);
}

#[wasm_bindgen_test]
fn summarizes_a_header() {
    let file = common::parity_file();
    let hl = header_length(&file[..8]).unwrap() as usize;
    let s = header_summary(file[..hl].to_vec()).unwrap();
    assert_eq!(num(&s, "fileLength"), file.len() as f64);
    assert_eq!(num(&s, "tensors"), 7.0);
    let params = get(&s, "params");
    assert_eq!(num(&params, "F32"), (3 * 192 * 96 + 96) as f64);
    assert_eq!(num(&params, "BF16"), (128 * 64) as f64);
    assert_eq!(num(&params, "I64"), 8.0);
    let err = message(header_summary(b"\x02\0\0\0\0\0\0\0{]".to_vec()).unwrap_err());
    assert!(err.contains("JSON"), "{err}");
}

#[wasm_bindgen_test]
fn lossless_round_trip_of_every_dtype() {
    let mut rng = Rng(11);
    let t = every_dtype_tensors(&mut rng, 2048);
    let file = safetensors(&borrowed(&t), Some(&[("format", "pt")]), 4);
    let (stz, report) = compress(&file, r#"{"mode":"lossless","chunkBytes":4096}"#).unwrap();
    assert_eq!(num(&report, "stzBytes"), stz.len() as f64);
    assert_eq!(num(&report, "rawBytes"), file.len() as f64);
    assert!(get(&report, "snrDb").is_null());
    for piece in [1, 1000, 1 << 20] {
        assert_eq!(decompress(&stz, piece).unwrap().0, file);
    }
}

#[wasm_bindgen_test]
fn writes_the_native_builds_bytes() {
    let file = common::parity_file();
    let (stz, _) = compress(&file, r#"{"mode":"lossless"}"#).unwrap();
    assert_eq!(xxh3_64(&stz), common::PARITY_LOSSLESS);
    let (stz, report) = compress(&file, r#"{"mode":"bpw","value":4.5}"#).unwrap();
    assert_eq!(xxh3_64(&stz), common::PARITY_LOSSY);
    let bpw = num(&report, "bitsPerWeight");
    assert!((bpw - 4.5).abs() < 0.1, "{bpw}");
    let snr = num(&report, "snrDb");
    assert!(snr > 20.0, "{snr}");
    let (restored, _) = decompress(&stz, 4096).unwrap();
    assert_eq!(restored.len(), file.len());
}

#[wasm_bindgen_test]
fn snr_target_is_met() {
    let file = common::parity_file();
    let (_, report) =
        compress(&file, r#"{"mode":"snr","value":30,"allocation":"uniform"}"#).unwrap();
    let snr = num(&report, "snrDb");
    assert!((30.0..31.0).contains(&snr), "{snr}");
}

#[wasm_bindgen_test]
fn golden_files_decode_to_their_hashes() {
    let golden: [(&[u8], u64); 5] = [
        (include_bytes!("../golden/v1-mixed.stz"), 0x4764fa6bede15564),
        (
            include_bytes!("../golden/v1-weights.stz"),
            0xcfeae86ab08d1859,
        ),
        (
            include_bytes!("../golden/v1-lossy-split.stz"),
            0x32f35f7703bd8bbf,
        ),
        (
            include_bytes!("../golden/v1-lossy-transform.stz"),
            0x13796a623a0a7914,
        ),
        // Natively decoded with AVX2 vectors; here lane by lane.
        (
            include_bytes!("../golden/v1-lossy-chains.stz"),
            0xb6aa6003fb64e22d,
        ),
    ];
    for (stz, hash) in golden {
        assert_eq!(xxh3_64(&decompress(stz, 777).unwrap().0), hash);
    }
}

#[wasm_bindgen_test]
fn bad_input_gives_named_errors() {
    let stz = include_bytes!("../golden/v1-weights.stz");
    let mut bad = stz.to_vec();
    bad[0] ^= 1;
    assert!(decompress(&bad, 100).unwrap_err().contains("bad magic"));
    let err = decompress(&stz[..stz.len() / 2], 100).unwrap_err();
    assert!(err.contains("truncated"), "{err}");
    let mut bad = stz.to_vec();
    let mid = stz.len() / 2;
    bad[mid] ^= 0x10;
    assert!(decompress(&bad, 100).is_err());
    // A stored U8 payload that does not match its checksum; a method that
    // does not exist; a dtype code that does not exist.
    let ok = xxh3_64(&[1, 2, 3, 4]);
    assert_eq!(
        decode_chunk(1, 4.0, ok, &[0, 1, 2, 3, 4]).unwrap(),
        [1, 2, 3, 4]
    );
    let err = message(decode_chunk(1, 4.0, ok ^ 1, &[0, 1, 2, 3, 4]).unwrap_err());
    assert!(err.contains("checksum mismatch"), "{err}");
    let err = message(decode_chunk(1, 4.0, ok, &[9, 1, 2, 3, 4]).unwrap_err());
    assert!(err.contains("unknown chunk coding method 9"), "{err}");
    let err = message(decode_chunk(99, 4.0, ok, &[0, 1, 2, 3, 4]).unwrap_err());
    assert!(err.contains("unknown dtype code 99"), "{err}");

    assert!(header_length(&[0; 8])
        .map_err(message)
        .unwrap_err()
        .contains("length is 0"));
    assert!(header_length(&[1, 2])
        .map_err(message)
        .unwrap_err()
        .contains("too short"));
    let err = compress(b"\x04\0\0\0\0\0\0\0{\"a\"", r#"{"mode":"lossless"}"#).unwrap_err();
    assert!(err.contains("JSON"), "{err}");
    let file = common::parity_file();
    let err = compress(&file, r#"{"mode":"bpw"}"#).unwrap_err();
    assert!(err.contains("needs a value"), "{err}");
    let err = compress(&file, r#"{"mode":"fast"}"#).unwrap_err();
    assert!(err.contains("unknown mode"), "{err}");
    let err = compress(&file, r#"{"mode":"snr","value":-3}"#).unwrap_err();
    assert!(err.contains("invalid lossy target"), "{err}");
}
