//! Shared helpers for the client's black-box tests: a real broker on 127.0.0.1:0 with a
//! temporary data directory, configs for a chosen backend, and bounded waits.
//!
//! Each scenario in `tests/*.rs` is an `async fn(Backend)`, written once; the
//! `backend_tests!` macro runs it for each backend listed there.

#![allow(dead_code)] // each test binary uses a different subset

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use minikafka_client::{
    Backend, ClientConfig, ConsumerRecord, Offset, PartitionReader, ProducerConfig, ReaderConfig,
};

/// Generous bound for one step of a test, so a bug fails the test instead of hanging CI.
pub const STEP: Duration = Duration::from_secs(30);

/// A broker running in this process, with its own temporary data directory.
pub struct TestBroker {
    handle: minikafka_broker::BrokerHandle,
    dir: tempfile::TempDir,
}

impl TestBroker {
    /// Start a broker on 127.0.0.1:0 with `num_partitions` for auto-created topics.
    pub async fn start(num_partitions: i32) -> TestBroker {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_at("127.0.0.1:0", dir, num_partitions).await
    }

    /// Start a broker that refuses to auto-create topics.
    pub async fn start_without_auto_create() -> TestBroker {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_with("127.0.0.1:0", dir, 1, false).await
    }

    /// Start a broker on `listen` over an existing data directory (for restarts).
    pub async fn start_at(listen: &str, dir: tempfile::TempDir, num_partitions: i32) -> TestBroker {
        Self::start_with(listen, dir, num_partitions, true).await
    }

    async fn start_with(
        listen: &str,
        dir: tempfile::TempDir,
        num_partitions: i32,
        auto_create_topics: bool,
    ) -> TestBroker {
        let config = minikafka_broker::Config {
            listen: listen.parse().expect("address"),
            data_dir: dir.path().to_path_buf(),
            num_partitions,
            auto_create_topics,
            log_requests: false,
            ..Default::default()
        };
        let handle = minikafka_broker::Broker::start(config)
            .await
            .expect("broker starts");
        TestBroker { handle, dir }
    }

    /// `127.0.0.1:<port>`.
    pub fn bootstrap(&self) -> String {
        self.handle.addr().to_string()
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Graceful shutdown; returns the data directory, which lives as long as the `TempDir`.
    pub async fn shutdown(self) -> tempfile::TempDir {
        self.handle.shutdown().await;
        self.dir
    }

    pub fn client_config(&self, backend: Backend) -> ClientConfig {
        let mut c = ClientConfig::new(&self.bootstrap());
        c.backend = backend;
        c
    }

    pub fn producer_config(&self, backend: Backend) -> ProducerConfig {
        let mut c = ProducerConfig::new(&self.bootstrap());
        c.client.backend = backend;
        c
    }

    pub fn reader_config(&self, backend: Backend) -> ReaderConfig {
        let mut c = ReaderConfig::new(&self.bootstrap());
        c.client.backend = backend;
        c.fetch_max_wait = Duration::from_millis(100);
        c
    }
}

/// Await `f`, failing the test with `what` if it takes longer than [`STEP`].
/// Closes the last members of a group, one after the other. The first one's LeaveGroup
/// starts a rebalance, so a later member's final commit may meet REBALANCE_IN_PROGRESS,
/// which `close` reports while leaving all the same (as Kafka's consumers do). Any other
/// error fails the test.
pub async fn close_members(members: Vec<(&str, &mut minikafka_client::Consumer)>) {
    for (name, member) in members {
        match within("close", member.close()).await {
            Ok(())
            | Err(minikafka_client::Error::Kafka {
                code: minikafka_client::KafkaCode::RebalanceInProgress,
                ..
            }) => {}
            Err(e) => panic!("close {name}: {e}"),
        }
    }
}

pub async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(STEP, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what} did not finish within {STEP:?}"),
    }
}

/// Read exactly `n` records from `topic[partition]`, starting at `start`.
pub async fn read_n(
    broker: &TestBroker,
    backend: Backend,
    topic: &str,
    partition: i32,
    start: Offset,
    n: usize,
) -> Vec<ConsumerRecord> {
    let mut reader = within(
        "assign",
        PartitionReader::assign(broker.reader_config(backend), topic, partition, start),
    )
    .await
    .expect("assign");
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        out.push(within("next record", reader.next()).await.expect("record"));
    }
    out
}

/// The record batches stored on disk for `topic[partition]` (after shutdown), as
/// `(base_offset, record_count)`, read straight from Kafka's segment format.
pub fn stored_batches(data_dir: &Path, topic: &str, partition: i32) -> Vec<(i64, i32)> {
    let dir = data_dir.join(format!("{topic}-{partition}"));
    let mut logs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    logs.sort();
    let mut batches = Vec::new();
    for log in logs {
        let bytes = std::fs::read(&log).unwrap_or_else(|e| panic!("read {}: {e}", log.display()));
        let mut pos = 0;
        while pos + 61 <= bytes.len() {
            let base = i64::from_be_bytes(bytes[pos..pos + 8].try_into().unwrap());
            let len = i32::from_be_bytes(bytes[pos + 8..pos + 12].try_into().unwrap());
            if len <= 0 {
                break;
            }
            let count = i32::from_be_bytes(bytes[pos + 57..pos + 61].try_into().unwrap());
            batches.push((base, count));
            pos += 12 + len as usize;
        }
    }
    batches
}

/// Run each scenario (an `async fn(Backend)`) as a test per backend: `native` always, and
/// `rdkafka` when the crate's `rdkafka` feature is on. Scenarios after `native_only:` test
/// the native client's own machinery (its retry loop, its batches on disk) and run natively
/// only.
#[macro_export]
macro_rules! backend_tests {
    ($($scenario:ident),* $(,)? $(; native_only: $($native:ident),* $(,)?)?) => {
        mod native {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(minikafka_client::Backend::Native).await;
                }
            )*
            $($(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $native() {
                    super::$native(minikafka_client::Backend::Native).await;
                }
            )*)?
        }
        #[cfg(feature = "rdkafka")]
        mod rdkafka {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(minikafka_client::Backend::Rdkafka).await;
                }
            )*
        }
    };
}
