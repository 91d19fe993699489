//! XXH3-64, every checksum of the format, one-shot and streaming.
//! (twox-hash chooses its AVX2 code at run time; the checksums are hashed
//! over every decoded byte, so their speed shows in decompression.)

use std::hash::Hasher;

use twox_hash::XxHash3_64;

/// XXH3-64 of `bytes` (seed 0).
pub fn xxh3_64(bytes: &[u8]) -> u64 {
    XxHash3_64::oneshot(bytes)
}

/// Streaming XXH3-64: [`Xxh3::digest`] of the bytes given to
/// [`Xxh3::update`] equals [`xxh3_64`] of them all.
#[derive(Clone, Default)]
pub struct Xxh3(XxHash3_64);

impl Xxh3 {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.0.write(bytes);
    }

    pub fn digest(&self) -> u64 {
        self.0.finish()
    }
}
