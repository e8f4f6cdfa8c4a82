//! The metadata database (SQLite, WAL, `synchronous=FULL`): image tags,
//! layers, snapshots, the build cache and the file-digest cache (what a
//! directory's files hashed to, by their stat). Several kiln processes may
//! share one store; SQLite's locking serialises their writes.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::digest::Digest;
use crate::error::{Error, Result};

// 2: the file-digest cache (`digest_roots`, `file_digests`). Every
// statement is `IF NOT EXISTS`, so a store at an older version upgrades by
// running the whole schema again.
const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS images (
    name     TEXT PRIMARY KEY,
    manifest TEXT NOT NULL,
    config   TEXT NOT NULL,
    updated  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS layers (
    diff_id    TEXT PRIMARY KEY,
    blob       TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size       INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshots (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    chain_id TEXT NOT NULL UNIQUE,
    parent   INTEGER REFERENCES snapshots(id),
    diff_id  TEXT NOT NULL,
    created  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS cache (
    key       TEXT PRIMARY KEY,
    chain_id  TEXT NOT NULL,
    created   INTEGER NOT NULL,
    last_used INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS digest_roots (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL UNIQUE,
    used INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS file_digests (
    root     INTEGER NOT NULL REFERENCES digest_roots(id) ON DELETE CASCADE,
    path     TEXT NOT NULL,
    dev      INTEGER NOT NULL,
    ino      INTEGER NOT NULL,
    size     INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    mode     INTEGER NOT NULL,
    digest   TEXT NOT NULL,
    recorded INTEGER NOT NULL,
    PRIMARY KEY (root, path)
) WITHOUT ROWID;
";

/// How stale a cache entry's `last_used` may get before a hit rewrites it.
const LAST_USED_GRAIN_SECS: i64 = 3600;

/// How long a directory's file digests are kept after its last use.
const DIGEST_ROOT_TTL_SECS: i64 = 30 * 24 * 3600;

/// How stale a directory's `used` time may get before a read refreshes
/// it: a no-op build then writes nothing most of the time.
const DIGEST_ROOT_TOUCH_SECS: i64 = 24 * 3600;

/// A tag row: name to manifest and config digests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRow {
    /// Full reference, e.g. `docker.io/library/busybox:latest`.
    pub name: String,
    /// Manifest digest.
    pub manifest: Digest,
    /// Config digest (the image ID).
    pub config: Digest,
    /// Unix seconds of the last change.
    pub updated: i64,
}

/// A layer row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRow {
    /// Digest of the uncompressed tar.
    pub diff_id: Digest,
    /// Digest of the stored blob.
    pub blob: Digest,
    /// OCI media type of the blob.
    pub media_type: String,
    /// Blob size in bytes.
    pub size: u64,
}

/// A snapshot row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotRow {
    /// Directory name under `snapshots/`.
    pub id: i64,
    /// OCI chain ID of the layer stack ending here.
    pub chain_id: Digest,
    /// The snapshot below, if any.
    pub parent: Option<i64>,
    /// The top layer's diff ID.
    pub diff_id: Digest,
}

/// What a file looked like when its content was hashed: if a later stat
/// gives the same values, the content is taken to be unchanged (unless the
/// row was recorded too soon after the file's mtime to tell, which the
/// caller decides from `recorded`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStat {
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// Inode change time, nanoseconds since the epoch: in-place edits that
    /// restore the mtime still move it.
    pub ctime_ns: i64,
    /// `st_mode`, file type included.
    pub mode: u32,
}

/// A file-digest row: a path relative to its directory, the stat it had
/// and the digest of its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDigestRow {
    /// Path relative to the directory.
    pub path: String,
    /// The stat taken before the content was read.
    pub stat: FileStat,
    /// Digest of the content.
    pub digest: Digest,
    /// When the stat was taken, nanoseconds since the epoch.
    pub recorded_ns: i64,
}

/// The database handle.
pub struct Meta {
    conn: Mutex<Connection>,
    path: PathBuf,
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn digest_col(s: String) -> rusqlite::Result<Digest> {
    s.parse::<Digest>().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

impl Meta {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Meta> {
        let db = |source| Error::Db {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(db)?;
        conn.busy_timeout(Duration::from_secs(60)).map_err(db)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(db)?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(db)?;
        if version < SCHEMA_VERSION {
            conn.execute_batch(SCHEMA).map_err(db)?;
            conn.pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(db)?;
        }
        Ok(Meta {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic elsewhere while holding the lock leaves the connection
        // usable: SQLite rolls back the open transaction.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn db(&self, source: rusqlite::Error) -> Error {
        Error::Db {
            path: self.path.clone(),
            source,
        }
    }

    /// A setting, if set.
    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        self.conn()
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.db(e))
    }

    /// Sets a setting unless it is already set; returns the value in force.
    pub fn setting_or_insert(&self, key: &str, value: &str) -> Result<String> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO NOTHING",
            params![key, value],
        )
        .map_err(|e| self.db(e))?;
        conn.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .map_err(|e| self.db(e))
    }

    /// Points `name` at an image.
    pub fn put_tag(&self, name: &str, manifest: &Digest, config: &Digest) -> Result<()> {
        self.conn()
            .execute(
                "INSERT INTO images (name, manifest, config, updated) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(name) DO UPDATE SET manifest = ?2, config = ?3, updated = ?4",
                params![name, manifest.to_string(), config.to_string(), now()],
            )
            .map_err(|e| self.db(e))?;
        Ok(())
    }

    /// The image a name points at.
    pub fn tag(&self, name: &str) -> Result<Option<TagRow>> {
        self.conn()
            .query_row(
                "SELECT name, manifest, config, updated FROM images WHERE name = ?1",
                [name],
                tag_row,
            )
            .optional()
            .map_err(|e| self.db(e))
    }

    /// All tags, by name.
    pub fn tags(&self) -> Result<Vec<TagRow>> {
        let conn = self.conn();
        let mut st = conn
            .prepare("SELECT name, manifest, config, updated FROM images ORDER BY name")
            .map_err(|e| self.db(e))?;
        let rows = st.query_map([], tag_row).map_err(|e| self.db(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.db(e))
    }

    /// Removes a tag; true if it existed.
    pub fn remove_tag(&self, name: &str) -> Result<bool> {
        let n = self
            .conn()
            .execute("DELETE FROM images WHERE name = ?1", [name])
            .map_err(|e| self.db(e))?;
        Ok(n > 0)
    }

    /// Records a stored layer blob.
    pub fn put_layer(&self, row: &LayerRow) -> Result<()> {
        self.conn()
            .execute(
                "INSERT INTO layers (diff_id, blob, media_type, size) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(diff_id) DO NOTHING",
                params![
                    row.diff_id.to_string(),
                    row.blob.to_string(),
                    row.media_type,
                    row.size as i64
                ],
            )
            .map_err(|e| self.db(e))?;
        Ok(())
    }

    /// The stored blob of a layer.
    pub fn layer(&self, diff_id: &Digest) -> Result<Option<LayerRow>> {
        self.conn()
            .query_row(
                "SELECT diff_id, blob, media_type, size FROM layers WHERE diff_id = ?1",
                [diff_id.to_string()],
                |r| {
                    Ok(LayerRow {
                        diff_id: digest_col(r.get(0)?)?,
                        blob: digest_col(r.get(1)?)?,
                        media_type: r.get(2)?,
                        size: r.get::<_, i64>(3)? as u64,
                    })
                },
            )
            .optional()
            .map_err(|e| self.db(e))
    }

    /// The snapshot with this chain ID.
    pub fn snapshot_by_chain(&self, chain_id: &Digest) -> Result<Option<SnapshotRow>> {
        self.conn()
            .query_row(
                "SELECT id, chain_id, parent, diff_id FROM snapshots WHERE chain_id = ?1",
                [chain_id.to_string()],
                snapshot_row,
            )
            .optional()
            .map_err(|e| self.db(e))
    }

    /// The snapshot with this ID.
    pub fn snapshot(&self, id: i64) -> Result<Option<SnapshotRow>> {
        self.conn()
            .query_row(
                "SELECT id, chain_id, parent, diff_id FROM snapshots WHERE id = ?1",
                [id],
                snapshot_row,
            )
            .optional()
            .map_err(|e| self.db(e))
    }

    /// Records a snapshot whose directory `place` moves into position once
    /// the ID is known, in one transaction: a crash leaves either both or a
    /// directory without a row, which is garbage. If another process
    /// recorded the same chain first, its row wins and `place` is not
    /// called.
    pub fn insert_snapshot(
        &self,
        chain_id: &Digest,
        parent: Option<i64>,
        diff_id: &Digest,
        place: impl FnOnce(i64) -> Result<()>,
    ) -> Result<SnapshotRow> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.db(e))?;
        let existing = tx
            .query_row(
                "SELECT id, chain_id, parent, diff_id FROM snapshots WHERE chain_id = ?1",
                [chain_id.to_string()],
                snapshot_row,
            )
            .optional()
            .map_err(|e| self.db(e))?;
        if let Some(row) = existing {
            return Ok(row);
        }
        tx.execute(
            "INSERT INTO snapshots (chain_id, parent, diff_id, created) VALUES (?1, ?2, ?3, ?4)",
            params![chain_id.to_string(), parent, diff_id.to_string(), now()],
        )
        .map_err(|e| self.db(e))?;
        let id = tx.last_insert_rowid();
        place(id)?;
        tx.commit().map_err(|e| self.db(e))?;
        Ok(SnapshotRow {
            id,
            chain_id: *chain_id,
            parent,
            diff_id: *diff_id,
        })
    }

    /// Records a build cache entry.
    pub fn put_cache(&self, key: &Digest, chain_id: &Digest) -> Result<()> {
        let t = now();
        self.conn()
            .execute(
                "INSERT INTO cache (key, chain_id, created, last_used) VALUES (?1, ?2, ?3, ?3)
                 ON CONFLICT(key) DO UPDATE SET chain_id = ?2, last_used = ?3",
                params![key.to_string(), chain_id.to_string(), t],
            )
            .map_err(|e| self.db(e))?;
        Ok(())
    }

    /// Looks up a build cache entry and marks it used.
    pub fn cache(&self, key: &Digest) -> Result<Option<Digest>> {
        let conn = self.conn();
        let found: Option<(String, i64)> = conn
            .query_row(
                "SELECT chain_id, last_used FROM cache WHERE key = ?1",
                [key.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.db(e))?;
        let Some((chain, last_used)) = found else {
            return Ok(None);
        };
        // Each write is a WAL commit and an fsync; garbage collection
        // counts in days, so a hit within the hour need not be recorded
        // (a no-op rebuild then writes nothing).
        let now = now();
        if now.saturating_sub(last_used) >= LAST_USED_GRAIN_SECS {
            conn.execute(
                "UPDATE cache SET last_used = ?2 WHERE key = ?1",
                params![key.to_string(), now],
            )
            .map_err(|e| self.db(e))?;
        }
        chain
            .parse()
            .map(Some)
            .map_err(|_| Error::SnapshotMissing(chain))
    }
}

impl Meta {
    /// The file digests recorded for the directory `root` (an absolute
    /// path), keyed by relative path. Rows that no longer parse are left
    /// out: a miss only costs a rehash.
    pub fn file_digests(&self, root: &str) -> Result<Vec<FileDigestRow>> {
        let conn = self.conn();
        let used: Option<i64> = conn
            .query_row(
                "SELECT used FROM digest_roots WHERE path = ?1",
                [root],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.db(e))?;
        let Some(used) = used else {
            return Ok(Vec::new());
        };
        let t = now();
        if t - used > DIGEST_ROOT_TOUCH_SECS {
            conn.execute(
                "UPDATE digest_roots SET used = ?2 WHERE path = ?1",
                params![root, t],
            )
            .map_err(|e| self.db(e))?;
        }
        let mut st = conn
            .prepare_cached(
                "SELECT f.path, f.dev, f.ino, f.size, f.mtime_ns, f.ctime_ns, f.mode, f.digest,
                        f.recorded
                 FROM file_digests f JOIN digest_roots r ON f.root = r.id
                 WHERE r.path = ?1",
            )
            .map_err(|e| self.db(e))?;
        let rows = st
            .query_map([root], |r| {
                let stat = FileStat {
                    // SQLite integers are i64: the casts keep the bits.
                    dev: r.get::<_, i64>(1)? as u64,
                    ino: r.get::<_, i64>(2)? as u64,
                    size: r.get::<_, i64>(3)? as u64,
                    mtime_ns: r.get(4)?,
                    ctime_ns: r.get(5)?,
                    mode: r.get::<_, i64>(6)? as u32,
                };
                let path: String = r.get(0)?;
                let recorded_ns: i64 = r.get(8)?;
                let digest = r.get_ref(7)?.as_str()?.parse::<Digest>();
                Ok(digest.ok().map(|digest| FileDigestRow {
                    path,
                    stat,
                    digest,
                    recorded_ns,
                }))
            })
            .map_err(|e| self.db(e))?;
        let mut out = Vec::new();
        for row in rows {
            out.extend(row.map_err(|e| self.db(e))?);
        }
        Ok(out)
    }

    /// Records new or changed file digests of the directory `root` and
    /// forgets the paths in `removed`, in one transaction. Also forgets
    /// directories unused for 30 days, and those `gone` says no longer
    /// exist (it is asked about every other recorded directory).
    pub fn put_file_digests(
        &self,
        root: &str,
        rows: &[FileDigestRow],
        removed: &[String],
        gone: impl Fn(&str) -> bool,
    ) -> Result<()> {
        let t = now();
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.db(e))?;
        let others: Vec<String> = {
            let mut st = tx
                .prepare("SELECT path FROM digest_roots WHERE path <> ?1 AND used >= ?2")
                .map_err(|e| self.db(e))?;
            st.query_map(params![root, t - DIGEST_ROOT_TTL_SECS], |r| r.get(0))
                .map_err(|e| self.db(e))?
                .collect::<rusqlite::Result<_>>()
                .map_err(|e| self.db(e))?
        };
        tx.execute(
            "DELETE FROM digest_roots WHERE used < ?1",
            [t - DIGEST_ROOT_TTL_SECS],
        )
        .map_err(|e| self.db(e))?;
        for other in others.iter().filter(|p| gone(p)) {
            tx.execute("DELETE FROM digest_roots WHERE path = ?1", [other])
                .map_err(|e| self.db(e))?;
        }
        let id: i64 = tx
            .query_row(
                "INSERT INTO digest_roots (path, used) VALUES (?1, ?2)
                 ON CONFLICT(path) DO UPDATE SET used = ?2 RETURNING id",
                params![root, t],
                |r| r.get(0),
            )
            .map_err(|e| self.db(e))?;
        {
            let mut put = tx
                .prepare(
                    "INSERT INTO file_digests
                       (root, path, dev, ino, size, mtime_ns, ctime_ns, mode, digest, recorded)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                     ON CONFLICT(root, path) DO UPDATE SET dev = ?3, ino = ?4, size = ?5,
                       mtime_ns = ?6, ctime_ns = ?7, mode = ?8, digest = ?9, recorded = ?10",
                )
                .map_err(|e| self.db(e))?;
            for row in rows {
                let s = &row.stat;
                put.execute(params![
                    id,
                    row.path,
                    s.dev as i64,
                    s.ino as i64,
                    s.size as i64,
                    s.mtime_ns,
                    s.ctime_ns,
                    i64::from(s.mode),
                    row.digest.to_string(),
                    row.recorded_ns
                ])
                .map_err(|e| self.db(e))?;
            }
            let mut del = tx
                .prepare("DELETE FROM file_digests WHERE root = ?1 AND path = ?2")
                .map_err(|e| self.db(e))?;
            for path in removed {
                del.execute(params![id, path]).map_err(|e| self.db(e))?;
            }
        }
        tx.commit().map_err(|e| self.db(e))
    }
}

fn tag_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TagRow> {
    Ok(TagRow {
        name: r.get(0)?,
        manifest: digest_col(r.get(1)?)?,
        config: digest_col(r.get(2)?)?,
        updated: r.get(3)?,
    })
}

fn snapshot_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SnapshotRow> {
    Ok(SnapshotRow {
        id: r.get(0)?,
        chain_id: digest_col(r.get(1)?)?,
        parent: r.get(2)?,
        diff_id: digest_col(r.get(3)?)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_layers_snapshots_cache() {
        let dir = tempfile::tempdir().unwrap();
        let m = Meta::open(&dir.path().join("meta.db")).unwrap();
        let a = Digest::of(b"a");
        let b = Digest::of(b"b");
        m.put_tag("x:1", &a, &b).unwrap();
        assert_eq!(m.tag("x:1").unwrap().unwrap().config, b);
        m.put_tag("x:1", &b, &a).unwrap();
        assert_eq!(m.tag("x:1").unwrap().unwrap().manifest, b);
        assert_eq!(m.tags().unwrap().len(), 1);
        assert!(m.remove_tag("x:1").unwrap());
        assert!(m.tag("x:1").unwrap().is_none());

        let mut placed = None;
        let s = m
            .insert_snapshot(&a, None, &b, |id| {
                placed = Some(id);
                Ok(())
            })
            .unwrap();
        assert_eq!(placed, Some(s.id));
        // Same chain again: the existing row, no placing.
        let again = m
            .insert_snapshot(&a, None, &b, |_| panic!("placed twice"))
            .unwrap();
        assert_eq!(again, s);
        assert_eq!(m.snapshot_by_chain(&a).unwrap(), Some(s));

        // A failing place rolls the row back.
        let c = Digest::of(b"c");
        assert!(
            m.insert_snapshot(&c, Some(s.id), &b, |_| Err(Error::SnapshotMissing(
                "x".into()
            )))
            .is_err()
        );
        assert!(m.snapshot_by_chain(&c).unwrap().is_none());

        m.put_cache(&c, &a).unwrap();
        assert_eq!(m.cache(&c).unwrap(), Some(a));
        assert_eq!(
            m.setting_or_insert("snapshotter", "overlay").unwrap(),
            "overlay"
        );
        assert_eq!(
            m.setting_or_insert("snapshotter", "copy").unwrap(),
            "overlay"
        );
    }

    #[test]
    fn cache_hits_refresh_last_used_coarsely() {
        let dir = tempfile::tempdir().unwrap();
        let m = Meta::open(&dir.path().join("meta.db")).unwrap();
        let (k, c) = (Digest::of(b"k"), Digest::of(b"c"));
        m.put_cache(&k, &c).unwrap();
        let last_used = |m: &Meta| -> i64 {
            m.conn()
                .query_row("SELECT last_used FROM cache", [], |r| r.get(0))
                .unwrap()
        };
        let set = |m: &Meta, t: i64| {
            m.conn()
                .execute("UPDATE cache SET last_used = ?1", [t])
                .unwrap();
        };
        // Recent: a hit leaves the row alone (no write on a no-op build).
        let recent = now() - 10;
        set(&m, recent);
        assert_eq!(m.cache(&k).unwrap(), Some(c));
        assert_eq!(last_used(&m), recent);
        // Stale: a hit records the use.
        set(&m, now() - 2 * LAST_USED_GRAIN_SECS);
        assert_eq!(m.cache(&k).unwrap(), Some(c));
        assert!(last_used(&m) >= now() - 5);
    }

    fn file_row(path: &str, ino: u64, digest: &Digest) -> FileDigestRow {
        FileDigestRow {
            path: path.to_string(),
            stat: FileStat {
                dev: u64::MAX,
                ino,
                size: 5,
                mtime_ns: -1,
                ctime_ns: 2,
                mode: 0o100644,
            },
            digest: *digest,
            recorded_ns: 3,
        }
    }

    #[test]
    fn file_digests_per_root() {
        let dir = tempfile::tempdir().unwrap();
        let m = Meta::open(&dir.path().join("meta.db")).unwrap();
        let a = Digest::of(b"a");
        let b = Digest::of(b"b");
        assert!(m.file_digests("/ctx").unwrap().is_empty());
        let rows = vec![file_row("x", 1, &a), file_row("d/y", 2, &b)];
        m.put_file_digests("/ctx", &rows, &[], |_| false).unwrap();
        m.put_file_digests("/other", &rows[..1], &[], |_| false)
            .unwrap();
        let mut got = m.file_digests("/ctx").unwrap();
        got.sort_by(|x, y| x.path.cmp(&y.path));
        assert_eq!(got, vec![rows[1].clone(), rows[0].clone()]);
        // An update replaces the row; a removal drops it.
        let changed = file_row("x", 9, &b);
        m.put_file_digests(
            "/ctx",
            std::slice::from_ref(&changed),
            &["d/y".into()],
            |_| false,
        )
        .unwrap();
        assert_eq!(m.file_digests("/ctx").unwrap(), vec![changed]);
        assert_eq!(m.file_digests("/other").unwrap().len(), 1);
        // A directory that is gone loses its rows.
        m.put_file_digests("/ctx", &[], &[], |p| p == "/other")
            .unwrap();
        assert!(m.file_digests("/other").unwrap().is_empty());
        assert_eq!(m.file_digests("/ctx").unwrap().len(), 1);
    }

    #[test]
    fn version_1_store_upgrades() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE cache (key TEXT PRIMARY KEY, chain_id TEXT NOT NULL,
                 created INTEGER NOT NULL, last_used INTEGER NOT NULL);
                 INSERT INTO cache VALUES ('k', 'c', 1, 1);
                 PRAGMA user_version = 1;",
            )
            .unwrap();
        }
        let m = Meta::open(&path).unwrap();
        let a = Digest::of(b"a");
        m.put_file_digests("/ctx", &[file_row("x", 1, &a)], &[], |_| false)
            .unwrap();
        assert_eq!(m.file_digests("/ctx").unwrap().len(), 1);
        let kept: i64 = m
            .conn()
            .query_row("SELECT count(*) FROM cache", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, 1);
    }
}
