//! Lowering: typed Dockerfile instructions to the op graph and the image
//! config, with Docker's semantics. This is the only part of the solver
//! that knows the parser.
//!
//! Each reachable stage is walked instruction by instruction (BuildKit's
//! `dispatch`): filesystem instructions (RUN, COPY, WORKDIR) add vertices,
//! the others change the config carried beside the graph. Words are
//! expanded here, against the ARG and ENV state of the stage.

mod config;
mod copy;
mod mount;
mod run;
mod scope;

pub(crate) use mount::context_pattern;
pub(crate) use run::PIPES_DIR;

use std::collections::BTreeMap;

use kiln_cache::image::History;
use kiln_cache::{Digest, ImageConfig};
use kiln_parser::instruction::{Command, Instruction, Spanned, Stage, Stages};
use kiln_parser::shell::Env;
use kiln_parser::{Dockerfile, Span};

use crate::error::{Error, Result};
use crate::op::{ContextSource, Dag, ImageSource, Op, VertexId, VertexMeta};
use scope::{GlobalArgs, PROXY_ARGS, Vars, lexer};

/// Finds base images by name; the CLI implements it over the store.
pub trait ImageResolver {
    /// Looks up an (expanded) image name.
    fn resolve(&self, name: &str) -> std::result::Result<ResolvedImage, String>;
}

/// A base image as lowering needs it.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// Normalised full name.
    pub name: String,
    /// Manifest digest.
    pub manifest: Digest,
    /// The config.
    pub config: ImageConfig,
}

/// Build options that lowering uses.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--build-arg` values.
    pub build_args: BTreeMap<String, String>,
    /// `--target`.
    pub target: Option<String>,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--no-cache-filter`: stages (by name or index) built without the
    /// cache.
    pub no_cache_filter: Vec<String>,
    /// `--allow network.host`: `RUN --network=host` may use the host's
    /// network. Only the command line grants it, never the Dockerfile.
    pub allow_network_host: bool,
}

/// The result of lowering.
#[derive(Debug)]
pub struct Lowered {
    /// The graph.
    pub dag: Dag,
    /// The vertex whose result is the image's root filesystem.
    pub target: VertexId,
    /// The image config (its `rootfs` is filled from the result).
    pub config: ImageConfig,
    /// The build-context vertex, if any COPY reads the context.
    pub context: Option<VertexId>,
    /// The context paths (patterns) the build reads.
    pub context_paths: Vec<String>,
    /// Base images the build uses, for progress (`load metadata for …`).
    pub base_images: Vec<String>,
    /// Warnings for the user.
    pub warnings: Vec<String>,
    /// `SOURCE_DATE_EPOCH` (Unix seconds): the image's creation time and
    /// that of its new history entries.
    pub epoch: Option<i64>,
}

/// The state of a stage after its last instruction: what `FROM <stage>`
/// inherits and `COPY --from` reads.
#[derive(Debug, Clone)]
struct StageOut {
    vertex: VertexId,
    config: ImageConfig,
    /// Declared ARGs in declaration order with their values.
    args: Vec<(String, Option<String>)>,
    run_env: Vars,
    shell: Vec<String>,
}

struct Lowering<'a> {
    df: &'a Dockerfile,
    stages: &'a [Stage],
    opts: &'a Options,
    images: &'a dyn ImageResolver,
    global: GlobalArgs,
    dag: Dag,
    done: Vec<Option<StageOut>>,
    in_progress: Vec<bool>,
    context: Option<VertexId>,
    context_paths: Vec<String>,
    scratch: Option<VertexId>,
    base_images: Vec<String>,
    warnings: Vec<String>,
    multi_stage: bool,
    /// `SOURCE_DATE_EPOCH`, when the build sets it.
    epoch: Option<i64>,
}

/// An error pointing at a span of an instruction.
pub(crate) fn at(span: Span, ins_lines: (usize, usize), message: impl Into<String>) -> Error {
    Error::Dockerfile {
        message: message.into(),
        span,
        lines: ins_lines,
    }
}

fn lines(ins: &Instruction) -> (usize, usize) {
    (ins.location.start_line, ins.location.end_line)
}

/// Lowers a parsed Dockerfile.
pub fn lower(
    df: &Dockerfile,
    stages: &Stages,
    opts: &Options,
    images: &dyn ImageResolver,
) -> Result<Lowered> {
    if stages.stages.is_empty() {
        return Err(Error::Usage(
            "dockerfile contains no stages to build".into(),
        ));
    }
    let target_index = match &opts.target {
        None => stages.stages.len() - 1,
        Some(t) => {
            let t = t.to_lowercase();
            stages
                .stages
                .iter()
                .position(|s| s.from.name.as_deref() == Some(t.as_str()))
                .ok_or_else(|| {
                    let names: Vec<&str> = stages
                        .stages
                        .iter()
                        .filter_map(|s| s.from.name.as_deref())
                        .collect();
                    let hint = closest(&t, &names)
                        .map(|n| format!(" (did you mean {n}?)"))
                        .unwrap_or_default();
                    Error::Usage(format!("target stage {t:?} could not be found{hint}"))
                })?
        }
    };
    for f in &opts.no_cache_filter {
        let f = f.to_lowercase();
        let known = stages
            .stages
            .iter()
            .enumerate()
            .any(|(i, s)| s.from.name.as_deref() == Some(f.as_str()) || f == i.to_string());
        if !known {
            return Err(Error::Usage(format!(
                "--no-cache-filter: no stage named {f:?}"
            )));
        }
    }
    let target_name = stages.stages[target_index]
        .from
        .name
        .clone()
        .unwrap_or_else(|| "default".to_string());
    let mut l = Lowering {
        df,
        stages: &stages.stages,
        opts,
        images,
        global: GlobalArgs::new(&target_name),
        dag: Dag::new(),
        done: vec![None; stages.stages.len()],
        in_progress: vec![false; stages.stages.len()],
        context: None,
        context_paths: Vec::new(),
        scratch: None,
        base_images: Vec::new(),
        warnings: Vec::new(),
        multi_stage: stages.stages.len() > 1,
        epoch: None,
    };
    l.global_args(&stages.global_args)?;
    l.epoch = source_date_epoch(&l)?;
    // Stages the target needs are lowered in file order, so that a vertex
    // two stages share carries the first stage's step name, and stages
    // the target does not need are never looked at (MS-1).
    for i in l.reachable(target_index) {
        l.stage(i)?;
    }
    let out = l.stage(target_index)?;
    let mut config = out.config;
    // The final config never carries the base's creation time (IMG-2).
    config.created = None;
    Ok(Lowered {
        context: l.context,
        context_paths: l.context_paths,
        dag: l.dag,
        target: out.vertex,
        config,
        base_images: l.base_images,
        warnings: l.warnings,
        epoch: l.epoch,
    })
}

/// `SOURCE_DATE_EPOCH` from a build-arg, or else from a global ARG's
/// default (SDE-1). `context` asks for the context's own time (BuildKit:
/// a git commit's, an archive's newest file); kiln does not take it yet,
/// so it means unset, as it does in BuildKit for a local context.
fn source_date_epoch(l: &Lowering) -> Result<Option<i64>> {
    const KEY: &str = "SOURCE_DATE_EPOCH";
    let value = match l.opts.build_args.get(KEY) {
        Some(v) => v.clone(),
        None => match l.global.declared.get(KEY) {
            Some(Some(v)) => v.clone(),
            _ => return Ok(None),
        },
    };
    if value.is_empty() || value == "context" {
        return Ok(None);
    }
    if l.stages
        .iter()
        .any(|s| s.from.name.as_deref() == Some(value.to_lowercase().as_str()))
    {
        return Err(Error::Usage(format!(
            "{KEY}={value}: taking the time from a stage is not supported; give Unix seconds"
        )));
    }
    value
        .parse::<i64>()
        .ok()
        .filter(|t| chrono::DateTime::from_timestamp(*t, 0).is_some())
        .map(Some)
        .ok_or_else(|| Error::Usage(format!("invalid {KEY}: {value}")))
}

fn closest(value: &str, options: &[&str]) -> Option<String> {
    options
        .iter()
        .map(|o| (levenshtein(value, o), o))
        .filter(|(d, _)| *d < 3)
        .min_by_key(|(d, _)| *d)
        .map(|(_, o)| o.to_string())
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// State while walking one stage.
struct StageState {
    vertex: VertexId,
    config: ImageConfig,
    args: Vec<(String, Option<String>)>,
    run_env: Vars,
    shell: Vec<String>,
    cmd_set: bool,
    /// This stage skips the cache (`--no-cache`, `--no-cache-filter`).
    no_cache: bool,
    step: usize,
    total: usize,
    prefix: String,
}

impl StageState {
    fn step_name(&mut self, text: &str) -> String {
        self.step += 1;
        let width = self.total.to_string().len();
        if self.prefix.is_empty() {
            format!("[{:>width$}/{}] {text}", self.step, self.total)
        } else {
            format!(
                "[{} {:>width$}/{}] {text}",
                self.prefix, self.step, self.total
            )
        }
    }

    fn history(&mut self, created_by: String, empty_layer: bool) {
        self.config.history.push(History {
            created_by: Some(created_by),
            comment: Some("buildkit.dockerfile.v0".to_string()),
            empty_layer,
            ..History::default()
        });
    }

    /// The variables words are expanded against: the run environment.
    fn env(&self) -> &Vars {
        &self.run_env
    }
}

fn default_shell() -> Vec<String> {
    vec!["/bin/sh".to_string(), "-c".to_string()]
}

/// Counts the instructions that make a `[i/n]` step.
fn step_count(stage: &Stage) -> usize {
    1 + stage
        .commands
        .iter()
        .filter(|c| {
            matches!(
                c.command,
                Command::Run(_) | Command::Copy(_) | Command::Add(_) | Command::Workdir(_)
            )
        })
        .count()
}

impl<'a> Lowering<'a> {
    /// Expands a word of an instruction against `env`.
    fn expand(&self, w: &Spanned<String>, env: &dyn Env, ins: &Instruction) -> Result<String> {
        self.expand_at(&w.value, w.span, env, lines(ins))
    }

    /// Expands raw text written at `span`, within the lines `at_lines`.
    fn expand_at(
        &self,
        raw: &str,
        span: Span,
        env: &dyn Env,
        at_lines: (usize, usize),
    ) -> Result<String> {
        lexer(self.df.escape)
            .process_word(raw, env)
            .map(|e| e.value)
            .map_err(|e| at(span, at_lines, format!("failed to process {raw:?}: {e}")))
    }

    fn global_args(&mut self, args: &[Instruction]) -> Result<()> {
        for ins in args {
            let Command::Arg(decls) = &ins.command else {
                continue;
            };
            for d in decls {
                let key = self.expand_at(&d.key, d.span, &self.global.env, lines(ins))?;
                let value = match self.opts.build_args.get(&key) {
                    Some(v) => Some(v.clone()),
                    None => match &d.value {
                        Some(raw) => {
                            Some(self.expand_at(raw, d.span, &self.global.env, lines(ins))?)
                        }
                        None => None,
                    },
                };
                if let Some(v) = &value {
                    self.global.env.set(&key, v);
                }
                self.global.declared.insert(key, value);
            }
        }
        Ok(())
    }

    /// Indices of the stages `target` depends on (itself included), in
    /// file order: through FROM and `COPY --from`. Names that do not
    /// expand are left for lowering to report.
    fn reachable(&self, target: usize) -> Vec<usize> {
        let mut seen = vec![false; self.stages.len()];
        let mut stack = vec![target];
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            let stage = &self.stages[i];
            let base = lexer(self.df.escape)
                .process_word(&stage.from.base.value, &self.global.env)
                .map(|e| e.value.to_lowercase())
                .unwrap_or_default();
            let mut deps: Vec<usize> = self
                .stages
                .iter()
                .position(|s| s.from.name.as_deref() == Some(base.as_str()))
                .into_iter()
                .collect();
            for ins in &stage.commands {
                if let Command::Copy(c) = &ins.command
                    && let Some(from) = &c.from
                {
                    let v = from.value.to_lowercase();
                    let dep = match v.parse::<usize>() {
                        Ok(n) if v.bytes().all(|b| b.is_ascii_digit()) => Some(n),
                        _ => self
                            .stages
                            .iter()
                            .position(|s| s.from.name.as_deref() == Some(v.as_str())),
                    };
                    deps.extend(dep.filter(|&d| d < i));
                }
                // `RUN --mount=from=` names a stage (never an index).
                if let Command::Run(r) = &ins.command {
                    for m in &r.mounts {
                        for name in mount::from_names(&m.value) {
                            let name = name.to_lowercase();
                            let dep = self
                                .stages
                                .iter()
                                .position(|s| s.from.name.as_deref() == Some(name.as_str()));
                            deps.extend(dep.filter(|&d| d < i));
                        }
                    }
                }
            }
            stack.extend(deps.into_iter().filter(|&d| !seen[d]));
        }
        (0..self.stages.len()).filter(|&i| seen[i]).collect()
    }

    fn scratch(&mut self) -> VertexId {
        *self
            .scratch
            .get_or_insert_with(|| self.dag.add(Op::Scratch, vec![], VertexMeta::default()))
    }

    /// Lowers stage `i` (and the stages it needs), once.
    fn stage(&mut self, i: usize) -> Result<StageOut> {
        if let Some(out) = &self.done[i] {
            return Ok(out.clone());
        }
        let stage = &self.stages[i];
        let from_lines = (stage.location.start_line, stage.location.end_line);
        if self.in_progress[i] {
            return Err(at(
                stage.from.base.span,
                from_lines,
                format!(
                    "circular dependency detected on stage: {}",
                    stage_label(stage, i)
                ),
            ));
        }
        self.in_progress[i] = true;
        let prefix = if self.multi_stage {
            stage_label(stage, i)
        } else {
            String::new()
        };
        if let Some(p) = &stage.from.platform {
            let expanded = lexer(self.df.escape)
                .process_word(&p.value, &self.global.env)
                .map_err(|e| {
                    at(
                        p.span,
                        from_lines,
                        format!("failed to process {:?}: {e}", p.value),
                    )
                })?;
            let platform = expanded.value;
            if platform.is_empty() {
                // BuildKit's message, with its guess at a misspelt name.
                let known: Vec<&str> = self.global.env.names().collect();
                let hint = expanded
                    .unset
                    .iter()
                    .find_map(|u| closest(u, &known))
                    .map(|n| format!(" (did you mean {n}?)"))
                    .unwrap_or_default();
                return Err(at(
                    p.span,
                    from_lines,
                    format!("empty platform value from expression {}{hint}", p.value),
                ));
            }
            let host = format!("linux/{}", kiln_cache::image::host_architecture());
            if platform != host {
                return Err(at(
                    p.span,
                    from_lines,
                    format!("FROM --platform={platform}: kiln builds for {host} only"),
                ));
            }
        }
        let base = self.expand_at(
            &stage.from.base.value,
            stage.from.base.span,
            &self.global.env,
            from_lines,
        )?;
        if base.is_empty() {
            return Err(at(
                stage.from.base.span,
                from_lines,
                format!("base name ({}) should not be blank", stage.from.base.value),
            ));
        }
        let total = step_count(stage);
        let mut st = StageState {
            vertex: VertexId(petgraph::stable_graph::NodeIndex::new(0)),
            config: ImageConfig::scratch(),
            args: Vec::new(),
            run_env: Vars::default(),
            shell: default_shell(),
            cmd_set: false,
            no_cache: self.opts.no_cache
                || self.opts.no_cache_filter.iter().any(|f| {
                    let f = f.to_lowercase();
                    stage.from.name.as_deref() == Some(f.as_str()) || f == i.to_string()
                }),
            step: 0,
            total,
            prefix,
        };
        let lower_base = base.to_lowercase();
        let parent_stage = self
            .stages
            .iter()
            .position(|s| s.from.name.as_deref() == Some(lower_base.as_str()));
        match parent_stage {
            Some(p) => {
                let out = self.stage(p)?;
                st.vertex = out.vertex;
                st.config = out.config;
                st.args = out.args;
                st.run_env = out.run_env;
                st.shell = out.shell;
                st.step_name("FROM");
            }
            None if lower_base == "scratch" => {
                st.vertex = self.scratch();
                st.config = ImageConfig::scratch();
                st.run_env = Vars::from_env_list(&st.config.config.env);
                st.step_name("FROM scratch");
            }
            None => {
                let img = self
                    .images
                    .resolve(&base)
                    .map_err(|m| at(stage.from.base.span, from_lines, m))?;
                let name = st.step_name(&format!("FROM {}@{}", img.name, img.manifest));
                if !self.base_images.contains(&img.name) {
                    self.base_images.push(img.name.clone());
                }
                st.vertex = self.dag.add(
                    Op::Image(ImageSource {
                        name: img.name.clone(),
                        manifest: img.manifest,
                        diff_ids: img.config.rootfs.diff_ids.clone(),
                    }),
                    vec![],
                    VertexMeta {
                        name,
                        lines: Some(from_lines),
                        no_cache: false,
                    },
                );
                let mut config = img.config.clone();
                config.created = None;
                // A Linux image always gets a PATH (ENV-4).
                if config.env("PATH").is_none() {
                    config
                        .config
                        .env
                        .insert(0, format!("PATH={}", kiln_cache::image::DEFAULT_PATH));
                }
                if config.config.working_dir.is_empty() {
                    config.config.working_dir = "/".to_string();
                }
                if !config.config.shell.is_empty() {
                    st.shell = config.config.shell.clone();
                }
                st.run_env = Vars::from_env_list(&config.config.env);
                st.config = config;
            }
        }
        // The base's ONBUILD triggers run right after FROM and are cleared,
        // so grandchildren never see them (semantics.md OB-1).
        let triggers = std::mem::take(&mut st.config.config.on_build);
        if !triggers.is_empty() {
            self.run_triggers(&mut st, &triggers, i, stage.from.base.span, from_lines)?;
        }
        for ins in &stage.commands {
            self.dispatch(&mut st, ins, i)?;
        }
        let out = StageOut {
            vertex: st.vertex,
            config: st.config,
            args: st.args,
            run_env: st.run_env,
            shell: st.shell,
        };
        self.in_progress[i] = false;
        self.done[i] = Some(out.clone());
        Ok(out)
    }

    /// Parses and dispatches a base image's ONBUILD triggers. Their errors
    /// point at the FROM line that brought them.
    fn run_triggers(
        &mut self,
        st: &mut StageState,
        triggers: &[String],
        stage_index: usize,
        from_span: Span,
        from_lines: (usize, usize),
    ) -> Result<()> {
        let text = format!("FROM scratch\n{}\n", triggers.join("\n"));
        let wrap = |message: String| {
            at(
                from_span,
                from_lines,
                format!("ONBUILD trigger of the base image: {message}"),
            )
        };
        let (_, parsed) =
            kiln_parser::parse_stages(text.as_bytes()).map_err(|e| wrap(e.to_string()))?;
        let Some(trigger_stage) = parsed.stages.into_iter().next() else {
            return Ok(());
        };
        st.total += step_count(&trigger_stage) - 1;
        for mut ins in trigger_stage.commands {
            if matches!(ins.command, Command::Onbuild(_)) {
                return Err(wrap(
                    "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".to_string(),
                ));
            }
            ins.location.start_line = from_lines.0;
            ins.location.end_line = from_lines.1;
            self.dispatch(st, &ins, stage_index).map_err(|e| match e {
                Error::Dockerfile { message, .. } => wrap(message),
                other => other,
            })?;
        }
        Ok(())
    }

    fn dispatch(
        &mut self,
        st: &mut StageState,
        ins: &Instruction,
        stage_index: usize,
    ) -> Result<()> {
        match &ins.command {
            Command::Env(pairs) => {
                // All words see the values from before this line (ENV-1).
                let before = st.env().clone();
                let mut shown = Vec::new();
                let mut config_env = Vars::from_env_list(&st.config.config.env);
                for kv in pairs {
                    let key = self.expand_at(&kv.key, kv.span, &before, lines(ins))?;
                    let value = self.expand_at(&kv.value, kv.span, &before, lines(ins))?;
                    st.run_env.set(&key, &value);
                    config_env.set(&key, &value);
                    shown.push(format!("{key}={value}"));
                }
                st.config.config.env = config_env.to_env_list();
                st.history(format!("ENV {}", shown.join(" ")), true);
            }
            Command::Arg(decls) => {
                let mut shown = Vec::new();
                for d in decls {
                    let key = self.expand_at(&d.key, d.span, st.env(), lines(ins))?;
                    let value = match self.opts.build_args.get(&key) {
                        Some(v) => Some(v.clone()),
                        None => match &d.value {
                            Some(raw) => Some(self.expand_at(raw, d.span, st.env(), lines(ins))?),
                            None => self.global.value(&key).flatten(),
                        },
                    };
                    if let Some(v) = &value {
                        st.run_env.set(&key, v);
                    }
                    match st.args.iter_mut().find(|(k, _)| *k == key) {
                        Some(slot) => slot.1 = value.clone().or(slot.1.take()),
                        None => st.args.push((key.clone(), value.clone())),
                    }
                    shown.push(match &value {
                        Some(v) => format!("{key}={v}"),
                        None => key,
                    });
                }
                st.history(format!("ARG {}", shown.join(" ")), true);
            }
            Command::Run(r) => run::lower_run(self, st, ins, r, stage_index)?,
            Command::Copy(c) => copy::lower_copy(self, st, ins, c, stage_index, false)?,
            Command::Add(c) => copy::lower_copy(self, st, ins, c, stage_index, true)?,
            Command::Workdir(w) => copy::lower_workdir(self, st, ins, w)?,
            _ => config::lower_config(self, st, ins)?,
        }
        Ok(())
    }

    /// The context vertex, made on first use; `paths` are the patterns
    /// this COPY reads.
    fn context(&mut self, paths: &[String]) -> VertexId {
        for p in paths {
            if !self.context_paths.contains(p) {
                self.context_paths.push(p.clone());
            }
        }
        // The context is one vertex per build however many COPYs read it:
        // its identity is fixed and its result covers every path read.
        *self.context.get_or_insert_with(|| {
            self.dag.add(
                Op::Context(ContextSource {
                    follow_paths: Vec::new(),
                }),
                vec![],
                VertexMeta {
                    name: "[internal] load build context".to_string(),
                    lines: None,
                    no_cache: true,
                },
            )
        })
    }

    fn vertex_meta(&self, no_cache: bool, name: String, ins: &Instruction) -> VertexMeta {
        VertexMeta {
            name,
            lines: Some(lines(ins)),
            no_cache,
        }
    }

    /// RUN's environment: the run env plus proxy build args nobody
    /// declared.
    fn proxy_env(&self, st: &StageState) -> Vec<String> {
        PROXY_ARGS
            .iter()
            .filter(|k| st.run_env.get(k).is_none())
            .filter_map(|k| self.opts.build_args.get(*k).map(|v| format!("{k}={v}")))
            .collect()
    }
}

fn stage_label(stage: &Stage, i: usize) -> String {
    stage
        .from
        .name
        .clone()
        .unwrap_or_else(|| format!("stage-{i}"))
}

#[cfg(test)]
mod tests;
