//! Shell word expansion as BuildKit's `shell` package does it.
