//! Sequential `.stz` reader: needs only `Read` (stdin, a browser stream),
//! decodes frames in file order without the index, then checks the index
//! and trailer against what it saw. Memory: one payload at a time.

use std::io::Read;

use crate::container::hash::Xxh3;

use super::format::*;
use super::frame::{parse_frame_header_at, ChunkHeader};
use super::header::Preamble;
use super::index::{read_exact_vec, ChunkLocation, StzIndex, Trailer};
use crate::error::{Error, Result};

/// Reads an `.stz` file front to back.
pub struct StzReader<R: Read> {
    r: R,
    pos: u64,
    preamble: Preamble,
    header: Vec<u8>,
    last_tensor: Option<u32>,
    chunks_seen: u64,
    /// Hash of the chunk records of the frames seen, in index encoding:
    /// comparing it with the index needs O(1) memory however many chunks.
    seen_hash: Xxh3,
    /// Offset of the index tag and the index bytes already read past it.
    index_start: Option<(u64, Vec<u8>)>,
}

impl<R: Read> StzReader<R> {
    /// Reads and validates the preamble and the stored safetensors header.
    pub fn new(mut r: R) -> Result<Self> {
        let mut pb = [0u8; PREAMBLE_LEN];
        let n = read_full(&mut r, &mut pb)?;
        let preamble = Preamble::parse(pb.get(..n).unwrap_or(&[]))?;
        let stored = read_exact_vec(
            &mut r,
            preamble.header_stored_len,
            PREAMBLE_LEN as u64,
            "stored safetensors header",
        )?;
        let header = preamble.decode_header(&stored)?;
        Ok(Self {
            r,
            pos: preamble.data_start(),
            preamble,
            header,
            last_tensor: None,
            chunks_seen: 0,
            seen_hash: Xxh3::new(),
            index_start: None,
        })
    }

    /// The original safetensors header bytes (length prefix + JSON).
    pub fn safetensors_header(&self) -> &[u8] {
        &self.header
    }

    /// The source, for callers that feed it as bytes arrive.
    pub fn source_mut(&mut self) -> &mut R {
        &mut self.r
    }

    /// Format version of the file.
    pub fn version(&self) -> u16 {
        self.preamble.version
    }

    /// The parsed preamble.
    pub fn preamble(&self) -> &Preamble {
        &self.preamble
    }

    /// Reads the next chunk frame into `payload` (replacing its contents)
    /// and returns its header, or `None` once the index begins. The decoded
    /// checksum is the caller's to verify ([`ChunkHeader::verify`]).
    pub fn next_chunk(&mut self, payload: &mut Vec<u8>) -> Result<Option<ChunkHeader>> {
        if self.index_start.is_some() {
            return Ok(None);
        }
        let at = self.pos;
        let mut hb = [0u8; FRAME_HEADER_LEN];
        let n = read_full(&mut self.r, &mut hb)?;
        let got = hb.get(..n).unwrap_or(&[]);
        if got.starts_with(&INDEX_TAG) {
            // The index's fixed part is longer than a frame header, so these
            // bytes all belong to it; keep them for `finish`.
            self.index_start = Some((at, got.to_vec()));
            return Ok(None);
        }
        if n < INDEX_TAG.len() {
            return Err(Error::StzTruncated {
                offset: at + n as u64,
                what: "chunk frame or index",
            });
        }
        let fh = parse_frame_header_at(got, at)?;
        if let Some(prev) = self.last_tensor {
            if fh.tensor < prev {
                return Err(Error::StzChunkOutOfOrder {
                    offset: at,
                    previous: prev,
                    tensor: fh.tensor,
                });
            }
        }
        // payload_len is bounded by MAX_CHUNK_PAYLOAD after the check field.
        let len = to_usize(u64::from(fh.payload_len)).ok_or(Error::StzChunkPayloadTooLarge {
            offset: at,
            len: u64::from(fh.payload_len),
            limit: MAX_CHUNK_PAYLOAD,
        })?;
        // Grows as the bytes arrive: a frame header that lies about its
        // payload length costs no more than the bytes really there.
        let got = read_replacing(&mut self.r, len, payload)?;
        if got != len {
            return Err(Error::StzTruncated {
                offset: at + FRAME_HEADER_LEN as u64 + got as u64,
                what: "chunk payload",
            });
        }
        let loc = ChunkLocation {
            offset: at,
            tensor: fh.tensor,
            payload_len: fh.payload_len,
            decoded_len: fh.decoded_len,
            checksum: fh.checksum,
        };
        let mut rec = Vec::with_capacity(CHUNK_RECORD_LEN);
        loc.encode_into(&mut rec);
        self.seen_hash.update(&rec);
        self.chunks_seen += 1;
        self.last_tensor = Some(fh.tensor);
        self.pos = at + fh.frame_len();
        Ok(Some(fh.chunk_header()))
    }

    /// Skips any remaining frames, reads index and trailer, checks them
    /// against the preamble and every frame seen, and checks that the file
    /// ends right after the trailer.
    pub fn finish(mut self) -> Result<(StzIndex, Trailer)> {
        let mut scratch = Vec::new();
        while self.next_chunk(&mut scratch)?.is_some() {}
        let Some((index_offset, mut ib)) = self.index_start.take() else {
            return Err(Error::StzTruncated {
                offset: self.pos,
                what: "index",
            });
        };
        // Complete the fixed part to learn the index length.
        let have = ib.len();
        if have < INDEX_FIXED_LEN {
            let mut rest = [0u8; INDEX_FIXED_LEN];
            let want = rest.get_mut(..INDEX_FIXED_LEN - have).unwrap_or(&mut []);
            let n = read_full(&mut self.r, want)?;
            ib.extend_from_slice(want.get(..n).unwrap_or(&[]));
            if ib.len() < INDEX_FIXED_LEN {
                return Err(Error::StzTruncated {
                    offset: index_offset + ib.len() as u64,
                    what: "index",
                });
            }
        }
        let index_len = ib
            .get(8..16)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
            .unwrap_or(0);
        if !(INDEX_FIXED_LEN as u64..=MAX_INDEX_LEN).contains(&index_len) {
            return Err(Error::StzIndexTooLarge {
                len: index_len,
                limit: MAX_INDEX_LEN,
            });
        }
        let rest = index_len - ib.len() as u64;
        let more = read_exact_vec(&mut self.r, rest, index_offset + ib.len() as u64, "index")?;
        ib.extend_from_slice(&more);
        drop(more);

        let trailer_at = index_offset + index_len;
        let mut tb = [0u8; TRAILER_LEN];
        let n = read_full(&mut self.r, &mut tb)?;
        if n < TRAILER_LEN {
            return Err(Error::StzTruncated {
                offset: trailer_at + n as u64,
                what: "trailer",
            });
        }
        let trailer = Trailer::parse(&tb)?;
        if trailer.index_offset != index_offset || trailer.index_len != index_len {
            return Err(Error::StzIndexMismatch {
                what: "trailer does not point at the index that was read",
            });
        }
        if trailer.version != self.preamble.version || trailer.flags != self.preamble.flags {
            return Err(Error::StzIndexMismatch {
                what: "trailer version or flags differ from the preamble",
            });
        }
        let index = StzIndex::parse(&ib, &trailer)?;
        index.check_preamble(&self.preamble)?;
        let mut h = Xxh3::new();
        let mut rec = Vec::with_capacity(CHUNK_RECORD_LEN);
        for c in index.chunks() {
            rec.clear();
            c.encode_into(&mut rec);
            h.update(&rec);
        }
        if index.chunks().len() as u64 != self.chunks_seen || h.digest() != self.seen_hash.digest()
        {
            return Err(Error::StzIndexMismatch {
                what: "index chunk records differ from the chunk frames read",
            });
        }
        let mut extra = [0u8; 1];
        if read_full(&mut self.r, &mut extra)? != 0 {
            return Err(Error::StzTrailingData {
                offset: trailer_at + TRAILER_LEN as u64,
            });
        }
        Ok((index, trailer))
    }
}
