//! Every input a fuzz target ever crashed on (`tests/fuzz-crashes/`, named
//! `<target>-<what>`), replayed through the API that target drives: each
//! must give a named error (or decode), never panic. A new crash found by
//! `scripts/fuzz-smoke.sh` or a long run goes here with its fix.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use stzip::container::StzWriter;
use stzip::pipeline::{self, Options};
use stzip::safetensors::Header;
use stzip::Error;

fn one_thread() -> Options {
    Options {
        threads: 1,
        max_output_bytes: 64 << 20,
        ..Options::default()
    }
}

/// Runs `data` through everything that reads that kind of input; returns
/// what the main entry point (compress or decompress) said.
fn replay(target: &str, data: &[u8]) -> Result<(), Error> {
    match target {
        "safetensors_header" | "safetensors_stream" => {
            let _ = Header::parse(data.to_vec());
            pipeline::compress(data, std::io::sink(), &one_thread(), &|_| {}).map(|_| ())
        }
        // Its input is a header and frames, made into a `.stz` first.
        "stz_mutate" => replay("stz_decode", &frames_to_stz(data)),
        "stz_decode" | "stz_tensor" => {
            let r = pipeline::decompress(data, Some(std::io::sink()), &one_thread(), &|_| {});
            common::random_access_all(data, &one_thread());
            r.map(|_| ())
        }
        other => panic!("no replay for fuzz target {other}"),
    }
}

/// `stz_mutate`'s input (`fuzz/src/lib.rs`, `Frames`): `u32 n`, n header
/// bytes, frames `u32 tensor, u32 decoded_len, u32 payload_len, payload`;
/// decoded lengths are taken modulo 2^20 + 1, lengths clamped to the input.
/// Frame checksums are left 0: the decoders run before they are checked.
fn frames_to_stz(mut b: &[u8]) -> Vec<u8> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> &'a [u8] {
        let (h, t) = b.split_at(n.min(b.len()));
        *b = t;
        h
    }
    fn u32_of(b: &mut &[u8]) -> Option<u32> {
        take(b, 4).try_into().ok().map(u32::from_le_bytes)
    }
    let n = u32_of(&mut b).unwrap_or(0) as usize;
    let header = take(&mut b, n);
    let mut w = StzWriter::new(Vec::new(), header).unwrap();
    let mut total = header.len() as u64;
    while let (Some(t), Some(d), Some(l)) = (u32_of(&mut b), u32_of(&mut b), u32_of(&mut b)) {
        let d = u64::from(d) % ((1 << 20) + 1);
        if w.write_chunk(t, d, 0, take(&mut b, l as usize)).is_err() {
            return Vec::new();
        }
        total += d;
    }
    w.finish(0, total).unwrap()
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
        let start = Instant::now();
        let r = replay(target, &std::fs::read(&path).unwrap());
        let took = start.elapsed();
        println!("{name}: {r:?} in {took:?}");
        // Every one of them is malformed: a named error, promptly.
        assert!(r.is_err(), "{name} decoded");
        assert!(took < Duration::from_secs(1), "{name} took {took:?}");
        n += 1;
    }
    println!("{n} fuzz crash inputs replayed");
}
