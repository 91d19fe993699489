//! One repo file as a `Read` over HTTP that survives dropped connections.
//!
//! `resolve` on the Hub (with the token) answers with a redirect to a
//! signed URL on the CDN (without the token); the bytes stream from there.
//! When the connection drops, the download asks the same URL again for
//! the rest, from the byte it had reached: `Range: bytes=N-` guarded by
//! `If-Range: <ETag>` so that a changed file is sent whole (and detected)
//! instead of being spliced. A signed URL that has expired meanwhile (the
//! CDN answers 403 or 410) is resolved again on the Hub. Failures in a row
//! without progress are retried with exponential backoff, a bounded number
//! of times, then reported. What a drop costs is only the bytes that were
//! in flight.
//!
//! It also seeks (random access into a remote `.stz`: trailer, index, then
//! only the frames wanted). After a seek the file is read in bounded
//! windows, `Range: bytes=N-M`, of 64 KiB doubling up to 16 MiB while the
//! reads go on in order: a few small reads cost a few small requests, not
//! the rest of the file pushed down a connection that is then dropped.

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ureq::http::Response;
use ureq::{Body, BodyReader};

use super::client::{header, strip_query, transient_status, Ctx, Fetch, Hub};
use crate::error::{Error, Result};

/// The first window after a seek, and the largest.
const FIRST_WINDOW: u64 = 64 << 10;
const MAX_WINDOW: u64 = 16 << 20;

/// Failures in total (with progress in between) before giving up anyway,
/// so a server that sends a byte and drops forever cannot loop us.
const MAX_TOTAL_FAILURES: u32 = 100;

/// What the downloads of a run did, for the summary and the tests.
#[derive(Debug, Default)]
pub struct FetchStats {
    /// Bytes received and used.
    pub bytes: AtomicU64,
    /// Requests that continued a dropped transfer.
    pub resumes: AtomicU64,
    /// Signed URLs that had expired and were resolved again.
    pub re_resolves: AtomicU64,
}

/// A resumable download of one file.
pub struct Download {
    hub: Arc<Hub>,
    ctx: Ctx,
    resolve_url: String,
    /// The URL that last served bytes (the signed CDN URL, or the resolve
    /// URL for files the Hub serves itself); `None` = resolve again.
    location: Option<String>,
    body: Option<BodyReader<'static>>,
    pos: u64,
    /// The file's size, from the listing or the first response.
    size: Option<u64>,
    etag: Option<String>,
    failures: u32,
    total_failures: u32,
    /// The next open follows a seek or a window's end, not a drop (so it
    /// is not counted as a resume).
    planned: bool,
    /// After a seek: the next window's length (0: to the end of the file),
    /// and where the open one ends.
    window: u64,
    window_end: Option<u64>,
    stats: Arc<FetchStats>,
}

/// How an attempt to open the stream ended.
enum Opened {
    Ready,
    /// The signed URL expired: resolve again, now.
    Expired,
}

impl Download {
    /// `size` is the size the listing gave, if any (checked against the
    /// server's).
    pub fn new(hub: Arc<Hub>, ctx: Ctx, size: Option<u64>, stats: Arc<FetchStats>) -> Download {
        let path = ctx.path.clone().unwrap_or_default();
        let resolve_url = hub.resolve_url(&ctx.repo, &ctx.revision, &path);
        Download {
            hub,
            ctx,
            resolve_url,
            location: None,
            body: None,
            pos: 0,
            size,
            etag: None,
            failures: 0,
            total_failures: 0,
            planned: false,
            window: 0,
            window_end: None,
            stats,
        }
    }

    /// Bytes delivered so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Open the stream at `pos`, retrying as the policy allows.
    fn open(&mut self) -> Result<()> {
        loop {
            match self.try_open() {
                Ok(Opened::Ready) => return Ok(()),
                Ok(Opened::Expired) => {
                    self.stats.re_resolves.fetch_add(1, Ordering::Relaxed);
                    self.count_failure("the signed URL expired".into(), false)?;
                }
                Err(Fetch::Fatal(e)) => return Err(e),
                Err(Fetch::Transient(last)) => self.count_failure(last, true)?,
            }
        }
    }

    fn try_open(&mut self) -> Result<Opened, Fetch> {
        let via_resolve = self.location.is_none();
        let url = self
            .location
            .clone()
            .unwrap_or_else(|| self.resolve_url.clone());
        let window_end = (self.window > 0).then(|| {
            let end = self.pos.saturating_add(self.window);
            self.size.map_or(end, |size| end.min(size))
        });
        let range = match window_end {
            Some(end) => format!("bytes={}-{}", self.pos, end.saturating_sub(1)),
            None => format!("bytes={}-", self.pos),
        };
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if self.pos > 0 || window_end.is_some() {
            headers.push(("Range", &range));
            // If-Range takes a strong validator only.
            if let Some(etag) = self.etag.as_deref().filter(|e| !e.starts_with("W/")) {
                headers.push(("If-Range", etag));
            }
        }
        let (resp, final_url) = self.hub.get_following(&url, &headers)?;
        let status = resp.status().as_u16();
        let on_hub = self.hub.is_hub(&final_url);
        match status {
            200 | 206 => {
                self.accept(resp, status)?;
                self.location = Some(final_url);
                if window_end.is_some() {
                    self.window_end = window_end;
                    self.window = (self.window * 2).min(MAX_WINDOW);
                }
                Ok(Opened::Ready)
            }
            // A signed URL past its expiry: the CDN refuses it.
            403 | 410 if !on_hub => {
                self.location = None;
                if via_resolve {
                    // Refused right after resolving: not an expiry.
                    Err(Fetch::Transient(format!(
                        "the CDN refused a fresh signed URL (HTTP {status})"
                    )))
                } else {
                    Ok(Opened::Expired)
                }
            }
            s if transient_status(s) => Err(Fetch::Transient(format!(
                "HTTP {s} from {}",
                strip_query(&final_url)
            ))),
            s => Err(Fetch::Fatal(self.hub.status_error(
                s,
                resp.headers(),
                &self.ctx,
            ))),
        }
    }

    /// Check a 200/206 against what we have, and take its body.
    fn accept(&mut self, resp: Response<Body>, status: u16) -> Result<(), Fetch> {
        let what = self.ctx.what();
        let bad = |reason: String| {
            Fetch::Fatal(Error::HubBadResponse {
                what: what.clone(),
                reason,
            })
        };
        let headers = resp.headers();
        let etag = header(headers, "etag");
        let length: Option<u64> = header(headers, "content-length").and_then(|v| v.parse().ok());
        let (start, total) = if status == 206 {
            let range = header(headers, "content-range")
                .ok_or_else(|| bad("206 without Content-Range".into()))?;
            parse_content_range(&range)
                .ok_or_else(|| bad(format!("bad Content-Range {range:?}")))?
        } else {
            (0, length)
        };
        if let (Some(before), Some(after)) = (&self.etag, &etag) {
            if before != after {
                return Err(Fetch::Fatal(Error::HubFileChanged {
                    what,
                    before: before.clone(),
                    after: after.clone(),
                }));
            }
        }
        if let (Some(expected), Some(got)) = (self.size, total) {
            if expected != got {
                return Err(bad(format!("the file is {got} bytes, expected {expected}")));
            }
        }
        if start > self.pos {
            return Err(bad(format!(
                "the resumed transfer starts at byte {start}, after {}",
                self.pos
            )));
        }
        self.size = self.size.or(total);
        self.etag = self.etag.take().or(etag);
        let mut body = resp.into_body().into_reader();
        // A server that ignored the Range (same ETag, whole file again):
        // skip what we already have.
        let skip = self.pos - start;
        if skip > 0 {
            if self.etag.is_none() {
                return Err(bad(
                    "the server ignored the Range request and sent no ETag".into()
                ));
            }
            let skipped = io::copy(&mut (&mut body).take(skip), &mut io::sink())
                .map_err(|e| Fetch::Transient(e.to_string()))?;
            if skipped != skip {
                return Err(Fetch::Transient("connection closed early".into()));
            }
        }
        if self.pos > 0 && !self.planned {
            self.stats.resumes.fetch_add(1, Ordering::Relaxed);
        }
        self.planned = false;
        self.body = Some(body);
        Ok(())
    }

    /// Note a failure; wait before the next attempt (when `wait`), or give
    /// up when there were too many.
    fn count_failure(&mut self, last: String, wait: bool) -> Result<()> {
        self.body = None;
        self.failures += 1;
        self.total_failures += 1;
        if self.failures >= self.hub.retry.attempts || self.total_failures >= MAX_TOTAL_FAILURES {
            return Err(Error::HubRetriesExhausted {
                what: self.ctx.what(),
                attempts: self.failures,
                last,
            });
        }
        if wait {
            std::thread::sleep(self.hub.retry.delay(self.failures));
        }
        Ok(())
    }
}

impl Read for Download {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.size.is_some_and(|size| self.pos >= size) {
                return Ok(0);
            }
            if self.window_end == Some(self.pos) {
                // The window is read: the next one, as planned.
                self.body = None;
                self.window_end = None;
                self.planned = true;
            }
            if self.body.is_none() {
                self.open().map_err(io::Error::other)?;
            }
            let Some(body) = self.body.as_mut() else {
                continue;
            };
            let room = self
                .window_end
                .map_or(buf.len() as u64, |end| end.saturating_sub(self.pos));
            let buf = buf
                .get_mut(..room.min(buf.len() as u64) as usize)
                .unwrap_or_default();
            match body.read(buf) {
                Ok(0) if self.size.is_none() => return Ok(0),
                Ok(0) => self
                    .count_failure("the connection closed early".into(), true)
                    .map_err(io::Error::other)?,
                Ok(n) => {
                    self.pos += n as u64;
                    self.failures = 0;
                    self.stats.bytes.fetch_add(n as u64, Ordering::Relaxed);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => self
                    .count_failure(e.to_string(), true)
                    .map_err(io::Error::other)?,
            }
        }
    }
}

impl Seek for Download {
    /// Moves the read position; from the end, the size must be known (the
    /// listing's, or else a first request learns it).
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(d) => {
                if self.size.is_none() {
                    // One byte asked for: the answer's Content-Range tells
                    // the size.
                    self.window = 1;
                    self.open().map_err(io::Error::other)?;
                    self.window = FIRST_WINDOW;
                }
                let size = self.size.ok_or_else(|| {
                    io::Error::other(Error::HubBadResponse {
                        what: self.ctx.what(),
                        reason: "no file size given, so no seeking from its end".into(),
                    })
                })?;
                size.checked_add_signed(d)
            }
        };
        let target = target
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        if target != self.pos {
            self.body = None;
            self.planned = true;
            self.pos = target;
            self.window = FIRST_WINDOW;
            self.window_end = None;
        } else if self.body.is_none() {
            // Nothing open yet: read in windows from here too.
            self.window = self.window.max(FIRST_WINDOW);
        }
        Ok(target)
    }
}

/// `bytes a-b/total` → (a, total); the total may be `*`.
fn parse_content_range(v: &str) -> Option<(u64, Option<u64>)> {
    let rest = v.trim().strip_prefix("bytes ")?;
    let (span, total) = rest.split_once('/')?;
    let (a, b) = span.split_once('-')?;
    let (a, b): (u64, u64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    if b < a {
        return None;
    }
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    Some((a, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range() {
        assert_eq!(parse_content_range("bytes 5-9/10"), Some((5, Some(10))));
        assert_eq!(parse_content_range("bytes 5-9/*"), Some((5, None)));
        assert_eq!(parse_content_range("bytes 9-5/10"), None);
        assert_eq!(parse_content_range("items 1-2/3"), None);
    }
}
