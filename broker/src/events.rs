//! The broker's recent events, for the dashboard's timeline: topics created and
//! deleted, members joining, leaving and expiring, group state changes, segment rolls,
//! retention deletions and truncations. A bounded ring: the newest [`KEPT`] events,
//! each numbered.
//!
//! Where it sits: beside the message path, a leaf like `stats.rs`. The layers that see
//! an event record it (`topics/registry.rs`, `log/partition_log.rs`, `group/state.rs`,
//! `group/join.rs`, `group/sync.rs`, `group/coordinator.rs`); `http/` reads it for
//! `/api/state`. It imports nothing from the crate, so no lower layer imports `http`.
//! One ring per broker: `Topics::open` makes it (the first thing a broker opens) and
//! hands a clone to each partition log; the group coordinator and `BrokerContext`
//! take theirs from `Topics::events`.
//!
//! What must stay true:
//! - An event's text is the broker's info log line at that spot, word for word: the
//!   caller builds the sentence once, logs it and records it (see [`Events::record`]).
//!   (With `--explain`, a group state change is logged in the explain shape, which adds
//!   the members and the leader; the event keeps the plain sentence.)
//! - `seq` starts at 1 and grows by one per event, so a poller asks for what is newer
//!   than the last `seq` it saw ([`Events::since`]); numbers of events pushed out of
//!   the ring are simply gone.
//! - Clones share one ring. Recording takes a short, uncontended lock and never blocks
//!   on I/O.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// How many events the ring keeps.
pub const KEPT: usize = 200;

/// What happened, as the dashboard groups and colours it (serialised kebab-case:
/// `"member-joined"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    TopicCreated,
    TopicDeleted,
    MemberJoined,
    /// LeaveGroup.
    MemberLeft,
    /// Removed without leaving: its session timed out, or it did not rejoin in time.
    MemberExpired,
    /// A group state change (`Empty -> PreparingRebalance`, ...), with the generation.
    Rebalance,
    /// The leader's assignment reached the group: the new generation's shares.
    Assignment,
    SegmentRolled,
    /// Retention deleted the oldest segment; the log start offset moved.
    SegmentDeleted,
    /// The log cleaner swapped in compacted segments (`cleanup.policy=compact`).
    SegmentCleaned,
    Truncated,
    /// A transactional id got an epoch, or its transaction was committed or aborted
    /// (`txn/coordinator.rs`).
    Transaction,
}

/// One event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// 1, 2, 3, ... in the order they were recorded.
    pub seq: u64,
    /// Wall-clock time, milliseconds since the Unix epoch.
    pub at_ms: i64,
    pub kind: EventKind,
    /// The log line's words.
    pub text: String,
}

struct Ring {
    capacity: usize,
    /// The `seq` of the last event recorded (0: none yet).
    last_seq: u64,
    events: VecDeque<Event>,
}

/// The ring. Cheap to clone; clones share it.
#[derive(Clone)]
pub struct Events {
    ring: Arc<Mutex<Ring>>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ring = self.lock();
        f.debug_struct("Events")
            .field("capacity", &ring.capacity)
            .field("last_seq", &ring.last_seq)
            .finish_non_exhaustive()
    }
}

impl Default for Events {
    /// A ring of [`KEPT`] events.
    fn default() -> Self {
        Events::with_capacity(KEPT)
    }
}

impl Events {
    /// A ring that keeps the newest `capacity` events (at least one).
    pub fn with_capacity(capacity: usize) -> Events {
        let capacity = capacity.max(1);
        Events {
            ring: Arc::new(Mutex::new(Ring {
                capacity,
                last_seq: 0,
                // Grows as events come, up to `capacity`.
                events: VecDeque::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Ring> {
        // Pushing to a VecDeque cannot leave it half-changed; keep going after a panic.
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records one event, pushing out the oldest when the ring is full; returns its
    /// `seq`. The caller logs `text` itself (so the line keeps its module as target):
    ///
    /// ```
    /// # use minikafka_broker::events::{Events, EventKind};
    /// # let events = Events::default();
    /// let text = format!("created topic {:?} with {} partitions", "orders", 3);
    /// tracing::info!("{text}");
    /// events.record(EventKind::TopicCreated, text);
    /// ```
    pub fn record(&self, kind: EventKind, text: String) -> u64 {
        let at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let mut ring = self.lock();
        ring.last_seq += 1;
        let seq = ring.last_seq;
        if ring.events.len() == ring.capacity {
            ring.events.pop_front();
        }
        ring.events.push_back(Event {
            seq,
            at_ms,
            kind,
            text,
        });
        seq
    }

    /// The events still kept whose `seq` is greater than `seq`, oldest first
    /// (`since(0)`: all of them).
    pub fn since(&self, seq: u64) -> Vec<Event> {
        let ring = self.lock();
        // Seqs in the ring are consecutive, so the first wanted one is at a known place.
        let first = ring.events.front().map_or(0, |e| e.seq);
        let skip =
            usize::try_from(seq.saturating_add(1).saturating_sub(first)).unwrap_or(usize::MAX);
        ring.events.iter().skip(skip).cloned().collect()
    }

    /// The `seq` of the newest event (0 before the first).
    pub fn last_seq(&self) -> u64 {
        self.lock().last_seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seqs(events: &[Event]) -> Vec<u64> {
        events.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn seq_grows_by_one_and_clones_share_the_ring() {
        let events = Events::default();
        let other = events.clone();
        assert_eq!(events.last_seq(), 0);
        assert!(events.since(0).is_empty());
        assert_eq!(events.record(EventKind::TopicCreated, "a".into()), 1);
        assert_eq!(other.record(EventKind::MemberJoined, "b".into()), 2);
        let all = events.since(0);
        assert_eq!(seqs(&all), [1, 2]);
        assert_eq!(all[1].kind, EventKind::MemberJoined);
        assert_eq!(all[1].text, "b");
        assert!(all[0].at_ms > 0 && all[0].at_ms <= all[1].at_ms);
        assert_eq!(other.last_seq(), 2);
    }

    #[test]
    fn the_ring_is_bounded_and_keeps_the_newest() {
        let events = Events::with_capacity(3);
        for i in 0..10 {
            events.record(EventKind::SegmentRolled, format!("roll {i}"));
        }
        let kept = events.since(0);
        assert_eq!(seqs(&kept), [8, 9, 10]);
        assert_eq!(kept[2].text, "roll 9");
        assert_eq!(events.last_seq(), 10);
    }

    #[test]
    fn since_gives_only_newer_events() {
        let events = Events::with_capacity(4);
        for _ in 0..6 {
            events.record(EventKind::Rebalance, String::new());
        }
        // Kept: 3..=6.
        assert_eq!(seqs(&events.since(0)), [3, 4, 5, 6]);
        assert_eq!(seqs(&events.since(2)), [3, 4, 5, 6]);
        assert_eq!(seqs(&events.since(4)), [5, 6]);
        assert!(events.since(6).is_empty());
        assert!(events.since(u64::MAX).is_empty());
    }

    #[test]
    fn kinds_serialise_in_kebab_case() {
        let e = Event {
            seq: 1,
            at_ms: 5,
            kind: EventKind::MemberExpired,
            text: "t".into(),
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"seq":1,"at_ms":5,"kind":"member-expired","text":"t"}"#
        );
    }
}
