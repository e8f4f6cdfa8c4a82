//! Integration tests: the real `kiln` binary on temporary stores.

// Tests say why they skip; helpers are `pub` for the test modules only.
#![allow(clippy::print_stderr, unreachable_pub)]

mod support;

mod add_url;
mod build;
mod differential;
mod errors;
mod git;
mod run;
mod run_mount;
