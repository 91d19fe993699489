//! Preamble + header block: magic, version, flags and the deflated original
//! safetensors header (its exact bytes, length prefix included).

use crate::container::hash::xxh3_64;
use miniz_oxide::inflate::core::{decompress, inflate_flags, DecompressorOxide};
use miniz_oxide::inflate::TINFLStatus;

use super::format::*;
use crate::error::{Error, Result};

/// The fixed 48 bytes at the start of every `.stz` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preamble {
    /// Format version (1 for files this build writes).
    pub version: u16,
    /// Flag bits (none defined in version 1).
    pub flags: u16,
    /// Length of the original safetensors header bytes.
    pub header_raw_len: u64,
    /// Length of the deflate stream that follows the preamble.
    pub header_stored_len: u64,
    /// XXH3-64 of the original safetensors header bytes.
    pub header_checksum: u64,
    /// XXH3-64 of the stored deflate stream: catches damage before
    /// inflating, including in bits deflate ignores (final-byte padding).
    pub stored_checksum: u64,
}

impl Preamble {
    /// Size of the fixed preamble in bytes.
    pub const LEN: usize = PREAMBLE_LEN;

    /// Parses and validates the first [`Preamble::LEN`] bytes of a file.
    /// Checks run in an order that lets a newer version change everything
    /// after the version field: magic, version, check field, flags, limits.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let truncated = Error::StzTruncated {
            offset: bytes.len() as u64,
            what: "preamble",
        };
        match bytes.get(..MAGIC.len()) {
            Some(m) if m == MAGIC => {}
            // A short file is only "truncated" if what is there could still
            // become the magic.
            None if MAGIC.starts_with(bytes) => return Err(truncated),
            _ if looks_like_safetensors(bytes) => return Err(Error::StzIsSafetensors),
            _ => return Err(Error::StzBadMagic),
        }
        let mut c = Cursor::new(bytes);
        c.take(MAGIC.len());
        let truncated = || Error::StzTruncated {
            offset: bytes.len() as u64,
            what: "preamble",
        };
        let version = c.u16().ok_or_else(truncated)?;
        if version != FORMAT_VERSION {
            return Err(Error::StzUnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let flags = c.u16().ok_or_else(truncated)?;
        let header_raw_len = c.u64().ok_or_else(truncated)?;
        let header_stored_len = c.u64().ok_or_else(truncated)?;
        let header_checksum = c.u64().ok_or_else(truncated)?;
        let stored_checksum = c.u64().ok_or_else(truncated)?;
        let check = c.u32().ok_or_else(truncated)?;
        let covered = bytes.get(..PREAMBLE_LEN - 4).ok_or_else(truncated)?;
        if check32(covered) != check {
            return Err(Error::StzBadHeaderCheck);
        }
        if flags & !KNOWN_FLAGS != 0 {
            return Err(Error::StzUnsupportedFlags { flags });
        }
        if header_raw_len > MAX_HEADER_RAW {
            return Err(Error::StzHeaderTooLarge {
                what: "raw length",
                value: header_raw_len,
                limit: MAX_HEADER_RAW,
            });
        }
        if header_stored_len > MAX_HEADER_STORED {
            return Err(Error::StzHeaderTooLarge {
                what: "stored length",
                value: header_stored_len,
                limit: MAX_HEADER_STORED,
            });
        }
        Ok(Self {
            version,
            flags,
            header_raw_len,
            header_stored_len,
            header_checksum,
            stored_checksum,
        })
    }

    /// Offset of the first chunk frame (end of the header block).
    pub fn data_start(&self) -> u64 {
        PREAMBLE_LEN as u64 + self.header_stored_len
    }

    /// Inflates the stored header (exactly `header_stored_len` bytes),
    /// bounding the output by the declared raw length, and verifies length,
    /// full consumption of the stream and checksum.
    pub fn decode_header(&self, stored: &[u8]) -> Result<Vec<u8>> {
        if stored.len() as u64 != self.header_stored_len {
            return Err(Error::StzHeaderInflate {
                what: "stored length differs from the declared length",
            });
        }
        let actual = xxh3_64(stored);
        if actual != self.stored_checksum {
            return Err(Error::StzHeaderStoredChecksum {
                expected: self.stored_checksum,
                actual,
            });
        }
        let raw = inflate_bounded(stored, self.header_raw_len)?;
        let actual = xxh3_64(&raw);
        if actual != self.header_checksum {
            return Err(Error::StzHeaderChecksum {
                expected: self.header_checksum,
                actual,
            });
        }
        Ok(raw)
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut w = Vec::with_capacity(PREAMBLE_LEN);
        w.extend_from_slice(&MAGIC);
        w.extend_from_slice(&self.version.to_le_bytes());
        w.extend_from_slice(&self.flags.to_le_bytes());
        w.extend_from_slice(&self.header_raw_len.to_le_bytes());
        w.extend_from_slice(&self.header_stored_len.to_le_bytes());
        w.extend_from_slice(&self.header_checksum.to_le_bytes());
        w.extend_from_slice(&self.stored_checksum.to_le_bytes());
        let check = check32(&w);
        w.extend_from_slice(&check.to_le_bytes());
        w
    }
}

/// Parses a whole header block (`[0, data_start)` of a file, e.g. fetched
/// with one HTTP Range request once the index gave `data_start`) and
/// returns the preamble with the original safetensors header bytes.
pub fn decode_header_block(bytes: &[u8]) -> Result<(Preamble, Vec<u8>)> {
    let p = Preamble::parse(bytes)?;
    let end = to_usize(p.data_start()).ok_or(Error::StzHeaderTooLarge {
        what: "stored length",
        value: p.header_stored_len,
        limit: MAX_HEADER_STORED,
    })?;
    let stored = bytes.get(PREAMBLE_LEN..end).ok_or(Error::StzTruncated {
        offset: bytes.len() as u64,
        what: "stored safetensors header",
    })?;
    let header = p.decode_header(stored)?;
    Ok((p, header))
}

/// Deflates the safetensors header for storage (raw RFC 1951 stream).
pub(crate) fn deflate_header(raw: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec(raw, 10)
}

/// Inflates a raw deflate stream that must produce exactly `expected`
/// bytes and consume all of `input`. The output buffer never grows past
/// `expected + 1` bytes (one spare byte detects "more than declared").
fn inflate_bounded(input: &[u8], expected: u64) -> Result<Vec<u8>> {
    let limit =
        to_usize(expected)
            .and_then(|e| e.checked_add(1))
            .ok_or(Error::StzHeaderTooLarge {
                what: "raw length",
                value: expected,
                limit: MAX_HEADER_RAW,
            })?;
    let flags = inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
    let mut out = vec![0u8; input.len().saturating_mul(4).max(64).min(limit)];
    let mut dec = Box::<DecompressorOxide>::default();
    let mut in_pos = 0usize;
    let mut out_pos = 0usize;
    loop {
        let rest = input.get(in_pos..).unwrap_or(&[]);
        let (status, consumed, produced) = decompress(&mut dec, rest, &mut out, out_pos, flags);
        in_pos = in_pos.saturating_add(consumed);
        out_pos = out_pos.saturating_add(produced);
        match status {
            TINFLStatus::Done => break,
            TINFLStatus::HasMoreOutput => {
                if out.len() >= limit {
                    return Err(Error::StzHeaderInflate {
                        what: "inflates to more than the declared length",
                    });
                }
                let new_len = out.len().saturating_mul(2).min(limit);
                out.resize(new_len, 0);
            }
            TINFLStatus::NeedsMoreInput | TINFLStatus::FailedCannotMakeProgress => {
                return Err(Error::StzHeaderInflate {
                    what: "deflate stream ends early",
                })
            }
            _ => {
                return Err(Error::StzHeaderInflate {
                    what: "invalid deflate stream",
                })
            }
        }
    }
    if in_pos != input.len() {
        return Err(Error::StzHeaderInflate {
            what: "data after the end of the deflate stream",
        });
    }
    if out_pos as u64 != expected {
        return Err(Error::StzHeaderInflate {
            what: "inflated length differs from the declared length",
        });
    }
    out.truncate(out_pos);
    Ok(out)
}

/// A plausible safetensors start: a header length in range, then `{`. For
/// a useful message when a file is given to the wrong command.
fn looks_like_safetensors(bytes: &[u8]) -> bool {
    let prefix = bytes.first_chunk().copied();
    prefix.is_some_and(|p| crate::safetensors::header::check_declared_len(p).is_ok())
        && bytes.get(8) == Some(&b'{')
}
