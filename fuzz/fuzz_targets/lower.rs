//! Fuzz target for linting and lowering: bytes → typed stages → the lint
//! warnings → the op graph and image config a build would run, with every
//! base image resolved to a small fake one. Build args and the target come
//! from the file itself, so that their paths are explored too; the fake
//! base image carries the file's own ONBUILD triggers, so that a `FROM`
//! runs them.
//!
//! Lowering may refuse a file; it may not panic, overflow the stack or
//! run away in time or memory.

#![no_main]

use std::collections::BTreeMap;

use kiln_cache::{Digest, ImageConfig};
use kiln_parser::instruction::Command;
use kiln_solver::lower::{ImageResolver, Options, ResolvedImage, lower};
use libfuzzer_sys::fuzz_target;

struct Fake {
    triggers: Vec<String>,
}

impl ImageResolver for Fake {
    fn resolve(&self, name: &str) -> Result<ResolvedImage, String> {
        if name.contains("missing") {
            return Err(format!("{name}: not found"));
        }
        let mut config = ImageConfig::scratch();
        config.rootfs.diff_ids = vec![Digest::of(name.as_bytes())];
        config.config.env = vec!["PATH=/bin".into(), "FROM_BASE=1".into()];
        config.config.user = "app".into();
        config.config.working_dir = "/base".into();
        if name.contains("trig") {
            config.config.on_build = self.triggers.clone();
        }
        Ok(ResolvedImage {
            name: name.to_string(),
            manifest: Digest::of(format!("manifest {name}").as_bytes()),
            config,
        })
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok((df, stages)) = kiln_parser::parse_stages(data) else {
        return;
    };
    // The build lints every file first, parsing base names as references.
    let _ = kiln_parser::lint::lint(&df, &stages, &|name| {
        kiln_cache::ImageName::parse(name).is_ok()
    });
    let mut triggers = Vec::new();
    let mut build_args = BTreeMap::new();
    for ins in stages.stages.iter().flat_map(|s| &s.commands) {
        match &ins.command {
            Command::Onbuild(expr) => triggers.push(expr.clone()),
            // A LABEL `kiln.arg.K=V` stands for `--build-arg K=V`.
            Command::Label(kvs) => {
                for kv in kvs {
                    if let Some(k) = kv.key.strip_prefix("kiln.arg.") {
                        build_args.insert(k.to_string(), kv.value.clone());
                    }
                }
            }
            _ => {}
        }
    }
    // The first named stage is the target when the file has several.
    let target = stages
        .stages
        .iter()
        .filter_map(|s| s.from.name.clone())
        .next()
        .filter(|_| data.first().is_some_and(|b| b % 2 == 1));
    let opts = Options {
        build_args,
        target,
        allow_network_host: data.first().is_some_and(|b| b % 4 >= 2),
        ..Options::default()
    };
    match lower(&df, &stages, &opts, &Fake { triggers }) {
        Ok(l) => {
            let _ = l.config.to_json();
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
