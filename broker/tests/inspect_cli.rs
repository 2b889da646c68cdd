//! Black-box tests of `minikafka-broker inspect`: the real binary on a real data dir
//! written through the library or by a real broker with real clients, checking what a
//! learner would read (text) and what a script would parse (`--json`).
// Tests may unwrap; clippy's allow-unwrap-in-tests (.clippy.toml) covers #[test] fns only.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use bytes::Bytes;
use minikafka_broker::config::LogConfig;
use minikafka_broker::group::offset_record::{
    encode_key, encode_value, CommittedOffset, OffsetKey,
};
use minikafka_broker::log::record::{build, NewRecord};
use minikafka_broker::log::record_batch::Compression;
use minikafka_broker::topics::Topics;
use minikafka_client::{Admin, Backend, Consumer, ConsumerEvent, Producer, ProducerRecord};
use minikafka_testkit::{client_config, member_config, producer_config, within, TestBroker};

fn inspect(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_minikafka-broker"))
        .arg("inspect")
        .args(args)
        .output()
        .expect("run minikafka-broker")
}

/// `inspect …` from inside a tokio test, without blocking the runtime's clients.
async fn inspect_async(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(ToString::to_string).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        inspect(&args)
    })
    .await
    .unwrap()
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_str(&stdout(o)).unwrap()
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
        let b = build(
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
        p.append(&b).unwrap();
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
        out.contains("partition 1: log start 0, log end 0, 1 segment ("),
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
    // base offset, bytes, batches, records, index entries, time entries, max timestamp:
    // a closed segment has a time index (its last entry: the largest timestamp).
    assert!(first[5].parse::<usize>().unwrap() >= 1, "{out}");
    assert!(rows[0].contains("T"), "the max timestamp as a date: {out}");
    // `dump` reads a `.timeindex` too.
    let ti = dir
        .path()
        .join("orders-0")
        .join("00000000000000000000.timeindex");
    let out = stdout(&inspect(&["dump", ti.to_str().unwrap()]));
    assert!(
        out.starts_with("time index 00000000000000000000.timeindex: base offset 0"),
        "{out}"
    );
    assert!(out.contains("-> relative offset"), "{out}");
    let j = json(&inspect(&["dump", "--json", ti.to_str().unwrap()]));
    assert_eq!(j["kind"], "time_index");
    assert!(!j["entries"].as_array().unwrap().is_empty(), "{j}");
}

#[test]
fn dump_log_shows_batches_and_records() {
    let dir = tempfile::tempdir().unwrap();
    data_dir(dir.path());
    let seg = dir.path().join("orders-0").join("00000000000000000000.log");
    let out = stdout(&inspect(&["dump", seg.to_str().unwrap()]));
    assert!(out.contains("batch offsets 0 to 1 position 0"), "{out}");
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
fn a_reader_that_goes_away_ends_inspect_quietly() {
    // `inspect dump --hex … | head -1`: the pipe closes before (most of) the output is
    // written; inspect stops without an error, as `cat` would.
    let dir = tempfile::tempdir().unwrap();
    data_dir(dir.path());
    let seg = dir.path().join("orders-0").join("00000000000000000000.log");
    for json in [false, true] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_minikafka-broker"));
        cmd.args(["inspect", "dump", "--hex"]);
        if json {
            cmd.arg("--json");
        }
        let mut child = cmd
            .arg(&seg)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // the reader is gone
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "json {json}: {}: {stderr}",
            out.status
        );
        assert!(stderr.is_empty(), "json {json}: {stderr}");
    }
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

/// The rows of the `kafka-consumer-groups`-style tables: every line after a header
/// line starting with `GROUP`, split on whitespace.
fn table_rows(out: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut in_table = false;
    for line in out.lines() {
        if line.starts_with("GROUP") {
            in_table = true;
        } else if line.trim().is_empty() || line.starts_with("Consumer group") {
            in_table = false;
        } else if in_table {
            rows.push(line.split_whitespace().map(str::to_string).collect());
        }
    }
    rows
}

/// A real broker with topic `orders` (2 partitions): 10 records in partition 0 and 4 in
/// partition 1, all consumed and committed by group `g`, then 3 more in partition 0.
/// Returns the consumer, still a live member of `g`.
async fn broker_with_a_group() -> (TestBroker, Consumer, Producer) {
    let broker = TestBroker::start().await.unwrap();
    Admin::new(client_config(&broker.bootstrap(), Backend::Native))
        .await
        .unwrap()
        .create_topic("orders", 2)
        .await
        .unwrap();
    let producer = Producer::new(producer_config(&broker.bootstrap(), Backend::Native))
        .await
        .unwrap();
    let send = |p: i32, n: usize| {
        let producer = &producer;
        async move {
            for i in 0..n {
                producer
                    .send(
                        ProducerRecord::new("orders")
                            .partition(p)
                            .value(format!("v{i}")),
                    )
                    .await
                    .unwrap();
            }
        }
    };
    send(0, 10).await;
    send(1, 4).await;
    let mut config = member_config(&broker.bootstrap(), Backend::Native, "g");
    config.enable_auto_commit = false;
    let mut consumer = Consumer::new(config).await.unwrap();
    consumer.subscribe(&["orders"]).await.unwrap();
    within("consuming 14 records", async {
        let mut got = 0;
        while got < 14 {
            if let ConsumerEvent::Record(_) = consumer.recv().await.unwrap() {
                got += 1;
            }
        }
    })
    .await;
    within("commit", consumer.commit()).await.unwrap();
    send(0, 3).await;
    (broker, consumer, producer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_from_files_show_committed_offsets_and_lag() {
    let (broker, mut consumer, producer) = broker_with_a_group().await;
    within("close", consumer.close()).await.unwrap();
    producer.close().await;
    let dir = broker.stop().await;
    let path = dir.path().to_str().unwrap();

    let out = stdout(&inspect_async(&["groups", path]).await);
    assert!(out.contains("Consumer group 'g'"), "{out}");
    let rows = table_rows(&out);
    assert_eq!(
        rows,
        vec![
            vec!["g", "orders", "0", "10", "13", "3", "-", "-", "-"],
            vec!["g", "orders", "1", "4", "4", "0", "-", "-", "-"],
        ],
        "{out}"
    );
    assert!(!out.contains("broker is running"), "{out}");

    let j = json(&inspect_async(&["groups", path, "--json"]).await);
    assert_eq!(j["groups"][0]["group"], "g");
    let p0 = &j["groups"][0]["partitions"][0];
    assert_eq!(
        (
            &p0["topic"],
            &p0["current_offset"],
            &p0["log_end_offset"],
            &p0["lag"]
        ),
        (&"orders".into(), &10.into(), &13.into(), &3.into())
    );
    assert!(p0["commit_timestamp"].as_i64().unwrap() > 0);

    // The commit records themselves, decoded with the offset store's codec.
    let seg = dir
        .path()
        .join("__consumer_offsets-0")
        .join("00000000000000000000.log");
    let out = stdout(&inspect_async(&["dump", seg.to_str().unwrap()]).await);
    assert!(
        out.contains("commit group \"g\" topic \"orders\" partition 0 offset 10 leader epoch"),
        "{out}"
    );
    assert!(
        out.contains("commit group \"g\" topic \"orders\" partition 1 offset 4 "),
        "{out}"
    );
    let j = json(&inspect_async(&["dump", seg.to_str().unwrap(), "--json"]).await);
    assert_eq!(j["kind"], "log");
    let commits: Vec<&serde_json::Value> = j["batches"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["records"].as_array().unwrap())
        .map(|r| &r["commit"])
        .collect();
    assert!(commits
        .iter()
        .any(|c| c["group"] == "g" && c["partition"] == 0 && c["offset"] == 10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_via_bootstrap_server_show_the_live_member() {
    let (broker, mut consumer, producer) = broker_with_a_group().await;
    let addr = broker.bootstrap();

    let out = stdout(&inspect_async(&["groups", "--bootstrap-server", &addr]).await);
    assert!(
        out.contains("Consumer group 'g': state Stable, 1 members"),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.split_whitespace().collect::<Vec<_>>()
            == [
                "GROUP",
                "TOPIC",
                "PARTITION",
                "CURRENT-OFFSET",
                "LOG-END-OFFSET",
                "LAG",
                "CONSUMER-ID",
                "HOST",
                "CLIENT-ID"
            ]),
        "{out}"
    );
    let rows = table_rows(&out);
    assert_eq!(rows.len(), 2, "{out}");
    assert_eq!(rows[0][..6], ["g", "orders", "0", "10", "13", "3"], "{out}");
    assert_eq!(rows[1][..6], ["g", "orders", "1", "4", "4", "0"], "{out}");
    // Both partitions are assigned to the one live member.
    assert_ne!(rows[0][6], "-", "{out}");
    assert_eq!(rows[0][6..], rows[1][6..], "{out}");
    assert!(rows[0][7].contains("127.0.0.1"), "{out}");

    let j = json(&inspect_async(&["groups", "--bootstrap-server", &addr, "--json"]).await);
    let g = &j["groups"][0];
    assert_eq!(g["state"], "Stable");
    let member = &g["members"][0];
    assert_eq!(member["consumer_id"], rows[0][6].as_str());
    assert_eq!(
        member["assignment"],
        serde_json::json!([{"topic": "orders", "partitions": [0, 1]}]),
        "{j}"
    );
    assert_eq!(g["partitions"][0]["lag"], 3);

    // Running-broker detection on the data dir it is serving.
    let path = broker.data_dir().to_str().unwrap().to_string();
    for cmd in ["topics", "groups"] {
        let out = stdout(&inspect_async(&[cmd, &path]).await);
        assert!(
            out.contains("the broker is running on this data dir (")
                && out.contains(&format!("is locked by pid {}", std::process::id())),
            "{out}"
        );
        assert!(!out.contains("recovery runs on open"), "{out}");
    }
    let j = json(&inspect_async(&["topics", &path, "--json"]).await);
    assert_eq!(j["broker_running"]["pid"], std::process::id(), "{j}");
    assert!(j["broker_running"]["lock_file"]
        .as_str()
        .unwrap()
        .ends_with(".lock"));
    // `dump` of a file the broker is writing says so too.
    let seg = broker
        .data_dir()
        .join("__consumer_offsets-0")
        .join("00000000000000000000.log");
    let seg = seg.to_str().unwrap();
    let out = stdout(&inspect_async(&["dump", seg]).await);
    assert!(
        out.contains("the broker is running on this data dir"),
        "{out}"
    );
    let j = json(&inspect_async(&["dump", "--json", seg]).await);
    assert_eq!(j["broker_running"]["pid"], std::process::id(), "{j}");
    // And a second broker on the same data dir is refused.
    let mut config = minikafka_broker::Config {
        data_dir: broker.data_dir().to_path_buf(),
        ..Default::default()
    };
    config.listen("127.0.0.1:0".parse().unwrap());
    let second = minikafka_broker::Broker::start(config).await.unwrap_err();
    assert!(
        second
            .to_string()
            .contains("locked by another running broker"),
        "{second}"
    );

    within("close", consumer.close()).await.unwrap();
    producer.close().await;
    let dir = broker.stop().await;
    // Stopped cleanly: the lock is released and the files say so. (A child process
    // that another test thread is forking can hold a copy of the lock's descriptor for
    // an instant, until its exec closes it: so look again a few times.)
    let path = dir.path().to_str().unwrap().to_string();
    let mut out = String::new();
    for _ in 0..20 {
        out = stdout(&inspect_async(&["topics", &path]).await);
        if !out.contains("broker is running") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(!out.contains("broker is running"), "{out}");
    assert!(out.contains("(clean shutdown)"), "{out}");
}

#[test]
fn groups_fail_clearly_when_the_broker_is_unreachable() {
    // A port nobody listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let o = inspect(&[
        "groups",
        "--bootstrap-server",
        &addr,
        "--timeout-ms",
        "2000",
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("broker {addr}: cannot connect")),
        "{err}"
    );
    // Neither a data dir nor a broker: clap's usage error.
    assert!(!inspect(&["groups"]).status.success());
}

#[test]
fn dump_decodes_a_commit_tombstone() {
    // The broker never deletes a committed offset, so it writes no tombstone; build a
    // `__consumer_offsets` segment holding a commit and a tombstone for the same key.
    let dir = tempfile::tempdir().unwrap();
    let part = dir.path().join("__consumer_offsets-0");
    std::fs::create_dir(&part).unwrap();
    let key = encode_key(&OffsetKey {
        group: "g".into(),
        topic: "orders".into(),
        partition: 1,
    });
    let value = encode_value(&CommittedOffset {
        offset: 7,
        leader_epoch: -1,
        metadata: "note".into(),
        commit_timestamp: 1_700_000_000_000,
    });
    let commit = NewRecord {
        key: Some(key.clone()),
        value: Some(value),
        headers: Vec::new(),
        timestamp: 1_700_000_000_000,
    };
    let tombstone = NewRecord {
        value: None,
        ..commit.clone()
    };
    let batch = build(&[commit, tombstone], 1_700_000_000_000, Compression::None);
    let seg = part.join("00000000000000000000.log");
    std::fs::write(&seg, &batch).unwrap();

    let out = stdout(&inspect(&["dump", seg.to_str().unwrap()]));
    assert!(
        out.contains("offset 0 timestamp 1700000000000 (2023-11-14T22:13:20.000Z) commit group \"g\" topic \"orders\" partition 1 offset 7 leader epoch -1 metadata \"note\" commit timestamp 1700000000000"),
        "{out}"
    );
    assert!(
        out.contains("offset 1 timestamp 1700000000000 (2023-11-14T22:13:20.000Z) tombstone group \"g\" topic \"orders\" partition 1 (the committed offset is deleted)"),
        "{out}"
    );
    let j = json(&inspect(&["dump", seg.to_str().unwrap(), "--json"]));
    let recs = &j["batches"][0]["records"];
    assert_eq!(recs[0]["commit"]["tombstone"], false);
    assert_eq!(recs[0]["commit"]["offset"], 7);
    assert_eq!(recs[1]["commit"]["tombstone"], true);
    assert!(recs[1]["value"].is_null(), "{j}");
}

#[test]
fn dump_hex_labels_every_header_byte() {
    let dir = tempfile::tempdir().unwrap();
    data_dir(dir.path());
    let seg = dir.path().join("orders-0").join("00000000000000000000.log");
    let bytes = std::fs::read(&seg).unwrap();
    let out = stdout(&inspect(&["dump", "--hex", seg.to_str().unwrap()]));
    // One row per field of the first batch, with its bytes from the file.
    let first: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("bytes"))
        .skip(1)
        .take(14)
        .collect();
    let names: Vec<&str> = first
        .iter()
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "baseOffset",
            "batchLength",
            "partitionLeaderEpoch",
            "magic",
            "crc",
            "attributes",
            "lastOffsetDelta",
            "baseTimestamp",
            "maxTimestamp",
            "producerId",
            "producerEpoch",
            "baseSequence",
            "recordCount",
            "records"
        ],
        "{out}"
    );
    let hex = |range: std::ops::Range<usize>| {
        bytes[range]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(
        first[0].starts_with(&format!("    0..8     baseOffset            {}", hex(0..8))),
        "{out}"
    );
    assert!(
        first[4].contains(&hex(17..21)) && first[4].contains("CRC-32C of bytes 21.., ok)"),
        "{out}"
    );
    assert!(
        first[12].trim_end().ends_with("00 00 00 02              2"),
        "{out}"
    );
    assert!(first[13].contains("61.."), "{out}");

    let j = json(&inspect(&[
        "dump",
        "--hex",
        "--json",
        seg.to_str().unwrap(),
    ]));
    let fields = j["batches"][0]["header_bytes"].as_array().unwrap();
    assert_eq!(fields.len(), 13);
    assert_eq!(fields[4]["field"], "crc");
    assert_eq!(
        (fields[4]["start"].as_u64(), fields[4]["end"].as_u64()),
        (Some(17), Some(21))
    );
    assert_eq!(fields[4]["hex"], hex(17..21));
}

#[test]
fn topics_json_parses_back() {
    let dir = tempfile::tempdir().unwrap();
    data_dir(dir.path());
    let j = json(&inspect(&[
        "topics",
        "--json",
        dir.path().to_str().unwrap(),
    ]));
    assert_eq!(j["topics"][0]["name"], "orders");
    assert_eq!(j["topics"][0]["config"]["retention.ms"], "-1");
    let p0 = &j["topics"][0]["partition_logs"][0];
    assert_eq!(
        (&p0["log_start_offset"], &p0["log_end_offset"]),
        (&0.into(), &12.into())
    );
    assert_eq!(p0["clean_shutdown"], true);
    assert!(p0["segments"].as_array().unwrap().len() >= 2);
    assert!(j["broker_running"].is_null());
    let ix = dir
        .path()
        .join("orders-0")
        .join("00000000000000000000.index");
    let j = json(&inspect(&["dump", "--json", ix.to_str().unwrap()]));
    assert_eq!(j["kind"], "index");
    assert!(j["broker_running"].is_null(), "{j}");
    assert!(!j["entries"].as_array().unwrap().is_empty());
    let seg = dir.path().join("orders-0").join("00000000000000000000.log");
    let j = json(&inspect(&["dump", "--json", seg.to_str().unwrap()]));
    let recs = &j["batches"][0]["records"];
    assert_eq!(recs[0]["key"], serde_json::json!({"text": "user-0"}));
    assert_eq!(recs[1]["value"], serde_json::json!({"hex": "ff0010"}));
    assert_eq!(recs[0]["headers"][0]["key"], "trace");
    assert_eq!(j["batches"][0]["crc_ok"], true);
}

/// A real broker and the native client's transactional producer: a committed
/// transaction (offsets 0 and 1, its COMMIT marker at 2), an aborted one (3, its ABORT
/// marker at 4) and one left open (5) when the broker stops. Returns the data dir.
async fn transactions_on_disk() -> tempfile::TempDir {
    let broker = TestBroker::start().await.unwrap();
    let admin = Admin::new(client_config(&broker.bootstrap(), Backend::Native))
        .await
        .unwrap();
    admin
        .create_topics(&[minikafka_client::NewTopic::new("tx", 1)])
        .await
        .unwrap();
    let mut config = producer_config(&broker.bootstrap(), Backend::Native);
    config.set("transactional.id", "inspect-tx").unwrap();
    let p = Producer::new(config).await.unwrap();
    within("init_transactions", p.init_transactions())
        .await
        .unwrap();
    let send = |v: &str| ProducerRecord::new("tx").partition(0).value(v.to_string());
    p.begin_transaction().await.unwrap();
    p.send(send("c0")).await.unwrap();
    p.send(send("c1")).await.unwrap();
    p.commit_transaction().await.unwrap();
    p.begin_transaction().await.unwrap();
    p.send(send("a0")).await.unwrap();
    p.abort_transaction().await.unwrap();
    p.begin_transaction().await.unwrap();
    p.send(send("open")).await.unwrap();
    // Stopped with the transaction open: the clean stop's producer snapshot holds it.
    broker.stop().await
}

#[tokio::test]
async fn dump_names_markers_and_shows_the_txnindex_and_the_producer_snapshot() {
    let dir = transactions_on_disk().await;
    let part = dir.path().join("tx-0");
    let seg = part.join("00000000000000000000.log");
    let seg = seg.to_str().unwrap();

    // The log: data batches flagged transactional, markers named with their fields.
    let j = json(&inspect_async(&["dump", "--json", seg]).await);
    let batches = j["batches"].as_array().unwrap();
    let at = |offset: i64| {
        batches
            .iter()
            .find(|b| b["base_offset"] == offset)
            .unwrap_or_else(|| panic!("no batch at {offset}: {j}"))
    };
    let pid = at(0)["producer_id"].as_i64().unwrap();
    assert!(pid >= 0, "{j}");
    assert_eq!(
        (at(0)["transactional"].as_bool(), at(0)["control"].as_bool()),
        (Some(true), Some(false))
    );
    assert!(at(0)["marker"].is_null(), "{j}");
    for (offset, name) in [(2, "COMMIT"), (4, "ABORT")] {
        let m = at(offset);
        assert_eq!(
            (m["transactional"].as_bool(), m["control"].as_bool()),
            (Some(true), Some(true)),
            "{m}"
        );
        assert_eq!(m["marker"]["marker"], name, "{m}");
        assert_eq!(m["producer_id"], pid);
        assert_eq!(m["base_sequence"], -1);
    }
    let text = stdout(&inspect_async(&["dump", "--hex", seg]).await);
    assert!(
        text.contains(&format!(
            "COMMIT marker: ends producer {pid}'s transaction (epoch 0) in this partition"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("ABORT marker: ends producer {pid}'s transaction")),
        "{text}"
    );
    assert!(
        text.contains("0x0030 (compression none, transactional, control)"),
        "{text}"
    );
    assert!(text.contains("-1 (a marker carries no sequence)"), "{text}");
    // The marker's record, byte by byte: key type 1 then 0, the coordinator epoch.
    let row = |field: &str| -> Vec<String> {
        text.lines()
            .filter(|l| {
                l.trim_start()
                    .split("  ")
                    .nth(1)
                    .is_some_and(|f| f.trim() == field)
                    || l.contains(&format!(" {field} "))
            })
            .map(str::to_string)
            .collect()
    };
    let types = row("key: type");
    assert_eq!(types.len(), 2, "{text}");
    assert!(
        types[0].contains("00 01") && types[0].ends_with("1 (COMMIT)"),
        "{text}"
    );
    assert!(
        types[1].contains("00 00") && types[1].ends_with("0 (ABORT)"),
        "{text}"
    );
    let epochs = row("value: coordinatorEpoch");
    assert_eq!(epochs.len(), 2, "{text}");
    // The marker record's rows cover the bytes after the header to the batch's end.
    let j = json(&inspect_async(&["dump", "--hex", "--json", seg]).await);
    let commit = j["batches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["base_offset"] == 2)
        .unwrap();
    let fields = commit["marker_bytes"].as_array().unwrap();
    assert_eq!(fields[0]["start"], 61, "{commit}");
    assert_eq!(fields.last().unwrap()["end"], commit["size"], "{commit}");
    for w in fields.windows(2) {
        assert_eq!(w[0]["end"], w[1]["start"], "{commit}");
    }

    // The aborted-transaction index: one entry, offsets 3 to the marker at 4.
    let ix = part.join("00000000000000000000.txnindex");
    let ix = ix.to_str().unwrap();
    let j = json(&inspect_async(&["dump", "--json", ix]).await);
    assert_eq!(j["kind"], "txn_index");
    assert_eq!(j["bytes"], 34);
    let e = &j["entries"][0];
    assert_eq!(
        (
            e["producer_id"].as_i64(),
            e["first_offset"].as_i64(),
            e["last_offset"].as_i64(),
            e["last_stable_offset"].as_i64(),
            e["version"].as_i64()
        ),
        (Some(pid), Some(3), Some(4), Some(5), Some(0)),
        "{j}"
    );
    let text = stdout(&inspect_async(&["dump", "--hex", ix]).await);
    assert!(
        text.contains(&format!(
            "producer id {pid}: aborted transaction from offset 3 to its ABORT marker at 4, last stable offset 5"
        )),
        "{text}"
    );
    let bytes = std::fs::read(ix).unwrap();
    let hex8 = |at: usize| {
        bytes[at..at + 8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let first = text
        .lines()
        .find(|l| l.trim_start().starts_with("10..18   first_offset"))
        .unwrap_or_else(|| panic!("no first_offset row:\n{text}"));
    assert!(
        first.contains(&hex8(10)) && first.ends_with("  3"),
        "{text}"
    );
    assert!(text.contains("    0..2     version "), "{text}");

    // The producer snapshot of the clean stop (named after the log end, 6): the open
    // transaction from offset 5.
    let snap = part.join("00000000000000000006.snapshot");
    let snap = snap.to_str().unwrap();
    let j = json(&inspect_async(&["dump", "--json", snap]).await);
    assert_eq!(j["kind"], "producer_snapshot", "{j}");
    assert!(j["invalid"].is_null(), "{j}");
    let p = &j["producers"][0];
    assert_eq!(p["producer_id"], pid);
    assert_eq!(p["current_txn_first_offset"], 5);
    assert_eq!(p["last_batch_last_offset"], 5);
    let text = stdout(&inspect_async(&["dump", snap]).await);
    assert!(
        text.contains("open transaction from offset 5 (the last stable offset stops there)"),
        "{text}"
    );
    // A damaged snapshot is reported, as the broker would ignore it.
    let mut bad = std::fs::read(snap).unwrap();
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    let copy = dir.path().join("00000000000000000006.snapshot");
    std::fs::write(&copy, &bad).unwrap();
    let text = stdout(&inspect_async(&["dump", copy.to_str().unwrap()]).await);
    assert!(
        text.contains("not a valid snapshot (the CRC-32C does not match)"),
        "{text}"
    );

    // __transaction_state: each step of the id's state, decoded.
    let states = dir
        .path()
        .join("__transaction_state-0/00000000000000000000.log");
    let text = stdout(&inspect_async(&["dump", states.to_str().unwrap()]).await);
    let seen: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split(" state ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .collect();
    assert_eq!(
        seen,
        [
            "Empty",
            "Ongoing",
            "PrepareCommit",
            "CompleteCommit",
            "Ongoing",
            "PrepareAbort",
            "CompleteAbort",
            "Ongoing"
        ],
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "transactional id \"inspect-tx\" state Ongoing producer id {pid} epoch 0 timeout 60000 ms partitions [tx-0] started "
        )),
        "{text}"
    );
}
