//! A group member, whichever client runs it: our native consumer, librdkafka (the
//! rdkafka crate) or kafka-python. Each reports the same events, so each classroom
//! experiment is written once and run with every client.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio::sync::mpsc;

/// What a member saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The partitions it owns after a rebalance.
    Assigned(BTreeSet<i32>),
    /// One record: partition, offset and value.
    Record { partition: i32, offset: i64, value: String },
}

/// The clients a member can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    Native,
    #[cfg(feature = "rdkafka")]
    Rdkafka,
    KafkaPython,
}

/// A running member: its events, and a way to stop it cleanly (commit, leave).
pub struct Member {
    pub name: String,
    pub events: mpsc::UnboundedReceiver<Event>,
    pub stopper: Box<dyn FnOnce() -> tokio::task::JoinHandle<()> + Send>,
    /// The partitions owned after the latest rebalance.
    pub owned: BTreeSet<i32>,
    /// Every record received, by (partition, offset).
    pub records: BTreeMap<(i32, i64), String>,
}

impl Member {
    /// Drains events that have arrived, updating `owned` and `records`.
    pub fn drain(&mut self) {
        while let Ok(event) = self.events.try_recv() {
            match event {
                Event::Assigned(p) => self.owned = p,
                Event::Record { partition, offset, value } => {
                    let previous = self.records.insert((partition, offset), value);
                    assert!(previous.is_none(), "{} got {partition}@{offset} twice", self.name);
                }
            }
        }
    }

    /// Stops the member cleanly and waits until it has left the group.
    pub async fn stop(mut self) -> Member {
        let stopper = std::mem::replace(&mut self.stopper, Box::new(|| tokio::spawn(async {})));
        tokio::time::timeout(Duration::from_secs(30), stopper())
            .await
            .expect("member stops within 30 s")
            .expect("member task");
        self.drain();
        self
    }
}
