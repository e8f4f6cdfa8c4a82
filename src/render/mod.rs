//! How kiln shows things: Dockerfile diagnostics and build progress.

pub mod diagnostic;
pub mod plain;
pub mod rawjson;
pub mod report;
pub mod tty;

use std::io::IsTerminal;

use kiln_solver::progress::Event;

/// How build progress is shown (`--progress`).
pub enum Renderer {
    /// BuildKit's plain lines.
    Plain(plain::Plain<std::io::Stderr>),
    /// Live terminal lines.
    Tty(tty::Tty),
    /// JSON lines.
    RawJson(rawjson::RawJson<std::io::Stderr>),
    /// Nothing but the end-of-build report.
    Quiet(report::Report),
}

impl Renderer {
    /// The renderer for a `--progress` value; `auto` picks the terminal
    /// display only when both stdout and stderr are terminals and neither
    /// `NO_COLOR` nor `CI` is set (Jenkins and friends get plain lines).
    pub fn for_mode(mode: &str) -> Option<Renderer> {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
        let terminal = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
        Some(match mode {
            "plain" => Renderer::Plain(plain::Plain::new(std::io::stderr())),
            "tty" => Renderer::Tty(tty::Tty::new(!no_color)),
            "rawjson" => Renderer::RawJson(rawjson::RawJson::new(std::io::stderr())),
            "quiet" => Renderer::Quiet(report::Report::default()),
            "auto" if terminal && !no_color && !ci => Renderer::Tty(tty::Tty::new(true)),
            "auto" => Renderer::Plain(plain::Plain::new(std::io::stderr())),
            _ => return None,
        })
    }

    /// Handles one event.
    pub fn event(&mut self, e: Event) {
        match self {
            Renderer::Plain(p) => p.event(e),
            Renderer::Tty(t) => t.event(e),
            Renderer::RawJson(r) => r.event(e),
            Renderer::Quiet(r) => {
                r.record(&e);
            }
        }
    }

    /// Ends the display.
    pub fn finish(&mut self) {
        match self {
            Renderer::Plain(p) => p.finish(),
            Renderer::Tty(t) => t.finish(),
            Renderer::RawJson(r) => r.finish(),
            Renderer::Quiet(r) => r.write(&mut std::io::stderr()),
        }
    }
}
