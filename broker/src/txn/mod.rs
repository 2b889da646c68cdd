//! The transaction coordinator (KIP-98): transactional ids, their producer ids and
//! epochs, the state of each transaction in `__transaction_state`, and the COMMIT and
//! ABORT markers that end a transaction in every partition it wrote to.
//!
//! Where it sits: protocol (InitProducerId with a transactional id, AddPartitionsToTxn,
//! AddOffsetsToTxn, EndTxn, the check of TxnOffsetCommit) → **txn** → group (the
//! transaction's offset commits) and topics (the markers) → log.
//!
//! Reading order: [`metadata`] (the states) → [`state_log`] (their records) →
//! [`coordinator`] (the state machine and the markers). The protocol side of each API is
//! in `protocol/` (`add_partitions_to_txn.rs`, `add_offsets_to_txn.rs`, `end_txn.rs`,
//! `init_producer_id.rs`); the group side of TxnOffsetCommit in
//! `group/txn_offset_commit.rs`; the partition side (markers, the last stable offset,
//! the aborted index) in `log/` (`control_batch.rs`, `txn_index.rs`,
//! `partition_log/transactions.rs`). docs/transactions.md walks through one.

pub mod coordinator;
pub mod metadata;
pub mod state_log;

pub use coordinator::{TransactionCoordinator, TxnError};

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
