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

    // ---- pipeline / options ------------------------------------------------
}
