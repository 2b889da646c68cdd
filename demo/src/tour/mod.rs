//! The guided tour (`cargo run --release -p minikafka-demo --bin tour`): a broker embedded
//! in this process, the classroom's producer and consumers around it, and nine chapters
//! that each show what the clients saw and, read in-process, what happened inside the
//! broker, naming the file and function that did the work.
//!
//! Flow: producer → partitioner → wire → server → partition log → segment → fetch →
//! consumer, all in one process (chapter 4 adds one consumer in a child process, so it can
//! be killed for real). The broker's inside is read directly: its state through
//! `BrokerHandle::snapshot`, its files through `minikafka_broker::inspect`.
//!
//! What must stay true:
//! - The tour runs to the end without input (unless `--step`), exits 0 and takes well
//!   under a minute; `demo/tests/tour.rs` runs it in CI.
//! - Every chapter sets up what it needs, so `--chapter N` works alone.
//! - Every code reference printed comes from [`refs`], which `demo/tests/docs_refs.rs`
//!   checks against the source.
//! - The timings set here are the only ones the chapters rely on, and the tour prints
//!   them at the start.
//!
//! Files: [`out`] (printing), [`refs`] (code references), [`clients`] (producer and group
//! members), then one file per chapter, in order.

mod broadcast;
pub mod clients;
mod compaction;
mod consumer_group;
mod load_balancing;
mod log_on_disk;
pub mod out;
mod partitioning;
mod persistence;
pub mod refs;
mod segments;
mod transactions;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use minikafka_broker::log::partition_log::CleanReport;
use minikafka_broker::snapshot::{GroupView, PartitionView, Snapshot};
use minikafka_broker::{Broker, BrokerHandle, Config};
use minikafka_client::{ConsumerConfig, ProducerConfig};

use out::Out;

/// The topic of the classroom.
pub const TOPIC: &str = "demo-topic";
/// `session.timeout.ms` of every consumer in the tour (Kafka's default: 45 s).
pub const SESSION_TIMEOUT: Duration = Duration::from_millis(3000);
/// `heartbeat.interval.ms` of every consumer in the tour (Kafka's default: 3 s).
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(500);
/// The broker's `group.min.session.timeout.ms` (Kafka's default: 6 s), low enough for
/// [`SESSION_TIMEOUT`].
pub const MIN_SESSION_TIMEOUT: Duration = Duration::from_millis(1000);
/// The broker's `group.initial.rebalance.delay.ms` (Kafka's default: 3 s).
pub const INITIAL_REBALANCE_DELAY: Duration = Duration::from_millis(300);
/// The broker's `log.retention.check.interval.ms` (Kafka's default: 5 minutes).
pub const RETENTION_CHECK_INTERVAL: Duration = Duration::from_millis(500);
/// The broker's `index.interval.bytes` (Kafka's default: 4096), so a few small batches
/// already get index entries.
pub const INDEX_INTERVAL_BYTES: u32 = 128;
/// The broker's `log.cleaner.backoff.ms` (Kafka's default: 15 s): long, so the log
/// cleaner never runs on its own; chapter 8 runs each pass with
/// `BrokerHandle::clean_now`, so its before and after are exactly one pass apart.
pub const LOG_CLEANER_BACKOFF: Duration = Duration::from_secs(3600);

/// The chapters, in order: their titles.
pub const CHAPTERS: [&str; 9] = [
    partitioning::TITLE,
    log_on_disk::TITLE,
    consumer_group::TITLE,
    load_balancing::TITLE,
    broadcast::TITLE,
    persistence::TITLE,
    segments::TITLE,
    compaction::TITLE,
    transactions::TITLE,
];

/// `tour`'s command line.
#[derive(Debug, clap::Parser)]
#[command(
    name = "tour",
    about = "A guided tour of Kafka's internals on an embedded minikafka broker"
)]
pub struct Args {
    /// Pause after each chapter until Enter is pressed.
    #[arg(long)]
    pub step: bool,
    /// Run only chapter N (1 to 9); it sets up what it needs.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=9))]
    pub chapter: Option<u8>,
    /// Keep the broker's data in DIR (new or empty) for `minikafka-broker inspect`.
    #[arg(long, value_name = "DIR")]
    pub keep_data: Option<PathBuf>,
    /// Internal: chapter 4's member that gets killed.
    #[command(subcommand)]
    pub internal: Option<Internal>,
}

/// What the tour runs in a child process.
#[derive(Debug, clap::Subcommand)]
pub enum Internal {
    /// One group member in its own process, printing each assignment (chapter 4 kills it).
    #[command(hide = true)]
    Member {
        #[arg(long)]
        bootstrap: String,
        #[arg(long)]
        topic: String,
        #[arg(long)]
        group: String,
    },
}

/// Runs the tour (or its internal child member).
pub async fn run(args: Args) -> Result<()> {
    if let Some(Internal::Member {
        bootstrap,
        topic,
        group,
    }) = args.internal
    {
        return clients::child_member(&bootstrap, &topic, &group).await;
    }
    let mut tour = Tour::start(args.keep_data.as_deref()).await?;
    let chapters: Vec<usize> = match args.chapter {
        Some(n) => vec![usize::from(n)],
        None => (1..=CHAPTERS.len()).collect(),
    };
    // Ctrl+C stops the broker cleanly (and removes the temporary data dir) too.
    let outcome = tokio::select! {
        outcome = run_chapters(&mut tour, &chapters, args.step) => outcome,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted (Ctrl+C)")),
    };
    match outcome {
        Ok(()) => tour.finish().await,
        Err(e) => {
            tour.stop().await;
            Err(e)
        }
    }
}

/// Runs `chapters` in order, pausing between them with `step`.
async fn run_chapters(tour: &mut Tour, chapters: &[usize], step: bool) -> Result<()> {
    for (i, &n) in chapters.iter().enumerate() {
        let started = Instant::now();
        let result = match n {
            1 => partitioning::run(tour).await,
            2 => log_on_disk::run(tour).await,
            3 => consumer_group::run(tour).await,
            4 => load_balancing::run(tour).await,
            5 => broadcast::run(tour).await,
            6 => persistence::run(tour).await,
            7 => segments::run(tour).await,
            8 => compaction::run(tour).await,
            9 => transactions::run(tour).await,
            _ => bail!("there is no chapter {n}"),
        };
        result.with_context(|| format!("chapter {n} ({}) failed", CHAPTERS[n - 1]))?;
        tour.out.dim(format!(
            "(chapter {n} took {:.1} s)",
            started.elapsed().as_secs_f64()
        ));
        if step && i + 1 < chapters.len() {
            wait_for_enter(chapters[i + 1]).await?;
        }
    }
    Ok(())
}

/// `--step`: waits for Enter before chapter `next`.
async fn wait_for_enter(next: usize) -> Result<()> {
    out::emit("");
    out::emit(&format!(
        "-- press Enter for chapter {next} ({}) --",
        CHAPTERS[next - 1]
    ));
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| ())
    })
    .await
    .context("waiting for Enter")?
    .context("reading Enter from stdin")
}

/// The tour's broker, its data dir and the printer: what every chapter is given.
#[derive(Debug)]
pub struct Tour {
    pub out: Out,
    config: Config,
    broker: Option<BrokerHandle>,
    /// `host:port` of the broker, for the clients.
    pub bootstrap: String,
    /// The broker's data directory (`log.dirs`).
    pub data_dir: PathBuf,
    /// Removes the data dir at the end, unless `--keep-data` was given.
    _temp: Option<tempfile::TempDir>,
    started: Instant,
    /// Set by `--keep-data`: print the inspect commands at the end.
    kept: bool,
}

impl Tour {
    /// Starts the embedded broker with the tour's timings and says where it is.
    async fn start(keep: Option<&Path>) -> Result<Tour> {
        let (data_dir, temp) = match keep {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                let used = std::fs::read_dir(dir)
                    .with_context(|| format!("cannot read {}", dir.display()))?
                    .next()
                    .is_some();
                if used {
                    bail!(
                        "--keep-data {} is not empty; the tour starts from an empty data dir \
                         (remove it, or name a new one)",
                        dir.display()
                    );
                }
                (dir.to_path_buf(), None)
            }
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("minikafka-tour-")
                    .tempdir()
                    .context("cannot create a temporary data dir")?;
                (temp.path().to_path_buf(), Some(temp))
            }
        };
        let mut config = Config {
            http: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            data_dir: data_dir.clone(),
            log_requests: false,
            group_initial_rebalance_delay: INITIAL_REBALANCE_DELAY,
            group_min_session_timeout: MIN_SESSION_TIMEOUT,
            retention_check_interval: RETENTION_CHECK_INTERVAL,
            log_cleaner_backoff: LOG_CLEANER_BACKOFF,
            ..Config::default()
        };
        config.listen(SocketAddr::from(([127, 0, 0, 1], 0)));
        config.log.index_interval_bytes = INDEX_INTERVAL_BYTES;
        let broker = Broker::start(config.clone())
            .await
            .context("cannot start the embedded broker")?;
        // A restart (chapter 6) comes back on the same ports.
        config.listen(broker.addr());
        config.http = broker.http_addr();
        let tour = Tour {
            out: Out::from_env(),
            bootstrap: broker.addr().to_string(),
            config,
            broker: Some(broker),
            data_dir,
            _temp: temp,
            started: Instant::now(),
            kept: keep.is_some(),
        };
        tour.welcome();
        Ok(tour)
    }

    fn welcome(&self) {
        let out = &self.out;
        out::emit(
            &out.heading("minikafka tour: a Kafka-compatible broker, running inside this process"),
        );
        out.line(format!("broker:    {} (Kafka protocol)", self.bootstrap));
        if let Some(http) = self.config.http {
            out.line(format!(
                "dashboard: http://{http}/   (open it now: it follows the tour live)"
            ));
        }
        out.line(format!("data dir:  {}", self.data_dir.display()));
        out.line("timings made lesson-sized (Kafka's defaults in brackets):");
        out.line(format!(
            "  consumers: session.timeout.ms {} [45000], heartbeat.interval.ms {} [3000]",
            SESSION_TIMEOUT.as_millis(),
            HEARTBEAT_INTERVAL.as_millis()
        ));
        out.line(format!(
            "  broker: group.min.session.timeout.ms {} [6000], group.initial.rebalance.delay.ms {} [3000],",
            MIN_SESSION_TIMEOUT.as_millis(),
            INITIAL_REBALANCE_DELAY.as_millis()
        ));
        out.line(format!(
            "          log.retention.check.interval.ms {} [300000], index.interval.bytes {} [4096]",
            RETENTION_CHECK_INTERVAL.as_millis(),
            INDEX_INTERVAL_BYTES
        ));
        out.line(format!(
            "          log.cleaner.backoff.ms {} [15000] (chapter 8 runs the cleaner itself)",
            LOG_CLEANER_BACKOFF.as_millis()
        ));
        out.line("Each chapter shows [client] what the clients saw and [broker] what happened");
        out.line("inside, and names the code that did it (code: file: function), to open next.");
    }

    /// The broker's state right now, read in-process.
    pub fn snapshot(&self) -> Result<Snapshot> {
        match &self.broker {
            Some(b) => Ok(b.snapshot()),
            None => bail!("the broker is not running"),
        }
    }

    /// One pass of the log cleaner now (`BrokerHandle::clean_now`): what it did, per
    /// partition it cleaned (`<topic>-<partition>`).
    pub async fn clean_now(&self) -> Result<BTreeMap<String, CleanReport>> {
        match &self.broker {
            Some(b) => Ok(b.clean_now().await?),
            None => bail!("the broker is not running"),
        }
    }

    /// Seconds since the tour started, for timestamps in the output.
    pub fn clock(&self) -> String {
        format!("t={:.1}s", self.started.elapsed().as_secs_f64())
    }

    /// Polls the broker's state every 50 ms until `check` returns something or `within`
    /// passes (then the error says what was awaited).
    pub async fn wait_for<T>(
        &self,
        what: &str,
        within: Duration,
        mut check: impl FnMut(&Snapshot) -> Option<T>,
    ) -> Result<T> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(t) = check(&self.snapshot()?) {
                return Ok(t);
            }
            if Instant::now() >= deadline {
                bail!("waited {within:?} for {what}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A producer as the classroom's: acks=all, each record awaited.
    pub fn producer_config(&self) -> ProducerConfig {
        let mut config = ProducerConfig::new(&self.bootstrap);
        config.client.client_id = "tour-producer".into();
        config
    }

    /// A group consumer with the tour's session timeout and heartbeat.
    pub fn consumer_config(&self, group: &str, client_id: &str) -> ConsumerConfig {
        clients::consumer_config(&self.bootstrap, group, client_id)
    }

    /// Stops the broker (syncs, writes the clean-shutdown markers) and starts it again
    /// on the same data dir and ports. Returns how long it was down.
    pub async fn restart_broker(&mut self) -> Result<Duration> {
        let started = Instant::now();
        if let Some(b) = self.broker.take() {
            b.shutdown().await;
        }
        let broker = Broker::start(self.config.clone())
            .await
            .context("cannot restart the broker on the same data dir and port")?;
        self.broker = Some(broker);
        Ok(started.elapsed())
    }

    /// How many records `demo-topic` holds (its log end offsets, summed).
    pub fn demo_records(&self) -> Result<i64> {
        Ok(end_offsets(&self.snapshot()?).values().sum())
    }

    /// Ensures `demo-topic` holds the 10 messages of chapter 1 (for a chapter run alone).
    pub async fn ensure_demo_messages(&mut self) -> Result<()> {
        if self.demo_records()? == 0 {
            self.out
                .dim("(run alone: first producing chapter 1's 10 messages to demo-topic)");
            clients::produce(self, 0..partitioning::COUNT).await?;
        }
        Ok(())
    }

    async fn stop(&mut self) {
        if let Some(b) = self.broker.take() {
            b.shutdown().await;
        }
    }

    /// Stops the broker cleanly and says what to try next.
    async fn finish(mut self) -> Result<()> {
        self.stop().await;
        let out = self.out;
        out::emit("");
        out.key_line(format!(
            "Tour done in {:.1} s. The broker stopped cleanly.",
            self.started.elapsed().as_secs_f64()
        ));
        if self.kept {
            let dir = self.data_dir.display();
            out.line(format!("Its data is in {dir}. Look at it from the files:"));
            out.line(format!(
                "  cargo run -p minikafka-broker -- inspect topics {dir}"
            ));
            out.line(format!(
                "  cargo run -p minikafka-broker -- inspect groups {dir}"
            ));
            out.line(format!(
                "  cargo run -p minikafka-broker -- inspect dump --hex {dir}/{TOPIC}-1/00000000000000000000.log"
            ));
            let txn_index = self
                .data_dir
                .join("tour-transactions-0/00000000000000000000.txnindex");
            if txn_index.is_file() {
                out.line(format!(
                    "  cargo run -p minikafka-broker -- inspect dump --hex {}",
                    txn_index.display()
                ));
            }
            if let Some(offsets) = consumer_offsets_dirs(&self.data_dir).first() {
                out.line(format!(
                    "  cargo run -p minikafka-broker -- inspect dump {}/00000000000000000000.log",
                    offsets.display()
                ));
            }
        } else {
            out.line("Its temporary data dir is removed. Keep it with --keep-data DIR, then:");
            out.line("  cargo run -p minikafka-broker -- inspect topics DIR");
            out.line("  cargo run -p minikafka-broker -- inspect groups DIR");
        }
        out.line("Next: docs/tour.md walks through this output; docs/concepts.md maps each");
        out.line("concept to its code; run the broker alone with --explain to see every step.");
        Ok(())
    }
}

/// Each partition's log end offset in `demo-topic` (none before it exists).
pub fn end_offsets(snapshot: &Snapshot) -> BTreeMap<i32, i64> {
    snapshot
        .topics
        .iter()
        .filter(|t| t.name == TOPIC)
        .flat_map(|t| &t.partitions)
        .map(|p| (p.partition, p.log_end_offset))
        .collect()
}

/// Partition 0 of `topic` in `snapshot` (the chapters' one-partition topics).
pub fn first_partition(snapshot: &Snapshot, topic: &str) -> Result<PartitionView> {
    snapshot
        .topics
        .iter()
        .find(|t| t.name == topic)
        .and_then(|t| t.partitions.first())
        .cloned()
        .with_context(|| format!("{topic} [0] is missing"))
}

/// The group `id` in `snapshot`.
pub fn group<'a>(snapshot: &'a Snapshot, id: &str) -> Option<&'a GroupView> {
    snapshot.groups.iter().find(|g| g.group_id == id)
}

/// The `__consumer_offsets-<n>` directories of `data_dir` that hold records, sorted.
pub fn consumer_offsets_dirs(data_dir: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(data_dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("__consumer_offsets-"))
                && std::fs::metadata(p.join("00000000000000000000.log")).is_ok_and(|m| m.len() > 0)
        })
        .collect();
    dirs.sort();
    dirs
}
