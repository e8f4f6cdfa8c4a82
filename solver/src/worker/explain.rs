//! `--explain-cache`: why a step missed the cache. Each step's key inputs
//! (its op, the identity of each input, the content it reads) are
//! recorded per Dockerfile position; on a miss the recipe is compared with
//! the one recorded last time and the first differences are told: the
//! instruction, a variable, the base image, an earlier step, the files.

use std::path::PathBuf;

use kiln_cache::{Digest, Hasher};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a step's key was made of.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Recipe {
    /// The op, as JSON (`{"exec": {...}}`).
    pub(crate) op: Value,
    /// Each input: its step name and identity.
    pub(crate) inputs: Vec<(String, Digest)>,
    /// The content a COPY reads (context or another stage).
    pub(crate) sources: Option<Digest>,
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
    pub(crate) fn previous(&self, step_name: &str) -> Option<Recipe> {
        let bytes = std::fs::read(self.slot(step_name)).ok()?;
        serde_json::from_slice(&bytes).ok()
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
        if std::fs::read(&slot).is_ok_and(|old| old == bytes) {
            return;
        }
        let tmp = slot.with_extension("tmp");
        if std::fs::write(&tmp, bytes).is_ok() {
            let _ = std::fs::rename(&tmp, slot);
        }
    }
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
/// telling first.
pub(crate) fn explain(old: Option<&Recipe>, new: &Recipe) -> Vec<String> {
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
        why.push("the files this step copies changed".to_string());
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
        }
    }

    #[test]
    fn tells_what_changed() {
        let a = recipe(&["V=1", "PATH=/bin"], "make", b"base");
        assert_eq!(
            explain(Some(&a), &recipe(&["V=2", "PATH=/bin"], "make", b"base")),
            vec!["cache miss: variable V changed: \"1\" → \"2\""]
        );
        let why = explain(
            Some(&a),
            &recipe(&["V=1", "PATH=/bin"], "make all", b"base"),
        );
        assert_eq!(why.len(), 1);
        assert!(why[0].starts_with("cache miss: args changed"), "{why:?}");
        assert_eq!(
            explain(
                Some(&a),
                &recipe(&["V=1", "PATH=/bin"], "make", b"new base")
            ),
            vec!["cache miss: its input changed: [1/2] FROM docker.io/library/busybox:latest"]
        );
        assert_eq!(
            explain(Some(&a), &a),
            vec![
                "cache miss: same inputs as before, but the cache entry is gone (pruned, or the earlier build failed)"
            ]
        );
        assert!(explain(None, &a)[0].contains("no earlier build"));
    }
}
