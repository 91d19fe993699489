//! Sequential reading of the data section that follows the header.
//!
//! The reader holds no buffer of its own: every byte goes straight into the
//! caller's slice, so memory use is bounded by the chunk size the caller
//! picks, whatever the file size. Wrap slow sources in a `BufReader`.

use std::io::Read;

use super::header::Header;
use crate::error::{Error, Result};
use crate::io::{read_full, read_replacing};

/// Reads a safetensors data section front to back, checking that it is
/// neither truncated nor followed by trailing bytes.
#[derive(Debug)]
pub struct DataReader<R: Read> {
    inner: R,
    /// Bytes of the data section consumed so far.
    pos: u64,
    /// Length of the data section.
    data_len: u64,
    /// Header length (prefix + JSON): where the data section starts in the file.
    data_start: u64,
}

impl<R: Read> DataReader<R> {
    /// Wrap `inner`, which must be positioned at the first data byte (right
    /// after the bytes of `header.raw()`).
    pub fn new(inner: R, header: &Header) -> Self {
        DataReader {
            inner,
            pos: 0,
            data_len: header.data_len(),
            data_start: header.raw().len() as u64,
        }
    }

    /// Bytes of the data section consumed so far (data-section offset of the
    /// next byte, comparable to [`super::TensorInfo::start`]).
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Length of the data section.
    pub fn data_len(&self) -> u64 {
        self.data_len
    }

    /// Bytes of the data section not yet consumed.
    pub fn remaining(&self) -> u64 {
        self.data_len.saturating_sub(self.pos)
    }

    /// Fill `buf` completely with the next data bytes.
    ///
    /// Fails with [`Error::ReadBeyondData`] if `buf` reaches past the data
    /// section (those bytes would be trailing garbage, not tensor data), and
    /// with [`Error::TruncatedData`] if the source ends early.
    pub fn read_exact(&mut self, buf: &mut [u8]) -> Result<()> {
        self.check_request(buf.len())?;
        let got = read_full(&mut self.inner, buf)?;
        self.advance(got, buf.len())
    }

    /// Replace the contents of `buf` with the next `len` data bytes, as
    /// [`DataReader::read_exact`] does, without zeroing the buffer first
    /// (a reused buffer is read over: no new pages, no memset per chunk).
    pub fn read_into(&mut self, buf: &mut Vec<u8>, len: usize) -> Result<()> {
        self.check_request(len)?;
        buf.reserve_exact(len.saturating_sub(buf.len()));
        let got = read_replacing(&mut self.inner, len, buf)?;
        self.advance(got, len)
    }

    fn check_request(&self, len: usize) -> Result<()> {
        let requested = len as u64;
        if requested > self.remaining() {
            return Err(Error::ReadBeyondData {
                position: self.pos,
                requested,
                data_len: self.data_len,
            });
        }
        Ok(())
    }

    /// Counts `got` bytes read of the `wanted`: fewer means the source
    /// ended early.
    fn advance(&mut self, got: usize, wanted: usize) -> Result<()> {
        self.pos += got as u64;
        if got < wanted {
            return Err(Error::TruncatedData {
                expected_total: self.data_start.saturating_add(self.data_len),
                got: self.data_start.saturating_add(self.pos),
            });
        }
        Ok(())
    }

    /// Check that the whole data section was read and that the source ends
    /// right there, then hand the source back.
    pub fn finish(mut self) -> Result<R> {
        if self.pos != self.data_len {
            return Err(Error::DataNotConsumed {
                position: self.pos,
                data_len: self.data_len,
            });
        }
        let mut probe = [0u8; 1];
        if read_full(&mut self.inner, &mut probe)? != 0 {
            return Err(Error::TrailingData {
                file_len: self.data_start.saturating_add(self.data_len),
            });
        }
        Ok(self.inner)
    }
}

/// Read the header from `r` and return it with a reader over the data.
pub fn open<R: Read>(mut r: R) -> Result<(Header, DataReader<R>)> {
    let header = Header::read_from(&mut r)?;
    let data = DataReader::new(r, &header);
    Ok((header, data))
}
