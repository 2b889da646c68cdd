//! Shared helpers for the client's black-box tests: a real broker on 127.0.0.1:0 with a
//! temporary data directory, configs for a chosen backend, and bounded waits.
//!
//! Each scenario in `tests/*.rs` is an `async fn(Backend, &mut Cluster)`, written once;
//! the `backend_tests!` macro runs it for each backend against our broker, and with the
//! rdkafka backend against librdkafka's mock cluster too, unless it is listed as
//! needing our broker.

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

/// Where a scenario runs: our broker, or librdkafka's mock cluster
/// (`rdkafka::mocking::MockCluster`), an independent Kafka implementation, so that a
/// scenario that passes on both checks Kafka's behaviour rather than our broker's.
pub enum Cluster {
    /// Our broker on 127.0.0.1:0; `None` while stopped by [`Cluster::stop`].
    Ours {
        broker: Option<TestBroker>,
        /// Kept while stopped, so the broker comes back at the same address and data.
        addr: String,
        stopped_dir: Option<tempfile::TempDir>,
    },
    /// librdkafka's mock cluster with one broker (rdkafka backend only).
    #[cfg(feature = "rdkafka")]
    Mock(::rdkafka::mocking::MockCluster<'static, ::rdkafka::producer::DefaultProducerContext>),
}

/// Partitions our test broker gives an auto-created topic.
pub const OUR_DEFAULT_PARTITIONS: i32 = 3;

impl Cluster {
    /// Our broker, auto-creating topics with [`OUR_DEFAULT_PARTITIONS`].
    pub async fn ours() -> Cluster {
        let broker = TestBroker::start(OUR_DEFAULT_PARTITIONS).await;
        Cluster::Ours {
            addr: broker.bootstrap(),
            broker: Some(broker),
            stopped_dir: None,
        }
    }

    /// librdkafka's mock cluster with one broker.
    #[cfg(feature = "rdkafka")]
    pub fn mock() -> Cluster {
        Cluster::Mock(::rdkafka::mocking::MockCluster::new(1).expect("mock cluster"))
    }

    pub fn is_mock(&self) -> bool {
        !matches!(self, Cluster::Ours { .. })
    }

    /// Our broker, for checks only it allows (its data directory); panics on the mock.
    pub fn broker(&self) -> &TestBroker {
        match self {
            Cluster::Ours {
                broker: Some(b), ..
            } => b,
            _ => panic!("this check needs our running broker"),
        }
    }

    pub fn bootstrap(&self) -> String {
        match self {
            Cluster::Ours { addr, .. } => addr.clone(),
            #[cfg(feature = "rdkafka")]
            Cluster::Mock(m) => m.bootstrap_servers(),
        }
    }

    /// Partitions an auto-created topic gets (the mock cluster's default is 4).
    pub fn default_partitions(&self) -> i32 {
        match self {
            Cluster::Ours { .. } => OUR_DEFAULT_PARTITIONS,
            #[cfg(feature = "rdkafka")]
            Cluster::Mock(_) => 4,
        }
    }

    /// Create `topic`: through our Admin API on our broker (the mock has no CreateTopics),
    /// through the mock's own call on the mock.
    pub async fn create_topic(&self, backend: Backend, topic: &str, partitions: i32) {
        match self {
            Cluster::Ours { .. } => minikafka_client::Admin::new(self.client_config(backend))
                .await
                .expect("admin")
                .create_topic(topic, partitions)
                .await
                .expect("create topic"),
            #[cfg(feature = "rdkafka")]
            Cluster::Mock(m) => m.create_topic(topic, partitions, 1).expect("mock topic"),
        }
    }

    /// Stop the broker: connections drop and new ones are refused; the data stays.
    pub async fn stop(&mut self) {
        match self {
            Cluster::Ours {
                broker,
                stopped_dir,
                ..
            } => {
                let b = broker.take().expect("the broker is running");
                *stopped_dir = Some(b.shutdown().await);
            }
            #[cfg(feature = "rdkafka")]
            Cluster::Mock(m) => m.broker_down(1).expect("mock broker down"),
        }
    }

    /// Start the stopped broker again, at the same address with the same data.
    pub async fn start_again(&mut self) {
        match self {
            Cluster::Ours {
                broker,
                addr,
                stopped_dir,
            } => {
                let dir = stopped_dir.take().expect("the broker was stopped");
                *broker = Some(TestBroker::start_at(addr, dir, OUR_DEFAULT_PARTITIONS).await);
            }
            #[cfg(feature = "rdkafka")]
            Cluster::Mock(m) => m.broker_up(1).expect("mock broker up"),
        }
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

/// Drive `consumers` until each owns a non-empty share and together they own each of
/// `partitions` partitions exactly once; returns what each received meanwhile.
///
/// The first assignment after a member joins is not always the final one: a cluster may
/// complete a generation without a member whose JoinGroup came late (librdkafka's mock
/// cluster does), then rebalance again. Checks of who owns what wait for this instead.
pub async fn wait_for_shares(
    consumers: &mut [&mut minikafka_client::Consumer],
    partitions: usize,
) -> Vec<Vec<minikafka_client::ConsumerEvent>> {
    let mut events: Vec<Vec<_>> = consumers.iter().map(|_| Vec::new()).collect();
    within("a stable assignment", async {
        loop {
            for (c, seen) in consumers.iter_mut().zip(&mut events) {
                let event = tokio::time::timeout(Duration::from_millis(50), c.recv()).await;
                if let Ok(Ok(event)) = event {
                    seen.push(event);
                }
            }
            let shares: Vec<Vec<minikafka_client::TopicPartition>> =
                consumers.iter().map(|c| c.assignment()).collect();
            let all: std::collections::BTreeSet<_> = shares.iter().flatten().collect();
            let total: usize = shares.iter().map(Vec::len).sum();
            if shares.iter().all(|s| !s.is_empty())
                && all.len() == partitions
                && total == partitions
            {
                return;
            }
        }
    })
    .await;
    events
}

/// Await `f`, failing the test with `what` if it takes longer than [`STEP`].
pub async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(STEP, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what} did not finish within {STEP:?}"),
    }
}

/// Read exactly `n` records from `topic[partition]`, starting at `start`.
pub async fn read_n(
    cluster: &Cluster,
    backend: Backend,
    topic: &str,
    partition: i32,
    start: Offset,
    n: usize,
) -> Vec<ConsumerRecord> {
    let mut reader = within(
        "assign",
        PartitionReader::assign(cluster.reader_config(backend), topic, partition, start),
    )
    .await
    .expect("assign");
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        out.push(within("next record", reader.next()).await.expect("record"));
    }
    out
}

/// The record batches stored on disk for `topic[partition]` (once every batch was
/// acknowledged: the broker writes a batch to its segment before it answers), as
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

/// Run each scenario, an `async fn(Backend, &mut Cluster)`, as a test per backend and
/// cluster: natively and with rdkafka against our broker, and with rdkafka against
/// librdkafka's mock cluster (the `rdkafka` modules need the crate's `rdkafka` feature).
/// Scenarios after `ours_only:` need our broker (its data directory, its config, an API
/// the mock lacks) and skip the mock; those after `native_only:` test the native
/// client's own machinery. Each list says why next to it.
#[macro_export]
macro_rules! backend_tests {
    (
        $($scenario:ident),* $(,)?
        $(; ours_only: $($ours:ident),* $(,)?)?
        $(; native_only: $($native:ident),* $(,)?)?
    ) => {
        mod native {
            $($crate::backend_tests!(@test $scenario, Native, ours);)*
            $($($crate::backend_tests!(@test $ours, Native, ours);)*)?
            $($($crate::backend_tests!(@test $native, Native, ours);)*)?
        }
        #[cfg(feature = "rdkafka")]
        mod rdkafka {
            $($crate::backend_tests!(@test $scenario, Rdkafka, ours);)*
            $($($crate::backend_tests!(@test $ours, Rdkafka, ours);)*)?
        }
        #[cfg(feature = "rdkafka")]
        mod rdkafka_mock_cluster {
            $($crate::backend_tests!(@test $scenario, Rdkafka, mock);)*
        }
    };
    (@test $scenario:ident, $backend:ident, ours) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $scenario() {
            let mut cluster = $crate::common::Cluster::ours().await;
            super::$scenario(minikafka_client::Backend::$backend, &mut cluster).await;
        }
    };
    (@test $scenario:ident, $backend:ident, mock) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $scenario() {
            let mut cluster = $crate::common::Cluster::mock();
            super::$scenario(minikafka_client::Backend::$backend, &mut cluster).await;
        }
    };
}
