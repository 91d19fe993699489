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

    #[error("file too short for a safetensors header: {len} bytes, need at least 8")]
    HeaderTooShort { len: u64 },

    #[error("safetensors header length is 0")]
    HeaderLenZero,

    #[error("this is an .stz file, not safetensors: decompress it (stzip decompress)")]
    InputIsStz,

    #[error("safetensors header length {len} exceeds the limit of {max} bytes")]
    HeaderTooLarge { len: u64, max: u64 },

    #[error(
        "safetensors header truncated: length prefix declares {expected} bytes, only {got} present"
    )]
    TruncatedHeader { expected: u64, got: u64 },

    #[error("safetensors header buffer holds {actual} JSON bytes but its length prefix declares {declared}")]
    HeaderLenMismatch { declared: u64, actual: u64 },

    #[error("safetensors header is not valid UTF-8 (valid up to byte {valid_up_to})")]
    HeaderNotUtf8 { valid_up_to: usize },

    #[error("safetensors header must start with '{{', found byte 0x{found:02x}")]
    HeaderBadStart { found: u8 },

    #[error("safetensors header is not valid JSON: {message}")]
    InvalidJson { message: String },

    #[error("safetensors header nests JSON deeper than {limit} levels")]
    HeaderTooDeep { limit: usize },

    #[error("safetensors header is valid JSON but not an object")]
    HeaderNotObject,

    #[error("duplicate key {key:?} in safetensors header")]
    DuplicateKey { key: String },

    #[error("duplicate key {key:?} in __metadata__")]
    DuplicateMetadataKey { key: String },

    #[error("__metadata__ is not a map of string to string: {detail}")]
    MetadataNotStringMap { detail: String },

    #[error("tensor {tensor:?}: entry is not a JSON object")]
    TensorNotObject { tensor: String },

    #[error("tensor {tensor:?}: missing field {field:?}")]
    TensorMissingField { tensor: String, field: &'static str },

    #[error("tensor {tensor:?}: field {field:?} has the wrong type: {message}")]
    TensorFieldType {
        tensor: String,
        field: &'static str,
        message: String,
    },

    #[error("tensor {tensor:?}: unknown field {field:?}")]
    TensorUnknownField { tensor: String, field: String },

    #[error("tensor {tensor:?}: duplicate field {field:?}")]
    TensorDuplicateField { tensor: String, field: String },

    #[error("tensor {tensor:?}: size of shape {shape:?} x {} overflows u64", .dtype.name())]
    TensorSizeOverflow {
        tensor: String,
        dtype: crate::safetensors::Dtype,
        shape: Vec<u64>,
    },

    #[error("tensor {tensor:?}: data_offsets begin {begin} > end {end}")]
    OffsetsReversed {
        tensor: String,
        begin: u64,
        end: u64,
    },

    #[error(
        "tensor {tensor:?}: shape and dtype need {expected} bytes but data_offsets span {actual}"
    )]
    TensorSizeMismatch {
        tensor: String,
        expected: u64,
        actual: u64,
    },

    #[error(
        "tensor {tensor:?} starts at {start}, inside {previous:?} which ends at {previous_end}"
    )]
    OverlappingTensors {
        tensor: String,
        previous: String,
        start: u64,
        previous_end: u64,
    },

    #[error("gap in data section: tensor {tensor:?} starts at {start}, expected {expected_start}")]
    DataGap {
        tensor: String,
        expected_start: u64,
        start: u64,
    },

    #[error("safetensors file length overflows u64 (data section of {data_len} bytes)")]
    FileLenOverflow { data_len: u64 },

    #[error(
        "safetensors data truncated: file should be {expected_total} bytes, ended after {got}"
    )]
    TruncatedData { expected_total: u64, got: u64 },

    #[error(
        "unexpected trailing bytes after the end of the safetensors data at offset {file_len}"
    )]
    TrailingData { file_len: u64 },

    #[error("data section not fully consumed: read {position} of {data_len} bytes")]
    DataNotConsumed { position: u64, data_len: u64 },

    #[error("read of {requested} bytes at data position {position} goes past the data section end {data_len}")]
    ReadBeyondData {
        position: u64,
        requested: u64,
        data_len: u64,
    },
    // ---- codecs ------------------------------------------------------------
    #[error("corrupt chunk payload: {0}")]
    CodecCorrupt(&'static str),
    #[error("chunk payload ends early")]
    CodecTruncated,
    #[error("unknown chunk coding method {0}")]
    UnknownCodecMethod(u8),
    /// A frequency table could not be built or a serialized one is invalid.
    #[error("invalid frequency table: {0}")]
    BadFreqTable(&'static str),

    /// An entropy-coded stream (rANS, bit fields, byte/symbol stream) is
    /// truncated, has trailing data or fails its consistency checks.
    #[error("corrupt entropy-coded stream: {0}")]
    EntropyStreamCorrupt(&'static str),

    /// A self-describing stream stores a different length than the caller expects.
    #[error("entropy stream length mismatch: expected {expected}, stored {stored}")]
    EntropyLengthMismatch { expected: u64, stored: u64 },
    // ---- .stz container ----------------------------------------------------
    /// The first 8 bytes are not the `.stz` magic: not an `.stz` file, or
    /// mangled by a text-mode transfer.
    #[error("not an .stz file (bad magic bytes at offset 0)")]
    StzBadMagic,

    #[error("this is a safetensors file, not .stz: compress it (stzip compress)")]
    StzIsSafetensors,

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

    /// The file declares a decoded size beyond the configured limit (a
    /// decompression bomb, or a file bigger than the limit allows).
    #[error(".stz declares {declared} bytes of output, over the limit of {limit} bytes (stzip --max-output-size GIB raises it)")]
    StzOutputTooLarge { declared: u64, limit: u64 },

    /// Random access asked for a tensor the file does not have.
    #[error("no tensor named {name:?} in the file")]
    TensorNotFound { name: String },

    /// Bytes follow the trailer.
    #[error(".stz: unexpected data after the trailer at byte {offset}")]
    StzTrailingData { offset: u64 },

    /// The writer was used against the format's rules (or after an I/O
    /// error left the output incomplete).
    #[error(".stz writer: {what}")]
    StzInvalidWrite { what: &'static str },
    // ---- pipeline / options ------------------------------------------------
    #[error("chunk for tensor #{tensor} is out of order")]
    ChunkOutOfOrder { tensor: usize },
    #[error("chunk of {len} bytes does not fit tensor #{tensor} ({left} bytes left)")]
    ChunkLengthMismatch { tensor: usize, len: u64, left: u64 },
    #[error("tensor #{tensor} is missing {missing} bytes of chunks")]
    MissingChunks { tensor: usize, missing: u64 },
    #[error("session steps called out of order: {0}")]
    SessionOrder(&'static str),
    #[error("internal error: {0}")]
    Internal(&'static str),
    #[error("invalid lossy target: {reason}")]
    InvalidLossyTarget { reason: String },
    #[error("the input changed between the statistics and the coding pass")]
    InputChanged,
    // ---- Hugging Face Hub --------------------------------------------------
    /// The input looks like a Hub reference (`hf://`, a Hub URL) but is not
    /// one stzip can use.
    #[error("not a usable Hugging Face Hub reference {input:?}: {reason}")]
    HubBadReference { input: String, reason: &'static str },

    /// A repo id that the Hub would not accept (`owner/name`).
    #[error("bad Hub repo id {id:?}: {reason}")]
    HubBadRepoId { id: String, reason: &'static str },

    /// A file path inside a repo that could escape it or is not a file name.
    #[error("bad file path {path:?} in the repo: {reason}")]
    HubBadPath { path: String, reason: &'static str },

    /// The Hub base URL (`--hub`, `HF_ENDPOINT`) is not an http(s) origin.
    #[error("bad Hub URL {url:?}: {reason}")]
    HubBadEndpoint { url: String, reason: &'static str },

    /// 401/403 and no token was sent.
    #[error(
        "{repo}: the repo is gated or private (HTTP {status}) and no access token was sent: \
         set HF_TOKEN to a token that has access (or log in with `hf auth login`, which saves \
         it in ~/.cache/huggingface/token)"
    )]
    HubTokenNeeded { repo: String, status: u16 },

    /// 401/403 although a token was sent.
    #[error(
        "{repo}: the Hub refused the access token (HTTP {status}): the repo is gated or private \
         and this token has no access to it; request access on the repo page, or use another token"
    )]
    HubTokenRefused { repo: String, status: u16 },

    /// The token file or variable holds something that cannot be a token.
    #[error("the Hugging Face token from {source_name} is not a valid token (printable ASCII, no spaces)")]
    HubBadToken { source_name: String },

    /// 404: the repo, the revision or the file.
    #[error("not found on the Hub: {what}")]
    HubNotFound { what: String },

    /// A shard named by `model.safetensors.index.json` could escape the
    /// output directory or the repo (`..`, an absolute path, a URL).
    #[error("bad shard name {name:?} in {index}: {reason}")]
    HubBadShardName {
        index: String,
        name: String,
        reason: &'static str,
    },

    /// The shard index is malformed or disagrees with the repo.
    #[error("bad shard index {index}: {reason}")]
    HubBadIndex { index: String, reason: String },

    /// Two repo files would be written to the same output name.
    #[error("{first:?} and {second:?} would both be written as {name:?}")]
    HubNameClash {
        first: String,
        second: String,
        name: String,
    },

    /// The repo has nothing to compress.
    #[error("{repo}@{revision} has no .safetensors files")]
    HubNoSafetensors { repo: String, revision: String },

    /// A download kept failing.
    #[error("{what}: giving up after {attempts} failed attempts in a row; last: {last}")]
    HubRetriesExhausted {
        what: String,
        attempts: u32,
        last: String,
    },

    /// An HTTP status that has no better meaning.
    #[error("{what}: the Hub answered HTTP {status}")]
    HubHttpStatus { what: String, status: u16 },

    /// An API answer or index beyond its size cap.
    #[error("{what}: response larger than the limit of {limit} bytes")]
    HubResponseTooLarge { what: String, limit: u64 },

    /// A response that does not have the shape the Hub API gives.
    #[error("{what}: unexpected response: {reason}")]
    HubBadResponse { what: String, reason: String },

    /// The file's ETag changed between a drop and its resume.
    #[error(
        "{what} changed on the Hub during the download (ETag {before} became {after}): run again"
    )]
    HubFileChanged {
        what: String,
        before: String,
        after: String,
    },
}
