//! Docker `USER` resolution against a root filesystem's own `/etc/passwd`
//! and `/etc/group`, with BuildKit's semantics (moby/sys/user
//! `GetExecUser` plus BuildKit's `GetUser` fast path).
//!
//! Everything here is pure: callers read the two files themselves (bounded,
//! regular files only, see [`MAX_USER_FILE_BYTES`]) and pass their text, or
//! `""` for a missing file. No NSS, no libc lookups: image code never runs
//! in kiln's process.

use serde::{Deserialize, Serialize};

/// The largest `/etc/passwd` or `/etc/group` kiln reads from a root
/// filesystem (BuildKit's `maxUserFileBytes`).
pub const MAX_USER_FILE_BYTES: u64 = 10 << 20;

/// The highest uid or gid a `USER` value may name (`GetExecUser`'s range).
const MAX_ID: i64 = i32::MAX as i64;

/// Ids a process runs with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedUser {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary groups from `/etc/group`, in file order. They do not
    /// include `gid` unless the file lists the user in that group; the
    /// executor adds the primary gid when it calls `setgroups`, as BuildKit
    /// does.
    pub additional_gids: Vec<u32>,
}

impl ResolvedUser {
    const ROOT: ResolvedUser = ResolvedUser {
        uid: 0,
        gid: 0,
        additional_gids: Vec::new(),
    };
}

/// Why a `USER` value could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum UserError {
    /// A user name with no entry in `/etc/passwd`.
    #[error("unable to find user {0}: no matching entries in passwd file")]
    NoUser(String),
    /// A group name with no entry in `/etc/group`.
    #[error("unable to find group {0}: no matching entries in group file")]
    NoGroup(String),
    /// A numeric id outside what `USER` may name or a process may use.
    #[error("{0}: uids and gids must be in range 0-{MAX_ID}")]
    Range(String),
    /// `/etc/passwd` or `/etc/group` is a directory, FIFO, device, ...
    #[error("{0} is not a regular file")]
    NotRegular(String),
    /// `/etc/passwd` or `/etc/group` is larger than [`MAX_USER_FILE_BYTES`].
    #[error("{0} is larger than 10 MiB")]
    TooLarge(String),
    /// Reading `/etc/passwd` or `/etc/group` failed.
    #[error("reading {path}: {message}")]
    Read {
        /// The file inside the root filesystem.
        path: String,
        /// The system error.
        message: String,
    },
}

/// Resolves a Docker `USER` value (`""`, `name`, `uid`, `name:group`,
/// `uid:gid`, ...) against the text of `/etc/passwd` and `/etc/group`
/// (`""` when a file is missing).
///
/// - `""` is uid 0 with root's passwd entry and groups if there is one,
///   else `0:0` with no supplementary groups.
/// - `uid:gid` (both numeric, or `root`) needs no entries and gets no
///   supplementary groups.
/// - A name gives its uid, primary gid and the groups listing it.
/// - `u:g` gives `u`'s uid and only `g` (no supplementary groups).
/// - A numeric uid without an entry gets gid 0.
pub fn resolve(user: &str, passwd: &str, group: &str) -> Result<ResolvedUser, UserError> {
    if user.is_empty() {
        // BuildKit resolves "0" and falls back to plain root on any error,
        // so an image without /etc/passwd still runs.
        return Ok(exec_user("0", passwd, group).unwrap_or(ResolvedUser::ROOT));
    }
    if let Some((uid, gid)) = numeric_pair(user) {
        return Ok(ResolvedUser {
            uid,
            gid,
            additional_gids: Vec::new(),
        });
    }
    exec_user(user, passwd, group)
}

/// BuildKit's fast path: `uid:gid` where both halves are numbers or `root`.
fn numeric_pair(user: &str) -> Option<(u32, u32)> {
    let (u, g) = user.split_once(':')?;
    let id = |s: &str| {
        if s == "root" {
            Some(0)
        } else if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse::<u32>().ok()
        } else {
            None
        }
    };
    Some((id(u)?, id(g)?))
}

/// Go's `strconv.Atoi`: optional sign, decimal digits.
fn atoi(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: i64,
    gid: i64,
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: i64,
    members: Vec<&'a str>,
}

/// Non-empty, trimmed lines, as moby/sys/user reads them.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(str::trim).filter(|l| !l.is_empty())
}

/// A numeric field the way moby/sys/user parses it: unparsable is 0.
fn field_id(field: Option<&str>) -> i64 {
    field.and_then(atoi).unwrap_or(0)
}

fn passwd_entries(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    lines(text).map(|line| {
        let mut f = line.split(':');
        let name = f.next().unwrap_or("");
        let _password = f.next();
        let uid = field_id(f.next());
        let gid = field_id(f.next());
        PasswdEntry { name, uid, gid }
    })
}

fn group_entries(text: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    lines(text).map(|line| {
        let mut f = line.split(':');
        let name = f.next().unwrap_or("");
        let _password = f.next();
        let gid = field_id(f.next());
        let members = match f.next() {
            Some(list) if !list.is_empty() => list.split(',').collect(),
            _ => Vec::new(),
        };
        GroupEntry { name, gid, members }
    })
}

/// An id taken from a `USER` value: `GetExecUser` allows 0..=2^31-1.
fn arg_id(value: i64, text: &str) -> Result<u32, UserError> {
    if (0..=MAX_ID).contains(&value) {
        u32::try_from(value).map_err(|_| UserError::Range(text.to_string()))
    } else {
        Err(UserError::Range(text.to_string()))
    }
}

/// An id taken from a passwd or group entry: anything a process can use.
fn entry_id(value: i64) -> Result<u32, UserError> {
    u32::try_from(value).map_err(|_| UserError::Range(value.to_string()))
}

/// moby/sys/user `GetExecUser` with zero defaults.
fn exec_user(spec: &str, passwd: &str, group: &str) -> Result<ResolvedUser, UserError> {
    let mut parts = spec.split(':');
    let user_arg = parts.next().unwrap_or("");
    let group_arg = parts.next().unwrap_or("");
    let uid_arg = atoi(user_arg);
    let gid_arg = atoi(group_arg);

    let found = passwd_entries(passwd).find(|u| match uid_arg {
        _ if user_arg.is_empty() => u.uid == 0,
        Some(uid) => u.uid == uid,
        None => u.name == user_arg,
    });

    let (uid, mut gid, matched_name) = match found {
        Some(u) => (entry_id(u.uid)?, entry_id(u.gid)?, Some(u.name)),
        None if user_arg.is_empty() => (0, 0, None),
        None => match uid_arg {
            Some(uid) => (arg_id(uid, user_arg)?, 0, None),
            None => return Err(UserError::NoUser(user_arg.to_string())),
        },
    };
    let matched_name = matched_name.filter(|n| !n.is_empty());

    let mut additional_gids = Vec::new();
    if !group_arg.is_empty() {
        let found = group_entries(group).find(|g| match gid_arg {
            Some(id) => g.gid == id,
            None => g.name == group_arg,
        });
        gid = match (found, gid_arg) {
            (Some(g), _) => entry_id(g.gid)?,
            (None, Some(id)) => arg_id(id, group_arg)?,
            (None, None) => return Err(UserError::NoGroup(group_arg.to_string())),
        };
    } else if let Some(name) = matched_name {
        for g in group_entries(group) {
            if g.members.contains(&name) {
                additional_gids.push(entry_id(g.gid)?);
            }
        }
    }

    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
alice:x:1000:1000:Alice:/home/alice:/bin/sh
bob:x:1001:1001::/home/bob:/bin/sh
";
    const GROUP: &str = "\
root:x:0:
wheel:x:10:root,alice
alice:x:1000:
bob:x:1001:
staff:x:50:alice,bob
";

    fn user(uid: u32, gid: u32, additional_gids: &[u32]) -> ResolvedUser {
        ResolvedUser {
            uid,
            gid,
            additional_gids: additional_gids.to_vec(),
        }
    }

    #[test]
    fn empty_is_root_with_its_groups() {
        assert_eq!(resolve("", PASSWD, GROUP), Ok(user(0, 0, &[10])));
        assert_eq!(resolve("", "", ""), Ok(user(0, 0, &[])));
        // A root entry with another primary group keeps it, as BuildKit does.
        assert_eq!(
            resolve("", "root:x:0:5::/:/bin/sh", ""),
            Ok(user(0, 5, &[]))
        );
    }

    #[test]
    fn name_gives_primary_and_supplementary_groups() {
        assert_eq!(
            resolve("alice", PASSWD, GROUP),
            Ok(user(1000, 1000, &[10, 50]))
        );
        assert_eq!(resolve("bob", PASSWD, GROUP), Ok(user(1001, 1001, &[50])));
        assert_eq!(resolve("daemon", PASSWD, GROUP), Ok(user(1, 1, &[])));
    }

    #[test]
    fn numeric_uid_uses_entry_or_gid_zero() {
        assert_eq!(
            resolve("1000", PASSWD, GROUP),
            Ok(user(1000, 1000, &[10, 50]))
        );
        assert_eq!(resolve("4242", PASSWD, GROUP), Ok(user(4242, 0, &[])));
        assert_eq!(resolve("4242", "", ""), Ok(user(4242, 0, &[])));
    }

    #[test]
    fn explicit_group_replaces_supplementary_groups() {
        assert_eq!(
            resolve("alice:staff", PASSWD, GROUP),
            Ok(user(1000, 50, &[]))
        );
        assert_eq!(resolve("alice:77", PASSWD, GROUP), Ok(user(1000, 77, &[])));
        assert_eq!(
            resolve("4242:staff", PASSWD, GROUP),
            Ok(user(4242, 50, &[]))
        );
        assert_eq!(resolve(":staff", PASSWD, GROUP), Ok(user(0, 50, &[])));
    }

    #[test]
    fn numeric_pair_needs_no_entries() {
        assert_eq!(resolve("1042:1043", "", ""), Ok(user(1042, 1043, &[])));
        assert_eq!(
            resolve("1000:1000", PASSWD, GROUP),
            Ok(user(1000, 1000, &[]))
        );
        assert_eq!(resolve("root:root", "", ""), Ok(user(0, 0, &[])));
        assert_eq!(resolve("4294967295:1", "", ""), Ok(user(u32::MAX, 1, &[])));
    }

    #[test]
    fn unknown_names_fail_with_buildkit_messages() {
        let err = resolve("ghost", PASSWD, GROUP).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unable to find user ghost: no matching entries in passwd file"
        );
        assert_eq!(
            resolve("ghost", "", ""),
            Err(UserError::NoUser("ghost".into()))
        );
        let err = resolve("alice:nogroup", PASSWD, GROUP).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unable to find group nogroup: no matching entries in group file"
        );
    }

    #[test]
    fn out_of_range_ids_fail() {
        assert!(matches!(resolve("-1", "", ""), Err(UserError::Range(_))));
        assert!(matches!(
            resolve("2147483648", "", ""),
            Err(UserError::Range(_))
        ));
        assert!(matches!(
            resolve("alice:-5", PASSWD, GROUP),
            Err(UserError::Range(_))
        ));
        assert_eq!(
            resolve("99999999999999999999999", "", "").unwrap_err(),
            UserError::NoUser("99999999999999999999999".into())
        );
    }

    #[test]
    fn first_entry_wins_and_odd_lines_are_tolerated() {
        let passwd =
            "\n  alice:x:1000:1000::/:/bin/sh  \r\nalice:x:2000:2000::/:/bin/sh\n#comment\n";
        let group = "g1:x:7:alice\r\ng2:x:8:bob,alice\nbroken\n";
        assert_eq!(
            resolve("alice", passwd, group),
            Ok(user(1000, 1000, &[7, 8]))
        );
        // An unparsable id reads as 0, as in moby/sys/user.
        assert_eq!(
            resolve("carol", "carol:x:abc:1:::", ""),
            Ok(user(0, 1, &[]))
        );
    }

    #[test]
    fn extra_colon_fields_are_ignored() {
        assert_eq!(
            resolve("alice:staff:junk", PASSWD, GROUP),
            Ok(user(1000, 50, &[]))
        );
    }
}
