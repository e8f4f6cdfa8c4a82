//! Build contexts that are not a directory on this machine: a git
//! repository, a tarball (or a lone Dockerfile) at an HTTP(S) URL, or
//! either on standard input. As docker
//! and BuildKit do, an archive (plain, gzip, bzip2, xz or zstd tar,
//! recognised by content) is unpacked and is the context; anything else
//! is the Dockerfile, with an empty context.
//!
//! The archive is unpacked with the layer applier, inside a temporary
//! directory of the store: its entries cannot reach anything outside it.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kiln_cache::{Store, compression};
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result, io_err};
use crate::git::{self, GitUrl};
use crate::op::{UrlSource, redact_userinfo};
use crate::progress::{Event, Progress};
use crate::worker::http;

/// The progress id of the download step: below the build's own internal
/// steps, above any vertex.
const FETCH_VERTEX: usize = crate::build::INTERNAL - 1;

/// A context unpacked into a temporary directory, removed on drop.
#[derive(Debug)]
pub struct UnpackedContext {
    /// Holds the files until the build is over.
    _dir: tempfile::TempDir,
    root: PathBuf,
    /// The Dockerfile, when the source was one rather than an archive.
    pub dockerfile: Option<Vec<u8>>,
}

impl UnpackedContext {
    /// The context's root directory.
    pub fn root(&self) -> PathBuf {
        self.root.clone()
    }
}

/// Copies `r` (standard input) into a file in the store's temporary
/// directory, so that it can be read twice: once to tell what it is.
pub fn spool(store: &Store, mut r: impl Read) -> Result<(tempfile::TempDir, PathBuf)> {
    let dir = store.temp_dir()?;
    let path = dir.path().join("stdin");
    let mut f = File::create(&path).map_err(|e| io_err(&path, e))?;
    std::io::copy(&mut r, &mut f).map_err(|e| io_err(&path, e))?;
    Ok((dir, path))
}

/// Unpacks the archive at `file`, or takes it as the Dockerfile.
pub fn unpack_file(store: &Store, file: &Path) -> Result<UnpackedContext> {
    let open = || File::open(file).map_err(|e| io_err(file, e));
    let dir = store.temp_dir()?;
    let root = dir.path().join("context");
    std::fs::create_dir(&root).map_err(|e| io_err(&root, e))?;
    if !compression::holds_tar(open()?) {
        // One byte past the parser's limit: a huge file is refused there.
        let mut bytes = Vec::new();
        open()?
            .take(kiln_parser::MAX_FILE as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| io_err(file, e))?;
        return Ok(UnpackedContext {
            _dir: dir,
            root,
            dockerfile: Some(bytes),
        });
    }
    let decoded = compression::decoder(open()?).map_err(|e| io_err(file, e))?;
    kiln_cache::layer::extract(std::io::BufReader::new(decoded), &root, "", None)
        .map_err(|e| Error::Cache(kiln_cache::Error::from(e)))?;
    Ok(UnpackedContext {
        _dir: dir,
        root,
        dockerfile: None,
    })
}

/// Downloads the context at `url` (revalidated against the store's copy,
/// as ADD's downloads are) and unpacks it, as the step
/// `[internal] load remote build context`. Blocks: call it where blocking
/// is allowed, inside a tokio runtime.
pub fn fetch_context(
    store: &Arc<Store>,
    url: &str,
    progress: &Progress,
    cancel: &CancellationToken,
) -> Result<UnpackedContext> {
    progress.step(FETCH_VERTEX, "[internal] load remote build context", || {
        fetch(store, url, progress, cancel)
    })
}

/// Fetches a git repository at one commit as the context, as the step
/// `[internal] load git source URL`.
pub fn git_context(
    store: &Store,
    url: &GitUrl,
    progress: &Progress,
    cancel: &CancellationToken,
) -> Result<UnpackedContext> {
    progress.step(
        FETCH_VERTEX,
        &format!("[internal] load git source {}", url.shown()),
        || {
            let tree = git::fetch(store, url, cancel)?;
            progress.send(Event::Status {
                vertex: FETCH_VERTEX,
                text: format!("commit {}", tree.commit),
            });
            Ok(UnpackedContext {
                root: tree.root(),
                _dir: tree.into_dir(),
                dockerfile: None,
            })
        },
    )
}

fn fetch(
    store: &Arc<Store>,
    url: &str,
    progress: &Progress,
    cancel: &CancellationToken,
) -> Result<UnpackedContext> {
    let client = http::client().map_err(|e| Error::Network {
        url: redact_userinfo(url),
        message: e.to_string(),
        lines: None,
    })?;
    let status = |text: String| {
        progress.send(Event::Status {
            vertex: FETCH_VERTEX,
            text,
        })
    };
    let fetcher = http::Fetcher {
        store,
        client: &client,
        cancel,
        lines: None,
        status: &status,
    };
    let source = UrlSource {
        url: url.to_string(),
        name: String::new(),
        checksum: None,
        unpack: true,
    };
    let remote = fetcher.resolve(&source)?;
    let remote = fetcher.ensure(&source, remote)?;
    let blob = store.content().path(&remote.digest);
    unpack_file(store, &blob)
}
