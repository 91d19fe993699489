//! The one error type of stzip: a named variant for every way an input can
//! be wrong, so users (and tests) can tell exactly what failed.

use std::io;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),

    // ---- safetensors input -------------------------------------------------
    #[error("unknown dtype {0:?}")]
    UnknownDtype(String),

    // ---- codecs ------------------------------------------------------------

    // ---- .stz container ----------------------------------------------------
    /// The first 8 bytes are not the `.stz` magic: not an `.stz` file, or
    /// mangled by a text-mode transfer.
    #[error("not an .stz file (bad magic bytes at offset 0)")]
    StzBadMagic,

    /// Written by a newer (or unknown) major format version.
    #[error(".stz format version {found} is not supported (this build reads version {supported})")]
    StzUnsupportedVersion { found: u16, supported: u16 },

    /// Flag bits this build does not know; they could change the layout.
    #[error(".stz flags {flags:#06x} are not supported")]
    StzUnsupportedFlags { flags: u16 },

    /// The file ends before a structure that must be there.
    #[error(".stz file truncated at byte {offset} while reading {what}")]
    StzTruncated { offset: u64, what: &'static str },

    /// The check field of the preamble / header block does not match, so
    /// its lengths cannot be trusted.
    #[error(".stz header block is corrupted (check field mismatch)")]
    StzBadHeaderCheck,

    /// A declared size of the stored safetensors header is beyond its limit.
    #[error(".stz stored safetensors header: {what} {value} exceeds the limit {limit}")]
    StzHeaderTooLarge {
        what: &'static str,
        value: u64,
        limit: u64,
    },

    /// The deflated safetensors header does not inflate to its declared
    /// length.
    #[error(".stz stored safetensors header is corrupted: {what}")]
    StzHeaderInflate { what: &'static str },

    /// The stored (deflated) safetensors header does not hash to its
    /// stored XXH3-64.
    #[error(".stz stored safetensors header is damaged (stored-bytes checksum {expected:#018x}, computed {actual:#018x})")]
    StzHeaderStoredChecksum { expected: u64, actual: u64 },

    /// The inflated safetensors header does not hash to its stored XXH3-64.
    #[error(".stz stored safetensors header checksum mismatch (stored {expected:#018x}, computed {actual:#018x})")]
    StzHeaderChecksum { expected: u64, actual: u64 },

    /// Where a chunk frame or the index must begin there is something else.
    #[error(".stz: expected a chunk frame or the index at byte {offset}, found tag {tag:02x?}")]
    StzBadFrameTag { offset: u64, tag: [u8; 4] },

    /// The check field of a chunk frame header does not match its fields.
    #[error(".stz chunk frame header at byte {offset} is corrupted (check field mismatch)")]
    StzBadFrameCheck { offset: u64 },

    /// A chunk frame (or a chunk handed to the writer) declares a payload
    /// longer than `MAX_CHUNK_PAYLOAD`.
    #[error(".stz chunk at byte {offset}: payload length {len} exceeds the limit {limit}")]
    StzChunkPayloadTooLarge { offset: u64, len: u64, limit: u64 },

    /// A chunk frame (or a chunk handed to the writer) declares a decoded
    /// length longer than `MAX_CHUNK_RAW`.
    #[error(".stz chunk at byte {offset}: decoded length {len} exceeds the limit {limit}")]
    StzChunkDecodedTooLarge { offset: u64, len: u64, limit: u64 },

    /// Tensor ordinals of chunks must be non-decreasing across the file.
    #[error(".stz chunk at byte {offset}: tensor {tensor} follows tensor {previous}")]
    StzChunkOutOfOrder {
        offset: u64,
        previous: u32,
        tensor: u32,
    },

    /// A decoded chunk does not hash to the checksum in its frame (raised by
    /// the pipeline after decoding; the container never decodes payloads).
    #[error(".stz chunk of tensor {tensor}: checksum mismatch (stored {expected:#018x}, computed {actual:#018x})")]
    StzChunkChecksum {
        tensor: u32,
        expected: u64,
        actual: u64,
    },

    /// The reconstructed safetensors file does not hash to the trailer's
    /// file checksum (raised by the pipeline).
    #[error(".stz reconstructed file checksum mismatch (stored {expected:#018x}, computed {actual:#018x})")]
    StzFileChecksum { expected: u64, actual: u64 },

    /// The file does not end with a valid trailer (truncated, or not `.stz`).
    #[error(".stz trailer missing: the file does not end with the .stz magic")]
    StzTrailerMissing,

    /// The check field of the trailer does not match its fields.
    #[error(".stz trailer is corrupted (check field mismatch)")]
    StzBadTrailerCheck,

    /// The trailer points the index outside the file (or not right before
    /// the trailer).
    #[error(
        ".stz index at byte {offset} with length {len} does not fit a file of {file_len} bytes"
    )]
    StzIndexOutOfBounds {
        offset: u64,
        len: u64,
        file_len: u64,
    },

    /// A declared index length is beyond `MAX_INDEX_LEN` or too short to
    /// hold the fixed index fields.
    #[error(".stz index length {len} is outside the allowed range (limit {limit})")]
    StzIndexTooLarge { len: u64, limit: u64 },

    /// The index bytes do not hash to the trailer's index checksum.
    #[error(".stz index checksum mismatch (stored {expected:#018x}, computed {actual:#018x})")]
    StzIndexChecksum { expected: u64, actual: u64 },

    /// The index bytes are malformed (bad structure at a byte of the index).
    #[error(".stz index is malformed at index byte {offset}: {what}")]
    StzIndexCorrupt { offset: u64, what: &'static str },

    /// The index disagrees with the chunk frames, header or trailer.
    #[error(".stz index disagrees with the file: {what}")]
    StzIndexMismatch { what: &'static str },

    /// Bytes follow the trailer.
    #[error(".stz: unexpected data after the trailer at byte {offset}")]
    StzTrailingData { offset: u64 },

    /// The writer was used against the format's rules (or after an I/O
    /// error left the output incomplete).
    #[error(".stz writer: {what}")]
    StzInvalidWrite { what: &'static str },
    // ---- pipeline / options ------------------------------------------------
}
