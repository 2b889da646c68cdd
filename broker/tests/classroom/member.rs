//! A group member, whichever client runs it: our native consumer, librdkafka (the
//! rdkafka crate) or kafka-python. Each reports the same events, so each classroom
//! experiment is written once and run with every client.
//!
//! Every member uses the same settings, the classroom's: round-robin assignment, a 6 s
//! session timeout, frequent heartbeats, `auto.offset.reset=earliest` and auto-commit.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

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
}

/// The clients a member can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    Native,
    #[cfg(feature = "rdkafka")]
    Rdkafka,
    KafkaPython,
}

/// Where a member connects and what it joins.
#[derive(Debug, Clone)]
pub struct Target {
    pub bootstrap: String,
    pub group: String,
    pub topic: String,
}

/// Stops a member cleanly (commit, leave the group); the handle ends once it has left.
pub type Stopper = Box<dyn FnOnce() -> JoinHandle<()> + Send>;

/// Ends a member abruptly, as a crash would: no commit, no LeaveGroup.
pub type Crasher = Box<dyn FnOnce() + Send>;

/// How a started member is stopped, cleanly or not.
pub struct Controls {
    pub stopper: Stopper,
    /// `None` for a client that cannot be crashed from a test (librdkafka in-process).
    pub crasher: Option<Crasher>,
}

/// A running member: its events, and a way to stop it cleanly.
pub struct Member {
    pub name: String,
    events: mpsc::UnboundedReceiver<Event>,
    stopper: Option<Stopper>,
    crasher: Option<Crasher>,
    /// The partitions owned after the latest rebalance (empty while revoked).
    pub owned: BTreeSet<i32>,
    /// Every record received, by (partition, offset).
    pub records: BTreeMap<(i32, i64), String>,
}

impl Member {
    /// Start a member of `target.group` on `client`; `None` when that client is not
    /// installed here (the test is then skipped, with a message).
    pub async fn start(client: Client, target: &Target, name: &str) -> Option<Member> {
        let (tx, events) = mpsc::unbounded_channel();
        let controls = match client {
            Client::Native => super::native::start(target, name, tx).await,
            #[cfg(feature = "rdkafka")]
            Client::Rdkafka => super::rdkafka::start(target, name, tx),
            Client::KafkaPython => super::python::start(target, name, tx)?,
        };
        Some(Member {
            name: name.to_string(),
            events,
            stopper: Some(controls.stopper),
            crasher: controls.crasher,
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

    /// Ends the member abruptly (no commit, no LeaveGroup): the coordinator only notices
    /// when its session times out. Panics for a client that cannot crash.
    pub fn crash(mut self) -> Member {
        self.drain();
        let crasher = self.crasher.take().expect("this client cannot be crashed");
        crasher();
        self.stopper = None;
        self
    }

    /// Stops the member cleanly and waits until it has left the group.
    pub async fn stop(mut self) -> Member {
        if let Some(stopper) = self.stopper.take() {
            tokio::time::timeout(Duration::from_secs(30), stopper())
                .await
                .unwrap_or_else(|_| panic!("{} stops within 30 s", self.name))
                .expect("member task");
        }
        self.drain();
        self
    }
}

/// Drains `members` until `done` holds, or panics with `what` and their state after
/// `limit`. Only a bound against hanging: nothing is asserted about how long it took.
pub async fn wait_until(
    members: &mut [&mut Member],
    what: &str,
    limit: Duration,
    done: impl Fn(&[&mut Member]) -> bool,
) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        for m in members.iter_mut() {
            m.drain();
        }
        if done(members) {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            let state: Vec<String> = members
                .iter()
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
                "{what} did not happen within {limit:?}; {}",
                state.join("; ")
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
