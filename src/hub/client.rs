//! The HTTP side of the Hub. One agent that never follows a redirect by
//! itself: `resolve` answers with a redirect to a signed URL on a CDN (a
//! different origin), and the access token must reach the Hub's origin
//! only. So every request goes through [`Hub::send`], the one place that
//! attaches the token, and only when the URL's origin is the Hub's.
//! Around it: API documents read under a size cap, transient failures
//! retried with exponential backoff a bounded number of times, statuses
//! turned into named errors.

use std::fmt;
use std::time::Duration;

use ureq::http::{HeaderMap, Response, Uri};
use ureq::{Agent, Body};

use super::refs;
use crate::error::{Error, Result};

/// Redirect hops followed before giving up (the Hub uses one to the CDN,
/// and one more for a renamed repo).
const MAX_REDIRECTS: usize = 5;

/// Scheme, host and port: what the token is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    /// The origin of an absolute http(s) URL.
    pub fn of(url: &str) -> Option<Origin> {
        let uri: Uri = url.parse().ok()?;
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return None,
        };
        let host = uri.host()?.to_ascii_lowercase();
        Some(Origin {
            port: uri.port_u16().unwrap_or(default_port),
            scheme,
            host,
        })
    }

    fn prefix(&self) -> String {
        format!("{}://{}:{}", self.scheme, self.host, self.port)
    }
}

/// The access token: never printed, not even by `Debug`.
struct Token(String);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Failed attempts in a row (without any progress) before giving up.
    pub attempts: u32,
    /// Wait after the first failure; doubled after each further one.
    pub first_delay: Duration,
    /// Longest wait.
    pub max_delay: Duration,
}

impl Default for Retry {
    fn default() -> Retry {
        Retry {
            attempts: 6,
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(16),
        }
    }
}

impl Retry {
    /// The wait after the `n`-th failure in a row (n ≥ 1).
    pub fn delay(&self, n: u32) -> Duration {
        let factor = 1u32 << n.saturating_sub(1).min(16);
        self.first_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// What a request was for, so an error can say what was not found.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub repo: String,
    pub revision: String,
    /// The file, for downloads.
    pub path: Option<String>,
}

impl Ctx {
    /// `owner/repo@rev[/path]`.
    pub fn what(&self) -> String {
        match &self.path {
            Some(p) => format!("{}@{}/{p}", self.repo, self.revision),
            None => format!("{}@{}", self.repo, self.revision),
        }
    }
}

/// A Hub: its base URL, the token and the HTTP agent.
#[derive(Debug)]
pub struct Hub {
    agent: Agent,
    base: String,
    origin: Origin,
    token: Option<Token>,
    pub retry: Retry,
}

impl Hub {
    /// A client for the Hub at `base` (e.g. `https://huggingface.co`).
    pub fn new(base: &str, token: Option<String>) -> Result<Hub> {
        let bad = |reason| Error::HubBadEndpoint {
            url: base.to_string(),
            reason,
        };
        let base = base.trim_end_matches('/');
        if base.contains(['?', '#']) || base.chars().any(|c| c.is_control() || c == ' ') {
            return Err(bad("a query, fragment or spaces"));
        }
        let origin =
            Origin::of(base).ok_or_else(|| bad("expected http:// or https:// and a host"))?;
        let config = Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            // A stalled transfer is a dropped one: resume it.
            .timeout_per_read(Some(Duration::from_secs(60)))
            .user_agent(format!("stzip/{}", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Hub {
            agent: config.into(),
            base: base.to_string(),
            origin,
            token: token.map(Token),
            retry: Retry::default(),
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// Whether `url` is on the Hub's origin (and so may carry the token).
    pub fn is_hub(&self, url: &str) -> bool {
        Origin::of(url).is_some_and(|o| o == self.origin)
    }

    /// `GET /api/models/{repo}/tree/{rev}?recursive=true`.
    pub fn tree_url(&self, repo: &str, rev: &str) -> String {
        format!(
            "{}/api/models/{repo}/tree/{}?recursive=true",
            self.base,
            refs::encode_segment(rev)
        )
    }

    /// `GET /api/models/{repo}/revision/{rev}`.
    pub fn revision_url(&self, repo: &str, rev: &str) -> String {
        format!(
            "{}/api/models/{repo}/revision/{}",
            self.base,
            refs::encode_segment(rev)
        )
    }

    /// `GET /{repo}/resolve/{rev}/{path}`: the file, or a redirect to it.
    pub fn resolve_url(&self, repo: &str, rev: &str, path: &str) -> String {
        format!(
            "{}/{repo}/resolve/{}/{}",
            self.base,
            refs::encode_segment(rev),
            refs::encode_path(path)
        )
    }

    /// One GET, no redirect followed; the token goes only to the Hub.
    pub fn send(&self, url: &str, headers: &[(&str, &str)]) -> Result<Response<Body>, ureq::Error> {
        let mut req = self.agent.get(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(Token(t)) = &self.token {
            if self.is_hub(url) {
                req = req.header("Authorization", format!("Bearer {t}"));
            }
        }
        req.call()
    }

    /// GET following redirects by hand (each hop decides about the token
    /// anew); returns the final response and its URL.
    pub fn get_following(
        &self,
        url: &str,
        headers: &[(&str, &str)],
    ) -> Result<(Response<Body>, String), Fetch> {
        let mut url = url.to_string();
        for _ in 0..=MAX_REDIRECTS {
            let resp = self.send(&url, headers).map_err(Fetch::from_ureq)?;
            if !matches!(resp.status().as_u16(), 301 | 302 | 303 | 307 | 308) {
                return Ok((resp, url));
            }
            let location = header(resp.headers(), "location")
                .ok_or_else(|| Fetch::Fatal(bad_response(&url, "a redirect without Location")))?;
            url = join(&url, &location)
                .ok_or_else(|| Fetch::Fatal(bad_response(&url, "a redirect to a bad URL")))?;
        }
        Err(Fetch::Fatal(bad_response(&url, "too many redirects")))
    }

    /// GET a small document (API answer, index, config), at most `limit`
    /// bytes, retrying transient failures. Returns the body and headers.
    pub fn get_doc(&self, url: &str, limit: u64, ctx: &Ctx) -> Result<(Vec<u8>, HeaderMap)> {
        let mut failures = 0;
        loop {
            let outcome = self.get_following(url, &[]).and_then(|(mut resp, _)| {
                let status = resp.status().as_u16();
                if status == 200 {
                    let body = resp
                        .body_mut()
                        .with_config()
                        .limit(limit)
                        .read_to_vec()
                        .map_err(|e| match e {
                            ureq::Error::BodyExceedsLimit(_) => {
                                Fetch::Fatal(Error::HubResponseTooLarge {
                                    what: ctx.what(),
                                    limit,
                                })
                            }
                            e => Fetch::from_ureq(e),
                        })?;
                    Ok((body, resp.headers().clone()))
                } else if transient_status(status) {
                    Err(Fetch::Transient(format!("HTTP {status}")))
                } else {
                    Err(Fetch::Fatal(self.status_error(status, resp.headers(), ctx)))
                }
            });
            match outcome {
                Ok(doc) => return Ok(doc),
                Err(Fetch::Fatal(e)) => return Err(e),
                Err(Fetch::Transient(last)) => {
                    failures += 1;
                    if failures >= self.retry.attempts {
                        return Err(Error::HubRetriesExhausted {
                            what: ctx.what(),
                            attempts: failures,
                            last,
                        });
                    }
                    std::thread::sleep(self.retry.delay(failures));
                }
            }
        }
    }

    /// The named error for a final, non-success status.
    pub fn status_error(&self, status: u16, headers: &HeaderMap, ctx: &Ctx) -> Error {
        let code = header(headers, "x-error-code").unwrap_or_default();
        let repo = ctx.repo.clone();
        match (status, code.as_str()) {
            (401 | 403, "RepoNotFound") if !self.has_token() => Error::HubNotFound {
                what: format!(
                    "repository {repo} (or it is private: set HF_TOKEN to a token that can read it)"
                ),
            },
            (401 | 403 | 404, "RepoNotFound") => Error::HubNotFound {
                what: format!("repository {repo}"),
            },
            (401 | 403, _) if self.has_token() => Error::HubTokenRefused { repo, status },
            (401 | 403, _) => Error::HubTokenNeeded { repo, status },
            (404, "RevisionNotFound") => Error::HubNotFound {
                what: format!("revision {:?} of {repo}", ctx.revision),
            },
            (404, _) => Error::HubNotFound {
                what: match &ctx.path {
                    Some(p) => format!("file {p:?} in {repo}@{}", ctx.revision),
                    None => format!("repository {repo} at revision {:?}", ctx.revision),
                },
            },
            _ => Error::HubHttpStatus {
                what: ctx.what(),
                status,
            },
        }
    }

    /// The Hub's origin as `scheme://host:port`, to absolutize paths.
    pub fn origin_prefix(&self) -> String {
        self.origin.prefix()
    }
}

/// A failed request: worth another try, or not.
#[derive(Debug)]
pub enum Fetch {
    Transient(String),
    Fatal(Error),
}

impl Fetch {
    /// Network-level failures are transient; a bad URL or a TLS policy
    /// refusal is not.
    pub fn from_ureq(e: ureq::Error) -> Fetch {
        match e {
            ureq::Error::BadUri(_)
            | ureq::Error::Http(_)
            | ureq::Error::RequireHttpsOnly(_)
            | ureq::Error::InvalidProxyUrl
            | ureq::Error::TlsRequired => Fetch::Fatal(Error::HubBadResponse {
                what: "request".into(),
                reason: e.to_string(),
            }),
            e => Fetch::Transient(e.to_string()),
        }
    }
}

/// Statuses that may go away on their own.
pub fn transient_status(status: u16) -> bool {
    status == 408 || status == 429 || status >= 500
}

/// A header as a string (`None` when absent or not visible ASCII).
pub fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
}

fn bad_response(url: &str, reason: &str) -> Error {
    Error::HubBadResponse {
        what: strip_query(url).to_string(),
        reason: reason.to_string(),
    }
}

/// A URL without its query (signed URLs carry their signature there).
pub fn strip_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// Resolve `location` against `base` (absolute, origin-relative or
/// path-relative).
pub fn join(base: &str, location: &str) -> Option<String> {
    if location.starts_with("http://") || location.starts_with("https://") {
        Origin::of(location)?;
        return Some(location.to_string());
    }
    let origin = Origin::of(base)?;
    let uri: Uri = base.parse().ok()?;
    let authority = uri.authority()?.as_str();
    let root = format!("{}://{authority}", origin.scheme);
    if location.starts_with("//") {
        return None;
    }
    if location.starts_with('/') {
        return Some(format!("{root}{location}"));
    }
    let path = uri.path();
    let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
    Some(format!("{root}{dir}/{location}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let hub = Hub::new("http://127.0.0.1:8080/", Some("hf_x".into())).unwrap();
        assert!(hub.is_hub("http://127.0.0.1:8080/a/b"));
        assert!(!hub.is_hub("http://127.0.0.1:8081/a/b"));
        assert!(!hub.is_hub("https://127.0.0.1:8080/a/b"));
        assert!(!hub.is_hub("http://127.0.0.2:8080/a/b"));
        let hf = Hub::new("https://huggingface.co", None).unwrap();
        assert!(hf.is_hub("https://HuggingFace.co:443/x"));
        assert!(!hf.is_hub("https://cdn-lfs.huggingface.co/x"));
        assert!(Hub::new("ftp://x", None).is_err());
        assert!(Hub::new("huggingface.co", None).is_err());
        assert!(!format!("{hub:?}").contains("hf_x"));
    }

    #[test]
    fn joins() {
        assert_eq!(
            join("http://h:1/a/b?x", "/c").as_deref(),
            Some("http://h:1/c")
        );
        assert_eq!(
            join("http://h:1/a/b", "c/d").as_deref(),
            Some("http://h:1/a/c/d")
        );
        assert_eq!(
            join("http://h:1/a", "https://cdn/x?s=1").as_deref(),
            Some("https://cdn/x?s=1")
        );
        assert_eq!(join("http://h:1/a", "//evil/x"), None);
    }

    #[test]
    fn backoff() {
        let r = Retry {
            attempts: 3,
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(250),
        };
        assert_eq!(r.delay(1), Duration::from_millis(100));
        assert_eq!(r.delay(2), Duration::from_millis(200));
        assert_eq!(r.delay(3), Duration::from_millis(250));
    }
}
