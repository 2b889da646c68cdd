//! Crash safety: the real `minikafka-broker` binary, SIGKILLed at a random moment under
//! load and started again over the same data dir, iteration after iteration (issue 15).
//!
//! Flow of one iteration: start the binary (`--fsync always`) → check everything the
//! earlier iterations were told is there → load it (acks=all producers on a plain, a
//! rolling, a retention and a compacted topic; a group consumer committing after each
//! batch) → SIGKILL after a random delay → sometimes damage the files (garbage after the
//! active segment, the active segment cut short, its `.index` or `.timeindex` cut) → next
//! iteration. After the last one: check, SIGTERM, start again (the clean path), check.
//!
//! What must stay true after every restart (what is checked, and why it is the rule):
//! - the broker starts with no help, and its log says recovery ran (no clean-shutdown
//!   marker) when the killed run had written something; garbage we appended is cut;
//! - every acknowledged record is at its offset with its key and value: with
//!   `--fsync always` the broker answers a Produce only after its bytes are synced, and
//!   SIGKILL loses nothing the kernel has. Below the log start offset only (retention),
//!   nothing is promised; in the compacted topic a record at an acknowledged offset is
//!   that record, and each key's last acknowledged value is there or a later one is
//!   (Kafka's compaction guarantee: offsets never change, the latest value of a key stays);
//! - nothing after the valid prefix survives: the log end offset is exactly the end of the
//!   last whole, valid batch on disk (computed from the files before the restart), every
//!   record read was one a producer sent, and offsets are dense (the compacted topic:
//!   increasing);
//! - the committed offset of each partition is the last acknowledged commit, or the
//!   value of a commit whose answer never came (in flight at the kill).
//!
//! A record we cut away ourselves (the active segment cut short) is forgotten by the
//! model: that loss is ours, and the check is that the broker keeps exactly the valid
//! part before the cut.
//!
//! Knobs (environment): `MINIKAFKA_CRASH_ITERATIONS` (default 20, what CI runs),
//! `MINIKAFKA_CRASH_SEED` (replays a failure's choices: kill delays, damage, targets),
//! `MINIKAFKA_CRASH_PER_DIR` (iterations per data dir before a fresh one, default 20, so
//! a long run keeps each check short). The long run and its results: docs/reliability.md.

#[path = "crash_kill9/damage.rs"]
mod damage;
#[path = "crash_kill9/load.rs"]
mod load;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use kafka_protocol::messages::{ApiKey, OffsetFetchResponse};
use minikafka_client::{
    Admin, ClientConfig, Error, NewTopic, Offset, PartitionReader, ReaderConfig,
};
use minikafka_testkit::child_broker::ChildBroker;
use minikafka_testkit::{groups, wire, within};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use damage::{damage, valid_ends, Damage};
use load::{load_then_kill, record};

const BIN: &str = env!("CARGO_BIN_EXE_minikafka-broker");
const GROUP: &str = "crash-group";
const OFFSETS_TOPIC: &str = "__consumer_offsets";
/// The broker's flags. Every one matters: `--fsync always` (or `MINIKAFKA_CRASH_FSYNC`:
/// a kill -9 keeps the page cache, so `never` and `<ms>` must pass too) is what the
/// guarantee is about; fast retention and cleaner checks and small `__consumer_offsets`
/// segments put deletions, compaction and rolls inside the short runs, so kills land in
/// them too.
fn broker_args() -> Vec<String> {
    let fsync = std::env::var("MINIKAFKA_CRASH_FSYNC").unwrap_or_else(|_| "always".into());
    [
        "--fsync",
        &fsync,
        "--quiet",
        "--retention-check-interval-ms",
        "100",
        "--log-cleaner-backoff-ms",
        "100",
        "--offsets-topic-segment-bytes",
        "4096",
    ]
    .map(str::to_string)
    .to_vec()
}

/// Starts the binary over `data` (blocking: it waits for the listening line).
fn start(data: &Path, log: &Path) -> ChildBroker {
    let args = broker_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    tokio::task::block_in_place(|| ChildBroker::start(Path::new(BIN), data, log, &args))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Plain,
    Retention,
    Compacted,
}

struct Spec {
    name: &'static str,
    partitions: i32,
    kind: Kind,
    configs: &'static [(&'static str, &'static str)],
}

const TOPICS: [Spec; 4] = [
    Spec {
        name: "crash-plain",
        partitions: 3,
        kind: Kind::Plain,
        configs: &[],
    },
    Spec {
        name: "crash-rolling",
        partitions: 2,
        kind: Kind::Plain,
        configs: &[("segment.bytes", "16384")],
    },
    Spec {
        name: "crash-retention",
        partitions: 2,
        kind: Kind::Retention,
        configs: &[
            ("segment.bytes", "8192"),
            ("retention.bytes", "24576"),
            ("retention.ms", "3000"),
        ],
    },
    Spec {
        name: "crash-compacted",
        partitions: 2,
        kind: Kind::Compacted,
        configs: &[
            ("cleanup.policy", "compact"),
            ("segment.bytes", "8192"),
            ("min.cleanable.dirty.ratio", "0.01"),
            ("min.compaction.lag.ms", "0"),
        ],
    },
];

fn spec(topic: &str) -> &'static Spec {
    TOPICS
        .iter()
        .find(|s| s.name == topic)
        .expect("one of TOPICS")
}

type Tp = (String, i32);

/// A commit's value for one partition: the position handed out, or `Unknown` for an
/// owned partition none of whose records were handed out yet (the consumer commits its
/// start position, which it got from the group or from auto.offset.reset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Committed {
    Known(i64),
    Unknown,
}

/// What the broker has promised so far.
#[derive(Default)]
struct Model {
    /// Every value ever sent → its key: all a read may return, acknowledged or not.
    sent: HashMap<String, String>,
    /// Acknowledged records: partition → offset → (key, value).
    acked: BTreeMap<Tp, BTreeMap<i64, (String, String)>>,
    /// The last acknowledged commit per partition.
    committed: BTreeMap<Tp, Committed>,
    /// Commits whose answer never came (or was an error): they may have been stored.
    maybe: BTreeMap<Tp, Vec<Committed>>,
}

#[derive(Default)]
struct Totals {
    /// Restarts whose data was checked.
    checked: u64,
    /// The most offsets retention had deleted, and the cleaner removed, at one check.
    deleted: i64,
    cleaned: i64,
    acked: u64,
    commits: u64,
    garbage: u64,
    log_cuts: u64,
    index_cuts: u64,
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| v.parse().unwrap_or_else(|e| panic!("{name}={v}: {e}")))
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_data_survives_kill_9_and_damaged_tails() {
    let iterations = env_u64("MINIKAFKA_CRASH_ITERATIONS", 20);
    let per_dir = env_u64("MINIKAFKA_CRASH_PER_DIR", 20).max(1);
    let seed = env_u64(
        "MINIKAFKA_CRASH_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    );
    println!(
        "crash_kill9: {iterations} iterations, seed {seed} (replay with MINIKAFKA_CRASH_SEED={seed}), \
         broker flags {}",
        broker_args().join(" ")
    );
    let mut rng = StdRng::seed_from_u64(seed);
    let started = Instant::now();
    let mut totals = Totals::default();
    let mut done = 0;
    while done < iterations {
        let n = per_dir.min(iterations - done);
        crash_one_dir(&mut rng, seed, done, n, &mut totals).await;
        done += n;
    }
    let elapsed = started.elapsed();
    println!(
        "crash_kill9: seed {seed}: {iterations} kills survived in {:.1}s ({:.2}s per iteration): \
         {} restarts checked, {} acknowledged records and {} acknowledged commits; retention \
         had deleted up to {} offsets and the cleaner removed up to {} at one check; damage: \
         {} garbage tails, {} cut segments, {} cut indexes",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() / iterations.max(1) as f64,
        totals.checked,
        totals.acked,
        totals.commits,
        totals.deleted,
        totals.cleaned,
        totals.garbage,
        totals.log_cuts,
        totals.index_cuts
    );
}

/// `n` kill-and-restart iterations over one fresh data dir, then a clean stop and start.
async fn crash_one_dir(rng: &mut StdRng, seed: u64, first: u64, n: u64, totals: &mut Totals) {
    let tmp = tempfile::tempdir().expect("a temp dir");
    let data = tmp.path().join("data");
    let mut model = Model::default();
    let mut expected_ends: BTreeMap<Tp, i64> = BTreeMap::new();
    let mut wrote = false;
    let mut damaged: Option<Tp> = None;
    for i in first..first + n {
        let ctx = format!("seed {seed}, iteration {i}");
        let log = tmp.path().join(format!("broker-{i}.log"));
        let mut broker = start(&data, &log);
        if i == first {
            create_topics(&broker.bootstrap()).await;
        } else {
            check_recovery_ran(&broker.log_text(), wrote, damaged.as_ref(), &ctx);
            let checked = verify(&broker, &mut model, &expected_ends, &ctx).await;
            println!("crash_kill9: iteration {i}: restarted and checked: {checked:?}");
            totals.checked += 1;
            totals.deleted = totals.deleted.max(checked.deleted);
            totals.cleaned = totals.cleaned.max(checked.cleaned);
        }
        let delay = if rng.random_bool(0.1) {
            rng.random_range(0..100)
        } else {
            rng.random_range(100..1500)
        };
        let pid = broker.pid();
        let outcome =
            load_then_kill(&mut broker, i, Duration::from_millis(delay), &mut model).await;
        let (acks, commits) = (outcome.acks.len(), outcome.commits);
        // Something acknowledged means something appended: the next start must recover.
        wrote = acks > 0 || commits > 0;
        totals.acked += acks as u64;
        totals.commits += commits;
        record(&mut model, outcome, &ctx);
        damaged = None;
        let what = if rng.random_bool(0.5) {
            damage(rng, &data, &mut model, totals)
        } else {
            None
        };
        if let Some((tp, Damage::Garbage)) = &what {
            damaged = Some(tp.clone());
        }
        expected_ends = valid_ends(&data);
        println!(
            "crash_kill9: iteration {i}: killed pid {pid} after {delay} ms ({} records and {} \
             commits acknowledged); damage: {}",
            acks,
            commits,
            what.map_or("none".to_string(), |(tp, d)| format!(
                "{d:?} in {}-{}",
                tp.0, tp.1
            ))
        );
    }
    // The last kill's data, checked; then the clean path: SIGTERM, start, check again.
    let ctx = format!("seed {seed}, after iteration {}", first + n - 1);
    let mut broker = start(&data, &tmp.path().join("broker-last.log"));
    check_recovery_ran(&broker.log_text(), wrote, damaged.as_ref(), &ctx);
    let checked = verify(&broker, &mut model, &expected_ends, &ctx).await;
    println!("crash_kill9: {ctx}: restarted and checked: {checked:?}");
    totals.checked += 1;
    tokio::task::block_in_place(|| broker.stop());
    let expected_ends = valid_ends(&data);
    let mut broker = start(&data, &tmp.path().join("broker-clean.log"));
    verify(
        &broker,
        &mut model,
        &expected_ends,
        &format!("{ctx}, clean restart"),
    )
    .await;
    totals.checked += 1;
    tokio::task::block_in_place(|| broker.stop());
}

async fn create_topics(bootstrap: &str) {
    let admin = within(
        "the admin connects",
        Admin::new(ClientConfig::new(bootstrap)),
    )
    .await
    .expect("the admin client connects");
    let topics: Vec<NewTopic> = TOPICS
        .iter()
        .map(|s| {
            s.configs
                .iter()
                .fold(NewTopic::new(s.name, s.partitions), |t, (k, v)| {
                    t.config(*k, *v)
                })
        })
        .collect();
    within("CreateTopics", admin.create_topics(&topics))
        .await
        .expect("create the crash topics");
}

/// The broker's log after a restart: it says it recovered (the run before wrote and was
/// killed), and it cut the garbage we appended.
fn check_recovery_ran(log: &str, wrote: bool, garbage_in: Option<&Tp>, ctx: &str) {
    if wrote {
        assert!(
            log.contains("no clean-shutdown marker; scanning segments"),
            "{ctx}: the broker's log does not say it recovered after the kill:\n{log}"
        );
    }
    if let Some((topic, p)) = garbage_in {
        let dir = format!("{topic}-{p}");
        assert!(
            log.lines()
                .any(|l| l.contains("recovery: cutting") && l.contains(&dir)),
            "{ctx}: the broker did not cut the garbage appended to {dir}:\n{log}"
        );
    }
}

// ---------------------------------------------------------------------------------
// The checks after a restart.
// ---------------------------------------------------------------------------------

/// What one check read: evidence that retention and the cleaner ran during the runs.
#[derive(Debug, Default)]
struct Checked {
    /// Records read back (and compared with the model).
    records: usize,
    /// Offsets below the log start of the retention topic: deleted by retention.
    deleted: i64,
    /// Offsets missing inside the compacted topic: removed by the cleaner.
    cleaned: i64,
}

async fn verify(
    broker: &ChildBroker,
    model: &mut Model,
    ends: &BTreeMap<Tp, i64>,
    ctx: &str,
) -> Checked {
    let bootstrap = broker.bootstrap();
    let mut checked = Checked::default();
    for s in &TOPICS {
        for p in 0..s.partitions {
            let tp = (s.name.to_string(), p);
            let end = ends.get(&tp).copied();
            let (records, start, gaps) = check_partition(&bootstrap, s, &tp, model, end, ctx).await;
            checked.records += records;
            match s.kind {
                Kind::Retention => checked.deleted += start,
                Kind::Compacted => checked.cleaned += gaps,
                Kind::Plain => {}
            }
        }
    }
    check_commits(broker, model, ctx).await;
    checked
}

fn reader_config(bootstrap: &str) -> ReaderConfig {
    let mut c = ReaderConfig::new(bootstrap);
    c.set("fetch.max.wait.ms", "10").expect("a reader setting");
    c
}

/// Reads `tp` from its log start to its end: `(log start, end, records)`. A log start
/// that moves while we read (retention) starts the read over.
async fn read_partition(bootstrap: &str, tp: &Tp) -> (i64, i64, Vec<(i64, String, String)>) {
    let (topic, p) = (tp.0.as_str(), tp.1);
    let assign = |start| {
        within(
            "assign a partition reader",
            PartitionReader::assign(reader_config(bootstrap), topic, p, start),
        )
    };
    let end = assign(Offset::Latest)
        .await
        .unwrap_or_else(|e| panic!("{topic}-{p}: ListOffsets latest: {e}"))
        .position();
    'again: for _ in 0..100 {
        let mut reader = assign(Offset::Earliest)
            .await
            .unwrap_or_else(|e| panic!("{topic}-{p}: ListOffsets earliest: {e}"));
        let start = reader.position();
        let mut records = Vec::new();
        while reader.position() < end {
            match within("a record of a restarted broker", reader.next()).await {
                Ok(r) => {
                    let text = |b: Option<bytes::Bytes>| {
                        String::from_utf8_lossy(&b.unwrap_or_default()).into_owned()
                    };
                    records.push((r.offset, text(r.key), text(r.value)));
                }
                Err(Error::OffsetOutOfRange { .. }) => continue 'again,
                Err(e) => panic!("{topic}-{p}: reading at {}: {e}", reader.position()),
            }
        }
        return (start, end, records);
    }
    panic!("{topic}-{p}: the log start kept moving while reading")
}

async fn check_partition(
    bootstrap: &str,
    spec: &Spec,
    tp: &Tp,
    model: &mut Model,
    expected_end: Option<i64>,
    ctx: &str,
) -> (usize, i64, i64) {
    let name = format!("{}-{}", tp.0, tp.1);
    let (start, end, records) = read_partition(bootstrap, tp).await;
    if let Some(expected) = expected_end {
        assert_eq!(
            end, expected,
            "{ctx}: {name}: the log end offset after recovery is not the end of the valid \
             prefix on disk"
        );
    }
    // Every record read is one a producer sent, to this partition with this key;
    // offsets are dense from the log start (increasing in the compacted topic).
    let mut prev: Option<i64> = None;
    for (offset, key, value) in &records {
        match model.sent.get(value) {
            Some(k) if k == key => {}
            _ => panic!(
                "{ctx}: {name} offset {offset}: a record nobody sent: key {key:?}, value {value:?}"
            ),
        }
        assert!(
            value.starts_with(&format!("{}|{}|", tp.0, tp.1)),
            "{ctx}: {name} offset {offset} holds a record sent to another partition: {value:?}"
        );
        let ok = match (prev, spec.kind) {
            (None, Kind::Compacted) => *offset >= start,
            (None, _) => *offset == start,
            (Some(p), Kind::Compacted) => *offset > p,
            (Some(p), _) => *offset == p + 1,
        };
        assert!(
            ok,
            "{ctx}: {name}: offset {offset} after {prev:?} (log start {start}): not in order"
        );
        prev = Some(*offset);
    }
    if spec.kind != Kind::Compacted && end > start {
        assert_eq!(
            prev,
            Some(end - 1),
            "{ctx}: {name}: records stop before the log end {end}"
        );
    }
    let by_offset: BTreeMap<i64, (&String, &String)> =
        records.iter().map(|(o, k, v)| (*o, (k, v))).collect();
    let acked = model.acked.entry(tp.clone()).or_default();
    // Below the log start, retention may have deleted acknowledged records: forget them.
    if spec.kind == Kind::Retention {
        *acked = acked.split_off(&start);
    }
    let mut latest: BTreeMap<&String, i64> = BTreeMap::new();
    for (offset, (key, value)) in acked.iter() {
        assert!(
            *offset >= start,
            "{ctx}: {name}: acknowledged offset {offset} is below the log start {start}"
        );
        latest.insert(key, *offset);
        match by_offset.get(offset) {
            Some((k, v)) => assert!(
                *k == key && *v == value,
                "{ctx}: {name} offset {offset}: acknowledged {key:?}={value:?}, read {k:?}={v:?}"
            ),
            None if spec.kind == Kind::Compacted => {}
            None => panic!(
                "{ctx}: {name}: acknowledged offset {offset} ({key:?}={value:?}) is lost \
                 (log {start}..{end})"
            ),
        }
    }
    if spec.kind == Kind::Compacted {
        // The latest acknowledged value of each key is there, or a later one for that key.
        let mut last_read: BTreeMap<&String, i64> = BTreeMap::new();
        for (offset, key, _) in &records {
            last_read.insert(key, *offset);
        }
        for (key, offset) in latest {
            assert!(
                last_read.get(key).is_some_and(|o| *o >= offset),
                "{ctx}: {name}: key {key:?}: acknowledged at offset {offset}, but the log \
                 keeps {:?} for it",
                last_read.get(key)
            );
        }
    }
    (records.len(), start, (end - start) - records.len() as i64)
}

/// OffsetFetch for the whole group; retries while the coordinator is still loading.
async fn fetch_commits(broker: &ChildBroker) -> BTreeMap<Tp, i64> {
    let mut client = within("connect", wire::Client::connect(broker.addr())).await;
    for _ in 0..1000 {
        let resp: OffsetFetchResponse = within(
            "OffsetFetch",
            client.call(ApiKey::OffsetFetch, 7, &groups::fetch_req(GROUP, None)),
        )
        .await;
        if resp.error_code != 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        return groups::fetched(&resp)
            .into_iter()
            .map(|(tp, (offset, _))| (tp, offset))
            .collect();
    }
    panic!("OffsetFetch kept failing")
}

async fn check_commits(broker: &ChildBroker, model: &mut Model, ctx: &str) {
    let stored = fetch_commits(broker).await;
    let mut keys: Vec<&Tp> = stored.keys().chain(model.committed.keys()).collect();
    keys.sort();
    keys.dedup();
    for tp in keys {
        let name = format!("{}-{}", tp.0, tp.1);
        let got = stored.get(tp).copied();
        let maybe = model.maybe.get(tp).map(Vec::as_slice).unwrap_or(&[]);
        let expected = model.committed.get(tp).copied();
        let allowed = |c: &Committed| match (c, got) {
            (Committed::Unknown, _) => true,
            (Committed::Known(v), Some(g)) => *v == g,
            (Committed::Known(_), None) => false,
        };
        let ok = expected.as_ref().is_some_and(allowed) || maybe.iter().any(allowed);
        assert!(
            ok,
            "{ctx}: group {GROUP} {name}: committed offset {got:?}, but the last acknowledged \
             commit was {expected:?} (and in flight at the kill: {maybe:?})"
        );
    }
    model.maybe.clear();
    model.committed = stored
        .into_iter()
        .map(|(tp, o)| (tp, Committed::Known(o)))
        .collect();
}
