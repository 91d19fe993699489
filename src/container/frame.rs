//! Chunk frames: a fixed 32-byte self-checking header, then the opaque
//! codec payload. Self-delimiting so a sequential reader needs no index.

use crate::container::hash::xxh3_64;

use super::format::*;
use crate::error::{Error, Result};

/// What a chunk frame tells the pipeline about its decoded bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChunkHeader {
    /// Ordinal of the tensor (in data-offset order) this chunk belongs to.
    pub tensor: u32,
    /// Length in bytes of the decoded chunk.
    pub decoded_len: u64,
    /// XXH3-64 (seed 0) of the decoded chunk bytes.
    pub checksum: u64,
}

impl ChunkHeader {
    /// Verifies decoded bytes against this header; the container cannot do
    /// it itself because it never decodes payloads.
    pub fn verify(&self, decoded: &[u8]) -> Result<()> {
        self.verify_digest(decoded.len() as u64, xxh3_64(decoded))
    }

    /// [`ChunkHeader::verify`] from the decoded length and XXH3-64, for a
    /// decoder that hashed the bytes as it wrote them.
    pub fn verify_digest(&self, decoded_len: u64, actual: u64) -> Result<()> {
        if decoded_len != self.decoded_len || actual != self.checksum {
            return Err(Error::StzChunkChecksum {
                tensor: self.tensor,
                expected: self.checksum,
                actual,
            });
        }
        Ok(())
    }
}

/// A parsed chunk frame header: the chunk header plus the payload length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameHeader {
    /// Tensor ordinal.
    pub tensor: u32,
    /// Decoded length (≤ [`MAX_CHUNK_RAW`]).
    pub decoded_len: u64,
    /// Payload length (≤ [`MAX_CHUNK_PAYLOAD`]).
    pub payload_len: u32,
    /// XXH3-64 of the decoded bytes.
    pub checksum: u64,
}

impl FrameHeader {
    /// Size of a frame header in bytes.
    pub const LEN: usize = FRAME_HEADER_LEN;

    /// The part the pipeline cares about.
    pub fn chunk_header(&self) -> ChunkHeader {
        ChunkHeader {
            tensor: self.tensor,
            decoded_len: self.decoded_len,
            checksum: self.checksum,
        }
    }

    /// Total frame size: header plus payload.
    pub fn frame_len(&self) -> u64 {
        FRAME_HEADER_LEN as u64 + u64::from(self.payload_len)
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut w = Vec::with_capacity(FRAME_HEADER_LEN);
        w.extend_from_slice(&CHUNK_TAG);
        w.extend_from_slice(&self.tensor.to_le_bytes());
        w.extend_from_slice(&self.decoded_len.to_le_bytes());
        w.extend_from_slice(&self.payload_len.to_le_bytes());
        w.extend_from_slice(&self.checksum.to_le_bytes());
        let check = check32(&w);
        w.extend_from_slice(&check.to_le_bytes());
        w
    }
}

/// Parses a 32-byte chunk frame header (e.g. the start of a Range response).
/// Errors report offsets relative to `bytes`; see [`parse_frame_header_at`].
pub fn parse_frame_header(bytes: &[u8]) -> Result<FrameHeader> {
    parse_frame_header_at(bytes, 0)
}

/// Parses a chunk frame header that starts at file offset `offset` (used
/// only in error reports). Order: tag, check field, then limits — so a
/// corrupted length is reported as corruption, and a well-formed but lying
/// one as over the limit, both before anything is allocated.
pub fn parse_frame_header_at(bytes: &[u8], offset: u64) -> Result<FrameHeader> {
    let mut c = Cursor::new(bytes);
    let truncated = || Error::StzTruncated {
        offset: offset.saturating_add(bytes.len() as u64),
        what: "chunk frame header",
    };
    let tag = c.array::<4>().ok_or_else(truncated)?;
    if tag != CHUNK_TAG {
        return Err(Error::StzBadFrameTag { offset, tag });
    }
    let tensor = c.u32().ok_or_else(truncated)?;
    let decoded_len = c.u64().ok_or_else(truncated)?;
    let payload_len = c.u32().ok_or_else(truncated)?;
    let checksum = c.u64().ok_or_else(truncated)?;
    let check = c.u32().ok_or_else(truncated)?;
    let covered = bytes.get(..FRAME_HEADER_LEN - 4).ok_or_else(truncated)?;
    if check32(covered) != check {
        return Err(Error::StzBadFrameCheck { offset });
    }
    check_chunk_limits(offset, decoded_len, u64::from(payload_len))?;
    Ok(FrameHeader {
        tensor,
        decoded_len,
        payload_len,
        checksum,
    })
}

/// Shared by the writer and readers so both enforce the same limits.
pub(crate) fn check_chunk_limits(offset: u64, decoded_len: u64, payload_len: u64) -> Result<()> {
    if payload_len > MAX_CHUNK_PAYLOAD {
        return Err(Error::StzChunkPayloadTooLarge {
            offset,
            len: payload_len,
            limit: MAX_CHUNK_PAYLOAD,
        });
    }
    if decoded_len > MAX_CHUNK_RAW {
        return Err(Error::StzChunkDecodedTooLarge {
            offset,
            len: decoded_len,
            limit: MAX_CHUNK_RAW,
        });
    }
    Ok(())
}
