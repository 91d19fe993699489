//! Read ahead on a thread of its own, so the network and the codec work
//! at the same time: with one coding thread, waiting for bytes and coding
//! them in turn would add the transfer time to the coding time. Memory is
//! bounded by `depth` blocks in the channel plus one on each side.

use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver};
use std::thread::JoinHandle;

/// A reader fed by a background thread reading `inner`.
pub struct Prefetch {
    rx: Option<Receiver<io::Result<Vec<u8>>>>,
    block: Vec<u8>,
    offset: usize,
    thread: Option<JoinHandle<()>>,
}

impl Prefetch {
    /// Read `inner` in blocks of `block_len` bytes, at most `depth` ahead.
    pub fn new<R: Read + Send + 'static>(mut inner: R, block_len: usize, depth: usize) -> Prefetch {
        let (tx, rx) = sync_channel(depth.max(1));
        let block_len = block_len.max(1);
        let thread = std::thread::spawn(move || loop {
            let mut block = vec![0u8; block_len];
            let mut filled = 0;
            let result = loop {
                match block.get_mut(filled..).map(|rest| inner.read(rest)) {
                    None | Some(Ok(0)) => break Ok(()),
                    Some(Ok(n)) => {
                        filled += n;
                        if filled >= block_len {
                            break Ok(());
                        }
                    }
                    Some(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                    Some(Err(e)) => break Err(e),
                }
            };
            block.truncate(filled);
            let done = filled < block_len || result.is_err();
            if filled > 0 && tx.send(Ok(block)).is_err() {
                return; // the reader is gone
            }
            if let Err(e) = result {
                let _ = tx.send(Err(e));
                return;
            }
            if done {
                return; // end of input: dropping `tx` signals it
            }
        });
        Prefetch {
            rx: Some(rx),
            block: Vec::new(),
            offset: 0,
            thread: Some(thread),
        }
    }
}

impl Read for Prefetch {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.offset >= self.block.len() {
            let Some(rx) = &self.rx else {
                return Ok(0);
            };
            match rx.recv() {
                Ok(Ok(block)) => {
                    self.block = block;
                    self.offset = 0;
                }
                Ok(Err(e)) => {
                    self.rx = None;
                    return Err(e);
                }
                Err(_) => {
                    self.rx = None;
                    return Ok(0);
                }
            }
        }
        let rest = self.block.get(self.offset..).unwrap_or_default();
        let n = rest.len().min(buf.len());
        buf.get_mut(..n)
            .unwrap_or_default()
            .copy_from_slice(rest.get(..n).unwrap_or_default());
        self.offset += n;
        Ok(n)
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        // Closing the channel stops the thread at its next block; do not
        // wait for it (it may be inside a slow network read).
        self.rx = None;
        drop(self.thread.take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Flaky {
        data: Vec<u8>,
        pos: usize,
        fail_at: usize,
    }

    impl Read for Flaky {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.pos >= self.fail_at {
                return Err(io::Error::other("boom"));
            }
            let n = buf.len().min(7).min(self.data.len() - self.pos);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    #[test]
    fn passes_bytes_and_errors() {
        let data: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let mut out = Vec::new();
        Prefetch::new(
            Flaky {
                data: data.clone(),
                pos: 0,
                fail_at: usize::MAX,
            },
            64,
            2,
        )
        .read_to_end(&mut out)
        .unwrap();
        assert_eq!(out, data);

        let mut out = Vec::new();
        let err = Prefetch::new(
            Flaky {
                data,
                pos: 0,
                fail_at: 500,
            },
            64,
            2,
        )
        .read_to_end(&mut out)
        .unwrap_err();
        assert_eq!(err.to_string(), "boom");
        assert!(out.len() <= 504);
    }
}
