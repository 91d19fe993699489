//! The index and trailer at the end of a `.stz` file, and random access
//! through them: trailer → index → the frames of one tensor. The parse
//! functions work on plain byte slices so an HTTP Range reader can use them.

use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;

use crate::container::hash::xxh3_64;

use super::format::*;
use super::frame::{check_chunk_limits, parse_frame_header_at, ChunkHeader};
use super::header::Preamble;
use crate::error::{Error, Result};

/// The fixed-size block at the very end of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trailer {
    /// File offset of the index (its `STZX` tag).
    pub index_offset: u64,
    /// Length of the index in bytes (it ends where the trailer starts).
    pub index_len: u64,
    /// XXH3-64 of the index bytes.
    pub index_checksum: u64,
    /// XXH3-64 of the whole reconstructed safetensors file.
    pub file_checksum: u64,
    /// Size of the reconstructed safetensors file.
    pub decoded_total: u64,
    /// Format version (equal to the preamble's).
    pub version: u16,
    /// Flags (equal to the preamble's).
    pub flags: u16,
}

impl Trailer {
    /// Size of the trailer in bytes: a reader with Seek (or HTTP Range
    /// `bytes=-56`) reads this many bytes from the end first.
    pub const LEN: usize = TRAILER_LEN;

    /// Parses the last [`Trailer::LEN`] bytes of a file. Checks run magic,
    /// version, check field, flags, index length limits.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != TRAILER_LEN {
            return Err(Error::StzTrailerMissing);
        }
        let mut c = Cursor::new(bytes);
        let missing = || Error::StzTrailerMissing;
        let index_offset = c.u64().ok_or_else(missing)?;
        let index_len = c.u64().ok_or_else(missing)?;
        let index_checksum = c.u64().ok_or_else(missing)?;
        let file_checksum = c.u64().ok_or_else(missing)?;
        let decoded_total = c.u64().ok_or_else(missing)?;
        let version = c.u16().ok_or_else(missing)?;
        let flags = c.u16().ok_or_else(missing)?;
        let check = c.u32().ok_or_else(missing)?;
        let magic = c.array::<8>().ok_or_else(missing)?;
        if magic != MAGIC {
            return Err(Error::StzTrailerMissing);
        }
        if version != FORMAT_VERSION {
            return Err(Error::StzUnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let covered = bytes.get(..TRAILER_LEN - 12).ok_or_else(missing)?;
        if check32(covered) != check {
            return Err(Error::StzBadTrailerCheck);
        }
        if flags & !KNOWN_FLAGS != 0 {
            return Err(Error::StzUnsupportedFlags { flags });
        }
        if index_len > MAX_INDEX_LEN || index_len < INDEX_FIXED_LEN as u64 {
            return Err(Error::StzIndexTooLarge {
                len: index_len,
                limit: MAX_INDEX_LEN,
            });
        }
        Ok(Self {
            index_offset,
            index_len,
            index_checksum,
            file_checksum,
            decoded_total,
            version,
            flags,
        })
    }

    /// Checks that the index lies between the preamble and the trailer of a
    /// file of `file_len` bytes, ending exactly where the trailer begins.
    pub fn check_file_len(&self, file_len: u64) -> Result<()> {
        let end = self
            .index_offset
            .checked_add(self.index_len)
            .and_then(|e| e.checked_add(TRAILER_LEN as u64));
        if self.index_offset < PREAMBLE_LEN as u64 || end != Some(file_len) {
            return Err(Error::StzIndexOutOfBounds {
                offset: self.index_offset,
                len: self.index_len,
                file_len,
            });
        }
        Ok(())
    }

    /// Byte range of the index in the file (for a Range request).
    pub fn index_range(&self) -> Range<u64> {
        self.index_offset..self.index_offset.saturating_add(self.index_len)
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut w = Vec::with_capacity(TRAILER_LEN);
        w.extend_from_slice(&self.index_offset.to_le_bytes());
        w.extend_from_slice(&self.index_len.to_le_bytes());
        w.extend_from_slice(&self.index_checksum.to_le_bytes());
        w.extend_from_slice(&self.file_checksum.to_le_bytes());
        w.extend_from_slice(&self.decoded_total.to_le_bytes());
        w.extend_from_slice(&self.version.to_le_bytes());
        w.extend_from_slice(&self.flags.to_le_bytes());
        let check = check32(&w);
        w.extend_from_slice(&check.to_le_bytes());
        w.extend_from_slice(&MAGIC);
        w
    }
}

/// Per-tensor index record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorRecord {
    /// Tensor ordinal (position in data-offset order).
    pub tensor: u32,
    /// [`MODE_LOSSLESS`] or [`MODE_LOSSY`].
    pub mode: u8,
    /// Codec-defined bytes (per-tensor stats, parameters); opaque here, and
    /// length-prefixed so later versions can grow it without a new layout.
    pub extras: Vec<u8>,
    chunks: Range<usize>,
}

impl TensorRecord {
    /// Positions of this tensor's chunks in [`StzIndex::chunks`].
    pub fn chunk_range(&self) -> Range<usize> {
        self.chunks.clone()
    }
}

/// Where one chunk frame is and what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChunkLocation {
    /// File offset of the frame (its `STZC` tag).
    pub offset: u64,
    /// Tensor ordinal.
    pub tensor: u32,
    /// Payload length (the frame is 32 bytes longer).
    pub payload_len: u32,
    /// Decoded length.
    pub decoded_len: u64,
    /// XXH3-64 of the decoded bytes.
    pub checksum: u64,
}

impl ChunkLocation {
    /// Byte range of the whole frame (header + payload) in the file.
    pub fn frame_range(&self) -> Range<u64> {
        let len = FRAME_HEADER_LEN as u64 + u64::from(self.payload_len);
        self.offset..self.offset.saturating_add(len)
    }

    /// The header the frame itself carries.
    pub fn chunk_header(&self) -> ChunkHeader {
        ChunkHeader {
            tensor: self.tensor,
            decoded_len: self.decoded_len,
            checksum: self.checksum,
        }
    }

    pub(crate) fn encode_into(&self, w: &mut Vec<u8>) {
        w.extend_from_slice(&self.offset.to_le_bytes());
        w.extend_from_slice(&self.tensor.to_le_bytes());
        w.extend_from_slice(&self.payload_len.to_le_bytes());
        w.extend_from_slice(&self.decoded_len.to_le_bytes());
        w.extend_from_slice(&self.checksum.to_le_bytes());
    }
}

/// The parsed index: tensor records sorted by ordinal, chunk locations in
/// file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StzIndex {
    data_start: u64,
    header_len: u64,
    tensors: Vec<TensorRecord>,
    chunks: Vec<ChunkLocation>,
}

impl StzIndex {
    /// Tensor records, strictly increasing by ordinal. Tensors that have
    /// chunks always have a record; empty tensors only if the writer set one.
    pub fn tensors(&self) -> &[TensorRecord] {
        &self.tensors
    }

    /// Every chunk in file order.
    pub fn chunks(&self) -> &[ChunkLocation] {
        &self.chunks
    }

    /// The record of one tensor, if the index has one.
    pub fn tensor(&self, tensor: u32) -> Option<&TensorRecord> {
        self.tensors
            .binary_search_by_key(&tensor, |t| t.tensor)
            .ok()
            .and_then(|i| self.tensors.get(i))
    }

    /// The chunks of one tensor, in order (empty for unknown tensors).
    pub fn chunks_of(&self, tensor: u32) -> &[ChunkLocation] {
        self.tensor(tensor)
            .and_then(|t| self.chunks.get(t.chunks.clone()))
            .unwrap_or(&[])
    }

    /// Decoded size of one tensor (sum of its chunks).
    pub fn tensor_decoded_len(&self, tensor: u32) -> u64 {
        self.chunks_of(tensor).iter().map(|c| c.decoded_len).sum()
    }

    /// File offset of the first chunk frame = length of the header block
    /// (`[0, data_start)` is what [`super::decode_header_block`] needs).
    pub fn data_start(&self) -> u64 {
        self.data_start
    }

    /// Length of the original safetensors header bytes.
    pub fn header_len(&self) -> u64 {
        self.header_len
    }

    /// Checks the index against the preamble of the same file.
    pub fn check_preamble(&self, p: &Preamble) -> Result<()> {
        if p.data_start() != self.data_start {
            return Err(Error::StzIndexMismatch {
                what: "index data start differs from the header block end",
            });
        }
        if p.header_raw_len != self.header_len {
            return Err(Error::StzIndexMismatch {
                what: "index header length differs from the header block",
            });
        }
        Ok(())
    }

    /// Parses and fully validates the index bytes named by `trailer`:
    /// checksum, structure, limits, contiguous chunk frames from
    /// `data_start` to the index, and sizes adding up to `decoded_total`.
    pub fn parse(bytes: &[u8], trailer: &Trailer) -> Result<Self> {
        if bytes.len() as u64 != trailer.index_len {
            return Err(Error::StzIndexMismatch {
                what: "index length differs from the trailer",
            });
        }
        let actual = xxh3_64(bytes);
        if actual != trailer.index_checksum {
            return Err(Error::StzIndexChecksum {
                expected: trailer.index_checksum,
                actual,
            });
        }
        let mut c = Cursor::new(bytes);
        let corrupt = |c: &Cursor, what| Error::StzIndexCorrupt {
            offset: c.pos() as u64,
            what,
        };
        let short = |c: &Cursor| corrupt(c, "index ends inside a field");
        if c.array::<4>().ok_or_else(|| short(&c))? != INDEX_TAG {
            return Err(corrupt(&c, "bad index tag"));
        }
        let tensor_count = c.u32().ok_or_else(|| short(&c))?;
        let index_len = c.u64().ok_or_else(|| short(&c))?;
        if index_len != bytes.len() as u64 {
            return Err(corrupt(
                &c,
                "index length field differs from the index size",
            ));
        }
        let data_start = c.u64().ok_or_else(|| short(&c))?;
        let header_len = c.u64().ok_or_else(|| short(&c))?;
        let chunk_count = c.u64().ok_or_else(|| short(&c))?;
        if data_start < PREAMBLE_LEN as u64 {
            return Err(corrupt(&c, "data start inside the preamble"));
        }
        if header_len > MAX_HEADER_RAW {
            return Err(corrupt(&c, "header length beyond the limit"));
        }
        // Counts are bounded by the bytes actually present before any
        // allocation is sized by them.
        let tensor_bytes = u64::from(tensor_count).saturating_mul(TENSOR_RECORD_MIN_LEN as u64);
        if tensor_bytes > c.remaining() as u64 {
            return Err(corrupt(&c, "tensor count exceeds the index size"));
        }
        let mut tensors = Vec::with_capacity(to_usize(u64::from(tensor_count)).unwrap_or(0));
        let mut prev: Option<u32> = None;
        for _ in 0..tensor_count {
            let tensor = c.u32().ok_or_else(|| short(&c))?;
            if prev.is_some_and(|p| p >= tensor) {
                return Err(corrupt(&c, "tensor ordinals not strictly increasing"));
            }
            prev = Some(tensor);
            let mode = c.u8().ok_or_else(|| short(&c))?;
            if mode > MODE_LOSSY {
                return Err(corrupt(&c, "unknown tensor mode"));
            }
            let extras_len = c.u32().ok_or_else(|| short(&c))?;
            if u64::from(extras_len) > MAX_EXTRAS_LEN {
                return Err(corrupt(&c, "tensor extras longer than the limit"));
            }
            let extras = to_usize(u64::from(extras_len))
                .and_then(|n| c.take(n))
                .ok_or_else(|| short(&c))?
                .to_vec();
            tensors.push(TensorRecord {
                tensor,
                mode,
                extras,
                chunks: 0..0,
            });
        }
        let chunk_bytes = chunk_count.checked_mul(CHUNK_RECORD_LEN as u64);
        if chunk_bytes != Some(c.remaining() as u64) {
            return Err(corrupt(&c, "chunk count does not match the index size"));
        }
        let mut chunks = Vec::with_capacity(c.remaining() / CHUNK_RECORD_LEN);
        let mut expected_offset = data_start;
        let mut decoded_sum = header_len;
        let mut ti = 0usize;
        for i in 0..c.remaining() / CHUNK_RECORD_LEN {
            let offset = c.u64().ok_or_else(|| short(&c))?;
            let tensor = c.u32().ok_or_else(|| short(&c))?;
            let payload_len = c.u32().ok_or_else(|| short(&c))?;
            let decoded_len = c.u64().ok_or_else(|| short(&c))?;
            let checksum = c.u64().ok_or_else(|| short(&c))?;
            if offset != expected_offset {
                return Err(corrupt(&c, "chunk frames are not contiguous"));
            }
            check_chunk_limits(offset, decoded_len, u64::from(payload_len))?;
            // Chunks are non-decreasing by tensor and every tensor with
            // chunks has a record: advance through the records in step.
            while tensors.get(ti).is_some_and(|t| t.tensor < tensor) {
                ti += 1;
            }
            let Some(rec) = tensors.get_mut(ti) else {
                return Err(corrupt(
                    &c,
                    "chunk of a tensor without a record or out of order",
                ));
            };
            if rec.tensor != tensor {
                return Err(corrupt(
                    &c,
                    "chunk of a tensor without a record or out of order",
                ));
            }
            if rec.chunks.is_empty() {
                rec.chunks = i..i + 1;
            } else if rec.chunks.end == i {
                rec.chunks.end = i + 1;
            } else {
                return Err(corrupt(&c, "chunk tensor ordinals decreasing"));
            }
            chunks.push(ChunkLocation {
                offset,
                tensor,
                payload_len,
                decoded_len,
                checksum,
            });
            expected_offset = expected_offset
                .checked_add(FRAME_HEADER_LEN as u64 + u64::from(payload_len))
                .ok_or_else(|| corrupt(&c, "chunk offsets overflow"))?;
            decoded_sum = decoded_sum
                .checked_add(decoded_len)
                .ok_or_else(|| corrupt(&c, "decoded sizes overflow"))?;
        }
        if expected_offset != trailer.index_offset {
            return Err(Error::StzIndexMismatch {
                what: "chunk frames do not end where the index begins",
            });
        }
        if decoded_sum != trailer.decoded_total {
            return Err(Error::StzIndexMismatch {
                what: "decoded total differs from header + chunk sizes",
            });
        }
        Ok(Self {
            data_start,
            header_len,
            tensors,
            chunks,
        })
    }
}

/// Tensor record as the writer hands it to [`encode_index`].
pub(crate) struct RecordOut<'a> {
    pub tensor: u32,
    pub mode: u8,
    pub extras: &'a [u8],
}

/// Encodes an index; the writer has already checked the limits.
pub(crate) fn encode_index(
    data_start: u64,
    header_len: u64,
    tensors: &[RecordOut<'_>],
    chunks: &[ChunkLocation],
) -> Vec<u8> {
    let mut w = Vec::new();
    w.extend_from_slice(&INDEX_TAG);
    w.extend_from_slice(&(tensors.len() as u32).to_le_bytes());
    w.extend_from_slice(&0u64.to_le_bytes()); // index length, patched below
    w.extend_from_slice(&data_start.to_le_bytes());
    w.extend_from_slice(&header_len.to_le_bytes());
    w.extend_from_slice(&(chunks.len() as u64).to_le_bytes());
    for t in tensors {
        w.extend_from_slice(&t.tensor.to_le_bytes());
        w.push(t.mode);
        w.extend_from_slice(&(t.extras.len() as u32).to_le_bytes());
        w.extend_from_slice(t.extras);
    }
    for c in chunks {
        c.encode_into(&mut w);
    }
    let len = (w.len() as u64).to_le_bytes();
    if let Some(field) = w.get_mut(8..16) {
        field.copy_from_slice(&len);
    }
    w
}

/// Random access, step 1: reads trailer, header block and index of a
/// seekable file, validating all of them against each other and the file
/// length. Returns the original safetensors header bytes, index, trailer.
pub fn read_index<R: Read + Seek>(r: &mut R) -> Result<(Vec<u8>, StzIndex, Trailer)> {
    let file_len = r.seek(SeekFrom::End(0))?;
    if file_len < (PREAMBLE_LEN + TRAILER_LEN) as u64 {
        return Err(Error::StzTrailerMissing);
    }
    r.seek(SeekFrom::Start(file_len - TRAILER_LEN as u64))?;
    let mut tb = [0u8; TRAILER_LEN];
    let n = read_full(r, &mut tb)?;
    let trailer = Trailer::parse(tb.get(..n).unwrap_or(&[]))?;
    trailer.check_file_len(file_len)?;

    r.seek(SeekFrom::Start(0))?;
    let mut pb = [0u8; PREAMBLE_LEN];
    let n = read_full(r, &mut pb)?;
    let preamble = Preamble::parse(pb.get(..n).unwrap_or(&[]))?;
    if preamble.version != trailer.version || preamble.flags != trailer.flags {
        return Err(Error::StzIndexMismatch {
            what: "trailer version or flags differ from the preamble",
        });
    }
    if preamble.data_start() > trailer.index_offset {
        return Err(Error::StzIndexMismatch {
            what: "stored header overlaps the index",
        });
    }
    // Both lengths are now bounded by the real file size.
    let stored = read_exact_vec(
        r,
        preamble.header_stored_len,
        PREAMBLE_LEN as u64,
        "stored safetensors header",
    )?;
    let header = preamble.decode_header(&stored)?;

    r.seek(SeekFrom::Start(trailer.index_offset))?;
    let ib = read_exact_vec(r, trailer.index_len, trailer.index_offset, "index")?;
    let index = StzIndex::parse(&ib, &trailer)?;
    index.check_preamble(&preamble)?;
    Ok((header, index, trailer))
}

/// Random access, step 2: reads one chunk frame at `loc` (from the index),
/// checks its header matches the index record, and fills `payload`.
pub fn read_chunk_at<R: Read + Seek>(
    r: &mut R,
    loc: &ChunkLocation,
    payload: &mut Vec<u8>,
) -> Result<ChunkHeader> {
    check_chunk_limits(loc.offset, loc.decoded_len, u64::from(loc.payload_len))?;
    r.seek(SeekFrom::Start(loc.offset))?;
    let mut hb = [0u8; FRAME_HEADER_LEN];
    let n = read_full(r, &mut hb)?;
    let fh = parse_frame_header_at(hb.get(..n).unwrap_or(&[]), loc.offset)?;
    if fh.tensor != loc.tensor
        || fh.payload_len != loc.payload_len
        || fh.decoded_len != loc.decoded_len
        || fh.checksum != loc.checksum
    {
        return Err(Error::StzIndexMismatch {
            what: "chunk frame differs from its index record",
        });
    }
    let len = to_usize(u64::from(fh.payload_len)).ok_or(Error::StzChunkPayloadTooLarge {
        offset: loc.offset,
        len: u64::from(fh.payload_len),
        limit: MAX_CHUNK_PAYLOAD,
    })?;
    let got = read_replacing(r, len, payload)?;
    if got != len {
        return Err(Error::StzTruncated {
            offset: loc
                .offset
                .saturating_add(FRAME_HEADER_LEN as u64 + got as u64),
            what: "chunk payload",
        });
    }
    Ok(fh.chunk_header())
}

/// Reads exactly `len` bytes that start at file offset `at` into a vector
/// that grows with the data actually read (never sized by `len` alone
/// beyond 1 MiB up front).
pub(crate) fn read_exact_vec<R: Read + ?Sized>(
    r: &mut R,
    len: u64,
    at: u64,
    what: &'static str,
) -> Result<Vec<u8>> {
    let mut v = Vec::with_capacity(to_usize(len.min(1 << 20)).unwrap_or(0));
    let got = r.take(len).read_to_end(&mut v)? as u64;
    if got != len {
        return Err(Error::StzTruncated {
            offset: at.saturating_add(got),
            what,
        });
    }
    Ok(v)
}
