//! The `kiln` command: parses flags, calls the crates, prints. Everything
//! else lives in the library crates.

// The CLI is the one place that prints, and a binary has no public API
// for `pub` to leak into.
#![allow(clippy::print_stdout, clippy::print_stderr, unreachable_pub)]

mod cli;
mod exit;
mod render;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use exit::Failure;

/// A daemonless Dockerfile builder and container runtime.
#[derive(Parser, Debug)]
#[command(name = "kiln", version, about, propagate_version = true)]
struct Cli {
    /// Store directory.
    #[arg(
        long,
        global = true,
        env = "KILN_ROOT",
        default_value = "/var/lib/kiln"
    )]
    root: PathBuf,
    /// Snapshotter for a new store: overlay or copy (default: overlay when
    /// the kernel allows it).
    #[arg(long, global = true, env = "KILN_SNAPSHOTTER")]
    snapshotter: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build an image from a Dockerfile and a context directory.
    Build(cli::build::Args),
    /// Make a base image from a root filesystem tarball.
    Import(cli::import::Args),
    /// List images.
    Images(cli::images::Args),
    /// Run a command in a new container.
    Run(cli::run::Args),
    /// Parse a Dockerfile and print its syntax tree.
    Parse(cli::parse::Args),
    /// Run the build checks (lint rules) on a Dockerfile without building.
    Check(cli::check::Args),
}

fn main() -> ExitCode {
    // Before anything else, and before any thread: the sandbox helper is
    // this same binary re-executed.
    kiln_executor::maybe_run_helper();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Parse(args) => cli::parse::run(args),
        Command::Check(args) => cli::check::run(args),
        command => {
            if let Err(f) = cli::private_mounts() {
                Err(f)
            } else {
                dispatch(&cli.root, cli.snapshotter.as_deref(), command)
            }
        }
    };
    match result {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(f) => {
            eprintln!("ERROR: {}", f.message);
            ExitCode::from(f.code.clamp(0, 255) as u8)
        }
    }
}

fn dispatch(
    root: &std::path::Path,
    snapshotter: Option<&str>,
    command: Command,
) -> Result<i32, Failure> {
    let store = || cli::open_store(root, snapshotter);
    match command {
        Command::Build(args) => cli::build::run(store()?, args),
        Command::Import(args) => cli::import::run(store()?.as_ref(), args),
        Command::Images(args) => cli::images::run(store()?.as_ref(), args),
        Command::Run(args) => cli::run::run(store()?, args),
        Command::Parse(args) => cli::parse::run(args),
        Command::Check(args) => cli::check::run(args),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn flags_are_consistent() {
        super::Cli::command().debug_assert();
    }
}
