//! kiln-parser: Dockerfile text to typed instructions.
//!
//! It owns the Dockerfile syntax (parser directives, line continuations,
//! comments, heredocs, exec and shell forms, flags), shell word expansion
//! with BuildKit's rules, and the typed instructions built from the syntax
//! tree, each with the source span it came from.
//!
//! It must not do I/O, read the process environment, compute digests or
//! know about images: callers pass text in and get values or errors with
//! spans out.

pub mod shell;
