//! Where a client scenario runs, and the macro that runs it once per backend.
//!
//! Each scenario is an `async fn(Backend, &mut Cluster)`, written once; [`backend_tests!`]
//! runs it with the native backend and (feature `rdkafka`) the rdkafka backend against our
//! broker, and with the rdkafka backend against librdkafka's mock cluster
//! (`rdkafka::mocking::MockCluster`), an independent Kafka implementation, so a scenario
//! that passes on both checks Kafka's behaviour rather than our broker's.
//!
//! Flow: scenario → minikafka-client (native or librdkafka) → wire → [`Cluster`].
//!
//! What must stay true: the macro shuts the cluster down after each scenario, so every
//! broker a test starts is stopped by the test.

use std::collections::BTreeMap;
use std::time::Duration;

use minikafka_client::{
    Backend, ClientConfig, Consumer, ConsumerConfig, ConsumerEvent, ConsumerRecord, Offset,
    PartitionReader, Producer, ProducerConfig, ProducerRecord, ReaderConfig, TopicPartition,
};

use minikafka_broker::Config;

use crate::{within, TestBroker};

/// The kafka-python row of [`backend_tests!`]: a scenario whose first parameter converts
/// from it (and from `Backend`) also runs with a kafka-python subprocess, on our broker.
#[derive(Debug, Clone, Copy)]
pub struct KafkaPython;

/// Partitions our test broker gives an auto-created topic.
pub const OUR_DEFAULT_PARTITIONS: i32 = 3;

/// Where a scenario runs: our broker, or librdkafka's mock cluster.
pub enum Cluster {
    /// Our broker on 127.0.0.1:0 (paused by [`Cluster::stop`], same address and data).
    Ours(Box<TestBroker>),
    /// librdkafka's mock cluster with one broker (rdkafka backend only).
    #[cfg(feature = "rdkafka")]
    Mock(rdkafka::mocking::MockCluster<'static, rdkafka::producer::DefaultProducerContext>),
}

impl Cluster {
    /// Our broker, auto-creating topics with [`OUR_DEFAULT_PARTITIONS`].
    pub async fn ours() -> Cluster {
        Self::ours_with(|_| {}).await
    }

    /// [`Cluster::ours`] with `tweak` applied to the broker's config.
    pub async fn ours_with(tweak: impl FnOnce(&mut Config) + Send + 'static) -> Cluster {
        let broker = TestBroker::builder()
            .partitions(OUR_DEFAULT_PARTITIONS)
            .config(tweak)
            .start()
            .await
            .expect("the test broker starts");
        Cluster::Ours(Box::new(broker))
    }

    /// librdkafka's mock cluster with one broker.
    #[cfg(feature = "rdkafka")]
    pub fn mock() -> Cluster {
        Cluster::Mock(rdkafka::mocking::MockCluster::new(1).expect("mock cluster"))
    }

    pub fn is_mock(&self) -> bool {
        !matches!(self, Cluster::Ours(_))
    }

    /// Our broker, for checks only it allows (its data directory); panics on the mock.
    pub fn broker(&self) -> &TestBroker {
        match self {
            Cluster::Ours(b) => b,
            #[cfg(feature = "rdkafka")]
            Cluster::Mock(_) => panic!("this check needs our broker"),
        }
    }

    pub fn bootstrap(&self) -> String {
        match self {
            Cluster::Ours(b) => b.bootstrap(),
            #[cfg(feature = "rdkafka")]
            Cluster::Mock(m) => m.bootstrap_servers(),
        }
    }

    /// Partitions an auto-created topic gets (the mock cluster's default is 4).
    pub fn default_partitions(&self) -> i32 {
        match self {
            Cluster::Ours(_) => OUR_DEFAULT_PARTITIONS,
            #[cfg(feature = "rdkafka")]
            Cluster::Mock(_) => 4,
        }
    }

    /// Create `topic`: through our Admin API on our broker (the mock has no CreateTopics),
    /// through the mock's own call on the mock.
    pub async fn create_topic(&self, backend: Backend, topic: &str, partitions: i32) {
        match self {
            Cluster::Ours(_) => minikafka_client::Admin::new(self.client_config(backend))
                .await
                .expect("admin")
                .create_topic(topic, partitions)
                .await
                .expect("create topic"),
            #[cfg(feature = "rdkafka")]
            Cluster::Mock(m) => m.create_topic(topic, partitions, 1).expect("mock topic"),
        }
    }

    /// Take the broker down: connections drop and new ones are refused; the data stays.
    pub async fn stop(&mut self) {
        match self {
            Cluster::Ours(b) => b.pause().await,
            #[cfg(feature = "rdkafka")]
            Cluster::Mock(m) => m.broker_down(1).expect("mock broker down"),
        }
    }

    /// Bring the stopped broker back, at the same address with the same data.
    pub async fn start_again(&mut self) {
        match self {
            Cluster::Ours(b) => b.resume().await.expect("the broker starts again"),
            #[cfg(feature = "rdkafka")]
            Cluster::Mock(m) => m.broker_up(1).expect("mock broker up"),
        }
    }

    /// The end of a scenario: our broker shuts down gracefully; the mock is dropped.
    pub async fn shut_down(self) {
        match self {
            Cluster::Ours(b) => drop((*b).stop().await),
            #[cfg(feature = "rdkafka")]
            Cluster::Mock(m) => drop(m),
        }
    }

    pub fn client_config(&self, backend: Backend) -> ClientConfig {
        client_config(&self.bootstrap(), backend)
    }

    pub fn producer_config(&self, backend: Backend) -> ProducerConfig {
        producer_config(&self.bootstrap(), backend)
    }

    pub fn reader_config(&self, backend: Backend) -> ReaderConfig {
        reader_config(&self.bootstrap(), backend)
    }

    pub fn member_config(&self, backend: Backend, group: &str) -> ConsumerConfig {
        member_config(&self.bootstrap(), backend, group)
    }
}

/// A client config for `bootstrap` on `backend`.
pub fn client_config(bootstrap: &str, backend: Backend) -> ClientConfig {
    let mut c = ClientConfig::new(bootstrap);
    c.backend = backend;
    c
}

/// A producer config for `bootstrap` on `backend`.
pub fn producer_config(bootstrap: &str, backend: Backend) -> ProducerConfig {
    let mut c = ProducerConfig::new(bootstrap);
    c.client.backend = backend;
    c
}

/// A reader config for `bootstrap` on `backend`, polling every 100 ms.
pub fn reader_config(bootstrap: &str, backend: Backend) -> ReaderConfig {
    let mut c = ReaderConfig::new(bootstrap);
    c.client.backend = backend;
    c.fetch_max_wait = Duration::from_millis(100);
    c
}

/// A group member's config for `bootstrap` on `backend`, with the group tests' timings:
/// a 6 s session, heartbeats every 300 ms, a 10 s rebalance timeout, auto-commit every
/// 200 ms and fetches held at most 100 ms.
pub fn member_config(bootstrap: &str, backend: Backend, group: &str) -> ConsumerConfig {
    let mut c = ConsumerConfig::new(bootstrap, group);
    c.client.backend = backend;
    c.session_timeout = Duration::from_secs(6);
    c.heartbeat_interval = Duration::from_millis(300);
    c.rebalance_timeout = Duration::from_secs(10);
    c.auto_commit_interval = Duration::from_millis(200);
    c.fetch_max_wait = Duration::from_millis(100);
    c
}

/// Sends `records` pipelined (all enqueued, then every delivery awaited) with a producer
/// on `backend`; returns each record's value (as UTF-8) by where it landed,
/// `(partition, offset)`.
pub async fn produce_all(
    cluster: &Cluster,
    backend: Backend,
    records: impl IntoIterator<Item = ProducerRecord>,
) -> BTreeMap<(i32, i64), String> {
    let producer = Producer::new(cluster.producer_config(backend))
        .await
        .expect("producer");
    let mut pending = Vec::new();
    for record in records {
        let value = String::from_utf8_lossy(record.value.as_deref().unwrap_or_default());
        let value = value.into_owned();
        pending.push((producer.enqueue(record).await.expect("enqueue"), value));
    }
    let mut sent = BTreeMap::new();
    for (delivery, value) in pending {
        let meta = within("delivery", delivery).await.expect("delivered");
        sent.insert((meta.partition, meta.offset), value);
    }
    producer.close().await;
    sent
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

/// Closes the last members of a group, one after the other. The first one's LeaveGroup
/// starts a rebalance, so a later member's final commit may meet REBALANCE_IN_PROGRESS,
/// which `close` reports while leaving all the same (as Kafka's consumers do). Any other
/// error fails the test.
pub async fn close_members(members: Vec<(&str, &mut Consumer)>) {
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
    consumers: &mut [&mut Consumer],
    partitions: usize,
) -> Vec<Vec<ConsumerEvent>> {
    let mut events: Vec<Vec<_>> = consumers.iter().map(|_| Vec::new()).collect();
    within("a stable assignment", async {
        loop {
            for (c, seen) in consumers.iter_mut().zip(&mut events) {
                let event = tokio::time::timeout(Duration::from_millis(50), c.recv()).await;
                if let Ok(Ok(event)) = event {
                    seen.push(event);
                }
            }
            let shares: Vec<Vec<TopicPartition>> =
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

/// Run each scenario, an `async fn(Backend, &mut Cluster)`, as a test per backend and
/// cluster: natively and with rdkafka against our broker, and with rdkafka against
/// librdkafka's mock cluster (the `rdkafka` modules need the test crate's `rdkafka`
/// feature). Scenarios after `ours_only:` need our broker (its data directory, its config,
/// an API the mock lacks) and skip the mock; those after `native_only:` test the native
/// client's own machinery; those after `kafka_python:` also run with kafka-python (the
/// scenario's first parameter then converts from `Backend` and [`KafkaPython`]). Each list
/// says why next to it. A leading `config: <name of a fn(&mut Config)>;` tweaks our broker's config
/// (the mock has none). Every cluster is shut down after its scenario.
#[macro_export]
macro_rules! backend_tests {
    (config: $tweak:ident; $($rest:tt)*) => {
        $crate::backend_tests!(@with [$tweak]; $($rest)*);
    };
    (@with $cfg:tt;
        $($scenario:ident),* $(,)?
        $(; ours_only: $($ours:ident),* $(,)?)?
        $(; native_only: $($native:ident),* $(,)?)?
        $(; kafka_python: $($py:ident),* $(,)?)?
    ) => {
        mod native {
            $($crate::backend_tests!(@run $scenario, Native, ours $cfg);)*
            $($($crate::backend_tests!(@run $ours, Native, ours $cfg);)*)?
            $($($crate::backend_tests!(@run $native, Native, ours $cfg);)*)?
        }
        #[cfg(feature = "rdkafka")]
        mod rdkafka {
            $($crate::backend_tests!(@run $scenario, Rdkafka, ours $cfg);)*
            $($($crate::backend_tests!(@run $ours, Rdkafka, ours $cfg);)*)?
        }
        #[cfg(feature = "rdkafka")]
        mod rdkafka_mock_cluster {
            $($crate::backend_tests!(@run $scenario, Rdkafka, mock $cfg);)*
        }
        $(mod kafka_python {
            $($crate::backend_tests!(@run $py, KafkaPython, ours $cfg);)*
        })?
    };
    (@run $scenario:ident, $client:ident, $cluster:ident $cfg:tt) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $scenario() {
            let mut cluster = $crate::backend_tests!(@cluster $cluster $cfg);
            let client = $crate::backend_tests!(@client $client);
            super::$scenario(::std::convert::Into::into(client), &mut cluster).await;
            cluster.shut_down().await;
        }
    };
    (@client KafkaPython) => { $crate::cluster::KafkaPython };
    (@client $backend:ident) => { ::minikafka_client::Backend::$backend };
    (@cluster ours []) => { $crate::Cluster::ours().await };
    (@cluster ours [$tweak:ident]) => { $crate::Cluster::ours_with(super::$tweak).await };
    (@cluster mock $cfg:tt) => { $crate::Cluster::mock() };
    ($($rest:tt)*) => {
        $crate::backend_tests!(@with []; $($rest)*);
    };
}
