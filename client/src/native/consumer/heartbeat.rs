//! Heartbeats: the background task that keeps this member in its generation, and tells the
//! member when the group wants it to rejoin.
//!
//! Where it sits: beside the fetch loop, after SyncGroup: consumer ⇄ **Heartbeat** ⇄
//! coordinator, every `heartbeat.interval.ms`, until the generation ends.
//!
//! What the coordinator's answer means (Kafka's `HeartbeatResponseHandler`):
//!
//! | answer | meaning | the member |
//! |---|---|---|
//! | NONE | still in the generation | waits for the next beat |
//! | REBALANCE_IN_PROGRESS | someone joined or left | revokes, commits, rejoins |
//! | ILLEGAL_GENERATION | the generation is over without us | drops its partitions, rejoins |
//! | UNKNOWN_MEMBER_ID | the coordinator forgot us (session timeout) | same, as a new member |
//! | NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, no answer | coordinator gone | finds it again |
//!
//! Invariant: one heartbeat task per generation; it ends after reporting one [`Outcome`],
//! and the member aborts it when the generation ends for another reason.

use std::time::Duration;

use kafka_protocol::messages::{GroupId, HeartbeatRequest};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::error::{Error, KafkaCode};
use crate::native::consumer::coordinator::Coordinator;

const HEARTBEAT_CAP: i16 = 4;

/// Why the heartbeat task stopped.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The group is rebalancing; our generation is still valid, so commit, then rejoin.
    Rejoin,
    /// The generation ended without us; our partitions are already someone else's.
    /// `forget_member_id`: the coordinator no longer knows our member id.
    Lost { forget_member_id: bool },
    /// The coordinator cannot be reached or moved: find it again.
    CoordinatorLost(Error),
}

/// Start beating for `generation` of `group` as `member_id`.
pub(crate) fn spawn(
    coordinator: Coordinator,
    group: String,
    generation: i32,
    member_id: String,
    interval: Duration,
    session_timeout: Duration,
) -> (JoinHandle<()>, oneshot::Receiver<Outcome>) {
    let (tx, rx) = oneshot::channel();
    let task = tokio::spawn(async move {
        let outcome = beat(
            &coordinator,
            &group,
            generation,
            &member_id,
            interval,
            session_timeout,
        )
        .await;
        tracing::debug!(%group, generation, ?outcome, "heartbeats stop");
        let _ = tx.send(outcome);
    });
    (task, rx)
}

async fn beat(
    coordinator: &Coordinator,
    group: &str,
    generation: i32,
    member_id: &str,
    interval: Duration,
    session_timeout: Duration,
) -> Outcome {
    let req = HeartbeatRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_generation_id(generation)
        .with_member_id(StrBytes::from_string(member_id.to_string()));
    let mut last_ok = Instant::now();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await; // the first tick is immediate; SyncGroup just proved we are alive
    loop {
        ticker.tick().await;
        let error = match coordinator.call(&req, HEARTBEAT_CAP).await {
            Ok(resp) => match KafkaCode::from_code(resp.error_code) {
                _ if resp.error_code == 0 => {
                    last_ok = Instant::now();
                    continue;
                }
                KafkaCode::RebalanceInProgress => return Outcome::Rejoin,
                KafkaCode::IllegalGeneration => {
                    return Outcome::Lost {
                        forget_member_id: false,
                    }
                }
                KafkaCode::UnknownMemberId => {
                    return Outcome::Lost {
                        forget_member_id: true,
                    }
                }
                _ => Error::kafka(
                    resp.error_code,
                    format!("heartbeat of group `{group}` generation {generation}"),
                ),
            },
            Err(e) => e,
        };
        if coordinator.conn.is_closed()
            || super::coordinator::coordinator_moved(&error)
            || last_ok.elapsed() >= session_timeout
        {
            return Outcome::CoordinatorLost(error);
        }
        tracing::debug!(%group, error = %error, "heartbeat failed, trying again");
    }
}
