//! Tests of the `.stz` container: round trips, random access, a golden
//! byte-exact file, and a named error for every kind of corruption.

use std::io::Cursor;

use stzip::container::*;
use stzip::Error;
use xxhash_rust::xxh3::xxh3_64;

const PREAMBLE: usize = 48;
const FRAME: usize = 32;
const TRAILER: usize = Trailer::LEN;

/// A fake safetensors header: 8-byte LE length + JSON.
fn st_header(json: &str) -> Vec<u8> {
    let mut h = (json.len() as u64).to_le_bytes().to_vec();
    h.extend_from_slice(json.as_bytes());
    h
}

struct Chunk {
    tensor: u32,
    decoded_len: u64,
    checksum: u64,
    payload: Vec<u8>,
}

struct Sample {
    header: Vec<u8>,
    chunks: Vec<Chunk>,
    records: Vec<(u32, u8, Vec<u8>)>,
    file: Vec<u8>,
}

fn chunk(tensor: u32, decoded_len: u64, payload: &[u8]) -> Chunk {
    Chunk {
        tensor,
        decoded_len,
        checksum: xxh3_64(payload) ^ decoded_len,
        payload: payload.to_vec(),
    }
}

/// Tensor 0: two chunks; tensor 1: empty, record set; tensor 2: one chunk,
/// lossy with extras; tensor 3: one empty-payload chunk, no record call.
fn sample() -> Sample {
    let header = st_header(
        r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"__metadata__":{"k":"v"}}"#,
    );
    let chunks = vec![
        chunk(0, 8, b"payload-0a"),
        chunk(0, 8, b"p0b"),
        chunk(2, 100, &[7u8; 40]),
        chunk(3, 0, b""),
    ];
    let records = vec![(1, MODE_LOSSY, vec![]), (2, MODE_LOSSY, b"snr=42".to_vec())];
    let file = write(&header, &chunks, &records);
    Sample {
        header,
        chunks,
        records,
        file,
    }
}

fn write(header: &[u8], chunks: &[Chunk], records: &[(u32, u8, Vec<u8>)]) -> Vec<u8> {
    let mut w = StzWriter::new(Vec::new(), header).unwrap();
    for (t, m, e) in records {
        w.set_tensor_record(*t, *m, e.clone());
    }
    let mut total = header.len() as u64;
    for c in chunks {
        let before = w.bytes_written();
        w.write_chunk(c.tensor, c.decoded_len, c.checksum, &c.payload)
            .unwrap();
        assert_eq!(w.bytes_written(), before + 32 + c.payload.len() as u64);
        total += c.decoded_len;
    }
    w.finish(0xF11E, total).unwrap()
}

/// Full sequential read: header, every chunk, then index + trailer.
type SeqRead = (Vec<u8>, Vec<(ChunkHeader, Vec<u8>)>, StzIndex, Trailer);

fn read_seq(file: &[u8]) -> stzip::Result<SeqRead> {
    let mut r = StzReader::new(file)?;
    assert_eq!(r.version(), 1);
    let header = r.safetensors_header().to_vec();
    let mut out = Vec::new();
    let mut payload = Vec::new();
    while let Some(h) = r.next_chunk(&mut payload)? {
        out.push((h, payload.clone()));
    }
    assert!(r.next_chunk(&mut payload)?.is_none());
    let (index, trailer) = r.finish()?;
    Ok((header, out, index, trailer))
}

/// Random access: index, then every chunk of every tensor.
fn read_ra(file: &[u8]) -> stzip::Result<(Vec<u8>, StzIndex, Trailer)> {
    let mut cur = Cursor::new(file);
    let (h, index, trailer) = read_index(&mut cur)?;
    let mut payload = Vec::new();
    for c in index.chunks() {
        read_chunk_at(&mut cur, c, &mut payload)?;
    }
    Ok((h, index, trailer))
}

fn err_seq(file: &[u8]) -> Error {
    read_seq(file).expect_err("sequential reader accepted a bad file")
}

fn err_ra(file: &[u8]) -> Error {
    read_ra(file).expect_err("index reader accepted a bad file")
}

struct Layout {
    data_start: usize,
    frames: Vec<usize>,
    index: usize,
    trailer: usize,
}

fn layout(file: &[u8]) -> Layout {
    let (_, index, trailer) = read_ra(file).unwrap();
    Layout {
        data_start: index.data_start() as usize,
        frames: index.chunks().iter().map(|c| c.offset as usize).collect(),
        index: trailer.index_offset as usize,
        trailer: file.len() - TRAILER,
    }
}

fn put_u16(f: &mut [u8], at: usize, v: u16) {
    f[at..at + 2].copy_from_slice(&v.to_le_bytes());
}
fn put_u32(f: &mut [u8], at: usize, v: u32) {
    f[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn put_u64(f: &mut [u8], at: usize, v: u64) {
    f[at..at + 8].copy_from_slice(&v.to_le_bytes());
}
fn check32(b: &[u8]) -> u32 {
    xxh3_64(b) as u32
}
/// Recomputes the check fields so a lying value gets past them.
fn reseal_preamble(f: &mut [u8]) {
    let c = check32(&f[..44]);
    put_u32(f, 44, c);
}
fn reseal_frame(f: &mut [u8], at: usize) {
    let c = check32(&f[at..at + 28]);
    put_u32(f, at + 28, c);
}
fn reseal_trailer(f: &mut [u8]) {
    let t = f.len() - TRAILER;
    let c = check32(&f[t..t + 44]);
    put_u32(f, t + 44, c);
}
/// Recomputes index checksum (trailer) and trailer check.
fn reseal_index(f: &mut [u8], l: &Layout) {
    let h = xxh3_64(&f[l.index..l.trailer]);
    put_u64(f, l.trailer + 16, h);
    reseal_trailer(f);
}

#[test]
fn round_trip_sequential() {
    let s = sample();
    let (header, chunks, index, trailer) = read_seq(&s.file).unwrap();
    assert_eq!(header, s.header);
    assert_eq!(chunks.len(), s.chunks.len());
    for ((h, p), c) in chunks.iter().zip(&s.chunks) {
        assert_eq!(h.tensor, c.tensor);
        assert_eq!(h.decoded_len, c.decoded_len);
        assert_eq!(h.checksum, c.checksum);
        assert_eq!(p, &c.payload);
    }
    let recs: Vec<_> = index
        .tensors()
        .iter()
        .map(|t| (t.tensor, t.mode, t.extras.clone()))
        .collect();
    assert_eq!(
        recs,
        vec![
            (0, MODE_LOSSLESS, vec![]),
            (1, MODE_LOSSY, vec![]),
            (2, MODE_LOSSY, b"snr=42".to_vec()),
            (3, MODE_LOSSLESS, vec![]),
        ]
    );
    assert_eq!(s.records.len(), 2);
    assert_eq!(trailer.file_checksum, 0xF11E);
    assert_eq!(trailer.decoded_total, s.header.len() as u64 + 116);
    assert_eq!(
        trailer.index_offset + trailer.index_len + TRAILER as u64,
        s.file.len() as u64
    );
    assert_eq!(index.header_len(), s.header.len() as u64);
}

#[test]
fn round_trip_random_access() {
    let s = sample();
    let mut cur = Cursor::new(&s.file[..]);
    let (header, index, _) = read_index(&mut cur).unwrap();
    assert_eq!(header, s.header);
    let mut payload = Vec::new();
    // Tensors in reverse order: each decodes alone.
    for t in (0..5u32).rev() {
        let want: Vec<&Chunk> = s.chunks.iter().filter(|c| c.tensor == t).collect();
        let locs = index.chunks_of(t);
        assert_eq!(locs.len(), want.len());
        for (loc, c) in locs.iter().zip(want) {
            let h = read_chunk_at(&mut cur, loc, &mut payload).unwrap();
            assert_eq!(h, loc.chunk_header());
            assert_eq!(h.tensor, t);
            assert_eq!(payload, c.payload);
        }
    }
    assert!(index.tensor(1).is_some() && index.chunks_of(1).is_empty());
    assert!(index.tensor(4).is_none());
    assert_eq!(index.tensor_decoded_len(0), 16);
    // Sequential and random-access readers agree on the index.
    let (_, _, seq_index, _) = read_seq(&s.file).unwrap();
    assert_eq!(seq_index, index);
}

/// The byte-slice API an HTTP Range reader uses, step by step.
#[test]
fn range_request_flow() {
    let s = sample();
    let f = &s.file;
    let trailer = Trailer::parse(&f[f.len() - Trailer::LEN..]).unwrap();
    trailer.check_file_len(f.len() as u64).unwrap();
    let r = trailer.index_range();
    let index = StzIndex::parse(&f[r.start as usize..r.end as usize], &trailer).unwrap();
    let (pre, header) = decode_header_block(&f[..index.data_start() as usize]).unwrap();
    index.check_preamble(&pre).unwrap();
    assert_eq!(header, s.header);
    let loc = index.chunks_of(2)[0];
    let fr = loc.frame_range();
    let frame = &f[fr.start as usize..fr.end as usize];
    let fh = parse_frame_header(&frame[..FrameHeader::LEN]).unwrap();
    assert_eq!(fh.chunk_header(), loc.chunk_header());
    assert_eq!(&frame[FrameHeader::LEN..], &[7u8; 40][..]);
}

#[test]
fn empty_file() {
    let header = st_header("{}");
    let file = write(&header, &[], &[]);
    let (h, chunks, index, trailer) = read_seq(&file).unwrap();
    assert_eq!(h, header);
    assert!(chunks.is_empty() && index.tensors().is_empty() && index.chunks().is_empty());
    assert_eq!(trailer.decoded_total, header.len() as u64);
    let (h2, index2, _) = read_ra(&file).unwrap();
    assert_eq!((h2, index2), (h, index));
    // Even a zero-length safetensors header round-trips.
    let file = write(&[], &[], &[]);
    assert!(read_seq(&file).unwrap().0.is_empty());
    assert!(read_ra(&file).unwrap().0.is_empty());
}

#[test]
fn large_incompressible_header_round_trips() {
    let mut h = Vec::new();
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..300_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        h.push(x as u8);
    }
    let file = write(&h, &[chunk(0, 1, b"x")], &[]);
    assert_eq!(read_seq(&file).unwrap().0, h);
    assert_eq!(read_ra(&file).unwrap().0, h);
}

/// Pins the format: a container from fixed inputs must match these bytes
/// exactly, and must keep decoding. (If miniz_oxide ever changes its
/// deflate output, only bytes 36..44 (stored checksum), 44..48 (check) and 48..data_start may change — regenerate then,
/// and keep the old bytes as a decoding test.)
#[test]
fn golden_bytes() {
    let header = st_header(r#"{"t":{"dtype":"U8","shape":[3],"data_offsets":[0,3]}}"#);
    let mut w = StzWriter::new(Vec::new(), &header).unwrap();
    w.set_tensor_record(0, MODE_LOSSY, vec![0xAB, 0xCD]);
    w.write_chunk(0, 3, 0x0123_4567_89AB_CDEF, b"PAY").unwrap();
    let file = w
        .finish(0xFEDC_BA98_7654_3210, header.len() as u64 + 3)
        .unwrap();
    let hex: String = file.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, GOLDEN, "format changed; full hex:\n{hex}");
    let (h, chunks, index, trailer) = read_seq(&file).unwrap();
    assert_eq!(h, header);
    assert_eq!(chunks[0].1, b"PAY");
    assert_eq!(index.tensors()[0].extras, [0xAB, 0xCD]);
    assert_eq!(trailer.file_checksum, 0xFEDC_BA98_7654_3210);
}

const GOLDEN: &str = concat!(
    // preamble: magic, version 1, flags 0, raw len 61, stored len 66,
    "8953545a0d0a1a0a010000003d000000000000004200000000000000",
    //   xxh3(raw header), xxh3(stored), check
    "ee889a6e8ef78aba6001429b5344c74204d6101a",
    // deflate: one stored block (BFINAL=1, BTYPE=00, LEN 61, NLEN) + raw header
    "013d00c2ff35000000000000007b2274223a7b226474797065223a225538222c",
    "227368617065223a5b335d2c22646174615f6f666673657473223a5b302c335d",
    "7d7d",
    // frame @114: STZC, tensor 0, decoded 3, payload 3, checksum, check
    "53545a4300000000030000000000000003000000efcdab896745230105d72707",
    // payload "PAY"
    "504159",
    // index @149: STZX, 1 tensor, len 83, data start 114, header len 61, 1 chunk
    "53545a5801000000530000000000000072000000000000003d00000000000000",
    "0100000000000000",
    // tensor record: ordinal 0, mode 1, extras len 2, extras AB CD
    "000000000102000000abcd",
    // chunk record: offset 114, tensor 0, payload 3, decoded 3, checksum
    "720000000000000000000000030000000300000000000000efcdab8967452301",
    // trailer @232: index offset 149, len 83, xxh3(index), file checksum,
    "950000000000000053000000000000008de4490c819cac941032547698badcfe",
    "4000000000000000",
    //   total 64, version 1, flags 0, check, magic
    "01000000a6ed04b78953545a0d0a1a0a",
);

#[test]
fn truncation_at_every_offset() {
    let s = sample();
    for len in 0..s.file.len() {
        let f = &s.file[..len];
        let e = err_seq(f);
        assert!(
            matches!(e, Error::StzTruncated { offset, .. } if offset == len as u64),
            "len {len}: {e:?}"
        );
        let e = err_ra(f);
        assert!(matches!(e, Error::StzTrailerMissing), "len {len}: {e:?}");
    }
}

#[test]
fn bit_flips_in_structural_fields() {
    let s = sample();
    let l = layout(&s.file);
    let flip = |at: usize, bit: u8| {
        let mut f = s.file.clone();
        f[at] ^= 1 << bit;
        f
    };
    for bit in 0..8 {
        // Preamble.
        for at in 0..PREAMBLE {
            let f = flip(at, bit);
            for e in [err_seq(&f), err_ra(&f)] {
                match at {
                    0..8 => assert!(matches!(e, Error::StzBadMagic), "{at}: {e:?}"),
                    8..10 => assert!(
                        matches!(e, Error::StzUnsupportedVersion { supported: 1, .. }),
                        "{at}: {e:?}"
                    ),
                    _ => assert!(matches!(e, Error::StzBadHeaderCheck), "{at}: {e:?}"),
                }
            }
        }
        // Deflated header bytes.
        for at in PREAMBLE..l.data_start {
            let f = flip(at, bit);
            for e in [err_seq(&f), err_ra(&f)] {
                assert!(
                    matches!(e, Error::StzHeaderStoredChecksum { .. }),
                    "{at}: {e:?}"
                );
            }
        }
        // Frame headers: tag, then every field under the check.
        for &fr in &l.frames {
            for at in fr..fr + FRAME {
                let f = flip(at, bit);
                let e = err_seq(&f);
                if at < fr + 4 {
                    assert!(
                        matches!(e, Error::StzBadFrameTag { offset, .. } if offset == fr as u64),
                        "{at}: {e:?}"
                    );
                } else {
                    assert!(
                        matches!(e, Error::StzBadFrameCheck { offset } if offset == fr as u64),
                        "{at}: {e:?}"
                    );
                }
                // The index reader still trusts the index, but reading the
                // chunk catches the damaged frame.
                let e = err_ra(&f);
                assert!(
                    matches!(
                        e,
                        Error::StzBadFrameTag { .. } | Error::StzBadFrameCheck { .. }
                    ),
                    "{at}: {e:?}"
                );
            }
        }
        // Index bytes.
        for at in l.index..l.trailer {
            let f = flip(at, bit);
            let e = err_ra(&f);
            assert!(matches!(e, Error::StzIndexChecksum { .. }), "{at}: {e:?}");
            let e = err_seq(&f);
            // Damage to the tag or the length field is seen while finding
            // the index; anything else by its checksum.
            assert!(
                matches!(
                    e,
                    Error::StzIndexChecksum { .. }
                        | Error::StzBadFrameTag { .. }
                        | Error::StzIndexTooLarge { .. }
                        | Error::StzTruncated { .. }
                        | Error::StzIndexMismatch { .. }
                        | Error::StzTrailerMissing
                ),
                "{at}: {e:?}"
            );
            if at >= l.index + 16 {
                assert!(matches!(e, Error::StzIndexChecksum { .. }), "{at}: {e:?}");
            }
        }
        // Trailer.
        for at in l.trailer..s.file.len() {
            let f = flip(at, bit);
            let rel = at - l.trailer;
            for e in [err_seq(&f), err_ra(&f)] {
                match rel {
                    40..42 => assert!(
                        matches!(e, Error::StzUnsupportedVersion { .. }),
                        "{rel}: {e:?}"
                    ),
                    48..56 => assert!(matches!(e, Error::StzTrailerMissing), "{rel}: {e:?}"),
                    _ => assert!(matches!(e, Error::StzBadTrailerCheck), "{rel}: {e:?}"),
                }
            }
        }
    }
}

#[test]
fn payload_damage_is_left_to_the_pipeline() {
    let s = sample();
    let l = layout(&s.file);
    let mut f = s.file.clone();
    f[l.frames[0] + FRAME] ^= 1;
    let (_, chunks, _, _) = read_seq(&f).unwrap();
    assert_ne!(chunks[0].1, s.chunks[0].payload);
    // What the pipeline does with the decoded bytes:
    let h = chunks[0].0;
    assert!(matches!(
        h.verify(b"wrong"),
        Err(Error::StzChunkChecksum { tensor: 0, .. })
    ));
    let good = ChunkHeader {
        tensor: 5,
        decoded_len: 3,
        checksum: xxh3_64(b"abc"),
    };
    good.verify(b"abc").unwrap();
    assert!(matches!(
        good.verify(b"abd"),
        Err(Error::StzChunkChecksum { tensor: 5, .. })
    ));
}

#[test]
fn wrong_magic_and_newer_version() {
    let s = sample();
    let mut f = s.file.clone();
    f[..8].copy_from_slice(b"STZIP\0\r\n");
    assert!(matches!(err_seq(&f), Error::StzBadMagic));
    assert!(matches!(err_ra(&f), Error::StzBadMagic));
    // Text-mode mangling: CRLF -> LF shifts everything after byte 4.
    let mut f = s.file.clone();
    f.remove(4);
    assert!(matches!(err_seq(&f), Error::StzBadMagic));
    assert!(matches!(err_seq(b"{\"not\": \"stz\"}"), Error::StzBadMagic));

    let mut f = s.file.clone();
    put_u16(&mut f, 8, 2);
    reseal_preamble(&mut f);
    let t = f.len() - TRAILER;
    put_u16(&mut f, t + 40, 2);
    reseal_trailer(&mut f);
    for e in [err_seq(&f), err_ra(&f)] {
        assert!(
            matches!(
                e,
                Error::StzUnsupportedVersion {
                    found: 2,
                    supported: 1
                }
            ),
            "{e:?}"
        );
    }
    // Newer version only in the trailer (e.g. a mixed-up file).
    let mut f = s.file.clone();
    put_u16(&mut f, t + 40, 2);
    reseal_trailer(&mut f);
    assert!(matches!(
        err_ra(&f),
        Error::StzUnsupportedVersion { found: 2, .. }
    ));

    // Unknown flag bits.
    let mut f = s.file.clone();
    put_u16(&mut f, 10, 0x8000);
    reseal_preamble(&mut f);
    assert!(matches!(
        err_seq(&f),
        Error::StzUnsupportedFlags { flags: 0x8000 }
    ));
    let mut f = s.file.clone();
    put_u16(&mut f, t + 42, 1);
    reseal_trailer(&mut f);
    assert!(matches!(
        err_ra(&f),
        Error::StzUnsupportedFlags { flags: 1 }
    ));
}

#[test]
fn lying_header_lengths() {
    let s = sample();
    let stored = u64::from_le_bytes(s.file[20..28].try_into().unwrap());
    let raw = s.header.len() as u64;
    for (field, value, want_too_large) in [
        (12, u64::MAX, true),
        (12, MAX_HEADER_RAW + 1, true),
        (12, raw + 1, false),
        (12, raw - 1, false),
        (12, 0, false),
        (20, u64::MAX, true),
        (20, MAX_HEADER_STORED + 1, true),
        (20, stored - 1, false),
    ] {
        let mut f = s.file.clone();
        put_u64(&mut f, field, value);
        reseal_preamble(&mut f);
        for e in [err_seq(&f), err_ra(&f)] {
            if want_too_large {
                assert!(
                    matches!(e, Error::StzHeaderTooLarge { value: v, .. } if v == value),
                    "{e:?}"
                );
            } else {
                assert!(
                    matches!(
                        e,
                        Error::StzHeaderInflate { .. }
                            | Error::StzHeaderStoredChecksum { .. }
                            | Error::StzBadFrameTag { .. }
                            | Error::StzIndexMismatch { .. }
                    ),
                    "{field} {value}: {e:?}"
                );
            }
        }
    }
    // A stored length past the end of a short file: truncated, no huge
    // allocation.
    let mut f = s.file[..PREAMBLE].to_vec();
    put_u64(&mut f, 20, MAX_HEADER_STORED);
    reseal_preamble(&mut f);
    assert!(matches!(
        err_seq(&f),
        Error::StzTruncated { offset: 48, .. }
    ));
    // Wrong stored checksum.
    let mut f = s.file.clone();
    f[28] ^= 0xFF;
    reseal_preamble(&mut f);
    for e in [err_seq(&f), err_ra(&f)] {
        assert!(matches!(e, Error::StzHeaderChecksum { .. }), "{e:?}");
    }
}

#[test]
fn lying_frame_lengths() {
    let s = sample();
    let l = layout(&s.file);
    let fr = l.frames[0];
    let cases: [(usize, u64, bool); 4] = [
        (16, u32::MAX as u64, true),
        (16, MAX_CHUNK_PAYLOAD + 1, true),
        (8, u64::MAX, false),
        (8, MAX_CHUNK_RAW + 1, false),
    ];
    for (field, value, is_payload) in cases {
        let mut f = s.file.clone();
        if field == 16 {
            put_u32(&mut f, fr + 16, value as u32);
        } else {
            put_u64(&mut f, fr + 8, value);
        }
        reseal_frame(&mut f, fr);
        let e = err_seq(&f);
        if is_payload {
            assert!(
                matches!(e, Error::StzChunkPayloadTooLarge { offset, len, .. } if offset == fr as u64 && len == value),
                "{e:?}"
            );
        } else {
            assert!(
                matches!(e, Error::StzChunkDecodedTooLarge { offset, len, .. } if offset == fr as u64 && len == value),
                "{e:?}"
            );
        }
        // Random access: the frame disagrees with its index record.
        assert!(matches!(
            err_ra(&f),
            Error::StzChunkPayloadTooLarge { .. } | Error::StzChunkDecodedTooLarge { .. }
        ));
    }
    // A payload length that is too long but within the limit: the next
    // frame is misaligned.
    let mut f = s.file.clone();
    put_u32(&mut f, fr + 16, 11);
    reseal_frame(&mut f, fr);
    assert!(matches!(err_seq(&f), Error::StzBadFrameTag { .. }));
    assert!(matches!(err_ra(&f), Error::StzIndexMismatch { .. }));
    // Resealed but different checksum: only the index comparison sees it.
    let mut f = s.file.clone();
    f[fr + 20] ^= 1;
    reseal_frame(&mut f, fr);
    assert!(matches!(err_seq(&f), Error::StzIndexMismatch { .. }));
    assert!(matches!(err_ra(&f), Error::StzIndexMismatch { .. }));
    // Last frame claims a payload running into the index and past EOF.
    let last = *l.frames.last().unwrap();
    let mut f = s.file.clone();
    put_u32(&mut f, last + 16, 1_000_000);
    reseal_frame(&mut f, last);
    assert!(matches!(
        err_seq(&f),
        Error::StzTruncated {
            what: "chunk payload",
            ..
        }
    ));
}

#[test]
fn chunk_out_of_order_in_file() {
    // Swap tensor ordinals of frames 1 and 2 (0 -> 2, 2 -> 0) and reseal:
    // the sequential reader sees 2 then 0.
    let s = sample();
    let l = layout(&s.file);
    let mut f = s.file.clone();
    put_u32(&mut f, l.frames[1] + 4, 2);
    reseal_frame(&mut f, l.frames[1]);
    put_u32(&mut f, l.frames[2] + 4, 0);
    reseal_frame(&mut f, l.frames[2]);
    let e = err_seq(&f);
    assert!(
        matches!(
            e,
            Error::StzChunkOutOfOrder {
                previous: 2,
                tensor: 0,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn trailer_and_index_lies() {
    let s = sample();
    let l = layout(&s.file);
    let t = l.trailer;
    // Index offset past EOF.
    let mut f = s.file.clone();
    put_u64(&mut f, t, s.file.len() as u64 + 100);
    reseal_trailer(&mut f);
    assert!(matches!(err_ra(&f), Error::StzIndexOutOfBounds { .. }));
    assert!(matches!(err_seq(&f), Error::StzIndexMismatch { .. }));
    // Index offset inside the preamble, or overflowing.
    for off in [0u64, u64::MAX - 10] {
        let mut f = s.file.clone();
        put_u64(&mut f, t, off);
        reseal_trailer(&mut f);
        assert!(matches!(err_ra(&f), Error::StzIndexOutOfBounds { .. }));
    }
    // Index length: huge, tiny, or off by one.
    for (len, too_large) in [
        (u64::MAX, true),
        (MAX_INDEX_LEN + 1, true),
        (3, true),
        ((t - l.index) as u64 + 1, false),
    ] {
        let mut f = s.file.clone();
        put_u64(&mut f, t + 8, len);
        reseal_trailer(&mut f);
        let e = err_ra(&f);
        if too_large {
            assert!(matches!(e, Error::StzIndexTooLarge { .. }), "{e:?}");
        } else {
            assert!(matches!(e, Error::StzIndexOutOfBounds { .. }), "{e:?}");
        }
    }
    // Bad index checksum in the trailer.
    let mut f = s.file.clone();
    f[t + 16] ^= 0x40;
    reseal_trailer(&mut f);
    for e in [err_seq(&f), err_ra(&f)] {
        assert!(matches!(e, Error::StzIndexChecksum { .. }), "{e:?}");
    }
    // Index length field inside the index lying (sequential reader).
    let mut f = s.file.clone();
    put_u64(&mut f, l.index + 8, u64::MAX);
    assert!(matches!(err_seq(&f), Error::StzIndexTooLarge { .. }));
    // decoded_total disagreeing with the chunks.
    let mut f = s.file.clone();
    put_u64(&mut f, t + 32, 1);
    reseal_trailer(&mut f);
    for e in [err_seq(&f), err_ra(&f)] {
        assert!(matches!(e, Error::StzIndexMismatch { .. }), "{e:?}");
    }
    // Index chunk record checksum changed, index resealed: the frames seen
    // disagree.
    let mut f = s.file.clone();
    let n_tensor_bytes = 4 * 9 + 6; // four records, extras "snr=42"
    let first_chunk = l.index + 40 + n_tensor_bytes;
    f[first_chunk + 24] ^= 1;
    reseal_index(&mut f, &l);
    for e in [err_seq(&f), err_ra(&f)] {
        assert!(matches!(e, Error::StzIndexMismatch { .. }), "{e:?}");
    }
    // Index chunk offsets not contiguous.
    let mut f = s.file.clone();
    put_u64(&mut f, first_chunk, 3);
    reseal_index(&mut f, &l);
    assert!(matches!(err_ra(&f), Error::StzIndexCorrupt { .. }));
    // Unknown tensor mode.
    let mut f = s.file.clone();
    f[l.index + 40 + 4] = 9;
    reseal_index(&mut f, &l);
    assert!(matches!(
        err_ra(&f),
        Error::StzIndexCorrupt {
            what: "unknown tensor mode",
            ..
        }
    ));
    // Huge tensor count.
    let mut f = s.file.clone();
    put_u32(&mut f, l.index + 4, u32::MAX);
    reseal_index(&mut f, &l);
    assert!(matches!(err_ra(&f), Error::StzIndexCorrupt { .. }));
    // Huge chunk count.
    let mut f = s.file.clone();
    put_u64(&mut f, l.index + 32, u64::MAX);
    reseal_index(&mut f, &l);
    assert!(matches!(err_ra(&f), Error::StzIndexCorrupt { .. }));
    // Huge extras length.
    let mut f = s.file.clone();
    put_u32(&mut f, l.index + 40 + 5, u32::MAX);
    reseal_index(&mut f, &l);
    assert!(matches!(err_ra(&f), Error::StzIndexCorrupt { .. }));
    // Trailing data after the trailer.
    let mut f = s.file.clone();
    f.push(0);
    assert!(
        matches!(err_seq(&f), Error::StzTrailingData { offset } if offset == s.file.len() as u64)
    );
    assert!(matches!(err_ra(&f), Error::StzTrailerMissing));
}

#[test]
fn writer_enforces_the_format() {
    let h = st_header("{}");
    let mut w = StzWriter::new(Vec::new(), &h).unwrap();
    w.write_chunk(3, 1, 0, b"a").unwrap();
    assert!(matches!(
        w.write_chunk(2, 1, 0, b"a"),
        Err(Error::StzChunkOutOfOrder {
            previous: 3,
            tensor: 2,
            ..
        })
    ));
    assert!(matches!(
        w.write_chunk(3, MAX_CHUNK_RAW + 1, 0, b"a"),
        Err(Error::StzChunkDecodedTooLarge { .. })
    ));
    let big = vec![0u8; MAX_CHUNK_PAYLOAD as usize + 1];
    assert!(matches!(
        w.write_chunk(3, 1, 0, &big),
        Err(Error::StzChunkPayloadTooLarge { .. })
    ));
    drop(big);
    // Refused chunks leave the writer usable and consistent.
    let file = {
        let mut w2 = StzWriter::new(Vec::new(), &h).unwrap();
        w2.write_chunk(3, 1, 0, b"a").unwrap();
        assert!(w2.write_chunk(2, 1, 0, b"a").is_err());
        w2.finish(0, h.len() as u64 + 1).unwrap()
    };
    read_seq(&file).unwrap();
    // decoded_total must add up.
    assert!(matches!(w.finish(0, 5), Err(Error::StzInvalidWrite { .. })));
    let mut w = StzWriter::new(Vec::new(), &h).unwrap();
    w.set_tensor_record(0, 2, vec![]);
    assert!(matches!(
        w.finish(0, h.len() as u64),
        Err(Error::StzInvalidWrite { .. })
    ));
    let mut w = StzWriter::new(Vec::new(), &h).unwrap();
    w.set_tensor_record(0, 0, vec![0; MAX_EXTRAS_LEN as usize + 1]);
    assert!(matches!(
        w.finish(0, h.len() as u64),
        Err(Error::StzInvalidWrite { .. })
    ));
}

#[test]
fn writer_io_error_poisons() {
    struct Failing(usize);
    impl std::io::Write for Failing {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            if self.0 < b.len() {
                return Err(std::io::Error::other("disk full"));
            }
            self.0 -= b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let h = st_header("{}");
    let mut w = StzWriter::new(Failing(200), &h).unwrap();
    let mut failed = false;
    for _ in 0..10 {
        match w.write_chunk(0, 1, 0, &[1u8; 50]) {
            Ok(()) => assert!(!failed),
            Err(Error::Io(_)) => failed = true,
            Err(e) => {
                assert!(
                    failed && matches!(e, Error::StzInvalidWrite { .. }),
                    "{e:?}"
                );
            }
        }
    }
    assert!(failed);
    assert!(matches!(w.finish(0, 0), Err(Error::StzInvalidWrite { .. })));
}

#[test]
fn huge_declared_header_refused_by_writer() {
    // Not allocating 100 MB here: only the limit constant is checked.
    assert_eq!(MAX_HEADER_RAW, 100 * 1024 * 1024 + 8);
    assert_eq!(MAX_CHUNK_PAYLOAD, MAX_CHUNK_RAW + 1024 * 1024);
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// Arbitrary damage never panics either reader.
        #[test]
        fn damaged_files_never_panic(edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..6), cut in any::<usize>()) {
            let s = sample();
            let mut f = s.file.clone();
            for (at, v) in edits {
                let n = f.len();
                f[at % n] = v;
            }
            let _ = read_seq(&f);
            let _ = read_ra(&f);
            f.truncate(cut % (f.len() + 1));
            let _ = read_seq(&f);
            let _ = read_ra(&f);
        }

        #[test]
        fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let _ = read_seq(&bytes);
            let _ = read_ra(&bytes);
            let _ = Trailer::parse(&bytes);
            let _ = parse_frame_header(&bytes);
            let _ = decode_header_block(&bytes);
            let mut with_magic = MAGIC.to_vec();
            with_magic.extend_from_slice(&bytes);
            let _ = read_seq(&with_magic);
        }
    }
}

#[test]
fn finish_skips_unread_chunks_but_still_checks_them() {
    let s = sample();
    let mut r = StzReader::new(&s.file[..]).unwrap();
    let mut p = Vec::new();
    assert_eq!(r.next_chunk(&mut p).unwrap().unwrap().tensor, 0);
    let (index, _) = r.finish().unwrap();
    assert_eq!(index.chunks().len(), 4);
    // A damaged frame after the last one read is still reported.
    let l = layout(&s.file);
    let mut f = s.file.clone();
    f[l.frames[2] + 5] ^= 1;
    let mut r = StzReader::new(&f[..]).unwrap();
    r.next_chunk(&mut p).unwrap();
    assert!(matches!(r.finish(), Err(Error::StzBadFrameCheck { .. })));
    assert_eq!(Preamble::LEN, 48);
    assert_eq!(Trailer::LEN, 56);
    assert_eq!(FrameHeader::LEN, 32);
}
