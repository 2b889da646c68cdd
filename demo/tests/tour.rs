//! The tour (`cargo run --release -p minikafka-demo --bin tour`) end to end: the real
//! binary, its output piped, checked for what each chapter must show.
//!
//! What is checked:
//! - the whole tour exits 0 and prints every chapter heading and the dashboard URL;
//! - chapter 1: each key's acknowledged partition is the client crate's murmur2 choice;
//! - chapter 4: the killed member's partitions move only after the session timeout,
//!   with a rebalance, and its uncommitted record is delivered again;
//! - chapter 6: the offsets before and after the broker restart are the same;
//! - chapter 7: retention moved the log start offset;
//! - chapter 8: after a cleaning pass, a reader from the earliest offset gets the latest
//!   value of each key at the offset it was produced at (the tombstone too), and after
//!   the second pass, past the delete horizon, no tombstone;
//! - chapter 9: while the transaction is open the LSO is its first offset and a
//!   read_committed reader gets nothing; the COMMIT and ABORT markers are shown as bytes,
//!   the `.txnindex` entry spans the aborted records; at the end, read_uncommitted got
//!   every record produced, read_committed all but the aborted ones, and neither a marker;
//! - `--chapter N` runs that chapter alone; `--keep-data DIR` leaves a data dir that
//!   `minikafka-broker inspect topics|groups` reads;
//! - piped output holds no ANSI escape sequence.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use minikafka_client::partitioner::partition_for_key;

/// Runs the tour with `args`; its exit status and stdout (a failure status also shows its
/// stderr). Fails after two minutes.
fn tour(args: &[&str]) -> (ExitStatus, String) {
    run(Path::new(env!("CARGO_BIN_EXE_tour")), args)
}

fn run(program: &Path, args: &[&str]) -> (ExitStatus, String) {
    let (status, stdout, stderr) = run_full(program, args);
    if status.success() {
        (status, stdout)
    } else {
        (status, format!("{stdout}\n--- stderr ---\n{stderr}"))
    }
}

/// Runs `program`: its exit status, stdout and stderr.
fn run_full(program: &Path, args: &[&str]) -> (ExitStatus, String, String) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("NO_COLOR")
        .spawn()
        .expect("the binary starts");
    let read_all = |mut from: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            from.read_to_string(&mut text).expect("utf-8 output");
            text
        })
    };
    let stdout = read_all(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = read_all(Box::new(child.stderr.take().expect("piped stderr")));
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "{} {args:?} did not finish within 2 minutes",
                program.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = stdout.join().expect("the stdout reader");
    let errors = stderr.join().expect("the stderr reader");
    assert!(
        !text.contains('\x1b'),
        "piped output must hold no escape sequence:\n{text}"
    );
    (status, text, errors)
}

/// The part of `out` from the heading of chapter `n` to the next heading.
fn chapter(out: &str, n: usize) -> &str {
    let start = out
        .find(&format!("== Chapter {n} of 9:"))
        .unwrap_or_else(|| panic!("no chapter {n} in:\n{out}"));
    let rest = &out[start..];
    let end = rest[1..].find("== Chapter ").map_or(rest.len(), |e| e + 1);
    &rest[..end]
}

/// The number right after `marker` on the first line that has it.
fn number_after(text: &str, marker: &str) -> f64 {
    let at = text
        .find(marker)
        .unwrap_or_else(|| panic!("no `{marker}` in:\n{text}"));
    let digits: String = text[at + marker.len()..]
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number after `{marker}` in:\n{text}"))
}

#[test]
fn the_whole_tour_shows_every_lesson() {
    let (status, out) = tour(&[]);
    assert!(status.success(), "exit {status}:\n{out}");
    for (n, title) in minikafka_demo::tour::CHAPTERS.iter().enumerate() {
        assert!(
            out.contains(&format!("== Chapter {} of 9: {title} ==", n + 1)),
            "chapter {} heading missing:\n{out}",
            n + 1
        );
    }
    assert!(out.contains("dashboard: http://127.0.0.1:"), "{out}");
    assert!(out.contains("Tour done in"), "{out}");

    // 1. Every delivery report's partition is murmur2's choice for its key.
    let one = chapter(&out, 1);
    let mut reports = 0;
    for line in one.lines() {
        let Some(rest) = line.trim().strip_prefix("demo-topic [") else {
            continue;
        };
        let partition: i32 = rest[..rest.find(']').expect("]")]
            .parse()
            .expect("a partition");
        let key = rest
            .split("key=")
            .nth(1)
            .and_then(|k| k.split_whitespace().next())
            .expect("a key");
        assert_eq!(partition, partition_for_key(key.as_bytes(), 3), "{line}");
        reports += 1;
    }
    assert_eq!(reports, 10, "{one}");
    for key in minikafka_demo::DEMO_KEYS {
        assert!(one.contains(key), "{key} missing from:\n{one}");
    }

    // 2. The files and one batch, labelled.
    let two = chapter(&out, 2);
    for needle in [
        "00000000000000000000.log",
        ".index:",
        "baseOffset",
        "crc",
        "recordCount",
    ] {
        assert!(two.contains(needle), "`{needle}` missing from:\n{two}");
    }

    // 3. Commits decoded from __consumer_offsets.
    let three = chapter(&out, 3);
    assert!(three.contains("__consumer_offsets-0/"), "{three}");
    assert!(
        three.contains("key (group tour-readers, demo-topic [1]) → value: offset 4"),
        "{three}"
    );

    // 4. The kill: nothing moves before the session timeout, then a rebalance.
    let four = chapter(&out, 4);
    assert!(four.contains("killed with SIGKILL"), "{four}");
    assert!(four.contains("consumer-c is still a member"), "{four}");
    let expiry = four
        .lines()
        .find(|l| l.contains("s after the kill: consumer-c's last heartbeat is"))
        .unwrap_or_else(|| panic!("no expiry line in:\n{four}"));
    let seconds = number_after(expiry, "[broker]");
    // The session counts from the last heartbeat, at most one interval before the kill.
    let session = (minikafka_demo::tour::SESSION_TIMEOUT
        - minikafka_demo::tour::HEARTBEAT_INTERVAL)
        .as_secs_f64();
    assert!(
        seconds >= session,
        "moved after {seconds} s < {session} s:\n{four}"
    );
    assert!(
        four.contains("a rebalance after the session timeout"),
        "{four}"
    );
    assert!(four.contains("1 member"), "{four}");
    assert!(four.contains("again: consumer-c had read it"), "{four}");

    // 6. The same offsets before and after the restart.
    let six = chapter(&out, 6);
    let rows: Vec<&str> = six
        .lines()
        .filter(|l| l.contains("log end offset") || l.contains("committed ["))
        .collect();
    assert_eq!(rows.len(), 6, "{six}");
    for row in rows {
        let numbers: Vec<&str> = row.split_whitespace().rev().take(2).collect();
        assert_eq!(numbers[0], numbers[1], "changed over the restart: {row}");
    }
    assert!(six.contains("the same offsets after the restart"), "{six}");

    // 7. Retention moved the log start offset.
    let seven = chapter(&out, 7);
    assert!(seven.contains("rolled"), "{seven}");
    let moved_to = number_after(seven, "log start offset: 0 →");
    assert!(moved_to > 0.0, "{seven}");

    check_compaction(chapter(&out, 8));
    check_transactions(chapter(&out, 9));
}

/// `(offset, key, value)` of the lines of `text` that start with `prefix` and go on
/// `<offset>  key=<key>  value=<value>` (`None` for `null`, whatever follows it).
fn records(text: &str, prefix: &str) -> Vec<(i64, String, Option<String>)> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix(prefix))
        .map(|rest| {
            let (offset, rest) = rest.split_once("  key=").expect("key=");
            let (key, value) = rest.split_once("  value=").expect("value=");
            let value = (!value.starts_with("null")).then(|| value.to_string());
            (offset.parse().expect("an offset"), key.to_string(), value)
        })
        .collect()
}

/// Chapter 8: what the reader got after each pass, against what was produced.
fn check_compaction(eight: &str) {
    let produced = records(eight, "tour-balances [0] @ ");
    assert_eq!(produced.len(), 9, "{eight}");
    let up_to = number_after(eight, "offsets below") as i64;
    let tombstone = produced
        .iter()
        .find(|(_, _, v)| v.is_none())
        .unwrap_or_else(|| panic!("no tombstone produced:\n{eight}"))
        .clone();
    assert!(tombstone.0 < up_to, "the tombstone was cleaned:\n{eight}");
    // The latest record of each key below `up_to`, and everything from it on.
    let expected = |tombstones_gone: bool| -> Vec<_> {
        let latest = |o: i64, k: &str| {
            !produced
                .iter()
                .any(|(later, key, _)| *later > o && *later < up_to && key == k)
        };
        produced
            .iter()
            .filter(|(o, k, v)| *o >= up_to || (latest(*o, k) && !(tombstones_gone && v.is_none())))
            .cloned()
            .collect()
    };
    let (first, second) = eight
        .split_once("past the delete horizon, a second pass")
        .unwrap_or_else(|| panic!("no second pass in:\n{eight}"));
    let read = records(first, "read @ ");
    assert_eq!(read, expected(false), "{eight}");
    assert!(read.contains(&tombstone), "{eight}");
    assert!(read.len() < produced.len(), "nothing was cleaned:\n{eight}");
    assert!(first.contains("merged "), "{eight}");
    assert!(first.contains("delete horizon set"), "{eight}");
    assert!(first.contains("cleaner-checkpoint: "), "{eight}");
    let read = records(second, "read @ ");
    assert_eq!(read, expected(true), "{eight}");
    assert!(second.contains("1 tombstone removed"), "{eight}");
    assert!(!read.iter().any(|(_, k, _)| *k == tombstone.1), "{eight}");
}

#[test]
fn one_chapter_runs_alone() {
    let (status, out) = tour(&["--chapter", "7"]);
    assert!(status.success(), "exit {status}:\n{out}");
    assert!(out.contains("== Chapter 7 of 9: Segments =="), "{out}");
    assert!(!out.contains("== Chapter 1 of 9"), "{out}");
    assert!(out.contains("log start offset: 0 →"), "{out}");
    let (status, out) = tour(&["--chapter", "8"]);
    assert!(status.success(), "exit {status}:\n{out}");
    assert!(!out.contains("== Chapter 7 of 9"), "{out}");
    check_compaction(chapter(&out, 8));
    let (status, out) = tour(&["--chapter", "9"]);
    assert!(status.success(), "exit {status}:\n{out}");
    assert!(!out.contains("== Chapter 8 of 9"), "{out}");
    check_transactions(chapter(&out, 9));
}

/// The offsets of the delivery reports `<topic> [0] @ <offset>  key=…` in `text`.
fn produced(text: &str, topic: &str) -> Vec<i64> {
    let prefix = format!("{topic} [0] @ ");
    text.lines()
        .filter_map(|l| l.trim().strip_prefix(&prefix))
        .map(|rest| {
            rest.split_whitespace()
                .next()
                .and_then(|o| o.parse().ok())
                .expect("an offset")
        })
        .collect()
}

/// The comma-separated offsets after `marker` on its line (up to two spaces).
fn offsets_after(text: &str, marker: &str) -> Vec<i64> {
    let line = text
        .lines()
        .find_map(|l| l.trim().strip_prefix(marker))
        .unwrap_or_else(|| panic!("no `{marker}` in:\n{text}"));
    line.trim_start()
        .split("  ")
        .next()
        .unwrap_or_default()
        .split(", ")
        .map(|o| o.trim().parse().unwrap_or_else(|_| panic!("{line}")))
        .collect()
}

/// Chapter 9: the open transaction holds the LSO, the markers and the aborted index, and
/// what each reader got against what was produced.
fn check_transactions(nine: &str) {
    let all = produced(nine, "tour-transactions");
    assert_eq!(all.len(), 6, "{nine}");
    // The records of the aborted transaction: those sent right after
    // `then abort_transaction():`, up to the next block.
    let (_, after) = nine
        .split_once("then abort_transaction():")
        .unwrap_or_else(|| panic!("no aborted transaction in:\n{nine}"));
    let aborted = produced(
        after.split("\n\n").next().unwrap_or_default(),
        "tour-transactions",
    );
    assert_eq!(aborted.len(), 2, "{nine}");
    let committed: Vec<i64> = all
        .iter()
        .filter(|o| !aborted.contains(o))
        .copied()
        .collect();
    // Open: the LSO at the first record, the high watermark after the first
    // transaction's records (the first numbers of the chapter after these words).
    let open_hw = number_after(nine, "high watermark") as i64;
    let open_lso = number_after(nine, ", last stable offset") as i64;
    assert_eq!(open_lso, all[0], "{nine}");
    assert!(open_lso < open_hw, "{nine}");
    assert!(
        nine.contains("a read_committed reader gets nothing"),
        "{nine}"
    );
    // The markers, as bytes: the COMMIT right after the first transaction's records.
    let commit_at = open_hw;
    assert!(
        nine.contains(&format!("a COMMIT marker at offset {commit_at}")),
        "{nine}"
    );
    assert!(
        nine.contains("0x0030 (compression none, transactional, control)"),
        "{nine}"
    );
    assert!(
        nine.contains("00 01                    1 (COMMIT)"),
        "{nine}"
    );
    let abort_at = aborted.last().expect("an aborted record") + 1;
    assert!(
        nine.contains(&format!("an ABORT marker at offset {abort_at}")),
        "{nine}"
    );
    assert!(
        nine.contains("00 00                    0 (ABORT)"),
        "{nine}"
    );
    assert!(
        nine.contains(&format!(
            "aborted from offset {} to its ABORT marker at {abort_at}",
            aborted[0]
        )),
        "{nine}"
    );
    assert!(nine.contains(".txnindex: 1 entry"), "{nine}");
    assert!(
        nine.contains("Empty → Ongoing → PrepareCommit → CompleteCommit"),
        "{nine}"
    );
    // What the readers got from the earliest offset.
    assert_eq!(offsets_after(nine, "read_uncommitted: "), all, "{nine}");
    assert_eq!(offsets_after(nine, "read_committed: "), committed, "{nine}");
    let last = *all.last().expect("a record");
    let markers: Vec<i64> = (0..=last + 1).filter(|o| !all.contains(o)).collect();
    assert_eq!(markers, [commit_at, abort_at, last + 1], "{nine}");
    let markers: Vec<String> = markers.iter().map(ToString::to_string).collect();
    assert!(
        nine.contains(&format!(
            "neither got offsets {}: the markers",
            markers.join(", ")
        )),
        "{nine}"
    );
}

/// `--keep-data` leaves the data dir behind, and `inspect` reads it.
#[test]
fn kept_data_can_be_inspected() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let data = dir.path().join("data");
    let data_arg = data.to_str().expect("a UTF-8 path");
    let (status, out) = tour(&["--chapter", "3", "--keep-data", data_arg]);
    assert!(status.success(), "exit {status}:\n{out}");
    assert!(out.contains("inspect groups"), "{out}");

    let broker = broker_bin();
    let (status, topics) = run(&broker, &["inspect", "topics", data_arg]);
    assert!(status.success(), "{topics}");
    assert!(topics.contains("demo-topic"), "{topics}");
    let (status, groups) = run(&broker, &["inspect", "groups", data_arg]);
    assert!(status.success(), "{groups}");
    assert!(groups.contains("tour-readers"), "{groups}");

    // A second run refuses the used dir instead of mixing two tours.
    let (status, _, stderr) = run_full(
        Path::new(env!("CARGO_BIN_EXE_tour")),
        &["--chapter", "1", "--keep-data", data_arg],
    );
    assert!(!status.success());
    assert!(stderr.contains("is not empty"), "{stderr}");
}

/// The broker's binary, beside the demo's own.
fn broker_bin() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_tour")).with_file_name("minikafka-broker");
    assert!(
        path.is_file(),
        "{} is not built; run this test with `cargo test --workspace`",
        path.display()
    );
    path
}
