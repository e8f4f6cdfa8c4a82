//! RUN: an exec vertex on the stage's root filesystem, with the shell
//! wrapping, environment and history line BuildKit gives it.

use kiln_parser::instruction::{Instruction, Run};

use super::{Lowering, StageState, at, lines};
use crate::error::Result;
use crate::op::{ExecOp, NetworkMode, Op};

/// The hostname of build sandboxes, as BuildKit names it, so that scripts
/// that look at it behave the same.
pub(crate) const SANDBOX_HOSTNAME: &str = "buildkitsandbox";

pub(super) fn lower_run(
    l: &mut Lowering<'_>,
    st: &mut StageState,
    ins: &Instruction,
    r: &Run,
    stage_index: usize,
) -> Result<()> {
    if let Some(s) = &r.security {
        return Err(at(
            s.span,
            lines(ins),
            "RUN --security is not supported yet",
        ));
    }
    // kiln's RUN steps are offline: the default network is `none`. The
    // host's network is an entitlement the command line grants.
    let network = match &r.network {
        Some(n) if n.value == "host" => {
            if !l.opts.allow_network_host {
                return Err(at(
                    n.span,
                    lines(ins),
                    "network.host is not allowed: RUN --network=host needs `kiln build --allow network.host`",
                ));
            }
            NetworkMode::Host
        }
        _ => NetworkMode::None,
    };
    let mut cmd = r.command.args.clone();
    let mut pipes = Vec::new();
    let mut summary = None;
    if !r.command.files.is_empty() {
        if !r.command.prepend_shell {
            return Err(at(
                ins.location.keyword,
                lines(ins),
                "heredocs need the shell form of RUN",
            ));
        }
        let text = cmd.first().cloned().unwrap_or_default();
        let only_heredoc = r.command.files.len() == 1
            && kiln_parser::heredoc::parse_marker(text.trim())
                .ok()
                .flatten()
                .is_some();
        let script = if only_heredoc {
            let doc = &r.command.files[0];
            let body = if doc.chomp {
                kiln_parser::heredoc::chomp(&doc.content)
            } else {
                doc.content.clone()
            };
            summary = Some(summarize(&doc.content));
            if body.starts_with("#!") {
                // A script with an interpreter line is mounted as an
                // executable file and run as such (semantics.md HD-1).
                pipes.push((doc.name.clone(), body));
                format!("{PIPES_DIR}/{}", doc.name)
            } else {
                body
            }
        } else {
            let mut s = text;
            for doc in &r.command.files {
                s.push('\n');
                s.push_str(&doc.content);
                s.push_str(&doc.name);
            }
            s
        };
        cmd = vec![script];
    }
    let args: Vec<String> = if r.command.prepend_shell {
        let mut a = st.shell.clone();
        a.extend(cmd);
        a
    } else {
        cmd
    };
    if args.is_empty() {
        return Err(at(ins.location.keyword, lines(ins), "RUN needs a command"));
    }
    let env = st.run_env.to_env_list();
    let cwd = match st.config.config.working_dir.as_str() {
        "" => "/".to_string(),
        w => w.to_string(),
    };
    let text = ins
        .location
        .original
        .trim_start()
        .split_once(char::is_whitespace)
        .map(|(_, rest)| rest.trim().to_string())
        .unwrap_or_default();
    let name = match summary {
        Some(s) => st.step_name(&format!("RUN {text} ({s})")),
        None => st.step_name(&format!("RUN {text}")),
    };
    let (mounts, inputs) = super::mount::lower_mounts(l, st, ins, &r.mounts, stage_index)?;
    let op = Op::Exec(ExecOp {
        files: pipes,
        args: args.clone(),
        env,
        proxy_env: l.proxy_env(st),
        cwd,
        user: st.config.config.user.clone(),
        network,
        hostname: SANDBOX_HOSTNAME.to_string(),
        mounts,
    });
    st.vertex = l.dag.add(op, inputs, l.vertex_meta(st.no_cache, name, ins));
    st.history(run_history(st, &args), false);
    Ok(())
}

/// Where heredoc scripts with a `#!` line are mounted, as in BuildKit.
pub(crate) const PIPES_DIR: &str = "/dev/pipes";

/// A heredoc's first line, with `...` when there is more (BuildKit's
/// `summarizeHeredoc`, for step names).
fn summarize(doc: &str) -> String {
    let doc = doc.trim().replace("\r\n", "\n");
    let mut lines = doc.split('\n');
    let first = lines.next().unwrap_or_default().to_string();
    if lines.next().is_some() {
        format!("{first}...")
    } else {
        first
    }
}

/// `RUN |N K=V … argv # buildkit` (semantics.md RUN-4).
///
/// Every ARG declared in scope counts, valued or not, with the value the
/// RUN sees (a later ENV of the same name wins), as BuildKit's
/// `runCommandString` lists them.
fn run_history(st: &StageState, args: &[String]) -> String {
    let listed: Vec<String> = st
        .args
        .iter()
        .map(|(k, v)| {
            let value = st
                .run_env
                .get(k)
                .map(str::to_string)
                .or_else(|| v.clone())
                .unwrap_or_default();
            format!("{k}={value}")
        })
        .collect();
    let mut s = String::from("RUN ");
    if !listed.is_empty() {
        s.push_str(&format!("|{} {} ", listed.len(), listed.join(" ")));
    }
    s.push_str(&args.join(" "));
    s.push_str(" # buildkit");
    s
}
