//! ADD's remote files (semantics.md ADD-3, ADD-4): downloads streamed into
//! the content store and hashed on the way, a revalidation record per URL
//! (ETag, Last-Modified, content digest) so that rebuilds send conditional
//! requests, and the part of a copy's cache key that stands for remote
//! content.
//!
//! URLs may carry credentials: everything shown or stored goes through
//! [`redact_userinfo`]; the record is found by a digest of the URL.

use std::io::Write;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kiln_cache::{Digest, Hasher, Store};
use reqwest::StatusCode;
use reqwest::header::{ETAG, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::human_bytes;
use crate::error::{Error, Result, io_err};
use crate::op::{UrlSource, redact_userinfo};

/// How many redirects a download follows.
const MAX_REDIRECTS: usize = 10;

/// What a URL stands for in a build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Remote {
    /// Digest of the content.
    pub(crate) digest: Digest,
    /// The file's mtime, unix seconds: the server's `Last-Modified`, 0
    /// when it sent none (as BuildKit).
    pub(crate) mtime: i64,
    /// The content is in the content store. False for a checksum-pinned
    /// file that has not been downloaded: the key needs no download.
    pub(crate) present: bool,
}

/// What the store remembers of a URL's last download.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Record {
    etag: Option<String>,
    last_modified: Option<String>,
    digest: Digest,
}

/// The HTTP client downloads use: proxies from the environment (reqwest's
/// default), no content decoding (the bytes are the file), at most
/// [`MAX_REDIRECTS`] redirects, never from https to http.
pub(crate) fn client() -> std::result::Result<reqwest::Client, reqwest::Error> {
    let policy = reqwest::redirect::Policy::custom(|attempt| {
        let to = attempt.url().scheme().to_string();
        let from_https = attempt
            .previous()
            .last()
            .is_some_and(|p| p.scheme() == "https");
        if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error(format!("stopped after {MAX_REDIRECTS} redirects"))
        } else if to != "http" && to != "https" {
            attempt.error(format!("redirect to a {to:?} URL refused"))
        } else if from_https && to == "http" {
            attempt.error("redirect from https to http refused")
        } else {
            attempt.follow()
        }
    });
    reqwest::Client::builder()
        .user_agent(concat!("kiln/", env!("CARGO_PKG_VERSION")))
        .redirect(policy)
        .connect_timeout(Duration::from_secs(30))
        // Per read: a stalled server fails the step instead of hanging it.
        .read_timeout(Duration::from_secs(60))
        .build()
}

/// Downloads for one step.
pub(crate) struct Fetcher<'a> {
    /// Where blobs and records go.
    pub(crate) store: &'a Store,
    /// The shared client.
    pub(crate) client: &'a reqwest::Client,
    /// Stops a download early.
    pub(crate) cancel: &'a CancellationToken,
    /// The step's lines, for errors.
    pub(crate) lines: Option<(usize, usize)>,
    /// Receives progress lines.
    pub(crate) status: &'a dyn Fn(String),
}

impl Fetcher<'_> {
    /// What `u` is now, for the cache key. A checksum says it without the
    /// network; otherwise the URL is revalidated (a 304 costs no
    /// download) or downloaded.
    pub(crate) fn resolve(&self, u: &UrlSource) -> Result<Remote> {
        let record = self.record(&u.url);
        if let Some(sum) = u.checksum {
            let known = record.filter(|r| r.digest == sum && self.store.content().exists(&sum));
            return Ok(Remote {
                digest: sum,
                mtime: known
                    .as_ref()
                    .map_or(0, |r| mtime_of(r.last_modified.as_deref())),
                present: known.is_some(),
            });
        }
        self.download(u, record)
    }

    /// `r` with its content in the store: a checksum-pinned file is
    /// downloaded (and checked) only when its step runs.
    pub(crate) fn ensure(&self, u: &UrlSource, r: Remote) -> Result<Remote> {
        if r.present && self.store.content().exists(&r.digest) {
            return Ok(r);
        }
        let got = self.download(u, None)?;
        if got.digest != r.digest {
            // The server changed the file between the key and the run.
            return Err(Error::ChecksumMismatch {
                url: redact_userinfo(&u.url),
                expected: r.digest,
                actual: got.digest,
                lines: self.lines,
            });
        }
        Ok(got)
    }

    fn download(&self, u: &UrlSource, record: Option<Record>) -> Result<Remote> {
        let shown = redact_userinfo(&u.url);
        let handle = tokio::runtime::Handle::try_current().map_err(|e| Error::Network {
            url: shown.clone(),
            message: format!("no async runtime: {e}"),
            lines: self.lines,
        })?;
        handle.block_on(self.download_async(u, &shown, record))
    }

    async fn download_async(
        &self,
        u: &UrlSource,
        shown: &str,
        record: Option<Record>,
    ) -> Result<Remote> {
        let net = |message: String| Error::Network {
            url: shown.to_string(),
            message,
            lines: self.lines,
        };
        // Revalidate only what can be answered from the store.
        let record = record.filter(|r| self.store.content().exists(&r.digest));
        let mut req = self.client.get(&u.url);
        if let Some(r) = &record {
            let header =
                |v: &Option<String>| v.as_deref().and_then(|v| HeaderValue::from_str(v).ok());
            if let Some(etag) = header(&r.etag) {
                req = req.header(IF_NONE_MATCH, etag);
            }
            if let Some(date) = header(&r.last_modified) {
                req = req.header(IF_MODIFIED_SINCE, date);
            }
        }
        let mut resp = tokio::select! {
            _ = self.cancel.cancelled() => return Err(Error::Canceled),
            r = req.send() => r.map_err(|e| net(describe(e)))?,
        };
        let status = resp.status();
        if status == StatusCode::NOT_MODIFIED
            && let Some(r) = record
        {
            return Ok(Remote {
                digest: r.digest,
                mtime: mtime_of(r.last_modified.as_deref()),
                present: true,
            });
        }
        if !status.is_success() {
            return Err(net(format!("invalid response status {status}")));
        }
        let header = |name| {
            resp.headers()
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_string)
        };
        let etag = header(ETAG);
        let last_modified = header(LAST_MODIFIED);
        let total = resp.content_length();
        let show = |got: u64, done: bool| {
            let size = match total {
                Some(t) => format!("{} / {}", human_bytes(got), human_bytes(t)),
                None => human_bytes(got),
            };
            let end = if done { " done" } else { "" };
            (self.status)(format!("{shown} {size}{end}"));
        };
        let mut blob = self.store.content().writer()?;
        let tmp = self.store.root().join("tmp");
        let mut got = 0u64;
        let mut shown_at = Instant::now();
        loop {
            let chunk = tokio::select! {
                _ = self.cancel.cancelled() => return Err(Error::Canceled),
                c = resp.chunk() => c.map_err(|e| net(describe(e)))?,
            };
            let Some(chunk) = chunk else { break };
            blob.write_all(&chunk).map_err(|e| io_err(&tmp, e))?;
            got += chunk.len() as u64;
            if shown_at.elapsed() >= Duration::from_millis(500) {
                show(got, false);
                shown_at = Instant::now();
            }
        }
        let (digest, _) = blob.commit(u.checksum).map_err(|e| match e {
            kiln_cache::Error::Corrupt { expected, actual } => Error::ChecksumMismatch {
                url: shown.to_string(),
                expected,
                actual,
                lines: self.lines,
            },
            e => Error::from(e),
        })?;
        show(got, true);
        let mtime = mtime_of(last_modified.as_deref());
        self.save_record(
            &u.url,
            &Record {
                etag,
                last_modified,
                digest,
            },
        )?;
        Ok(Remote {
            digest,
            mtime,
            present: true,
        })
    }

    /// The record of `url`, if there is a readable one.
    fn record(&self, url: &str) -> Option<Record> {
        let blob = self.store.meta().cache(&record_key(url)).ok()??;
        let bytes = self.store.content().read_document(&blob).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Remembers a download: a small JSON blob, pointed at from the cache
    /// table under a key no build step can have.
    fn save_record(&self, url: &str, r: &Record) -> Result<()> {
        let bytes = serde_json::to_vec(r).unwrap_or_default();
        let blob = self.store.content().write_bytes(&bytes)?;
        self.store.meta().put_cache(&record_key(url), &blob)?;
        Ok(())
    }
}

fn record_key(url: &str) -> Digest {
    let mut h = Hasher::new();
    h.field(b"kiln.http.record.v1");
    h.field(url.as_bytes());
    h.finish()
}

/// The part of a copy's key that stands for its remote files: their
/// content, and their mtime unless a checksum pinned the content
/// (BuildKit's `formatCacheKey`).
pub(crate) fn remote_key(urls: &[UrlSource], remotes: &[Remote]) -> Digest {
    let mut h = Hasher::new();
    h.field(b"remote");
    for (u, r) in urls.iter().zip(remotes) {
        h.update(r.digest.bytes());
        if u.checksum.is_none() {
            h.field(&r.mtime.to_le_bytes());
        }
    }
    h.finish()
}

/// A reqwest error as text, without its URL (it may carry credentials)
/// but with its causes: "error sending request" alone says little.
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        let part = c.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = c.source();
    }
    redact_userinfo(&text)
}

/// Unix seconds of an HTTP date (`Last-Modified`), 0 when absent or
/// unreadable. All three forms HTTP allows are read: IMF-fixdate, RFC 850
/// and asctime.
pub(crate) fn mtime_of(date: Option<&str>) -> i64 {
    let Some(d) = date.map(str::trim) else {
        return 0;
    };
    if let Ok(t) = chrono::DateTime::parse_from_rfc2822(d) {
        return t.timestamp();
    }
    for format in ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(d, format) {
            return t.and_utc().timestamp();
        }
    }
    0
}

/// `secs` as a time for `File::set_times`.
pub(crate) fn system_time(secs: i64) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_in_all_three_forms() {
        assert_eq!(mtime_of(Some("Sun, 06 Nov 1994 08:49:37 GMT")), 784111777);
        assert_eq!(mtime_of(Some("Sunday, 06-Nov-94 08:49:37 GMT")), 784111777);
        assert_eq!(mtime_of(Some("Sun Nov  6 08:49:37 1994")), 784111777);
        assert_eq!(mtime_of(Some("yesterday")), 0);
        assert_eq!(mtime_of(None), 0);
    }

    #[test]
    fn remote_key_covers_content_and_unpinned_mtime() {
        let url = |checksum| UrlSource {
            url: "http://h/f".into(),
            name: "f".into(),
            checksum,
            unpack: false,
        };
        let r = |digest: Digest, mtime| Remote {
            digest,
            mtime,
            present: true,
        };
        let (a, b) = (Digest::of(b"a"), Digest::of(b"b"));
        let plain = [url(None)];
        assert_ne!(
            remote_key(&plain, &[r(a, 1)]),
            remote_key(&plain, &[r(b, 1)])
        );
        assert_ne!(
            remote_key(&plain, &[r(a, 1)]),
            remote_key(&plain, &[r(a, 2)])
        );
        // Pinned: the mtime is not known before downloading, so it is not
        // in the key.
        let pinned = [url(Some(a))];
        assert_eq!(
            remote_key(&pinned, &[r(a, 0)]),
            remote_key(&pinned, &[r(a, 7)])
        );
    }

    #[test]
    fn times_before_and_after_the_epoch() {
        assert_eq!(system_time(0), UNIX_EPOCH);
        assert_eq!(system_time(-5), UNIX_EPOCH - Duration::from_secs(5));
        assert_eq!(system_time(5), UNIX_EPOCH + Duration::from_secs(5));
    }
}
