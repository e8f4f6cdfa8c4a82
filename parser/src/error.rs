//! The parser's one error type: what went wrong, and where in the file.

use crate::span::Span;

/// A Dockerfile that cannot be parsed, with the place that is wrong.
///
/// `span` points at the offending text (a caret goes under it); `lines`
/// is the whole instruction it belongs to, continuation lines included.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct Error {
    /// What is wrong.
    pub kind: ErrorKind,
    /// The offending text.
    pub span: Span,
    /// First and last line of the instruction, 1-based, inclusive.
    pub lines: (usize, usize),
}

/// What is wrong with a Dockerfile. Messages follow BuildKit's wording
/// where it has one, so people can search for them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No bytes at all, or only blanks.
    #[error("the Dockerfile cannot be empty")]
    Empty,
    /// Only comments, directives and blank lines.
    #[error("file with no instructions")]
    NoInstructions,
    /// A file over kiln's size limit: real Dockerfiles are kilobytes, and
    /// refusing huge ones keeps parse time and memory bounded.
    #[error("the Dockerfile is larger than {0} bytes")]
    TooLarge(usize),
    /// The text is not UTF-8.
    #[error("the Dockerfile is not valid UTF-8")]
    NotUtf8,
    /// A physical line over BuildKit's scanner limit.
    #[error("dockerfile line greater than max allowed size of 65535")]
    LineTooLong,
    /// `# escape=` with something other than a backslash or backtick.
    #[error("invalid escape token '{0}' does not match ` or \\")]
    InvalidEscape(String),
    /// A parser directive given twice.
    #[error("only one {0} parser directive can be used")]
    DuplicateDirective(String),
    /// A heredoc whose terminator never comes.
    #[error("unterminated heredoc")]
    UnterminatedHeredoc,
    /// A heredoc word the lexer rejects.
    #[error("invalid heredoc: {0}")]
    Heredoc(String),
    /// A JSON array holding something other than strings.
    #[error("when using JSON array syntax, arrays must be comprised of strings only")]
    JsonNotStrings,
    /// `ENV key` or `LABEL key` with no value.
    #[error("{0} must have two arguments")]
    MissingValue(&'static str),
    /// A `k=v` list with a word lacking `=`.
    #[error("Syntax error - can't find = in {0}. Must be of the form: name=value")]
    MissingEquals(String),
    /// A keyword that is no Dockerfile instruction.
    #[error("unknown instruction: {word}{}", did_you_mean(.suggestion))]
    UnknownInstruction {
        /// The word as written.
        word: String,
        /// A close instruction name, if any.
        suggestion: Option<String>,
    },
    /// A flag the instruction does not take.
    #[error("unknown flag: {flag}{}", did_you_mean(.suggestion))]
    UnknownFlag {
        /// The flag as written, with its dashes.
        flag: String,
        /// A close flag name, if any.
        suggestion: Option<String>,
    },
    /// A single-valued flag given twice.
    #[error("duplicate flag specified: {0}")]
    DuplicateFlag(String),
    /// A flag that needs `=value`.
    #[error("missing a value on flag: {0}")]
    MissingFlagValue(String),
    /// A boolean flag with a value other than true or false.
    #[error("expecting boolean value for flag {flag}, not: {value}")]
    NotBoolean {
        /// The flag.
        flag: String,
        /// What was given.
        value: String,
    },
    /// A word in the flag position that does not start with `--`.
    #[error("arg should start with -- : {0}")]
    NotAFlag(String),
    /// Too few or too many arguments (the message says which).
    #[error("{0}")]
    Arguments(String),
    /// An instruction that must be in JSON form.
    #[error("{0} requires the arguments to be in JSON form")]
    NotJson(&'static str),
    /// A stage name that is not `^[a-z][a-z0-9-_.]*$`.
    #[error("invalid name for build stage: {0}, name can't start with a number or contain symbols")]
    StageName(String),
    /// A forbidden ONBUILD trigger.
    #[error("{0}")]
    OnbuildTrigger(String),
    /// An instruction (other than ARG) before the first FROM.
    #[error("no build stage in current context")]
    NoStage,
    /// HEALTHCHECK problems (the message says which).
    #[error("{0}")]
    Healthcheck(String),
    /// A heredoc where a path is required.
    #[error("{0} cannot accept a heredoc as {1}")]
    BadHeredoc(&'static str, &'static str),
}

fn did_you_mean(s: &Option<String>) -> String {
    match s {
        Some(s) => format!(" (did you mean {s}?)"),
        None => String::new(),
    }
}
