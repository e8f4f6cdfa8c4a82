//! BuildKit's plain progress format (reference/buildkit.md §4): `#N`
//! headers, status and log lines, one terminal line per step, and the
//! failed steps' last log lines at the end. No colour, ever.

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use kiln_solver::progress::Event;

/// Log lines shown again for a failed step at the end.
const TAIL: usize = 10;

struct Step {
    number: usize,
    name: String,
    logs: Vec<String>,
    partial: Vec<u8>,
    failed: bool,
    finished: bool,
}

/// Renders events as they come.
pub struct Plain<W: Write> {
    out: W,
    steps: HashMap<usize, Step>,
    next_number: usize,
    current: Option<usize>,
    printed_any: bool,
    failed_order: Vec<usize>,
    warnings: Vec<String>,
}

/// `0.152`, `12.34`, `123.4`: the offset format of log lines.
fn offset(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 10.0 {
        format!("{s:.3}")
    } else if s < 100.0 {
        format!("{s:.2}")
    } else {
        format!("{s:.1}")
    }
}

impl<W: Write> Plain<W> {
    /// A renderer writing to `out`.
    pub fn new(out: W) -> Plain<W> {
        Plain {
            out,
            steps: HashMap::new(),
            next_number: 1,
            current: None,
            printed_any: false,
            failed_order: Vec::new(),
            warnings: Vec::new(),
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
            && let Some(p) = self.steps.get(&prev)
            && !p.finished
        {
            let _ = writeln!(self.out, "#{} ...", p.number);
        }
        let Some(step) = self.steps.get(&vertex) else {
            return;
        };
        if self.printed_any {
            let _ = writeln!(self.out);
        }
        let _ = writeln!(self.out, "#{} {}", step.number, step.name);
        self.printed_any = true;
        self.current = Some(vertex);
    }

    fn line(&mut self, vertex: usize, text: &str) {
        self.switch_to(vertex);
        if let Some(s) = self.steps.get(&vertex) {
            let _ = writeln!(self.out, "#{} {text}", s.number);
        }
    }

    /// Handles one event.
    pub fn event(&mut self, e: Event) {
        match e {
            Event::Started { vertex, name, .. } => {
                if !self.steps.contains_key(&vertex) {
                    let number = self.next_number;
                    self.next_number += 1;
                    self.steps.insert(
                        vertex,
                        Step {
                            number,
                            name,
                            logs: Vec::new(),
                            partial: Vec::new(),
                            failed: false,
                            finished: false,
                        },
                    );
                }
                self.switch_to(vertex);
            }
            Event::Status { vertex, text } => self.line(vertex, &text),
            Event::Log {
                vertex,
                data,
                offset: at,
                ..
            } => {
                let Some(step) = self.steps.get_mut(&vertex) else {
                    return;
                };
                step.partial.extend_from_slice(&data);
                let mut complete = Vec::new();
                while let Some(pos) = step.partial.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = step.partial.drain(..=pos).collect();
                    let text = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
                    let shown = format!("{} {text}", offset(at));
                    step.logs.push(shown.clone());
                    if step.logs.len() > TAIL {
                        step.logs.remove(0);
                    }
                    complete.push(shown);
                }
                for l in complete {
                    self.line(vertex, &l);
                }
            }
            Event::Cached { vertex } => self.terminal(vertex, "CACHED".to_string()),
            Event::Done { vertex, elapsed } => {
                self.terminal(vertex, format!("DONE {:.1}s", elapsed.as_secs_f64()))
            }
            Event::Failed { vertex, message } => {
                if let Some(s) = self.steps.get_mut(&vertex) {
                    s.failed = true;
                }
                self.failed_order.push(vertex);
                self.terminal(vertex, format!("ERROR: {message}"));
            }
            Event::Canceled { vertex } => self.terminal(vertex, "CANCELED".to_string()),
            // Shown together at the end, as BuildKit does.
            Event::Warning { message } => self.warnings.push(message),
        }
    }

    fn terminal(&mut self, vertex: usize, text: String) {
        let partial = self
            .steps
            .get_mut(&vertex)
            .map(|s| std::mem::take(&mut s.partial))
            .unwrap_or_default();
        if !partial.is_empty() {
            let t = String::from_utf8_lossy(&partial).into_owned();
            self.line(vertex, &t);
        }
        self.line(vertex, &text);
        if let Some(s) = self.steps.get_mut(&vertex) {
            s.finished = true;
        }
    }

    /// Prints the tails of failed steps, as BuildKit does at the end.
    pub fn finish(&mut self) {
        for v in std::mem::take(&mut self.failed_order) {
            let Some(s) = self.steps.get(&v) else {
                continue;
            };
            if !s.failed {
                continue;
            }
            let _ = writeln!(self.out, "------");
            let _ = writeln!(self.out, " > {}:", s.name);
            for l in &s.logs {
                let _ = writeln!(self.out, "{l}");
            }
            let _ = writeln!(self.out, "------");
        }
        if !self.warnings.is_empty() {
            let n = self.warnings.len();
            let _ = writeln!(
                self.out,
                "\n {n} warning{} found:",
                if n == 1 { "" } else { "s" }
            );
            for w in &self.warnings {
                let _ = writeln!(self.out, " - {w}");
            }
        }
        let _ = self.out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_solver::progress::Stream;
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
