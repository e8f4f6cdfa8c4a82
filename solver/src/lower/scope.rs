//! ARG and ENV scoping: which variables an instruction's words and a RUN's
//! environment see (semantics.md ARG-1 to ARG-7, ENV-1 to ENV-3).

use std::collections::BTreeMap;

use kiln_cache::image::host_architecture;
use kiln_parser::shell::{Env, Lexer};

/// Build args that reach every RUN undeclared and stay out of history and
/// the cache key (ARG-6).
pub(crate) const PROXY_ARGS: [&str; 10] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// Platform args available in global scope (ARG-7).
pub(crate) fn platform_args(target_stage: &str) -> Vec<(String, String)> {
    let arch = host_architecture();
    let platform = format!("linux/{arch}");
    vec![
        ("BUILDPLATFORM".into(), platform.clone()),
        ("BUILDOS".into(), "linux".into()),
        ("BUILDARCH".into(), arch.into()),
        ("BUILDVARIANT".into(), String::new()),
        ("TARGETPLATFORM".into(), platform),
        ("TARGETOS".into(), "linux".into()),
        ("TARGETARCH".into(), arch.into()),
        ("TARGETVARIANT".into(), String::new()),
        ("TARGETSTAGE".into(), target_stage.to_string()),
    ]
}

/// An ordered set of variables where a later definition replaces an
/// earlier one in place (ENV-3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Vars {
    items: Vec<(String, String)>,
}

impl Vars {
    pub(crate) fn from_env_list(env: &[String]) -> Vars {
        let mut v = Vars::default();
        for kv in env {
            let (k, val) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
            v.set(k, val);
        }
        v
    }

    pub(crate) fn set(&mut self, key: &str, value: &str) {
        match self.items.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value.to_string(),
            None => self.items.push((key.to_string(), value.to_string())),
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.items
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The names, in order.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.items.iter().map(|(k, _)| k.as_str())
    }

    pub(crate) fn to_env_list(&self) -> Vec<String> {
        self.items.iter().map(|(k, v)| format!("{k}={v}")).collect()
    }
}

impl Env for Vars {
    fn get(&self, name: &str) -> Option<&str> {
        Vars::get(self, name)
    }
}

/// The global (pre-FROM) ARGs after build-arg overrides, plus the
/// platform args.
#[derive(Debug, Clone, Default)]
pub(crate) struct GlobalArgs {
    /// Declared global ARGs with their values (`None`: declared, unset).
    pub(crate) declared: BTreeMap<String, Option<String>>,
    /// What FROM lines see.
    pub(crate) env: Vars,
}

impl GlobalArgs {
    pub(crate) fn new(target_stage: &str) -> GlobalArgs {
        let mut env = Vars::default();
        for (k, v) in platform_args(target_stage) {
            env.set(&k, &v);
        }
        GlobalArgs {
            declared: BTreeMap::new(),
            env,
        }
    }

    /// The value a stage's bare `ARG name` imports, if the name is a
    /// global one.
    pub(crate) fn value(&self, name: &str) -> Option<Option<String>> {
        if let Some(v) = self.declared.get(name) {
            return Some(v.clone());
        }
        // Platform args are declared implicitly.
        self.env.get(name).map(|v| Some(v.to_string()))
    }
}

/// A lexer for the Dockerfile's escape character.
pub(crate) fn lexer(escape: char) -> Lexer {
    Lexer::new(escape)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vars_replace_in_place() {
        let mut v = Vars::from_env_list(&["PATH=/bin".into(), "A=1".into()]);
        v.set("A", "2");
        v.set("B", "3");
        assert_eq!(v.to_env_list(), vec!["PATH=/bin", "A=2", "B=3"]);
    }
}
