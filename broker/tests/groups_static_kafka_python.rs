//! Static membership (KIP-345) with kafka-python 3.x (`group_instance_id`): each member is
//! a process running `broker/tests/python/kafka_python_member.py`, so a restart is a new
//! process with the same instance id, as in production.
//!
//! Checked: a static member that stops (no LeaveGroup) and comes back in a new process
//! within its session timeout gets the same partitions in the same generation, while the
//! other member sees no rebalance; a second process with an instance id in use takes the
//! place, and the first one is fenced (FENCED_INSTANCE_ID, kafka-python's
//! FencedInstanceIdError).

use std::collections::BTreeSet;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use minikafka_broker::snapshot::GroupView;
use minikafka_testkit::external::{python, python_script};
use minikafka_testkit::wire::Client;
use minikafka_testkit::{TestBroker, WAIT};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

const TOPIC: &str = "py-static";
const GROUP: &str = "py-static-group";

/// One kafka-python member process and the JSON lines it printed.
struct PyMember {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::UnboundedReceiver<serde_json::Value>,
    /// Every line so far, in order.
    seen: Vec<serde_json::Value>,
}

impl PyMember {
    fn start(python: &std::path::Path, bootstrap: &str, name: &str, instance: &str) -> PyMember {
        let mut child = Command::new(python)
            .arg(python_script("kafka_python_member.py"))
            .args([bootstrap, GROUP, TOPIC, name, instance])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the kafka-python member");
        let stdout = child.stdout.take().expect("stdout");
        let stdin = child.stdin.take().expect("stdin");
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut out = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = out.next_line().await {
                let v: serde_json::Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("the member printed {line:?}: {e}"));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        PyMember {
            child,
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    /// Takes in what the process printed so far.
    fn drain(&mut self) {
        while let Ok(v) = self.lines.try_recv() {
            self.seen.push(v);
        }
    }

    /// Its latest assignment, once it has one.
    fn assignment(&mut self) -> Option<BTreeSet<i64>> {
        self.drain();
        self.seen.iter().rev().find_map(|v| {
            v.get("assigned")
                .and_then(|a| a.as_array())
                .map(|a| a.iter().filter_map(|p| p.as_i64()).collect())
        })
    }

    /// How many assign/revoke callbacks it has run.
    fn rebalances(&mut self) -> usize {
        self.drain();
        self.seen
            .iter()
            .filter(|v| v.get("assigned").is_some() || v.get("revoked").is_some())
            .count()
    }

    /// What it printed apart from records (assignments, revocations, fenced, closed), for
    /// a failure message.
    fn events(&mut self) -> String {
        self.drain();
        let events: Vec<String> = self
            .seen
            .iter()
            .filter(|v| v.get("partition").is_none())
            .map(|v| v.to_string())
            .collect();
        format!("[{}]", events.join(", "))
    }

    fn printed(&mut self, key: &str) -> bool {
        self.drain();
        self.seen.iter().any(|v| v.get(key).is_some())
    }

    /// Asks it to stop (commit, close: a static member sends no LeaveGroup) and waits.
    async fn stop(mut self) -> ExitStatus {
        let _ = self.stdin.write_all(b"stop\n").await;
        tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("the member stops in time")
            .expect("wait for the member")
    }
}

/// Waits until `cond` holds; fails with `what` after [`WAIT`].
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    until_state(what, || if cond() { Ok(()) } else { Err(String::new()) }).await;
}

/// Waits until `check` gives `Ok`; fails with `what` and the last state `check` described
/// after [`WAIT`].
async fn until_state(what: &str, mut check: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + WAIT;
    while let Err(state) = check() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting until {what}; {state}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn group_view(broker: &TestBroker) -> Option<GroupView> {
    let snapshot = broker.handle()?.snapshot();
    snapshot.groups.into_iter().find(|g| g.group_id == GROUP)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_python_static_member_restarts_without_a_rebalance_and_a_duplicate_is_fenced() {
    let Some(python) = python() else {
        return;
    };
    let broker = TestBroker::start().await.expect("broker starts");
    let bootstrap = broker.bootstrap();
    Client::connect(broker.addr())
        .await
        .create_topic(TOPIC, 3)
        .await;
    let producer =
        minikafka_client::Producer::new(minikafka_client::ProducerConfig::new(&bootstrap))
            .await
            .expect("producer");
    for i in 0..30 {
        producer
            .send(
                minikafka_client::ProducerRecord::new(TOPIC)
                    .key(format!("k{i}").into_bytes())
                    .value(format!("v{i}").into_bytes()),
            )
            .await
            .expect("send");
    }

    let mut a = PyMember::start(&python, &bootstrap, "py-a", "py-a");
    let mut b = PyMember::start(&python, &bootstrap, "py-b", "py-b");
    until_state("both members share the three partitions, Stable", || {
        let view = group_view(&broker);
        let stable = view
            .as_ref()
            .is_some_and(|g| g.state == "Stable" && g.members.len() == 2);
        let shared = match (a.assignment(), b.assignment()) {
            (Some(x), Some(y)) => x.is_disjoint(&y) && x.len() + y.len() == 3 && !y.is_empty(),
            _ => false,
        };
        if stable && shared {
            return Ok(());
        }
        let group = view.map_or("not listed".to_string(), |g| {
            format!(
                "{} in generation {} with {} members",
                g.state,
                g.generation,
                g.members.len()
            )
        });
        Err(format!(
            "the group is {group}; A printed {}; B printed {}",
            a.events(),
            b.events()
        ))
    })
    .await;
    let generation = group_view(&broker).expect("group").generation;
    let b_partitions = b.assignment().expect("b's partitions");
    let a_rebalances = a.rebalances();

    // B stops: a static member commits and closes without LeaveGroup; the group keeps it.
    let status = b.stop().await;
    assert!(status.success(), "the member exited with {status}");
    let view = group_view(&broker).expect("group");
    assert_eq!((view.state.as_str(), view.members.len()), ("Stable", 2));
    assert_eq!(view.generation, generation);

    // A new process with B's instance id: B's partitions, the same generation, and A
    // sees no rebalance.
    let mut b2 = PyMember::start(&python, &bootstrap, "py-b", "py-b");
    until("the restarted member has its partitions", || {
        b2.assignment().is_some()
    })
    .await;
    assert_eq!(b2.assignment(), Some(b_partitions.clone()));
    let view = group_view(&broker).expect("group");
    assert_eq!(
        view.generation, generation,
        "no rebalance: the same generation"
    );
    assert_eq!((view.state.as_str(), view.members.len()), ("Stable", 2));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(a.rebalances(), a_rebalances, "A saw no rebalance");

    // A duplicate: a third process with the same instance id takes the place; the running
    // one is fenced on its next heartbeat or commit.
    let mut b3 = PyMember::start(&python, &bootstrap, "py-b-dup", "py-b");
    until("the duplicate has the partitions", || {
        b3.assignment().is_some()
    })
    .await;
    assert_eq!(b3.assignment(), Some(b_partitions));
    until("the replaced process is fenced", || b2.printed("fenced")).await;
    let view = group_view(&broker).expect("group");
    assert_eq!(view.generation, generation, "still no rebalance");
    assert_eq!(view.members.len(), 2);
    assert_eq!(a.rebalances(), a_rebalances, "A saw no rebalance");

    for member in [a, b3] {
        let status = member.stop().await;
        assert!(status.success(), "the member exited with {status}");
    }
    let _ = b2.stop().await;
    producer.close().await;
    broker.stop().await;
}
