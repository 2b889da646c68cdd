//! One consumer group in memory: its state machine, members, generation and protocol.
//!
//! Where it sits: consumer → JoinGroup/SyncGroup/Heartbeat → [`super::coordinator`] → here.
//! Nothing in this file does I/O or waits; the step files (join, sync, heartbeat, leave)
//! change a `Group` while the coordinator's lock is held, and answer waiting members by
//! sending on their oneshot channels.
//!
//! ```text
//!                 first join
//!   Empty ─────────────────────────┐
//!     ▲                            ▼
//!     │ last member gone    PreparingRebalance ◀───────────────────┐
//!     └────────────────────────────┤                               │
//!                                  │ all members rejoined,         │ join with new metadata,
//!                                  │ or the rebalance timeout      │ leave, session timeout
//!                                  ▼                               │
//!                          CompletingRebalance ────────────────────┤
//!                                  │ leader's SyncGroup            │
//!                                  ▼                               │
//!                                Stable ───────────────────────────┘
//!
//!   Dead: the coordinator shut down; every request gets COORDINATOR_NOT_AVAILABLE.
//! ```
//!
//! Invariants: `generation` only grows; `leader` is a member id in `members` whenever the
//! group has members; a member has at most one waiting JoinGroup and one waiting SyncGroup;
//! a `group.instance.id` (static membership, KIP-345) belongs to at most one member.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use indexmap::IndexMap;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupResponse, SyncGroupResponse};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::coordinator::{join_error, sync_error};
use crate::events::{EventKind, Events};

/// The classic group states, named as Kafka names them on the wire (DescribeGroups).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    /// The name Kafka uses in ListGroups and DescribeGroups.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

impl fmt::Display for GroupState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One member of a group.
#[derive(Debug)]
pub struct Member {
    pub id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    /// The protocols (assignor names) with their metadata, in the member's preference order.
    pub protocols: Vec<(String, Bytes)>,
    /// What the leader assigned to this member in the current generation (empty until then).
    pub assignment: Bytes,
    /// The JoinGroup this member is waiting on, answered when the rebalance completes.
    pub awaiting_join: Option<oneshot::Sender<JoinGroupResponse>>,
    /// The SyncGroup this member is waiting on, answered when the leader syncs.
    pub awaiting_sync: Option<oneshot::Sender<SyncGroupResponse>>,
    /// Last sign of life (join, sync, heartbeat); the session timer counts from here.
    pub last_seen: Instant,
}

impl Member {
    /// The metadata this member sent for `protocol`, if it supports it.
    pub fn metadata_for(&self, protocol: &str) -> Option<&Bytes> {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, m)| m)
    }

    /// A member waiting on a JoinGroup or SyncGroup response is alive by definition
    /// (Kafka's `shouldKeepAlive`); otherwise it must have been seen within its session.
    pub fn session_deadline(&self, now: Instant) -> Instant {
        if self.awaiting_join.is_some() || self.awaiting_sync.is_some() {
            now + self.session_timeout
        } else {
            self.last_seen + self.session_timeout
        }
    }
}

/// One group.
#[derive(Debug)]
pub struct Group {
    pub id: String,
    pub state: GroupState,
    pub generation: i32,
    /// `consumer` for consumer groups; set by the first member of an empty group.
    pub protocol_type: Option<String>,
    /// The protocol (assignor) chosen for the current generation.
    pub protocol: Option<String>,
    pub leader: Option<String>,
    /// Members in the order they joined: the first one becomes the leader.
    pub members: IndexMap<String, Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, not yet used, with when they expire.
    pub pending_members: HashMap<String, Instant>,
    /// Bumped each time a rebalance starts, so a timer of an older rebalance does nothing.
    pub rebalance_epoch: u64,
    /// While set, an empty group's first rebalance waits (group.initial.rebalance.delay.ms).
    pub join_not_before: Option<Instant>,
    /// Why the current rebalance started, in words, for the log line that ends it.
    pub rebalance_reason: String,
    /// Explain mode (`Config::explain`): state changes are logged in the explain shape.
    pub explain: bool,
    /// The broker's event ring: state changes, joins, leaves and assignments are
    /// recorded there for the dashboard.
    pub events: Events,
}

impl Group {
    /// The JoinGroup answer for `member_id` in the current generation: the leader also
    /// gets every member's metadata for the chosen protocol, so it can assign.
    pub fn join_response(&self, member_id: &str) -> JoinGroupResponse {
        let protocol = self.protocol.clone().unwrap_or_default();
        let mut v = JoinGroupResponse::default();
        v.generation_id = self.generation;
        v.protocol_type = self.protocol_type.clone().map(StrBytes::from_string);
        v.protocol_name = Some(StrBytes::from_string(protocol.clone()));
        v.leader = StrBytes::from_string(self.leader.clone().unwrap_or_default());
        v.member_id = StrBytes::from_string(member_id.to_string());
        if self.leader.as_deref() == Some(member_id) {
            v.members = self
                .members
                .values()
                .map(|m| {
                    let mut v = JoinGroupResponseMember::default();
                    v.member_id = StrBytes::from_string(m.id.clone());
                    v.group_instance_id = m.group_instance_id.clone().map(StrBytes::from_string);
                    v.metadata = m.metadata_for(&protocol).cloned().unwrap_or_default();
                    v
                })
                .collect();
        }
        v
    }

    pub fn new(id: &str, explain: bool, events: Events) -> Group {
        Group {
            id: id.to_string(),
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: IndexMap::new(),
            pending_members: HashMap::new(),
            rebalance_epoch: 0,
            join_not_before: None,
            rebalance_reason: String::new(),
            explain,
            events,
        }
    }

    /// Moves to `to`, logging the change in plain words and recording it as a
    /// rebalance event.
    pub fn transition(&mut self, to: GroupState, why: &str) {
        if self.state == to {
            return;
        }
        let text = format!(
            "group {}: {} -> {} ({why}); generation {}",
            self.id, self.state, to, self.generation
        );
        if self.explain {
            // A static member shows its instance id: `c-1-…(static "a")`.
            let members: Vec<String> = self
                .members
                .values()
                .map(|m| match &m.group_instance_id {
                    Some(instance) => format!("{} (static {instance:?})", m.id),
                    None => m.id.clone(),
                })
                .collect();
            crate::explain::line(
                "group/state.rs Group::transition",
                format_args!(
                    "group {}: {} → {} ({why}); generation {}, members [{}], leader {}",
                    self.id,
                    self.state,
                    to,
                    self.generation,
                    members.join(", "),
                    self.leader.as_deref().unwrap_or("none"),
                ),
            );
        } else {
            tracing::info!("{text}");
        }
        self.events.record(EventKind::Rebalance, text);
        self.state = to;
    }

    /// Protocols every member supports, in `first`'s preference order.
    fn candidates<'a>(&'a self, first: &'a Member) -> impl Iterator<Item = &'a str> + 'a {
        first
            .protocols
            .iter()
            .map(|(name, _)| name.as_str())
            .filter(move |name| {
                self.members
                    .values()
                    .all(|m| m.metadata_for(name).is_some())
            })
    }

    /// Whether a (new or changed) member with these protocols can be in this group:
    /// an empty group takes any non-empty list; otherwise the type must match and at least
    /// one protocol must be supported by every current member (Kafka's `supportsProtocols`).
    pub fn supports(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if protocol_type.is_empty() || protocols.is_empty() {
            return false;
        }
        if self.members.is_empty() {
            return true;
        }
        if self.protocol_type.as_deref() != Some(protocol_type) {
            return false;
        }
        protocols.iter().any(|(name, _)| {
            self.members
                .values()
                .all(|m| m.metadata_for(name).is_some())
        })
    }

    /// Kafka's `selectProtocol`: among the protocols all members support, each member votes
    /// for the one it prefers most; the most votes win, ties go to the leader's preference.
    pub fn select_protocol(&self) -> Option<String> {
        let leader = self
            .leader
            .as_ref()
            .and_then(|id| self.members.get(id))
            .or_else(|| self.members.values().next())?;
        let candidates: Vec<&str> = self.candidates(leader).collect();
        let mut best: Option<(&str, usize)> = None;
        for candidate in &candidates {
            let votes = self
                .members
                .values()
                .filter(|m| {
                    m.protocols
                        .iter()
                        .map(|(n, _)| n.as_str())
                        .find(|n| candidates.contains(n))
                        == Some(candidate)
                })
                .count();
            if best.is_none_or(|(_, b)| votes > b) {
                best = Some((candidate, votes));
            }
        }
        best.map(|(name, _)| name.to_string())
    }

    /// True once every known member has a JoinGroup waiting and no member id handed out
    /// with MEMBER_ID_REQUIRED is still unused (Kafka's `hasAllMembersJoined`): members
    /// starting together land in one generation instead of one rebalance each.
    pub fn all_members_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.values().all(|m| m.awaiting_join.is_some())
    }

    /// Kafka's `currentStaticMemberId`: the member id that holds `instance_id` now.
    pub fn static_member(&self, instance_id: &str) -> Option<&str> {
        self.members
            .values()
            .find(|m| m.group_instance_id.as_deref() == Some(instance_id))
            .map(|m| m.id.as_str())
    }

    /// Kafka's `validateCurrentMember`, shared by JoinGroup, SyncGroup, Heartbeat,
    /// LeaveGroup and OffsetCommit: with an instance id, it must be held by `member_id`
    /// (another member id → FENCED_INSTANCE_ID: an older process of that instance, or a
    /// duplicate, was replaced; nobody → UNKNOWN_MEMBER_ID); without one, `member_id` must
    /// be a member (else UNKNOWN_MEMBER_ID).
    pub fn check_member(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<(), ResponseError> {
        match instance_id {
            Some(instance) => match self.static_member(instance) {
                Some(current) if current != member_id => Err(ResponseError::FencedInstanceId),
                Some(_) => Ok(()),
                None => Err(ResponseError::UnknownMemberId),
            },
            None if self.members.contains_key(member_id) => Ok(()),
            None => Err(ResponseError::UnknownMemberId),
        }
    }

    /// Kafka's `replaceStaticMember`: the member holding `old_id` continues as `new_id`,
    /// with its place in the join order, its assignment and its leadership. A JoinGroup or
    /// SyncGroup the old id is still waiting on is answered FENCED_INSTANCE_ID at once.
    /// Returns false when there is no member `old_id`.
    pub fn replace_static_member(&mut self, old_id: &str, new_id: &str) -> bool {
        let Some(index) = self.members.get_index_of(old_id) else {
            return false;
        };
        let Some((_, mut member)) = self.members.shift_remove_index(index) else {
            return false;
        };
        if let Some(tx) = member.awaiting_join.take() {
            let _ = tx.send(join_error(ResponseError::FencedInstanceId, old_id));
        }
        if let Some(tx) = member.awaiting_sync.take() {
            let _ = tx.send(sync_error(ResponseError::FencedInstanceId));
        }
        member.id = new_id.to_string();
        self.members.shift_insert(index, new_id.to_string(), member);
        if self.leader.as_deref() == Some(old_id) {
            self.leader = Some(new_id.to_string());
        }
        true
    }

    /// The longest rebalance timeout of the members: how long a rebalance may wait.
    pub fn rebalance_timeout(&self) -> Duration {
        self.members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or(Duration::ZERO)
    }

    /// Forgets MEMBER_ID_REQUIRED ids that were never used within their session timeout.
    pub fn prune_pending(&mut self, now: Instant) {
        self.pending_members.retain(|_, expires| *expires > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, protocols: &[&str]) -> Member {
        Member {
            id: id.into(),
            group_instance_id: None,
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout: Duration::from_secs(10),
            rebalance_timeout: Duration::from_secs(10),
            protocols: protocols
                .iter()
                .map(|p| (p.to_string(), Bytes::new()))
                .collect(),
            assignment: Bytes::new(),
            awaiting_join: None,
            awaiting_sync: None,
            last_seen: Instant::now(),
        }
    }

    #[tokio::test]
    async fn protocol_is_one_every_member_supports() {
        let mut g = Group::new("g", false, Events::default());
        g.members
            .insert("a".into(), member("a", &["range", "roundrobin"]));
        g.members.insert("b".into(), member("b", &["roundrobin"]));
        g.leader = Some("a".into());
        g.protocol_type = Some("consumer".into());
        assert_eq!(g.select_protocol().as_deref(), Some("roundrobin"));
        assert!(!g.supports("connect", &[("roundrobin".into(), Bytes::new())]));
        assert!(g.supports("consumer", &[("roundrobin".into(), Bytes::new())]));
        assert!(!g.supports("consumer", &[("range".into(), Bytes::new())]));
    }

    #[tokio::test]
    async fn a_static_member_is_replaced_in_place_and_its_old_id_fenced() {
        let mut g = Group::new("g", false, Events::default());
        g.members.insert("a".into(), member("a", &["range"]));
        let mut b = member("b", &["range"]);
        b.group_instance_id = Some("inst-b".into());
        b.assignment = Bytes::from_static(b"partitions of b");
        let (tx, mut rx) = oneshot::channel();
        b.awaiting_sync = Some(tx);
        g.members.insert("b".into(), b);
        g.members.insert("c".into(), member("c", &["range"]));
        g.leader = Some("b".into());

        assert_eq!(g.static_member("inst-b"), Some("b"));
        assert_eq!(g.check_member("b", Some("inst-b")), Ok(()));
        assert!(g.replace_static_member("b", "b2"));
        // The waiting SyncGroup of the old id is answered FENCED_INSTANCE_ID at once.
        let fenced = rx.try_recv().expect("answered");
        assert_eq!(fenced.error_code, ResponseError::FencedInstanceId.code());
        // Same place, same assignment, the leadership moves with it.
        let order: Vec<&str> = g.members.keys().map(String::as_str).collect();
        assert_eq!(order, vec!["a", "b2", "c"]);
        assert_eq!(g.members["b2"].id, "b2");
        assert_eq!(&g.members["b2"].assignment[..], b"partitions of b");
        assert_eq!(g.leader.as_deref(), Some("b2"));
        assert_eq!(g.static_member("inst-b"), Some("b2"));
        // Kafka's validateCurrentMember.
        assert_eq!(
            g.check_member("b", Some("inst-b")),
            Err(ResponseError::FencedInstanceId)
        );
        assert_eq!(
            g.check_member("b", None),
            Err(ResponseError::UnknownMemberId)
        );
        assert_eq!(g.check_member("b2", Some("inst-b")), Ok(()));
        assert_eq!(
            g.check_member("a", Some("nobody")),
            Err(ResponseError::UnknownMemberId)
        );
        assert_eq!(g.check_member("a", None), Ok(()));
        assert!(!g.replace_static_member("gone", "x"));
    }

    #[tokio::test]
    async fn most_votes_win_and_ties_follow_the_leader() {
        let mut g = Group::new("g", false, Events::default());
        g.members
            .insert("a".into(), member("a", &["range", "roundrobin"]));
        g.members
            .insert("b".into(), member("b", &["roundrobin", "range"]));
        g.leader = Some("a".into());
        assert_eq!(g.select_protocol().as_deref(), Some("range"));
        g.members
            .insert("c".into(), member("c", &["roundrobin", "range"]));
        assert_eq!(g.select_protocol().as_deref(), Some("roundrobin"));
    }
}
