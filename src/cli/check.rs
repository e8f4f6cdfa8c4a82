//! `kiln check`: the build checks of a Dockerfile, without building.

use std::path::PathBuf;

use kiln_parser::lint::{check_config, lint, rule_url};

use crate::exit::{self, Failure};
use crate::render::diagnostic;

/// Flags of `kiln check`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The Dockerfile (default: `Dockerfile` in the context; `-` for stdin).
    #[arg(short = 'f', long = "file")]
    file: Option<PathBuf>,
    /// The build context directory.
    #[arg(default_value = ".")]
    context: PathBuf,
}

/// Exit 0 when clean, 1 when there are warnings, 2 when the file does not
/// parse.
pub fn run(args: Args) -> Result<i32, Failure> {
    let path = args.file.unwrap_or_else(|| args.context.join("Dockerfile"));
    let (name, bytes) = super::build::read_dockerfile(&path)?;
    let source = String::from_utf8_lossy(&bytes).into_owned();
    let (df, stages) = kiln_parser::parse_stages(&bytes).map_err(|e| {
        Failure::input(diagnostic::with_span(
            &name,
            &source,
            e.span,
            &e.to_string(),
        ))
    })?;
    let warnings = lint(&df, &stages, &|name| {
        kiln_cache::ImageName::parse(name).is_ok()
    });
    for w in &warnings {
        println!("WARNING: {} - {}", w.rule, rule_url(w.rule));
        println!(
            "{}",
            diagnostic::with_lines(&name, &source, (w.line, w.line), &w.message)
        );
        println!();
    }
    if warnings.is_empty() {
        println!("Check complete, no warnings found.");
        return Ok(0);
    }
    let n = warnings.len();
    println!(
        "Check complete, {n} warning{} found!",
        if n == 1 { " has been" } else { "s have been" }
    );
    if check_config(&df).error {
        return Err(Failure::new(
            exit::BAD_INPUT,
            "lint violations found and `# check=error=true` is set",
        ));
    }
    Ok(exit::STEP_FAILED)
}
