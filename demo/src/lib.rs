//! What the classroom binaries (`producer`, `consumer`, `tour`) share: logging to stderr,
//! the exit code, `--config key=value` parsing, the demo's keys and its messages. Their
//! stdout stays for the messages. The guided tour itself is the [`tour`] module, and the
//! `perf` tool's logic the [`perf`] module.
//!
//! Where it sits: under both ends of the flow, the demo `producer` (start) and
//! `consumer` (end); `tour` runs both around a broker embedded in-process.
//!
//! What must stay true:
//! - Nothing here writes to stdout: logs and errors go to stderr.
//! - Exit code 0 only on success; a failure prints `error:` with every cause and exits 1.
//! - `--config` splits at the first `=` and trims both sides (`a=b=c` → `a`, `b=c`).
//! - [`DEMO_KEYS`] reach every partition of the default 3-partition topic under murmur2
//!   (`client/src/partitioner.rs: partition_for_key`), so in the load-balancing experiment
//!   each of three consumers gets messages.

use std::future::Future;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;

pub mod perf;
pub mod tour;

/// The users the demo producer's events are keyed by, in the order it sends them.
///
/// Chosen for murmur2 with 3 partitions: `student_1` → 1, `student_2` → 2,
/// `student_3` → 0, so every partition gets a key. (The classroom's `user_1`, `user_2`,
/// `user_3` go to 0, 1, 0: partition 2 would stay empty.) The numbers in the names do not
/// predict the partition; only the hash does.
pub const DEMO_KEYS: [&str; 3] = ["student_1", "student_2", "student_3"];

/// What the demo users do, in turn.
const ACTIONS: [&str; 4] = ["login", "view", "click", "logout"];

/// One classroom message: keyed by its user, the value a small JSON event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoEvent {
    /// The user, one of [`DEMO_KEYS`]: the record's key.
    pub key: &'static str,
    /// `{"id":…,"user":…,"action":…,"timestamp":…}`: the record's value.
    pub value: String,
    /// Milliseconds since the epoch, also the record's timestamp.
    pub timestamp: i64,
}

/// The `id`-th message the demo producer sends: users and actions in turn, stamped now.
pub fn demo_event(id: u64) -> DemoEvent {
    let key = DEMO_KEYS[(id % DEMO_KEYS.len() as u64) as usize];
    let action = ACTIONS[(id % ACTIONS.len() as u64) as usize];
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let value = serde_json::json!({
        "id": id,
        "user": key,
        "action": action,
        "timestamp": timestamp,
    })
    .to_string();
    DemoEvent {
        key,
        value,
        timestamp,
    }
}

/// Logs to stderr at `warn` unless `RUST_LOG` says otherwise.
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// Runs a binary's body: exit 0 on success, else `error: …` with every cause and exit 1.
pub async fn exit_code(run: impl Future<Output = anyhow::Result<()>>) -> ExitCode {
    match run.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Splits one `--config key=value` into its trimmed key and value.
pub fn config_pair(kv: &str) -> anyhow::Result<(&str, &str)> {
    let (key, value) = kv
        .split_once('=')
        .with_context(|| format!("--config `{kv}` must look like key=value"))?;
    Ok((key.trim(), value.trim()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use minikafka_client::partitioner::partition_for_key;

    use super::{config_pair, DEMO_KEYS};

    /// The broker's default `num.partitions`, the topic the producer creates on first use.
    #[test]
    fn demo_keys_reach_every_partition_of_the_default_topic() {
        let partitions = minikafka_broker::Config::default().num_partitions;
        let reached: BTreeSet<i32> = DEMO_KEYS
            .iter()
            .map(|k| partition_for_key(k.as_bytes(), partitions))
            .collect();
        assert_eq!(reached, (0..partitions).collect(), "{DEMO_KEYS:?}");
    }

    #[test]
    fn config_pairs_are_split_and_trimmed() {
        assert_eq!(config_pair(" linger.ms = 5 ").unwrap(), ("linger.ms", "5"));
        assert_eq!(config_pair("a=b=c").unwrap(), ("a", "b=c"));
        let err = config_pair("linger.ms").unwrap_err().to_string();
        assert!(err.contains("key=value"), "{err}");
    }
}
