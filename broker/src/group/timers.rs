//! The group timers: rebalance timeouts, the initial rebalance delay, member sessions,
//! and unused MEMBER_ID_REQUIRED ids.
//!
//! Where it sits: beside the request steps (join, sync, heartbeat, leave): what happens
//! when a client does *not* send a request in time.
//!
//! Each timer is a tokio task holding only a `Weak` to the coordinator. When it fires it
//! takes the group lock and re-checks (same rebalance epoch? member still there? still
//! silent?), so a timer that lost its reason does nothing. Every task also watches the
//! coordinator's stop channel and ends on shutdown. Tests drive them with
//! `tokio::time::pause`.
//!
//! What must stay true:
//! - A timer acts only after re-checking under the lock; a stale one does nothing.
//! - Timers never keep the coordinator alive (`Weak` only) and never hold the lock while
//!   they sleep.
//! - A member waiting on a JoinGroup or SyncGroup answer is never expired
//!   (`Member::session_deadline`).

use std::time::Duration;

use tokio::time::Instant;

use super::state::GroupState;
use super::GroupCoordinator;
use crate::events::EventKind;

impl GroupCoordinator {
    /// Completes (or, with `force`, ends) the rebalance of `epoch` after `after`: `force`
    /// is the rebalance timeout, otherwise the end of the initial delay.
    pub(super) fn spawn_rebalance_timer(
        &self,
        group_id: &str,
        epoch: u64,
        after: Duration,
        force: bool,
    ) {
        let weak = self.me.clone();
        let mut stop = self.stop.subscribe();
        let group_id = group_id.to_string();
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(after) => {}
                _ = stop.changed() => return,
            }
            let Some(coordinator) = weak.upgrade() else {
                return;
            };
            let mut groups = coordinator.groups();
            let Some(group) = groups.get_mut(&group_id) else {
                return;
            };
            if group.rebalance_epoch != epoch || group.state != GroupState::PreparingRebalance {
                return;
            }
            if force {
                tracing::info!(
                    "group {group_id}: rebalance timeout ({} ms) reached",
                    after.as_millis()
                );
            } else if group
                .join_not_before
                .is_some_and(|t| tokio::time::Instant::now() < t)
            {
                return; // the delay was extended; a later timer takes over
            } else {
                group.join_not_before = None;
            }
            coordinator.try_complete_join(group, force);
        });
    }

    /// Forgets a MEMBER_ID_REQUIRED id that was not used by `expires`, so a client that
    /// never came back does not hold up the rebalance.
    pub(super) fn spawn_pending_timer(&self, group_id: &str, expires: Instant) {
        let weak = self.me.clone();
        let mut stop = self.stop.subscribe();
        let group_id = group_id.to_string();
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep_until(expires) => {}
                _ = stop.changed() => return,
            }
            let Some(coordinator) = weak.upgrade() else {
                return;
            };
            let mut groups = coordinator.groups();
            if let Some(group) = groups.get_mut(&group_id) {
                group.prune_pending(Instant::now());
                coordinator.try_complete_join(group, false);
            }
        });
    }

    /// Watches one member's session: removes it when it has not been seen for its session
    /// timeout (unless it is waiting on a JoinGroup or SyncGroup response).
    pub(super) fn spawn_session_timer(&self, group_id: &str, member_id: &str) {
        let weak = self.me.clone();
        let mut stop = self.stop.subscribe();
        let (group_id, member_id) = (group_id.to_string(), member_id.to_string());
        tokio::spawn(async move {
            loop {
                let deadline = {
                    let Some(coordinator) = weak.upgrade() else {
                        return;
                    };
                    match coordinator.check_session(&group_id, &member_id) {
                        Some(deadline) => deadline,
                        None => return,
                    }
                };
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => {}
                    _ = stop.changed() => return,
                }
            }
        });
    }

    /// `Some(next deadline)` while the member lives; removes it and gives `None` once expired.
    fn check_session(&self, group_id: &str, member_id: &str) -> Option<Instant> {
        let mut groups = self.groups();
        let group = groups.get_mut(group_id)?;
        let member = group.members.get(member_id)?;
        let now = Instant::now();
        let deadline = member.session_deadline(now);
        if deadline > now {
            return Some(deadline);
        }
        let why = format!(
            "session timeout: no heartbeat for {} ms",
            member.session_timeout.as_millis()
        );
        self.remove_member(group, member_id, EventKind::MemberExpired, &why);
        None
    }
}
