//! What the transaction coordinator knows of one transactional id: its producer id and
//! epoch, its timeout, the state of its current transaction and the partitions in it.
//!
//! Flow: `coordinator.rs` changes a [`TxnMetadata`] → `state_log.rs` writes it.
//!
//! # States (Kafka's `TransactionState`, with its ids)
//!
//! | id | state          | reached from                   | means                                  |
//! |----|----------------|--------------------------------|----------------------------------------|
//! | 0  | Empty          | InitProducerId, a Complete*    | no transaction open                    |
//! | 1  | Ongoing        | AddPartitionsToTxn / AddOffsetsToTxn | a transaction is open            |
//! | 2  | PrepareCommit  | EndTxn(commit) on Ongoing      | decided: commit; markers being written |
//! | 3  | PrepareAbort   | EndTxn(abort), a timeout, or a new InitProducerId, on Ongoing | decided: abort |
//! | 4  | CompleteCommit | PrepareCommit, markers written | done                                   |
//! | 5  | CompleteAbort  | PrepareAbort, markers written  | done                                   |
//! | 6  | Dead           | expiry (`transactional.id.expiration.ms`) | gone; written as a tombstone |
//! | 7  | PrepareEpochFence | (Kafka, in memory only)     | not used here: the fence and the abort happen under one lock |
//!
//! What must stay true: `partitions` is empty exactly when no transaction is open or
//! being ended (Empty, Complete*); `start` is -1 then.

use std::collections::BTreeSet;

/// A transaction's state (see the table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnState {
    Empty = 0,
    Ongoing = 1,
    PrepareCommit = 2,
    PrepareAbort = 3,
    CompleteCommit = 4,
    CompleteAbort = 5,
    Dead = 6,
    PrepareEpochFence = 7,
}

impl TxnState {
    pub fn from_id(id: i8) -> Option<TxnState> {
        Some(match id {
            0 => TxnState::Empty,
            1 => TxnState::Ongoing,
            2 => TxnState::PrepareCommit,
            3 => TxnState::PrepareAbort,
            4 => TxnState::CompleteCommit,
            5 => TxnState::CompleteAbort,
            6 => TxnState::Dead,
            7 => TxnState::PrepareEpochFence,
            _ => return None,
        })
    }

    /// Kafka's name, as DescribeTransactions and ListTransactions print it.
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::Dead => "Dead",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    /// The state from its name (ListTransactions' filter); `None` if unknown.
    pub fn from_name(name: &str) -> Option<TxnState> {
        (0..=7)
            .filter_map(TxnState::from_id)
            .find(|s| s.name() == name)
    }

    /// No transaction is open or being ended.
    pub fn is_idle(self) -> bool {
        matches!(
            self,
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
        )
    }
}

/// One transactional id's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnMetadata {
    pub transactional_id: String,
    pub producer_id: i64,
    pub epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    /// The partitions in the open transaction, as (topic, partition).
    pub partitions: BTreeSet<(String, i32)>,
    /// When it last changed (ms since the epoch).
    pub last_update: i64,
    /// When the open transaction started; -1 when none is open.
    pub start: i64,
}

impl TxnMetadata {
    /// A new id, before its first epoch (InitProducerId bumps -1 to 0).
    pub fn new(id: &str, producer_id: i64, timeout_ms: i32, now: i64) -> TxnMetadata {
        TxnMetadata {
            transactional_id: id.to_string(),
            producer_id,
            epoch: -1,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            last_update: now,
            start: -1,
        }
    }
}
