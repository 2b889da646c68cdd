//! `startup`: how long the release broker takes to start, and its idle memory.
//!
//! It spawns `minikafka-broker` (the path given, default `target/release/minikafka-broker`)
//! on a free port, and measures from the spawn to two moments: the listening socket
//! accepts a connection (`listen`), and an ApiVersions request on it is answered
//! (`ready`: the broker binds first and opens the data dir after, so only an answer
//! says the logs are open). Then, after `--idle-ms` with nothing to do, it reads the
//! broker's VmRSS from `/proc/<pid>/status`, stops it with SIGTERM (a clean shutdown,
//! so every run starts the same way) and waits for it to exit.
//!
//! Run (after `cargo build --release -p minikafka-broker`):
//!   `cargo run --release -p minikafka-benches --bin startup -- --runs 20`
//!   `cargo run --release -p minikafka-benches --bin startup -- --runs 20 --partitions 1000`
//!
//! What must stay true:
//! - With `--partitions N` the data dir holds one topic of N partitions, each with one
//!   small batch, closed cleanly (what a broker stopped with SIGTERM leaves), built
//!   once by the broker's own `Topics` before the first run.
//! - Every run starts from the same data dir: the broker is stopped cleanly, never
//!   killed, and the next run waits for it to exit (the data dir lock).
//! - It prints one line per run and a summary with medians; it measures, it never
//!   judges (the targets are in docs/benchmarks.md).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest};
use minikafka_benches::batch;
use minikafka_broker::protocol::encode_request;
use minikafka_broker::topics::Topics;

/// How long to wait for a broker before giving up.
const GIVE_UP: Duration = Duration::from_secs(30);

struct Args {
    broker: PathBuf,
    runs: usize,
    partitions: i32,
    idle: Duration,
    /// Where the data dir is (kept afterwards, e.g. to `strace` a start by hand);
    /// filled only when it does not exist yet. Default: a temp dir.
    data_dir: Option<PathBuf>,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        broker: PathBuf::from("target/release/minikafka-broker"),
        runs: 10,
        partitions: 0,
        idle: Duration::from_millis(500),
        data_dir: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--broker" => args.broker = PathBuf::from(value()?),
            "--runs" => args.runs = value()?.parse().context("--runs")?,
            "--partitions" => args.partitions = value()?.parse().context("--partitions")?,
            "--data-dir" => args.data_dir = Some(PathBuf::from(value()?)),
            "--idle-ms" => {
                args.idle = Duration::from_millis(value()?.parse().context("--idle-ms")?)
            }
            "-h" | "--help" => {
                println!(
                    "usage: startup [--broker PATH] [--runs N] [--partitions N] [--idle-ms MS] [--data-dir DIR]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown flag {other}"),
        }
    }
    Ok(args)
}

/// One topic of `partitions` partitions, a batch in each, closed cleanly.
fn fill(dir: &Path, partitions: i32) -> anyhow::Result<()> {
    let topics = Topics::open(dir, Default::default()).context("open the data dir")?;
    topics
        .create("startup", partitions, BTreeMap::new())
        .context("create the topic")?;
    let template = batch(10, 100);
    for p in 0..partitions {
        let partition = topics.partition("startup", p).context("partition")?;
        partition.append(&template).context("append")?;
    }
    topics.close().context("close")?;
    Ok(())
}

fn free_port() -> anyhow::Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// Sends ApiVersions v0 and reads the whole answer.
fn api_versions(stream: &mut TcpStream) -> std::io::Result<()> {
    let body = encode_request(
        ApiKey::ApiVersions,
        0,
        1,
        "startup",
        &ApiVersionsRequest::default(),
    )
    .map_err(std::io::Error::other)?;
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    stream.write_all(&frame)?;
    let mut size = [0u8; 4];
    stream.read_exact(&mut size)?;
    let mut answer = vec![0; i32::from_be_bytes(size).max(0) as usize];
    stream.read_exact(&mut answer)
}

fn vm_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("no VmRSS line")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("VmRSS value")?
        .parse()?)
}

struct Run {
    listen: Duration,
    ready: Duration,
    rss_kib: u64,
}

fn stop(child: &mut Child) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    if !status.success() {
        bail!("kill -TERM {} failed", child.id());
    }
    child.wait()?;
    Ok(())
}

fn one_run(args: &Args, dir: &Path) -> anyhow::Result<Run> {
    let addr = free_port()?;
    let start = Instant::now();
    let mut child = Command::new(&args.broker)
        .arg("--listen")
        .arg(addr.to_string())
        .arg("--data-dir")
        .arg(dir)
        .args(["--quiet", "--log", "warn"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("spawn {}", args.broker.display()))?;
    let result = (|| {
        let mut stream = loop {
            match TcpStream::connect(addr) {
                Ok(s) => break s,
                Err(_) if start.elapsed() < GIVE_UP => {
                    if let Some(status) = child.try_wait()? {
                        bail!("the broker exited: {status}");
                    }
                    std::thread::sleep(Duration::from_micros(100));
                }
                Err(e) => bail!("no listening socket after {GIVE_UP:?}: {e}"),
            }
        };
        let listen = start.elapsed();
        stream.set_read_timeout(Some(GIVE_UP))?;
        api_versions(&mut stream).context("ApiVersions")?;
        let ready = start.elapsed();
        drop(stream);
        std::thread::sleep(args.idle);
        let rss_kib = vm_rss_kib(child.id())?;
        Ok(Run {
            listen,
            ready,
            rss_kib,
        })
    })();
    stop(&mut child)?;
    result
}

fn median<T: Ord + Copy>(mut v: Vec<T>) -> T {
    v.sort_unstable();
    v[v.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let temp = tempfile::tempdir()?;
    let dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    if args.partitions > 0 && !dir.join("topics.json").exists() {
        fill(&dir, args.partitions)?;
    }
    let mut runs = Vec::new();
    for i in 0..args.runs {
        let run = one_run(&args, &dir)?;
        println!(
            "run {i}: listen {:.2} ms, ready {:.2} ms, idle VmRSS {} KiB",
            run.listen.as_secs_f64() * 1e3,
            run.ready.as_secs_f64() * 1e3,
            run.rss_kib
        );
        runs.push(run);
    }
    println!(
        "startup partitions={} runs={} listen_median_ms={:.2} ready_median_ms={:.2} ready_min_ms={:.2} idle_rss_median_kib={}",
        args.partitions,
        runs.len(),
        median(runs.iter().map(|r| r.listen).collect()).as_secs_f64() * 1e3,
        median(runs.iter().map(|r| r.ready).collect()).as_secs_f64() * 1e3,
        runs.iter().map(|r| r.ready).min().unwrap_or_default().as_secs_f64() * 1e3,
        median(runs.iter().map(|r| r.rss_kib).collect()),
    );
    Ok(())
}
