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
