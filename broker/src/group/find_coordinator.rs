//! FindCoordinator: "which broker coordinates my group (or my transactional id)?".
//! Here: always this broker.
//!
//! Where it sits: consumer start → **FindCoordinator** → JoinGroup (sent to the answer).
//!
//! Versions: v0–v3 ask for one `key` and answer in the top-level fields; v4 asks for a batch
//! of `coordinator_keys` and answers one `Coordinator` entry per key. `key_type` 0 is a
//! group, 1 a transactional id (the transaction coordinator, `txn/`): both are this
//! broker. A share group (key type 2, v6+) gets COORDINATOR_NOT_AVAILABLE, as Kafka
//! 3.9; any other key type is INVALID_REQUEST. After shutdown every key gets
//! COORDINATOR_NOT_AVAILABLE, which makes clients retry elsewhere or later, as with Kafka.
//!
//! What must stay true:
//! - The answer is the same `NodeInfo` (node id, host, port) that Metadata advertises.
//! - v4 answers exactly one entry per requested key, in request order.
//! - Asking never creates a group: the group appears on its first JoinGroup or commit.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use super::{comma_list, outcome, GroupCoordinator, NodeInfo};

/// FindCoordinator v0–v6.
pub async fn handle(
    c: &GroupCoordinator,
    req: FindCoordinatorRequest,
    version: i16,
    node: &NodeInfo,
) -> (FindCoordinatorResponse, String) {
    let keys = if req.coordinator_keys.is_empty() {
        req.key.as_str().to_string()
    } else {
        comma_list(req.coordinator_keys.iter().map(|k| k.as_str()))
    };
    let error = match req.key_type {
        _ if !c.is_active() => Some((
            ResponseError::CoordinatorNotAvailable,
            "no coordinator for this key on this broker",
        )),
        // A group, or a transactional id: this broker coordinates both.
        0 | 1 => None,
        // A share group (KIP-932, v6+): Kafka 3.9 has no share coordinator either.
        2 if version >= 6 => Some((
            ResponseError::CoordinatorNotAvailable,
            "no share coordinator on this broker",
        )),
        _ => Some((
            ResponseError::InvalidRequest,
            "unknown coordinator key type",
        )),
    };
    let entry = |key: StrBytes| {
        let mut coordinator = {
            let mut v = Coordinator::default();
            v.key = key;
            v
        };
        match error {
            Some((e, message)) => {
                coordinator.error_code = e.code();
                coordinator.error_message = Some(StrBytes::from_static_str(message));
                coordinator.node_id = BrokerId(-1);
                coordinator.port = -1;
            }
            None => {
                coordinator.node_id = BrokerId(node.node_id);
                coordinator.host = StrBytes::from_string(node.host.clone());
                coordinator.port = node.port;
            }
        }
        coordinator
    };
    let resp = if version >= 4 {
        let mut v = FindCoordinatorResponse::default();
        v.coordinators = req.coordinator_keys.into_iter().map(entry).collect();
        v
    } else {
        let one = entry(req.key);
        let mut v = FindCoordinatorResponse::default();
        v.error_code = one.error_code;
        v.error_message = one.error_message;
        v.node_id = one.node_id;
        v.host = one.host;
        v.port = one.port;
        v
    };
    let line = format!(
        "find_coordinator {keys} -> node {} at {}:{}{}",
        node.node_id,
        node.host,
        node.port,
        outcome(resp.error_code)
    );
    (resp, line)
}
