//! BuildKit's plain progress format (reference/buildkit.md §4): `#N`
//! headers, status and log lines, one terminal line per step, and the
//! failed steps' last log lines at the end. No colour, ever.

use std::collections::HashMap;
use std::io::Write;

use kiln_solver::progress::Event;

use super::report::Report;

/// Renders events as they come.
pub struct Plain<W: Write> {
    out: W,
    /// Display number of each vertex, assigned when first printed.
    numbers: HashMap<usize, usize>,
    finished: HashMap<usize, bool>,
    current: Option<usize>,
    printed_any: bool,
    report: Report,
}

impl<W: Write> Plain<W> {
    /// A renderer writing to `out`.
    pub fn new(out: W) -> Plain<W> {
        Plain {
            out,
            numbers: HashMap::new(),
            finished: HashMap::new(),
            current: None,
            printed_any: false,
            report: Report::default(),
        }
    }

    /// The writer back.
    #[cfg(test)]
    pub fn into_inner(self) -> W {
        self.out
    }

    /// Makes `vertex` the current one, printing its header if needed.
    fn switch_to(&mut self, vertex: usize) {
        if self.current == Some(vertex) {
            return;
        }
        if let Some(prev) = self.current
            && !self.finished.get(&prev).copied().unwrap_or(true)
        {
            let _ = writeln!(self.out, "#{} ...", self.numbers[&prev]);
        }
        let Some(&number) = self.numbers.get(&vertex) else {
            return;
        };
        if self.printed_any {
            let _ = writeln!(self.out);
        }
        let _ = writeln!(self.out, "#{number} {}", self.report.name(vertex));
        self.printed_any = true;
        self.current = Some(vertex);
    }

    fn line(&mut self, vertex: usize, text: &str) {
        self.switch_to(vertex);
        if let Some(n) = self.numbers.get(&vertex) {
            let _ = writeln!(self.out, "#{n} {text}");
        }
    }

    /// Handles one event.
    pub fn event(&mut self, e: Event) {
        let lines = self.report.record(&e);
        match e {
            Event::Started { vertex, .. } => {
                let next = self.numbers.len() + 1;
                self.numbers.entry(vertex).or_insert(next);
                self.finished.insert(vertex, false);
                self.switch_to(vertex);
            }
            Event::Status { vertex, text } => self.line(vertex, &text),
            Event::Log { vertex, .. } => {
                for l in lines {
                    self.line(vertex, &l);
                }
            }
            Event::Cached { vertex } => self.terminal(vertex, lines, "CACHED".to_string()),
            Event::Done { vertex, elapsed } => {
                self.terminal(vertex, lines, format!("DONE {:.1}s", elapsed.as_secs_f64()))
            }
            Event::Failed { vertex, message } => {
                self.terminal(vertex, lines, format!("ERROR: {message}"))
            }
            Event::Canceled { vertex } => self.terminal(vertex, lines, "CANCELED".to_string()),
            // Shown together at the end, as BuildKit does.
            Event::Warning { .. } => {}
        }
    }

    fn terminal(&mut self, vertex: usize, pending: Vec<String>, text: String) {
        for l in pending {
            self.line(vertex, &l);
        }
        self.line(vertex, &text);
        self.finished.insert(vertex, true);
    }

    /// Prints the tails of failed steps and the warnings, as BuildKit does
    /// at the end.
    pub fn finish(&mut self) {
        self.report.write(&mut self.out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_solver::progress::Stream;
    use std::time::Duration;
    use std::time::SystemTime;

    fn started(vertex: usize, name: &str) -> Event {
        Event::Started {
            vertex,
            name: name.into(),
            at: SystemTime::now(),
        }
    }

    #[test]
    fn buildkit_shape() {
        let mut p = Plain::new(Vec::new());
        p.event(started(
            10,
            "[internal] load build definition from Dockerfile",
        ));
        p.event(Event::Status {
            vertex: 10,
            text: "transferring dockerfile: 176B done".into(),
        });
        p.event(Event::Done {
            vertex: 10,
            elapsed: Duration::from_millis(20),
        });
        p.event(started(3, "[2/3] COPY a b"));
        p.event(Event::Cached { vertex: 3 });
        p.event(started(4, "[3/3] RUN echo hello && false"));
        p.event(Event::Log {
            vertex: 4,
            stream: Stream::Stdout,
            data: b"hello\n".to_vec(),
            offset: Duration::from_millis(152),
        });
        p.event(Event::Failed {
            vertex: 4,
            message: "process \"/bin/sh -c echo hello && false\" did not complete successfully: exit code: 1".into(),
        });
        p.finish();
        let out = String::from_utf8(p.into_inner()).unwrap();
        assert_eq!(
            out,
            "#1 [internal] load build definition from Dockerfile\n\
             #1 transferring dockerfile: 176B done\n\
             #1 DONE 0.0s\n\
             \n\
             #2 [2/3] COPY a b\n\
             #2 CACHED\n\
             \n\
             #3 [3/3] RUN echo hello && false\n\
             #3 0.152 hello\n\
             #3 ERROR: process \"/bin/sh -c echo hello && false\" did not complete successfully: exit code: 1\n\
             ------\n \
             > [3/3] RUN echo hello && false:\n\
             0.152 hello\n\
             ------\n"
        );
    }

    #[test]
    fn interleaving_marks_switches() {
        let mut p = Plain::new(Vec::new());
        p.event(started(1, "a"));
        p.event(started(2, "b"));
        p.event(Event::Done {
            vertex: 1,
            elapsed: Duration::from_millis(1200),
        });
        let out = String::from_utf8(p.into_inner()).unwrap();
        assert_eq!(out, "#1 a\n#1 ...\n\n#2 b\n#2 ...\n\n#1 a\n#1 DONE 1.2s\n");
    }
}
