//! Black-box tests of `minikafka-broker inspect`: the real binary on a real data dir
//! written through the library, checking what a learner would read.
// Tests may unwrap; clippy's allow-unwrap-in-tests (.clippy.toml) covers #[test] fns only.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use bytes::Bytes;
use minikafka_broker::config::LogConfig;
use minikafka_broker::log::record::{build, NewRecord};
use minikafka_broker::log::record_batch::Compression;
use minikafka_broker::topics::Topics;

fn inspect(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_minikafka-broker"))
        .arg("inspect")
        .args(args)
        .output()
        .expect("run minikafka-broker")
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}, stderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn rec(key: &[u8], value: &[u8], ts: i64) -> NewRecord {
    NewRecord {
        key: Some(Bytes::copy_from_slice(key)),
        value: Some(Bytes::copy_from_slice(value)),
        headers: vec![("trace".into(), Some(Bytes::from_static(b"abc")))],
        timestamp: ts,
    }
}

/// A data dir with topic `orders` (2 partitions, small segments) and some records.
fn data_dir(dir: &Path) {
    let defaults = LogConfig {
        segment_bytes: 400,
        index_interval_bytes: 100,
        ..LogConfig::default()
    };
    let topics = Topics::open(dir, defaults).unwrap();
    topics
        .create(
            "orders",
            2,
            BTreeMap::from([("retention.ms".into(), "-1".into())]),
        )
        .unwrap();
    let p = topics.partition("orders", 0).unwrap();
    for i in 0..6 {
        let key = format!("user-{i}");
        let mut b = build(
            &[
                rec(key.as_bytes(), b"hello", 1_700_000_000_000 + i),
                rec(b"bin", &[0xff, 0x00, 0x10], 1_700_000_000_000),
            ],
            1_700_000_000_000,
            if i == 5 {
                Compression::Gzip
            } else {
                Compression::None
            },
        );
        p.append(&mut b).unwrap();
    }
    topics.close().unwrap();
}

#[test]
fn topics_lists_partitions_offsets_and_segments() {
    let dir = tempfile::tempdir().unwrap();
    data_dir(dir.path());
    let out = stdout(&inspect(&["topics", dir.path().to_str().unwrap()]));
    assert!(
        out.contains("topic orders: 2 partitions, config retention.ms=-1"),
        "{out}"
    );
    assert!(
        out.contains("partition 0: log start 0, log end 12,"),
        "{out}"
    );
    assert!(
        out.contains("partition 1: log start 0, log end 0, 1 segments"),
        "{out}"
    );
    assert!(out.contains("clean shutdown"), "{out}");
    // Several segments with their batches and records.
    let rows: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.contains("partition 0"))
        .skip(2)
        .take_while(|l| !l.contains("partition 1"))
        .collect();
    assert!(rows.len() >= 2, "{out}");
    let first: Vec<&str> = rows[0].split_whitespace().collect();
    assert_eq!(first[0], "0", "{out}");
}

#[test]
fn dump_log_shows_batches_and_records() {
    let dir = tempfile::tempdir().unwrap();
    data_dir(dir.path());
    let seg = dir.path().join("orders-0").join("00000000000000000000.log");
    let out = stdout(&inspect(&["dump", seg.to_str().unwrap()]));
    assert!(out.contains("batch offsets 0..=1 position 0"), "{out}");
    assert!(out.contains("CRC ok"), "{out}");
    assert!(out.contains("compression none records 2"), "{out}");
    assert!(out.contains("offset 0 timestamp 1700000000000 (2023-11-14T22:13:20.000Z) key \"user-0\" value \"hello\" headers \"trace\"=\"abc\""), "{out}");
    assert!(out.contains("key \"bin\" value 0xff0010"), "{out}");

    // The gzip batch is decompressed for display.
    let last = std::fs::read_dir(dir.path().join("orders-0"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .max()
        .unwrap();
    let out = stdout(&inspect(&["dump", last.to_str().unwrap()]));
    assert!(out.contains("compression gzip"), "{out}");
    assert!(out.contains("key \"user-5\" value \"hello\""), "{out}");
}

#[test]
fn dump_reports_a_bad_crc_and_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    data_dir(dir.path());
    let seg = dir.path().join("orders-0").join("00000000000000000000.log");
    let mut bytes = std::fs::read(&seg).unwrap();
    let n = bytes.len();
    bytes[70] ^= 0x01; // inside the first batch's records
    bytes.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 1, 0, 7]);
    std::fs::write(&seg, &bytes).unwrap();
    let out = stdout(&inspect(&["dump", seg.to_str().unwrap()]));
    assert!(out.contains("CRC bad (stored"), "{out}");
    assert!(out.contains(&format!("torn tail at position {n}")), "{out}");
    let out = stdout(&inspect(&["topics", dir.path().to_str().unwrap()]));
    assert!(out.contains("damaged at byte 0: CRC-32C mismatch"), "{out}");
}

#[test]
fn dump_index_lists_entries() {
    let dir = tempfile::tempdir().unwrap();
    data_dir(dir.path());
    let ix = dir
        .path()
        .join("orders-0")
        .join("00000000000000000000.index");
    let out = stdout(&inspect(&["dump", ix.to_str().unwrap()]));
    assert!(out.contains("base offset 0"), "{out}");
    assert!(
        out.contains("relative offset 2 (offset 2) -> position"),
        "{out}"
    );
}

#[test]
fn bad_paths_fail_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    for args in [
        vec!["topics", missing.to_str().unwrap()],
        vec!["dump", missing.to_str().unwrap()],
    ] {
        let o = inspect(&args);
        assert!(!o.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("cannot read") && err.contains("nope"), "{err}");
    }
    let other = dir.path().join("notes.txt");
    std::fs::write(&other, "hi").unwrap();
    let o = inspect(&["dump", other.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a segment file"));
    let o = inspect(&["topics", other.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a directory"));
    // A directory that is not a data dir.
    let o = inspect(&["topics", dir.path().to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a minikafka data directory"));
    // No arguments: clap's usage error.
    assert!(!inspect(&["dump"]).status.success());
}
