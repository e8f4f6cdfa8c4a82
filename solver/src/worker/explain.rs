//! `--explain-cache`: why a step missed the cache. Each step's key inputs
//! (its op, the identity of each input, the content it reads) are
//! recorded per Dockerfile position; on a miss the recipe is compared with
//! the one recorded last time and the first differences are told: the
//! instruction, a variable, the base image, an earlier step, the files.
//! For a copy from the context, the facts of each file it read are kept
//! beside the recipe, so that a miss names the files that changed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::context::ContextIndex;

use kiln_cache::{Digest, Hasher};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a step's key was made of.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Recipe {
    /// The op, as JSON (`{"exec": {...}}`).
    pub(crate) op: Value,
    /// Each input: its step name and identity.
    pub(crate) inputs: Vec<(String, Digest)>,
    /// The content a COPY reads (context or another stage).
    pub(crate) sources: Option<Digest>,
    /// For a copy from the context: where the files behind `sources`
    /// can be listed. Listed only when they need recording.
    #[serde(skip)]
    pub(crate) files: Option<ContextFiles>,
}

/// The context files a copy reads: these source patterns of that index.
#[derive(Debug, Clone)]
pub(crate) struct ContextFiles {
    pub(crate) index: Arc<ContextIndex>,
    pub(crate) patterns: Vec<String>,
}

/// The files behind a recipe's `sources` digest: path to facts (see
/// [`ContextIndex::file_facts`]).
#[derive(Debug, Default, Serialize, Deserialize)]
struct FileList {
    sources: Option<Digest>,
    files: BTreeMap<String, String>,
}

/// Where recipes are kept, and whether misses are explained.
pub(crate) struct Explainer {
    dir: PathBuf,
    prefix: String,
    pub(crate) enabled: bool,
}

impl Explainer {
    /// Recipes live in `<store>/explain`, per build definition (`prefix`:
    /// context and Dockerfile) and step position.
    pub(crate) fn new(dir: PathBuf, prefix: String, enabled: bool) -> Explainer {
        Explainer {
            dir,
            prefix,
            enabled,
        }
    }

    fn slot(&self, step_name: &str) -> PathBuf {
        // The position (`[build 2/4]`) identifies a step across edits of
        // its text; internal steps use their whole name.
        let position = step_name.split_once("] ").map_or(step_name, |(p, _)| p);
        let mut h = Hasher::new();
        h.field(self.prefix.as_bytes());
        h.field(position.as_bytes());
        self.dir.join(h.finish().hex())
    }

    /// The recipe recorded for this step last time.
    fn previous(&self, step_name: &str) -> Option<Recipe> {
        let bytes = std::fs::read(self.slot(step_name)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// The files behind the recipe recorded last time, if they were
    /// listed.
    fn previous_files(&self, step_name: &str) -> Option<FileList> {
        let bytes = std::fs::read(self.slot(step_name).with_extension("files")).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Why a step misses the cache, against what was recorded for it.
    pub(crate) fn why(&self, step_name: &str, recipe: &Recipe) -> Vec<String> {
        let old = self.previous(step_name);
        let changed = match (&old, &recipe.files) {
            (Some(old), Some(now)) if old.sources != recipe.sources => self
                .previous_files(step_name)
                .filter(|l| l.sources == old.sources)
                .map(|l| diff_files(&l.files, &now.index.file_facts(&now.patterns))),
            _ => None,
        };
        explain(old.as_ref(), recipe, changed)
    }

    /// Records a step's recipe; a failure only loses explanations.
    pub(crate) fn record(&self, step_name: &str, recipe: &Recipe) {
        if step_name.is_empty() || std::fs::create_dir_all(&self.dir).is_err() {
            return;
        }
        let Ok(bytes) = serde_json::to_vec(recipe) else {
            return;
        };
        let slot = self.slot(step_name);
        // A cached step usually has the recipe already: rewriting it would
        // put file writes on every no-op rebuild.
        let old = std::fs::read(&slot).ok();
        if old.as_ref().is_some_and(|old| *old == bytes) {
            return;
        }
        let list = slot.with_extension("files");
        match &recipe.files {
            Some(files) => {
                let old_sources = old
                    .and_then(|b| serde_json::from_slice::<Recipe>(&b).ok())
                    .map(|r| r.sources);
                if old_sources != Some(recipe.sources) || !list.exists() {
                    let l = FileList {
                        sources: recipe.sources,
                        files: files.index.file_facts(&files.patterns),
                    };
                    if let Ok(b) = serde_json::to_vec(&l) {
                        write_atomic(&list, &b);
                    }
                }
            }
            None => {
                let _ = std::fs::remove_file(&list);
            }
        }
        write_atomic(&slot, &bytes);
    }
}

/// Replaces a file whole, or leaves it as it was.
fn write_atomic(path: &std::path::Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp");
    if std::fs::write(&tmp, bytes).is_ok() {
        let _ = std::fs::rename(&tmp, path);
    }
}

/// How many changed files a miss names before it summarises the rest.
const FILES_SHOWN: usize = 5;

/// The files that differ between two listings, in path order.
fn diff_files(old: &BTreeMap<String, String>, new: &BTreeMap<String, String>) -> Vec<String> {
    let kind = |facts: &str| match facts.as_bytes().first() {
        Some(b'd') => "directory",
        Some(b'l') => "symlink",
        Some(b'f') => "file",
        _ => "special file",
    };
    let mode = |facts: &str| facts.split(' ').nth(1).unwrap_or("").to_string();
    let mut changes = Vec::new();
    let mut paths: Vec<&String> = old.keys().chain(new.keys()).collect();
    paths.sort();
    paths.dedup();
    for path in paths {
        let line = match (old.get(path), new.get(path)) {
            (None, Some(n)) => format!("{} added: {path}", kind(n)),
            (Some(o), None) => format!("{} removed: {path}", kind(o)),
            (Some(o), Some(n)) if o == n => continue,
            (Some(o), Some(n)) if kind(o) != kind(n) => {
                format!("{path} changed from a {} to a {}", kind(o), kind(n))
            }
            (Some(o), Some(n)) => {
                let (om, nm) = (mode(o), mode(n));
                let rest = |f: &str| f.splitn(3, ' ').nth(2).unwrap_or("").to_string();
                if rest(o) == rest(n) {
                    format!("{} mode changed: {path} ({om} → {nm})", kind(n))
                } else if om == nm {
                    format!("{} changed: {path}", kind(n))
                } else {
                    format!("{} changed: {path} (and its mode, {om} → {nm})", kind(n))
                }
            }
            (None, None) => continue,
        };
        changes.push(line);
    }
    if changes.len() > FILES_SHOWN {
        let more = changes.len() - FILES_SHOWN;
        changes.truncate(FILES_SHOWN);
        changes.push(format!("and {more} more changed files"));
    }
    changes
}

fn short(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s
    }
}

/// `K=V` lists to a map.
fn env_map(v: &Value) -> std::collections::BTreeMap<String, String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e.as_str())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv.to_string(), String::new()),
        })
        .collect()
}

/// Why `new` misses where `old` was cached: the differences, most
/// telling first. `files`: the copied files that changed, when known.
fn explain(old: Option<&Recipe>, new: &Recipe, files: Option<Vec<String>>) -> Vec<String> {
    let Some(old) = old else {
        return vec!["cache miss: no earlier build of this step is known".to_string()];
    };
    let mut why = Vec::new();
    let fields = |r: &Recipe| -> Option<(String, serde_json::Map<String, Value>)> {
        let (kind, body) = r.op.as_object()?.iter().next()?;
        Some((kind.clone(), body.as_object()?.clone()))
    };
    match (fields(old), fields(new)) {
        (Some((ok, of)), Some((nk, nf))) if ok == nk => {
            for (name, nv) in &nf {
                let ov = of.get(name).unwrap_or(&Value::Null);
                if ov == nv {
                    continue;
                }
                if name == "env" {
                    let (o, n) = (env_map(ov), env_map(nv));
                    for (k, v) in &n {
                        match o.get(k) {
                            Some(was) if was == v => {}
                            Some(was) => why.push(format!("variable {k} changed: {was:?} → {v:?}")),
                            None => why.push(format!("variable {k} is new: {v:?}")),
                        }
                    }
                    for k in o.keys().filter(|k| !n.contains_key(*k)) {
                        why.push(format!("variable {k} is gone"));
                    }
                } else {
                    why.push(format!("{name} changed: {} → {}", short(ov), short(nv)));
                }
            }
        }
        _ => why.push("the instruction changed".to_string()),
    }
    if old.sources != new.sources {
        match files.filter(|f| !f.is_empty()) {
            Some(files) => why.extend(files),
            None => why.push("the files this step copies changed".to_string()),
        }
    }
    for (i, (name, id)) in new.inputs.iter().enumerate() {
        if name.starts_with("[internal] load build context") {
            continue;
        }
        if old.inputs.get(i).map(|(_, d)| d) != Some(id) {
            let what = if name.is_empty() {
                "an input"
            } else {
                name.as_str()
            };
            why.push(format!("its input changed: {what}"));
        }
    }
    if why.is_empty() {
        why.push("cache miss: same inputs as before, but the cache entry is gone (pruned, or the earlier build failed)".to_string());
    } else {
        why.iter_mut().for_each(|w| *w = format!("cache miss: {w}"));
    }
    why
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn recipe(env: &[&str], args: &str, input: &[u8]) -> Recipe {
        Recipe {
            op: json!({"exec": {"args": ["/bin/sh", "-c", args], "env": env, "cwd": "/"}}),
            inputs: vec![(
                "[1/2] FROM docker.io/library/busybox:latest".into(),
                Digest::of(input),
            )],
            sources: None,
            files: None,
        }
    }

    #[test]
    fn tells_what_changed() {
        let a = recipe(&["V=1", "PATH=/bin"], "make", b"base");
        assert_eq!(
            explain(
                Some(&a),
                &recipe(&["V=2", "PATH=/bin"], "make", b"base"),
                None
            ),
            vec!["cache miss: variable V changed: \"1\" → \"2\""]
        );
        let why = explain(
            Some(&a),
            &recipe(&["V=1", "PATH=/bin"], "make all", b"base"),
            None,
        );
        assert_eq!(why.len(), 1);
        assert!(why[0].starts_with("cache miss: args changed"), "{why:?}");
        assert_eq!(
            explain(
                Some(&a),
                &recipe(&["V=1", "PATH=/bin"], "make", b"new base"),
                None
            ),
            vec!["cache miss: its input changed: [1/2] FROM docker.io/library/busybox:latest"]
        );
        assert_eq!(
            explain(Some(&a), &a, None),
            vec![
                "cache miss: same inputs as before, but the cache entry is gone (pruned, or the earlier build failed)"
            ]
        );
        assert!(explain(None, &a, None)[0].contains("no earlier build"));
    }

    fn listing(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries
            .iter()
            .map(|(p, f)| (p.to_string(), f.to_string()))
            .collect()
    }

    #[test]
    fn names_the_files_that_changed() {
        let old = listing(&[
            (".", "d 755 0 "),
            ("a.txt", "f 644 3 aa"),
            ("b.sh", "f 644 5 bb"),
            ("gone", "f 644 1 cc"),
            ("link", "l 777 0 -> a.txt"),
            ("both", "f 600 1 dd"),
        ]);
        let new = listing(&[
            (".", "d 755 0 "),
            ("a.txt", "f 644 4 ab"),
            ("b.sh", "f 755 5 bb"),
            ("link", "f 644 0 ee"),
            ("new/", "d 755 0 "),
            ("both", "f 644 2 de"),
        ]);
        assert_eq!(
            diff_files(&old, &new),
            vec![
                "file changed: a.txt",
                "file mode changed: b.sh (644 → 755)",
                "file changed: both (and its mode, 600 → 644)",
                "file removed: gone",
                "link changed from a symlink to a file",
                "and 1 more changed files",
            ]
        );
        assert!(diff_files(&old, &old).is_empty());
        let mut recipe_new = recipe(&[], "true", b"base");
        recipe_new.sources = Some(Digest::of(b"new"));
        let mut recipe_old = recipe_new.clone();
        recipe_old.sources = Some(Digest::of(b"old"));
        assert_eq!(
            explain(Some(&recipe_old), &recipe_new, Some(diff_files(&old, &new)))[0],
            "cache miss: file changed: a.txt"
        );
        assert_eq!(
            explain(Some(&recipe_old), &recipe_new, None),
            vec!["cache miss: the files this step copies changed"]
        );
    }
}
