//! Overlay mounts in kiln's own mount namespace, for file ops that need
//! the merged view of a layer stack. Each mount is undone on drop; if kiln
//! dies first, its mount namespace takes them along.

use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};

use crate::error::{Error, Result};

/// A mount undone on drop.
pub(crate) struct MountGuard {
    target: PathBuf,
}

impl Drop for MountGuard {
    fn drop(&mut self) {
        let _ = umount2(&self.target, MntFlags::MNT_DETACH);
    }
}

/// A path as overlayfs mount data carries it: `\\`, `,` and `:` (which
/// separate options and layers) escaped with a backslash, so that a build
/// context anywhere can be a layer.
fn escape(p: &Path) -> String {
    let mut out = String::new();
    for c in p.display().to_string().chars() {
        if matches!(c, '\\' | ',' | ':') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Bind-mounts what `fd` (an `O_PATH` descriptor) refers to at `target`,
/// read-only or not. The kernel binds that very object: nothing can swap
/// a symlink into its path between resolving it and mounting it.
pub(crate) fn bind_fd(
    fd: &std::os::fd::OwnedFd,
    target: &Path,
    readonly: bool,
) -> Result<MountGuard> {
    use std::os::fd::AsRawFd;
    let source = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
    bind(&source, target, readonly)
}

/// Bind-mounts `source` at `target`, read-only or not.
fn bind(source: &Path, target: &Path, readonly: bool) -> Result<MountGuard> {
    let err = |source| Error::Mount {
        target: target.to_path_buf(),
        source,
    };
    mount(
        Some(source),
        target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(err)?;
    let guard = MountGuard {
        target: target.to_path_buf(),
    };
    // A bind mount takes no flags when it is made: read-only is a remount.
    if readonly {
        mount(
            None::<&str>,
            target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .map_err(err)?;
    }
    Ok(guard)
}

/// Mounts a small tmpfs at `target`, for files that must stay in memory
/// (secrets): no devices, no set-id programs, nothing executable.
pub(crate) fn tmpfs(target: &Path, size: u64) -> Result<MountGuard> {
    mount(
        Some("tmpfs"),
        target,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some(format!("size={size},mode=0700").as_str()),
    )
    .map_err(|source| Error::Mount {
        target: target.to_path_buf(),
        source,
    })?;
    Ok(MountGuard {
        target: target.to_path_buf(),
    })
}

/// overlayfs mount data is limited to a page.
const MAX_MOUNT_DATA: usize = 4095;

/// Mounts an overlay of `lowers` (top-most first) at `target`: writable
/// with `upper` and `work`, read-only without. A read-only overlay needs
/// two lowers; a single lower is bind-mounted read-only instead.
pub(crate) fn overlay(
    lowers: &[PathBuf],
    upper: Option<(&Path, &Path)>,
    target: &Path,
) -> Result<MountGuard> {
    let err = |source| Error::Mount {
        target: target.to_path_buf(),
        source,
    };
    if upper.is_none() && lowers.len() == 1 {
        return bind(&lowers[0], target, true);
    }
    let mut data = String::new();
    let lower_list: Vec<String> = lowers.iter().map(|p| escape(p)).collect();
    let empty;
    let lower_list = if lower_list.is_empty() {
        // An overlay needs a lower; an empty directory stands for scratch.
        empty = target.with_extension("empty");
        std::fs::create_dir_all(&empty).map_err(|e| crate::error::io_err(&empty, e))?;
        vec![escape(&empty)]
    } else {
        lower_list
    };
    data.push_str("lowerdir=");
    data.push_str(&lower_list.join(":"));
    if let Some((upper, work)) = upper {
        data.push_str(&format!(
            ",upperdir={},workdir={}",
            escape(upper),
            escape(work)
        ));
    }
    if data.len() > MAX_MOUNT_DATA {
        return Err(Error::Usage(format!(
            "the image has too many layers ({}) to mount at once",
            lowers.len()
        )));
    }
    let flags = if upper.is_some() {
        MsFlags::empty()
    } else {
        MsFlags::MS_RDONLY
    };
    mount(
        Some("overlay"),
        target,
        Some("overlay"),
        flags,
        Some(data.as_str()),
    )
    .map_err(err)?;
    Ok(MountGuard {
        target: target.to_path_buf(),
    })
}
