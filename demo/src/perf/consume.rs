//! `perf consume`: read `--num-records` from the beginning of a topic, with partition
//! readers (one per partition, all at once) or as one member of a consumer group.
//!
//! What must stay true:
//! - Reading starts at the earliest offset: reader mode asks for it, group mode uses a
//!   fresh group (unless `--group` names one) with `auto.offset.reset=earliest` and commits
//!   nothing.
//! - Reader mode checks first that the partitions hold enough records, and fails at once if
//!   not; both modes fail when no record arrives for `--timeout-ms`, rather than hang. A
//!   watchdog ([`stalled`]) looks at the count of records read once per `--timeout-ms`, so
//!   a stall is reported after one to two timeouts; no timer is set per record, which
//!   cost more than reading the record.
//! - Bytes counted are each record's key plus value.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use minikafka_client::{
    Admin, Consumer, ConsumerConfig, ConsumerEvent, ConsumerRecord, Offset, PartitionReader,
    ReaderConfig,
};
use tokio::time::Instant;

use super::broker_cpu;
use super::cli::{ConsumeArgs, Mode};
use super::progress::Progress;
use super::summary::Summary;

/// Runs `perf consume`.
pub async fn run(args: ConsumeArgs) -> Result<Summary> {
    let cpu_before = match &args.output.broker_metrics {
        Some(url) => Some(broker_cpu::read(url).await?),
        None => None,
    };
    let done = Arc::new(AtomicU64::new(0));
    let (records, bytes, elapsed) = match args.mode {
        Mode::Reader => readers(&args, done).await?,
        Mode::Group => group(&args, done).await?,
    };
    let mut summary = Summary::new("consume", records, bytes, elapsed);
    if let (Some(url), Some(before)) = (&args.output.broker_metrics, cpu_before) {
        let after = broker_cpu::read(url).await?;
        summary.broker_cpu_ms_per_million =
            Some(broker_cpu::ms_per_million(before, after, records));
    }
    Ok(summary)
}

fn size(r: &ConsumerRecord) -> u64 {
    (r.key.as_ref().map_or(0, |k| k.len()) + r.value.as_ref().map_or(0, |v| v.len())) as u64
}

/// Reader mode: (records, bytes, elapsed).
async fn readers(args: &ConsumeArgs, done: Arc<AtomicU64>) -> Result<(u64, u64, Duration)> {
    let bootstrap = &args.common.bootstrap_server;
    let topic = &args.common.topic;
    let mut config = ReaderConfig::new(bootstrap);
    config.client.backend = args.backend;
    config.client.client_id = "minikafka-perf-reader".into();
    let partitions = match args.partition {
        Some(p) => vec![p],
        None => partitions_of(config.client.clone(), topic).await?,
    };

    // Open every reader at the start, and learn each partition's end, before timing.
    let mut wanted = args.common.num_records;
    let mut plans = Vec::new();
    let mut available = 0;
    for p in partitions {
        let end = PartitionReader::assign(config.clone(), topic, p, Offset::Latest)
            .await
            .with_context(|| format!("cannot read {topic}-{p} from {bootstrap}"))?
            .position();
        let reader = PartitionReader::assign(config.clone(), topic, p, Offset::Earliest).await?;
        let holds = (end - reader.position()).max(0) as u64;
        available += holds;
        let take = holds.min(wanted);
        wanted -= take;
        if take > 0 {
            plans.push((reader, take));
        }
    }
    if wanted > 0 {
        bail!(
            "{topic} holds {available} records from the beginning; asked for {}",
            args.common.num_records
        );
    }

    let timeout = Duration::from_millis(args.timeout_ms);
    let progress = Progress::start(done.clone(), args.common.num_records, "read");
    let start = Instant::now();
    let tasks: Vec<_> = plans
        .into_iter()
        .map(|(mut reader, take)| {
            let done = done.clone();
            tokio::spawn(async move {
                let mut bytes = 0;
                for _ in 0..take {
                    let record = reader.next().await?;
                    bytes += size(&record);
                    done.fetch_add(1, Ordering::Relaxed);
                }
                anyhow::Ok((take, bytes))
            })
        })
        .collect();
    let aborts: Vec<_> = tasks.iter().map(|t| t.abort_handle()).collect();
    let (mut records, mut bytes) = (0, 0);
    let mut failure = None;
    let joined = async {
        for task in tasks {
            match task.await.context("a reader task panicked")? {
                Ok((r, b)) => (records, bytes) = (records + r, bytes + b),
                Err(e) => failure = failure.take().or(Some(e)),
            }
        }
        anyhow::Ok(())
    };
    tokio::select! {
        joined = joined => joined?,
        read = stalled(&done, timeout) => {
            aborts.iter().for_each(|a| a.abort());
            bail!("no record arrived for {timeout:?} after {read} (--timeout-ms)");
        }
    }
    let elapsed = start.elapsed();
    progress.finish().await;
    match failure {
        Some(e) => Err(e.context(format!("reading {topic}"))),
        None => Ok((records, bytes, elapsed)),
    }
}

/// Resolves, with the count read so far, once `done` has not moved for a whole `timeout`
/// (checked every `timeout`): the watchdog of both modes.
async fn stalled(done: &AtomicU64, timeout: Duration) -> u64 {
    let mut seen = done.load(Ordering::Relaxed);
    loop {
        tokio::time::sleep(timeout).await;
        let now = done.load(Ordering::Relaxed);
        if now == seen {
            return now;
        }
        seen = now;
    }
}

/// The partition ids of `topic`, or an error naming why there are none.
pub(super) async fn partitions_of(
    client: minikafka_client::ClientConfig,
    topic: &str,
) -> Result<Vec<i32>> {
    let bootstrap = client.bootstrap_servers.join(",");
    let admin = Admin::new(client)
        .await
        .with_context(|| format!("cannot reach {bootstrap}"))?;
    let cluster = admin.describe_topics(&[topic]).await?;
    let found = cluster.topics.into_iter().find(|t| t.name == topic);
    match found {
        Some(t) if t.error.is_none() && !t.partitions.is_empty() => {
            Ok(t.partitions.iter().map(|p| p.id).collect())
        }
        Some(t) => bail!("topic {topic} cannot be read: {:?}", t.error),
        None => bail!("topic {topic} does not exist"),
    }
}

/// Group mode: (records, bytes, elapsed), timed from the first assignment.
async fn group(args: &ConsumeArgs, done: Arc<AtomicU64>) -> Result<(u64, u64, Duration)> {
    let bootstrap = &args.common.bootstrap_server;
    let topic = &args.common.topic;
    let group = args.group.clone().unwrap_or_else(|| {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("perf-consumer-{}-{nanos}", std::process::id())
    });
    let mut config = ConsumerConfig::new(bootstrap, &group);
    config.client.backend = args.backend;
    config.client.client_id = "minikafka-perf-consumer".into();
    config.enable_auto_commit = false;
    let mut consumer = Consumer::new(config)
        .await
        .with_context(|| format!("cannot start the group consumer for {bootstrap}"))?;
    consumer.subscribe(&[topic]).await?;

    let timeout = Duration::from_millis(args.timeout_ms);
    let total = args.common.num_records;
    let progress = Progress::start(done.clone(), total, "read");
    let mut start = None;
    let (mut records, mut bytes) = (0, 0);
    let reading = async {
        while records < total {
            match consumer.recv().await? {
                ConsumerEvent::Assigned(_) => {
                    start.get_or_insert_with(Instant::now);
                }
                ConsumerEvent::Revoked(_) => {}
                ConsumerEvent::Record(r) => {
                    start.get_or_insert_with(Instant::now);
                    records += 1;
                    bytes += size(&r);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        anyhow::Ok(())
    };
    tokio::select! {
        read = reading => read?,
        read = stalled(&done, timeout) => {
            bail!("no record arrived for {timeout:?} after {read} (--timeout-ms)");
        }
    }
    let elapsed = start.map_or(Duration::ZERO, |s| s.elapsed());
    progress.finish().await;
    consumer.close().await?;
    Ok((records, bytes, elapsed))
}
