//! `safetensors::open` + `DataReader` reading every chunk of the plan, then
//! `finish`; and the same file through lossless `compress`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stzip::pipeline::{self, chunking, Options};
use stzip::safetensors;

fuzz_target!(|data: &[u8]| {
    let Ok((header, mut reader)) = safetensors::open(data) else {
        return;
    };
    // Small chunks so a header declaring gigabytes costs nothing.
    let plan = chunking::plan(&header, 4096);
    let mut buf = Vec::new();
    let mut ok = true;
    for c in &plan {
        assert!(c.len <= 4096);
        buf.resize(c.len, 0);
        if reader.read_exact(&mut buf).is_err() {
            ok = false;
            break;
        }
    }
    if ok {
        let done = reader.finish();
        // A file that reads cleanly is exactly header + data.
        if done.is_ok() {
            assert_eq!(header.file_len(), data.len() as u64);
        }
    }
    let opts = Options {
        threads: 1,
        chunk_bytes: 4096,
        ..Options::default()
    };
    let mut out = Vec::new();
    let compressed = pipeline::compress(data, &mut out, &opts, &|_| {});
    if compressed.is_ok() {
        // What compresses must come back byte for byte.
        let mut back = Vec::new();
        pipeline::decompress(&out[..], Some(&mut back), &opts, &|_| {})
            .expect("a file stzip wrote does not decode");
        assert_eq!(back, data);
    }
});
