//! A simulated power cut under a real broker: the log runs on the storage seam's
//! `SimulatedDisk` (`log/storage.rs`), which remembers every write no `sync_data` has
//! covered yet. While a producer runs, `power_cut` copies the data dir as the disk
//! would hold it if the power went now (the unsynced writes dropped, all of them or a
//! random, torn part), and a second broker opens each copy.
//!
//! What each fsync policy must give (docs/reliability-power-cut.md):
//! - always: every record acknowledged before the cut is there;
//! - never and `--fsync <ms>`: what was synced is there (the segments rolled before the
//!   cut; with `<ms>`, everything the flusher had synced);
//! - every policy: the log is a valid prefix of what was produced: offsets dense from 0,
//!   every batch whole and CRC-valid, each record the one produced at its offset, and
//!   appends go on at the next offset; and recovery keeps exactly the whole batches the
//!   disk held (with `Tear::DropAll`: exactly what was synced).
// Tests may unwrap; clippy's allow-unwrap-in-tests (.clippy.toml) covers #[test] fns only.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use minikafka_broker::config::FsyncPolicy;
use minikafka_broker::log::record_batch::{check_frame, split_batches};
use minikafka_broker::log::storage::{SimulatedDisk, Tear};
use minikafka_testkit::wire::{batch, decode_records, Client};
use minikafka_testkit::{TestBroker, WAIT};

const TOPIC: &str = "pc";

/// Now, as a record timestamp (an old one would have retention delete the records).
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
/// Records per produced batch.
const PER_BATCH: i64 = 3;

/// The value of record `j` of batch `i`.
fn value(i: i64, j: i64) -> String {
    format!("batch {i} record {j} {}", "v".repeat(200))
}

/// Batch `i` as the producer sends it.
fn batch_of(i: i64) -> bytes::Bytes {
    let values: Vec<String> = (0..PER_BATCH).map(|j| value(i, j)).collect();
    let records: Vec<(Option<&str>, &str)> =
        values.iter().map(|v| (Some("k"), v.as_str())).collect();
    batch(&records, now_ms())
}

/// One power cut: the copy and what was known when it was taken.
struct Cut {
    image: tempfile::TempDir,
    /// Batches acknowledged before the cut began.
    acked: i64,
    /// Batches the producer had sent (acknowledged or not) when the cut ended.
    sent: i64,
}

/// Every record of the recovered broker from offset 0, as (offset, value).
async fn fetch_all(client: &mut Client) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    loop {
        let p = client.fetch(TOPIC, 0, out.len() as i64, 0, 1).await;
        assert_eq!(p.error_code, 0, "fetch from {}", out.len());
        let got = decode_records(p.records.unwrap_or_default());
        let from = out.len() as i64;
        let before = out.len();
        out.extend(got.into_iter().filter(|r| r.0 >= from).map(|r| (r.0, r.2)));
        if out.len() == before {
            return out;
        }
    }
}

/// Base offset of the last `.log` in the image's partition: every offset below it was
/// in a segment rolled (and so synced whole) before the cut.
fn rolled_below(data_dir: &Path) -> i64 {
    std::fs::read_dir(data_dir.join(format!("{TOPIC}-0")))
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".log")?.parse::<i64>().ok()
        })
        .max()
        .unwrap_or(0)
}

/// How many records the copy's `.log` files hold as a valid prefix: whole, CRC-valid
/// batches with dense offsets from 0, up to the first that is not. Recovery must keep
/// exactly these: no fewer (it would drop synced data), no more.
fn valid_prefix(data_dir: &Path) -> i64 {
    let dir = data_dir.join(format!("{TOPIC}-0"));
    let mut logs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    logs.sort();
    let mut next = 0;
    for log in logs {
        let bytes = std::fs::read(&log).unwrap();
        for b in split_batches(&bytes) {
            match check_frame(b) {
                Ok(h) if h.base_offset == next => next = h.last_offset() + 1,
                _ => return next,
            }
        }
    }
    next
}

/// Every batch in the partition's `.log` files is whole and CRC-valid (after the
/// recovered broker's clean stop).
fn check_files(data_dir: &Path) {
    let dir = data_dir.join(format!("{TOPIC}-0"));
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "log") {
            let bytes = std::fs::read(&path).unwrap();
            let mut len = 0;
            for b in split_batches(&bytes) {
                check_frame(b).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                len += b.len();
            }
            assert_eq!(
                len,
                bytes.len(),
                "{}: bytes after the last batch",
                path.display()
            );
        }
    }
}

/// Runs a producer on a broker with `fsync`, takes a power cut with each of `tears`
/// as it goes, and checks a broker opened on each copy.
async fn run(fsync: FsyncPolicy, tears: &[Tear]) -> Vec<(i64, i64, i64)> {
    let dir = tempfile::tempdir().unwrap();
    let disk = SimulatedDisk::install(dir.path());
    let broker = TestBroker::builder()
        .data_dir(dir)
        .config(move |c| c.log.fsync = fsync)
        .start()
        .await
        .unwrap();
    let mut client = Client::connect(broker.addr()).await;
    let code = client
        .create_topic_with(
            TOPIC,
            1,
            &[
                ("segment.bytes", "8000"),
                ("segment.index.bytes", "4096"),
                ("index.interval.bytes", "700"),
            ],
        )
        .await;
    assert_eq!(code, 0);

    // Cuts after 37, 74, 111, 148 acknowledged batches. A segment holds ten batches: 37
    // is not a multiple, so each cut finds writes no roll synced.
    let targets: Vec<i64> = (1..=tears.len() as i64).map(|n| 37 * n).collect();
    // (sent, acked) batches, shared with the producer task, which says when it passes
    // a target and goes on producing: the cut lands while it writes.
    let progress = Arc::new(Mutex::new((0i64, 0i64)));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (passed, mut reached) = tokio::sync::mpsc::unbounded_channel();
    let producer = {
        let (progress, stop, targets) = (progress.clone(), stop.clone(), targets.clone());
        let mut client = Client::connect(broker.addr()).await;
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                progress.lock().unwrap().0 = i + 1;
                let r = client.produce(TOPIC, 0, batch_of(i)).await;
                assert_eq!((r.error_code, r.base_offset), (0, i * PER_BATCH));
                progress.lock().unwrap().1 = i + 1;
                i += 1;
                if targets.contains(&i) {
                    let _ = passed.send(i);
                }
            }
        })
    };
    let mut cuts = Vec::new();
    for tear in tears {
        // Bounded: a stuck producer fails the test.
        let target = tokio::time::timeout(WAIT, reached.recv()).await;
        assert!(
            matches!(target, Ok(Some(_))),
            "the producer got stuck: {:?}",
            *progress.lock().unwrap()
        );
        let image = tempfile::tempdir().unwrap();
        let acked = progress.lock().unwrap().1;
        disk.power_cut(image.path(), *tear).unwrap();
        let sent = progress.lock().unwrap().0;
        cuts.push(Cut { image, acked, sent });
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    producer.await.unwrap();
    broker.stop().await;

    let mut outcome = Vec::new();
    for (cut, tear) in cuts.into_iter().zip(tears) {
        outcome.push(check_cut(cut, fsync, *tear).await);
    }
    outcome
}

/// Opens a broker on one power-cut copy and checks what it serves; returns
/// (acked, sent, recovered) in batches.
async fn check_cut(cut: Cut, fsync: FsyncPolicy, tear: Tear) -> (i64, i64, i64) {
    let rolled = rolled_below(cut.image.path());
    let on_disk = valid_prefix(cut.image.path());
    let broker = TestBroker::builder()
        .data_dir(cut.image)
        .start()
        .await
        .unwrap();
    let mut client = Client::connect(broker.addr()).await;
    let got = fetch_all(&mut client).await;
    let context = format!("{fsync:?} {tear:?}: acked {} sent {}", cut.acked, cut.sent);
    // A valid prefix: dense offsets, whole batches, each record the one produced there.
    assert_eq!(
        got.len() as i64 % PER_BATCH,
        0,
        "{context}: a batch in part"
    );
    for (k, (offset, v)) in got.iter().enumerate() {
        let k = k as i64;
        assert_eq!(*offset, k, "{context}: offsets dense");
        assert_eq!(
            *v,
            value(k / PER_BATCH, k % PER_BATCH),
            "{context}: at {offset}"
        );
    }
    let recovered = got.len() as i64 / PER_BATCH;
    assert!(recovered <= cut.sent, "{context}: more than was produced");
    // Recovery keeps every whole batch the disk held, and nothing else.
    assert_eq!(
        got.len() as i64,
        on_disk,
        "{context}: the valid prefix on disk"
    );
    // What was synced survives.
    assert!(
        got.len() as i64 >= rolled,
        "{context}: the segments rolled before the cut (below offset {rolled}) lost"
    );
    if fsync == FsyncPolicy::Always {
        assert!(
            recovered >= cut.acked,
            "{context}: acknowledged batches lost: {recovered} back"
        );
    }
    // And the log goes on from there.
    let r = client.produce(TOPIC, 0, batch_of(recovered)).await;
    assert_eq!(
        (r.error_code, r.base_offset),
        (0, got.len() as i64),
        "{context}"
    );
    let dir = broker.stop().await;
    check_files(dir.path());
    (cut.acked, cut.sent, recovered)
}

const TEARS: [Tear; 4] = [
    Tear::DropAll,
    Tear::Random(1),
    Tear::Random(2),
    Tear::Zeros(3),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fsync_always_loses_nothing_acknowledged() {
    let outcome = run(FsyncPolicy::Always, &TEARS).await;
    eprintln!("fsync=always (acked, sent, recovered) batches per cut: {outcome:?}");
    for (acked, _, recovered) in outcome {
        assert!(recovered >= acked);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fsync_never_recovers_a_valid_prefix() {
    let outcome = run(FsyncPolicy::Never, &TEARS).await;
    eprintln!("fsync=never (acked, sent, recovered) batches per cut: {outcome:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fsync_interval_recovers_a_valid_prefix() {
    let outcome = run(FsyncPolicy::Interval(Duration::from_millis(20)), &TEARS).await;
    eprintln!("fsync=20ms (acked, sent, recovered) batches per cut: {outcome:?}");
}
