//! Per-chunk codecs: the entropy coder and the lossless models built on it.

pub mod entropy;
pub mod lossless;
#[cfg(test)]
mod test_rng;
