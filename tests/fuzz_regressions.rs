//! Every input a fuzz target ever crashed on (`tests/fuzz-crashes/`, named
//! `<target>-<what>`), replayed through the API that target drives: each
//! must give a named error (or decode), never panic. A new crash found by
//! `scripts/fuzz-smoke.sh` or a long run goes here with its fix.

use std::io::Cursor;
use std::path::PathBuf;

use stzip::pipeline::{self, Options};
use stzip::safetensors::Header;

fn one_thread() -> Options {
    Options {
        threads: 1,
        max_output_bytes: 64 << 20,
        ..Options::default()
    }
}

/// Runs `data` through everything that reads that kind of input.
fn replay(target: &str, data: &[u8]) {
    match target {
        "safetensors_header" | "safetensors_stream" => {
            let _ = Header::parse(data.to_vec());
            let _ = pipeline::compress(data, std::io::sink(), &one_thread(), &|_| {});
        }
        "stz_decode" | "stz_tensor" | "stz_mutate" => {
            let _ = pipeline::decompress(data, Some(std::io::sink()), &one_thread(), &|_| {});
            let mut cur = Cursor::new(data);
            if let Ok((raw, _, _)) = stzip::container::read_index(&mut cur) {
                if let Ok(h) = Header::parse(raw) {
                    for t in h.tensors() {
                        let _ = pipeline::decompress_tensor(&mut cur, &t.name, &one_thread());
                    }
                }
            }
        }
        other => panic!("no replay for fuzz target {other}"),
    }
}

#[test]
fn fuzz_crashes_stay_fixed() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-crashes");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".md") {
            continue;
        }
        let target = name.split('-').next().unwrap();
        replay(target, &std::fs::read(&path).unwrap());
        n += 1;
    }
    println!("{n} fuzz crash inputs replayed");
}
