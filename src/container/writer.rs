//! Streaming `.stz` writer: preamble and header block up front, chunk
//! frames as they come, index and trailer in `finish`. Needs only `Write`
//! (no Seek), so it can write to stdout or a network stream.

use std::collections::BTreeMap;
use std::io::Write;

use crate::container::hash::xxh3_64;

use super::format::*;
use super::frame::{check_chunk_limits, FrameHeader};
use super::header::{deflate_header, Preamble};
use super::index::{encode_index, ChunkLocation, RecordOut, Trailer};
use crate::error::{Error, Result};

/// Writes one `.stz` file. Memory use is one 32-byte record per chunk plus
/// the tensor records, for the index written at the end.
#[derive(Debug)]
pub struct StzWriter<W: Write> {
    w: W,
    pos: u64,
    header_len: u64,
    data_start: u64,
    chunks: Vec<ChunkLocation>,
    records: BTreeMap<u32, (u8, Vec<u8>)>,
    decoded_sum: u64,
    /// Set when a write failed midway: the output is then incomplete and
    /// any further frame would sit at the wrong offset.
    failed: bool,
}

impl<W: Write> StzWriter<W> {
    /// Writes the preamble and the deflated safetensors header (its exact
    /// bytes: 8-byte length prefix + JSON, at most [`MAX_HEADER_RAW`]).
    pub fn new(mut w: W, safetensors_header: &[u8]) -> Result<Self> {
        let header_len = safetensors_header.len() as u64;
        if header_len > MAX_HEADER_RAW {
            return Err(Error::StzHeaderTooLarge {
                what: "raw length",
                value: header_len,
                limit: MAX_HEADER_RAW,
            });
        }
        let stored = deflate_header(safetensors_header);
        let preamble = Preamble {
            version: FORMAT_VERSION,
            flags: 0,
            header_raw_len: header_len,
            header_stored_len: stored.len() as u64,
            header_checksum: xxh3_64(safetensors_header),
            stored_checksum: xxh3_64(&stored),
        };
        if preamble.header_stored_len > MAX_HEADER_STORED {
            return Err(Error::StzHeaderTooLarge {
                what: "stored length",
                value: preamble.header_stored_len,
                limit: MAX_HEADER_STORED,
            });
        }
        w.write_all(&preamble.encode())?;
        w.write_all(&stored)?;
        let data_start = preamble.data_start();
        Ok(Self {
            w,
            pos: data_start,
            header_len,
            data_start,
            chunks: Vec::new(),
            records: BTreeMap::new(),
            decoded_sum: header_len,
            failed: false,
        })
    }

    /// Appends one chunk frame. `tensor` must be non-decreasing across
    /// calls; `checksum` is the XXH3-64 of the `decoded_len` decoded bytes;
    /// `payload` is the codec output, stored as is.
    pub fn write_chunk(
        &mut self,
        tensor: u32,
        decoded_len: u64,
        checksum: u64,
        payload: &[u8],
    ) -> Result<()> {
        self.check_usable()?;
        check_chunk_limits(self.pos, decoded_len, payload.len() as u64)?;
        if let Some(last) = self.chunks.last() {
            if tensor < last.tensor {
                return Err(Error::StzChunkOutOfOrder {
                    offset: self.pos,
                    previous: last.tensor,
                    tensor,
                });
            }
        }
        if (self.chunks.len() as u64 + 1) * CHUNK_RECORD_LEN as u64 > MAX_INDEX_LEN {
            return Err(Error::StzInvalidWrite {
                what: "too many chunks for the index size limit",
            });
        }
        let payload_len =
            u32::try_from(payload.len()).map_err(|_| Error::StzChunkPayloadTooLarge {
                offset: self.pos,
                len: payload.len() as u64,
                limit: MAX_CHUNK_PAYLOAD,
            })?;
        let fh = FrameHeader {
            tensor,
            decoded_len,
            payload_len,
            checksum,
        };
        self.failed = true;
        self.w.write_all(&fh.encode())?;
        self.w.write_all(payload)?;
        self.failed = false;
        self.chunks.push(ChunkLocation {
            offset: self.pos,
            tensor,
            payload_len,
            decoded_len,
            checksum,
        });
        self.pos += fh.frame_len();
        self.decoded_sum = self.decoded_sum.saturating_add(decoded_len);
        Ok(())
    }

    /// Sets the index record of a tensor (mode [`MODE_LOSSLESS`] or
    /// [`MODE_LOSSY`], codec-defined extras up to [`MAX_EXTRAS_LEN`]
    /// bytes; checked in [`finish`](Self::finish)). Tensors with chunks but
    /// no call get mode 0 and no extras; a tensor with no chunks gets a
    /// record only through this call. A later call replaces an earlier one.
    pub fn set_tensor_record(&mut self, tensor: u32, mode: u8, extras: Vec<u8>) {
        self.records.insert(tensor, (mode, extras));
    }

    /// Bytes written so far (the offset of the next frame).
    pub fn bytes_written(&self) -> u64 {
        self.pos
    }

    /// The output written to so far.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.w
    }

    /// Writes the index and trailer, flushes, and returns the inner writer.
    /// `decoded_total` must equal the safetensors header length plus the
    /// decoded lengths of all chunks (the format has no holes).
    pub fn finish(mut self, file_checksum: u64, decoded_total: u64) -> Result<W> {
        self.check_usable()?;
        if decoded_total != self.decoded_sum {
            return Err(Error::StzInvalidWrite {
                what: "decoded_total differs from the header length plus chunk decoded lengths",
            });
        }
        for c in &self.chunks {
            self.records
                .entry(c.tensor)
                .or_insert((MODE_LOSSLESS, Vec::new()));
        }
        let mut recs = Vec::with_capacity(self.records.len());
        for (&tensor, (mode, extras)) in &self.records {
            if *mode > MODE_LOSSY {
                return Err(Error::StzInvalidWrite {
                    what: "tensor mode must be 0 (lossless) or 1 (lossy)",
                });
            }
            if extras.len() as u64 > MAX_EXTRAS_LEN {
                return Err(Error::StzInvalidWrite {
                    what: "tensor extras longer than MAX_EXTRAS_LEN",
                });
            }
            recs.push(RecordOut {
                tensor,
                mode: *mode,
                extras,
            });
        }
        // Size the index before building it, so an oversized one is refused
        // without allocating it.
        let index_size = recs.iter().fold(
            INDEX_FIXED_LEN as u64 + self.chunks.len() as u64 * CHUNK_RECORD_LEN as u64,
            |acc, r| acc.saturating_add(TENSOR_RECORD_MIN_LEN as u64 + r.extras.len() as u64),
        );
        if index_size > MAX_INDEX_LEN {
            return Err(Error::StzInvalidWrite {
                what: "index larger than MAX_INDEX_LEN",
            });
        }
        let index = encode_index(self.data_start, self.header_len, &recs, &self.chunks);
        let trailer = Trailer {
            index_offset: self.pos,
            index_len: index.len() as u64,
            index_checksum: xxh3_64(&index),
            file_checksum,
            decoded_total,
            version: FORMAT_VERSION,
            flags: 0,
        };
        self.w.write_all(&index)?;
        self.w.write_all(&trailer.encode())?;
        self.w.flush()?;
        Ok(self.w)
    }

    fn check_usable(&self) -> Result<()> {
        if self.failed {
            return Err(Error::StzInvalidWrite {
                what: "an earlier write failed; the output is incomplete",
            });
        }
        Ok(())
    }
}
