//! kiln-cache: the store under `--root`.
//!
//! It owns content-addressed blobs, the metadata database, snapshots
//! (unpacked layers and step outputs), layer diff and apply, the image
//! store, and later registry I/O and garbage collection.
//!
//! It must not know about Dockerfiles or instructions, and it never prints.

pub mod layer;
