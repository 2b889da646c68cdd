//! The progress bar: drawn only when stdout is a terminal, and only once a run has lasted
//! [`DELAY`], so short runs and piped runs print nothing but their summary.
//!
//! What must stay true: the bar is cleared before the summary is printed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::task::JoinHandle;

/// How long a run goes before the bar appears.
pub const DELAY: Duration = Duration::from_secs(2);

/// A bar following a shared counter of done records.
#[derive(Debug)]
pub struct Progress {
    task: Option<JoinHandle<()>>,
}

impl Progress {
    /// Follows `done` up to `total`, labelled `what` (e.g. "acked").
    pub fn start(done: Arc<AtomicU64>, total: u64, what: &'static str) -> Progress {
        if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            return Progress { task: None };
        }
        let task = tokio::spawn(async move {
            tokio::time::sleep(DELAY).await;
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stdout());
            let template =
                format!("{{bar:40}} {{pos}}/{{len}} {what} ({{elapsed}} since the bar appeared)");
            if let Ok(style) = ProgressStyle::with_template(&template) {
                bar.set_style(style);
            }
            let _clear_on_drop = Clear(bar.clone());
            loop {
                bar.set_position(done.load(Ordering::Relaxed));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Progress { task: Some(task) }
    }

    /// Removes the bar (if it was drawn).
    pub async fn finish(self) {
        if let Some(task) = self.task {
            task.abort();
            let _ = task.await;
        }
    }
}

/// Clears the bar when the drawing task is aborted.
struct Clear(ProgressBar);

impl Drop for Clear {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}
