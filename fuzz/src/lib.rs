//! Helpers shared by the fuzz targets: the decoders driven the way the
//! CLI and the browser drive them, and the structured input of
//! `stz_mutate` (a safetensors header plus chunk frames, turned into a
//! valid `.stz` with every check and checksum right, so mutations reach the
//! decoders instead of stopping at a checksum).

use std::io::{Cursor, Write};

use stzip::container::StzWriter;
use stzip::pipeline::session::{Decompression, Event};
use stzip::pipeline::{self, Options, Progress};
use stzip::safetensors::Header;
use stzip::Result;
use xxhash_rust::xxh3::{xxh3_64, Xxh3};

/// Hashes what is written, so the decoders' outputs can be compared
/// without keeping them.
#[derive(Default)]
pub struct HashSink {
    pub hash: Xxh3,
    pub len: u64,
}

impl Write for HashSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.hash.update(buf);
        self.len += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Largest output the fuzz targets decode: a few bytes of constant chunks
/// may legitimately declare gigabytes, which is slow, not a bug.
pub const MAX_OUTPUT: u64 = 4 << 20;

fn one_thread() -> Options {
    Options {
        threads: 1,
        max_output_bytes: MAX_OUTPUT,
        ..Options::default()
    }
}

fn no_progress(_: Progress) {}

/// Whole-file sequential decoding (the CLI's `decompress`): the output's
/// hash and length.
pub fn decode_sequential(data: &[u8]) -> Result<(u64, u64)> {
    let mut sink = HashSink::default();
    pipeline::decompress(data, Some(&mut sink), &one_thread(), &no_progress)?;
    Ok((sink.hash.digest(), sink.len))
}

/// The session API (the browser's), pushed in pieces whose sizes `seed`
/// picks: 1 byte to a few KiB.
pub fn decode_session(data: &[u8], seed: u64) -> Result<(u64, u64)> {
    let mut d = Decompression::new();
    d.set_max_output_bytes(MAX_OUTPUT);
    let mut sink = HashSink::default();
    let mut rng = seed | 1;
    let mut pos = 0usize;
    let mut ended = false;
    loop {
        match d.next_event()? {
            Event::NeedInput => {
                assert!(!ended, "NeedInput after end()");
                if pos >= data.len() {
                    d.end();
                    ended = true;
                } else {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let n = match rng % 4 {
                        0 => 1,
                        1 => (rng >> 8) as usize % 64 + 1,
                        2 => (rng >> 8) as usize % 4096 + 1,
                        _ => data.len(),
                    };
                    let end = pos.saturating_add(n).min(data.len());
                    d.push(&data[pos..end])?;
                    pos = end;
                }
            }
            Event::Header(h) => {
                sink.write_all(&h).expect("hash sink");
            }
            Event::Chunk {
                seq,
                dtype,
                chunk,
                payload,
            } => {
                let out = pipeline::decode_chunk(dtype, &chunk, &payload)?;
                d.add(seq, &out)?;
                sink.write_all(&out).expect("hash sink");
            }
            Event::End => break,
        }
    }
    d.finish()?;
    Ok((sink.hash.digest(), sink.len))
}

/// Random access: every tensor of the file by name, through the index.
/// Returns the concatenated tensors' hash (with the header in front, so it
/// equals the whole file when every tensor decodes).
pub fn decode_tensors(data: &[u8]) -> Result<(u64, u64)> {
    let mut cur = Cursor::new(data);
    let (raw, _index, _trailer) = stzip::container::read_index(&mut cur)?;
    let header = Header::parse(raw)?;
    let mut sink = HashSink::default();
    sink.write_all(header.raw()).expect("hash sink");
    let opts = one_thread();
    for t in header.tensors().iter().take(64) {
        let (_info, bytes) = pipeline::decompress_tensor(&mut cur, &t.name, &opts)?;
        sink.write_all(&bytes).expect("hash sink");
    }
    if header.tensors().len() <= 64 {
        // A name that is not there is an error, never a panic.
        assert!(pipeline::decompress_tensor(&mut cur, "\u{0}no such tensor", &opts).is_err());
        // Every tensor decoded alone, so extracting them all succeeds (unless
        // together they pass the output limit), and writes the same data
        // after a header of its own. (With no tensor, nothing was checked.)
        let names: Vec<&str> = header.tensors().iter().map(|t| t.name.as_str()).collect();
        let mut all = HashSink::default();
        match pipeline::extract_tensors(&mut cur, &names, &mut all, &opts, &|_| {}) {
            Ok(sub) => assert_eq!(
                all.len - sub.raw().len() as u64,
                sink.len - header.raw().len() as u64
            ),
            Err(_) if names.is_empty() => {}
            Err(stzip::Error::StzOutputTooLarge { .. }) => {}
            Err(e) => panic!("tensors that decode alone failed to extract together: {e}"),
        }
    }
    Ok((sink.hash.digest(), sink.len))
}

/// Every decoder over the same bytes; whatever they say, they must agree
/// on a file that decodes.
pub fn decode_all_ways(data: &[u8]) {
    let seq = decode_sequential(data);
    let ses = decode_session(data, xxh3_64(data));
    match (&seq, &ses) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "sequential and session outputs differ"),
        (Ok(_), Err(e)) => panic!("sequential decoding succeeded, the session failed: {e}"),
        (Err(e), Ok(_)) => panic!("the session succeeded, sequential decoding failed: {e}"),
        (Err(_), Err(_)) => {}
    }
    let ra = decode_tensors(data);
    if let Ok(a) = seq {
        match ra {
            Ok(b) => assert_eq!(a, b, "random access and sequential outputs differ"),
            Err(e) => panic!("sequential decoding succeeded, random access failed: {e}"),
        }
    }
}

/// The structured input of `stz_mutate`:
/// `u32 n` + `n` bytes of safetensors header (length prefix + JSON), then
/// frames `u32 tensor, u32 decoded_len, u32 payload_len, payload`, all
/// little-endian; lengths past the end are clamped.
pub struct Frames<'a> {
    pub header: &'a [u8],
    pub frames: Vec<(u32, u64, &'a [u8])>,
}

fn take<'a>(b: &mut &'a [u8], n: usize) -> &'a [u8] {
    let n = n.min(b.len());
    let (h, t) = b.split_at(n);
    *b = t;
    h
}

fn u32_of(b: &mut &[u8]) -> Option<u32> {
    let s = take(b, 4);
    s.try_into().ok().map(u32::from_le_bytes)
}

impl<'a> Frames<'a> {
    pub fn parse(mut b: &'a [u8]) -> Option<Frames<'a>> {
        let n = u32_of(&mut b)? as usize;
        let header = take(&mut b, n);
        let mut frames = Vec::new();
        while let (Some(tensor), Some(dec), Some(len)) =
            (u32_of(&mut b), u32_of(&mut b), u32_of(&mut b))
        {
            // Decoded sizes up to 1 MiB: bigger ones only cost time.
            frames.push((
                tensor,
                u64::from(dec) % ((1 << 20) + 1),
                take(&mut b, len as usize),
            ));
        }
        Some(Frames { header, frames })
    }

    /// Writes a `.stz` with right checks everywhere: each frame's checksum
    /// is that of its payload decoded with the tensor's dtype (when it
    /// decodes), the trailer's that of the whole file.
    pub fn to_stz(&self) -> Option<Vec<u8>> {
        let header = Header::parse(self.header.to_vec()).ok();
        let mut w = StzWriter::new(Vec::new(), self.header).ok()?;
        let mut file = Xxh3::new();
        file.update(self.header);
        let mut total = self.header.len() as u64;
        for &(tensor, decoded_len, payload) in &self.frames {
            let dtype = header
                .as_ref()
                .and_then(|h| h.tensors().get(tensor as usize))
                .map(|t| t.dtype);
            let mut checksum = 0;
            if let Some(dtype) = dtype {
                let ch = stzip::container::ChunkHeader {
                    tensor,
                    decoded_len,
                    checksum: 0,
                };
                if decoded_len <= 1 << 20 {
                    let mut out = vec![0u8; decoded_len as usize];
                    if stzip::codec::decode_chunk(dtype, payload, &mut out).is_ok() {
                        checksum = xxh3_64(&out);
                        file.update(&out);
                    }
                }
                let _ = ch;
            }
            w.write_chunk(tensor, decoded_len, checksum, payload).ok()?;
            total = total.saturating_add(decoded_len);
        }
        w.finish(file.digest(), total).ok()
    }
}
