//! The malformed-input corpus (`tests/malformed/`): every file must fail
//! with exactly the error variant `EXPECTED.txt` names, through the public
//! API — safetensors files through `compress`, `.stz` files through
//! `decompress` and the session `Decompression` (and, for `.stz`, random
//! access must not panic either) — while a counting allocator measures the
//! peak heap of each decode, which must stay under 64 MiB. Also: a `.stz`
//! claiming terabytes is refused before anything is allocated or written.
//! `cargo test --release --test malformed -- --ignored` regenerates the
//! corpus (the files are committed).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Cursor, Write};
use std::path::PathBuf;

use common::{f32_gauss, safetensors, Rng};
use stzip::container::StzWriter;
use stzip::pipeline::session::{Decompression, Event};
use stzip::pipeline::{self, Options};
use stzip::Error;
use xxhash_rust::xxh3::xxh3_64;

// ---- a per-thread counting allocator --------------------------------------

struct Counting;

thread_local! {
    static CURRENT: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(delta: isize, size: usize) {
    let _ = CURRENT.try_with(|c| {
        let now = c.get() + delta;
        c.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
    });
    if delta > 0 {
        let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        note(l.size() as isize, l.size());
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        note(l.size() as isize, l.size());
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        note(-(l.size() as isize), 0);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        note(new as isize - l.size() as isize, new);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `f` on this thread and returns its result with the peak heap
/// growth (bytes above the start) and the largest single allocation.
fn measure<T>(f: impl FnOnce() -> T) -> (T, usize, usize) {
    let base = CURRENT.with(Cell::get);
    PEAK.with(|p| p.set(base));
    LARGEST.with(|l| l.set(0));
    let out = f();
    let peak = PEAK.with(Cell::get) - base;
    (out, peak.max(0) as usize, LARGEST.with(Cell::get))
}

// ---- running the corpus -----------------------------------------------------

const PEAK_LIMIT: usize = 64 << 20;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/malformed")
}

fn one_thread() -> Options {
    Options {
        threads: 1,
        ..Options::default()
    }
}

/// `UnknownDtype("X")` → `UnknownDtype`.
fn variant(e: &Error) -> String {
    format!("{e:?}")
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect()
}

/// Bytes written, counted (the output of the bomb test).
#[derive(Default)]
struct CountingWriter(u64);

impl Write for CountingWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0 += b.len() as u64;
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn session(data: &[u8], piece: usize) -> Result<u64, Error> {
    let mut d = Decompression::new();
    let mut written = 0u64;
    let mut pos = 0;
    loop {
        match d.next_event()? {
            Event::NeedInput if pos >= data.len() => d.end(),
            Event::NeedInput => {
                let end = (pos + piece).min(data.len());
                d.push(&data[pos..end])?;
                pos = end;
            }
            Event::Header(h) => written += h.len() as u64,
            Event::Chunk {
                seq,
                dtype,
                chunk,
                payload,
            } => {
                let out = pipeline::decode_chunk(dtype, &chunk, &payload)?;
                d.add(seq, &out)?;
                written += out.len() as u64;
            }
            Event::End => break,
        }
    }
    d.finish()?;
    Ok(written)
}

fn expected() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(dir().join("EXPECTED.txt")).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (f, v) = l.split_once(char::is_whitespace).unwrap();
            (f.to_string(), v.trim().to_string())
        })
        .collect()
}

#[test]
fn every_malformed_file_gives_its_named_error() {
    let list = expected();
    assert!(list.len() >= 40, "only {} malformed files", list.len());
    let on_disk = std::fs::read_dir(dir()).unwrap().count() - 1;
    assert_eq!(
        on_disk,
        list.len(),
        "files without an expectation (or missing)"
    );
    println!("{:<40} {:<28} {:>9}", "file", "error", "peak MiB");
    let mut failures = Vec::new();
    let mut worst = 0usize;
    for (file, want) in &list {
        let data = std::fs::read(dir().join(file)).unwrap();
        let mut results = Vec::new();
        let mut peak = 0usize;
        if file.ends_with(".stz") {
            let (r, p, _) = measure(|| {
                pipeline::decompress(
                    &data[..],
                    Some(CountingWriter::default()),
                    &one_thread(),
                    &|_| {},
                )
            });
            results.push(("decompress", r.err()));
            peak = peak.max(p);
            for piece in [1, 7, 4096, data.len().max(1)] {
                let (r, p, _) = measure(|| session(&data, piece));
                results.push(("session", r.err()));
                peak = peak.max(p);
            }
            // Random access: any answer but a panic (its checks run in
            // another order, so the error may differ).
            let (_, p, _) = measure(|| common::random_access_all(&data, &one_thread()));
            peak = peak.max(p);
        } else {
            let (r, p, _) = measure(|| {
                pipeline::compress(&data[..], CountingWriter::default(), &one_thread(), &|_| {})
            });
            results.push(("compress", r.err()));
            peak = peak.max(p);
        }
        let mut got = String::new();
        for (how, r) in results {
            let v = r.as_ref().map_or("Ok".to_string(), variant);
            if &v != want {
                failures.push(format!("{file}: {how} gave {v} ({r:?}), expected {want}"));
            }
            got = v;
        }
        worst = worst.max(peak);
        println!(
            "{file:<40} {got:<28} {:>9.3}",
            peak as f64 / (1 << 20) as f64
        );
        if peak >= PEAK_LIMIT {
            failures.push(format!("{file}: peak heap {peak} bytes ≥ 64 MiB"));
        }
    }
    println!(
        "{} files, worst peak {:.3} MiB (limit 64 MiB)",
        list.len(),
        worst as f64 / (1 << 20) as f64
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A `.stz` whose header declares a 4 TiB tensor, in a few hundred bytes:
/// refused from the header alone, before the data is allocated or a byte
/// is written.
#[test]
fn a_stz_claiming_terabytes_is_refused_before_allocating_or_writing() {
    let data = std::fs::read(dir().join("stz-bomb-4tib.stz")).unwrap();
    let mut out = CountingWriter::default();
    let (r, peak, largest) =
        measure(|| pipeline::decompress(&data[..], Some(&mut out), &one_thread(), &|_| {}));
    assert!(matches!(r, Err(Error::StzOutputTooLarge { .. })), "{r:?}");
    assert_eq!(out.0, 0, "bytes were written");
    // Only the container's own bounded buffers (the stored header) exist.
    assert!(largest < 1 << 20, "largest allocation {largest} bytes");
    assert!(peak < 4 << 20, "peak {peak} bytes");
    let (r, _, largest) = measure(|| session(&data, 4096));
    assert!(matches!(r, Err(Error::StzOutputTooLarge { .. })), "{r:?}");
    assert!(largest < 1 << 20);
    let mut cur = Cursor::new(&data[..]);
    let (r, _, largest) = measure(|| pipeline::decompress_tensor(&mut cur, "t", &one_thread()));
    assert!(matches!(r, Err(Error::StzOutputTooLarge { .. })), "{r:?}");
    assert!(largest < 1 << 20);
    let mut out = CountingWriter::default();
    let (r, _, largest) =
        measure(|| pipeline::extract_tensors(&mut cur, &["t"], &mut out, &one_thread(), &|_| {}));
    assert!(matches!(r, Err(Error::StzOutputTooLarge { .. })), "{r:?}");
    assert_eq!(out.0, 0, "bytes were written");
    assert!(largest < 1 << 20);
    // A user who really has that much can raise the limit; then the lie is
    // found in the chunks (and still nothing big is allocated up front).
    let big = Options {
        max_output_bytes: u64::MAX,
        ..one_thread()
    };
    let (r, _, largest) =
        measure(|| pipeline::decompress(&data[..], Some(CountingWriter::default()), &big, &|_| {}));
    assert!(r.is_err());
    assert!(largest < 1 << 20);
}

// ---- the generator ----------------------------------------------------------

fn check32(b: &[u8]) -> [u8; 4] {
    (xxh3_64(b) as u32).to_le_bytes()
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

fn set_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn set_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// A valid `.stz` broken down: where its parts are.
struct Stz {
    bytes: Vec<u8>,
    frames: Vec<usize>,
    index: usize,
    trailer: usize,
}

impl Stz {
    fn new(bytes: Vec<u8>) -> Stz {
        let trailer = bytes.len() - 56;
        let index = u64_at(&bytes, trailer) as usize;
        let mut frames = Vec::new();
        let mut at = 48 + u64_at(&bytes, 20) as usize;
        while at < index {
            frames.push(at);
            at += 32 + u32::from_le_bytes(bytes[at + 16..at + 20].try_into().unwrap()) as usize;
        }
        Stz {
            bytes,
            frames,
            index,
            trailer,
        }
    }
    fn fix_preamble(&mut self) -> &mut Self {
        let c = check32(&self.bytes[..44]);
        self.bytes[44..48].copy_from_slice(&c);
        self
    }
    fn fix_frame(&mut self, i: usize) -> &mut Self {
        let at = self.frames[i];
        let c = check32(&self.bytes[at..at + 28]);
        self.bytes[at + 28..at + 32].copy_from_slice(&c);
        self
    }
    fn fix_trailer(&mut self) -> &mut Self {
        let t = self.trailer;
        let c = check32(&self.bytes[t..t + 44]);
        self.bytes[t + 44..t + 48].copy_from_slice(&c);
        self
    }
    /// Index checksum in the trailer, then the trailer's check.
    fn fix_index(&mut self) -> &mut Self {
        let (i, t) = (self.index, self.trailer);
        let h = xxh3_64(&self.bytes[i..t]);
        set_u64(&mut self.bytes, t + 16, h);
        self.fix_trailer()
    }
    /// Chunk record `k` of the index (two tensor records of 9 bytes first).
    fn record(&self, k: usize) -> usize {
        self.index + 40 + 2 * 9 + 32 * k
    }
}

/// Two tensors: `a` U8[64] (random bytes: stored chunks) and `b` F32[8,4],
/// chunks of 32 bytes: 2 + 4 frames.
fn base_safetensors() -> Vec<u8> {
    let mut rng = Rng(99);
    safetensors(
        &[
            ("a", "U8", vec![64], rng.bytes(64)),
            ("b", "F32", vec![8, 4], f32_gauss(&mut rng, 32, 0.02)),
        ],
        None,
        0,
    )
}

fn base() -> Stz {
    let opts = Options {
        threads: 1,
        chunk_bytes: 32,
        ..Options::default()
    };
    let mut out = Vec::new();
    pipeline::compress(&base_safetensors()[..], &mut out, &opts, &|_| {}).unwrap();
    Stz::new(out)
}

/// [`base`] with the payload method byte of frame `frame` set to `method`
/// (the frame's checks cover its header, not its payload).
fn with_method(frame: usize, method: u8) -> Vec<u8> {
    let mut s = base();
    let f = s.frames[frame];
    s.bytes[f + 32] = method;
    s.bytes
}

/// A `.stz` of `header` (which need not be valid) and raw frames
/// `(tensor, decoded bytes)` stored as method 0, all checks right.
fn stz_of(header: &[u8], frames: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let mut w = StzWriter::new(Vec::new(), header).unwrap();
    let mut file = xxhash_rust::xxh3::Xxh3::new();
    file.update(header);
    let mut total = header.len() as u64;
    for (t, data) in frames {
        let mut payload = vec![0u8];
        payload.extend_from_slice(data);
        w.write_chunk(*t, data.len() as u64, xxh3_64(data), &payload)
            .unwrap();
        file.update(data);
        total += data.len() as u64;
    }
    w.finish(file.digest(), total).unwrap()
}

fn header_of(json: &str) -> Vec<u8> {
    let mut h = (json.len() as u64).to_le_bytes().to_vec();
    h.extend_from_slice(json.as_bytes());
    h
}

fn st(json: &str, data: &[u8]) -> Vec<u8> {
    let mut f = header_of(json);
    f.extend_from_slice(data);
    f
}

#[test]
#[ignore = "writes tests/malformed/"]
fn write_malformed_corpus() {
    let mut files: Vec<(String, &str, Vec<u8>)> = Vec::new();
    let mut add = |name: &str, want: &'static str, bytes: Vec<u8>| {
        files.push((name.to_string(), want, bytes));
    };
    let t = |n: &str| format!(r#""{n}":{{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}"#);
    let ok = base_safetensors();

    // ---- safetensors input (through compress) ----
    add("st-empty.safetensors", "HeaderTooShort", vec![]);
    add(
        "st-cut-in-prefix.safetensors",
        "HeaderTooShort",
        ok[..5].to_vec(),
    );
    add(
        "st-header-len-zero.safetensors",
        "HeaderLenZero",
        vec![0; 8],
    );
    add(
        "st-header-len-2e63.safetensors",
        "HeaderTooLarge",
        (1u64 << 63).to_le_bytes().to_vec(),
    );
    let mut f = 100_000_001u64.to_le_bytes().to_vec();
    f.extend_from_slice(b"{}");
    add("st-header-len-over-limit.safetensors", "HeaderTooLarge", f);
    let mut f = stzip::container::MAGIC.to_vec();
    f.extend_from_slice(&[1, 0, 0, 0]);
    add("st-is-an-stz.safetensors", "InputIsStz", f);
    add("st-header-len-lies.safetensors", "TruncatedHeader", {
        let mut f = 1000u64.to_le_bytes().to_vec();
        f.extend_from_slice(br#"{"a":{"dtype":"U8"}}"#);
        f
    });
    let hl = 8 + u64_at(&ok, 0) as usize;
    add(
        "st-cut-in-json.safetensors",
        "TruncatedHeader",
        ok[..hl / 2].to_vec(),
    );
    add(
        "st-cut-in-data.safetensors",
        "TruncatedData",
        ok[..hl + 70].to_vec(),
    );
    add(
        "st-cut-at-data-start.safetensors",
        "TruncatedData",
        ok[..hl].to_vec(),
    );
    add(
        "st-trailing-data.safetensors",
        "TrailingData",
        [&ok[..], b"xyz"].concat(),
    );
    add("st-not-utf8.safetensors", "HeaderNotUtf8", {
        let json = b"{\"a\xff\":1}";
        let mut f = (json.len() as u64).to_le_bytes().to_vec();
        f.extend_from_slice(json);
        f
    });
    add(
        "st-leading-space.safetensors",
        "HeaderBadStart",
        st(" {}", &[]),
    );
    add("st-array.safetensors", "HeaderNotObject", st("[1,2]", &[]));
    add(
        "st-invalid-json.safetensors",
        "InvalidJson",
        st(r#"{"a":{"dtype":}"#, &[]),
    );
    add(
        "st-deep-nesting.safetensors",
        "HeaderTooDeep",
        st(&format!("{{\"__metadata__\":{}", "[".repeat(5000)), &[]),
    );
    add(
        "st-deep-objects.safetensors",
        "HeaderTooDeep",
        st(&"{\"a\":".repeat(5000), &[]),
    );
    add(
        "st-deep-in-shape.safetensors",
        "HeaderTooDeep",
        st(
            &format!(
                "{{\"t\":{{\"dtype\":\"U8\",\"shape\":{}1{}}}}}",
                "[".repeat(129),
                "]".repeat(129)
            ),
            &[],
        ),
    );
    add(
        "st-duplicate-key.safetensors",
        "DuplicateKey",
        st(&format!("{{{},{}}}", t("x"), t("x")), &[0; 4]),
    );
    add(
        "st-duplicate-metadata.safetensors",
        "DuplicateKey",
        st(r#"{"__metadata__":{},"__metadata__":{}}"#, &[]),
    );
    add(
        "st-duplicate-metadata-key.safetensors",
        "DuplicateMetadataKey",
        st(r#"{"__metadata__":{"k":"1","k":"2"}}"#, &[]),
    );
    add(
        "st-metadata-number.safetensors",
        "MetadataNotStringMap",
        st(r#"{"__metadata__":{"k":1}}"#, &[]),
    );
    add(
        "st-tensor-not-object.safetensors",
        "TensorNotObject",
        st(r#"{"t":[1]}"#, &[]),
    );
    add(
        "st-missing-offsets.safetensors",
        "TensorMissingField",
        st(r#"{"t":{"dtype":"U8","shape":[4]}}"#, &[0; 4]),
    );
    add(
        "st-shape-string.safetensors",
        "TensorFieldType",
        st(
            r#"{"t":{"dtype":"U8","shape":"4","data_offsets":[0,4]}}"#,
            &[0; 4],
        ),
    );
    add(
        "st-negative-dim.safetensors",
        "TensorFieldType",
        st(
            r#"{"t":{"dtype":"U8","shape":[-4],"data_offsets":[0,4]}}"#,
            &[0; 4],
        ),
    );
    add(
        "st-unknown-field.safetensors",
        "TensorUnknownField",
        st(
            r#"{"t":{"dtype":"U8","shape":[4],"data_offsets":[0,4],"x":1}}"#,
            &[0; 4],
        ),
    );
    add(
        "st-duplicate-field.safetensors",
        "TensorDuplicateField",
        st(
            r#"{"t":{"dtype":"U8","dtype":"U8","shape":[4],"data_offsets":[0,4]}}"#,
            &[0; 4],
        ),
    );
    add(
        "st-unknown-dtype.safetensors",
        "UnknownDtype",
        st(
            r#"{"t":{"dtype":"F128","shape":[4],"data_offsets":[0,64]}}"#,
            &[0; 64],
        ),
    );
    add(
        "st-shape-product-overflow.safetensors",
        "TensorSizeOverflow",
        st(
            r#"{"t":{"dtype":"U8","shape":[4294967296,4294967296,2],"data_offsets":[0,4]}}"#,
            &[0; 4],
        ),
    );
    add(
        "st-bytes-overflow.safetensors",
        "TensorSizeOverflow",
        st(
            r#"{"t":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,4]}}"#,
            &[0; 4],
        ),
    );
    add(
        "st-offsets-reversed.safetensors",
        "OffsetsReversed",
        st(
            r#"{"t":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}}"#,
            &[0; 4],
        ),
    );
    add(
        "st-dtype-size-mismatch.safetensors",
        "TensorSizeMismatch",
        st(
            r#"{"t":{"dtype":"F32","shape":[3],"data_offsets":[0,6]}}"#,
            &[0; 6],
        ),
    );
    add(
        "st-overlapping-offsets.safetensors",
        "OverlappingTensors",
        st(
            r#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}"#,
            &[0; 6],
        ),
    );
    add(
        "st-gap.safetensors",
        "DataGap",
        st(
            r#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[8,12]}}"#,
            &[0; 12],
        ),
    );
    add(
        "st-file-len-overflow.safetensors",
        "FileLenOverflow",
        st(
            r#"{"t":{"dtype":"U8","shape":[18446744073709551600],"data_offsets":[0,18446744073709551600]}}"#,
            &[0; 4],
        ),
    );
    add(
        "st-claims-4tib.safetensors",
        "TruncatedData",
        st(
            r#"{"t":{"dtype":"U8","shape":[4398046511104],"data_offsets":[0,4398046511104]}}"#,
            &[0; 100],
        ),
    );

    // ---- .stz input (through decompress and the session) ----
    let good = base();
    let g = &good.bytes;
    add("stz-empty.stz", "StzTruncated", vec![]);
    add(
        "stz-bad-magic.stz",
        "StzBadMagic",
        [b"PK\x03\x04", &g[4..]].concat(),
    );
    add(
        "stz-is-safetensors.stz",
        "StzIsSafetensors",
        ok[..ok.len().min(64)].to_vec(),
    );
    add("stz-cut-in-magic.stz", "StzTruncated", g[..5].to_vec());
    add("stz-cut-in-preamble.stz", "StzTruncated", g[..30].to_vec());
    add("stz-cut-in-header.stz", "StzTruncated", g[..60].to_vec());
    add(
        "stz-cut-in-frame-header.stz",
        "StzTruncated",
        g[..good.frames[1] + 10].to_vec(),
    );
    add(
        "stz-cut-in-payload.stz",
        "StzTruncated",
        g[..good.frames[1] + 34].to_vec(),
    );
    add(
        "stz-cut-in-index.stz",
        "StzTruncated",
        g[..good.index + 50].to_vec(),
    );
    add(
        "stz-cut-in-trailer.stz",
        "StzTruncated",
        g[..g.len() - 1].to_vec(),
    );
    add(
        "stz-trailing-data.stz",
        "StzTrailingData",
        [&g[..], b"\0"].concat(),
    );
    let mut s = base();
    set_u32(&mut s.bytes, 8, 2);
    add("stz-version-2.stz", "StzUnsupportedVersion", s.bytes);
    let mut s = base();
    s.bytes[30] ^= 1;
    add("stz-preamble-check.stz", "StzBadHeaderCheck", s.bytes);
    let mut s = base();
    s.bytes[10] = 1;
    s.fix_preamble();
    add("stz-unknown-flags.stz", "StzUnsupportedFlags", s.bytes);
    let mut s = base();
    set_u64(&mut s.bytes, 12, 1 << 40);
    s.fix_preamble();
    add("stz-header-raw-len-1tib.stz", "StzHeaderTooLarge", s.bytes);
    let mut s = base();
    set_u64(&mut s.bytes, 20, u64::MAX);
    s.fix_preamble();
    add(
        "stz-header-stored-len-huge.stz",
        "StzHeaderTooLarge",
        s.bytes,
    );
    let mut s = base();
    set_u64(&mut s.bytes, 20, 100 << 20);
    s.fix_preamble();
    add(
        "stz-header-stored-len-past-end.stz",
        "StzTruncated",
        s.bytes,
    );
    let mut s = base();
    s.bytes[60] ^= 0x40;
    add(
        "stz-stored-header-corrupt.stz",
        "StzHeaderStoredChecksum",
        s.bytes,
    );
    let mut s = base();
    s.bytes[48] = 0xff; // an invalid block type
    let h = xxh3_64(&s.bytes[48..48 + u64_at(&s.bytes, 20) as usize]);
    set_u64(&mut s.bytes, 36, h);
    s.fix_preamble();
    add("stz-deflate-invalid.stz", "StzHeaderInflate", s.bytes);
    let mut s = base();
    let raw_len = u64_at(&s.bytes, 12);
    set_u64(&mut s.bytes, 12, raw_len - 1);
    s.fix_preamble();
    add("stz-header-raw-len-lies.stz", "StzHeaderInflate", s.bytes);
    let mut s = base();
    s.bytes[28] ^= 1;
    s.fix_preamble();
    add("stz-header-checksum.stz", "StzHeaderChecksum", s.bytes);
    let mut s = base();
    let f = s.frames[0];
    s.bytes[f] = b'X';
    add("stz-frame-tag.stz", "StzBadFrameTag", s.bytes);
    let mut s = base();
    let f = s.frames[1];
    s.bytes[f + 8] ^= 1;
    add("stz-frame-check.stz", "StzBadFrameCheck", s.bytes);
    let mut s = base();
    let f = s.frames[0];
    set_u32(&mut s.bytes, f + 16, 0xffff_ff00);
    s.fix_frame(0);
    add(
        "stz-chunk-payload-over-limit.stz",
        "StzChunkPayloadTooLarge",
        s.bytes,
    );
    let mut s = base();
    let f = s.frames[0];
    set_u64(&mut s.bytes, f + 8, 1 << 40);
    s.fix_frame(0);
    add(
        "stz-chunk-decoded-over-limit.stz",
        "StzChunkDecodedTooLarge",
        s.bytes,
    );
    let mut s = base();
    let f = s.frames[2];
    set_u32(&mut s.bytes, f + 16, 60 << 20);
    s.fix_frame(2);
    add("stz-chunk-length-past-end.stz", "StzTruncated", s.bytes);
    let mut s = base();
    let f = s.frames[0];
    s.bytes[f + 40] ^= 1; // inside a stored chunk of `a`
    add("stz-chunk-checksum.stz", "StzChunkChecksum", s.bytes);
    add(
        "stz-unknown-method.stz",
        "UnknownCodecMethod",
        with_method(0, 9),
    );
    // Stored chunks relabelled as coded ones: their bytes are no stream.
    let cases = [
        (3, 2, "stz-float-stream-corrupt.stz", "CodecCorrupt"),
        (
            0,
            1,
            "stz-plane-stream-corrupt.stz",
            "EntropyLengthMismatch",
        ),
        (4, 3, "stz-lossy-stream-corrupt.stz", "CodecCorrupt"),
        (4, 4, "stz-transformed-stream-corrupt.stz", "CodecCorrupt"),
    ];
    for (frame, method, name, want) in cases {
        add(name, want, with_method(frame, method));
    }
    let mut s = base();
    let f = s.frames[3];
    set_u32(&mut s.bytes, f + 4, 0);
    s.fix_frame(3);
    add("stz-chunk-tensor-order.stz", "StzChunkOutOfOrder", s.bytes);
    let mut s = base();
    let f = s.frames[0];
    set_u32(&mut s.bytes, f + 4, 7);
    s.fix_frame(0);
    add("stz-chunk-unknown-tensor.stz", "ChunkOutOfOrder", s.bytes);
    let mut s = base();
    let f = s.frames[0];
    set_u64(&mut s.bytes, f + 8, 4096);
    s.fix_frame(0);
    add(
        "stz-chunk-longer-than-tensor.stz",
        "ChunkLengthMismatch",
        s.bytes,
    );
    let two = header_of(&format!("{{{}}}", t("a")));
    add("stz-missing-chunks.stz", "MissingChunks", stz_of(&two, &[]));
    add(
        "stz-header-overlapping-offsets.stz",
        "OverlappingTensors",
        stz_of(
            &header_of(
                r#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}"#,
            ),
            &[],
        ),
    );
    add(
        "stz-header-not-json.stz",
        "InvalidJson",
        stz_of(&header_of("{nope"), &[]),
    );
    add(
        "stz-bomb-4tib.stz",
        "StzOutputTooLarge",
        stz_of(
            &header_of(
                r#"{"t":{"dtype":"U8","shape":[4398046511104],"data_offsets":[0,4398046511104]}}"#,
            ),
            &[(0, vec![0; 16])],
        ),
    );
    let mut s = base();
    let tr = s.trailer;
    s.bytes[tr + 24] ^= 1;
    add("stz-trailer-check.stz", "StzBadTrailerCheck", s.bytes);
    let mut s = base();
    let tr = s.trailer;
    s.bytes[tr + 24] ^= 1;
    s.fix_trailer();
    add("stz-file-checksum.stz", "StzFileChecksum", s.bytes);
    let mut s = base();
    let tr = s.trailer;
    set_u64(&mut s.bytes, tr + 32, 1 << 50);
    s.fix_trailer();
    add("stz-decoded-total-lies.stz", "StzIndexMismatch", s.bytes);
    let mut s = base();
    let tr = s.trailer;
    set_u64(&mut s.bytes, tr, 1 << 60);
    s.fix_trailer();
    add(
        "stz-trailer-index-outside-file.stz",
        "StzIndexMismatch",
        s.bytes,
    );
    let mut s = base();
    let tr = s.trailer;
    set_u64(&mut s.bytes, tr + 8, 1 << 50);
    s.fix_trailer();
    add(
        "stz-trailer-index-len-huge.stz",
        "StzIndexTooLarge",
        s.bytes,
    );
    let mut s = base();
    let r = s.record(1);
    s.bytes[r + 24] ^= 1;
    add("stz-index-checksum.stz", "StzIndexChecksum", s.bytes);
    let mut s = base();
    let i = s.index;
    set_u64(&mut s.bytes, i + 8, 1 << 40);
    add("stz-index-len-field-huge.stz", "StzIndexTooLarge", s.bytes);
    let mut s = base();
    let r = s.record(2);
    set_u64(&mut s.bytes, r, 1 << 62);
    s.fix_index();
    add(
        "stz-index-entry-outside-file.stz",
        "StzIndexCorrupt",
        s.bytes,
    );
    let mut s = base();
    let i = s.index;
    set_u32(&mut s.bytes, i + 4, u32::MAX);
    s.fix_index();
    add(
        "stz-index-tensor-count-huge.stz",
        "StzIndexCorrupt",
        s.bytes,
    );
    let mut s = base();
    let i = s.index;
    set_u64(&mut s.bytes, i + 32, u64::MAX / 16);
    s.fix_index();
    add("stz-index-chunk-count-huge.stz", "StzIndexCorrupt", s.bytes);
    let mut s = base();
    let r = s.record(3);
    s.bytes[r + 24] ^= 1;
    s.fix_index();
    add(
        "stz-index-disagrees-with-frames.stz",
        "StzIndexMismatch",
        s.bytes,
    );

    let d = dir();
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let mut expected =
        String::from("# file → the Error variant it must give (see tests/malformed.rs)\n");
    for (name, want, bytes) in &files {
        std::fs::write(d.join(name), bytes).unwrap();
        expected.push_str(&format!("{name} {want}\n"));
    }
    std::fs::write(d.join("EXPECTED.txt"), expected).unwrap();
}
