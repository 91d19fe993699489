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

    // ---- pipeline / options ------------------------------------------------
}
