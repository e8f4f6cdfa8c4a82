//! Progress on a terminal: one live line per running step (spinner, name,
//! its latest output, elapsed time), finished steps kept with their time
//! or CACHED, then the same end-of-build report as plain output. Colour
//! only when `NO_COLOR` is unset.

use std::collections::HashMap;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use kiln_solver::progress::Event;

use super::report::Report;

/// Renders events as live terminal lines.
pub struct Tty {
    multi: MultiProgress,
    bars: HashMap<usize, ProgressBar>,
    report: Report,
    color: bool,
}

impl Tty {
    /// A renderer drawing on stderr.
    pub fn new(color: bool) -> Tty {
        Tty {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: HashMap::new(),
            report: Report::default(),
            color,
        }
    }

    fn style(&self, running: bool) -> ProgressStyle {
        let template = match (running, self.color) {
            (true, true) => "{spinner:.cyan} {prefix:.bold} {wide_msg} {elapsed:>4}",
            (true, false) => "{spinner} {prefix} {wide_msg} {elapsed:>4}",
            (false, true) => "  {prefix:.bold} {wide_msg}",
            (false, false) => "  {prefix} {wide_msg}",
        };
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner())
    }

    fn end(&mut self, vertex: usize, status: String, failed: bool) {
        let Some(bar) = self.bars.get(&vertex) else {
            return;
        };
        bar.set_style(self.style(false));
        if failed {
            bar.abandon_with_message(status);
        } else {
            bar.finish_with_message(status);
        }
    }

    /// Handles one event.
    pub fn event(&mut self, e: Event) {
        let lines = self.report.record(&e);
        match e {
            Event::Started { vertex, name, .. } => {
                if self.bars.contains_key(&vertex) {
                    return;
                }
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(self.style(true));
                bar.set_prefix(name);
                bar.enable_steady_tick(Duration::from_millis(120));
                self.bars.insert(vertex, bar);
            }
            Event::Status { vertex, text } => {
                if let Some(bar) = self.bars.get(&vertex) {
                    bar.set_message(text);
                }
            }
            Event::Log { vertex, .. } => {
                if let (Some(bar), Some(last)) = (self.bars.get(&vertex), lines.last()) {
                    bar.set_message(last.clone());
                }
            }
            Event::Cached { vertex } => self.end(vertex, "CACHED".to_string(), false),
            Event::Done { vertex, elapsed } => {
                self.end(vertex, format!("{:.1}s", elapsed.as_secs_f64()), false)
            }
            Event::Failed { vertex, message } => {
                self.end(vertex, format!("ERROR: {message}"), true)
            }
            Event::Canceled { vertex } => self.end(vertex, "CANCELED".to_string(), true),
            Event::Warning { .. } => {}
        }
    }

    /// Stops drawing and prints the end-of-build report.
    pub fn finish(&mut self) {
        for bar in self.bars.values() {
            if !bar.is_finished() {
                bar.abandon();
            }
        }
        // The finished lines stay on screen, as a record of the build.
        let mut err = std::io::stderr().lock();
        self.report.write(&mut err);
    }
}
