//! The `.stz` container format (byte-level spec: `docs/FORMAT.md`).
//!
//! Layout: preamble + deflated safetensors header, then self-delimiting
//! chunk frames (opaque codec payloads), then an index and a fixed-size
//! trailer. Two ways to read:
//! - [`StzReader`]: sequential, `Read` only, bounded memory;
//! - [`read_index`] + [`read_chunk_at`]: random access with `Seek`; the
//!   byte-level parsers ([`Trailer::parse`], [`StzIndex::parse`],
//!   [`decode_header_block`], [`parse_frame_header`]) serve readers that
//!   fetch ranges themselves (HTTP Range requests).
//!
//! The container never decodes payloads: it moves opaque bytes and checks
//! its own structure; decoded-chunk and whole-file checksums are verified by
//! the pipeline with [`ChunkHeader::verify`] / [`Error::StzFileChecksum`].
//!
//! [`Error::StzFileChecksum`]: crate::Error::StzFileChecksum

mod format;
mod frame;
pub(crate) mod hash;
mod header;
mod index;
mod reader;
mod writer;

pub use format::{
    FORMAT_VERSION, MAGIC, MAX_CHUNK_PAYLOAD, MAX_CHUNK_RAW, MAX_EXTRAS_LEN, MAX_HEADER_RAW,
    MAX_HEADER_STORED, MAX_INDEX_LEN, MODE_LOSSLESS, MODE_LOSSY,
};
pub use frame::{parse_frame_header, parse_frame_header_at, ChunkHeader, FrameHeader};
pub use header::{decode_header_block, Preamble};
pub use index::{read_chunk_at, read_index, ChunkLocation, StzIndex, TensorRecord, Trailer};
pub use reader::StzReader;
pub use writer::StzWriter;
