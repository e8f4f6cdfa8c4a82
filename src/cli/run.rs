//! `kiln run`: a container from an image, in kiln's own sandbox.

use std::sync::Arc;

use kiln_cache::{ImageName, Store};
use kiln_executor::{EtcFile, ExitStatus, Network, Process, SandboxSpec, Stdio, StdioSpec};

use crate::exit::{self, Failure};

/// Flags of `kiln run`.
#[derive(clap::Args, Debug)]
// `-h` is the hostname, as in docker; help is `--help` only.
#[command(trailing_var_arg = true, disable_help_flag = true)]
pub struct Args {
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// Remove the container's files when it exits.
    #[arg(long)]
    rm: bool,
    /// Set an environment variable: `KEY=VALUE`, or `KEY` to pass kiln's own.
    #[arg(short = 'e', long = "env")]
    env: Vec<String>,
    /// Working directory inside the container.
    #[arg(short = 'w', long = "workdir")]
    workdir: Option<String>,
    /// User: `name`, `uid`, `name:group` or `uid:gid`.
    #[arg(short = 'u', long = "user")]
    user: Option<String>,
    /// Replace the image's ENTRYPOINT.
    #[arg(long)]
    entrypoint: Option<String>,
    /// Container hostname.
    #[arg(short = 'h', long = "hostname")]
    hostname: Option<String>,
    /// The image.
    image: String,
    /// Command and arguments (replace the image's CMD).
    #[arg(allow_hyphen_values = true)]
    command: Vec<String>,
}

fn run_failure(message: impl Into<String>) -> Failure {
    Failure::new(exit::RUN_FAILED, message)
}

/// Sets `KEY=value` in an env list, replacing an existing KEY.
fn set_env(env: &mut Vec<String>, kv: String) {
    let key = kv
        .split_once('=')
        .map_or(kv.as_str(), |(k, _)| k)
        .to_string();
    env.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
    env.push(kv);
}

pub fn run(store: Arc<Store>, args: Args) -> Result<i32, Failure> {
    let name = ImageName::parse(&args.image).map_err(|e| run_failure(e.to_string()))?;
    let image = store
        .image(&name)
        .map_err(|e| run_failure(e.to_string()))?
        .ok_or_else(|| run_failure(format!("image {} not found in the store", name.familiar())))?;
    let snapshot = store
        .unpack_all(&image.config.rootfs.diff_ids)
        .map_err(|e| run_failure(e.to_string()))?;
    let cfg = &image.config.config;

    let entrypoint = match &args.entrypoint {
        Some(e) if e.is_empty() => Vec::new(),
        Some(e) => vec![e.clone()],
        None => cfg.entrypoint.clone().unwrap_or_default(),
    };
    // A new entrypoint drops the image's CMD, as in docker.
    let cmd = if !args.command.is_empty() {
        args.command.clone()
    } else if args.entrypoint.is_some() {
        Vec::new()
    } else {
        cfg.cmd.clone().unwrap_or_default()
    };
    let mut argv = entrypoint;
    argv.extend(cmd);
    if argv.is_empty() {
        return Err(run_failure("no command specified"));
    }

    let id = kiln_cache::Digest::of(
        format!(
            "{}-{}-{:?}",
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default(),
            argv
        )
        .as_bytes(),
    )
    .hex();
    let hostname = args
        .hostname
        .clone()
        .unwrap_or_else(|| id[..12].to_string());
    let mut env = cfg.env.clone();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, format!("PATH={}", kiln_cache::image::DEFAULT_PATH));
    }
    set_env(&mut env, format!("HOSTNAME={hostname}"));
    for e in &args.env {
        match e.split_once('=') {
            Some(_) => set_env(&mut env, e.clone()),
            None => {
                if let Ok(v) = std::env::var(e) {
                    set_env(&mut env, format!("{e}={v}"));
                }
            }
        }
    }
    let cwd = args
        .workdir
        .clone()
        .or_else(|| Some(cfg.working_dir.clone()).filter(|w| !w.is_empty()))
        .unwrap_or_else(|| "/".to_string());
    let user = args.user.clone().unwrap_or_else(|| cfg.user.clone());

    let active = store
        .prepare(snapshot.as_ref())
        .map_err(|e| run_failure(e.to_string()))?;
    let rootfs = kiln_solver::worker::rootfs_of(active.mountable());
    let spec = SandboxSpec {
        rootfs,
        mount_point: active.mount_point(),
        process: Process {
            args: argv,
            env,
            cwd,
            user,
            stdio: StdioSpec {
                stdin: Stdio::Null,
                stdout: Stdio::Inherit,
                stderr: Stdio::Inherit,
            },
        },
        hostname: hostname.clone(),
        network: Network::None,
        mounts: Vec::new(),
        etc_files: vec![
            EtcFile {
                path: "/etc/hosts".into(),
                content: format!(
                    "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n"
                ),
                create_missing: true,
            },
            EtcFile {
                path: "/etc/hostname".into(),
                content: format!("{hostname}\n"),
                create_missing: true,
            },
        ],
        readonly_rootfs: false,
    };
    let child = kiln_executor::Sandbox::new().spawn(&spec);
    let status = child.and_then(|c| c.wait());
    let code = match status {
        Ok(ExitStatus::Exited(c)) => c,
        Ok(ExitStatus::Signaled(s)) => 128 + s,
        Err(kiln_executor::Error::Exec { errno, message, .. }) => {
            eprintln!("ERROR: {message}");
            if errno == libc_enoent() {
                exit::RUN_NOT_FOUND
            } else {
                exit::RUN_NOT_EXECUTABLE
            }
        }
        Err(e) => return Err(run_failure(e.to_string())),
    };
    if !args.rm {
        keep_container(
            &store,
            active,
            &id,
            &image.manifest_digest.to_string(),
            code,
        )?;
    }
    Ok(code)
}

fn libc_enoent() -> i32 {
    nix::errno::Errno::ENOENT as i32
}

/// Without `--rm` the container's files stay, under `containers/<id>`,
/// as docker keeps stopped containers.
fn keep_container(
    store: &Store,
    active: kiln_cache::Active,
    id: &str,
    image: &str,
    code: i32,
) -> Result<(), Failure> {
    let dir = store.root().join("containers").join(id);
    std::fs::create_dir_all(&dir).map_err(|e| run_failure(format!("{}: {e}", dir.display())))?;
    let upper = active.upper();
    std::fs::rename(&upper, dir.join("fs"))
        .map_err(|e| run_failure(format!("{}: {e}", upper.display())))?;
    let state = serde_json::json!({ "id": id, "image": image, "exit_code": code });
    std::fs::write(dir.join("state.json"), state.to_string())
        .map_err(|e| run_failure(format!("{}: {e}", dir.display())))?;
    Ok(())
}
