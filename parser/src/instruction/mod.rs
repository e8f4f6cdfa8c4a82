//! Typed instructions: each syntax node becomes a [`Command`] with its
//! flags checked, and the file becomes global ARGs plus [`Stage`]s.
//!
//! Values that allow variables stay unexpanded here: expansion needs the
//! ARG and ENV state of the build, so lowering does it. Each value keeps
//! its [`Span`] so that lowering's errors still point into the file.

mod dump;
mod flags;

use std::time::Duration;

use crate::ast::{Dockerfile, Heredoc, Node, Warning, Word};
use crate::duration::parse_go_duration_msg;
use crate::error::{Error, ErrorKind};
use crate::heredoc::{chomp, parse_marker};
use crate::span::Span;
use crate::split::{go_lower, go_upper};
use crate::suggest::suggest;
pub use dump::dump;
use flags::{Flags, Kind};

/// A value with the place it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub span: Span,
}

/// Where an instruction is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// First line, 1-based.
    pub start_line: usize,
    /// Last line, 1-based, inclusive.
    pub end_line: usize,
    /// The instruction keyword.
    pub keyword: Span,
    /// The logical line as written (continuations joined).
    pub original: String,
}

/// One instruction inside a stage (or a global ARG).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// What it does.
    pub command: Command,
    /// Where it is.
    pub location: Location,
}

/// A `KEY=value` of ENV or LABEL, raw (quotes and variables unprocessed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key, raw.
    pub key: String,
    /// The value, raw.
    pub value: String,
    /// Written in the legacy `KEY value` form.
    pub legacy: bool,
    /// Where the pair is.
    pub span: Span,
}

/// One name of an ARG instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    /// The name, raw.
    pub key: String,
    /// The default, raw; `None` for a bare `ARG name`.
    pub value: Option<String>,
    /// Where it is.
    pub span: Span,
}

/// A command line of RUN, CMD or ENTRYPOINT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    /// Exec form: the argv. Shell form: one element, the text.
    pub args: Vec<String>,
    /// Shell form: to be run through the SHELL.
    pub prepend_shell: bool,
    /// Heredoc bodies attached to the line.
    pub files: Vec<Heredoc>,
}

/// `RUN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The command.
    pub command: CommandLine,
    /// `--mount` values, raw.
    pub mounts: Vec<Spanned<String>>,
    /// `--network`, raw.
    pub network: Option<Spanned<String>>,
    /// `--security`, raw.
    pub security: Option<Spanned<String>>,
}

/// Inline file content for COPY/ADD from a heredoc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceContent {
    /// The file name (the heredoc terminator).
    pub path: String,
    /// The body (tabs already chomped for `<<-`).
    pub data: String,
    /// Expand Dockerfile variables in the body.
    pub expand: bool,
}

/// `COPY` and `ADD` share their shape; ADD-only options are `None` or
/// empty for COPY and the other way round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    /// Source paths, raw.
    pub sources: Vec<Spanned<String>>,
    /// Heredoc sources.
    pub contents: Vec<SourceContent>,
    /// Destination, raw.
    pub dest: Spanned<String>,
    /// `--from` (COPY only).
    pub from: Option<Spanned<String>>,
    /// `--chown`.
    pub chown: Option<Spanned<String>>,
    /// `--chmod`.
    pub chmod: Option<Spanned<String>>,
    /// `--link`.
    pub link: bool,
    /// `--parents` (COPY only).
    pub parents: bool,
    /// `--exclude`, repeatable.
    pub excludes: Vec<Spanned<String>>,
    /// `--keep-git-dir` (ADD only).
    pub keep_git_dir: Option<bool>,
    /// `--checksum` (ADD only).
    pub checksum: Option<Spanned<String>>,
    /// `--unpack` (ADD only).
    pub unpack: Option<bool>,
}

/// HEALTHCHECK settings; durations zero when not given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Healthcheck {
    /// `["NONE"]`, `["CMD", …]` or `["CMD-SHELL", text]`.
    pub test: Vec<String>,
    /// `--interval`.
    pub interval: Duration,
    /// `--timeout`.
    pub timeout: Duration,
    /// `--start-period`.
    pub start_period: Duration,
    /// `--start-interval`.
    pub start_interval: Duration,
    /// `--retries`.
    pub retries: i32,
}

/// What an instruction does.
// COPY and ADD are much larger than the rest; a Dockerfile has a few
// hundred instructions at most, so boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// `ARG`.
    Arg(Vec<ArgDecl>),
    /// `ENV`.
    Env(Vec<KeyValue>),
    /// `LABEL`.
    Label(Vec<KeyValue>),
    /// `MAINTAINER`.
    Maintainer(Spanned<String>),
    /// `RUN`.
    Run(Run),
    /// `CMD`.
    Cmd(CommandLine),
    /// `ENTRYPOINT`.
    Entrypoint(CommandLine),
    /// `SHELL` (always JSON).
    Shell(Vec<String>),
    /// `COPY`.
    Copy(Copy),
    /// `ADD`.
    Add(Copy),
    /// `WORKDIR`.
    Workdir(Spanned<String>),
    /// `USER`.
    User(Spanned<String>),
    /// `STOPSIGNAL`.
    StopSignal(Spanned<String>),
    /// `EXPOSE` ports, sorted as BuildKit sorts them at parse time.
    Expose(Vec<Spanned<String>>),
    /// `VOLUME`.
    Volume(Vec<Spanned<String>>),
    /// `HEALTHCHECK`.
    Healthcheck(Healthcheck),
    /// `ONBUILD`: the trigger's text, for the image config.
    Onbuild(String),
}

impl Command {
    /// The instruction name, upper case.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Arg(_) => "ARG",
            Command::Env(_) => "ENV",
            Command::Label(_) => "LABEL",
            Command::Maintainer(_) => "MAINTAINER",
            Command::Run(_) => "RUN",
            Command::Cmd(_) => "CMD",
            Command::Entrypoint(_) => "ENTRYPOINT",
            Command::Shell(_) => "SHELL",
            Command::Copy(_) => "COPY",
            Command::Add(_) => "ADD",
            Command::Workdir(_) => "WORKDIR",
            Command::User(_) => "USER",
            Command::StopSignal(_) => "STOPSIGNAL",
            Command::Expose(_) => "EXPOSE",
            Command::Volume(_) => "VOLUME",
            Command::Healthcheck(_) => "HEALTHCHECK",
            Command::Onbuild(_) => "ONBUILD",
        }
    }
}

/// `FROM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    /// The base: image reference, stage name or `scratch`, raw.
    pub base: Spanned<String>,
    /// `AS name`, lower-cased.
    pub name: Option<String>,
    /// `--platform`, raw.
    pub platform: Option<Spanned<String>>,
}

/// A build stage: its FROM and what follows until the next FROM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// The FROM line.
    pub from: From,
    /// Where the FROM is.
    pub location: Location,
    /// The instructions of the stage.
    pub commands: Vec<Instruction>,
    /// Comments above the FROM.
    pub comments: Vec<String>,
}

/// A whole Dockerfile in typed form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stages {
    /// ARGs before the first FROM.
    pub global_args: Vec<Instruction>,
    /// The stages in file order.
    pub stages: Vec<Stage>,
    /// Warnings from the syntax layer and from here.
    pub warnings: Vec<Warning>,
}

const INSTRUCTIONS: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// Parses Dockerfile bytes all the way to stages.
pub fn parse_stages(bytes: &[u8]) -> Result<(Dockerfile, Stages), Error> {
    let df = crate::line::parse(bytes)?;
    let stages = to_stages(&df)?;
    Ok((df, stages))
}

/// Turns a syntax tree into global ARGs and stages.
pub fn to_stages(df: &Dockerfile) -> Result<Stages, Error> {
    let mut out = Stages {
        global_args: Vec::new(),
        stages: Vec::new(),
        warnings: df.warnings.clone(),
    };
    for node in &df.nodes {
        let typed = Typed::new(df, node);
        let parsed = typed.parse()?;
        match parsed {
            Parsed::From(from) => out.stages.push(Stage {
                from,
                location: typed.location(),
                commands: Vec::new(),
                comments: node.comments.clone(),
            }),
            Parsed::Command(command) => {
                let ins = Instruction {
                    command,
                    location: typed.location(),
                };
                match out.stages.last_mut() {
                    Some(stage) => stage.commands.push(ins),
                    None if matches!(ins.command, Command::Arg(_)) => out.global_args.push(ins),
                    None => return Err(typed.error(ErrorKind::NoStage, typed.keyword())),
                }
            }
        }
    }
    Ok(out)
}

#[allow(clippy::large_enum_variant)]
enum Parsed {
    From(From),
    Command(Command),
}

/// Where in the node an error points.
enum At<'a> {
    Keyword,
    Line,
    Word(&'a Word),
    Range(std::ops::Range<usize>),
}

struct Typed<'a> {
    df: &'a Dockerfile,
    node: &'a Node,
}

impl<'a> Typed<'a> {
    fn new(df: &'a Dockerfile, node: &'a Node) -> Self {
        Typed { df, node }
    }

    fn keyword(&self) -> At<'a> {
        At::Keyword
    }

    fn span(&self, at: At<'_>) -> Span {
        match at {
            At::Keyword => self.df.keyword_span(self.node),
            At::Line => self.df.node_span(self.node),
            At::Word(w) => self.df.word_span(self.node, w),
            At::Range(r) => self.df.logical_span(self.node, &r),
        }
    }

    fn error(&self, kind: ErrorKind, at: At<'_>) -> Error {
        Error {
            kind,
            span: self.span(at),
            lines: (self.node.start_line, self.node.end_line),
        }
    }

    fn location(&self) -> Location {
        Location {
            start_line: self.node.start_line,
            end_line: self.node.end_line,
            keyword: self.df.keyword_span(self.node),
            original: self.node.original.clone(),
        }
    }

    fn spanned(&self, w: &Word) -> Spanned<String> {
        Spanned {
            value: w.value.clone(),
            span: self.df.word_span(self.node, w),
        }
    }

    fn flags(&self, decl: &[(&'static str, Kind)]) -> Result<Flags<'a>, Error> {
        Flags::parse(&self.node.flags, decl).map_err(|(k, r)| self.error(k, At::Range(r)))
    }

    fn flag(&self, flags: &Flags<'_>, name: &str) -> Option<Spanned<String>> {
        flags.get(name).map(|g| Spanned {
            value: g.value.to_string(),
            span: self.span(At::Range(g.range.clone())),
        })
    }

    fn flag_all(&self, flags: &Flags<'_>, name: &str) -> Vec<Spanned<String>> {
        flags
            .all(name)
            .map(|g| Spanned {
                value: g.value.to_string(),
                span: self.span(At::Range(g.range.clone())),
            })
            .collect()
    }

    fn args_error(&self, msg: String) -> Error {
        self.error(ErrorKind::Arguments(msg), At::Line)
    }

    fn parse(&self) -> Result<Parsed, Error> {
        let n = self.node;
        let cmd = match crate::args::instruction_name(&n.keyword) {
            "from" => return self.from().map(Parsed::From),
            "env" => Command::Env(self.key_values("ENV", &[])?),
            "label" => Command::Label(self.key_values("LABEL", &[])?),
            "maintainer" => {
                let [w] = self.exactly_one("MAINTAINER")?;
                self.flags(&[])?;
                Command::Maintainer(self.spanned(w))
            }
            "add" => Command::Add(self.copy(true)?),
            "copy" => Command::Copy(self.copy(false)?),
            "onbuild" => self.onbuild()?,
            "workdir" => {
                let [w] = self.exactly_one("WORKDIR")?;
                self.flags(&[])?;
                Command::Workdir(self.spanned(w))
            }
            "run" => self.run()?,
            "cmd" => {
                self.flags(&[])?;
                Command::Cmd(self.command_line(false))
            }
            "entrypoint" => {
                self.flags(&[])?;
                Command::Entrypoint(self.command_line(true))
            }
            "healthcheck" => self.healthcheck()?,
            "expose" => {
                if n.args.is_empty() {
                    return Err(self.args_error("EXPOSE requires at least one argument".into()));
                }
                self.flags(&[])?;
                let mut ports: Vec<Spanned<String>> =
                    n.args.iter().map(|w| self.spanned(w)).collect();
                ports.sort_by(|a, b| a.value.cmp(&b.value));
                Command::Expose(ports)
            }
            "user" => {
                let [w] = self.exactly_one("USER")?;
                self.flags(&[])?;
                Command::User(self.spanned(w))
            }
            "volume" => {
                if n.args.is_empty() {
                    return Err(self.args_error("VOLUME requires at least one argument".into()));
                }
                self.flags(&[])?;
                let mut vols = Vec::new();
                for w in &n.args {
                    let v = w.value.trim();
                    if v.is_empty() {
                        return Err(
                            self.args_error("VOLUME specified can not be an empty string".into())
                        );
                    }
                    vols.push(Spanned {
                        value: v.to_string(),
                        span: self.span(At::Word(w)),
                    });
                }
                Command::Volume(vols)
            }
            "stopsignal" => {
                // BuildKit never parses STOPSIGNAL's flags: any are ignored.
                let [w] = self.exactly_one("STOPSIGNAL")?;
                Command::StopSignal(self.spanned(w))
            }
            "arg" => self.arg()?,
            "shell" => {
                self.flags(&[])?;
                let cl = self.command_line(false);
                if cl.args.is_empty() {
                    return Err(self.args_error("SHELL requires at least one argument".into()));
                }
                if !n.json {
                    return Err(self.error(ErrorKind::NotJson("SHELL"), At::Line));
                }
                Command::Shell(cl.args)
            }
            _ => {
                return Err(self.error(
                    ErrorKind::UnknownInstruction {
                        word: n.keyword.clone(),
                        suggestion: suggest(&n.keyword, INSTRUCTIONS, false),
                    },
                    At::Keyword,
                ));
            }
        };
        Ok(Parsed::Command(cmd))
    }

    fn exactly_one(&self, name: &str) -> Result<[&'a Word; 1], Error> {
        match self.node.args.as_slice() {
            [w] => Ok([w]),
            _ => Err(self.args_error(format!("{name} requires exactly one argument"))),
        }
    }

    fn from(&self) -> Result<From, Error> {
        let args = &self.node.args;
        let name = match args.as_slice() {
            [_] => None,
            [_, as_kw, name] if as_kw.value.eq_ignore_ascii_case("as") => {
                let lower = go_lower(&name.value);
                if !valid_stage_name(&lower) {
                    return Err(self.error(
                        ErrorKind::StageName(crate::quote::go_quote(&name.value)),
                        At::Word(name),
                    ));
                }
                Some(lower)
            }
            _ => {
                return Err(self.args_error("FROM requires either one or three arguments".into()));
            }
        };
        let flags = self.flags(&[("platform", Kind::String)])?;
        Ok(From {
            base: self.spanned(&args[0]),
            name,
            platform: self.flag(&flags, "platform"),
        })
    }

    fn key_values(
        &self,
        name: &'static str,
        decl: &[(&'static str, Kind)],
    ) -> Result<Vec<KeyValue>, Error> {
        self.flags(decl)?;
        let args = &self.node.args;
        if args.is_empty() {
            return Err(self.args_error(format!("{name} requires at least one argument")));
        }
        let mut out = Vec::new();
        for triple in args.chunks(3) {
            let [k, v, sep] = triple else {
                return Err(self.args_error(format!("Bad input to {name}, too many arguments")));
            };
            if k.value.is_empty() {
                return Err(self.args_error(format!("{name} names can not be blank")));
            }
            out.push(KeyValue {
                key: k.value.clone(),
                value: v.value.clone(),
                legacy: sep.value.is_empty(),
                span: self.span(At::Range(k.range.start..v.range.end.max(k.range.end))),
            });
        }
        Ok(out)
    }

    fn arg(&self) -> Result<Command, Error> {
        let args = &self.node.args;
        if args.is_empty() {
            return Err(self.args_error("ARG requires at least one argument".into()));
        }
        // BuildKit never parses ARG's flags: any are ignored.
        let mut out = Vec::new();
        for w in args {
            let (key, value) = match w.value.split_once('=') {
                Some((k, v)) => {
                    if k.is_empty() {
                        return Err(self.args_error("ARG names can not be blank".into()));
                    }
                    (k.to_string(), Some(v.to_string()))
                }
                None => (w.value.clone(), None),
            };
            out.push(ArgDecl {
                key,
                value,
                span: self.span(At::Word(w)),
            });
        }
        Ok(Command::Arg(out))
    }

    fn command_line(&self, empty_as_nil: bool) -> CommandLine {
        let n = self.node;
        let args = match n.args.as_slice() {
            [] => Vec::new(),
            [one] => vec![one.value.clone()],
            many if n.json => many.iter().map(|w| w.value.clone()).collect(),
            many => {
                let values: Vec<&str> = many.iter().map(|w| w.value.as_str()).collect();
                vec![values.join(" ")]
            }
        };
        // BuildKit keeps `ENTRYPOINT []` as nil and `CMD []` as empty; both
        // come out as an empty list here, the flag records the difference.
        let _ = empty_as_nil;
        CommandLine {
            args,
            prepend_shell: !n.json,
            files: n.heredocs.clone(),
        }
    }

    fn run(&self) -> Result<Command, Error> {
        let flags = self.flags(&[
            ("mount", Kind::Strings),
            ("network", Kind::String),
            ("security", Kind::String),
        ])?;
        let network = self.flag(&flags, "network");
        if let Some(net) = &network
            && !matches!(net.value.as_str(), "default" | "none" | "host")
        {
            return Err(Error {
                kind: ErrorKind::Arguments(format!(
                    "invalid network mode {}",
                    crate::quote::go_quote(&net.value)
                )),
                span: net.span,
                lines: (self.node.start_line, self.node.end_line),
            });
        }
        let security = self.flag(&flags, "security");
        if let Some(sec) = &security
            && !matches!(sec.value.as_str(), "sandbox" | "insecure")
        {
            return Err(Error {
                kind: ErrorKind::Arguments(format!("security {} is not valid", sec.value)),
                span: sec.span,
                lines: (self.node.start_line, self.node.end_line),
            });
        }
        Ok(Command::Run(Run {
            command: self.command_line(false),
            mounts: self.flag_all(&flags, "mount"),
            network,
            security,
        }))
    }

    fn copy(&self, add: bool) -> Result<Copy, Error> {
        let name = if add { "ADD" } else { "COPY" };
        let args = &self.node.args;
        if args.len() < 2 {
            return Err(self.args_error(format!(
                "{name} requires at least two arguments, but only one was provided. Destination could not be determined"
            )));
        }
        let flags = if add {
            self.flags(&[
                ("chown", Kind::String),
                ("chmod", Kind::String),
                ("link", Kind::Bool),
                ("keep-git-dir", Kind::Bool),
                ("checksum", Kind::String),
                ("unpack", Kind::Bool),
                ("exclude", Kind::Strings),
            ])?
        } else {
            self.flags(&[
                ("chown", Kind::String),
                ("from", Kind::String),
                ("chmod", Kind::String),
                ("link", Kind::Bool),
                ("exclude", Kind::Strings),
                ("parents", Kind::Bool),
            ])?
        };
        let (srcs, dest) = args.split_at(args.len() - 1);
        let dest = &dest[0];
        if parse_marker(&dest.value).ok().flatten().is_some() {
            return Err(self.error(ErrorKind::BadHeredoc(name, "a destination"), At::Word(dest)));
        }
        // BuildKit looks bodies up in a map by name, so of two heredocs
        // with one name the last one wins.
        let bodies: std::collections::HashMap<&str, &str> = self
            .node
            .heredocs
            .iter()
            .map(|h| (h.name.as_str(), h.content.as_str()))
            .collect();
        let mut sources = Vec::new();
        let mut contents = Vec::new();
        for src in srcs {
            match parse_marker(&src.value).ok().flatten() {
                Some(marker) => {
                    let body = bodies
                        .get(marker.name.as_str())
                        .map(|b| (*b).to_string())
                        .unwrap_or_default();
                    contents.push(SourceContent {
                        path: marker.name.clone(),
                        data: if marker.chomp { chomp(&body) } else { body },
                        expand: marker.expand,
                    });
                }
                None => sources.push(self.spanned(src)),
            }
        }
        Ok(Copy {
            sources,
            contents,
            dest: self.spanned(dest),
            from: self.flag(&flags, "from"),
            chown: self.flag(&flags, "chown"),
            chmod: self.flag(&flags, "chmod"),
            link: flags.bool("link").unwrap_or(false),
            parents: flags.bool("parents").unwrap_or(false),
            excludes: self.flag_all(&flags, "exclude"),
            keep_git_dir: flags.bool("keep-git-dir"),
            checksum: self.flag(&flags, "checksum"),
            unpack: flags.bool("unpack"),
        })
    }

    fn onbuild(&self) -> Result<Command, Error> {
        let Some(child) = &self.node.child else {
            return Err(self.args_error("ONBUILD requires at least one argument".into()));
        };
        self.flags(&[])?;
        let trigger = go_upper(child.keyword.trim());
        match trigger.as_str() {
            "ONBUILD" => {
                return Err(self.error(
                    ErrorKind::OnbuildTrigger(
                        "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into(),
                    ),
                    At::Line,
                ));
            }
            "MAINTAINER" | "FROM" => {
                return Err(self.error(
                    ErrorKind::OnbuildTrigger(format!(
                        "{trigger} isn't allowed as an ONBUILD trigger"
                    )),
                    At::Line,
                ));
            }
            _ => {}
        }
        // The stored expression is the line without its `ONBUILD` word,
        // with heredoc bodies appended, as BuildKit stores it: it removes
        // `(?i)^\s*ONBUILD\s*`, where `\s` is ASCII blanks and the case
        // folding leaves a keyword like `ONBUİLD` (parsed as ONBUILD by
        // Go's lower-casing) in place.
        let re2_space = |c: char| matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ');
        let line = self.node.original.trim_start_matches(re2_space);
        let after_kw = match line.get(..7) {
            Some(kw) if kw.eq_ignore_ascii_case("onbuild") => {
                line[7..].trim_start_matches(re2_space)
            }
            _ => self.node.original.as_str(),
        };
        let mut expr = after_kw.to_string();
        for h in &self.node.heredocs {
            expr.push('\n');
            expr.push_str(&h.content);
            expr.push_str(&h.name);
        }
        Ok(Command::Onbuild(expr))
    }

    fn healthcheck(&self) -> Result<Command, Error> {
        let n = self.node;
        let Some(first) = n.args.first() else {
            return Err(self.args_error("HEALTHCHECK requires at least one argument".into()));
        };
        let typ = go_upper(&first.value);
        let rest = &n.args[1..];
        if typ == "NONE" {
            if !rest.is_empty() {
                return Err(self.error(
                    ErrorKind::Healthcheck("HEALTHCHECK NONE takes no arguments".into()),
                    At::Line,
                ));
            }
            // BuildKit parses no flags for NONE: any are ignored.
            return Ok(Command::Healthcheck(Healthcheck {
                test: vec![typ],
                interval: Duration::ZERO,
                timeout: Duration::ZERO,
                start_period: Duration::ZERO,
                start_interval: Duration::ZERO,
                retries: 0,
            }));
        }
        let flags = self.flags(&[
            ("interval", Kind::String),
            ("timeout", Kind::String),
            ("start-period", Kind::String),
            ("start-interval", Kind::String),
            ("retries", Kind::String),
        ])?;
        if typ != "CMD" {
            return Err(self.error(
                ErrorKind::Healthcheck(format!(
                    "Unknown type {} in HEALTHCHECK (try CMD)",
                    crate::quote::go_quote(&typ)
                )),
                At::Word(first),
            ));
        }
        let values: Vec<String> = rest.iter().map(|w| w.value.clone()).collect();
        let cmd = if n.json || values.is_empty() {
            values
        } else {
            vec![values.join(" ")]
        };
        if cmd.is_empty() {
            return Err(self.error(
                ErrorKind::Healthcheck("Missing command after HEALTHCHECK CMD".into()),
                At::Line,
            ));
        }
        let mut test = vec![if n.json { "CMD" } else { "CMD-SHELL" }.to_string()];
        test.extend(cmd);
        let interval = |name: &str| -> Result<Duration, Error> {
            let Some(g) = flags.get(name) else {
                return Ok(Duration::ZERO);
            };
            if g.value.is_empty() {
                return Ok(Duration::ZERO);
            }
            let bad =
                |msg: String| self.error(ErrorKind::Healthcheck(msg), At::Range(g.range.clone()));
            let d = parse_go_duration_msg(&g.value).map_err(bad)?;
            if d.duration.is_zero() {
                return Ok(Duration::ZERO);
            }
            if d.negative || d.duration < Duration::from_millis(1) {
                return Err(bad(format!(
                    "Interval {} cannot be less than 1ms",
                    crate::quote::go_quote(name)
                )));
            }
            Ok(d.duration)
        };
        let retries = match flags.get("retries") {
            Some(g) if !g.value.is_empty() => {
                let bad = |msg: String| {
                    self.error(ErrorKind::Healthcheck(msg), At::Range(g.range.clone()))
                };
                // Go tells a number too big for 32 bits from one that is
                // no number at all, however many digits it has.
                let digits = g.value.strip_prefix(['+', '-']).unwrap_or(&g.value);
                let syntax_ok = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
                let r: i64 = match g.value.parse() {
                    Ok(r) => r,
                    Err(_) if syntax_ok => i64::MAX,
                    Err(_) => {
                        return Err(bad(format!(
                            "strconv.ParseInt: parsing {}: invalid syntax",
                            crate::quote::go_quote(&g.value)
                        )));
                    }
                };
                let r = i32::try_from(r).map_err(|_| {
                    bad(format!(
                        "strconv.ParseInt: parsing {}: value out of range",
                        crate::quote::go_quote(&g.value)
                    ))
                })?;
                if r < 0 {
                    return Err(bad(format!("--retries cannot be negative ({r})")));
                }
                r
            }
            _ => 0,
        };
        Ok(Command::Healthcheck(Healthcheck {
            test,
            interval: interval("interval")?,
            timeout: interval("timeout")?,
            start_period: interval("start-period")?,
            start_interval: interval("start-interval")?,
            retries,
        }))
    }
}

/// `^[a-z][a-z0-9-_.]*$`
fn valid_stage_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests;
