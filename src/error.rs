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

    // ---- .stz container ----------------------------------------------------

    // ---- pipeline / options ------------------------------------------------
    #[error("chunk for tensor #{tensor} is out of order")]
    ChunkOutOfOrder { tensor: usize },
    #[error("chunk of {len} bytes does not fit tensor #{tensor} ({left} bytes left)")]
    ChunkLengthMismatch { tensor: usize, len: u64, left: u64 },
    #[error("tensor #{tensor} is missing {missing} bytes of chunks")]
    MissingChunks { tensor: usize, missing: u64 },
    #[error("checksum mismatch in a chunk of tensor #{tensor}: the file is corrupt")]
    ChunkChecksum { tensor: usize },
    #[error("whole-file checksum mismatch: the file is corrupt")]
    FileChecksum,
    #[error("internal error: {0}")]
    Internal(&'static str),
}
