//! `kiln parse`: the syntax tree of a Dockerfile in BuildKit's dump format.

use std::path::PathBuf;

use crate::exit::Failure;
use crate::render::diagnostic;

/// Flags of `kiln parse`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print the tree in BuildKit's `result` format (the default and only
    /// format so far).
    #[arg(long)]
    dump: bool,
    /// The Dockerfile (`-` for stdin).
    #[arg(short = 'f', long = "file", default_value = "Dockerfile")]
    file: PathBuf,
}

pub fn run(args: Args) -> Result<i32, Failure> {
    let _ = args.dump;
    let (name, bytes) = super::build::read_dockerfile(&args.file)?;
    let df = kiln_parser::parse(&bytes).map_err(|e| {
        let source = String::from_utf8_lossy(&bytes);
        Failure::input(diagnostic::with_span(
            &name,
            &source,
            e.span,
            &e.to_string(),
        ))
    })?;
    print!("{}", df.dump());
    Ok(0)
}
