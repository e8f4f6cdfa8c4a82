//! The one map from failures to exit codes, so a CI pipeline can tell a
//! failed step from bad input from a broken machine.

use kiln_solver::ErrorClass;

/// A build step failed.
pub const STEP_FAILED: i32 = 1;
/// Bad usage, bad Dockerfile, missing files.
pub const BAD_INPUT: i32 = 2;
/// Store, sandbox, registry or machine trouble: worth a retry.
pub const INFRASTRUCTURE: i32 = 3;
/// `kiln run` itself failed before the container ran (docker's 125).
pub const RUN_FAILED: i32 = 125;
/// The container's program could not be executed (docker's 126).
pub const RUN_NOT_EXECUTABLE: i32 = 126;
/// The container's program was not found (docker's 127).
pub const RUN_NOT_FOUND: i32 = 127;

/// The exit code of a build error class.
pub fn for_class(c: ErrorClass) -> i32 {
    match c {
        ErrorClass::Step => STEP_FAILED,
        ErrorClass::Input => BAD_INPUT,
        ErrorClass::Infrastructure => INFRASTRUCTURE,
    }
}

/// A failure the CLI reports and exits with.
#[derive(Debug)]
pub struct Failure {
    /// Exit code.
    pub code: i32,
    /// What to print (may span lines; the first says what and where).
    pub message: String,
}

impl Failure {
    pub fn new(code: i32, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }

    pub fn input(message: impl Into<String>) -> Failure {
        Failure::new(BAD_INPUT, message)
    }

    pub fn infra(message: impl Into<String>) -> Failure {
        Failure::new(INFRASTRUCTURE, message)
    }
}

impl From<kiln_cache::Error> for Failure {
    fn from(e: kiln_cache::Error) -> Failure {
        let code = if e.is_infrastructure() {
            INFRASTRUCTURE
        } else {
            BAD_INPUT
        };
        Failure::new(code, e.to_string())
    }
}
