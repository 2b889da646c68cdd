//! `perf produce`: N producers, each its own client, share `--num-records` and the
//! `--throughput` limit, and every delivery's latency goes into one hdrhistogram.
//!
//! What must stay true:
//! - Latency runs from send to acknowledgement. Under a rate limit it runs from the
//!   *intended* send time (start + i / rate), so a stall that delays later sends shows up in
//!   their latency instead of being hidden (no coordinated omission).
//! - Under a rate limit each record goes out at its intended time to within a few
//!   microseconds, not at the next millisecond tick of tokio's timer: [`pace_until`]
//!   sleeps while more than a tick ahead, then yields until the time comes. Sending in
//!   bursts at each tick would add up to a millisecond to every latency measured.
//! - Records are enqueued without waiting for earlier ones, so `linger.ms` and
//!   `batch.size` batch them as they would in an application.
//! - The run fails if any record is not acknowledged; the summary only counts delivered
//!   records, and the elapsed time runs from the first send to the last acknowledgement.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use hdrhistogram::Histogram;
use minikafka_client::{DeliveryFuture, Producer, ProducerConfig, ProducerRecord};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::broker_cpu;
use super::cli::ProduceArgs;
use super::progress::Progress;
use super::summary::{Latency, Summary};

/// What one producer measured.
struct Outcome {
    delivered: u64,
    latency: Histogram<u64>,
}

/// Runs `perf produce`.
pub async fn run(args: ProduceArgs) -> Result<Summary> {
    let n = u64::from(args.producers);
    let total = args.common.num_records;
    let rate = (args.throughput > 0.0).then_some(args.throughput / n as f64);
    let value = Bytes::from(vec![b'x'; args.record_size]);

    // Every client connects before the clock starts.
    let mut producers = Vec::new();
    for i in 0..args.producers {
        let mut config = ProducerConfig::new(&args.common.bootstrap_server);
        config.client.backend = args.backend;
        config.client.client_id = format!("minikafka-perf-{i}");
        config.acks = args.acks;
        config.linger = Duration::from_millis(args.linger_ms);
        config.batch_size = args.batch_size;
        config.compression = args.compression.into();
        config.max_in_flight = args.max_in_flight as usize;
        let producer = Producer::new(config).await.with_context(|| {
            format!(
                "cannot start producer {i} for {}",
                args.common.bootstrap_server
            )
        })?;
        producers.push(producer);
    }

    let cpu_before = match &args.output.broker_metrics {
        Some(url) => Some(broker_cpu::read(url).await?),
        None => None,
    };
    let done = Arc::new(AtomicU64::new(0));
    let progress = Progress::start(done.clone(), total, "acked");
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (i, producer) in producers.into_iter().enumerate() {
        let share = total / n + u64::from((i as u64) < total % n);
        let (topic, value, done) = (args.common.topic.clone(), value.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let outcome = produce(&producer, &topic, value, share, rate, start, done).await;
            producer.close().await;
            outcome
        }));
    }
    let mut latency = new_histogram();
    let mut delivered = 0;
    let mut failure = None;
    for task in tasks {
        match task.await.context("a producer task panicked")? {
            Ok(o) => {
                delivered += o.delivered;
                latency
                    .add(&o.latency)
                    .context("merging latency histograms")?;
            }
            Err(e) => failure = failure.or(Some(e)),
        }
    }
    let elapsed = start.elapsed();
    progress.finish().await;
    if let Some(e) = failure {
        return Err(e);
    }

    let mut summary = Summary::new(
        "produce",
        delivered,
        delivered * args.record_size as u64,
        elapsed,
    );
    let from = if rate.is_some() { "intended" } else { "send" };
    summary.latency = Some(Latency::from_micros(&latency, from));
    if let (Some(url), Some(before)) = (&args.output.broker_metrics, cpu_before) {
        let after = broker_cpu::read(url).await?;
        summary.broker_cpu_ms_per_million =
            Some(broker_cpu::ms_per_million(before, after, delivered));
    }
    Ok(summary)
}

/// One producer's share: enqueue `count` records (paced by `rate` per second if set) while
/// a second task awaits their deliveries as they complete.
async fn produce(
    producer: &Producer,
    topic: &str,
    value: Bytes,
    count: u64,
    rate: Option<f64>,
    start: Instant,
    done: Arc<AtomicU64>,
) -> Result<Outcome> {
    let (tx, rx) = mpsc::unbounded_channel();
    let collector = tokio::spawn(collect(rx, done));
    for i in 0..count {
        let intended = match rate {
            Some(r) => {
                let at = start + Duration::from_secs_f64(i as f64 / r);
                pace_until(at).await;
                at
            }
            None => Instant::now(),
        };
        let record = ProducerRecord::new(topic).value(value.clone());
        let delivery = producer
            .enqueue(record)
            .await
            .with_context(|| format!("enqueueing record {i} for {topic}"))?;
        if tx.send((intended, delivery)).is_err() {
            break; // the collector stopped on a failed delivery; it reports it
        }
    }
    drop(tx);
    producer.flush().await;
    collector.await.context("the delivery collector panicked")?
}

/// Awaits deliveries in send order, timing each from its start.
///
/// In send order, not as each completes: a broker answers one connection's requests in
/// order, and one answer settles every batch of a request at once, so a delivery is timed at
/// most one answer late, and the collector needs no future per record (a
/// `FuturesUnordered` here cost more than the producer itself).
async fn collect(
    mut rx: mpsc::UnboundedReceiver<(Instant, DeliveryFuture)>,
    done: Arc<AtomicU64>,
) -> Result<Outcome> {
    let mut latency = new_histogram();
    let mut delivered = 0;
    while let Some((from, delivery)) = rx.recv().await {
        if let Err(e) = delivery.await {
            bail!("a record was not delivered after {delivered} were: {e}");
        }
        let micros = from.elapsed().as_micros();
        latency.saturating_record(u64::try_from(micros).unwrap_or(u64::MAX).max(1));
        delivered += 1;
        done.fetch_add(1, Ordering::Relaxed);
    }
    Ok(Outcome { delivered, latency })
}

/// Wait until `at`: tokio's timer for all but the last tick (1 ms), then `yield_now` until
/// the time comes, so other tasks run meanwhile.
pub(super) async fn pace_until(at: Instant) {
    const TICK: Duration = Duration::from_millis(1);
    if let Some(early) = at.checked_sub(TICK) {
        if Instant::now() < early {
            tokio::time::sleep_until(early).await;
        }
    }
    while Instant::now() < at {
        tokio::task::yield_now().await;
    }
}

/// Microseconds from 1 µs to an hour, 3 significant digits.
pub(super) fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds and precision")
}
