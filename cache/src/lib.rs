//! kiln-cache: the store under `--root`.
//!
//! It owns content-addressed blobs, the metadata database, snapshots
//! (unpacked layers and step outputs), layer diff and apply, and the image
//! store; later registry I/O and garbage collection.
//!
//! It must not know about Dockerfiles or instructions, and it never prints.
//!
//! Layout of a store:
//!
//! ```text
//! <root>/lock               shared flock held by every kiln process
//! <root>/meta.db            SQLite: tags, layers, snapshots, build cache
//! <root>/blobs/sha256/<hex> immutable blobs (layers, configs, manifests)
//! <root>/snapshots/<id>/fs  unpacked layers (overlay) or trees (copy)
//! <root>/tmp/p<rand>/       one per live process, swept when it dies
//! ```

#![deny(missing_docs)]

pub mod compression;
pub mod content;
pub mod digest;
mod error;
pub mod export;
pub mod fsops;
pub mod image;
pub mod layer;
pub mod meta;
pub mod reference;
pub mod snapshot;
mod store;

pub use digest::{Digest, Hasher};
pub use error::{Error, Result};
pub use image::ImageConfig;
pub use reference::ImageName;
pub use snapshot::{Active, Mountable, Snapshot, SnapshotterKind, View};
pub use store::{Image, ImageId, ImageSummary, Store, now_rfc3339};
