//! Every `file: function` the tour prints, in one table, so that
//! `demo/tests/docs_refs.rs` can check each one exists (a rename that forgets the tour
//! fails there) and a chapter can only name code through this table.
//!
//! Where it sits: beside the chapters; each `code:` line of the output is one of these.
//!
//! What must stay true: paths are from the workspace root, names are `fn` or
//! `Type::method` as defined in that file; [`ALL`] lists every constant.

/// A place in the code: the file, and the function (or type) in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeRef {
    pub file: &'static str,
    pub name: &'static str,
}

macro_rules! code_refs {
    ($($id:ident = $file:literal : $name:literal;)*) => {
        $(
            #[doc = concat!("`", $file, ": ", $name, "`")]
            pub const $id: CodeRef = CodeRef { file: $file, name: $name };
        )*
        /// Every reference above.
        pub const ALL: &[CodeRef] = &[$($id),*];
    };
}

code_refs! {
    MURMUR2 = "client/src/partitioner.rs": "murmur2";
    PARTITION_FOR_KEY = "client/src/partitioner.rs": "partition_for_key";
    PRODUCE_HANDLE = "broker/src/protocol/produce.rs": "handle";
    PARTITION_LOG_APPEND = "broker/src/log/partition_log/append.rs": "PartitionLog::append";
    SEGMENT_APPEND = "broker/src/log/segment.rs": "Segment::append";
    SEGMENT_FIND = "broker/src/log/segment.rs": "Segment::find";
    INDEX_DUE = "broker/src/log/index.rs": "IndexEntry::due";
    TIME_ENTRY_DUE = "broker/src/log/time_index.rs": "TimeEntry::due";
    SEGMENT_FIND_TIMESTAMP = "broker/src/log/segment.rs": "Segment::find_timestamp";
    BATCH_HEADER_PARSE = "broker/src/log/record_batch.rs": "BatchHeader::parse";
    ANNOTATE_HEADER = "broker/src/inspect/hex.rs": "annotate_header";
    FETCH_HANDLE = "broker/src/protocol/fetch.rs": "handle";
    JOIN_HANDLE = "broker/src/group/join.rs": "handle";
    SYNC_HANDLE = "broker/src/group/sync.rs": "handle";
    LEAVE_HANDLE = "broker/src/group/leave.rs": "handle";
    ROUNDROBIN_ASSIGN = "client/src/assignor/roundrobin.rs": "assign";
    OFFSET_COMMIT_HANDLE = "broker/src/group/offset_commit.rs": "handle";
    OFFSET_STORE_COMMIT = "broker/src/group/offset_store.rs": "OffsetStore::commit";
    OFFSET_STORE_OPEN = "broker/src/group/offset_store.rs": "OffsetStore::open";
    ENCODE_VALUE = "broker/src/group/offset_record.rs": "encode_value";
    SESSION_TIMER = "broker/src/group/timers.rs": "GroupCoordinator::spawn_session_timer";
    REMOVE_MEMBER = "broker/src/group/coordinator.rs": "GroupCoordinator::remove_member";
    OFFSET_FETCH_HANDLE = "broker/src/group/offset_fetch.rs": "handle";
    BROKER_SHUTDOWN = "broker/src/server.rs": "BrokerHandle::shutdown";
    RECOVERY_LOAD = "broker/src/log/recovery.rs": "load";
    MAYBE_ROLL = "broker/src/log/partition_log/append.rs": "PartitionLog::maybe_roll";
    APPLY_RETENTION = "broker/src/log/partition_log/retention.rs": "PartitionLog::apply_retention";
    LOG_CONFIG = "broker/src/topics/config.rs": "log_config";
    CLEAN_NOW = "broker/src/server.rs": "BrokerHandle::clean_now";
    PARTITION_LOG_CLEAN = "broker/src/log/partition_log/clean.rs": "PartitionLog::clean";
    CLEANER_PLAN = "broker/src/log/cleaner.rs": "plan";
    CLEANER_OFFSET_MAP = "broker/src/log/cleaner.rs": "offset_map";
    CLEANER_RETAINS = "broker/src/log/cleaner.rs": "retains";
    BATCH_DELETE_HORIZON = "broker/src/log/record_batch.rs": "BatchHeader::delete_horizon";
    SWAP_COMMIT = "broker/src/log/cleaner/swap.rs": "commit";
    SWAP_RECOVER = "broker/src/log/cleaner/swap.rs": "recover";
    TXN_INIT_PRODUCER_ID = "broker/src/txn/coordinator.rs": "TransactionCoordinator::init_producer_id";
    TXN_END_TXN = "broker/src/txn/coordinator.rs": "TransactionCoordinator::end_txn";
    STATE_LOG_WRITE = "broker/src/txn/state_log.rs": "StateLog::write";
    LAST_STABLE_OFFSET = "broker/src/log/partition_log/transactions.rs": "PartitionLog::last_stable_offset";
    SLICE_UPTO = "broker/src/log/partition_log/transactions.rs": "PartitionLog::slice_upto";
    RECORD_MARKER = "broker/src/log/partition_log/transactions.rs": "PartitionLog::record_marker";
    MARKER_BATCH = "broker/src/log/control_batch.rs": "marker_batch";
    ANNOTATE_CONTROL_RECORD = "broker/src/inspect/hex.rs": "annotate_control_record";
    TXN_INDEX_ADD = "broker/src/log/txn_index.rs": "AbortedTxns::add";
    ABORTED_OVERLAPPING = "broker/src/log/txn_index.rs": "AbortedTxns::overlapping";
    COMPLETED_FETCH_NEXT_BATCH = "client/src/native/completed_fetch.rs": "CompletedFetch::next_batch";
}
