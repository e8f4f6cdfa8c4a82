//! OCI layer tarballs: writing them from changed trees, applying them to
//! directories.
