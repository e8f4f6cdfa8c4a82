//! RUN: a sandboxed process on a writable snapshot; its changes become the
//! step's layer.

use std::io::{BufRead, BufReader, Read};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use kiln_cache::{Mountable, Snapshot};
use kiln_executor::{EtcFile, Network, Process, Rootfs, SandboxSpec, Stdio, StdioSpec};
use tokio_util::sync::CancellationToken;

use super::{Output, RealWorker, run_mount};
use crate::error::{Error, Result};
use crate::op::{ExecOp, NetworkMode, Vertex, VertexId};
use crate::progress::{Event, Stream};
use crate::schedule::Resolved;

/// Lines of output kept for the error report of a failed step.
const TAIL_LINES: usize = 10;

/// The sandbox's view of a snapshot's mount description (the executor
/// knows paths, not snapshots, so the mapping lives here).
pub fn rootfs_of(m: Mountable) -> Rootfs {
    match m {
        Mountable::Overlay {
            lowers,
            upper,
            work,
        } => Rootfs::Overlay {
            lowerdirs: lowers,
            upperdir: upper,
            workdir: work,
        },
        Mountable::Dir(d) => Rootfs::Dir(d),
    }
}

fn hosts_file(hostname: &str) -> String {
    format!("127.0.0.1\tlocalhost {hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n")
}

/// `/etc/hosts` naming the sandbox, and with the host's network the
/// host's `/etc/resolv.conf`, over the image's own (a build step never
/// creates them: its writes become layers).
fn etc_files(e: &ExecOp) -> Vec<EtcFile> {
    let mut files = vec![EtcFile {
        path: "/etc/hosts".to_string(),
        content: hosts_file(&e.hostname),
        create_missing: false,
    }];
    if e.network == NetworkMode::Host
        && let Ok(resolv) = std::fs::read_to_string("/etc/resolv.conf")
    {
        files.push(EtcFile {
            path: "/etc/resolv.conf".to_string(),
            content: resolv,
            create_missing: false,
        });
    }
    files
}

/// The step's environment: the op's, its proxy variables, then secrets
/// given as variables, each replacing a variable of its name (a process
/// sees the first of two).
fn step_env(e: &ExecOp, secrets: &[String]) -> Vec<String> {
    let name = |kv: &str| kv.split_once('=').map_or(kv, |(k, _)| k).to_string();
    let replaced: std::collections::HashSet<String> = secrets.iter().map(|s| name(s)).collect();
    e.env
        .iter()
        .chain(&e.proxy_env)
        .filter(|kv| !replaced.contains(&name(kv)))
        .chain(secrets)
        .cloned()
        .collect()
}

impl RealWorker {
    pub(super) fn run_exec(
        &self,
        id: VertexId,
        v: &Vertex,
        e: &ExecOp,
        inputs: &[Arc<Resolved<Output>>],
        started: Option<Instant>,
        cancel: &CancellationToken,
    ) -> Result<Snapshot> {
        let parent = inputs.first().and_then(|r| r.output.snapshot());
        let active = self.store.prepare(parent)?;
        // `--mount`s, made in a scratch directory declared first: locals
        // drop in reverse order, so the mounts are undone before it goes.
        // Scratch directories are made only when needed: each costs a
        // mkdir and a removal on every step's critical path.
        let mount_dir = match e.mounts.is_empty() {
            true => None,
            false => Some(self.store.temp_dir()?),
        };
        let (stubs, prepared) = match &mount_dir {
            Some(dir) => (
                self.mount_stubs(&active, e, dir.path())?,
                Some(self.prepare_mounts(e, inputs, dir.path(), v, cancel)?),
            ),
            None => (Vec::new(), None),
        };
        // Heredoc scripts: written to a private directory, mounted
        // read-only in the sandbox's own /dev (so they never reach a layer).
        let mut mounts = Vec::new();
        let pipes = match e.files.is_empty() {
            true => None,
            false => Some(self.store.temp_dir()?),
        };
        if let Some(pipes) = &pipes {
            for (name, data) in &e.files {
                let p = pipes.path().join(name);
                std::fs::write(&p, data).map_err(|err| crate::error::io_err(&p, err))?;
                std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                    .map_err(|err| crate::error::io_err(&p, err))?;
            }
            mounts.push(kiln_executor::Mount {
                destination: crate::lower::PIPES_DIR.to_string(),
                kind: kiln_executor::MountKind::Bind {
                    source: pipes.path().to_path_buf(),
                    readonly: true,
                },
            });
        }
        if let Some(p) = &prepared {
            mounts.extend(p.mounts.iter().cloned());
        }
        let spec = SandboxSpec {
            rootfs: rootfs_of(active.mountable()),
            mount_point: active.mount_point(),
            process: Process {
                args: e.args.clone(),
                env: step_env(e, prepared.as_ref().map_or(&[][..], |p| &p.env)),
                cwd: e.cwd.clone(),
                user: e.user.clone(),
                stdio: StdioSpec {
                    stdin: Stdio::Null,
                    stdout: Stdio::Piped,
                    stderr: Stdio::Piped,
                },
            },
            hostname: e.hostname.clone(),
            network: match e.network {
                NetworkMode::None => Network::None,
                NetworkMode::Host => Network::Host,
            },
            mounts,
            etc_files: etc_files(e),
            readonly_rootfs: false,
        };
        let mut child = self.sandbox.spawn(&spec).map_err(Error::Sandbox)?;
        let tail: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
        let t0 = started.unwrap_or_else(Instant::now);
        let mut readers = Vec::new();
        for (stream, pipe) in [
            (
                Stream::Stdout,
                child
                    .take_stdout()
                    .map(|p| Box::new(p) as Box<dyn Read + Send>),
            ),
            (
                Stream::Stderr,
                child
                    .take_stderr()
                    .map(|p| Box::new(p) as Box<dyn Read + Send>),
            ),
        ] {
            let Some(pipe) = pipe else { continue };
            let progress = self.progress.clone();
            let tail = tail.clone();
            let vertex = id.index();
            readers.push(std::thread::spawn(move || {
                let mut r = BufReader::new(pipe);
                let mut line = Vec::new();
                loop {
                    line.clear();
                    match r.read_until(b'\n', &mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            let text = String::from_utf8_lossy(&line)
                                .trim_end_matches('\n')
                                .to_string();
                            {
                                let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
                                t.push(text);
                                if t.len() > TAIL_LINES {
                                    t.remove(0);
                                }
                            }
                            progress.send(Event::Log {
                                vertex,
                                stream,
                                data: line.clone(),
                                offset: t0.elapsed(),
                            });
                        }
                    }
                }
            }));
        }
        // Cancellation kills the sandbox, from a thread that can signal it
        // while this one waits.
        let signaller = child.signaller();
        let done = CancellationToken::new();
        let watcher = tokio::runtime::Handle::try_current().ok().map(|rt| {
            let cancel = cancel.clone();
            let done = done.clone();
            std::thread::spawn(move || {
                rt.block_on(async {
                    tokio::select! {
                        _ = cancel.cancelled() => {
                            let _ = signaller.signal(nix::sys::signal::Signal::SIGKILL as i32);
                        }
                        _ = done.cancelled() => {}
                    }
                });
            })
        });
        let status = child.wait();
        done.cancel();
        if let Some(w) = watcher {
            let _ = w.join();
        }
        for r in readers {
            let _ = r.join();
        }
        let lines = v.meta.lines;
        let status = match status {
            Ok(s) => s,
            Err(kiln_executor::Error::Exec {
                program, message, ..
            }) => {
                return Err(Error::Exec {
                    program,
                    message,
                    lines,
                });
            }
            Err(_) if cancel.is_cancelled() => return Err(Error::Canceled),
            // An unknown USER fails the step, as in BuildKit.
            Err(kiln_executor::Error::User(u)) => {
                return Err(Error::Exec {
                    program: e.args.first().cloned().unwrap_or_default(),
                    message: u.to_string(),
                    lines,
                });
            }
            Err(err) => return Err(Error::Sandbox(err)),
        };
        if cancel.is_cancelled() {
            return Err(Error::Canceled);
        }
        if !status.success() {
            return Err(Error::StepFailed {
                command: e.args.join(" "),
                code: status.code(),
                step: v.meta.name.clone(),
                lines,
                tail: tail.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            });
        }
        if let Some(p) = prepared {
            p.release();
        }
        run_mount::remove_stubs(&active.upper(), &stubs)?;
        Ok(self.store.commit(active)?)
    }
}
