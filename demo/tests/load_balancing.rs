//! The README's load-balancing experiment, run with the binaries as a learner runs them:
//! three `consumer`s in one group with `--session-timeout-ms 6000`, then `producer` with
//! its default keys. Checks that each consumer prints its member id and assignment at
//! every rebalance, that the default keys give each of the three consumers a message
//! (none sits idle), that a consumer stopped with Ctrl+C hands its partition over at once,
//! and that one killed without leaving loses its partitions after the short session
//! timeout it was given, not Kafka's default 45 s.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::time::{Duration, Instant};

use minikafka_client::partitioner::partition_for_key;
use minikafka_testkit::within;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

mod common;

const TOPIC: &str = "lb-topic";
const GROUP: &str = "lb-group";
/// The broker's minimum (`group.min.session.timeout.ms`).
const SESSION_TIMEOUT_MS: &str = "6000";

/// One running `consumer`, its stdout and stderr read line by line as they come.
struct Member {
    child: Child,
    stdout: mpsc::UnboundedReceiver<String>,
    stderr: mpsc::UnboundedReceiver<String>,
    /// Every stderr line so far, for failure messages.
    log: Vec<String>,
    /// From the latest `member <id>: assigned: …` line.
    id: Option<String>,
    assigned: Option<BTreeSet<i32>>,
}

impl Member {
    fn start(addr: &str) -> Member {
        let mut child = Command::new(env!("CARGO_BIN_EXE_consumer"))
            .args([
                "--bootstrap-server",
                addr,
                "--topic",
                TOPIC,
                "--group",
                GROUP,
            ])
            .args(["--session-timeout-ms", SESSION_TIMEOUT_MS])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn consumer");
        let stdout = lines(child.stdout.take().expect("stdout"));
        let stderr = lines(child.stderr.take().expect("stderr"));
        Member {
            child,
            stdout,
            stderr,
            log: Vec::new(),
            id: None,
            assigned: None,
        }
    }

    /// Reads the stderr lines already written (waiting at most `wait` for the first) and
    /// keeps the latest member id and assignment.
    async fn poll(&mut self, wait: Duration) {
        while let Ok(Some(line)) = tokio::time::timeout(wait, self.stderr.recv()).await {
            if let Some((id, partitions)) = assignment(&line) {
                if let Some(known) = &self.id {
                    assert_eq!(known, &id, "the member id is kept across rebalances");
                }
                self.id = Some(id);
                self.assigned = Some(partitions);
            }
            self.log.push(line);
        }
    }

    fn share(&self) -> BTreeSet<i32> {
        self.assigned.clone().unwrap_or_default()
    }

    /// Ctrl+C, as a learner stops it; returns its whole stdout.
    async fn interrupt(mut self) -> String {
        let pid = self.child.id().expect("pid").to_string();
        let kill = std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .expect("kill runs");
        assert!(kill.success());
        let status = within("the consumer exits", self.child.wait())
            .await
            .expect("wait");
        self.poll(Duration::from_millis(100)).await;
        assert!(status.success(), "{status}: {:#?}", self.log);
        let mut out = String::new();
        while let Some(line) = self.stdout.recv().await {
            out += &line;
            out.push('\n');
        }
        out
    }
}

/// The lines of `stream`, sent on as they are read.
fn lines(
    stream: impl tokio::io::AsyncRead + Unpin + Send + 'static,
) -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// `member <id>: assigned: lb-topic-0, lb-topic-2` → the id and {0, 2}.
fn assignment(line: &str) -> Option<(String, BTreeSet<i32>)> {
    let rest = line.strip_prefix("member ")?;
    let (id, partitions) = rest.split_once(": assigned: ")?;
    let partitions = match partitions {
        "(none)" => BTreeSet::new(),
        list => list
            .split(", ")
            .map(|tp| {
                let p = tp.strip_prefix(&format!("{TOPIC}-")).expect("our topic");
                p.parse().expect("a partition number")
            })
            .collect(),
    };
    Some((id.to_string(), partitions))
}

/// Polls `members` until their latest assignments are exactly `shares` (in any order).
async fn wait_for_shares(members: &mut [&mut Member], shares: &[usize]) {
    let mut want = shares.to_vec();
    want.sort_unstable();
    within("the group settles", async {
        loop {
            for m in members.iter_mut() {
                m.poll(Duration::from_millis(50)).await;
            }
            let all: Vec<BTreeSet<i32>> = members.iter().map(|m| m.share()).collect();
            let mut sizes: Vec<usize> = all.iter().map(BTreeSet::len).collect();
            sizes.sort_unstable();
            let union: BTreeSet<i32> = all.iter().flatten().copied().collect();
            if sizes == want && union.len() == want.iter().sum::<usize>() {
                return;
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_consumers_share_the_default_keys_and_a_killed_one_times_out_quickly() {
    let broker = common::broker().await;
    let addr = broker.addr().to_string();

    // Three members, one partition each, each printing its own member id.
    let mut a = Member::start(&addr);
    let mut b = Member::start(&addr);
    let mut c = Member::start(&addr);
    wait_for_shares(&mut [&mut a, &mut b, &mut c], &[1, 1, 1]).await;
    let ids: BTreeSet<String> = [&a, &b, &c]
        .iter()
        .map(|m| m.id.clone().expect("an id"))
        .collect();
    assert_eq!(ids.len(), 3, "{ids:?}");
    for id in &ids {
        assert!(id.starts_with("minikafka-demo-consumer-"), "{id}");
    }
    for m in [&a, &b, &c] {
        let started = m.log.first().expect("a first line");
        assert!(started.contains("session timeout 6000 ms"), "{started}");
    }

    // The producer's default keys: one message per key, and every consumer gets one.
    let out = common::run(
        env!("CARGO_BIN_EXE_producer"),
        &[
            "--bootstrap-server",
            &addr,
            "--topic",
            TOPIC,
            "--count",
            "3",
            "--interval-ms",
            "0",
        ],
    )
    .await;
    let produced = common::stdout_of_success(&out);
    let partitions: BTreeSet<i32> = produced
        .lines()
        .map(|l| {
            let (head, _) = l.split_once("  value=").expect("value");
            let (placement, key) = head.split_once("  key=").expect("key");
            let partition = placement
                .strip_prefix(&format!("{TOPIC} ["))
                .and_then(|r| r.split_once(']'))
                .expect("topic [partition]")
                .0;
            let partition: i32 = partition.parse().expect("a partition number");
            assert_eq!(partition, partition_for_key(key.as_bytes(), 3), "{l}");
            partition
        })
        .collect();
    assert_eq!(partitions, (0..3).collect(), "{produced}");
    let mut got: BTreeMap<i32, String> = BTreeMap::new();
    for m in [&mut a, &mut b, &mut c] {
        let [p] = m.share().into_iter().collect::<Vec<_>>()[..] else {
            panic!("one partition each: {:?}", m.log);
        };
        let header = within("a record", m.stdout.recv()).await.expect("stdout");
        assert!(
            header.starts_with(&format!("{TOPIC} [{p}] @ 0  key=")),
            "{header}"
        );
        got.insert(p, header);
    }
    assert_eq!(got.len(), 3, "{got:?}");

    // Ctrl+C: the member leaves, and the two others share its partition at once.
    let stopped = a.interrupt().await;
    assert!(stopped.contains("summary: 1 messages"), "{stopped}");
    wait_for_shares(&mut [&mut b, &mut c], &[1, 2]).await;

    // Killed without leaving: the survivor gets everything once the 6 s session timeout
    // expires. The bound is far below Kafka's default 45 s, so it proves the flag was used.
    let killed_at = Instant::now();
    c.child.start_kill().expect("kill");
    c.child.wait().await.expect("wait");
    wait_for_shares(&mut [&mut b], &[3]).await;
    let took = killed_at.elapsed();
    assert!(
        took < Duration::from_secs(30),
        "took {took:?}: {:#?}",
        b.log
    );
    let survivor_log = b.log.join("\n");
    assert!(survivor_log.contains(": revoked: "), "{survivor_log}");

    b.interrupt().await;
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_timeouts_are_checked() {
    let broker = common::broker().await;
    let addr = broker.addr().to_string();

    // Below the broker's group.min.session.timeout.ms: the coordinator refuses the join.
    let out = common::run(
        env!("CARGO_BIN_EXE_consumer"),
        &["--bootstrap-server", &addr, "--session-timeout-ms", "1000"],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("INVALID_SESSION_TIMEOUT"), "{stderr}");

    // A heartbeat no shorter than the session timeout is refused before connecting.
    let out = common::run(
        env!("CARGO_BIN_EXE_consumer"),
        &[
            "--bootstrap-server",
            &addr,
            "--session-timeout-ms",
            "6000",
            "--heartbeat-interval-ms",
            "6000",
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("heartbeat.interval.ms"), "{stderr}");
    broker.stop().await;
}
