//! The op graph: what a build does, as content-addressed vertices.
//!
//! A vertex's digest covers its op and its inputs' digests, so identical
//! work in two stages is one vertex. Names, source lines and cache flags
//! are metadata beside the digest, never in it.

use std::collections::HashMap;

use kiln_cache::Digest;
use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use serde::Serialize;

use crate::git::GitUrl;

/// Index of a vertex in its [`Dag`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VertexId(pub(crate) NodeIndex);

impl VertexId {
    /// A small number for logs.
    pub fn index(self) -> usize {
        self.0.index()
    }
}

/// What a vertex does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// The empty root filesystem.
    Scratch,
    /// An image from the store.
    Image(ImageSource),
    /// The local build context (read in place).
    Context(ContextSource),
    /// A git repository's tree at one commit (`ADD <git URL>`).
    Git(GitSource),
    /// A process in a sandbox on input 0; its changes are the result.
    Exec(ExecOp),
    /// Files from input 1 copied into input 0.
    Copy(CopyOp),
    /// A directory made in input 0 (WORKDIR).
    Mkdir(MkdirOp),
    /// The top layer of input 1 put on input 0 (`COPY --link`): the layer
    /// was made on an empty tree, so it does not depend on input 0.
    Link,
}

/// A base image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageSource {
    /// Normalised name, for display.
    pub name: String,
    /// Manifest digest: the identity.
    pub manifest: Digest,
    /// Layers bottom first.
    pub diff_ids: Vec<Digest>,
}

/// A git repository at one commit, for `ADD <git URL>`: resolved (fetched)
/// on every build, its files then keyed by content like the context's.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct GitSource {
    /// The repository. Its credentials stay out of digests and keys: the
    /// identity is the URL as [`GitUrl::shown`] writes it, with everything
    /// that changes what is fetched (reference, subdirectory, options).
    #[serde(rename = "shown", serialize_with = "shown_url")]
    pub url: GitUrl,
    /// `--checksum`: what the commit's name must start with.
    pub checksum: Option<String>,
}

fn shown_url<S: serde::Serializer>(url: &GitUrl, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&url.shown())
}

/// Shows the URL without its credentials.
impl std::fmt::Debug for GitSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitSource")
            .field("url", &self.url)
            .field("checksum", &self.checksum)
            .finish()
    }
}

/// The build context and the paths the build reads from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContextSource {
    /// Paths (patterns) any COPY reads, relative to the context root.
    pub follow_paths: Vec<String>,
}

/// Network mode of a RUN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkMode {
    /// No network but loopback (kiln's default: builds are offline unless
    /// granted).
    None,
    /// The host's network (`RUN --network=host`, with `--allow
    /// network.host`).
    Host,
}

/// A RUN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExecOp {
    /// Executable files (heredoc scripts) mounted read-only under
    /// `/dev/pipes`: name and content.
    pub files: Vec<(String, String)>,
    /// argv.
    pub args: Vec<String>,
    /// Environment, `K=V`.
    pub env: Vec<String>,
    /// Proxy build args (`HTTP_PROXY`…) nobody declared: given to the
    /// process but kept out of the digest and the cache key, so a new
    /// proxy does not rebuild anything (semantics.md ARG-6).
    #[serde(skip)]
    pub proxy_env: Vec<String>,
    /// Working directory.
    pub cwd: String,
    /// USER, unresolved (resolved in the rootfs at run time).
    pub user: String,
    /// Network.
    pub network: NetworkMode,
    /// Hostname.
    pub hostname: String,
    /// `--mount`s, sorted by target as BuildKit sorts them (a mount below
    /// another's target comes after it). Left out of the serialised form
    /// when empty, so keys of RUNs without mounts do not change.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<RunMount>,
}

/// A `RUN --mount`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunMount {
    /// Absolute, clean path inside the sandbox (never `/`); empty for a
    /// secret given only as an environment variable.
    pub target: String,
    /// What is mounted there.
    pub kind: RunMountKind,
}

/// What a `RUN --mount` mounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunMountKind {
    /// `type=bind`: files of a vertex input (the context, a stage or an
    /// image). Writes to a read-write bind are thrown away.
    Bind {
        /// Which input of the vertex (never 0 for the context).
        input: usize,
        /// Path below the input's root, relative and clean (`.` for the
        /// root).
        source: String,
        /// Mounted read-only (the default).
        readonly: bool,
    },
    /// `type=cache`: a directory kept across builds.
    Cache(CacheMount),
    /// `type=tmpfs`: an empty tmpfs.
    Tmpfs {
        /// Size limit in bytes (`None`: the kernel's default).
        size: Option<u64>,
    },
    /// `type=secret`: a secret the build was given, as a read-only file
    /// at the target (unless the target is empty) and as a variable.
    Secret(SecretMount),
}

/// A `RUN --mount=type=secret`. Its value is never part of a key (as in
/// BuildKit, a new value alone does not rerun the step); which secret,
/// and where it goes, is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretMount {
    /// The secret's id (`--secret id=…`).
    pub id: String,
    /// A missing secret fails the step; otherwise it is left out.
    pub required: bool,
    /// `env=`: the variable that holds the value.
    pub env: Option<String>,
    /// Owner of the file (0 unless given).
    pub uid: u32,
    /// Group of the file (0 unless given).
    pub gid: u32,
    /// Mode of the file (0400 unless given).
    pub mode: u32,
}

/// A `RUN --mount=type=cache`. Its contents are never part of a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CacheMount {
    /// The cache's name (`id=`, by default the target as written). Out of
    /// digests and keys, as BuildKit strips it: RUNs that differ only in
    /// which cache they use are the same step.
    #[serde(skip)]
    pub id: String,
    /// How concurrent steps share the cache; out of digests and keys too.
    #[serde(skip)]
    pub sharing: CacheSharing,
    /// `from=`: the input (a stage or an image) whose files a new cache
    /// starts with.
    pub base: Option<usize>,
    /// Path below the cache's root, relative and clean (`.` for the root).
    pub source: String,
    /// Mounted read-only.
    pub readonly: bool,
    /// Owner uid of a new cache directory.
    pub uid: Option<u32>,
    /// Owner gid of a new cache directory.
    pub gid: Option<u32>,
    /// Permission bits of a new cache directory.
    pub mode: Option<u32>,
}

/// `sharing=` of a cache mount.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CacheSharing {
    /// Any number of steps use the directory at once (the default).
    #[default]
    Shared,
    /// A step that finds the directory in use by another `private` or
    /// `locked` step gets a fresh empty directory instead.
    Private,
    /// A step waits until no other `private` or `locked` step uses the
    /// directory.
    Locked,
}

/// Whose files a copy makes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Owner {
    /// Keep the source's owners (`COPY --from`).
    Keep,
    /// Root (context copies without `--chown`).
    Root,
    /// `--chown`, unresolved; names resolve in the destination rootfs.
    Chown(String),
}

/// A COPY.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopyOp {
    /// Source paths or patterns, relative to the source root.
    pub sources: Vec<String>,
    /// Absolute destination inside input 0; a trailing `/` means "into".
    pub dest: String,
    /// Ownership of the copied files.
    pub owner: Owner,
    /// `--chmod`, octal or symbolic, as written (after expansion).
    pub mode: Option<String>,
    /// Inline files (heredocs): name and content.
    pub inline: Vec<(String, String)>,
    /// `--exclude` patterns, matched below each source.
    pub excludes: Vec<String>,
    /// `--parents`: keep each source's path below the root (or below the
    /// part before `/./`).
    pub parents: bool,
    /// ADD: extract sources that are tar archives (plain or compressed)
    /// into the destination instead of copying them.
    pub unpack: bool,
    /// ADD: remote files, copied after the local sources. Left out of the
    /// serialised form when empty, so keys of other copies do not change.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<UrlSource>,
}

/// A remote file an ADD downloads (semantics.md ADD-3, ADD-4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UrlSource {
    /// The URL as written (after expansion). It may carry userinfo: show
    /// it only through [`redact_userinfo`].
    pub url: String,
    /// The name the file gets when the destination is a directory: the
    /// last segment of the URL path, `__unnamed__` if there is none.
    pub name: String,
    /// `--checksum`: the content is known before downloading.
    pub checksum: Option<Digest>,
    /// `--unpack=true`: extract it when it is an archive (remote files are
    /// never extracted by default).
    pub unpack: bool,
}

/// Removes the userinfo (`user:password@`) of every URL in `text`, so that
/// credentials never reach step names, history, logs or errors.
pub fn redact_userinfo(text: &str) -> String {
    edit_userinfo(text, |_| String::new())
}

/// Hides the userinfo of every URL in `text` behind as many `*`s, so that
/// columns in the text still line up (for source excerpts with a caret).
pub fn mask_userinfo(text: &str) -> String {
    edit_userinfo(text, |info| "*".repeat(info.chars().count()) + "@")
}

/// `text` with each URL's `user:password@` replaced by `f` of it.
fn edit_userinfo(text: &str, f: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| matches!(c, '/' | '?' | '#' | '"' | '\'') || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                out.push_str(&f(&authority[..at]));
                out.push_str(&authority[at + 1..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// A WORKDIR directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MkdirOp {
    /// Absolute path.
    pub path: String,
    /// Owner for created directories (the stage's USER), unresolved.
    pub user: String,
    /// `SOURCE_DATE_EPOCH`: the mtime of created directories. Left out of
    /// the key when unset, so that keys made before it existed hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtime: Option<i64>,
}

/// Metadata beside a vertex: how to show it, where it came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VertexMeta {
    /// What progress shows, e.g. `[build 2/3] RUN make`.
    pub name: String,
    /// Dockerfile lines (first, last) the vertex comes from.
    pub lines: Option<(usize, usize)>,
    /// Skip the cache lookup (`--no-cache`).
    pub no_cache: bool,
}

/// A vertex: op, inputs, identity and metadata.
#[derive(Debug, Clone)]
pub struct Vertex {
    /// The op.
    pub op: Op,
    /// Inputs, by position.
    pub inputs: Vec<VertexId>,
    /// Digest of the op and the inputs' digests.
    pub digest: Digest,
    /// Metadata.
    pub meta: VertexMeta,
}

/// The graph of a build.
#[derive(Debug, Default)]
pub struct Dag {
    graph: StableDiGraph<Vertex, usize>,
    by_digest: HashMap<Digest, VertexId>,
}

#[derive(Serialize)]
struct Identity<'a> {
    op: &'a Op,
    inputs: Vec<Digest>,
}

impl Dag {
    /// An empty graph.
    pub fn new() -> Dag {
        Dag::default()
    }

    /// Adds a vertex, or returns the existing one with the same digest
    /// (merging `no_cache`, and keeping the first name).
    pub fn add(&mut self, op: Op, inputs: Vec<VertexId>, meta: VertexMeta) -> VertexId {
        let identity = Identity {
            op: &op,
            inputs: inputs.iter().map(|i| self.graph[i.0].digest).collect(),
        };
        // Plain data with string keys: serialisation cannot fail.
        let bytes = serde_json::to_vec(&identity).unwrap_or_default();
        let digest = Digest::of(&bytes);
        if let Some(&id) = self.by_digest.get(&digest) {
            let v = &mut self.graph[id.0];
            v.meta.no_cache |= meta.no_cache;
            return id;
        }
        let id = VertexId(self.graph.add_node(Vertex {
            op,
            inputs: inputs.clone(),
            digest,
            meta,
        }));
        for (pos, input) in inputs.iter().enumerate() {
            self.graph.add_edge(input.0, id.0, pos);
        }
        self.by_digest.insert(digest, id);
        id
    }

    /// The vertex.
    pub fn vertex(&self, id: VertexId) -> &Vertex {
        &self.graph[id.0]
    }

    /// Number of vertices.
    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    /// Vertices `target` depends on (itself included), inputs first.
    pub fn ancestors_in_order(&self, target: VertexId) -> Vec<VertexId> {
        let mut order = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut stack = vec![(target, false)];
        while let Some((v, expanded)) = stack.pop() {
            if expanded {
                order.push(v);
                continue;
            }
            if !seen.insert(v) {
                continue;
            }
            stack.push((v, true));
            for &i in self.graph[v.0].inputs.iter().rev() {
                if !seen.contains(&i) {
                    stack.push((i, false));
                }
            }
        }
        order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec(cmd: &str) -> Op {
        Op::Exec(ExecOp {
            files: vec![],
            args: vec!["/bin/sh".into(), "-c".into(), cmd.into()],
            env: vec![],
            proxy_env: vec![],
            cwd: "/".into(),
            user: String::new(),
            network: NetworkMode::None,
            hostname: "h".into(),
            mounts: vec![],
        })
    }

    #[test]
    fn identical_work_is_one_vertex() {
        let mut dag = Dag::new();
        let base = dag.add(Op::Scratch, vec![], VertexMeta::default());
        let a = dag.add(
            exec("make"),
            vec![base],
            VertexMeta {
                name: "a".into(),
                ..Default::default()
            },
        );
        let b = dag.add(
            exec("make"),
            vec![base],
            VertexMeta {
                name: "b".into(),
                ..Default::default()
            },
        );
        assert_eq!(a, b);
        assert_eq!(dag.vertex(a).meta.name, "a");
        let c = dag.add(exec("test"), vec![a], VertexMeta::default());
        assert_ne!(c, a);
        assert_eq!(dag.len(), 3);
        assert_eq!(dag.ancestors_in_order(c), vec![base, a, c]);
    }

    #[test]
    fn userinfo_is_removed_from_urls() {
        assert_eq!(
            redact_userinfo("ADD https://u:p@h.example/a@b /d/"),
            "ADD https://h.example/a@b /d/"
        );
        assert_eq!(
            redact_userinfo("http://tok@h:8080?x https://h2/ ftp://a:b@c"),
            "http://h:8080?x https://h2/ ftp://c"
        );
        assert_eq!(
            redact_userinfo("[\"http://a:b:c@h\", \"/d\"]"),
            "[\"http://h\", \"/d\"]"
        );
        assert_eq!(redact_userinfo("no url here"), "no url here");
        assert_eq!(redact_userinfo("trailing ://"), "trailing ://");
        // Masked, the text keeps its length, so a caret still points right.
        let line = "ADD --chmod=9 https://u:pw@h.example/f /d/";
        let masked = mask_userinfo(line);
        assert_eq!(masked, "ADD --chmod=9 https://****@h.example/f /d/");
        assert_eq!(masked.chars().count(), line.chars().count());
    }

    #[test]
    fn names_are_not_identity_but_inputs_are() {
        let mut dag = Dag::new();
        let base = dag.add(Op::Scratch, vec![], VertexMeta::default());
        let x = dag.add(exec("a"), vec![base], VertexMeta::default());
        let y = dag.add(exec("b"), vec![base], VertexMeta::default());
        let on_x = dag.add(exec("c"), vec![x], VertexMeta::default());
        let on_y = dag.add(exec("c"), vec![y], VertexMeta::default());
        assert_ne!(dag.vertex(on_x).digest, dag.vertex(on_y).digest);
    }
}
