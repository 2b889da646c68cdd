//! The load of one run of the transactional crash test: transactional producers
//! (committing most transactions, aborting some, each with a TxnOffsetCommit) and
//! `read_committed` readers on every partition, until the broker is SIGKILLed; then what
//! each client saw.
//!
//! Flow: `load_then_kill` → `transact` ×[`PRODUCERS`] and `watch` per partition on the
//! child broker → SIGKILL → every task ends (each wait bounded) → [`RunOutcome`].
//!
//! What must stay true:
//! - a transaction's outcome is `Committed` or `Aborted` only if `commit_transaction` or
//!   `abort_transaction` returned Ok; anything cut short is `Unknown`, and the check
//!   decides it from the log (its records all visible, or none);
//! - every value is recorded in its transaction before it is sent, so any record read
//!   back can be traced to one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use minikafka_client::{
    ConsumerGroupMetadata, IsolationLevel, Offset, PartitionReader, Producer, ProducerConfig,
    ProducerRecord, ReaderConfig,
};
use minikafka_testkit::child_broker::ChildBroker;
use minikafka_testkit::within;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{Outcome, Tp, Txn, GROUP, INPUT_TOPIC, PRODUCERS, TOPICS, TXN_TIMEOUT_MS};

/// How long a client call may take before we stop waiting for it (after the kill they
/// fail within a few seconds: connection refused, 2 retries). Not an assertion: a call
/// cut short only makes an outcome unknown.
const CLIENT_BOUND: Duration = Duration::from_secs(20);

/// What one killed run did.
#[derive(Default)]
pub struct RunOutcome {
    /// Every transaction begun, in order per producer.
    pub txns: Vec<Txn>,
    /// Every value a `read_committed` reader was handed during the run.
    pub seen_committed: Vec<(Tp, i64, String)>,
}

/// Loads the broker, SIGKILLs it after `delay`, waits for every task to end.
/// `next_offset[p]` is the next input offset producer `p` commits (it keeps growing
/// across runs, so the group's committed offset names one transaction).
/// With `in_commit`, the kill comes that long after a producer starts its next
/// `commit_transaction` once `delay` has passed: inside EndTxn (the PrepareCommit
/// record, the markers, CompleteCommit), where a uniform delay seldom lands.
pub async fn load_then_kill(
    broker: &mut ChildBroker,
    run: u64,
    seed: u64,
    delay: Duration,
    in_commit: Option<Duration>,
    next_offset: &[i64; PRODUCERS],
) -> RunOutcome {
    let bootstrap = broker.bootstrap();
    let shared = Arc::new(Shared::default());
    let mut tasks = Vec::new();
    for (p, first) in next_offset.iter().enumerate() {
        let rng = StdRng::seed_from_u64(seed ^ (run << 8) ^ p as u64);
        tasks.push(tokio::spawn(transact(
            bootstrap.clone(),
            p,
            run,
            *first,
            rng,
            shared.clone(),
        )));
    }
    for (topic, partitions, _) in TOPICS {
        for partition in 0..partitions {
            tasks.push(tokio::spawn(watch(
                bootstrap.clone(),
                (topic.to_string(), partition),
                shared.clone(),
            )));
        }
    }
    tokio::time::sleep(delay).await;
    if let Some(after) = in_commit {
        shared.armed.store(true, Ordering::SeqCst);
        // Bounded: if no commit starts (a producer stuck), the kill comes anyway.
        let _ =
            tokio::time::timeout(Duration::from_secs(5), shared.commit_started.notified()).await;
        spin(after);
    }
    tokio::task::block_in_place(|| broker.kill9());
    shared.stop.store(true, Ordering::SeqCst);
    for t in tasks {
        within("a client task ends after the kill", t)
            .await
            .expect("a client task panicked");
    }
    let outcome = std::mem::take(&mut *shared.out.lock().expect("outcome"));
    outcome
}

/// What the tasks of one run share.
#[derive(Default)]
struct Shared {
    /// Set at the kill: every task ends.
    stop: AtomicBool,
    out: Mutex<RunOutcome>,
    /// Once armed, the next producer to start a `commit_transaction` signals it.
    armed: AtomicBool,
    commit_started: tokio::sync::Notify,
}

/// Waits `d` without yielding to the scheduler (sub-millisecond precision).
fn spin(d: Duration) {
    let until = std::time::Instant::now() + d;
    while std::time::Instant::now() < until {
        std::hint::spin_loop();
    }
}

fn producer_config(bootstrap: &str, p: usize) -> ProducerConfig {
    let mut c = ProducerConfig::new(bootstrap);
    for (k, v) in [
        ("transactional.id", format!("crash-txn-{p}").as_str()),
        ("transaction.timeout.ms", &TXN_TIMEOUT_MS.to_string()),
        ("linger.ms", "2"),
        ("retries", "2"),
        ("retry.backoff.ms", "20"),
        ("request.timeout.ms", "2000"),
        ("max.block.ms", "2000"),
    ] {
        c.set(k, v).expect("a producer setting");
    }
    c
}

/// A transactional producer, ready (`init_transactions` done), or None if the broker
/// could not be reached in time (killed first).
async fn ready(bootstrap: &str, p: usize) -> Option<Producer> {
    let producer = tokio::time::timeout(CLIENT_BOUND, Producer::new(producer_config(bootstrap, p)))
        .await
        .ok()?
        .ok()?;
    tokio::time::timeout(CLIENT_BOUND, producer.init_transactions())
        .await
        .ok()?
        .ok()?;
    Some(producer)
}

/// Producer `p`: transactions of 1 to 5 records over the topics' partitions, each with
/// the input offset it "consumed" up to, committed 7 times in 10 and aborted otherwise,
/// until `stop`.
async fn transact(
    bootstrap: String,
    p: usize,
    run: u64,
    mut offset: i64,
    mut rng: StdRng,
    shared: Arc<Shared>,
) {
    let Some(mut producer) = ready(&bootstrap, p).await else {
        return;
    };
    let group = ConsumerGroupMetadata::for_group(GROUP);
    let mut n = 0u64;
    while !shared.stop.load(Ordering::SeqCst) {
        let id = format!("p{p}-r{run}-t{n}");
        n += 1;
        let commit = rng.random_bool(0.7);
        let count = rng.random_range(1..=5);
        let mut txn = Txn {
            producer: p,
            input_offset: offset,
            sent: Vec::new(),
            acked: Vec::new(),
            commit,
            outcome: Outcome::Unknown,
        };
        offset += 1;
        let targets: Vec<Tp> = (0..count)
            .map(|_| {
                let (topic, partitions, _) = TOPICS[rng.random_range(0..TOPICS.len())];
                (topic.to_string(), rng.random_range(0..partitions))
            })
            .collect();
        let result = one(&producer, &id, &targets, &group, &shared, &mut txn).await;
        let failed = result.is_err();
        if let Ok(outcome) = result {
            txn.outcome = outcome;
        }
        shared.out.lock().expect("outcome").txns.push(txn);
        if failed {
            if shared.stop.load(Ordering::SeqCst) {
                break;
            }
            // Before the kill: the transaction timed out on the broker (a slow fsync),
            // which fenced this producer. A new one takes over the id and goes on.
            eprintln!("crash_kill9_txn: {id} failed before the kill; starting over");
            producer.close().await;
            let Some(again) = ready(&bootstrap, p).await else {
                break;
            };
            producer = again;
        }
    }
    tokio::time::timeout(CLIENT_BOUND, producer.close())
        .await
        .ok();
}

/// One transaction: begin, send to `targets`, wait for the acks, add the offsets, end.
async fn one(
    producer: &Producer,
    id: &str,
    targets: &[Tp],
    group: &ConsumerGroupMetadata,
    shared: &Shared,
    txn: &mut Txn,
) -> Result<Outcome, ()> {
    bounded(producer.begin_transaction()).await?;
    let mut deliveries = Vec::new();
    for (j, (topic, partition)) in targets.iter().enumerate() {
        let value = format!("{id}/{j}");
        txn.sent.push(value.clone());
        let record = ProducerRecord::new(topic)
            .partition(*partition)
            .key(id.to_string())
            .value(value.clone());
        deliveries.push((value, bounded(producer.enqueue(record)).await?));
    }
    for (value, delivery) in deliveries {
        let meta = bounded(delivery).await?;
        txn.acked
            .push(((meta.topic.clone(), meta.partition), meta.offset, value));
    }
    let offsets = [(
        INPUT_TOPIC.to_string(),
        txn.producer as i32,
        txn.input_offset,
    )];
    bounded(producer.send_offsets_to_transaction(&offsets, group)).await?;
    if txn.commit {
        if shared.armed.swap(false, Ordering::SeqCst) {
            shared.commit_started.notify_one();
        }
        bounded(producer.commit_transaction()).await?;
        Ok(Outcome::Committed)
    } else {
        bounded(producer.abort_transaction()).await?;
        Ok(Outcome::Aborted)
    }
}

/// A client call, bounded; any error or a timeout is `Err(())`.
async fn bounded<T, E>(f: impl std::future::Future<Output = Result<T, E>>) -> Result<T, ()> {
    match tokio::time::timeout(CLIENT_BOUND, f).await {
        Ok(Ok(v)) => Ok(v),
        _ => Err(()),
    }
}

/// A `read_committed` reader of `tp` from the earliest offset, until `stop` or an error
/// (the kill): every record it is handed is recorded.
async fn watch(bootstrap: String, tp: Tp, shared: Arc<Shared>) {
    let mut config = ReaderConfig::new(&bootstrap);
    config.isolation_level = IsolationLevel::ReadCommitted;
    config.fetch_max_wait = Duration::from_millis(100);
    let assign = PartitionReader::assign(config, &tp.0, tp.1, Offset::Earliest);
    let Ok(Ok(mut reader)) = tokio::time::timeout(CLIENT_BOUND, assign).await else {
        return;
    };
    while !shared.stop.load(Ordering::SeqCst) {
        match tokio::time::timeout(Duration::from_millis(200), reader.next()).await {
            Ok(Ok(r)) => {
                let value = String::from_utf8_lossy(&r.value.unwrap_or_default()).into_owned();
                shared.out.lock().expect("outcome").seen_committed.push((
                    tp.clone(),
                    r.offset,
                    value,
                ));
            }
            Ok(Err(_)) => break,
            Err(_) => {}
        }
    }
}
