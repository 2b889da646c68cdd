//! Log compaction end to end: a compacted topic written and read by kcat (librdkafka
//! 2.0.2) and confluent-kafka, cleaned by the broker's own cleaner timer;
//! `__consumer_offsets` compacted and replayed after a restart; and the real broker
//! binary killed in the middle of a cleaning pass (`MINIKAFKA_FAILPOINT`, see
//! `log/cleaner/swap.rs`), then restarted: the old segments or the new one, never a mix.

// Tests may unwrap; clippy's allow-unwrap-in-tests (.clippy.toml) covers #[test] fns only.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use kafka_protocol::messages::ApiKey;
use minikafka_broker::events::EventKind;
use minikafka_testkit::compaction::after_cleaning;
use minikafka_testkit::external::{kcat, python, python_script, run};
use minikafka_testkit::groups::{commit_errors, commit_req, fetch_req, fetched};
use minikafka_testkit::wire::{self, Client};
use minikafka_testkit::{TestBroker, WAIT};
use tokio::process::Command;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Waits until the broker recorded a cleaning pass that swapped segments of
/// `partition`, and whose text holds `detail`.
async fn wait_for_clean(broker: &TestBroker, partition: &str, detail: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let cleaned = broker
            .handle()
            .expect("running")
            .snapshot()
            .events
            .iter()
            .any(|e| {
                e.kind == EventKind::SegmentCleaned
                    && e.text.contains(&format!("{partition}:"))
                    && e.text.contains(detail)
            });
        if cleaned {
            return;
        }
        assert!(Instant::now() < deadline, "no cleaning pass of {partition}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `(offset, key, value)` of a whole partition, read with the wire kit.
async fn read_all(client: &mut Client, topic: &str) -> Vec<(i64, Option<String>, String)> {
    let mut out = Vec::new();
    let mut next = 0;
    loop {
        let p = client.fetch(topic, 0, next, 0, 1).await;
        assert_eq!(p.error_code, 0);
        let records = wire::decode_records(p.records.unwrap_or_default());
        let Some(last) = records.last() else {
            return out;
        };
        next = last.0 + 1;
        out.extend(records);
        if next >= p.high_watermark {
            return out;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcat_and_confluent_kafka_read_the_latest_value_per_key_at_its_offset() {
    let Some(kcat) = kcat() else { return };
    let broker = TestBroker::builder()
        .config(|c| c.log_cleaner_backoff = Duration::from_millis(100))
        .start()
        .await
        .expect("broker starts");
    let bootstrap = broker.bootstrap();
    let mut client = Client::connect(broker.addr()).await;
    let code = client
        .create_topic_with(
            "profiles",
            1,
            &[
                ("cleanup.policy", "compact"),
                ("segment.ms", "50"),
                ("min.cleanable.dirty.ratio", "0.01"),
            ],
        )
        .await;
    assert_eq!(code, 0);

    // Four rounds of updates, each a kcat run of its own (and so a segment of its own:
    // segment.ms is 50 ms); round 3 deletes user_0 with a tombstone (-Z: an empty value
    // is sent as NULL) and updates user_1 twice, so that the cleaner removes a record
    // from inside that round's batch. Offsets are dense as produced.
    let mut produced: Vec<(i64, String, Option<String>)> = Vec::new();
    for round in 0..4 {
        let mut lines: Vec<(String, Option<String>)> = (0..5)
            .map(|u| {
                let value =
                    (round != 3 || u != 0).then(|| format!("{{\"user\":{u},\"version\":{round}}}"));
                (format!("user_{u}"), value)
            })
            .collect();
        if round == 3 {
            lines.push(("user_1".into(), Some("{\"user\":1,\"version\":4}".into())));
        }
        let input: String = lines
            .iter()
            .map(|(k, v)| format!("{k}\t{}\n", v.as_deref().unwrap_or("")))
            .collect();
        let path = broker.data_dir().join(format!("round{round}.txt"));
        std::fs::write(&path, input).unwrap();
        run(Command::new(&kcat)
            .args(["-b", &bootstrap, "-t", "profiles", "-P", "-K\t", "-Z", "-l"])
            // One batch per round (what `inspect dump` is checked against below).
            .args(["-X", "queue.buffering.max.ms=200"])
            .arg(&path))
        .await;
        for (k, v) in lines {
            produced.push((produced.len() as i64, k, v));
        }
        tokio::time::sleep(Duration::from_millis(80)).await;
    }
    // Round 3's segment is active until something more arrives.
    run(Command::new(&kcat)
        .args(["-b", &bootstrap, "-t", "profiles", "-P", "-K\t", "-l"])
        .arg({
            let p = broker.data_dir().join("last.txt");
            std::fs::write(&p, "user_9\tlast\n").unwrap();
            p
        }))
    .await;
    let sealed = produced.len() as i64;
    produced.push((sealed, "user_9".into(), Some("last".into())));
    wait_for_clean(
        &broker,
        "profiles-0",
        &format!("offsets below {sealed} cleaned"),
    )
    .await;

    // What must be left: rounds 0–3 compacted (the latest per key, the tombstone kept:
    // delete.retention.ms is a day), then the active segment's record.
    let expected = after_cleaning(&produced, sealed, false);
    assert!(expected.len() < produced.len());
    assert!(expected.iter().any(|r| r.1 == "user_0" && r.2.is_none()));

    // kcat: offset, key, length (-1 for a NULL value), value.
    let out = run(Command::new(&kcat)
        .args([
            "-b",
            &bootstrap,
            "-t",
            "profiles",
            "-C",
            "-e",
            "-o",
            "beginning",
        ])
        .args(["-f", "%o\t%k\t%S\t%s\n"]))
    .await;
    let got: Vec<(i64, String, Option<String>)> = out
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.splitn(4, '\t').collect();
            let value = (f[2] != "-1").then(|| f[3].to_string());
            (f[0].parse().unwrap(), f[1].to_string(), value)
        })
        .collect();
    assert_eq!(got, expected, "kcat read:\n{out}");

    // `inspect dump` of the cleaned segment shows the gaps and the tombstone's horizon.
    let segment = broker
        .data_dir()
        .join("profiles-0/00000000000000000000.log");
    let dump = run(Command::new(env!("CARGO_BIN_EXE_minikafka-broker"))
        .args(["inspect", "dump"])
        .arg(&segment))
    .await;
    // Rounds 0–2 went whole; round 3 (offsets 15–20) lost user_1's first update.
    assert!(!dump.contains("batch offsets 0 "), "{dump}");
    assert!(
        dump.contains("compacted: 1 of its offsets removed"),
        "{dump}"
    );
    assert!(dump.contains("delete horizon"), "{dump}");
    // `inspect topics` marks the cleaned segment and the checkpoint.
    let topics = run(Command::new(env!("CARGO_BIN_EXE_minikafka-broker"))
        .args(["inspect", "topics"])
        .arg(broker.data_dir()))
    .await;
    assert!(
        topics.contains(&format!("compacted below offset {sealed}")),
        "{topics}"
    );
    assert!(topics.contains("(cleaned)"), "{topics}");

    // confluent-kafka (librdkafka 2.x) reads the same.
    if let Some(python) = python() {
        let out = run(Command::new(&python)
            .arg(python_script("confluent_kafka_read_all.py"))
            .args([&bootstrap, "profiles"]))
        .await;
        let got: Vec<(i64, String, Option<String>)> = out
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    v["offset"].as_i64().unwrap(),
                    v["key"].as_str().unwrap().to_string(),
                    v["value"].as_str().map(str::to_string),
                )
            })
            .collect();
        assert_eq!(got, expected, "confluent-kafka read:\n{out}");
    }
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_offsets_is_compacted_and_a_restart_replays_the_latest_commits() {
    let mut broker = TestBroker::builder()
        .config(|c| {
            c.log_cleaner_backoff = Duration::from_millis(50);
            c.offsets_topic_segment_bytes = 600;
        })
        .start()
        .await
        .expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    client
        .create_topic(minikafka_testkit::groups::TOPIC, 2)
        .await;
    let commits = 60;
    for i in 0..commits {
        let req = commit_req("ledger", "", -1, &[(0, i, "p0"), (1, 1000 + i, "p1")]);
        let resp = client.call(ApiKey::OffsetCommit, 8, &req).await;
        assert_eq!(commit_errors(&resp), vec![(0, 0), (1, 0)]);
    }
    wait_for_clean(&broker, "__consumer_offsets-0", "").await;
    // Read the files while the broker is down (a pass may be swapping them otherwise).
    broker.pause().await;
    let stored: i32 =
        minikafka_testkit::disk::stored_batches(broker.data_dir(), "__consumer_offsets", 0)
            .iter()
            .map(|b| b.1)
            .sum();
    // A pass that swapped segments of two keys' commits removed some (how many depends
    // on when it ran: commits that came after it are still all there).
    assert!(
        stored < 2 * commits as i32,
        "{stored} records of {} commits are left",
        2 * commits
    );

    broker.resume().await.expect("starts again");
    let mut client = Client::connect(broker.addr()).await;
    let resp = client
        .call(ApiKey::OffsetFetch, 7, &fetch_req("ledger", None))
        .await;
    let topic = minikafka_testkit::groups::TOPIC.to_string();
    assert_eq!(
        fetched(&resp),
        BTreeMap::from([
            ((topic.clone(), 0), (commits - 1, "p0".to_string())),
            ((topic, 1), (1000 + commits - 1, "p1".to_string())),
        ])
    );
    broker.stop().await;
}

/// The broker binary, started on `data_dir` with `env` set; returns once it listens.
fn start_binary(data_dir: &Path, env: &[(&str, &str)], args: &[&str]) -> (Child, String) {
    let mut child = StdCommand::new(env!("CARGO_BIN_EXE_minikafka-broker"))
        .args(["--listen", "127.0.0.1:0", "--quiet", "--data-dir"])
        .arg(data_dir)
        .args(args)
        .envs(env.iter().copied())
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run minikafka-broker");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("the broker printed its address")
            .unwrap();
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    // Keep draining its output so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}

fn leftovers(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_in_the_middle_of_a_cleaning_pass_leaves_the_old_segments_or_the_new_one() {
    for failpoint in [
        "cleaner-before-commit",
        "cleaner-after-commit",
        "cleaner-after-delete",
    ] {
        let data = tempfile::tempdir().unwrap();
        let (mut child, addr) = start_binary(
            data.path(),
            &[("MINIKAFKA_FAILPOINT", failpoint)],
            &["--log-cleaner-backoff-ms", "100"],
        );
        let mut client = Client::connect(addr.parse().unwrap()).await;
        // Written as an ordinary topic (one segment per record: segment.ms is 1 ms),
        // then made compacted: the next cleaner tick starts the pass.
        let code = client
            .create_topic_with("ledger", 1, &[("segment.ms", "1")])
            .await;
        assert_eq!(code, 0);
        let ts = now_ms();
        let mut produced = Vec::new();
        for i in 0..12 {
            let key = format!("account-{}", i % 3);
            let value = format!("balance {i}");
            tokio::time::sleep(Duration::from_millis(5)).await;
            let p = client
                .produce("ledger", 0, wire::batch(&[(Some(&key), &value)], ts))
                .await;
            assert_eq!(p.error_code, 0);
            produced.push((p.base_offset, Some(key), value));
        }
        let before = read_all(&mut client, "ledger").await;
        assert_eq!(before, produced);
        let code = client
            .alter_topic_config("ledger", "cleanup.policy", "compact")
            .await;
        assert_eq!(code, 0);

        // The pass starts after 2 s and aborts the process at the failpoint.
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "{failpoint} was never reached");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(!status.success(), "{failpoint}: it aborted");
        let dir = data.path().join("ledger-0");
        let files = leftovers(&dir);
        let has = |suffix: &str| files.iter().any(|f| f.ends_with(suffix));
        let logs = files.iter().filter(|f| f.ends_with(".log")).count();
        match failpoint {
            "cleaner-before-commit" => assert!(has(".log.cleaned") && !has(".swap") && logs == 12),
            "cleaner-after-commit" => assert!(has(".log.swap") && logs == 12, "{files:?}"),
            _ => assert!(has(".log.swap") && logs == 1, "{files:?}"),
        }

        // Restarted without the failpoint (and no cleaning meanwhile): the old segments,
        // or the new one, whole.
        let (mut child, addr) =
            start_binary(data.path(), &[], &["--log-cleaner-backoff-ms", "600000"]);
        let mut client = Client::connect(addr.parse().unwrap()).await;
        let after = read_all(&mut client, "ledger").await;
        let expected = if failpoint == "cleaner-before-commit" {
            produced.clone()
        } else {
            // Offsets 0–10 were sealed; the last balance of each account is 9, 10, 11
            // (11 is in the active segment, so 8, for account-2, stays as well).
            produced
                .iter()
                .filter(|(o, _, _)| [8, 9, 10, 11].contains(o))
                .cloned()
                .collect()
        };
        assert_eq!(after, expected, "{failpoint}");
        let files = leftovers(&dir);
        assert!(
            !files
                .iter()
                .any(|f| f.ends_with(".swap") || f.ends_with(".cleaned")),
            "{failpoint}: {files:?}"
        );
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
