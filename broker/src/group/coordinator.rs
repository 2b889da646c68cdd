//! The group coordinator itself: the group table, opening and shutdown, and the
//! machinery every group step shares (member ids, rebalances, removing members).
//!
//! Where it sits: consumer → wire → protocol layer → one handler per API (join, sync,
//! heartbeat, leave, offsets, ...) → the helpers here → [`Group`].
//!
//! Invariants:
//! - The group table is behind a std `Mutex`: every step is short, bounded, in-memory work,
//!   and the lock is never held across `.await`. A step that must wait (JoinGroup until the
//!   rebalance completes, SyncGroup until the leader syncs) leaves a oneshot sender in the
//!   member and awaits the receiver after releasing the lock.
//! - Timers (in [`super::timers`]) are tokio tasks holding only a `Weak` to the
//!   coordinator; each re-checks the group under the lock when it fires, so a stale timer
//!   does nothing. They stop on `shutdown` (or when the coordinator is dropped).

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{JoinGroupResponse, SyncGroupResponse};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::watch;
use tokio::time::Instant;

use super::offset_store::{OffsetStore, OffsetStoreError};
use super::state::{Group, GroupState};
use super::OFFSETS_TOPIC;
use crate::events::{EventKind, Events};
use crate::topics::{TopicError, Topics};
use crate::Config;

/// The group settings taken from [`Config`].
#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub min_session_timeout: Duration,
    pub max_session_timeout: Duration,
    pub initial_rebalance_delay: Duration,
    /// Explain mode (`Config::explain`), copied into every group this coordinator creates.
    pub explain: bool,
    /// The broker's event ring (from `Topics::events`), shared with every group.
    pub events: Events,
}

/// The coordinator of every group on this broker. Shared as `Arc<GroupCoordinator>`;
/// the protocol layer hands it to the handler of each group API.
#[derive(Debug)]
pub struct GroupCoordinator {
    pub(super) topics: Arc<Topics>,
    pub(super) store: Arc<OffsetStore>,
    /// std Mutex, never held across `.await` (see the module docs).
    groups: Mutex<HashMap<String, Group>>,
    pub(super) settings: Settings,
    /// Lets timers reach the coordinator without keeping it alive.
    pub(super) me: std::sync::Weak<GroupCoordinator>,
    /// `true` once shutdown began; every timer task watches it.
    pub(super) stop: watch::Sender<bool>,
    /// False after shutdown: requests get COORDINATOR_NOT_AVAILABLE.
    active: AtomicBool,
    /// Makes member ids unique even when two are minted in the same instant.
    id_counter: AtomicU64,
    id_hasher: RandomState,
}

pub(super) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub(super) fn join_error(code: ResponseError, member_id: &str) -> JoinGroupResponse {
    {
        let mut v = JoinGroupResponse::default();
        v.error_code = code.code();
        v.generation_id = -1;
        v.member_id = StrBytes::from_string(member_id.to_string());
        v
    }
}

pub(super) fn sync_error(code: ResponseError) -> SyncGroupResponse {
    {
        let mut v = SyncGroupResponse::default();
        v.error_code = code.code();
        v
    }
}

impl GroupCoordinator {
    /// Opens (or creates) `__consumer_offsets`, replays it into memory, and lists every
    /// group that has committed offsets as an Empty group (as Kafka loads them).
    /// Blocking (reads the whole offsets log): call it before serving, or in spawn_blocking.
    pub fn open(topics: Arc<Topics>, config: &Config) -> Result<Arc<GroupCoordinator>, TopicError> {
        let store = OffsetStore::open(&topics, config.offsets_topic_segment_bytes).map_err(
            |e| match e {
                OffsetStoreError::Topic(t) => t,
                other => TopicError::Corrupt {
                    path: topics.data_dir().join(format!("{OFFSETS_TOPIC}-0")),
                    reason: other.to_string(),
                },
            },
        )?;
        let events = topics.events().clone();
        let groups = store
            .groups()
            .into_iter()
            .map(|id| {
                let group = Group::new(&id, config.explain, events.clone());
                (id, group)
            })
            .collect();
        let (stop, _) = watch::channel(false);
        let settings = Settings {
            min_session_timeout: config.group_min_session_timeout,
            max_session_timeout: config.group_max_session_timeout,
            initial_rebalance_delay: config.group_initial_rebalance_delay,
            explain: config.explain,
            events,
        };
        Ok(Arc::new_cyclic(|me| GroupCoordinator {
            topics,
            store: Arc::new(store),
            groups: Mutex::new(groups),
            settings,
            me: me.clone(),
            stop,
            active: AtomicBool::new(true),
            id_counter: AtomicU64::new(0),
            id_hasher: RandomState::new(),
        }))
    }

    /// Stops every timer (session and rebalance timeouts), marks every group Dead and
    /// answers waiting members with COORDINATOR_NOT_AVAILABLE. Called on broker shutdown.
    pub async fn shutdown(&self) {
        self.active.store(false, Ordering::Release);
        self.stop.send_replace(true);
        let mut groups = self.groups();
        for group in groups.values_mut() {
            for member in group.members.values_mut() {
                if let Some(tx) = member.awaiting_join.take() {
                    let _ = tx.send(join_error(
                        ResponseError::CoordinatorNotAvailable,
                        &member.id,
                    ));
                }
                if let Some(tx) = member.awaiting_sync.take() {
                    let _ = tx.send(sync_error(ResponseError::CoordinatorNotAvailable));
                }
            }
            group.transition(GroupState::Dead, "the broker is shutting down");
        }
    }

    /// The end of a transaction in `__consumer_offsets` (called by the transaction
    /// coordinator): the marker, and the transaction's offset commits made visible or
    /// dropped (`OffsetStore::complete_transaction`). Blocking.
    pub fn complete_transaction(
        &self,
        producer_id: i64,
        epoch: i16,
        commit: bool,
    ) -> Result<crate::log::AppendInfo, crate::log::LogError> {
        self.store.complete_transaction(producer_id, epoch, commit)
    }

    /// Every committed offset: (group, topic, partition) → offset, sorted (read by
    /// `snapshot.rs`).
    pub fn committed_offsets(&self) -> Vec<(super::offset_record::OffsetKey, i64)> {
        self.store
            .groups()
            .iter()
            .flat_map(|g| self.store.group_offsets(g))
            .map(|(k, v)| (k, v.offset))
            .collect()
    }

    /// Runs `read` on the live group table, under its lock (read by `snapshot.rs` for
    /// the dashboard and the tour). `read` must be quick and must not block.
    pub fn read_groups<R>(&self, read: impl FnOnce(&HashMap<String, Group>) -> R) -> R {
        read(&self.groups())
    }

    pub(super) fn groups(&self) -> MutexGuard<'_, HashMap<String, Group>> {
        // Poisoning means a panic mid-step; the table itself is still usable.
        self.groups.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// A new member id, `<client_id>-<32 hex digits>`, as Kafka makes them.
    pub(super) fn new_member_id(&self, client_id: &str) -> String {
        let n = self.id_counter.fetch_add(1, Ordering::Relaxed);
        let mut a = self.id_hasher.build_hasher();
        a.write_u64(n);
        let hi = a.finish();
        a.write_u64(hi);
        let lo = a.finish();
        let prefix = if client_id.is_empty() {
            "member"
        } else {
            client_id
        };
        format!(
            "{prefix}-{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            hi >> 32,
            (hi >> 16) & 0xffff,
            hi & 0xffff,
            lo >> 48,
            lo & 0xffff_ffff_ffff
        )
    }

    /// Starts a rebalance (Kafka's `prepareRebalance`): members must rejoin.
    pub(super) fn prepare_rebalance(&self, group: &mut Group, why: &str) {
        if group.state == GroupState::CompletingRebalance {
            // The leader's assignment for this generation will never come: tell the members
            // waiting on SyncGroup to rejoin.
            for member in group.members.values_mut() {
                member.assignment = Bytes::new();
                if let Some(tx) = member.awaiting_sync.take() {
                    let _ = tx.send(sync_error(ResponseError::RebalanceInProgress));
                }
            }
        }
        let was_empty = group.state == GroupState::Empty;
        group.transition(GroupState::PreparingRebalance, why);
        group.rebalance_epoch += 1;
        group.rebalance_reason = why.to_string();
        let delay = self.settings.initial_rebalance_delay;
        let timeout = group.rebalance_timeout();
        if was_empty && !delay.is_zero() {
            group.join_not_before = Some(Instant::now() + delay);
            self.spawn_rebalance_timer(&group.id, group.rebalance_epoch, delay, false);
        }
        self.spawn_rebalance_timer(&group.id, group.rebalance_epoch, timeout.max(delay), true);
    }

    /// Pushes the end of the initial rebalance delay to `now + delay`.
    pub(super) fn extend_initial_delay(&self, group: &mut Group) {
        let delay = self.settings.initial_rebalance_delay;
        group.join_not_before = Some(Instant::now() + delay);
        self.spawn_rebalance_timer(&group.id, group.rebalance_epoch, delay, false);
    }

    /// Completes the join phase if it may: every member rejoined and any initial delay is
    /// over, or `force` (the rebalance timeout fired).
    pub(super) fn try_complete_join(&self, group: &mut Group, force: bool) {
        if group.state != GroupState::PreparingRebalance {
            return;
        }
        let delayed = group.join_not_before.is_some_and(|t| Instant::now() < t);
        if force {
            self.complete_join(group, "the rebalance timeout passed");
        } else if group.all_members_joined() && !delayed {
            let why = match group.members.len() {
                1 => "its one member joined".to_string(),
                n => format!("all {n} members joined"),
            };
            self.complete_join(group, &why);
        }
    }

    /// Kafka's `onCompleteJoin`: drop dynamic members that did not rejoin, start the next
    /// generation, choose the protocol, and answer every waiting JoinGroup.
    ///
    /// Static members (a `group.instance.id`, KIP-345) that did not rejoin stay, keeping
    /// their place in the assignment, until their session times out: a restarting static
    /// consumer comes back to its partitions.
    fn complete_join(&self, group: &mut Group, why: &str) {
        let gone: Vec<String> = group
            .members
            .values()
            .filter(|m| m.awaiting_join.is_none() && m.group_instance_id.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in gone {
            group.members.shift_remove(&id);
            let text = format!(
                "group {}: member {id} did not rejoin within the rebalance timeout; removed",
                group.id
            );
            tracing::info!("{text}");
            group.events.record(EventKind::MemberExpired, text);
        }
        group.join_not_before = None;
        // Kafka's `maybeElectNewJoinedLeader`: the leader must be a member that rejoined,
        // since only a waiting JoinGroup can carry the member list to it.
        let leader_rejoined = group
            .leader
            .as_ref()
            .and_then(|l| group.members.get(l))
            .is_some_and(|m| m.awaiting_join.is_some());
        if !leader_rejoined {
            let joined = group
                .members
                .values()
                .find(|m| m.awaiting_join.is_some())
                .map(|m| m.id.clone());
            if joined.is_none() && !group.members.is_empty() {
                // Only static members that have not rejoined: nobody can lead. Wait another
                // rebalance timeout; their sessions expire meanwhile if they are gone.
                tracing::info!(
                    "group {}: no member rejoined ({} static member(s) still away); waiting another rebalance timeout",
                    group.id,
                    group.members.len()
                );
                let timeout = group.rebalance_timeout();
                self.spawn_rebalance_timer(&group.id, group.rebalance_epoch, timeout, true);
                return;
            }
            group.leader = joined;
        }
        group.generation += 1;
        if group.members.is_empty() {
            group.protocol = None;
            group.leader = None;
            group.transition(GroupState::Empty, "no members left");
            tracing::info!(
                "group {}: generation {} has no members",
                group.id,
                group.generation
            );
            return;
        }
        let Some(protocol) = group.select_protocol() else {
            // Cannot happen while joins are checked with `supports`; answer instead of panicking.
            for member in group.members.values_mut() {
                if let Some(tx) = member.awaiting_join.take() {
                    let _ = tx.send(join_error(
                        ResponseError::InconsistentGroupProtocol,
                        &member.id,
                    ));
                }
            }
            group.members.clear();
            group.leader = None;
            group.transition(GroupState::Empty, "members share no protocol");
            return;
        };
        group.protocol = Some(protocol.clone());
        group.transition(GroupState::CompletingRebalance, why);
        let leader = group.leader.clone().unwrap_or_default();
        let ids: Vec<&str> = group.members.keys().map(String::as_str).collect();
        tracing::info!(
            "group {}: generation {} with members [{}], protocol {protocol}, leader {leader}; waiting for the leader's assignment",
            group.id,
            group.generation,
            ids.join(", ")
        );
        let now = Instant::now();
        let waiting: Vec<String> = group
            .members
            .values()
            .filter(|m| m.awaiting_join.is_some())
            .map(|m| m.id.clone())
            .collect();
        for id in waiting {
            let response = group.join_response(&id);
            if let Some(tx) = group
                .members
                .get_mut(&id)
                .and_then(|m| m.awaiting_join.take())
            {
                let _ = tx.send(response);
            }
        }
        for member in group.members.values_mut() {
            member.last_seen = now;
        }
    }

    /// Removes a member (LeaveGroup: `kind` is `MemberLeft`; session timeout:
    /// `MemberExpired`) and moves the group on.
    pub(super) fn remove_member(
        &self,
        group: &mut Group,
        member_id: &str,
        kind: EventKind,
        why: &str,
    ) {
        let Some(member) = group.members.shift_remove(member_id) else {
            return;
        };
        let text = format!("group {}: member {member_id} removed ({why})", group.id);
        tracing::info!("{text}");
        group.events.record(kind, text);
        if let Some(tx) = member.awaiting_join {
            let _ = tx.send(join_error(ResponseError::UnknownMemberId, member_id));
        }
        if let Some(tx) = member.awaiting_sync {
            let _ = tx.send(sync_error(ResponseError::UnknownMemberId));
        }
        if group.leader.as_deref() == Some(member_id) {
            group.leader = group.members.keys().next().cloned();
        }
        match group.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(group, &format!("member {member_id} left: {why}"));
                self.try_complete_join(group, false);
            }
            GroupState::PreparingRebalance => self.try_complete_join(group, false),
            GroupState::Empty | GroupState::Dead => {}
        }
    }
}
