//! The idempotent producer, on the wire: a retried batch is answered with its original
//! offsets and stored once; a gap in the sequence and an old epoch are refused; the
//! state survives a clean restart (a snapshot at the log end), a kill -9 (replayed from
//! the log) and lost snapshots (rebuilt from the whole log); idle producers expire.
//!
//! Each test drives a real broker with raw frames (testkit's `wire`), so it controls
//! the producer id, epoch and sequence of every batch exactly.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use minikafka_testkit::child_broker::ChildBroker;
use minikafka_testkit::wire::{decode_records, producer_batch, Client};
use minikafka_testkit::{within, TestBroker};

/// InitProducerId v4: a fresh id, or the next epoch of `current`.
async fn init_producer_id(c: &mut Client, current: Option<(i64, i16)>) -> (i64, i16) {
    let (id, epoch) = current.unwrap_or((-1, -1));
    // No transactional id: null (the codec's default is "", which Kafka refuses).
    let req = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(id))
        .with_producer_epoch(epoch);
    let resp: InitProducerIdResponse = c.call(ApiKey::InitProducerId, 4, &req).await;
    assert_eq!(resp.error_code, 0);
    (resp.producer_id.0, resp.producer_epoch)
}

/// Produces one batch; returns (error code, base offset).
async fn send(c: &mut Client, topic: &str, batch: &Bytes) -> (i16, i64) {
    let r = c.produce(topic, 0, batch.clone()).await;
    (r.error_code, r.base_offset)
}

/// Every value in partition 0 of `topic`, in offset order, with its offset.
async fn values(c: &mut Client, topic: &str) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    let mut next = 0;
    loop {
        let p = c.fetch(topic, 0, next, 0, 0).await;
        assert_eq!(p.error_code, 0, "fetch {topic} from {next}");
        let records = decode_records(p.records.unwrap_or_default());
        if records.is_empty() {
            return out;
        }
        for (offset, _, value) in records {
            if offset >= next {
                out.push((offset, value));
                next = offset + 1;
            }
        }
    }
}

fn strings(vs: &[(i64, String)]) -> Vec<&str> {
    vs.iter().map(|(_, v)| v.as_str()).collect()
}

#[tokio::test]
async fn a_retried_batch_is_answered_with_its_first_offsets_and_stored_once() {
    let broker = TestBroker::start().await.unwrap();
    let mut c = Client::connect(broker.addr()).await;
    c.create_topic("idem", 1).await;
    let (pid, epoch) = init_producer_id(&mut c, None).await;

    let a = producer_batch(&["a0", "a1", "a2"], pid, epoch, 0, false);
    let b = producer_batch(&["b0", "b1"], pid, epoch, 3, false);
    assert_eq!(send(&mut c, "idem", &a).await, (0, 0));
    assert_eq!(send(&mut c, "idem", &b).await, (0, 3));
    // Both retried, in order and out of order: the original offsets, no error.
    assert_eq!(send(&mut c, "idem", &a).await, (0, 0));
    assert_eq!(send(&mut c, "idem", &b).await, (0, 3));
    assert_eq!(send(&mut c, "idem", &a).await, (0, 0));
    // The next batch goes on from sequence 5.
    let next = producer_batch(&["c0"], pid, epoch, 5, false);
    assert_eq!(send(&mut c, "idem", &next).await, (0, 5));

    let stored = values(&mut c, "idem").await;
    assert_eq!(strings(&stored), ["a0", "a1", "a2", "b0", "b1", "c0"]);
    // A producer without an id (acks only) is never deduplicated.
    let plain = minikafka_testkit::wire::batch(&[(None, "p")], 1);
    assert_eq!(send(&mut c, "idem", &plain).await, (0, 6));
    assert_eq!(send(&mut c, "idem", &plain).await, (0, 7));
    broker.stop().await;
}

#[tokio::test]
async fn a_gap_an_old_epoch_and_a_new_epoch_not_starting_at_zero_are_refused() {
    let broker = TestBroker::start().await.unwrap();
    let mut c = Client::connect(broker.addr()).await;
    c.create_topic("gaps", 1).await;
    let (pid, epoch) = init_producer_id(&mut c, None).await;
    assert_eq!(
        send(
            &mut c,
            "gaps",
            &producer_batch(&["x", "y"], pid, epoch, 0, false)
        )
        .await,
        (0, 0)
    );
    // Sequence 2 is next; 4 leaves a gap.
    let gap = producer_batch(&["z"], pid, epoch, 4, false);
    assert_eq!(send(&mut c, "gaps", &gap).await, (45, -1)); // OUT_OF_ORDER_SEQUENCE_NUMBER

    // KIP-360: the producer bumps its epoch and starts again from 0.
    let (same, bumped) = init_producer_id(&mut c, Some((pid, epoch))).await;
    assert_eq!((same, bumped), (pid, epoch + 1));
    let not_zero = producer_batch(&["n"], pid, bumped, 1, false);
    assert_eq!(send(&mut c, "gaps", &not_zero).await, (45, -1));
    assert_eq!(
        send(
            &mut c,
            "gaps",
            &producer_batch(&["n"], pid, bumped, 0, false)
        )
        .await,
        (0, 2)
    );
    // The old epoch is fenced now.
    let zombie = producer_batch(&["old"], pid, epoch, 2, false);
    assert_eq!(send(&mut c, "gaps", &zombie).await, (47, -1)); // INVALID_PRODUCER_EPOCH

    // A producer id this partition never saw is taken at any sequence (KIP-360: its
    // state may have expired), and then held to it.
    let stranger = producer_batch(&["s"], pid + 1_000, 0, 41, false);
    assert_eq!(send(&mut c, "gaps", &stranger).await, (0, 3));
    let stranger_gap = producer_batch(&["t"], pid + 1_000, 0, 50, false);
    assert_eq!(send(&mut c, "gaps", &stranger_gap).await, (45, -1));

    assert_eq!(strings(&values(&mut c, "gaps").await), ["x", "y", "n", "s"]);
    broker.stop().await;
}

#[tokio::test]
async fn the_state_survives_a_clean_restart_through_the_snapshot_at_the_log_end() {
    let mut broker = TestBroker::start().await.unwrap();
    let mut c = Client::connect(broker.addr()).await;
    c.create_topic("restart", 1).await;
    let (pid, epoch) = init_producer_id(&mut c, None).await;
    let first = producer_batch(&["r0", "r1"], pid, epoch, 0, false);
    let last = producer_batch(&["r2"], pid, epoch, 2, false);
    assert_eq!(send(&mut c, "restart", &first).await, (0, 0));
    assert_eq!(send(&mut c, "restart", &last).await, (0, 2));
    drop(c);

    broker.restart().await.unwrap();
    let dir = broker.data_dir().join("restart-0");
    assert!(
        dir.join("00000000000000000003.snapshot").exists(),
        "a clean shutdown leaves a snapshot at the log end offset: {:?}",
        std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect::<Vec<_>>()
    );
    let mut c = Client::connect(broker.addr()).await;
    // The snapshot keeps the last batch: its retry is still recognised …
    assert_eq!(send(&mut c, "restart", &last).await, (0, 2));
    // … and the sequence is still enforced.
    let gap = producer_batch(&["g"], pid, epoch, 9, false);
    assert_eq!(send(&mut c, "restart", &gap).await, (45, -1));
    let next = producer_batch(&["r3"], pid, epoch, 3, false);
    assert_eq!(send(&mut c, "restart", &next).await, (0, 3));
    assert_eq!(
        strings(&values(&mut c, "restart").await),
        ["r0", "r1", "r2", "r3"]
    );
    broker.stop().await;
}

/// The batches a kill test sends: 12 batches of 3 records, sequence 3 × i.
fn numbered(pid: i64, i: i32) -> Bytes {
    let values: Vec<String> = (0..3).map(|r| format!("v{}", 3 * i + r)).collect();
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    producer_batch(&refs, pid, 0, 3 * i, false)
}

/// Sends the 12 numbered batches to a child broker with small segments (rolls every
/// few batches), then kills it with SIGKILL; returns the data dir, the log and the
/// producer id.
async fn produce_then_kill(
    bin: &std::path::Path,
    data: &std::path::Path,
    log: &std::path::Path,
) -> i64 {
    let mut child = ChildBroker::start(
        bin,
        data,
        log,
        &["--segment-bytes", "400", "--fsync", "always"],
    );
    let mut c = Client::connect(child.addr()).await;
    c.create_topic("killed", 1).await;
    let (pid, _) = init_producer_id(&mut c, None).await;
    for i in 0..12 {
        let (code, base) = send(&mut c, "killed", &numbered(pid, i)).await;
        assert_eq!((code, base), (0, i64::from(3 * i)), "batch {i}");
    }
    child.kill9();
    pid
}

#[tokio::test]
async fn the_state_survives_a_kill_through_roll_snapshots_and_replay() {
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_minikafka-broker"));
    let tmp = tempfile::tempdir().unwrap();
    let (data, log) = (tmp.path().join("data"), tmp.path().join("broker.log"));
    let pid = produce_then_kill(&bin, &data, &log).await;
    let dir = data.join("killed-0");
    let snapshots: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".snapshot"))
        .collect();
    assert!(!snapshots.is_empty(), "segment rolls leave snapshots");

    let mut child = ChildBroker::start(&bin, &data, &log, &["--segment-bytes", "400"]);
    let mut c = Client::connect(child.addr()).await;
    // The last batches were replayed from the active segment after the newest snapshot:
    // their retries are duplicates.
    for i in [10, 11] {
        assert_eq!(
            send(&mut c, "killed", &numbered(pid, i)).await,
            (0, i64::from(3 * i))
        );
    }
    let gap = producer_batch(&["g"], pid, 0, 40, false);
    assert_eq!(send(&mut c, "killed", &gap).await, (45, -1));
    assert_eq!(send(&mut c, "killed", &numbered(pid, 12)).await, (0, 36));
    assert_eq!(values(&mut c, "killed").await.len(), 39);
    child.stop();
}

#[tokio::test]
async fn without_its_snapshots_the_state_is_rebuilt_from_the_whole_log() {
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_minikafka-broker"));
    let tmp = tempfile::tempdir().unwrap();
    let (data, log) = (tmp.path().join("data"), tmp.path().join("broker.log"));
    let pid = produce_then_kill(&bin, &data, &log).await;
    let dir = data.join("killed-0");
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        if e.file_name().to_string_lossy().ends_with(".snapshot") {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    // A damaged one is ignored the same way.
    std::fs::write(dir.join("00000000000000000030.snapshot"), b"not a snapshot").unwrap();

    let mut child = ChildBroker::start(&bin, &data, &log, &["--segment-bytes", "400"]);
    let mut c = Client::connect(child.addr()).await;
    // Replaying every segment keeps the last five batches, across segment boundaries.
    for i in 7..12 {
        assert_eq!(
            send(&mut c, "killed", &numbered(pid, i)).await,
            (0, i64::from(3 * i)),
            "batch {i}"
        );
    }
    assert_eq!(values(&mut c, "killed").await.len(), 36);
    child.stop();
    assert!(
        child.log_text().contains("not a valid producer snapshot"),
        "the damaged snapshot is reported"
    );
}

#[tokio::test]
async fn an_idle_producer_expires_and_is_then_taken_at_any_sequence() {
    let broker = TestBroker::builder()
        .config(|c| {
            c.producer_id_expiration = Duration::from_millis(200);
            c.producer_id_expiration_check_interval = Duration::from_millis(50);
        })
        .start()
        .await
        .unwrap();
    let mut c = Client::connect(broker.addr()).await;
    c.create_topic("expiry", 1).await;
    let (pid, epoch) = init_producer_id(&mut c, None).await;
    assert_eq!(
        send(
            &mut c,
            "expiry",
            &producer_batch(&["e0"], pid, epoch, 0, false)
        )
        .await,
        (0, 0)
    );
    // Once forgotten, a sequence that is a gap now is accepted: try until it is.
    let later = producer_batch(&["e7"], pid, epoch, 7, false);
    let accepted = within("the producer id to expire", async {
        loop {
            match send(&mut c, "expiry", &later).await {
                (45, _) => tokio::time::sleep(Duration::from_millis(50)).await,
                other => return other,
            }
        }
    })
    .await;
    assert_eq!(accepted, (0, 1));
    broker.stop().await;
}
