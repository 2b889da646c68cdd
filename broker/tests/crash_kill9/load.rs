//! The load of one crash-test run: a producer per topic (acks=all, bursts to every
//! partition) and a group consumer committing after each batch, until the broker is
//! SIGKILLed; then what each client saw acknowledged.
//!
//! Flow: `load_then_kill` → `produce` ×4 and `consume` on the child broker → SIGKILL →
//! every client task ends (each wait bounded) → `RunOutcome` and the commit log.
//!
//! What must stay true:
//! - a record counts as acknowledged only if its delivery future returned its offset; a
//!   commit only if `Consumer::commit` returned Ok. A commit that failed or was cut short
//!   is "maybe": it may have been stored, and the check allows it;
//! - every value sent is recorded before it is sent, so any record read back can be told
//!   from garbage.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use minikafka_client::{
    Consumer, ConsumerConfig, ConsumerEvent, DeliveryFuture, Producer, ProducerConfig,
    ProducerRecord, TopicPartition,
};
use minikafka_testkit::child_broker::ChildBroker;
use minikafka_testkit::within;

use super::{Committed, Kind, Model, Spec, Tp, GROUP, TOPICS};

/// How long a client call may take after the kill before we stop waiting for it. Not an
/// assertion: a call cut short counts as "outcome unknown", which the checks allow.
const CLIENT_BOUND: Duration = Duration::from_secs(20);

/// What one killed run produced.
#[derive(Default)]
pub struct RunOutcome {
    pub sent: Vec<(String, String)>,
    pub acks: Vec<(Tp, i64, String, String)>,
    pub commits: u64,
}

/// Loads the broker, SIGKILLs it after `delay`, waits for every client to finish (each
/// wait bounded), and returns what was acknowledged. The commits are applied to `model`
/// as they are acknowledged.
pub async fn load_then_kill(
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
    let connect = Producer::new(producer_config(&bootstrap));
    let Ok(Ok(producer)) = tokio::time::timeout(CLIENT_BOUND, connect).await else {
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
            match tokio::time::timeout(CLIENT_BOUND, producer.enqueue(record)).await {
                Ok(Ok(delivery)) => {
                    if tx.send((key, value, delivery)).await.is_err() {
                        break 'load;
                    }
                }
                Ok(Err(_)) | Err(_) => break 'load,
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(tx);
    // Each delivery fails fast once the broker is gone (connection refused, 2 retries);
    // the bound is only there so a client bug cannot hang the test.
    let abort = acker.abort_handle();
    if tokio::time::timeout(CLIENT_BOUND, acker).await.is_err() {
        abort.abort(); // deliveries still unanswered: their outcome stays unknown
    }
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
    let connect = Consumer::new(consumer_config(&bootstrap));
    let Ok(Ok(mut consumer)) = tokio::time::timeout(CLIENT_BOUND, connect).await else {
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
pub fn record(model: &mut Model, outcome: RunOutcome, ctx: &str) {
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
