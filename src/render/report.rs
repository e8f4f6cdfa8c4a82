//! What every progress renderer shares: log lines assembled from chunks,
//! and the end-of-build report (the last lines of each failed step, then
//! the warnings), in BuildKit's shape.

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use kiln_solver::progress::Event;

/// Log lines shown again for a failed step at the end.
const TAIL: usize = 10;

/// `0.152`, `12.34`, `123.4`: the offset format of log lines.
pub fn offset(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 10.0 {
        format!("{s:.3}")
    } else if s < 100.0 {
        format!("{s:.2}")
    } else {
        format!("{s:.1}")
    }
}

#[derive(Default)]
struct Step {
    name: String,
    tail: Vec<String>,
    partial: Vec<u8>,
    partial_at: Duration,
}

/// Tracks steps for the end-of-build report.
#[derive(Default)]
pub struct Report {
    steps: HashMap<usize, Step>,
    failed: Vec<usize>,
    warnings: Vec<String>,
}

impl Report {
    /// Takes note of an event. For log output, returns the lines it
    /// completed, formatted `<offset> <text>`; a step's unfinished last
    /// line comes out when the step ends.
    pub fn record(&mut self, e: &Event) -> Vec<String> {
        match e {
            Event::Started { vertex, name, .. } => {
                self.steps.entry(*vertex).or_default().name = name.clone();
                Vec::new()
            }
            Event::Log {
                vertex,
                data,
                offset: at,
                ..
            } => {
                let step = self.steps.entry(*vertex).or_default();
                step.partial.extend_from_slice(data);
                step.partial_at = *at;
                let mut lines = Vec::new();
                while let Some(pos) = step.partial.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = step.partial.drain(..=pos).collect();
                    let text = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
                    lines.push(format!("{} {text}", offset(*at)));
                }
                for l in &lines {
                    push_tail(&mut step.tail, l.clone());
                }
                lines
            }
            Event::Cached { vertex } | Event::Done { vertex, .. } | Event::Canceled { vertex } => {
                self.flush(*vertex)
            }
            Event::Failed { vertex, .. } => {
                self.failed.push(*vertex);
                self.flush(*vertex)
            }
            Event::Warning { message } => {
                self.warnings.push(message.clone());
                Vec::new()
            }
            Event::Status { .. } => Vec::new(),
        }
    }

    /// The unfinished last line of a step that has ended.
    fn flush(&mut self, vertex: usize) -> Vec<String> {
        let Some(step) = self.steps.get_mut(&vertex) else {
            return Vec::new();
        };
        if step.partial.is_empty() {
            return Vec::new();
        }
        let text = String::from_utf8_lossy(&std::mem::take(&mut step.partial)).into_owned();
        let line = format!("{} {text}", offset(step.partial_at));
        push_tail(&mut step.tail, line.clone());
        vec![line]
    }

    /// The name of a step.
    pub fn name(&self, vertex: usize) -> &str {
        self.steps.get(&vertex).map_or("", |s| s.name.as_str())
    }

    /// The last log lines of a step.
    pub fn tail(&self, vertex: usize) -> &[String] {
        self.steps.get(&vertex).map_or(&[], |s| s.tail.as_slice())
    }

    /// Writes the failed steps' tails and the warnings.
    pub fn write(&self, out: &mut impl Write) {
        for &v in &self.failed {
            let _ = writeln!(out, "------");
            let _ = writeln!(out, " > {}:", self.name(v));
            for l in self.tail(v) {
                let _ = writeln!(out, "{l}");
            }
            let _ = writeln!(out, "------");
        }
        if !self.warnings.is_empty() {
            let n = self.warnings.len();
            let _ = writeln!(
                out,
                "\n {n} warning{} found:",
                if n == 1 { "" } else { "s" }
            );
            for w in &self.warnings {
                let _ = writeln!(out, " - {w}");
            }
        }
        let _ = out.flush();
    }
}

fn push_tail(tail: &mut Vec<String>, line: String) {
    tail.push(line);
    if tail.len() > TAIL {
        tail.remove(0);
    }
}
