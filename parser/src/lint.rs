//! Lint rules: BuildKit's build checks that can be decided from the
//! Dockerfile alone (rule names, messages and the `# check=` directive as
//! BuildKit has them, `frontend/dockerfile/linter/ruleset.go`).
//!
//! Rules that need the build's state (the base image's SHELL, undefined
//! variables in expansions, `.dockerignore`) are approximated here from
//! the file: `JSONArgsRecommended` is quiet once the stage sets a SHELL.

use crate::ast::{Dockerfile, Node, Warning};
use crate::instruction::{Command, Stages};
use crate::shell::Lexer;

/// The rules kiln checks, with BuildKit's names.
pub const RULES: &[&str] = &[
    "StageNameCasing",
    "FromAsCasing",
    "NoEmptyContinuation",
    "ConsistentInstructionCasing",
    "DuplicateStageName",
    "ReservedStageName",
    "JSONArgsRecommended",
    "MaintainerDeprecated",
    "UndefinedArgInFrom",
    "InvalidDefaultArgInFrom",
    "WorkdirRelativePath",
    "MultipleInstructionsDisallowed",
    "LegacyKeyValueFormat",
    "RedundantTargetPlatform",
    "SecretsUsedInArgOrEnv",
    "FromPlatformFlagConstDisallowed",
    "ExposeProtoCasing",
    "ExposeInvalidFormat",
];

/// The documentation page of a rule, as BuildKit links it.
pub fn rule_url(rule: &str) -> String {
    // "JSONArgs" is "json-args": a capital starts a word after a lower-case
    // letter, or before one when it ends a run of capitals.
    let b = rule.as_bytes();
    let mut kebab = String::new();
    for (i, &c) in b.iter().enumerate() {
        let prev_lower = i > 0 && b[i - 1].is_ascii_lowercase();
        let prev_upper = i > 0 && b[i - 1].is_ascii_uppercase();
        let next_lower = b.get(i + 1).is_some_and(u8::is_ascii_lowercase);
        if c.is_ascii_uppercase() && (prev_lower || (prev_upper && next_lower)) {
            kebab.push('-');
        }
        kebab.push(char::from(c.to_ascii_lowercase()));
    }
    format!("https://docs.docker.com/go/dockerfile/rule/{kebab}/")
}

/// What `# check=` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckConfig {
    /// Rules not to report.
    pub skip: Vec<String>,
    /// `skip=all`.
    pub skip_all: bool,
    /// `error=true`: warnings fail the build.
    pub error: bool,
}

impl CheckConfig {
    /// Parses a `# check=` directive value: `skip=A,B|all;error=true`.
    /// Unknown keys are ignored, as BuildKit does for forward
    /// compatibility.
    pub fn parse(value: &str) -> CheckConfig {
        let mut c = CheckConfig::default();
        for part in value.split(';') {
            let Some((k, v)) = part.split_once('=') else {
                continue;
            };
            match k.trim().to_lowercase().as_str() {
                "skip" => {
                    for r in v.split(',').map(str::trim).filter(|r| !r.is_empty()) {
                        if r.eq_ignore_ascii_case("all") {
                            c.skip_all = true;
                        } else {
                            c.skip.push(r.to_string());
                        }
                    }
                }
                "error" => c.error = v.trim().eq_ignore_ascii_case("true"),
                _ => {}
            }
        }
        c
    }

    fn allows(&self, rule: &str) -> bool {
        !self.skip_all && !self.skip.iter().any(|s| s == rule)
    }
}

/// The `# check=` directive of a file (or the default).
pub fn check_config(df: &Dockerfile) -> CheckConfig {
    df.directives
        .iter()
        .find(|d| d.name == "check")
        .map(|d| CheckConfig::parse(&d.value))
        .unwrap_or_default()
}

struct Lint<'a> {
    out: Vec<Warning>,
    config: &'a CheckConfig,
}

impl Lint<'_> {
    fn warn(&mut self, rule: &'static str, line: usize, message: String) {
        if self.config.allows(rule) {
            self.out.push(Warning {
                rule,
                message,
                line,
            });
        }
    }
}

fn is_consistent(s: &str) -> bool {
    s == s.to_lowercase() || s == s.to_uppercase()
}

/// Matches BuildKit's secret-name heuristic: a token such as `password`
/// or `token` as the whole name or its first or last `_`-word, unless a
/// word like `public` or `file` says otherwise.
fn looks_secret(name: &str) -> bool {
    const DENY: &[&str] = &[
        "apikey",
        "auth",
        "credential",
        "credentials",
        "key",
        "password",
        "pword",
        "passwd",
        "secret",
        "token",
    ];
    const ALLOW: &[&str] = &["public", "file", "version"];
    let lower = name.to_lowercase();
    let words: Vec<&str> = lower.split('_').collect();
    let edge = |list: &[&str]| {
        words.first().is_some_and(|w| list.contains(w))
            || words.last().is_some_and(|w| list.contains(w))
    };
    edge(DENY) && !edge(ALLOW)
}

const PLATFORM_ARGS: &[&str] = &[
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDARCH",
    "BUILDVARIANT",
    "BUILDOSVERSION",
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETARCH",
    "TARGETVARIANT",
    "TARGETOSVERSION",
    "TARGETSTAGE",
];

/// Runs the rules on a parsed file. Warnings the parser found (empty
/// continuation lines) are included; `# check=skip` is honoured.
///
/// `valid_reference` tells whether a base name is a valid image reference
/// (the parser knows no image names): InvalidDefaultArgInFrom uses it.
pub fn lint(
    df: &Dockerfile,
    stages: &Stages,
    valid_reference: &dyn Fn(&str) -> bool,
) -> Vec<Warning> {
    let config = check_config(df);
    let mut l = Lint {
        out: Vec::new(),
        config: &config,
    };
    for w in &df.warnings {
        if w.rule == "NoEmptyContinuation" {
            l.warn(
                "NoEmptyContinuation",
                w.line,
                "Empty continuation line".to_string(),
            );
        }
    }
    casing(&mut l, &df.nodes);
    from_lines(&mut l, df, stages);
    default_bases(&mut l, df, stages, valid_reference);
    stage_rules(&mut l, stages);
    l.out.sort_by_key(|w| w.line);
    l.out
}

/// ConsistentInstructionCasing, FromAsCasing, StageNameCasing.
fn casing(l: &mut Lint<'_>, nodes: &[Node]) {
    let (mut lower, mut upper) = (0, 0);
    for n in nodes {
        if is_consistent(&n.keyword) {
            if n.keyword == n.keyword.to_lowercase() {
                lower += 1;
            } else {
                upper += 1;
            }
        }
    }
    let majority_lower = lower > upper;
    for n in nodes {
        let wrong = if majority_lower {
            (n.keyword != n.keyword.to_lowercase()).then_some("lowercase")
        } else {
            (n.keyword != n.keyword.to_uppercase()).then_some("uppercase")
        };
        if let Some(correct) = wrong {
            l.warn(
                "ConsistentInstructionCasing",
                n.start_line,
                format!(
                    "Command '{}' should match the case of the command majority ({correct})",
                    n.keyword
                ),
            );
        }
        if n.name() != "from" || n.args.len() != 3 {
            continue;
        }
        let name = &n.args[2].value;
        if *name != name.to_lowercase() {
            l.warn(
                "StageNameCasing",
                n.start_line,
                format!("Stage name '{name}' should be lowercase"),
            );
        }
        let kw = &n.keyword;
        let as_kw = &n.args[1].value;
        let from_lower = *kw == kw.to_lowercase();
        let from_upper = *kw == kw.to_uppercase();
        let mismatch = (from_lower && *as_kw != as_kw.to_lowercase())
            || (from_upper && !from_lower && *as_kw != as_kw.to_uppercase());
        if (from_lower || from_upper) && mismatch {
            l.warn(
                "FromAsCasing",
                n.start_line,
                format!("'{as_kw}' and '{kw}' keywords' casing do not match"),
            );
        }
    }
}

/// InvalidDefaultArgInFrom: with no build args, only the global ARGs'
/// defaults (and the platform args), every base name must be a valid
/// image reference (BuildKit's `validateBaseImagesWithDefaultArgs`).
fn default_bases(
    l: &mut Lint<'_>,
    df: &Dockerfile,
    stages: &Stages,
    valid_reference: &dyn Fn(&str) -> bool,
) {
    let lexer = Lexer::new(df.escape);
    // Any real platform does: the rule asks whether defaults can give a
    // valid name, not which one.
    let mut env: std::collections::BTreeMap<String, String> = [
        ("BUILDPLATFORM", "linux/amd64"),
        ("BUILDOS", "linux"),
        ("BUILDARCH", "amd64"),
        ("BUILDVARIANT", ""),
        ("TARGETPLATFORM", "linux/amd64"),
        ("TARGETOS", "linux"),
        ("TARGETARCH", "amd64"),
        ("TARGETVARIANT", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for ins in &stages.global_args {
        let Command::Arg(decls) = &ins.command else {
            continue;
        };
        for d in decls {
            let Ok(key) = lexer.process_word(&d.key, &env) else {
                return;
            };
            // `ARG X` without a default keeps what X had (a platform arg,
            // an earlier ARG), as BuildKit's `buildMetaArgs` does.
            if let Some(v) = &d.value {
                let Ok(value) = lexer.process_word(v, &env) else {
                    return;
                };
                env.insert(key.value, value.value);
            }
        }
    }
    for stage in &stages.stages {
        let Ok(name) = lexer.process_word(&stage.from.base.value, &env) else {
            return;
        };
        if !valid_reference(&name.value) {
            l.warn(
                "InvalidDefaultArgInFrom",
                stage.location.start_line,
                format!(
                    "Default value for ARG {} results in empty or invalid base image name",
                    stage.from.base.value
                ),
            );
        }
    }
}

/// DuplicateStageName, ReservedStageName, UndefinedArgInFrom,
/// RedundantTargetPlatform, FromPlatformFlagConstDisallowed.
fn from_lines(l: &mut Lint<'_>, df: &Dockerfile, stages: &Stages) {
    let mut declared: Vec<String> = PLATFORM_ARGS.iter().map(|s| s.to_string()).collect();
    for ins in &stages.global_args {
        if let Command::Arg(decls) = &ins.command {
            declared.extend(decls.iter().map(|d| d.key.clone()));
        }
    }
    let env: std::collections::BTreeMap<String, String> = declared
        .iter()
        .map(|k| (k.clone(), format!("<{k}>")))
        .collect();
    let lexer = Lexer::new(df.escape);
    let mut seen: Vec<&str> = Vec::new();
    for stage in &stages.stages {
        let line = stage.location.start_line;
        if let Some(name) = stage.from.name.as_deref() {
            if matches!(name, "context" | "scratch") {
                l.warn(
                    "ReservedStageName",
                    line,
                    format!("Stage name should not use the same name as reserved stage {name:?}"),
                );
            }
            if seen.contains(&name) {
                l.warn(
                    "DuplicateStageName",
                    line,
                    format!("Duplicate stage name {name:?}, stage names should be unique"),
                );
            }
            seen.push(name);
        }
        let mut words = vec![&stage.from.base.value];
        if let Some(p) = &stage.from.platform {
            words.push(&p.value);
        }
        for w in words {
            let Ok(e) = lexer.process_word(w, &env) else {
                continue;
            };
            for undefined in &e.unset {
                let hint = crate::suggest::suggest(
                    undefined,
                    &declared.iter().map(String::as_str).collect::<Vec<_>>(),
                    true,
                )
                .map(|s| format!(" (did you mean {s}?)"))
                .unwrap_or_default();
                l.warn(
                    "UndefinedArgInFrom",
                    line,
                    format!("FROM argument '{undefined}' is not declared{hint}"),
                );
            }
        }
        if let Some(p) = &stage.from.platform
            && let Ok(e) = lexer.process_word(&p.value, &env)
        {
            if e.used.len() == 1
                && e.used.contains("TARGETPLATFORM")
                && e.unset.is_empty()
                && e.value == "<TARGETPLATFORM>"
            {
                l.warn(
                    "RedundantTargetPlatform",
                    line,
                    format!("Setting platform to predefined {} in FROM is redundant as this is the default behavior", p.value),
                );
            }
            if e.used.is_empty() && e.unset.is_empty() {
                let mut parts = e.value.split('/');
                let (os, arch) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                let name = stage.from.name.as_deref().unwrap_or("");
                let mentioned = (!os.is_empty() && name.contains(os))
                    || (!arch.is_empty() && name.contains(arch));
                if !arch.is_empty() && !mentioned {
                    l.warn(
                        "FromPlatformFlagConstDisallowed",
                        line,
                        format!(
                            "FROM --platform flag should not use constant value {:?}",
                            e.value
                        ),
                    );
                }
            }
        }
    }
}

/// Rules about the instructions of each stage.
fn stage_rules(l: &mut Lint<'_>, stages: &Stages) {
    for ins in &stages.global_args {
        if let Command::Arg(decls) = &ins.command {
            for d in decls {
                if looks_secret(&d.key) {
                    l.warn(
                        "SecretsUsedInArgOrEnv",
                        ins.location.start_line,
                        format!(
                            "Do not use ARG or ENV instructions for sensitive data (ARG {:?})",
                            d.key
                        ),
                    );
                }
            }
        }
    }
    for stage in &stages.stages {
        let mut shell_set = false;
        let mut workdir_set = false;
        let mut last: [Option<usize>; 3] = [None; 3];
        for ins in &stage.commands {
            let line = ins.location.start_line;
            match &ins.command {
                Command::Shell(_) => shell_set = true,
                Command::Cmd(cl) | Command::Entrypoint(cl) => {
                    let name = ins.command.name();
                    if cl.prepend_shell && !shell_set {
                        l.warn(
                            "JSONArgsRecommended",
                            line,
                            format!("JSON arguments recommended for {name} to prevent unintended behavior related to OS signals"),
                        );
                    }
                    let slot = usize::from(name == "ENTRYPOINT");
                    used_once(l, &mut last[slot], name, line);
                }
                Command::Healthcheck(_) => used_once(l, &mut last[2], "HEALTHCHECK", line),
                Command::Maintainer(_) => l.warn(
                    "MaintainerDeprecated",
                    line,
                    "Maintainer instruction is deprecated in favor of using label".to_string(),
                ),
                Command::Workdir(w) => {
                    if !workdir_set && !w.value.starts_with('/') && !w.value.starts_with('$') {
                        l.warn(
                            "WorkdirRelativePath",
                            line,
                            format!("Relative workdir {:?} can have unexpected results if the base image changes", w.value),
                        );
                    }
                    workdir_set = true;
                }
                Command::Env(pairs) | Command::Label(pairs) => {
                    let name = ins.command.name();
                    if pairs.iter().any(|p| p.legacy) {
                        l.warn(
                            "LegacyKeyValueFormat",
                            line,
                            format!("\"{name} key=value\" should be used instead of legacy \"{name} key value\" format"),
                        );
                    }
                    if name == "ENV" {
                        for p in pairs.iter().filter(|p| looks_secret(&p.key)) {
                            l.warn(
                                "SecretsUsedInArgOrEnv",
                                line,
                                format!("Do not use ARG or ENV instructions for sensitive data (ENV {:?})", p.key),
                            );
                        }
                    }
                }
                Command::Arg(decls) => {
                    for d in decls.iter().filter(|d| looks_secret(&d.key)) {
                        l.warn(
                            "SecretsUsedInArgOrEnv",
                            line,
                            format!(
                                "Do not use ARG or ENV instructions for sensitive data (ARG {:?})",
                                d.key
                            ),
                        );
                    }
                }
                Command::Expose(ports) => {
                    for p in ports {
                        if p.value.contains(':') {
                            l.warn(
                                "ExposeInvalidFormat",
                                line,
                                format!(
                                    "EXPOSE instruction should not define an IP address or host-port mapping, found '{}'",
                                    p.value
                                ),
                            );
                        }
                        if let Some((_, proto)) = p.value.split_once('/')
                            && proto != proto.to_lowercase()
                        {
                            l.warn(
                                "ExposeProtoCasing",
                                line,
                                format!("Defined protocol '{}' in EXPOSE instruction should be lowercase", p.value),
                            );
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// MultipleInstructionsDisallowed: the earlier instruction is the one
/// reported, because it is the one that has no effect.
fn used_once(l: &mut Lint<'_>, last: &mut Option<usize>, name: &str, line: usize) {
    if let Some(prev) = last.replace(line) {
        l.warn(
            "MultipleInstructionsDisallowed",
            prev,
            format!("Multiple {name} instructions should not be used in the same stage because only the last one will be used"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for the image-name parser the lint is given.
    fn valid_reference(name: &str) -> bool {
        !name.is_empty() && !name.ends_with(':') && name == name.to_lowercase()
    }

    fn rules(src: &str) -> Vec<(&'static str, usize)> {
        let (df, stages) = crate::parse_stages(src.as_bytes()).unwrap();
        lint(&df, &stages, &valid_reference)
            .into_iter()
            .map(|w| (w.rule, w.line))
            .collect()
    }

    #[test]
    fn clean_file_has_no_warnings() {
        assert_eq!(
            rules("FROM busybox AS build\nWORKDIR /src\nCMD [\"sh\"]\n"),
            vec![]
        );
    }

    #[test]
    fn each_rule() {
        assert_eq!(rules("FROM a AS Build\n"), vec![("StageNameCasing", 1)]);
        assert_eq!(rules("FROM a as b\n"), vec![("FromAsCasing", 1)]);
        assert_eq!(
            rules("FROM a\nrun x\nRUN y\n"),
            vec![("ConsistentInstructionCasing", 2)]
        );
        assert_eq!(
            rules("FROM a AS x\nFROM b AS x\n"),
            vec![("DuplicateStageName", 2)]
        );
        assert_eq!(rules("FROM a AS scratch\n"), vec![("ReservedStageName", 1)]);
        assert_eq!(
            rules("FROM a\nCMD echo hi\n"),
            vec![("JSONArgsRecommended", 2)]
        );
        assert_eq!(
            rules("FROM a\nSHELL [\"sh\", \"-c\"]\nCMD echo hi\n"),
            vec![]
        );
        assert_eq!(
            rules("FROM a\nMAINTAINER me\n"),
            vec![("MaintainerDeprecated", 2)]
        );
        assert_eq!(
            rules("FROM a:$VER\n"),
            vec![("UndefinedArgInFrom", 1), ("InvalidDefaultArgInFrom", 1)]
        );
        assert_eq!(rules("ARG VER=1\nFROM a:$VER\n"), vec![]);
        assert_eq!(
            rules("ARG BASE\nFROM ${BASE}\n"),
            vec![("InvalidDefaultArgInFrom", 2)]
        );
        assert_eq!(rules("ARG BASE=alpine\nFROM ${BASE}\n"), vec![]);
        assert_eq!(rules("ARG TARGETARCH\nFROM ${TARGETARCH}/alpine\n"), vec![]);
        assert_eq!(
            rules("ARG V=1\nARG BASE=a:${V}-${TARGETARCH}\nFROM ${BASE}\n"),
            vec![]
        );
        assert_eq!(rules("FROM --platform=$BUILDPLATFORM a\n"), vec![]);
        assert_eq!(
            rules("FROM a\nWORKDIR rel\nWORKDIR rel2\n"),
            vec![("WorkdirRelativePath", 2)]
        );
        assert_eq!(
            rules("FROM a\nCMD [\"a\"]\nCMD [\"b\"]\n"),
            vec![("MultipleInstructionsDisallowed", 2)]
        );
        assert_eq!(
            rules("FROM a\nENV A 1\n"),
            vec![("LegacyKeyValueFormat", 2)]
        );
        assert_eq!(
            rules("FROM --platform=$TARGETPLATFORM a\n"),
            vec![("RedundantTargetPlatform", 1)]
        );
        assert_eq!(
            rules("FROM a\nARG GITHUB_TOKEN\nENV PUBLIC_KEY=x\n"),
            vec![("SecretsUsedInArgOrEnv", 2)]
        );
        assert_eq!(
            rules("FROM --platform=linux/amd64 a\n"),
            vec![("FromPlatformFlagConstDisallowed", 1)]
        );
        assert_eq!(
            rules("FROM --platform=linux/amd64 a AS build-amd64\n"),
            vec![]
        );
        assert_eq!(
            rules("FROM a\nEXPOSE 80/TCP\n"),
            vec![("ExposeProtoCasing", 2)]
        );
        assert_eq!(
            rules("FROM a\nEXPOSE 127.0.0.1:80:80\n"),
            vec![("ExposeInvalidFormat", 2)]
        );
        assert_eq!(
            rules("FROM a\nRUN a \\\n\n b\n"),
            vec![("NoEmptyContinuation", 4)]
        );
    }

    #[test]
    fn check_directive_skips_and_errors() {
        assert_eq!(
            rules("# check=skip=MaintainerDeprecated\nFROM a\nMAINTAINER me\n"),
            vec![]
        );
        assert_eq!(
            rules("# check=skip=all\nFROM a\nMAINTAINER me\nCMD x\n"),
            vec![]
        );
        let c = CheckConfig::parse("skip=A, B;error=true");
        assert_eq!(c.skip, vec!["A", "B"]);
        assert!(c.error);
    }

    #[test]
    fn urls() {
        assert_eq!(
            rule_url("JSONArgsRecommended"),
            "https://docs.docker.com/go/dockerfile/rule/json-args-recommended/"
        );
        assert_eq!(
            rule_url("MaintainerDeprecated"),
            "https://docs.docker.com/go/dockerfile/rule/maintainer-deprecated/"
        );
    }
}
