//! A transaction whose decision was written but whose markers were not: the state the
//! broker is in when it dies between EndTxn's PrepareCommit (or PrepareAbort) record and
//! the markers. A random kill seldom lands in that window (`crash_kill9_txn.rs` aims at
//! it too), so this test builds it: a transaction is committed (or aborted) on the real
//! binary, the broker is stopped, and the files are cut back to the moment after the
//! decision: the last record of `__transaction_state` (Complete*) and the marker at the
//! end of every partition of the transaction are cut off, the producer snapshots and the
//! clean-shutdown markers removed, as a kill -9 would have left them.
//!
//! What must stay true: at start-up the coordinator finds the Prepare* state and
//! completes it without any client (`resume_prepared`): the markers are written again,
//! so a committed transaction's records are visible under read_committed and its
//! transactional offset commit is stable; an aborted one's records are skipped and its
//! offsets never appear.

use std::path::Path;
use std::time::Duration;

use minikafka_client::{
    Admin, ClientConfig, ConsumerGroupMetadata, IsolationLevel, NewTopic, Offset, PartitionReader,
    Producer, ProducerConfig, ProducerRecord, ReaderConfig,
};
use minikafka_testkit::child_broker::ChildBroker;
use minikafka_testkit::disk::active_segment;
use minikafka_testkit::{groups, txn, wire, within};

const BIN: &str = env!("CARGO_BIN_EXE_minikafka-broker");
const TOPIC: &str = "prepared";
const GROUP: &str = "prepared-group";

fn start(data: &Path, log: &Path) -> ChildBroker {
    let args = ["--fsync", "always", "--quiet"];
    tokio::task::block_in_place(|| ChildBroker::start(Path::new(BIN), data, log, &args))
}

/// Cuts the last batch off the active segment of `topic-partition`; returns the
/// bytes cut.
fn cut_last_batch(data: &Path, topic: &str, partition: i32) -> usize {
    let segment = active_segment(data, topic, partition).expect("an active segment");
    let bytes = std::fs::read(&segment).expect("read the segment");
    let mut pos = 0;
    let mut last = None;
    while pos + 12 <= bytes.len() {
        let len = i32::from_be_bytes(bytes[pos + 8..pos + 12].try_into().expect("4 bytes"));
        let next = pos + 12 + usize::try_from(len).expect("a batch length");
        if next > bytes.len() {
            break;
        }
        last = Some(pos);
        pos = next;
    }
    let last = last.expect("a batch to cut");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .expect("open the segment");
    file.set_len(last as u64).expect("cut the segment");
    bytes.len() - last
}

/// Removes what a kill -9 would not have left: producer snapshots written at the clean
/// stop, and the clean-shutdown markers (so recovery scans the cut segments).
fn as_after_a_kill(data: &Path) {
    for dir in std::fs::read_dir(data).expect("the data dir").flatten() {
        let path = dir.path();
        if !path.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&path).expect("a partition dir").flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            if name.ends_with(".snapshot") || name == "clean-shutdown" {
                std::fs::remove_file(f.path()).expect("remove");
            }
        }
    }
    let _ = std::fs::remove_file(data.join("clean-shutdown"));
}

async fn committed_values(bootstrap: &str, partition: i32) -> Vec<String> {
    let mut config = ReaderConfig::new(bootstrap);
    config.isolation_level = IsolationLevel::ReadCommitted;
    config.fetch_max_wait = Duration::from_millis(100);
    let mut reader = within(
        "assign",
        PartitionReader::assign(config, TOPIC, partition, Offset::Earliest),
    )
    .await
    .expect("a reader");
    let mut out = Vec::new();
    while let Ok(r) = tokio::time::timeout(Duration::from_millis(700), reader.next()).await {
        let r = r.expect("read");
        out.push(String::from_utf8_lossy(&r.value.unwrap_or_default()).into_owned());
    }
    out
}

async fn stable_offset(broker: &ChildBroker) -> Option<i64> {
    groups::fetch_stable(broker.addr(), GROUP)
        .await
        .get(&("prepared-input".to_string(), 0))
        .copied()
}

/// What ListTransactions says of every transactional id (empty while loading).
async fn states(broker: &ChildBroker) -> Vec<(String, String)> {
    let mut client = within("connect", wire::Client::connect(broker.addr())).await;
    txn::states(&mut client)
        .await
        .unwrap_or_default()
        .into_iter()
        .collect()
}

async fn decided_then_killed(commit: bool) {
    let tmp = tempfile::tempdir().expect("a temp dir");
    let data = tmp.path().join("data");
    let mut broker = start(&data, &tmp.path().join("first.log"));
    let bootstrap = broker.bootstrap();
    let admin = within("admin", Admin::new(ClientConfig::new(&bootstrap)))
        .await
        .expect("admin");
    within(
        "create",
        admin.create_topics(&[NewTopic::new(TOPIC, 2), NewTopic::new("prepared-input", 1)]),
    )
    .await
    .expect("create topics");
    let mut config = ProducerConfig::new(&bootstrap);
    config.set("transactional.id", "prepared-tx").expect("set");
    let producer = within("producer", Producer::new(config))
        .await
        .expect("producer");
    within("init", producer.init_transactions())
        .await
        .expect("init");
    within("begin", producer.begin_transaction())
        .await
        .expect("begin");
    for (p, v) in [(0, "a0"), (0, "a1"), (0, "a2"), (1, "b0"), (1, "b1")] {
        let record = ProducerRecord::new(TOPIC).partition(p).value(v);
        within("send", producer.send(record)).await.expect("sent");
    }
    within(
        "offsets",
        producer.send_offsets_to_transaction(
            &[("prepared-input".to_string(), 0, 42)],
            &ConsumerGroupMetadata::for_group(GROUP),
        ),
    )
    .await
    .expect("offsets in the transaction");
    if commit {
        within("commit", producer.commit_transaction())
            .await
            .expect("commit");
    } else {
        within("abort", producer.abort_transaction())
            .await
            .expect("abort");
    }
    producer.close().await;
    tokio::task::block_in_place(|| broker.stop());

    // Back to just after the decision: Complete* and every marker cut off.
    let ctx = if commit { "commit" } else { "abort" };
    for (topic, partition) in [
        ("__transaction_state", 0),
        (TOPIC, 0),
        (TOPIC, 1),
        ("__consumer_offsets", 0),
    ] {
        let cut = cut_last_batch(&data, topic, partition);
        assert!(cut > 0, "{ctx}: cut {topic}-{partition}");
    }
    as_after_a_kill(&data);

    let broker = start(&data, &tmp.path().join("restart.log"));
    let bootstrap = broker.bootstrap();
    let expected = if commit {
        "CompleteCommit"
    } else {
        "CompleteAbort"
    };
    within("the coordinator completes the transaction", async {
        while states(&broker).await != [("prepared-tx".to_string(), expected.to_string())] {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let p0 = committed_values(&bootstrap, 0).await;
    let p1 = committed_values(&bootstrap, 1).await;
    if commit {
        assert_eq!(
            p0,
            ["a0", "a1", "a2"],
            "{ctx}: partition 0 under read_committed"
        );
        assert_eq!(p1, ["b0", "b1"], "{ctx}: partition 1 under read_committed");
        assert_eq!(
            stable_offset(&broker).await,
            Some(42),
            "{ctx}: the group's offset"
        );
    } else {
        assert!(
            p0.is_empty() && p1.is_empty(),
            "{ctx}: {p0:?} {p1:?} visible"
        );
        assert_eq!(
            stable_offset(&broker).await,
            None,
            "{ctx}: the group's offset"
        );
    }
    let log = broker.log_text();
    assert!(
        log.contains("completed after a restart"),
        "{ctx}: the broker's log says nothing of completing the transaction:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_decided_before_a_crash_is_completed_at_restart() {
    decided_then_killed(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_decided_before_a_crash_is_completed_at_restart() {
    decided_then_killed(false).await;
}
