//! One module per subcommand, plus what they share: opening the store and
//! the private mount namespace.

pub mod build;
pub mod check;
pub mod images;
pub mod import;
pub mod parse;
pub mod run;

use std::path::Path;
use std::sync::Arc;

use kiln_cache::{SnapshotterKind, Store};

use crate::exit::Failure;

/// Moves kiln into a mount namespace of its own, before any thread
/// starts, so that every mount the build makes disappears with the
/// process, even after kill -9.
pub fn private_mounts() -> Result<(), Failure> {
    use nix::mount::{MsFlags, mount};
    use nix::sched::{CloneFlags, unshare};
    unshare(CloneFlags::CLONE_NEWNS).map_err(|e| {
        Failure::infra(format!(
            "cannot create a mount namespace ({e}); kiln needs root (or CAP_SYS_ADMIN)"
        ))
    })?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| Failure::infra(format!("cannot make mounts private: {e}")))?;
    Ok(())
}

/// Opens the store named by `--root`.
pub fn open_store(root: &Path, snapshotter: Option<&str>) -> Result<Arc<Store>, Failure> {
    let wanted = match snapshotter {
        None | Some("") | Some("auto") => None,
        Some(s) => Some(s.parse::<SnapshotterKind>().map_err(Failure::input)?),
    };
    Store::open(root, wanted)
        .map(Arc::new)
        .map_err(|e| Failure::infra(format!("store {}: {e}", root.display())))
}

/// A tokio runtime for commands that need one.
pub fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::infra(format!("cannot start the runtime: {e}")))
}
