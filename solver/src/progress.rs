//! Progress as events: the solver reports, the CLI renders (plain, tty or
//! JSON). Libraries never print.

use std::time::{Duration, SystemTime};

/// Where a log chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// The step's standard output.
    Stdout,
    /// The step's standard error.
    Stderr,
}

/// Something that happened to a vertex.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Work on a vertex began (or its cache check did).
    Started {
        /// Vertex number, stable within the build.
        vertex: usize,
        /// Display name.
        name: String,
        /// Wall-clock time.
        at: SystemTime,
    },
    /// A status line, e.g. `transferring context: 1.05kB done`.
    Status {
        /// Vertex number.
        vertex: usize,
        /// The text.
        text: String,
    },
    /// Output of a step.
    Log {
        /// Vertex number.
        vertex: usize,
        /// Which stream.
        stream: Stream,
        /// Bytes, split at newlines where possible.
        data: Vec<u8>,
        /// Time since the vertex started.
        offset: Duration,
    },
    /// The result came from the cache.
    Cached {
        /// Vertex number.
        vertex: usize,
    },
    /// The vertex finished.
    Done {
        /// Vertex number.
        vertex: usize,
        /// Time it took.
        elapsed: Duration,
    },
    /// The vertex failed.
    Failed {
        /// Vertex number.
        vertex: usize,
        /// What went wrong.
        message: String,
    },
    /// The vertex was stopped because another one failed.
    Canceled {
        /// Vertex number.
        vertex: usize,
    },
    /// A warning not tied to a vertex.
    Warning {
        /// The text.
        message: String,
    },
}

/// Where events go. Cloneable and usable from any thread.
#[derive(Clone)]
pub struct Progress {
    tx: Option<std::sync::mpsc::Sender<Event>>,
}

impl Progress {
    /// Events go to `tx`.
    pub fn new(tx: std::sync::mpsc::Sender<Event>) -> Progress {
        Progress { tx: Some(tx) }
    }

    /// Events go nowhere.
    pub fn discard() -> Progress {
        Progress { tx: None }
    }

    /// Sends an event; a renderer that went away is not an error.
    pub fn send(&self, e: Event) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(e);
        }
    }

    /// Runs `f` as the step `vertex` named `name`, outside the graph:
    /// started, then done or failed with its error.
    pub(crate) fn step<T>(
        &self,
        vertex: usize,
        name: &str,
        f: impl FnOnce() -> crate::error::Result<T>,
    ) -> crate::error::Result<T> {
        let t = std::time::Instant::now();
        self.send(Event::Started {
            vertex,
            name: name.to_string(),
            at: SystemTime::now(),
        });
        let r = f();
        match &r {
            Ok(_) => self.send(Event::Done {
                vertex,
                elapsed: t.elapsed(),
            }),
            Err(e) => self.send(Event::Failed {
                vertex,
                message: e.to_string(),
            }),
        }
        r
    }
}
