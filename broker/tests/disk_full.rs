//! A full disk (ENOSPC) and a failing one (EIO) under a real broker and a real wire
//! client: Produce answers KAFKA_STORAGE_ERROR, nothing written before is damaged,
//! Fetch keeps serving, and once space is back the next Produce succeeds with the next
//! offset, without a restart. The disk is the log's storage seam
//! (`log/storage.rs`, `SimulatedDisk`); one test also fills a real 2 MiB tmpfs when the
//! machine lets it mount one (root, as in CI), and says SKIPPED otherwise.
// Tests may unwrap; clippy's allow-unwrap-in-tests (.clippy.toml) covers #[test] fns only.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use minikafka_broker::log::storage::SimulatedDisk;
use minikafka_testkit::disk::stored_batches;
use minikafka_testkit::wire::{batch, decode_records, Client};
use minikafka_testkit::TestBroker;

/// Now, as a record timestamp (an old one would have retention delete the records).
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Kafka's KAFKA_STORAGE_ERROR.
const KAFKA_STORAGE_ERROR: i16 = 56;

/// The value of record `i`: about 1 KB, so a few fill a small segment.
fn value(i: i64) -> String {
    format!("record {i} {}", "x".repeat(1000))
}

/// Produces record `i` (one batch of one record); returns (error code, base offset).
async fn produce(client: &mut Client, topic: &str, i: i64) -> (i16, i64) {
    let v = value(i);
    let r = client
        .produce(topic, 0, batch(&[(Some("k"), v.as_str())], now_ms()))
        .await;
    (r.error_code, r.base_offset)
}

/// Every record from offset 0 to the end, as (offset, value).
async fn fetch_all(client: &mut Client, topic: &str) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    loop {
        let p = client.fetch(topic, 0, out.len() as i64, 0, 1).await;
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

/// What every acknowledged record should read back as: offsets 0.. dense.
fn expected(acked: &[i64]) -> Vec<(i64, String)> {
    acked
        .iter()
        .enumerate()
        .map(|(offset, &i)| (offset as i64, value(i)))
        .collect()
}

/// Checks the log on the wire and on disk holds exactly the acknowledged records.
async fn check_intact(client: &mut Client, data_dir: &Path, topic: &str, acked: &[i64]) {
    assert_eq!(fetch_all(client, topic).await, expected(acked));
    let stored = stored_batches(data_dir, topic, 0);
    let want: Vec<(i64, i32)> = (0..acked.len() as i64).map(|o| (o, 1)).collect();
    assert_eq!(stored, want, "whole batches on disk, nothing partial");
}

/// A topic whose active indexes are preallocated to 64 KiB (an entry every 100 bytes)
/// and, with `small`, whose segments hold three records (a roll every fourth produce).
async fn create(client: &mut Client, topic: &str, small: bool) {
    let mut configs = vec![
        ("segment.index.bytes", "65536"),
        ("index.interval.bytes", "100"),
    ];
    if small {
        configs.push(("segment.bytes", "3500"));
    }
    let code = client.create_topic_with(topic, 1, &configs).await;
    assert_eq!(code, 0);
}

#[tokio::test]
async fn a_full_disk_refuses_produce_keeps_fetch_and_recovers_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let disk = SimulatedDisk::install(dir.path());
    let mut broker = TestBroker::builder().data_dir(dir).start().await.unwrap();
    let data_dir = broker.data_dir().to_path_buf();
    let mut client = Client::connect(broker.addr()).await;
    create(&mut client, "full", false).await;

    let mut acked = Vec::new();
    let mut next = 0;
    // Room for four records (about 1,090 bytes each) and part of a fifth: its write
    // is torn by ENOSPC, and cut back.
    disk.set_space(Some(5_000));
    let mut refused = 0;
    while refused < 3 {
        let (code, base) = produce(&mut client, "full", next).await;
        match code {
            0 => {
                assert_eq!(base, acked.len() as i64, "offsets stay dense");
                acked.push(next);
            }
            KAFKA_STORAGE_ERROR => refused += 1,
            other => panic!("produce {next}: error code {other}"),
        }
        next += 1;
    }
    assert!(acked.len() >= 3, "some records fit: {}", acked.len());
    assert_eq!(disk.space(), Some(0), "the disk filled up");
    check_intact(&mut client, &data_dir, "full", &acked).await;

    // Space is freed: the very next produce succeeds, at the next offset.
    disk.set_space(None);
    for _ in 0..10 {
        let (code, base) = produce(&mut client, "full", next).await;
        assert_eq!((code, base), (0, acked.len() as i64));
        acked.push(next);
        next += 1;
    }
    check_intact(&mut client, &data_dir, "full", &acked).await;

    // And a restart finds the same log, and appends on.
    broker.restart().await.unwrap();
    let mut client = Client::connect(broker.addr()).await;
    check_intact(&mut client, &data_dir, "full", &acked).await;
    let (code, base) = produce(&mut client, "full", next).await;
    assert_eq!((code, base), (0, acked.len() as i64));
    broker.stop().await;
}

#[tokio::test]
async fn a_roll_without_space_keeps_the_old_segment_active() {
    let dir = tempfile::tempdir().unwrap();
    let disk = SimulatedDisk::install(dir.path());
    let mut broker = TestBroker::builder().data_dir(dir).start().await.unwrap();
    let data_dir = broker.data_dir().to_path_buf();
    let mut client = Client::connect(broker.addr()).await;
    create(&mut client, "roll", true).await;
    let mut acked = Vec::new();
    for i in 0..3 {
        assert_eq!(produce(&mut client, "roll", i).await, (0, i));
        acked.push(i);
    }
    // The fourth record needs a new segment, whose indexes (2 × 64 KiB) do not fit:
    // refused, again and again, with the old segment still the active one.
    disk.set_space(Some(10_000));
    for i in 3..6 {
        assert_eq!(produce(&mut client, "roll", i).await.0, KAFKA_STORAGE_ERROR);
    }
    let partition = data_dir.join("roll-0");
    let names = |ext: &str| {
        let mut v: Vec<String> = std::fs::read_dir(&partition)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(ext))
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(".log"), ["00000000000000000000.log"]);
    assert_eq!(names(".index"), ["00000000000000000000.index"]);
    check_intact(&mut client, &data_dir, "roll", &acked).await;

    // A restart on the full disk: the log opens, serves, and still refuses appends.
    broker.restart().await.unwrap();
    let mut client = Client::connect(broker.addr()).await;
    check_intact(&mut client, &data_dir, "roll", &acked).await;
    assert_eq!(produce(&mut client, "roll", 6).await.0, KAFKA_STORAGE_ERROR);

    disk.set_space(None);
    for i in 7..11 {
        assert_eq!(
            produce(&mut client, "roll", i).await,
            (0, acked.len() as i64)
        );
        acked.push(i);
    }
    assert!(names(".log").len() >= 2, "rolled once space was back");
    check_intact(&mut client, &data_dir, "roll", &acked).await;
    broker.stop().await;
}

#[tokio::test]
async fn a_failing_disk_eio_refuses_produce_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let disk = SimulatedDisk::install(dir.path());
    let broker = TestBroker::builder()
        .data_dir(dir)
        .config(|c| c.log.fsync = minikafka_broker::config::FsyncPolicy::Always)
        .start()
        .await
        .unwrap();
    let mut client = Client::connect(broker.addr()).await;
    create(&mut client, "eio", true).await;
    let mut acked = Vec::new();
    for i in 0..5 {
        assert_eq!(produce(&mut client, "eio", i).await, (0, i));
        acked.push(i);
    }
    disk.fail_writes(Some(5)); // EIO
    for i in 5..8 {
        assert_eq!(produce(&mut client, "eio", i).await.0, KAFKA_STORAGE_ERROR);
    }
    // Fetch reads from the page cache: still served.
    assert_eq!(fetch_all(&mut client, "eio").await, expected(&acked));
    disk.fail_writes(None);
    for i in 8..12 {
        let (code, base) = produce(&mut client, "eio", i).await;
        assert_eq!(code, 0);
        // With fsync=always a write that landed before its fsync failed was not
        // acknowledged, yet it stays in the log (Kafka's as well): the producer's
        // retry would be a duplicate. Offsets stay dense either way.
        assert!(base >= acked.len() as i64);
        while (acked.len() as i64) < base {
            acked.push(-1); // written, not acknowledged
        }
        acked.push(i);
    }
    let got = fetch_all(&mut client, "eio").await;
    assert_eq!(got.len(), acked.len());
    for ((offset, v), (want_offset, &i)) in got.iter().zip(acked.iter().enumerate()) {
        assert_eq!(*offset, want_offset as i64);
        if i >= 0 {
            assert_eq!(*v, value(i), "acknowledged record at {offset}");
        }
    }
    broker.stop().await;
}

/// Mounts a 2 MiB tmpfs on `dir`, if this process may (root, as in CI).
fn mount_tmpfs(dir: &Path) -> bool {
    std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(dir)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test]
async fn a_real_tiny_tmpfs_fills_up_without_sigbus() {
    let mount = tempfile::tempdir().unwrap();
    if !mount_tmpfs(mount.path()) {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root)");
        return;
    }
    let data = mount.path().join("data");
    std::fs::create_dir(&data).unwrap();
    // Ballast to delete later: the space freed.
    let ballast = mount.path().join("ballast");
    std::fs::write(&ballast, vec![1u8; 512 * 1024]).unwrap();
    let data_dir = tempfile::Builder::new().tempdir_in(&data).unwrap();
    let data_path = data_dir.path().to_path_buf();
    let broker = TestBroker::builder()
        .data_dir(data_dir)
        .config(|c| {
            c.log.max_index_bytes = 64 * 1024;
            c.log.segment_bytes = 100 * 1024;
        })
        .start()
        .await
        .unwrap();
    let mut client = Client::connect(broker.addr()).await;
    client.create_topic("tiny", 1).await;
    let mut acked = Vec::new();
    let mut next = 0;
    loop {
        let (code, base) = produce(&mut client, "tiny", next).await;
        next += 1;
        if code == KAFKA_STORAGE_ERROR {
            break;
        }
        assert_eq!((code, base), (0, acked.len() as i64));
        acked.push(next - 1);
        assert!(next < 10_000, "a 2 MiB tmpfs never filled up");
    }
    check_intact(&mut client, &data_path, "tiny", &acked).await;
    std::fs::remove_file(&ballast).unwrap();
    for _ in 0..5 {
        let (code, base) = produce(&mut client, "tiny", next).await;
        assert_eq!((code, base), (0, acked.len() as i64));
        acked.push(next);
        next += 1;
    }
    check_intact(&mut client, &data_path, "tiny", &acked).await;
    let kept = broker.stop().await;
    drop(kept);
    let _ = std::process::Command::new("umount")
        .arg(mount.path())
        .status();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_native_producer_sees_kafka_storage_error_and_its_retries_get_through() {
    use minikafka_client::{Error, KafkaCode, Producer, ProducerRecord};
    use minikafka_testkit::cluster::producer_config;

    let dir = tempfile::tempdir().unwrap();
    let disk = SimulatedDisk::install(dir.path());
    let broker = TestBroker::builder().data_dir(dir).start().await.unwrap();
    let mut client = Client::connect(broker.addr()).await;
    create(&mut client, "native", false).await;
    let backend = minikafka_client::Backend::Native;

    // No retries: the error as the application sees it.
    let mut config = producer_config(&broker.bootstrap(), backend);
    config.client.retries = 0;
    let once = Producer::new(config).await.unwrap();
    let sent = once
        .send(ProducerRecord::new("native").value(value(0)))
        .await;
    assert_eq!(sent.unwrap().offset, 0);
    disk.set_space(Some(0));
    match once
        .send(ProducerRecord::new("native").value(value(1)))
        .await
    {
        Err(Error::Kafka { code, .. }) => assert_eq!(code, KafkaCode::KafkaStorageError),
        other => panic!("expected KAFKA_STORAGE_ERROR, got {other:?}"),
    }

    // With retries (KAFKA_STORAGE_ERROR is retriable), a send made while the disk is
    // full is delivered once space is freed, at the next offset.
    let mut config = producer_config(&broker.bootstrap(), backend);
    config.client.retries = 10_000;
    config.client.retry_backoff = std::time::Duration::from_millis(20);
    let patient = Producer::new(config).await.unwrap();
    let pending = tokio::spawn(async move {
        let sent = patient
            .send(ProducerRecord::new("native").value(value(2)))
            .await;
        (sent, patient)
    });
    // Let it be refused a few times (not needed for the outcome, only for the path).
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    disk.set_space(None);
    let (sent, patient) = pending.await.unwrap();
    assert_eq!(sent.unwrap().offset, 1);
    patient.close().await;
    once.close().await;
    assert_eq!(fetch_all(&mut client, "native").await, expected(&[0, 2]));
    broker.stop().await;
}

#[tokio::test]
async fn a_failed_fsync_refuses_appends_until_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let disk = SimulatedDisk::install(dir.path());
    let mut broker = TestBroker::builder()
        .data_dir(dir)
        .config(|c| c.log.fsync = minikafka_broker::config::FsyncPolicy::Always)
        .start()
        .await
        .unwrap();
    let data_dir = broker.data_dir().to_path_buf();
    let mut client = Client::connect(broker.addr()).await;
    create(&mut client, "fsync", false).await;
    for i in 0..3 {
        assert_eq!(produce(&mut client, "fsync", i).await, (0, i));
    }
    // The write of record 3 lands in the page cache, its fsync fails: not acknowledged.
    disk.fail_syncs(Some(5));
    assert_eq!(
        produce(&mut client, "fsync", 3).await.0,
        KAFKA_STORAGE_ERROR
    );
    // The disk works again, but a failed fsync proves nothing about what it covered:
    // the partition refuses appends until a restart, and keeps serving reads.
    disk.fail_syncs(None);
    assert_eq!(
        produce(&mut client, "fsync", 4).await.0,
        KAFKA_STORAGE_ERROR
    );
    let served = fetch_all(&mut client, "fsync").await;
    assert_eq!(served[..3], expected(&[0, 1, 2])[..]);
    broker.restart().await.unwrap();
    // The shutdown left no clean-shutdown marker: the start checked the files.
    assert!(!data_dir.join("fsync-0").join("clean-shutdown").exists());
    let mut client = Client::connect(broker.addr()).await;
    // Record 3 was written, never acknowledged: recovery keeps it (it is whole), as
    // Kafka would. Appends go on after it.
    assert_eq!(produce(&mut client, "fsync", 5).await, (0, 4));
    check_intact(&mut client, &data_dir, "fsync", &[0, 1, 2, 3, 5]).await;
    broker.stop().await;
}
