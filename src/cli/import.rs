//! `kiln import`: a root filesystem tarball becomes a base image.

use std::path::PathBuf;

use kiln_cache::{ImageName, Store};

use crate::exit::Failure;

/// Flags of `kiln import`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A tar archive (plain or gzip) of a root filesystem; `-` for stdin.
    file: PathBuf,
    /// The image name, `name[:tag]`.
    name: String,
}

pub fn run(store: &Store, args: Args) -> Result<i32, Failure> {
    let name = ImageName::parse(&args.name).map_err(|e| Failure::input(e.to_string()))?;
    let source = args.file.display().to_string();
    let id = if args.file.as_os_str() == "-" {
        store.import(std::io::stdin().lock(), &[name], "-")
    } else {
        let f = std::fs::File::open(&args.file)
            .map_err(|e| Failure::input(format!("cannot open {}: {e}", args.file.display())))?;
        store.import(f, &[name], &source)
    }
    .map_err(|e| match e {
        kiln_cache::Error::Layer(_) | kiln_cache::Error::Import(_) => Failure::input(format!(
            "{source} is not a usable root filesystem archive: {e}"
        )),
        other => Failure::from(other),
    })?;
    println!("{}", id.config);
    Ok(0)
}
