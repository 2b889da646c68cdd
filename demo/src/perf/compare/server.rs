//! The server a `perf compare` cell measures, as a child process: our broker binary in a
//! fresh temp data dir, or librdkafka's mock cluster in a second `perf` (`perf
//! mock-cluster`). Either way its CPU time is read from `/proc/<pid>/stat`.
//!
//! Flow: compare → **server** (spawn, wait for `listening on`, create topics) → the
//! workload's clients connect to [`Server::bootstrap`] → [`Server::stop`].
//!
//! What must stay true:
//! - Each server starts empty (a new data dir; a new mock) and is killed when dropped, so
//!   a failed cell leaves no process behind; its data dir is removed with it.
//! - The broker runs with `--quiet` (no request log), listening on 127.0.0.1 port 0; the
//!   address clients use is the one it reports, so no port is guessed.
//! - CPU is utime + stime of the child (all its threads), in clock ticks of 10 ms.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use minikafka_client::{Admin, ClientConfig};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// How long a server may take to report its address.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Ticks per second of `/proc/<pid>/stat`'s utime and stime: Linux's USER_HZ, which is 100
/// on every architecture Rust builds for (it is not the kernel's HZ).
const TICKS_PER_SECOND: f64 = 100.0;

/// Which server to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Our broker binary with `--fsync never` or `--fsync always`.
    Broker { fsync_always: bool },
    /// librdkafka's mock cluster, in `perf mock-cluster`.
    Mock,
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    kind: Kind,
    child: Child,
    bootstrap: String,
    /// The mock's command channel and its answers (None for the broker, whose stdout, its
    /// log, is drained by a task so that a full pipe never blocks it).
    stdin: Option<ChildStdin>,
    stdout: Option<Lines<BufReader<ChildStdout>>>,
    /// Removed when the server is dropped, after the child is killed.
    _data_dir: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts `kind`; `broker_bin` is our broker's binary, `max_connections` its limit.
    pub async fn start(kind: Kind, broker_bin: &Path, max_connections: u32) -> Result<Server> {
        let (mut command, data_dir) = match kind {
            Kind::Broker { fsync_always } => {
                let dir = tempfile::Builder::new()
                    .prefix("minikafka-compare-")
                    .tempdir()
                    .context("cannot create a temp data dir")?;
                let mut c = Command::new(broker_bin);
                c.arg("--listen")
                    .arg("127.0.0.1:0")
                    .arg("--data-dir")
                    .arg(dir.path())
                    .arg("--fsync")
                    .arg(if fsync_always { "always" } else { "never" })
                    .arg("--max-connections")
                    .arg(max_connections.to_string())
                    .arg("--quiet")
                    .arg("--log")
                    .arg("info")
                    .stdin(Stdio::null());
                (c, Some(dir))
            }
            Kind::Mock => {
                let perf = std::env::current_exe().context("cannot find this perf binary")?;
                let mut c = Command::new(perf);
                c.arg("mock-cluster").stdin(Stdio::piped());
                (c, None)
            }
        };
        command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let what = match kind {
            Kind::Broker { .. } => broker_bin.display().to_string(),
            Kind::Mock => "perf mock-cluster".to_string(),
        };
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {what}"))?;
        let stdout = child.stdout.take().context("the child's stdout")?;
        let mut stdout = BufReader::new(stdout).lines();
        let bootstrap = tokio::time::timeout(START_TIMEOUT, listening_on(&mut stdout))
            .await
            .with_context(|| format!("{what} did not report its address within 30 s"))?
            .with_context(|| format!("starting {what}"))?;
        let (stdin, stdout) = match kind {
            Kind::Mock => (child.stdin.take(), Some(stdout)),
            Kind::Broker { .. } => {
                tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
                (None, None)
            }
        };
        Ok(Server {
            kind,
            child,
            bootstrap,
            stdin,
            stdout,
            _data_dir: data_dir,
        })
    }

    /// host:port for clients.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// Creates `topic` with `partitions` partitions: with our Admin API on our broker,
    /// with the mock's own call on the mock (which has no CreateTopics).
    pub async fn create_topic(&mut self, topic: &str, partitions: i32) -> Result<()> {
        match self.kind {
            Kind::Broker { .. } => {
                let admin = Admin::new(ClientConfig::new(&self.bootstrap))
                    .await
                    .with_context(|| format!("cannot reach {}", self.bootstrap))?;
                admin
                    .create_topic(topic, partitions)
                    .await
                    .with_context(|| format!("creating {topic} ({partitions} partitions)"))
            }
            Kind::Mock => {
                let (Some(stdin), Some(stdout)) = (self.stdin.as_mut(), self.stdout.as_mut())
                else {
                    bail!("the mock cluster's stdin or stdout is gone");
                };
                stdin
                    .write_all(format!("create {topic} {partitions}\n").as_bytes())
                    .await?;
                stdin.flush().await?;
                let answer = stdout.next_line().await?.unwrap_or_default();
                if answer != format!("created {topic}") {
                    bail!("the mock cluster did not create {topic}: {answer}");
                }
                Ok(())
            }
        }
    }

    /// CPU milliseconds the server has used so far; None where `/proc` is missing.
    pub fn cpu_ms(&self) -> Option<f64> {
        let pid = self.child.id()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        cpu_ticks(&stat).map(|ticks| ticks as f64 * 1000.0 / TICKS_PER_SECOND)
    }

    /// Kills the server and waits for it; its data dir goes with `self`.
    pub async fn stop(mut self) {
        self.stdin.take(); // the mock stops on its own when stdin closes
        if let Err(e) = self.child.start_kill() {
            tracing::warn!("cannot kill the server: {e}");
        }
        let _ = self.child.wait().await;
    }
}

/// Reads the child's stdout up to its `listening on HOST:PORT` line. The broker logs it
/// among other lines; the mock prints it first.
async fn listening_on(stdout: &mut Lines<BufReader<ChildStdout>>) -> Result<String> {
    while let Some(line) = stdout.next_line().await? {
        if let Some(rest) = line.split_once("listening on ").map(|(_, r)| r) {
            let addr = rest.split_whitespace().next().unwrap_or_default();
            if !addr.is_empty() {
                return Ok(addr.to_string());
            }
        }
    }
    bail!("it exited before listening")
}

/// utime + stime from the text of `/proc/<pid>/stat`. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted from the last `)`: after it come field 3
/// (state) onwards, so utime (field 14) and stime (field 15) are the 12th and 13th.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Our broker's binary: `--broker-bin`, else `minikafka-broker` beside this `perf`.
pub fn broker_bin(flag: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(path) = flag {
        if !path.is_file() {
            bail!("--broker-bin {} is not a file", path.display());
        }
        return Ok(path);
    }
    let perf = std::env::current_exe().context("cannot find this perf binary")?;
    let path = perf.with_file_name("minikafka-broker");
    if !path.is_file() {
        bail!(
            "{} is not built; build it with the same profile first \
             (cargo build --release -p minikafka-broker) or pass --broker-bin",
            path.display()
        );
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::cpu_ticks;

    #[test]
    fn cpu_is_counted_after_the_command_name() {
        let stat = "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                    250 37 0 0 20 0 3 0 100 0 0";
        assert_eq!(cpu_ticks(stat), Some(287));
        assert_eq!(cpu_ticks("4242 (x) S 1"), None);
    }
}
