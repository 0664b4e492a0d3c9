//! Progress on stderr while `run` works: which script of how many, how long
//! it has been running, and for batched scripts rows per second and an ETA.
//! On a terminal an indicatif bar or spinner; elsewhere (logs, CI) a line
//! every few seconds, so that a long statement still shows it is alive.

use std::io::IsTerminal;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::render::thousands;

/// How often a line is written when stderr is not a terminal.
const LOG_EVERY: Duration = Duration::from_secs(5);

/// What the heartbeat thread reports.
#[derive(Default)]
struct Current {
    label: String,
    started: Option<Instant>,
    batch: Option<(i64, Option<i64>, i64, Duration)>,
}

/// Shows progress for one run.
pub struct Progress {
    enabled: bool,
    terminal: bool,
    bar: Option<ProgressBar>,
    current: Arc<Mutex<Current>>,
    /// Dropping it wakes and ends the heartbeat thread at once.
    stop: Option<Sender<()>>,
    heartbeat: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts showing progress (nothing until a script starts); nothing
    /// at all unless `enabled` (`run --quiet`).
    pub fn new(enabled: bool) -> Progress {
        Progress {
            enabled,
            terminal: std::io::stderr().is_terminal(),
            bar: None,
            current: Arc::default(),
            stop: None,
            heartbeat: None,
        }
    }

    /// Script `index` of `of` starts.
    pub fn script_started(&mut self, index: usize, of: usize, id: &str, name: &str) {
        let label = format!("[{index}/{of}] {id} {name}");
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Current {
            label: label.clone(),
            started: Some(Instant::now()),
            batch: None,
        };
        if !self.enabled {
            return;
        }
        if self.terminal {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("template"),
            );
            bar.set_message(label);
            bar.enable_steady_tick(Duration::from_millis(120));
            self.bar = Some(bar);
        } else if self.heartbeat.is_none() {
            let (stop, stopped) = mpsc::channel();
            self.stop = Some(stop);
            self.heartbeat = Some(spawn_heartbeat(Arc::clone(&self.current), stopped));
        }
    }

    /// A batched script committed a batch.
    pub fn batch(
        &mut self,
        batches: i64,
        rows_done: i64,
        rows_total: Option<i64>,
        elapsed: Duration,
    ) {
        {
            let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
            current.batch = Some((rows_done, rows_total, batches, elapsed));
        }
        let Some(bar) = &self.bar else { return };
        match rows_total {
            Some(total) if bar.length() != Some(total as u64) => {
                bar.set_length(total.max(0) as u64);
                bar.set_style(
                    ProgressStyle::with_template(
                        "{msg} [{bar:30}] {human_pos}/{human_len} rows {rate} ETA {eta} ({elapsed})",
                    )
                    .expect("template")
                    .with_key("rate", rate_key)
                    .progress_chars("=> "),
                );
            }
            None if batches > 0 => bar.set_message(format!(
                "{} {} rows in {} batches",
                self.current.lock().unwrap_or_else(|p| p.into_inner()).label,
                thousands(rows_done),
                thousands(batches)
            )),
            _ => {}
        }
        bar.set_position(rows_done.max(0) as u64);
    }

    /// The script finished: clear its bar before its line is printed.
    pub fn script_finished(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        current.started = None;
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop = None;
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if let Some(thread) = self.heartbeat.take() {
            let _ = thread.join();
        }
    }
}

/// Whole rows per second (indicatif's `{per_sec}` shows four decimals).
fn rate_key(state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write) {
    let _ = write!(w, "{}", rate_text(state.per_sec()));
}

/// `56,400 rows/s`.
fn rate_text(per_sec: f64) -> String {
    format!("{} rows/s", thousands(per_sec.round() as i64))
}

/// Writes a line every [`LOG_EVERY`] while a script runs and stderr is no
/// terminal; ends as soon as its channel is dropped.
fn spawn_heartbeat(current: Arc<Mutex<Current>>, stopped: mpsc::Receiver<()>) -> JoinHandle<()> {
    std::thread::spawn(move || loop {
        match stopped.recv_timeout(LOG_EVERY) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        let current = current.lock().unwrap_or_else(|p| p.into_inner());
        let Some(started) = current.started else {
            continue;
        };
        let line = match current.batch {
            Some((done, total, batches, elapsed)) => batch_line(done, total, batches, elapsed),
            None => "still running".into(),
        };
        eprintln!(
            "progress: {} {line} ({} s)",
            current.label,
            started.elapsed().as_secs()
        );
    })
}

fn batch_line(done: i64, total: Option<i64>, batches: i64, elapsed: Duration) -> String {
    let rate = done as f64 / elapsed.as_secs_f64().max(0.001);
    match total {
        Some(total) if total > 0 => {
            let left = (total - done).max(0) as f64 / rate.max(1.0);
            format!(
                "{} % {}/{} rows, {} batches, {}, ETA {:.0} s",
                done.min(total) * 100 / total,
                thousands(done),
                thousands(total),
                thousands(batches),
                rate_text(rate),
                left
            )
        }
        _ => format!(
            "{} rows, {} batches, {}",
            thousands(done),
            thousands(batches),
            rate_text(rate)
        ),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_rate_is_whole_rows_per_second_with_thousands_separators() {
        assert_eq!(super::rate_text(56400.3551), "56,400 rows/s");
        assert_eq!(super::rate_text(0.4), "0 rows/s");
    }
}
