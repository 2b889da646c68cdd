//! Transactions under kill -9: the real `minikafka-broker` binary, SIGKILLed at a random
//! moment while transactional producers commit and abort, and started again over the
//! same data dir, iteration after iteration (issue 16).
//!
//! Flow of one iteration: start the binary (`--fsync always`) → wait until no
//! transaction is left open, with no client touching the transactional ids → read every
//! partition at both isolation levels and check (below) → load it (`crash_kill9_txn/
//! load.rs`: two transactional producers, `read_committed` readers on every partition) →
//! SIGKILL after a random delay (one time in three, 0 to 3 ms into a
//! `commit_transaction`, so kills land inside EndTxn too) → next iteration. After the last one: check, SIGTERM,
//! start again (the clean path), check.
//!
//! What must stay true after every restart:
//! - every transaction the killed run left Ongoing is aborted once its timeout has
//!   passed, and one left in PrepareCommit or PrepareAbort is completed; none stays open
//!   (ListTransactions), so the last stable offset catches up with the high watermark;
//! - a transaction is all or nothing: under `read_committed`, either every acknowledged
//!   record of it is there or none is; a transaction whose commit was acknowledged is
//!   there, one whose abort was acknowledged is not; one cut short by the kill is decided
//!   by the log, and that decision never changes at a later restart;
//! - `read_uncommitted` still has every acknowledged record, committed or aborted, at its
//!   offset (`--fsync always`), and `read_committed` offsets are a subset of those;
//! - no `read_committed` reader, during any run, was ever handed a record of a
//!   transaction that ended aborted;
//! - the group's transactional offset commits are those of the last committed
//!   transaction of each producer (OffsetFetch with `require_stable`).
//!
//! Knobs (environment): `MINIKAFKA_CRASH_ITERATIONS` (default 10, what CI runs),
//! `MINIKAFKA_CRASH_SEED`, `MINIKAFKA_CRASH_PER_DIR` (default 10). The long run and its
//! results: docs/reliability.md.

#[path = "crash_kill9_txn/load.rs"]
mod load;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use minikafka_client::{
    Admin, ClientConfig, IsolationLevel, NewTopic, Offset, PartitionReader, ReaderConfig,
};
use minikafka_testkit::child_broker::ChildBroker;
use minikafka_testkit::{groups, txn, wire, within};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const BIN: &str = env!("CARGO_BIN_EXE_minikafka-broker");
/// The group the producers commit their input offsets for (TxnOffsetCommit).
const GROUP: &str = "crash-txn-group";
/// The topic those offsets are of: partition `p` is producer `p`'s input.
const INPUT_TOPIC: &str = "crash-txn-input";
const PRODUCERS: usize = 2;
/// The producers' `transaction.timeout.ms`: how long an abandoned transaction stays open.
const TXN_TIMEOUT_MS: u64 = 2000;
/// The topics written in transactions: name, partitions, config. Small segments on the
/// second, so rolls (producer snapshots, one `.txnindex` per segment) land in the runs.
const TOPICS: [(&str, i32, Configs); 2] = [
    ("crash-txn-a", 3, &[]),
    ("crash-txn-b", 2, &[("segment.bytes", "4096")]),
];

/// A topic's configs: (name, value).
type Configs = &'static [(&'static str, &'static str)];

fn broker_args() -> Vec<String> {
    let fsync = std::env::var("MINIKAFKA_CRASH_FSYNC").unwrap_or_else(|_| "always".into());
    [
        "--fsync",
        &fsync,
        "--quiet",
        "--transaction-abort-interval-ms",
        "200",
        "--offsets-topic-segment-bytes",
        "4096",
    ]
    .map(str::to_string)
    .to_vec()
}

fn start(data: &Path, log: &Path) -> ChildBroker {
    let args = broker_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    tokio::task::block_in_place(|| ChildBroker::start(Path::new(BIN), data, log, &args))
}

type Tp = (String, i32);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Committed,
    Aborted,
    /// Cut short by the kill: the log decides.
    Unknown,
}

/// One transaction, as its producer saw it.
#[derive(Debug, Clone)]
struct Txn {
    producer: usize,
    /// The input offset it committed for the group (partition `producer`).
    input_offset: i64,
    /// Values sent, acknowledged or not.
    sent: Vec<String>,
    /// Acknowledged records: partition, offset, value.
    acked: Vec<(Tp, i64, String)>,
    /// Whether it meant to commit.
    commit: bool,
    outcome: Outcome,
}

/// Everything so far, and the decisions taken.
#[derive(Default)]
struct Model {
    /// Transactions by id (`p<producer>-r<run>-t<n>`, the values' prefix).
    txns: BTreeMap<String, Txn>,
    /// Decided at a check: committed (visible) or not. Never changes after.
    decided: HashMap<String, bool>,
    /// Values read under read_committed during the runs, to check once decided.
    seen_committed: Vec<(Tp, i64, String)>,
    next_offset: [i64; PRODUCERS],
}

/// The transaction id of a value `<id>/<j>`.
fn txn_of(value: &str) -> &str {
    value.rsplit_once('/').map_or(value, |(id, _)| id)
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| v.parse().unwrap_or_else(|e| panic!("{name}={v}: {e}")))
        .unwrap_or(default)
}

#[derive(Default, Debug)]
struct Totals {
    checked: u64,
    committed: u64,
    aborted: u64,
    unknown_committed: u64,
    unknown_aborted: u64,
    /// Transactions found open at a restart, by state.
    open_at_restart: BTreeMap<String, u64>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_survive_kill_9() {
    let iterations = env_u64("MINIKAFKA_CRASH_ITERATIONS", 10);
    let per_dir = env_u64("MINIKAFKA_CRASH_PER_DIR", 10).max(1);
    let seed = env_u64(
        "MINIKAFKA_CRASH_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    );
    println!(
        "crash_kill9_txn: {iterations} iterations, seed {seed} (replay with \
         MINIKAFKA_CRASH_SEED={seed}), broker flags {}",
        broker_args().join(" ")
    );
    let mut rng = StdRng::seed_from_u64(seed);
    let started = Instant::now();
    let mut totals = Totals::default();
    let mut done = 0;
    while done < iterations {
        let n = per_dir.min(iterations - done);
        one_dir(&mut rng, seed, done, n, &mut totals).await;
        done += n;
    }
    let elapsed = started.elapsed();
    println!(
        "crash_kill9_txn: seed {seed}: {iterations} kills survived in {:.1}s ({:.2}s per \
         iteration): {totals:?}",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() / iterations.max(1) as f64,
    );
}

/// `n` kill-and-restart iterations over one fresh data dir, then a clean stop and start.
async fn one_dir(rng: &mut StdRng, seed: u64, first: u64, n: u64, totals: &mut Totals) {
    let tmp = tempfile::tempdir().expect("a temp dir");
    let data = tmp.path().join("data");
    let mut model = Model::default();
    for i in first..first + n {
        let ctx = format!("seed {seed}, iteration {i}");
        let mut broker = start(&data, &tmp.path().join(format!("broker-{i}.log")));
        if i == first {
            create_topics(&broker.bootstrap()).await;
        } else {
            check(&broker, &mut model, totals, &ctx).await;
        }
        let delay = rng.random_range(200..1500);
        // One kill in three lands inside a commit: 0 to 3 ms after EndTxn starts.
        let in_commit = rng
            .random_bool(1.0 / 3.0)
            .then(|| Duration::from_micros(rng.random_range(0..3000)));
        let pid = broker.pid();
        let outcome = load::load_then_kill(
            &mut broker,
            i,
            seed,
            Duration::from_millis(delay),
            in_commit,
            &model.next_offset,
        )
        .await;
        let mut counts = BTreeMap::<&str, u64>::new();
        for t in &outcome.txns {
            let what = match t.outcome {
                Outcome::Committed => "committed",
                Outcome::Aborted => "aborted",
                Outcome::Unknown => "cut short",
            };
            *counts.entry(what).or_default() += 1;
            let next = &mut model.next_offset[t.producer];
            *next = (*next).max(t.input_offset + 1);
        }
        for t in outcome.txns {
            let id = txn_of(t.sent.first().map_or("", String::as_str)).to_string();
            if !id.is_empty() {
                model.txns.insert(id, t);
            }
        }
        model.seen_committed.extend(outcome.seen_committed);
        let when = in_commit.map_or(String::new(), |d| {
            format!(", {} µs into a commit", d.as_micros())
        });
        println!(
            "crash_kill9_txn: iteration {i}: killed pid {pid} after {delay} ms{when}; \
             transactions: {counts:?}"
        );
    }
    let ctx = format!("seed {seed}, after iteration {}", first + n - 1);
    let mut broker = start(&data, &tmp.path().join("broker-last.log"));
    check(&broker, &mut model, totals, &ctx).await;
    tokio::task::block_in_place(|| broker.stop());
    let mut broker = start(&data, &tmp.path().join("broker-clean.log"));
    check(
        &broker,
        &mut model,
        totals,
        &format!("{ctx}, clean restart"),
    )
    .await;
    tokio::task::block_in_place(|| broker.stop());
}

async fn create_topics(bootstrap: &str) {
    let admin = within(
        "the admin connects",
        Admin::new(ClientConfig::new(bootstrap)),
    )
    .await
    .expect("the admin client connects");
    let mut topics: Vec<NewTopic> = TOPICS
        .iter()
        .map(|(name, partitions, configs)| {
            configs
                .iter()
                .fold(NewTopic::new(*name, *partitions), |t, (k, v)| {
                    t.config(*k, *v)
                })
        })
        .collect();
    topics.push(NewTopic::new(INPUT_TOPIC, PRODUCERS as i32));
    within("CreateTopics", admin.create_topics(&topics))
        .await
        .expect("create the topics");
}

/// Every check of a restart (the module docs list them).
async fn check(broker: &ChildBroker, model: &mut Model, totals: &mut Totals, ctx: &str) {
    let open = wait_until_none_open(broker, ctx).await;
    for state in open.values() {
        *totals.open_at_restart.entry(state.clone()).or_default() += 1;
    }
    let (committed, uncommitted) = read_everything(broker).await;
    let visible: BTreeMap<&str, (Tp, i64)> = committed
        .iter()
        .map(|(tp, o, v)| (v.as_str(), (tp.clone(), *o)))
        .collect();
    assert_eq!(
        visible.len(),
        committed.len(),
        "{ctx}: a value twice under read_committed"
    );
    let all: BTreeMap<&str, (Tp, i64)> = uncommitted
        .iter()
        .map(|(tp, o, v)| (v.as_str(), (tp.clone(), *o)))
        .collect();
    for (v, at) in &visible {
        assert_eq!(
            all.get(v),
            Some(at),
            "{ctx}: {v} read_committed at {at:?} only"
        );
        let id = txn_of(v);
        assert!(
            model.txns.contains_key(id),
            "{ctx}: {v} is no transaction's record"
        );
    }
    let mut last_committed: [Option<i64>; PRODUCERS] = [None; PRODUCERS];
    for (id, t) in &model.txns {
        for (tp, offset, v) in &t.acked {
            assert_eq!(
                all.get(v.as_str()),
                Some(&(tp.clone(), *offset)),
                "{ctx}: {v} acknowledged at {tp:?}@{offset}, missing under read_uncommitted"
            );
        }
        let shown: Vec<&String> = t
            .sent
            .iter()
            .filter(|v| visible.contains_key(v.as_str()))
            .collect();
        let is_visible = !shown.is_empty();
        if is_visible {
            for (_, _, v) in &t.acked {
                assert!(
                    visible.contains_key(v.as_str()),
                    "{ctx}: {id}: {shown:?} visible but not {v}"
                );
            }
        }
        match t.outcome {
            Outcome::Committed => assert!(is_visible, "{ctx}: {id} was committed, none visible"),
            Outcome::Aborted => assert!(!is_visible, "{ctx}: {id} was aborted, {shown:?} visible"),
            Outcome::Unknown => {}
        }
        if is_visible {
            assert!(
                t.commit,
                "{ctx}: {id} never meant to commit, yet {shown:?} are visible"
            );
        }
        match model.decided.get(id) {
            Some(was) => assert_eq!(*was, is_visible, "{ctx}: {id} changed its mind"),
            None => {
                model.decided.insert(id.clone(), is_visible);
                match (t.outcome, is_visible) {
                    (Outcome::Committed, _) => totals.committed += 1,
                    (Outcome::Aborted, _) => totals.aborted += 1,
                    (Outcome::Unknown, true) => totals.unknown_committed += 1,
                    (Outcome::Unknown, false) => totals.unknown_aborted += 1,
                }
            }
        }
        if is_visible {
            let last = &mut last_committed[t.producer];
            *last = Some(last.map_or(t.input_offset, |o| o.max(t.input_offset)));
        }
    }
    for (tp, offset, v) in model.seen_committed.drain(..) {
        let id = txn_of(&v);
        assert_eq!(
            model.decided.get(id),
            Some(&true),
            "{ctx}: a read_committed reader was handed {v} ({tp:?}@{offset}), of a transaction \
             that did not commit"
        );
    }
    let offsets = groups::fetch_stable(broker.addr(), GROUP).await;
    for (p, last) in last_committed.iter().enumerate() {
        let got = offsets.get(&(INPUT_TOPIC.to_string(), p as i32)).copied();
        assert_eq!(
            got, *last,
            "{ctx}: group {GROUP}, producer {p}'s input offset"
        );
    }
    totals.checked += 1;
    println!(
        "crash_kill9_txn: {ctx}: checked: open at restart {open:?}; {} records, {} visible \
         under read_committed",
        uncommitted.len(),
        committed.len()
    );
}

/// ListTransactions until none is Ongoing, PrepareCommit or PrepareAbort; returns the
/// open ones found first (transactional id → state).
async fn wait_until_none_open(broker: &ChildBroker, ctx: &str) -> BTreeMap<String, String> {
    let mut client = within("connect", wire::Client::connect(broker.addr())).await;
    let mut first: Option<BTreeMap<String, String>> = None;
    let deadline = Instant::now() + Duration::from_millis(TXN_TIMEOUT_MS) + Duration::from_secs(20);
    loop {
        let states = txn::states(&mut client).await;
        if let Some(states) = &states {
            let open: BTreeMap<String, String> = states
                .iter()
                .filter(|(_, state)| {
                    matches!(state.as_str(), "Ongoing" | "PrepareCommit" | "PrepareAbort")
                })
                .map(|(id, state)| (id.clone(), state.clone()))
                .collect();
            let none = open.is_empty();
            first.get_or_insert(open);
            if none {
                return first.unwrap_or_default();
            }
        }
        assert!(
            Instant::now() < deadline,
            "{ctx}: transactions still open {states:?} after the timeout ({TXN_TIMEOUT_MS} ms) \
             and 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every record of every partition, at read_committed and at read_uncommitted.
async fn read_everything(broker: &ChildBroker) -> (Vec<(Tp, i64, String)>, Vec<(Tp, i64, String)>) {
    let mut tasks = Vec::new();
    for isolation in [
        IsolationLevel::ReadCommitted,
        IsolationLevel::ReadUncommitted,
    ] {
        for (topic, partitions, _) in TOPICS {
            for partition in 0..partitions {
                tasks.push(tokio::spawn(read_partition(
                    broker.bootstrap(),
                    (topic.to_string(), partition),
                    isolation,
                )));
            }
        }
    }
    let mut committed = Vec::new();
    let mut uncommitted = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        let records = within("read a partition", t)
            .await
            .expect("a reader panicked");
        if i < tasks_per_level() {
            committed.extend(records);
        } else {
            uncommitted.extend(records);
        }
    }
    (committed, uncommitted)
}

fn tasks_per_level() -> usize {
    TOPICS.iter().map(|(_, p, _)| *p as usize).sum()
}

/// One partition from the earliest offset until 600 ms pass without a record (nothing
/// is being written: no producer runs during a check, and no transaction is open).
async fn read_partition(
    bootstrap: String,
    tp: Tp,
    isolation: IsolationLevel,
) -> Vec<(Tp, i64, String)> {
    let mut config = ReaderConfig::new(&bootstrap);
    config.isolation_level = isolation;
    config.fetch_max_wait = Duration::from_millis(100);
    let mut reader = within(
        "assign",
        PartitionReader::assign(config, &tp.0, tp.1, Offset::Earliest),
    )
    .await
    .expect("a reader");
    let mut out = Vec::new();
    while let Ok(r) = tokio::time::timeout(Duration::from_millis(600), reader.next()).await {
        let r = r.expect("read");
        let value = String::from_utf8_lossy(&r.value.unwrap_or_default()).into_owned();
        out.push((tp.clone(), r.offset, value));
    }
    out
}
