//! A group member, whichever client runs it: our consumer on either backend (native, or
//! librdkafka with the `rdkafka` feature) or kafka-python. Each reports the same events,
//! so each classroom experiment is written once and run with every client.
//!
//! Every member uses the same settings, the classroom's: round-robin assignment, a 6 s
//! session timeout, frequent heartbeats, `auto.offset.reset=earliest` and auto-commit.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use minikafka_client::Backend;
use minikafka_testkit::cluster::KafkaPython;
use minikafka_testkit::within;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// What a member saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The partitions it owns after a rebalance.
    Assigned(BTreeSet<i32>),
    /// It gave up its partitions (a rebalance began, or it is closing).
    Revoked,
    /// One record: partition, offset and value.
    Record {
        partition: i32,
        offset: i64,
        value: String,
    },
    /// A commit asked for by [`Member::commit`] succeeded.
    Committed,
}

/// The clients a member can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    Ours(Backend),
    KafkaPython,
}

impl From<Backend> for Client {
    fn from(backend: Backend) -> Client {
        Client::Ours(backend)
    }
}

impl From<KafkaPython> for Client {
    fn from(_: KafkaPython) -> Client {
        Client::KafkaPython
    }
}

impl Client {
    /// The backend of the producer that writes the test data (kafka-python members read
    /// what the native producer wrote).
    pub fn producer_backend(self) -> Backend {
        match self {
            Client::Ours(backend) => backend,
            Client::KafkaPython => Backend::Native,
        }
    }
}

/// Where a member connects and what it joins.
#[derive(Debug, Clone)]
pub struct Target {
    pub bootstrap: String,
    pub group: String,
    pub topic: String,
}

/// How a started member is driven.
pub struct Controls {
    /// Stops it cleanly (commit, leave the group); the handle ends once it has left.
    pub stop: Box<dyn FnOnce() -> JoinHandle<()> + Send>,
    /// Ends it abruptly, as a crash would: no commit, no LeaveGroup. `None` for a client
    /// that cannot be crashed from a test (librdkafka in-process).
    pub crash: Option<Box<dyn FnOnce() + Send>>,
    /// Asks it to commit what it has read; it answers with [`Event::Committed`].
    pub commit: Box<dyn Fn() + Send>,
}

/// A running member: its events, and a way to stop it cleanly.
pub struct Member {
    pub name: String,
    events: mpsc::UnboundedReceiver<Event>,
    /// `None` once stopped or crashed.
    controls: Option<Controls>,
    commits: usize,
    /// The partitions owned after the latest rebalance (empty while revoked).
    pub owned: BTreeSet<i32>,
    /// Every record received, by (partition, offset).
    pub records: BTreeMap<(i32, i64), String>,
}

impl Member {
    /// Start a member of `target.group` on `client`; `None` when that client is not
    /// installed here (the test is then skipped, visibly).
    pub async fn start(client: Client, target: &Target, name: &str) -> Option<Member> {
        let (tx, events) = mpsc::unbounded_channel();
        let controls = match client {
            Client::Ours(backend) => super::consumer::start(backend, target, name, tx).await,
            Client::KafkaPython => super::python::start(target, name, tx)?,
        };
        Some(Member {
            name: name.to_string(),
            events,
            controls: Some(controls),
            commits: 0,
            owned: BTreeSet::new(),
            records: BTreeMap::new(),
        })
    }

    /// Applies the events that have arrived to `owned` and `records`.
    pub fn drain(&mut self) {
        while let Ok(event) = self.events.try_recv() {
            match event {
                Event::Assigned(p) => self.owned = p,
                Event::Revoked => self.owned.clear(),
                Event::Committed => self.commits += 1,
                Event::Record {
                    partition,
                    offset,
                    value,
                } => {
                    let previous = self.records.insert((partition, offset), value);
                    assert!(
                        previous.is_none(),
                        "{} got {partition}@{offset} twice",
                        self.name
                    );
                }
            }
        }
    }

    /// Commits what the member has read, and waits until the commit succeeded.
    pub async fn commit(&mut self) {
        let before = self.commits;
        (self.controls.as_ref().expect("a running member").commit)();
        let what = format!("{}'s commit", self.name);
        within(&what, async {
            while self.commits == before {
                self.drain();
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
    }

    /// Ends the member abruptly (no commit, no LeaveGroup): the coordinator only notices
    /// when its session times out. Panics for a client that cannot crash.
    pub fn crash(mut self) -> Member {
        self.drain();
        let controls = self.controls.take().expect("a running member");
        (controls.crash.expect("this client cannot be crashed"))();
        self
    }

    /// Stops the member cleanly and waits until it has left the group.
    pub async fn stop(mut self) -> Member {
        if let Some(controls) = self.controls.take() {
            let what = format!("{} stops", self.name);
            within(&what, (controls.stop)()).await.expect("member task");
        }
        self.drain();
        self
    }
}

/// Drains `members` until `done` holds, or panics with `what` and their state after
/// the kit's bound. Nothing is asserted about how long it took.
pub async fn wait_until(
    members: &mut [&mut Member],
    what: &str,
    done: impl Fn(&[&mut Member]) -> bool,
) {
    let deadline = tokio::time::Instant::now() + minikafka_testkit::WAIT;
    loop {
        for m in members.iter_mut() {
            m.drain();
        }
        if done(members) {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            let state: Vec<String> = (members.iter())
                .map(|m| {
                    format!(
                        "{}: owns {:?}, {} records",
                        m.name,
                        m.owned,
                        m.records.len()
                    )
                })
                .collect();
            panic!(
                "{what} did not happen within {:?}; {}",
                minikafka_testkit::WAIT,
                state.join("; ")
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
