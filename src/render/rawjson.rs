//! `--progress=rawjson`: one JSON object per event and line, for tools.

use std::io::Write;

use kiln_solver::progress::{Event, Stream};
use serde_json::json;

/// Writes events as JSON lines.
pub struct RawJson<W: Write> {
    out: W,
}

impl<W: Write> RawJson<W> {
    /// A renderer writing to `out`.
    pub fn new(out: W) -> RawJson<W> {
        RawJson { out }
    }

    /// Handles one event.
    pub fn event(&mut self, e: Event) {
        let v = match e {
            Event::Started { vertex, name, at } => {
                let at: chrono::DateTime<chrono::Utc> = at.into();
                json!({"vertex": vertex, "event": "started", "name": name, "time": at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)})
            }
            Event::Status { vertex, text } => {
                json!({"vertex": vertex, "event": "status", "text": text})
            }
            Event::Log {
                vertex,
                stream,
                data,
                offset,
            } => json!({
                "vertex": vertex,
                "event": "log",
                "stream": match stream { Stream::Stdout => 1, Stream::Stderr => 2 },
                "data": String::from_utf8_lossy(&data),
                "offset": offset.as_secs_f64(),
            }),
            Event::Cached { vertex } => json!({"vertex": vertex, "event": "cached"}),
            Event::Done { vertex, elapsed } => {
                json!({"vertex": vertex, "event": "done", "seconds": elapsed.as_secs_f64()})
            }
            Event::Failed { vertex, message } => {
                json!({"vertex": vertex, "event": "error", "message": message})
            }
            Event::Canceled { vertex } => json!({"vertex": vertex, "event": "canceled"}),
            Event::Warning { message } => json!({"event": "warning", "message": message}),
        };
        let _ = writeln!(self.out, "{v}");
    }

    /// Flushes.
    pub fn finish(&mut self) {
        let _ = self.out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn one_object_per_line() {
        let mut r = RawJson::new(Vec::new());
        r.event(Event::Cached { vertex: 3 });
        r.event(Event::Done {
            vertex: 4,
            elapsed: Duration::from_millis(250),
        });
        let out = String::from_utf8(r.out).unwrap();
        let lines: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["event"], "cached");
        assert_eq!(lines[1]["seconds"], 0.25);
    }
}
