//! Compress / decompress drivers.
