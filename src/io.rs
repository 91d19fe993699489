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

/// Replaces `buf`'s contents with the next `len` bytes of `r` (fewer at
/// EOF); returns how many were read. The buffer's old bytes are read over,
/// not zeroed first, and it grows only as bytes arrive: a length field
/// that lies costs no more memory than the bytes really there.
pub fn read_replacing<R: Read + ?Sized>(r: &mut R, len: usize, buf: &mut Vec<u8>) -> Result<usize> {
    buf.truncate(len);
    let got = read_full(r, buf)?;
    if got < buf.len() {
        buf.truncate(got);
        return Ok(got);
    }
    buf.reserve((len - got).min(1 << 20));
    let more = r.take((len - got) as u64).read_to_end(buf)?;
    Ok(got + more)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gives at most 3 bytes per `read`, like a pipe.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(3).min(self.0.len());
            let (now, rest) = self.0.split_at(n);
            buf[..n].copy_from_slice(now);
            self.0 = rest;
            Ok(n)
        }
    }

    #[test]
    fn read_replacing_reads_over_stale_bytes_and_stops_at_eof() {
        let src: Vec<u8> = (0..100u8).collect();
        // A longer buffer: cut to the request, stale bytes all replaced.
        let mut buf = vec![0xAA; 250];
        assert_eq!(
            read_replacing(&mut Trickle(&src), 40, &mut buf).unwrap(),
            40
        );
        assert_eq!(buf, &src[..40]);
        // A shorter one grows, through both the prefix and the tail reads.
        assert_eq!(
            read_replacing(&mut Trickle(&src[40..]), 50, &mut buf).unwrap(),
            50
        );
        assert_eq!(buf, &src[40..90]);
        // The source ends inside the reused prefix, then inside the growth.
        let mut long = vec![0xAA; 80];
        assert_eq!(
            read_replacing(&mut Trickle(&src[..7]), 60, &mut long).unwrap(),
            7
        );
        assert_eq!(long, &src[..7]);
        assert_eq!(
            read_replacing(&mut Trickle(&src[..30]), 60, &mut long).unwrap(),
            30
        );
        assert_eq!(long, &src[..30]);
        assert_eq!(read_replacing(&mut Trickle(&src), 0, &mut long).unwrap(), 0);
        assert!(long.is_empty());
    }
}
