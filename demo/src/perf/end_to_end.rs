//! `perf end-to-end`: produce-to-consume latency at a fixed rate. One producer sends
//! `--num-records` at `--throughput` records/s; partition readers (one per partition, all
//! starting at the end offsets taken before the first send) receive them; each record's
//! latency, receive time minus intended send time, goes into one hdrhistogram.
//!
//! What must stay true:
//! - A record's value opens with its intended send time (8 bytes, big-endian nanoseconds
//!   since the run's start `Instant`, shared by producer and readers in this process); the
//!   rest is padding, so `--record-size` is at least 8.
//! - Latency runs from the *intended* send time (start + i / rate), so a stall that delays
//!   later sends shows up in their latency (no coordinated omission). It includes the
//!   producer's linger and batching, the broker's append and the readers' fetch wait.
//! - The run fails, never hangs, when no record arrives for `--timeout-ms`, when a record is
//!   not delivered, or when a reader fails; it never prints a summary that looks like
//!   success. A missing topic is created with `--partitions` before anything is timed.
//! - The elapsed time runs from the first intended send to the last record received.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bytes::{BufMut, Bytes, BytesMut};
use minikafka_client::{
    Admin, ClientConfig, DeliveryFuture, Offset, PartitionReader, Producer, ProducerConfig,
    ProducerRecord, ReaderConfig,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::broker_cpu;
use super::cli::EndToEndArgs;
use super::consume::partitions_of;
use super::produce::new_histogram;
use super::progress::Progress;
use super::summary::{Latency, Summary};

/// Runs `perf end-to-end`.
pub async fn run(args: EndToEndArgs) -> Result<Summary> {
    let bootstrap = &args.common.bootstrap_server;
    let topic = args.common.topic.clone();
    let total = args.common.num_records;

    // Connect everything and learn each partition's end before the clock starts.
    let mut config = ProducerConfig::new(bootstrap);
    config.client.backend = args.backend;
    config.client.client_id = "minikafka-perf-e2e-producer".into();
    config.acks = args.acks;
    config.linger = Duration::from_millis(args.linger_ms);
    let producer = Producer::new(config)
        .await
        .with_context(|| format!("cannot start the producer for {bootstrap}"))?;
    let mut reader_config = ReaderConfig::new(bootstrap);
    reader_config.client.backend = args.backend;
    reader_config.client.client_id = "minikafka-perf-e2e-reader".into();
    let partitions = ensure_topic(reader_config.client.clone(), &topic, args.partitions).await?;
    let mut readers = Vec::new();
    for p in partitions {
        let reader = PartitionReader::assign(reader_config.clone(), &topic, p, Offset::Latest)
            .await
            .with_context(|| format!("cannot read {topic}-{p} from {bootstrap}"))?;
        readers.push(reader);
    }

    let cpu_before = match &args.output.broker_metrics {
        Some(url) => Some(broker_cpu::read(url).await?),
        None => None,
    };
    let done = Arc::new(AtomicU64::new(0));
    let progress = Progress::start(done.clone(), total, "received");
    let start = Instant::now();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let reading: Vec<JoinHandle<()>> = readers
        .into_iter()
        .map(|reader| tokio::spawn(read(reader, start, tx.clone())))
        .collect();
    drop(tx);
    let mut sending = tokio::spawn(send(
        producer,
        topic.clone(),
        args.record_size,
        total,
        args.throughput,
        start,
    ));

    let timeout = Duration::from_millis(args.timeout_ms);
    let mut latency = new_histogram();
    let mut received = 0;
    let mut sent = false;
    let mut elapsed = Duration::ZERO;
    let outcome = async {
        while received < total {
            tokio::select! {
                // A failed send explains the missing records better than the timeout would.
                result = &mut sending, if !sent => {
                    result.context("the producer task panicked")?.context("producing")?;
                    sent = true;
                }
                next = tokio::time::timeout(timeout, rx.recv()) => {
                    let micros = next
                        .with_context(|| {
                            format!(
                                "{received} of {total} records arrived, then none for \
                                 {timeout:?} (--timeout-ms)"
                            )
                        })?
                        .context("every reader stopped")??;
                    latency.saturating_record(micros.max(1));
                    received += 1;
                    elapsed = start.elapsed();
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if !sent {
            (&mut sending)
                .await
                .context("the producer task panicked")?
                .context("producing")?;
        }
        anyhow::Ok(())
    }
    .await;
    progress.finish().await;
    for task in &reading {
        task.abort();
    }
    sending.abort();
    outcome.with_context(|| format!("end-to-end on {topic}"))?;

    let mut summary = Summary::new(
        "end-to-end",
        received,
        received * args.record_size as u64,
        elapsed,
    );
    summary.latency = Some(Latency::from_micros(&latency, "intended"));
    if let (Some(url), Some(before)) = (&args.output.broker_metrics, cpu_before) {
        let after = broker_cpu::read(url).await?;
        summary.broker_cpu_ms_per_million =
            Some(broker_cpu::ms_per_million(before, after, received));
    }
    Ok(summary)
}

/// The partition ids of `topic`, creating it with `partitions` partitions if it is missing.
async fn ensure_topic(client: ClientConfig, topic: &str, partitions: i32) -> Result<Vec<i32>> {
    let bootstrap = client.bootstrap_servers.join(",");
    let admin = Admin::new(client.clone())
        .await
        .with_context(|| format!("cannot reach {bootstrap}"))?;
    let cluster = admin.describe_topics(&[topic]).await?;
    let exists = cluster
        .topics
        .iter()
        .any(|t| t.name == topic && !t.partitions.is_empty());
    if !exists {
        admin
            .create_topic(topic, partitions)
            .await
            .with_context(|| format!("cannot create topic {topic}"))?;
    }
    partitions_of(client, topic).await
}

/// Sends `count` records paced at `rate` per second, each stamped with its intended send
/// time, and waits for every delivery.
async fn send(
    producer: Producer,
    topic: String,
    record_size: usize,
    count: u64,
    rate: f64,
    start: Instant,
) -> Result<()> {
    let (tx, mut rx) = mpsc::unbounded_channel::<DeliveryFuture>();
    let collector = tokio::spawn(async move {
        let mut delivered = 0u64;
        while let Some(delivery) = rx.recv().await {
            if let Err(e) = delivery.await {
                bail!("a record was not delivered after {delivered} were: {e}");
            }
            delivered += 1;
        }
        anyhow::Ok(())
    });
    let padding = record_size - 8;
    for i in 0..count {
        let at = start + Duration::from_secs_f64(i as f64 / rate);
        super::produce::pace_until(at).await;
        let nanos = u64::try_from((at - start).as_nanos()).unwrap_or(u64::MAX);
        let mut value = BytesMut::with_capacity(record_size);
        value.put_u64(nanos);
        value.put_bytes(b'x', padding);
        let record = ProducerRecord::new(&topic).value(value.freeze());
        let delivery = producer
            .enqueue(record)
            .await
            .with_context(|| format!("enqueueing record {i}"))?;
        if tx.send(delivery).is_err() {
            break; // the collector stopped on a failed delivery; it reports it
        }
    }
    drop(tx);
    producer.flush().await;
    let outcome = collector.await.context("the delivery collector panicked")?;
    producer.close().await;
    outcome
}

/// Reads one partition until aborted, sending each record's latency in microseconds (or
/// the error that stopped it).
async fn read(mut reader: PartitionReader, start: Instant, tx: mpsc::UnboundedSender<Result<u64>>) {
    loop {
        let latency = match reader.next().await {
            Ok(record) => stamp(record.value.as_ref()).map(|sent| {
                let now = start.elapsed().as_nanos();
                let micros = now.saturating_sub(u128::from(sent)) / 1000;
                u64::try_from(micros).unwrap_or(u64::MAX)
            }),
            Err(e) => Err(anyhow::Error::new(e).context("a partition reader failed")),
        };
        let failed = latency.is_err();
        if tx.send(latency).is_err() || failed {
            return;
        }
    }
}

/// The intended send time a record's value opens with.
fn stamp(value: Option<&Bytes>) -> Result<u64> {
    match value {
        Some(v) if v.len() >= 8 => {
            let mut head = [0; 8];
            head.copy_from_slice(&v[..8]);
            Ok(u64::from_be_bytes(head))
        }
        _ => bail!("a record without a send time (was something else writing to the topic?)"),
    }
}
