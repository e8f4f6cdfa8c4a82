//! Lowering: every field of every instruction and flag reaches either the
//! key of the step it makes or the image config (security.md C-1: no edit
//! may leave a stale cache hit).

use std::collections::BTreeMap;

use super::*;

/// Two base images, `base:1` and `base:2`, with different layers.
struct Images;

impl ImageResolver for Images {
    fn resolve(&self, name: &str) -> std::result::Result<ResolvedImage, String> {
        let n = kiln_cache::ImageName::parse(name).map_err(|e| e.to_string())?;
        let which = n.tag().unwrap_or("1").to_string();
        let mut config = ImageConfig::scratch();
        config.rootfs.diff_ids = vec![Digest::of(which.as_bytes())];
        Ok(ResolvedImage {
            name: n.full(),
            manifest: Digest::of(format!("manifest {which}").as_bytes()),
            config,
        })
    }
}

/// The target vertex's digest and the config, for a Dockerfile and
/// build args.
fn lowered(src: &str, args: &[(&str, &str)]) -> (Digest, String) {
    let (df, stages) =
        kiln_parser::parse_stages(src.as_bytes()).unwrap_or_else(|e| panic!("{src}: {e}"));
    let opts = Options {
        build_args: args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        ..Options::default()
    };
    let l = lower(&df, &stages, &opts, &Images).unwrap_or_else(|e| panic!("{src}: {e}"));
    let config = String::from_utf8(l.config.to_json()).unwrap_or_default();
    (l.dag.vertex(l.target).digest, config)
}

/// Each pair differs in one field; the step key or the config must
/// differ.
#[test]
fn every_field_changes_the_key_or_the_config() {
    let base = "FROM base:1\n";
    let pairs: &[(&str, &str, &str)] = &[
        ("FROM base", "FROM base:1\n", "FROM base:2\n"),
        ("RUN text", "RUN a\n", "RUN b\n"),
        ("RUN exec form", "RUN [\"a\"]\n", "RUN a\n"),
        ("RUN env", "ENV A=1\nRUN a\n", "ENV A=2\nRUN a\n"),
        ("RUN arg", "ARG A=1\nRUN a\n", "ARG A=2\nRUN a\n"),
        ("RUN workdir", "WORKDIR /a\nRUN a\n", "WORKDIR /b\nRUN a\n"),
        ("RUN user", "USER a\nRUN a\n", "USER b\nRUN a\n"),
        (
            "RUN shell",
            "SHELL [\"/bin/sh\", \"-c\"]\nRUN a\n",
            "SHELL [\"/bin/bash\", \"-c\"]\nRUN a\n",
        ),
        (
            "RUN heredoc body",
            "RUN <<EOF\na\nEOF\n",
            "RUN <<EOF\nb\nEOF\n",
        ),
        (
            "RUN heredoc script",
            "RUN <<EOF\n#!/bin/sh\na\nEOF\n",
            "RUN <<EOF\n#!/bin/sh\nb\nEOF\n",
        ),
        ("COPY source", "COPY a /d\n", "COPY b /d\n"),
        ("COPY dest", "COPY a /d\n", "COPY a /e\n"),
        ("COPY dest slash", "COPY a /d\n", "COPY a /d/\n"),
        (
            "COPY --chown",
            "COPY --chown=1 a /d\n",
            "COPY --chown=2 a /d\n",
        ),
        (
            "COPY --chmod",
            "COPY --chmod=644 a /d\n",
            "COPY --chmod=755 a /d\n",
        ),
        (
            "COPY --chmod symbolic",
            "COPY --chmod=u+x a /d\n",
            "COPY --chmod=g+x a /d\n",
        ),
        (
            "COPY --from",
            "COPY --from=base:1 a /d\n",
            "COPY --from=base:2 a /d\n",
        ),
        ("COPY --link", "COPY a /d\n", "COPY --link a /d\n"),
        (
            "COPY --exclude",
            "COPY --exclude=x a /d\n",
            "COPY --exclude=y a /d\n",
        ),
        ("COPY --parents", "COPY a/b /d\n", "COPY --parents a/b /d\n"),
        (
            "COPY heredoc",
            "COPY <<EOF /d\na\nEOF\n",
            "COPY <<EOF /d\nb\nEOF\n",
        ),
        (
            "ADD --unpack",
            "ADD a.tar /d\n",
            "ADD --unpack=false a.tar /d\n",
        ),
        ("ADD vs COPY", "ADD a.tar /d\n", "COPY a.tar /d\n"),
        ("WORKDIR path", "WORKDIR /a\n", "WORKDIR /b\n"),
        (
            "WORKDIR owner",
            "USER a\nWORKDIR /w\n",
            "USER b\nWORKDIR /w\n",
        ),
        ("CMD", "CMD [\"a\"]\n", "CMD [\"b\"]\n"),
        ("ENTRYPOINT", "ENTRYPOINT [\"a\"]\n", "ENTRYPOINT [\"b\"]\n"),
        ("ENV", "ENV A=1\n", "ENV A=2\n"),
        ("LABEL", "LABEL a=1\n", "LABEL a=2\n"),
        ("EXPOSE", "EXPOSE 80\n", "EXPOSE 81\n"),
        ("EXPOSE proto", "EXPOSE 80/tcp\n", "EXPOSE 80/udp\n"),
        ("VOLUME", "VOLUME /a\n", "VOLUME /b\n"),
        ("USER", "USER a\n", "USER b\n"),
        ("STOPSIGNAL", "STOPSIGNAL TERM\n", "STOPSIGNAL KILL\n"),
        ("SHELL", "SHELL [\"a\"]\n", "SHELL [\"b\"]\n"),
        ("MAINTAINER", "MAINTAINER a\n", "MAINTAINER b\n"),
        ("ONBUILD", "ONBUILD RUN a\n", "ONBUILD RUN b\n"),
        (
            "HEALTHCHECK cmd",
            "HEALTHCHECK CMD a\n",
            "HEALTHCHECK CMD b\n",
        ),
        (
            "HEALTHCHECK interval",
            "HEALTHCHECK --interval=1s CMD a\n",
            "HEALTHCHECK --interval=2s CMD a\n",
        ),
        (
            "HEALTHCHECK timeout",
            "HEALTHCHECK --timeout=1s CMD a\n",
            "HEALTHCHECK --timeout=2s CMD a\n",
        ),
        (
            "HEALTHCHECK start-period",
            "HEALTHCHECK --start-period=1s CMD a\n",
            "HEALTHCHECK --start-period=2s CMD a\n",
        ),
        (
            "HEALTHCHECK start-interval",
            "HEALTHCHECK --start-interval=1s CMD a\n",
            "HEALTHCHECK --start-interval=2s CMD a\n",
        ),
        (
            "HEALTHCHECK retries",
            "HEALTHCHECK --retries=1 CMD a\n",
            "HEALTHCHECK --retries=2 CMD a\n",
        ),
        (
            "HEALTHCHECK NONE",
            "HEALTHCHECK NONE\n",
            "HEALTHCHECK CMD a\n",
        ),
        (
            "RUN --mount tmpfs size",
            "RUN --mount=type=tmpfs,target=/t,size=1m a\n",
            "RUN --mount=type=tmpfs,target=/t,size=2m a\n",
        ),
        (
            "RUN --mount secret id",
            "RUN --mount=type=secret,id=a a\n",
            "RUN --mount=type=secret,id=b,target=/run/secrets/a a\n",
        ),
        (
            "RUN --mount secret target",
            "RUN --mount=type=secret,id=a a\n",
            "RUN --mount=type=secret,id=a,target=/s a\n",
        ),
        (
            "RUN --mount secret env",
            "RUN --mount=type=secret,id=a,env=A a\n",
            "RUN --mount=type=secret,id=a,env=B a\n",
        ),
        (
            "RUN --mount secret required",
            "RUN --mount=type=secret,id=a a\n",
            "RUN --mount=type=secret,id=a,required a\n",
        ),
        (
            "RUN --mount secret mode",
            "RUN --mount=type=secret,id=a,mode=0400 a\n",
            "RUN --mount=type=secret,id=a,mode=0440 a\n",
        ),
    ];
    let mut same = Vec::new();
    for (what, a, b) in pairs {
        let with_base = |s: &str| {
            if s.starts_with("FROM") {
                s.to_string()
            } else {
                format!("{base}{s}")
            }
        };
        if lowered(&with_base(a), &[]) == lowered(&with_base(b), &[]) {
            same.push(*what);
        }
    }
    assert!(
        same.is_empty(),
        "these changes leave key and config alone: {same:?}"
    );
}

/// A build arg's value reaches the key of every RUN that sees it, and
/// only those.
#[test]
fn build_args_reach_the_steps_that_see_them() {
    let src = "FROM base:1\nRUN before\nARG V\nRUN after\n";
    let (one, _) = lowered(src, &[("V", "1")]);
    let (two, _) = lowered(src, &[("V", "2")]);
    assert_ne!(one, two);
    let (before_a, _) = lowered("FROM base:1\nRUN before\n", &[("V", "1")]);
    let (before_b, _) = lowered("FROM base:1\nRUN before\n", &[("V", "2")]);
    assert_eq!(
        before_a, before_b,
        "an undeclared build arg changes nothing"
    );
}

/// Proxy build args reach RUN but not its key (semantics.md ARG-6).
#[test]
fn proxy_args_stay_out_of_the_key() {
    let src = "FROM base:1\nRUN fetch\n";
    let (a, _) = lowered(src, &[("HTTP_PROXY", "http://a:3128")]);
    let (b, _) = lowered(src, &[("HTTP_PROXY", "http://b:3128")]);
    assert_eq!(a, b);
}

/// SDE-1: where SOURCE_DATE_EPOCH comes from, and what it refuses.
#[test]
fn source_date_epoch_sources() {
    let epoch = |src: &str, args: &[(&str, &str)]| {
        let (df, stages) = kiln_parser::parse_stages(src.as_bytes()).unwrap();
        let opts = Options {
            build_args: args
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Options::default()
        };
        lower(&df, &stages, &opts, &Images)
            .map(|l| l.epoch)
            .map_err(|e| e.to_string())
    };
    let plain = "FROM base:1\nWORKDIR /w\n";
    assert_eq!(epoch(plain, &[]), Ok(None));
    assert_eq!(epoch(plain, &[("SOURCE_DATE_EPOCH", "5")]), Ok(Some(5)));
    // A local context has no time of its own.
    assert_eq!(epoch(plain, &[("SOURCE_DATE_EPOCH", "context")]), Ok(None));
    assert_eq!(epoch(plain, &[("SOURCE_DATE_EPOCH", "")]), Ok(None));
    let with_default = "ARG SOURCE_DATE_EPOCH=7\nFROM base:1\n";
    assert_eq!(epoch(with_default, &[]), Ok(Some(7)));
    assert_eq!(
        epoch(with_default, &[("SOURCE_DATE_EPOCH", "8")]),
        Ok(Some(8))
    );
    // Declared in a stage only, it is an ordinary ARG: no epoch.
    assert_eq!(
        epoch("FROM base:1\nARG SOURCE_DATE_EPOCH=9\n", &[]),
        Ok(None)
    );
    assert_eq!(
        epoch(plain, &[("SOURCE_DATE_EPOCH", "1.5")]),
        Err("invalid SOURCE_DATE_EPOCH: 1.5".to_string())
    );
    let staged = epoch("ARG SOURCE_DATE_EPOCH=src\nFROM base:1 AS src\n", &[]);
    assert!(staged.is_err_and(|e| e.contains("from a stage is not supported")));
    // The epoch dates what WORKDIR makes, so it is in that step's key.
    let key = |args: &[(&str, &str)]| lowered(plain, args).0;
    assert_ne!(key(&[]), key(&[("SOURCE_DATE_EPOCH", "5")]));
    assert_ne!(
        key(&[("SOURCE_DATE_EPOCH", "5")]),
        key(&[("SOURCE_DATE_EPOCH", "6")])
    );
}

fn lower_err(src: &str) -> String {
    let (df, stages) = kiln_parser::parse_stages(src.as_bytes()).unwrap();
    match lower(&df, &stages, &Options::default(), &Images) {
        Ok(_) => panic!("{src}: lowered"),
        Err(e) => e.to_string(),
    }
}

/// ARG-9, MS-5, USR-2: BuildKit's errors for an empty platform and a file
/// without stages; an unknown USER alone is no error.
#[test]
fn errors_where_buildkit_gives_them() {
    assert_eq!(
        lower_err("FROM --platform=$BULIDPLATFORM scratch\n"),
        "empty platform value from expression $BULIDPLATFORM (did you mean BUILDPLATFORM?)"
    );
    assert_eq!(
        lower_err("FROM --platform=${NOPE} scratch\n"),
        "empty platform value from expression ${NOPE}"
    );
    assert_eq!(
        lower_err("ARG A=1\n"),
        "dockerfile contains no stages to build"
    );
    assert_eq!(
        lower_err("ARG B=\nFROM ${B}\n"),
        "base name (${B}) should not be blank"
    );
    let (_, config) = lowered("FROM scratch\nUSER nobody\n", &[]);
    assert!(config.contains("\"User\":\"nobody\""), "{config}");
}

/// RUN-5 and CE-2: a child stage inherits SHELL, which wraps its
/// shell-form CMD; without SHELL the wrap is `/bin/sh -c`.
#[test]
fn shell_reaches_child_stages() {
    let (_, config) = lowered(
        "FROM base:1 AS a\nSHELL [\"/bin/bash\", \"-c\"]\nFROM a\nCMD run it\n",
        &[],
    );
    assert!(
        config.contains("\"Cmd\":[\"/bin/bash\",\"-c\",\"run it\"]"),
        "{config}"
    );
    assert!(
        config.contains("\"Shell\":[\"/bin/bash\",\"-c\"]"),
        "{config}"
    );
    let (_, config) = lowered("FROM base:1\nENTRYPOINT run it\n", &[]);
    assert!(
        config.contains("\"Entrypoint\":[\"/bin/sh\",\"-c\",\"run it\"]"),
        "{config}"
    );
}
