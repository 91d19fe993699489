//! I/O helpers shared by the readers of both formats and the CLI.

use std::io::{ErrorKind, Read};

use crate::error::Result;

/// Read until `buf` is full or the source hits EOF; returns the bytes read.
/// Retries on `Interrupted`, like `std::io::Read::read_exact`, but reports
/// how far it got so callers can name the truncation point.
pub fn read_full<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> Result<usize> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..) {
        if rest.is_empty() {
            break;
        }
        match r.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n.min(rest.len()),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(filled)
}
