//! Constants, limits and little-endian helpers shared by the `.stz` writer
//! and readers. Every number here is part of the on-disk format (see
//! `docs/FORMAT.md`); changing one is a format change.

use crate::container::hash::xxh3_64;

pub(crate) use crate::io::{read_full, read_replacing};

/// File magic, at offset 0 and again as the last 8 bytes of the file.
/// PNG-style: the high-bit byte catches 7-bit transports, `\r\n` and `\n`
/// catch newline translation, `\x1a` stops `type` on DOS-like systems.
pub const MAGIC: [u8; 8] = *b"\x89STZ\r\n\x1a\n";

/// Format version written by this build, and the newest one it reads.
pub const FORMAT_VERSION: u16 = 1;

/// Flag bits defined in version 1: none. Readers refuse unknown bits,
/// because a flag may change how the rest of the file must be read.
pub const KNOWN_FLAGS: u16 = 0;

/// Tag opening every chunk frame.
pub const CHUNK_TAG: [u8; 4] = *b"STZC";
/// Tag opening the index; lets a sequential reader see where chunks end.
pub const INDEX_TAG: [u8; 4] = *b"STZX";

/// Bytes of the fixed part of the preamble + header block (before the
/// deflate stream).
pub const PREAMBLE_LEN: usize = 48;
/// Bytes of a chunk frame header (before its payload).
pub const FRAME_HEADER_LEN: usize = 32;
/// Bytes of the fixed part of the index (before the tensor records).
pub const INDEX_FIXED_LEN: usize = 40;
/// Bytes of one chunk record in the index.
pub const CHUNK_RECORD_LEN: usize = 32;
/// Minimum bytes of one tensor record in the index (no extras).
pub const TENSOR_RECORD_MIN_LEN: usize = 9;
/// Bytes of the trailer at the end of the file.
pub const TRAILER_LEN: usize = 56;

const MIB: u64 = 1024 * 1024;

/// Largest safetensors header (8-byte length prefix + JSON) accepted; matches
/// the 100 MB cap safetensors itself puts on its JSON header.
pub const MAX_HEADER_RAW: u64 = 100 * MIB + 8;
/// Largest deflated header accepted. Deflate expands incompressible data by
/// a few bytes per 64 KiB block, far less than the 1 MiB allowed here.
pub const MAX_HEADER_STORED: u64 = MAX_HEADER_RAW + MIB;
/// Largest decoded chunk.
pub const MAX_CHUNK_RAW: u64 = 64 * MIB;
/// Largest chunk payload (codec output may exceed its input slightly).
pub const MAX_CHUNK_PAYLOAD: u64 = MAX_CHUNK_RAW + MIB;
/// Largest codec-defined extras blob of one tensor record.
pub const MAX_EXTRAS_LEN: u64 = 64 * 1024;
/// Largest index accepted (about 33 million chunk records).
pub const MAX_INDEX_LEN: u64 = 1024 * MIB;

/// Tensor modes stored in the index.
pub const MODE_LOSSLESS: u8 = 0;
/// Tensor was quantized / transformed lossily by the codec.
pub const MODE_LOSSY: u8 = 1;

/// The 32-bit check field used by the preamble, frame headers and trailer:
/// the low 32 bits of XXH3-64 (seed 0) of the bytes before it. Catches a
/// corrupted length before it is used to allocate or seek.
pub(crate) fn check32(bytes: &[u8]) -> u32 {
    xxh3_64(bytes) as u32
}

/// Panic-free little-endian cursor over a byte slice. Running out of bytes
/// is reported through the caller-supplied error constructor, so the same
/// cursor serves "truncated file" and "corrupt index" contexts.
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    /// Takes `n` bytes or returns `None` without moving.
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N).and_then(|s| s.try_into().ok())
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.array().map(u8::from_le_bytes)
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_le_bytes)
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_le_bytes)
    }
}

/// Converts a length already checked against a limit to `usize` (all
/// limits fit in 32 bits, so this only fails on exotic targets).
pub(crate) fn to_usize(v: u64) -> Option<usize> {
    usize::try_from(v).ok()
}
