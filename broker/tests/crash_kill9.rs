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

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_protocol::messages::{ApiKey, OffsetFetchResponse};
use minikafka_broker::log::record_batch::{check_frame, frames};
use minikafka_client::{
    Admin, ClientConfig, Consumer, ConsumerConfig, ConsumerEvent, DeliveryFuture, Error, NewTopic,
    Offset, PartitionReader, Producer, ProducerConfig, ProducerRecord, ReaderConfig,
    TopicPartition,
};
use minikafka_testkit::child_broker::ChildBroker;
use minikafka_testkit::{groups, wire, within};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const BIN: &str = env!("CARGO_BIN_EXE_minikafka-broker");
const GROUP: &str = "crash-group";
const OFFSETS_TOPIC: &str = "__consumer_offsets";
/// How long a client call may take after the kill before we stop waiting for it. Not an
/// assertion: a call cut short counts as "outcome unknown", which the checks allow.
const CLIENT_BOUND: Duration = Duration::from_secs(20);

/// Every flag matters: fsync=always is what the guarantee is about; fast retention and
/// cleaner checks and small `__consumer_offsets` segments put deletions, compaction and
/// rolls inside the short runs, so the kill lands in them too.
const BROKER_ARGS: &[&str] = &[
    "--fsync",
    "always",
    "--quiet",
    "--retention-check-interval-ms",
    "100",
    "--log-cleaner-backoff-ms",
    "100",
    "--offsets-topic-segment-bytes",
    "4096",
];

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

/// What one killed run produced.
#[derive(Default)]
struct RunOutcome {
    sent: Vec<(String, String)>,
    acks: Vec<(Tp, i64, String, String)>,
    commits: u64,
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
        "crash_kill9: {iterations} iterations, seed {seed} (replay with MINIKAFKA_CRASH_SEED={seed})"
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
        let broker = tokio::task::block_in_place(|| {
            ChildBroker::start(Path::new(BIN), &data, &log, BROKER_ARGS)
        });
        let mut broker = broker;
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
        wrote = !outcome.sent.is_empty() || outcome.commits > 0;
        let (acks, commits) = (outcome.acks.len(), outcome.commits);
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
    let mut broker = tokio::task::block_in_place(|| {
        ChildBroker::start(
            Path::new(BIN),
            &data,
            &tmp.path().join("broker-last.log"),
            BROKER_ARGS,
        )
    });
    check_recovery_ran(&broker.log_text(), wrote, damaged.as_ref(), &ctx);
    let checked = verify(&broker, &mut model, &expected_ends, &ctx).await;
    println!("crash_kill9: {ctx}: restarted and checked: {checked:?}");
    totals.checked += 1;
    tokio::task::block_in_place(|| broker.stop());
    let expected_ends = valid_ends(&data);
    let mut broker = tokio::task::block_in_place(|| {
        ChildBroker::start(
            Path::new(BIN),
            &data,
            &tmp.path().join("broker-clean.log"),
            BROKER_ARGS,
        )
    });
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
// Load: producers and a consumer until the kill.
// ---------------------------------------------------------------------------------

/// Loads the broker, SIGKILLs it after `delay`, waits for every client to finish (each
/// wait bounded), and returns what was acknowledged. The commits are applied to `model`
/// as they are acknowledged.
async fn load_then_kill(
    broker: &mut ChildBroker,
    run: u64,
    delay: Duration,
    model: &mut Model,
) -> RunOutcome {
    let bootstrap = broker.bootstrap();
    let stop = Arc::new(AtomicBool::new(false));
    let out = Arc::new(Mutex::new(RunOutcome::default()));
    let commits = Arc::new(Mutex::new(CommitLog::default()));
    let mut tasks = Vec::new();
    for s in &TOPICS {
        tasks.push(tokio::spawn(produce(
            bootstrap.clone(),
            s,
            run,
            stop.clone(),
            out.clone(),
        )));
    }
    tasks.push(tokio::spawn(consume(
        bootstrap.clone(),
        stop.clone(),
        commits.clone(),
    )));
    tokio::time::sleep(delay).await;
    tokio::task::block_in_place(|| broker.kill9());
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        within("a client task ends after the kill", t)
            .await
            .expect("a client task panicked");
    }
    let c = std::mem::take(&mut *commits.lock().expect("commit log"));
    for (tp, v) in c.acked {
        model.maybe.remove(&tp);
        model.committed.insert(tp, v);
    }
    for (tp, v) in c.maybe {
        model.maybe.entry(tp).or_default().push(v);
    }
    let mut outcome = std::mem::take(&mut *out.lock().expect("outcome"));
    outcome.commits = c.count;
    outcome
}

fn producer_config(bootstrap: &str) -> ProducerConfig {
    let mut c = ProducerConfig::new(bootstrap);
    for (k, v) in [
        ("acks", "all"),
        ("linger.ms", "2"),
        ("retries", "2"),
        ("retry.backoff.ms", "20"),
        ("request.timeout.ms", "5000"),
        ("max.block.ms", "5000"),
    ] {
        c.set(k, v).expect("a producer setting");
    }
    c
}

/// One topic's producer: bursts of records to every partition until `stop`; each
/// acknowledged one is recorded with the offset the broker gave it.
async fn produce(
    bootstrap: String,
    spec: &'static Spec,
    run: u64,
    stop: Arc<AtomicBool>,
    out: Arc<Mutex<RunOutcome>>,
) {
    let Ok(producer) = Producer::new(producer_config(&bootstrap)).await else {
        return; // killed before we connected
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(String, String, DeliveryFuture)>(256);
    let sink = out.clone();
    let acker = tokio::spawn(async move {
        while let Some((key, value, delivery)) = rx.recv().await {
            if let Ok(meta) = delivery.await {
                let tp = (meta.topic.clone(), meta.partition);
                sink.lock()
                    .expect("outcome")
                    .acks
                    .push((tp, meta.offset, key, value));
            }
        }
    });
    let mut seq: u64 = 0;
    'load: while !stop.load(Ordering::SeqCst) {
        for _ in 0..1 + seq % 17 {
            let partition = (seq % spec.partitions as u64) as i32;
            let key = match spec.kind {
                Kind::Compacted => format!("key-{}", (seq * 7) % 37),
                _ => format!("k{}", seq % 1000),
            };
            let pad = "x".repeat((seq * 13 % 200) as usize);
            let value = format!("{}|{partition}|{run}|{seq}|{pad}", spec.name);
            seq += 1;
            out.lock()
                .expect("outcome")
                .sent
                .push((value.clone(), key.clone()));
            let record = ProducerRecord::new(spec.name)
                .partition(partition)
                .key(key.clone())
                .value(value.clone());
            match producer.enqueue(record).await {
                Ok(delivery) => {
                    if tx.send((key, value, delivery)).await.is_err() {
                        break 'load;
                    }
                }
                Err(_) => break 'load,
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(tx);
    // Each delivery fails fast once the broker is gone (connection refused, 2 retries);
    // the bound is only there so a client bug cannot hang the test.
    let _ = tokio::time::timeout(CLIENT_BOUND, acker).await;
    let _ = tokio::time::timeout(CLIENT_BOUND, producer.close()).await;
}

/// The consumer's commits, as it saw them answered.
#[derive(Default)]
struct CommitLog {
    acked: BTreeMap<Tp, Committed>,
    maybe: Vec<(Tp, Committed)>,
    count: u64,
}

fn consumer_config(bootstrap: &str) -> ConsumerConfig {
    let mut c = ConsumerConfig::new(bootstrap, GROUP);
    for (k, v) in [
        ("enable.auto.commit", "false"),
        ("auto.offset.reset", "earliest"),
        ("fetch.max.wait.ms", "50"),
        ("retries", "2"),
        ("retry.backoff.ms", "20"),
        ("request.timeout.ms", "5000"),
    ] {
        c.set(k, v).expect("a consumer setting");
    }
    c
}

/// A group member reading every crash topic, committing after each batch of records
/// (50, or fewer when the stream pauses), and logging each commit's outcome.
async fn consume(bootstrap: String, stop: Arc<AtomicBool>, log: Arc<Mutex<CommitLog>>) {
    let Ok(mut consumer) = Consumer::new(consumer_config(&bootstrap)).await else {
        return;
    };
    let names: Vec<&str> = TOPICS.iter().map(|s| s.name).collect();
    if consumer.subscribe(&names).await.is_err() {
        return;
    }
    let mut positions: BTreeMap<Tp, i64> = BTreeMap::new();
    let mut uncommitted = 0;
    while !stop.load(Ordering::SeqCst) {
        let event = tokio::time::timeout(Duration::from_millis(50), consumer.recv()).await;
        let idle = match event {
            Ok(Ok(ConsumerEvent::Record(r))) => {
                positions.insert((r.topic.clone(), r.partition), r.offset + 1);
                uncommitted += 1;
                false
            }
            Ok(Ok(ConsumerEvent::Revoked(tps))) => {
                for tp in tps {
                    positions.remove(&(tp.topic, tp.partition));
                }
                false
            }
            Ok(Ok(ConsumerEvent::Assigned(_))) => false,
            Ok(Err(_)) => break,
            Err(_) => true,
        };
        if uncommitted >= 50 || (idle && uncommitted > 0) {
            uncommitted = 0;
            // What `commit` sends: the position of every owned partition (handed out, or
            // its start position, which we cannot see).
            let snapshot: Vec<(Tp, Committed)> = consumer
                .assignment()
                .into_iter()
                .map(|TopicPartition { topic, partition }| {
                    let tp = (topic, partition);
                    let v = positions
                        .get(&tp)
                        .map_or(Committed::Unknown, |o| Committed::Known(*o));
                    (tp, v)
                })
                .collect();
            // A commit still waiting after the bound counts as in flight (its outcome unknown).
            let result = tokio::time::timeout(CLIENT_BOUND, consumer.commit()).await;
            let mut log = log.lock().expect("commit log");
            match result {
                Ok(Ok(())) => {
                    log.count += 1;
                    for (tp, v) in snapshot {
                        log.maybe.retain(|(m, _)| *m != tp);
                        log.acked.insert(tp, v);
                    }
                }
                Ok(Err(_)) | Err(_) => log.maybe.extend(snapshot),
            }
        }
    }
    let _ = tokio::time::timeout(CLIENT_BOUND, consumer.close()).await;
}

/// Adds a killed run's acknowledgements to the model. Two acknowledgements of one offset
/// (not freed by a cut of ours) would be the broker handing out an offset twice.
fn record(model: &mut Model, outcome: RunOutcome, ctx: &str) {
    model.sent.extend(outcome.sent);
    for (tp, offset, key, value) in outcome.acks {
        let log = model.acked.entry(tp.clone()).or_default();
        if let Some(old) = log.insert(offset, (key, value.clone())) {
            panic!(
                "{ctx}: {}-{} offset {offset} acknowledged twice: {:?} and {value:?}",
                tp.0, tp.1, old.1
            );
        }
    }
}

// ---------------------------------------------------------------------------------
// Damage between runs, and what the files say the valid prefix is.
// ---------------------------------------------------------------------------------

/// The segment files of a partition directory, by base offset.
fn segments(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == ext))
                .filter(|p| p.file_stem().is_some_and(|s| s.len() == 20))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// The active segment's `.log`: the one with the highest base offset.
fn active_log(data: &Path, tp: &Tp) -> Option<PathBuf> {
    segments(&data.join(format!("{}-{}", tp.0, tp.1)), "log").pop()
}

fn base_of(log: &Path) -> i64 {
    log.file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.parse().ok())
        .expect("a segment named by its base offset")
}

/// Offset after the last whole, valid batch of `bytes` (a segment starting at `base`),
/// and the byte position where that valid prefix ends: recovery's rule, the frames
/// checked (size, magic, CRC-32C) with increasing offsets.
fn valid_prefix(bytes: &[u8], base: i64) -> (i64, usize) {
    let (mut next, mut end) = (base, 0);
    for frame in frames(bytes) {
        let Ok(range) = frame else { break };
        let Ok(h) = check_frame(&bytes[range.clone()]) else {
            break;
        };
        if h.base_offset < next {
            break;
        }
        next = h.last_offset() + 1;
        end = range.end;
    }
    (next, end)
}

/// Each partition's log end offset as recovery must find it: the valid prefix of its
/// active segment.
fn valid_ends(data: &Path) -> BTreeMap<Tp, i64> {
    let mut ends = BTreeMap::new();
    for s in &TOPICS {
        for p in 0..s.partitions {
            let tp = (s.name.to_string(), p);
            if let Some(log) = active_log(data, &tp) {
                let bytes = std::fs::read(&log).expect("read the active segment");
                ends.insert(tp, valid_prefix(&bytes, base_of(&log)).0);
            }
        }
    }
    ends
}

/// What was done to a partition's files between two runs.
#[derive(Debug, Clone, Copy)]
enum Damage {
    /// Bytes appended after the active segment's last batch (the broker must cut them).
    Garbage,
    /// The active segment cut at a random length (what was past the cut is lost, by us).
    CutSegment,
    /// The active segment's offset index cut at a random length.
    CutIndex,
    /// The active segment's time index cut at a random length.
    CutTimeIndex,
}

/// One kind of damage to one partition's active segment, or nothing when the chosen
/// partition has no segment yet.
fn damage(
    rng: &mut StdRng,
    data: &Path,
    model: &mut Model,
    totals: &mut Totals,
) -> Option<(Tp, Damage)> {
    let mut targets: Vec<Tp> = TOPICS
        .iter()
        .flat_map(|s| (0..s.partitions).map(|p| (s.name.to_string(), p)))
        .collect();
    targets.push((OFFSETS_TOPIC.to_string(), 0));
    let tp = targets[rng.random_range(0..targets.len())].clone();
    let log = active_log(data, &tp)?;
    let bytes = std::fs::read(&log).expect("read the active segment");
    let roll = rng.random_range(0..10);
    // Cutting data away is only for topics whose model can forget it exactly (not the
    // compacted ones, where the cleaner may already have dropped the older values).
    let cuttable = tp.0 != OFFSETS_TOPIC && spec(&tp.0).kind != Kind::Compacted;
    if roll < 4 || (!cuttable && roll < 7) {
        append_garbage(rng, &log, &bytes);
        totals.garbage += 1;
        Some((tp, Damage::Garbage))
    } else if roll < 7 {
        let at = rng.random_range(0..=bytes.len());
        std::fs::OpenOptions::new()
            .write(true)
            .open(&log)
            .and_then(|f| f.set_len(at as u64))
            .expect("cut the active segment");
        // Our cut: whatever was past the valid prefix of the cut file is gone, by our hand.
        let (lost_from, _) = valid_prefix(&bytes[..at], base_of(&log));
        if let Some(acked) = model.acked.get_mut(&tp) {
            acked.split_off(&lost_from);
        }
        totals.log_cuts += 1;
        Some((tp, Damage::CutSegment))
    } else {
        let (ext, what) = if rng.random_bool(0.5) {
            ("index", Damage::CutIndex)
        } else {
            ("timeindex", Damage::CutTimeIndex)
        };
        let index = log.with_extension(ext);
        let len = std::fs::metadata(&index).map_or(0, |m| m.len());
        let at = rng.random_range(0..=len);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&index)
            .and_then(|f| f.set_len(at))
            .expect("cut the index");
        totals.index_cuts += 1;
        Some((tp, what))
    }
}

/// Appends one of: random bytes; a batch header whose length runs past the file; zeros
/// (what a preallocated tail looks like); or a copy of the last batch, renumbered to the
/// next offset, with one byte of its records flipped (a torn rewrite: the CRC fails).
fn append_garbage(rng: &mut StdRng, log: &Path, bytes: &[u8]) {
    let garbage: Vec<u8> = match rng.random_range(0..4) {
        0 => (0..rng.random_range(1..300))
            .map(|_| rng.random())
            .collect(),
        1 => {
            let mut g = Vec::new();
            g.extend_from_slice(&valid_prefix(bytes, base_of(log)).0.to_be_bytes());
            g.extend_from_slice(&100_000i32.to_be_bytes());
            g.extend_from_slice(&[0, 0, 0, 0, 2]);
            g.extend((0..rng.random_range(0..100)).map(|_| rng.random::<u8>()));
            g
        }
        2 => vec![0; rng.random_range(1..4096)],
        _ => {
            let (next, end) = valid_prefix(bytes, base_of(log));
            let last = frames(&bytes[..end]).filter_map(Result::ok).last();
            match last {
                Some(r) if r.len() > 62 => {
                    let mut g = bytes[r].to_vec();
                    g[0..8].copy_from_slice(&next.to_be_bytes());
                    let i = rng.random_range(61..g.len());
                    g[i] ^= 0x5a;
                    g
                }
                _ => (0..64).map(|_| rng.random()).collect(),
            }
        }
    };
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(log)
        .and_then(|mut f| f.write_all(&garbage))
        .expect("append garbage");
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
