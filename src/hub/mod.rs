//! Compress straight from the Hugging Face Hub: a repo id or Hub URL in,
//! the repo's safetensors files streamed from the network through the
//! codec as the bytes arrive, `.stz` files (and a rewritten shard index)
//! out.
//!
//! - [`refs`]: `hf://owner/repo[@rev][/file]` and Hub URLs; the checks every
//!   name from the Hub passes before it is used in a URL or on disk.
//! - [`index`]: `model.safetensors.index.json`, validated and rewritten.
//!
//! Native only (the `cli` feature; the browser fetches with its own
//! `fetch`):
//! - [`client`]: the HTTP agent; the token goes to the Hub's origin only.
//! - [`list`]: the repo's files (tree API with `Link` pagination, or the
//!   revision API).
//! - [`download`]: one file as a resumable `Read` (Range + If-Range,
//!   re-resolving expired signed URLs, bounded retries with backoff).
//! - [`prefetch`]: reads ahead on a thread so network and codec overlap.
//! - [`token`]: `HF_TOKEN` or the token file.
//! - [`plan`]: what to fetch and write for a whole repo.

pub mod index;
pub mod refs;

#[cfg(feature = "cli")]
pub mod client;
#[cfg(feature = "cli")]
pub mod download;
#[cfg(feature = "cli")]
pub mod list;
#[cfg(feature = "cli")]
pub mod plan;
#[cfg(feature = "cli")]
pub mod prefetch;
#[cfg(feature = "cli")]
pub mod token;

pub use refs::{RepoRef, DEFAULT_HUB};
