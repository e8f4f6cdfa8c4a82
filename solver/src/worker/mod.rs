//! The real worker: cache keys, cache lookups and the ops themselves (RUN
//! in a sandbox, COPY and WORKDIR on a mounted root filesystem).
//!
//! Mounts made here live in the kiln process's private mount namespace
//! (the binary sets it up before any thread starts), so they vanish with
//! the process whatever happens.

mod exec;
pub use exec::rootfs_of;
mod explain;
mod file;
pub(crate) mod http;
mod mount;
mod run_mount;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use kiln_cache::{Digest, Hasher, Snapshot, Store};
use kiln_executor::Sandbox;
use tokio_util::sync::CancellationToken;

use crate::context::{ContextIndex, index, index_cached};
use crate::dockerignore::Patterns;
use crate::error::{Error, Result};
use crate::op::{Dag, Op, Vertex, VertexId};
use crate::progress::{Event, Progress};
use crate::schedule::{Resolved, Worker};

/// What a vertex produced.
#[derive(Debug, Clone)]
pub enum Output {
    /// A root filesystem (`None`: empty, from scratch).
    Fs(Option<Snapshot>),
    /// The hashed build context.
    Context(Arc<ContextIndex>),
}

impl Output {
    /// The snapshot, for vertices that make a root filesystem.
    pub fn snapshot(&self) -> Option<&Snapshot> {
        match self {
            Output::Fs(s) => s.as_ref(),
            Output::Context(_) => None,
        }
    }
}

/// The worker that really builds.
pub struct RealWorker {
    pub(crate) store: Arc<Store>,
    pub(crate) sandbox: Sandbox,
    pub(crate) context_root: Option<PathBuf>,
    pub(crate) context_paths: Vec<String>,
    pub(crate) ignore: Option<Arc<Patterns>>,
    pub(crate) progress: Progress,
    /// Made on the first ADD of a URL.
    http: OnceLock<reqwest::Client>,
    explainer: Option<explain::Explainer>,
    secrets: Arc<crate::secrets::Secrets>,
    /// Whether context file digests are recorded for the next build.
    stat_cache: bool,
    /// Trees of `ADD <git URL>`, kept until the build is over.
    git_trees: std::sync::Mutex<Vec<crate::git::GitTree>>,
}

impl RealWorker {
    /// A worker over `store`, reading the context at `context_root`.
    pub fn new(
        store: Arc<Store>,
        sandbox: Sandbox,
        context_root: Option<PathBuf>,
        context_paths: Vec<String>,
        ignore: Option<Arc<Patterns>>,
        progress: Progress,
    ) -> RealWorker {
        RealWorker {
            store,
            sandbox,
            context_root,
            context_paths,
            ignore,
            progress,
            http: OnceLock::new(),
            explainer: None,
            secrets: Arc::default(),
            stat_cache: true,
            git_trees: std::sync::Mutex::default(),
        }
    }

    /// Records each step's key recipe under `dir` (per build definition
    /// `prefix`), and with `enabled` tells on each miss what changed since
    /// the last build (`--explain-cache`).
    pub fn with_explainer(mut self, dir: PathBuf, prefix: String, enabled: bool) -> RealWorker {
        self.explainer = Some(explain::Explainer::new(dir, prefix, enabled));
        self
    }

    /// The secrets `RUN --mount=type=secret` reads.
    pub fn with_secrets(mut self, secrets: Arc<crate::secrets::Secrets>) -> RealWorker {
        self.secrets = secrets;
        self
    }

    /// Whether the context's file digests are kept for the next build
    /// (not for a temporary context).
    pub fn with_stat_cache(mut self, on: bool) -> RealWorker {
        self.stat_cache = on;
        self
    }

    /// The HTTP client, made once per build.
    fn http_client(&self, url: &str) -> Result<&reqwest::Client> {
        if let Some(c) = self.http.get() {
            return Ok(c);
        }
        let c = http::client().map_err(|e| Error::Network {
            url: crate::op::redact_userinfo(url),
            message: format!("cannot make an HTTP client: {e}"),
            lines: None,
        })?;
        Ok(self.http.get_or_init(|| c))
    }

    /// Downloads for the step `id`, reporting progress on it.
    fn fetcher<'a>(
        &'a self,
        client: &'a reqwest::Client,
        v: &Vertex,
        cancel: &'a CancellationToken,
        status: &'a dyn Fn(String),
    ) -> http::Fetcher<'a> {
        http::Fetcher {
            store: &self.store,
            client,
            cancel,
            lines: v.meta.lines,
            status,
        }
    }

    fn started(&self, id: VertexId, v: &Vertex) -> Option<Instant> {
        if v.meta.name.is_empty() {
            return None;
        }
        self.progress.send(Event::Started {
            vertex: id.index(),
            name: v.meta.name.clone(),
            at: std::time::SystemTime::now(),
        });
        Some(Instant::now())
    }

    fn finish<T>(&self, id: VertexId, started: Option<Instant>, r: &Result<T>) {
        let Some(t) = started else {
            return;
        };
        match r {
            Ok(_) => self.progress.send(Event::Done {
                vertex: id.index(),
                elapsed: t.elapsed(),
            }),
            Err(Error::Canceled) => self.progress.send(Event::Canceled { vertex: id.index() }),
            Err(e) => self.progress.send(Event::Failed {
                vertex: id.index(),
                message: e.to_string(),
            }),
        }
    }

    fn cached(&self, id: VertexId, started: Option<Instant>) {
        if started.is_some() {
            self.progress.send(Event::Cached { vertex: id.index() });
        }
    }

    /// A cached result for `key`, if the cache has one whose snapshot is
    /// still complete.
    fn lookup(&self, key: &Digest) -> Result<Option<Snapshot>> {
        let Some(chain) = self.store.meta().cache(key)? else {
            return Ok(None);
        };
        match self.store.snapshot(&chain) {
            Ok(s) => Ok(s),
            // A damaged snapshot is a miss, not a failed build.
            Err(_) => Ok(None),
        }
    }

    fn fs_input(inputs: &[Arc<Resolved<Output>>], i: usize) -> Option<Snapshot> {
        inputs.get(i).and_then(|r| r.output.snapshot().cloned())
    }
}

/// What an input is, for cache keys: a root filesystem's chain ID (a
/// fixed value for the empty one), or the context.
fn identity(o: &Output) -> Digest {
    match o {
        Output::Fs(Some(s)) => s.chain_id(),
        Output::Fs(None) => op_key("scratch", &(), &[]),
        Output::Context(_) => op_key("context", &(), &[]),
    }
}

fn op_key(kind: &str, op: &impl serde::Serialize, inputs: &[&Digest]) -> Digest {
    let mut h = Hasher::new();
    h.field(kind.as_bytes());
    h.field(&serde_json::to_vec(op).unwrap_or_default());
    for i in inputs {
        h.update(i.bytes());
    }
    h.finish()
}

impl Worker for RealWorker {
    type Output = Output;

    fn resolve(
        &self,
        dag: &Dag,
        id: VertexId,
        inputs: &[Arc<Resolved<Output>>],
        cancel: &CancellationToken,
    ) -> Result<Resolved<Output>> {
        let v = dag.vertex(id);
        // Keys cover what the inputs *are*, not how they were made: a
        // root filesystem by its chain ID. A step that is rebuilt but
        // yields the same layers leaves the steps after it cached (early
        // cutoff).
        let input_ids: Vec<Digest> = inputs.iter().map(|r| identity(&r.output)).collect();
        let input_keys: Vec<&Digest> = input_ids.iter().collect();
        let recipe = |kind: &str, op: &dyn erased::Op, sources: Option<Digest>| explain::Recipe {
            op: serde_json::json!({ kind: op.json() }),
            inputs: v
                .inputs
                .iter()
                .zip(&input_ids)
                .map(|(i, d)| (dag.vertex(*i).meta.name.clone(), *d))
                .collect(),
            sources,
            files: None,
        };
        match &v.op {
            Op::Scratch => Ok(Resolved {
                key: op_key("scratch", &(), &[]),
                output: Output::Fs(None),
            }),
            Op::Image(src) => {
                let key = op_key("image", &src.manifest, &[]);
                let started = self.started(id, v);
                let chain = src.diff_ids.iter().fold(None, |acc: Option<Digest>, d| {
                    Some(kiln_cache::snapshot::chain_id(acc.as_ref(), d))
                });
                let present = match &chain {
                    Some(c) => self.store.snapshot(c).ok().flatten(),
                    None => None,
                };
                if chain.is_none() || present.is_some() {
                    self.cached(id, started);
                    return Ok(Resolved {
                        key,
                        output: Output::Fs(present),
                    });
                }
                let r = self.store.unpack_all(&src.diff_ids).map_err(Error::from);
                self.finish(id, started, &r);
                Ok(Resolved {
                    key,
                    output: Output::Fs(r?),
                })
            }
            Op::Context(_) => {
                let started = self.started(id, v);
                let r = match &self.context_root {
                    Some(root) if self.stat_cache => index_cached(
                        root,
                        &self.context_paths,
                        self.ignore.as_deref(),
                        self.store.meta(),
                    ),
                    Some(root) => index(root, &self.context_paths, self.ignore.as_deref()),
                    None => Err(Error::Usage("this build has no context".into())),
                };
                if let Ok(idx) = &r {
                    self.progress.send(Event::Status {
                        vertex: id.index(),
                        text: format!("transferring context: {} done", human_bytes(idx.bytes)),
                    });
                }
                self.finish(id, started, &r);
                let idx = r?;
                Ok(Resolved {
                    key: op_key("context", &(), &[]),
                    output: Output::Context(Arc::new(idx)),
                })
            }
            Op::Git(g) => {
                let started = self.started(id, v);
                let r = self.fetch_git(g, v, cancel);
                if let Ok((commit, _)) = &r {
                    self.progress.send(Event::Status {
                        vertex: id.index(),
                        text: format!("commit {commit}"),
                    });
                }
                self.finish(id, started, &r);
                let (commit, idx) = r?;
                Ok(Resolved {
                    key: op_key("git", &(g.url.shown(), &commit), &[]),
                    output: Output::Context(Arc::new(idx)),
                })
            }
            Op::Exec(e) => {
                // A RUN without mounts keys on its root filesystem alone;
                // each mount adds what it shows (run_mount::mount_keys).
                let mounted = run_mount::mount_keys(e, inputs, &input_ids, v)?;
                let mut keys: Vec<&Digest> = input_keys.iter().take(1).copied().collect();
                keys.extend(&mounted);
                let key = op_key("exec", e, &keys);
                let sources = (!mounted.is_empty()).then(|| {
                    let mut h = Hasher::new();
                    for d in &mounted {
                        h.update(d.bytes());
                    }
                    h.finish()
                });
                let recipe = recipe("exec", e, sources);
                self.cached_or(id, v, key, recipe, cancel, |w, started| {
                    w.run_exec(id, v, e, inputs, started, cancel)
                })
            }
            Op::Copy(c) => {
                let source_key = match inputs.get(1).map(|r| &r.output) {
                    Some(Output::Context(idx)) => file::context_key(idx, c, v)?,
                    // Another stage's files count by content (not mtimes): if
                    // a rebuilt stage yields the same files, the copy and
                    // what follows it stay cached (early cutoff).
                    Some(Output::Fs(Some(s))) => self.snapshot_content_key(s, c, v)?,
                    _ => input_ids
                        .get(1)
                        .copied()
                        .unwrap_or_else(|| op_key("none", &(), &[])),
                };
                let source = || match inputs.get(1).map(|r| &r.output) {
                    Some(Output::Context(idx)) => file::Source::Context(idx.clone()),
                    Some(Output::Fs(s)) => file::Source::Snapshot(s.clone()),
                    None => file::Source::Snapshot(None),
                };
                let mut recipe = recipe("copy", c, Some(source_key));
                if let Some(Output::Context(idx)) = inputs.get(1).map(|r| &r.output) {
                    recipe.files = Some(explain::ContextFiles {
                        index: idx.clone(),
                        patterns: c.sources.clone(),
                    });
                }
                if c.urls.is_empty() {
                    let key = op_key("copy", c, &[&input_ids[0], &source_key]);
                    return self.cached_or(id, v, key, recipe, cancel, |w, _| {
                        w.run_copy(c, Self::fs_input(inputs, 0).as_ref(), source(), v, None)
                    });
                }
                // Remote files count by content, not by URL (BuildKit's
                // HTTP source key): the same bytes from a mirror hit, and
                // credentials in a URL never reach a key.
                let mut keyed = c.clone();
                for u in &mut keyed.urls {
                    u.url.clear();
                }
                let status = |text: String| {
                    self.progress.send(Event::Status {
                        vertex: id.index(),
                        text,
                    })
                };
                let client = self.http_client(&c.urls[0].url)?;
                let fetcher = self.fetcher(client, v, cancel, &status);
                self.cached_or_keyed(
                    id,
                    v,
                    recipe,
                    cancel,
                    |_| {
                        let remotes = c
                            .urls
                            .iter()
                            .map(|u| fetcher.resolve(u))
                            .collect::<Result<Vec<_>>>()?;
                        let remote = http::remote_key(&c.urls, &remotes);
                        let key = op_key("copy", &keyed, &[&input_ids[0], &source_key, &remote]);
                        Ok((key, remotes))
                    },
                    |w, _, remotes| {
                        w.run_copy(
                            c,
                            Self::fs_input(inputs, 0).as_ref(),
                            source(),
                            v,
                            Some((&fetcher, &remotes)),
                        )
                    },
                )
            }
            Op::Link => {
                let key = op_key("link", &(), &input_keys);
                let recipe = recipe("link", &(), None);
                self.cached_or(id, v, key, recipe, cancel, |w, _| {
                    let layer = Self::fs_input(inputs, 1)
                        .and_then(|s| s.diff_ids.last().copied())
                        .ok_or_else(|| {
                            Error::Usage("internal error: --link copy made no layer".into())
                        })?;
                    Ok(w.store.unpack(Self::fs_input(inputs, 0).as_ref(), &layer)?)
                })
            }
            Op::Mkdir(m) => {
                let key = op_key("mkdir", m, &input_keys);
                let recipe = recipe("mkdir", m, None);
                self.cached_or(id, v, key, recipe, cancel, |w, _| {
                    w.run_mkdir(m, Self::fs_input(inputs, 0).as_ref())
                })
            }
        }
    }
}

impl RealWorker {
    /// Fetches an `ADD <git URL>` tree: its commit, and its files indexed
    /// like a context's (content digests, so that a new commit with the
    /// same files leaves the copy cached).
    fn fetch_git(
        &self,
        g: &crate::op::GitSource,
        v: &Vertex,
        cancel: &CancellationToken,
    ) -> Result<(String, ContextIndex)> {
        let with_lines = |e: Error| match e {
            Error::Network { url, message, .. } => Error::Network {
                url,
                message,
                lines: v.meta.lines,
            },
            Error::Source { message, .. } => Error::Source {
                message,
                lines: v.meta.lines,
            },
            other => other,
        };
        let tree = crate::git::fetch(&self.store, &g.url, cancel).map_err(with_lines)?;
        if let Some(sum) = &g.checksum
            && !tree.commit.starts_with(sum.as_str())
        {
            return Err(Error::Source {
                message: format!(
                    "expected checksum to match {sum}, got {} ({})",
                    tree.commit,
                    g.url.shown()
                ),
                lines: v.meta.lines,
            });
        }
        let idx = index(&tree.root(), &[".".to_string()], None)?;
        let commit = tree.commit.clone();
        if let Ok(mut trees) = self.git_trees.lock() {
            trees.push(tree);
        }
        Ok((commit, idx))
    }

    /// Answers from the cache, or runs `f` and records its result.
    fn cached_or(
        &self,
        id: VertexId,
        v: &Vertex,
        key: Digest,
        recipe: explain::Recipe,
        cancel: &CancellationToken,
        f: impl FnOnce(&Self, Option<Instant>) -> Result<Snapshot>,
    ) -> Result<Resolved<Output>> {
        self.cached_or_keyed(id, v, recipe, cancel, |_| Ok((key, ())), |w, t, ()| f(w, t))
    }

    /// [`Self::cached_or`] for keys that take work to compute (downloads):
    /// `key` runs once the step has started, so its progress and errors
    /// show on the step, and hands `f` what it learnt.
    fn cached_or_keyed<K>(
        &self,
        id: VertexId,
        v: &Vertex,
        recipe: explain::Recipe,
        cancel: &CancellationToken,
        key: impl FnOnce(&Self) -> Result<(Digest, K)>,
        f: impl FnOnce(&Self, Option<Instant>, K) -> Result<Snapshot>,
    ) -> Result<Resolved<Output>> {
        let started = self.started(id, v);
        let (key, learnt) = match key(self) {
            Ok(k) => k,
            Err(e) => {
                let shown = match &e {
                    Error::Canceled => Error::Canceled,
                    other => Error::Usage(other.to_string()),
                };
                self.finish::<()>(id, started, &Err(shown));
                return Err(e);
            }
        };
        let hit = if v.meta.no_cache {
            Ok(None)
        } else {
            self.lookup(&key)
        };
        let hit = match hit {
            Ok(h) => h,
            Err(e) => {
                self.finish::<()>(id, started, &Err(Error::Usage(e.to_string())));
                return Err(e);
            }
        };
        if let Some(s) = hit {
            self.cached(id, started);
            if let Some(x) = &self.explainer {
                x.record(&v.meta.name, &recipe);
            }
            return Ok(Resolved {
                key,
                output: Output::Fs(Some(s)),
            });
        }
        if let Some(x) = self
            .explainer
            .as_ref()
            .filter(|x| x.enabled && started.is_some())
        {
            let why = if v.meta.no_cache {
                vec!["cache miss: the cache is off for this step".to_string()]
            } else {
                x.why(&v.meta.name, &recipe)
            };
            for text in why {
                self.progress.send(Event::Status {
                    vertex: id.index(),
                    text,
                });
            }
        }
        if cancel.is_cancelled() {
            self.finish::<()>(id, started, &Err(Error::Canceled));
            return Err(Error::Canceled);
        }
        let r = f(self, started, learnt);
        if let Ok(s) = &r {
            self.store.meta().put_cache(&key, &s.chain_id())?;
            if let Some(x) = &self.explainer {
                x.record(&v.meta.name, &recipe);
            }
        }
        self.finish(id, started, &r);
        Ok(Resolved {
            key,
            output: Output::Fs(Some(r?)),
        })
    }
}

/// Serialising ops of different types for a recipe.
mod erased {
    /// An op that can show itself as JSON.
    pub(super) trait Op {
        fn json(&self) -> serde_json::Value;
    }

    impl<T: serde::Serialize> Op for T {
        fn json(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap_or_default()
        }
    }
}

/// Sizes as BuildKit's plain output shows them: decimal units, two
/// decimals, whole bytes without.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    if n < 1000 {
        return format!("{n}B");
    }
    let mut v = n as f64 / 1000.0;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    format!("{v:.2}{}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_buildkit() {
        assert_eq!(human_bytes(155), "155B");
        assert_eq!(human_bytes(1234), "1.23kB");
        assert_eq!(human_bytes(3_620_000), "3.62MB");
    }
}
