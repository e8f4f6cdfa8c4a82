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
//!
//! ```
//! let (df, stages) = kiln_parser::parse_stages(b"FROM scratch\nCOPY a /a\n").unwrap();
//! assert_eq!(df.dump(), "(from \"scratch\")\n(copy \"a\" \"/a\")\n");
//! assert_eq!(stages.stages.len(), 1);
//! ```

#![deny(missing_docs)]

mod args;
pub mod ast;
pub mod directive;
mod duration;
mod error;
pub mod heredoc;
pub mod instruction;
mod json;
mod line;
pub mod lint;
pub mod print;
mod quote;
pub mod shell;
mod span;
mod split;
mod suggest;

pub use ast::{Dockerfile, Heredoc, Node, Warning, Word};
pub use duration::{GoDuration, parse_go_duration};
pub use error::{Error, ErrorKind};
pub use instruction::{Command, Instruction, Stage, Stages, parse_stages};
pub use line::{MAX_FILE, parse};
pub use print::print;
pub use quote::go_quote;
pub use span::{Position, Span};
