//! TxnOffsetCommit (key 28): a transactional producer commits a consumer group's
//! offsets inside its transaction (`send_offsets_to_transaction`), so the records it
//! wrote and the offsets of what it read become visible together, or not at all.
//!
//! Flow: consume → transform → produce (transactional) → AddOffsetsToTxn →
//! **TxnOffsetCommit** → `OffsetStore::commit_transactional` (a transactional batch in
//! `__consumer_offsets`, held back from OffsetFetch) → EndTxn → the transaction
//! coordinator's marker → `OffsetStore::complete_transaction` (visible, or dropped).
//!
//! What must stay true:
//! - The transaction check (the producer holds the transactional id, AddOffsetsToTxn
//!   came first) is the protocol layer's, through the transaction coordinator; a
//!   refusal there is every partition's answer here.
//! - The group and member are checked as OffsetCommit checks them (v3+ sends them),
//!   with Kafka's exceptions for transactional commits (`offset_commit.rs:
//!   check_commit`): a producer that sends none (v0–2: aiokafka and kafka-python, say)
//!   commits for the group whatever its state, even while its consumers are members,
//!   and an unknown group is created Empty.
//! - Nothing is visible to OffsetFetch before the COMMIT marker; `require_stable`
//!   readers get UNSTABLE_OFFSET_COMMIT meanwhile (`offset_fetch.rs`).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use super::coordinator::now_ms;
use super::offset_commit::{check_commit, Committer, MAX_METADATA_BYTES};
use super::offset_record::CommittedOffset;
use super::{comma_list, GroupCoordinator};
use crate::error_codes::error_name;

/// TxnOffsetCommit v0–v3. `txn` is the transaction coordinator's verdict on the
/// producer (code and reason), `Ok` to go on.
pub async fn handle(
    c: &GroupCoordinator,
    req: TxnOffsetCommitRequest,
    _version: i16,
    txn: Result<(), (ResponseError, String)>,
) -> (TxnOffsetCommitResponse, String) {
    let group_id = req.group_id.0.to_string();
    let offsets = comma_list(req.topics.iter().flat_map(|t| {
        t.partitions.iter().map(move |p| {
            format!(
                "{}[{}]={}",
                t.name.0.as_str(),
                p.partition_index,
                p.committed_offset
            )
        })
    }));
    let who = Committer {
        generation: req.generation_id,
        member_id: &req.member_id,
        instance_id: req.group_instance_id.as_deref(),
        transactional: true,
    };
    let verdict = match &txn {
        Err((code, _)) => Err(*code),
        Ok(()) => check_commit(c, &group_id, who, 8),
    };
    let now = now_ms();
    let mut writes = Vec::new();
    let mut topics = Vec::new();
    for t in &req.topics {
        let name = t.name.0.to_string();
        let mut parts = Vec::new();
        for p in &t.partitions {
            let metadata = p.committed_metadata.as_deref().unwrap_or("").to_string();
            let code = match verdict {
                Err(e) => e.code(),
                Ok(()) if c.topics.partition(&name, p.partition_index).is_none() => {
                    ResponseError::UnknownTopicOrPartition.code()
                }
                Ok(()) if metadata.len() > MAX_METADATA_BYTES => {
                    ResponseError::OffsetMetadataTooLarge.code()
                }
                Ok(()) => {
                    writes.push((
                        name.clone(),
                        p.partition_index,
                        CommittedOffset {
                            offset: p.committed_offset,
                            leader_epoch: p.committed_leader_epoch,
                            metadata,
                            commit_timestamp: now,
                        },
                    ));
                    0
                }
            };
            parts.push((p.partition_index, code));
        }
        topics.push((t.name.clone(), parts));
    }
    let mut failure = None;
    if !writes.is_empty() {
        let store = c.store.clone();
        let (group, pid, epoch) = (group_id.clone(), req.producer_id.0, req.producer_epoch);
        let written = writes.clone();
        let result = tokio::task::spawn_blocking(move || {
            store.commit_transactional(&group, pid, epoch, &written)
        })
        .await;
        failure = match result {
            Ok(Ok(())) => None,
            Ok(Err(crate::log::LogError::Producer(e))) => {
                Some((e.kafka_error_code(), e.to_string()))
            }
            Ok(Err(e)) => Some((ResponseError::CoordinatorNotAvailable.code(), e.to_string())),
            Err(e) => Some((
                ResponseError::CoordinatorNotAvailable.code(),
                format!("the writing task failed: {e}"),
            )),
        };
        if let Some((code, _)) = &failure {
            for (_, parts) in &mut topics {
                for (_, c) in parts.iter_mut().filter(|(_, c)| *c == 0) {
                    *c = *code;
                }
            }
        }
    }
    let resp = TxnOffsetCommitResponse::default().with_topics(
        topics
            .iter()
            .map(|(name, parts)| {
                TxnOffsetCommitResponseTopic::default()
                    .with_name(name.clone())
                    .with_partitions(
                        parts
                            .iter()
                            .map(|&(i, code)| {
                                TxnOffsetCommitResponsePartition::default()
                                    .with_partition_index(i)
                                    .with_error_code(code)
                            })
                            .collect(),
                    )
            })
            .collect(),
    );
    let reason = match (&txn, &failure) {
        (Err((code, why)), _) => format!(" -> {}: {why}", error_name(code.code())),
        (_, Some((code, why))) => format!(" -> {}: {why}", error_name(*code)),
        _ => match verdict {
            Err(e) => format!(" -> {}", error_name(e.code())),
            Ok(()) => " (pending until the transaction ends)".to_string(),
        },
    };
    let line = format!(
        "txn_offset_commit {} {group_id} producer {} epoch {} {offsets}{reason}",
        req.transactional_id.0.as_str(),
        req.producer_id.0,
        req.producer_epoch
    );
    (resp, line)
}
