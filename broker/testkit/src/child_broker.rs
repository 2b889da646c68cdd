//! The real `minikafka-broker` binary as a child process: start it over a data dir on
//! 127.0.0.1:0, learn its address from its first line, SIGKILL it (or stop it with
//! SIGTERM), and start it again over the same dir. For tests that must see what a crash
//! of the whole process leaves on disk, which an in-process [`crate::TestBroker`] cannot.
//!
//! Flow: test → **ChildBroker::start** (spawn, wait for "listening on") → clients on
//! [`ChildBroker::bootstrap`] → [`ChildBroker::kill9`] → files on disk → start again.
//!
//! What must stay true:
//! - every wait is bounded by [`WAIT`]; a broker that exits before it listens fails the
//!   test with the tail of its log;
//! - the child's stdout and stderr go to a file (`log`), never to a pipe nobody drains,
//!   so a chatty broker cannot block on a full pipe;
//! - a `ChildBroker` dropped while running is SIGKILLed and reaped: no broker outlives
//!   its test.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::WAIT;

/// A running broker process.
#[derive(Debug)]
pub struct ChildBroker {
    child: Option<Child>,
    addr: SocketAddr,
    log: PathBuf,
}

impl ChildBroker {
    /// Runs `bin` (the test's `env!("CARGO_BIN_EXE_minikafka-broker")`) with
    /// `--listen 127.0.0.1:0 --data-dir <data_dir>` and `args`, its output going to `log`
    /// (created or truncated); returns once it printed the address it listens on
    /// (the first word after "listening on").
    pub fn start(bin: &Path, data_dir: &Path, log: &Path, args: &[&str]) -> ChildBroker {
        let out = std::fs::File::create(log)
            .unwrap_or_else(|e| panic!("create the broker log {}: {e}", log.display()));
        let err = out.try_clone().expect("clone the log file handle");
        let child = Command::new(bin)
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(args)
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("run {}: {e}", bin.display()));
        let mut broker = ChildBroker {
            child: Some(child),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log: log.to_path_buf(),
        };
        broker.addr = broker.wait_for_address();
        broker
    }

    /// Polls the log for the listening line; fails if the process exits first.
    fn wait_for_address(&mut self) -> SocketAddr {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = self.log_text();
            if let Some(rest) = text.split("listening on ").nth(1) {
                let word = rest.split_whitespace().next().unwrap_or("");
                return word
                    .parse()
                    .unwrap_or_else(|e| panic!("bad address {word:?} in the broker log: {e}"));
            }
            if let Some(status) = self.try_wait() {
                panic!(
                    "the broker exited ({status}) before it listened; its log:\n{}",
                    tail(&text)
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "the broker did not listen within {WAIT:?}; its log:\n{}",
                    tail(&text)
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn try_wait(&mut self) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        child.try_wait().expect("poll the broker process")
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `host:port`, for a client's `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    /// The process id (for a log line a failure can be matched with).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Everything the broker printed so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: the process dies at once, mid-write if it was writing; only what reached
    /// the kernel (the page cache) survives. Waits until it is reaped.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            // std's `kill` is SIGKILL on Unix.
            let _ = child.kill();
            child.wait().expect("reap the killed broker");
        }
    }

    /// SIGTERM, the graceful shutdown (clean-shutdown markers written); waits up to
    /// [`WAIT`] for the exit and fails the test if it was not a success.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = i32::try_from(child.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw)
            .expect("a child's pid");
        rustix::process::kill_process(pid, rustix::process::Signal::TERM)
            .unwrap_or_else(|e| panic!("SIGTERM to {}: {e}", child.id()));
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = child.try_wait().expect("poll the broker process") {
                assert!(
                    status.success(),
                    "the broker exited with {status} after SIGTERM; its log:\n{}",
                    tail(&self.log_text())
                );
                return;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the broker did not stop within {WAIT:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for ChildBroker {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The last lines of a log, for a failure message.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
