//! stzip: lossless and lossy compression of safetensors weight files.
//!
//! The pipeline, in the order bytes flow through it:
//! - [`safetensors`]: streaming reader and validator for `.safetensors` input.
//! - [`codec`]: per-chunk codecs — the entropy coder, the lossless float
//!   models and byte-plane coder.
//! - [`container`]: the `.stz` file format (chunks, checksums, index).
//! - [`pipeline`]: compress / decompress drivers tying the three together,
//!   streaming with bounded memory and parallel over chunks; its
//!   [`pipeline::session`] steps serve callers that schedule chunks
//!   themselves.
//! - `bindings` (wasm32 only): the browser API over those sessions.
//! - [`hub`]: compressing straight from the Hugging Face Hub (names and
//!   shard indexes everywhere; the HTTP client with the `cli` feature).
//! - the `stzip` binary (`src/cli/`): the command line front end.

#[cfg(target_arch = "wasm32")]
pub mod bindings;
pub mod codec;
pub mod container;
pub mod error;
pub mod hub;
pub mod io;
pub mod pipeline;
pub mod safetensors;

pub use error::{Error, Result};
