//! What `/metrics` counts of each answer: Kafka's name of its API and the error code
//! it carries, for `Stats::request` (see `stats.rs`).
//!
//! Where it sits: in the protocol layer, called once per answer by `mod.rs: respond`.
//!
//! What must stay true:
//! - [`ErrorCode`] is implemented for the response of every API in
//!   `api_versions::SUPPORTED` (the dispatch does not compile otherwise).
//! - An answer with one error code per topic, partition or group counts its first
//!   non-zero one; 0 only when every part succeeded.

use kafka_protocol::messages::*;

/// The error code an answer carries: 0, or its first non-zero one.
pub trait ErrorCode {
    fn error_code(&self) -> i16;
}

/// The first non-zero code of `codes`, or 0.
fn first(codes: impl IntoIterator<Item = i16>) -> i16 {
    codes.into_iter().find(|&c| c != 0).unwrap_or(0)
}

/// Answers with a single, top-level error code.
macro_rules! top_level {
    ($($t:ty),*) => {$(
        impl ErrorCode for $t {
            fn error_code(&self) -> i16 {
                self.error_code
            }
        }
    )*};
}
top_level!(
    JoinGroupResponse,
    HeartbeatResponse,
    LeaveGroupResponse,
    SyncGroupResponse,
    ListGroupsResponse,
    ApiVersionsResponse,
    InitProducerIdResponse,
    DescribeClusterResponse,
    SaslHandshakeResponse,
    SaslAuthenticateResponse,
    AddOffsetsToTxnResponse,
    EndTxnResponse,
    ListTransactionsResponse
);

impl ErrorCode for DescribeProducersResponse {
    fn error_code(&self) -> i16 {
        first(
            self.topics
                .iter()
                .flat_map(|t| &t.partitions)
                .map(|p| p.error_code),
        )
    }
}

impl ErrorCode for DescribeTransactionsResponse {
    fn error_code(&self) -> i16 {
        first(self.transaction_states.iter().map(|t| t.error_code))
    }
}

/// Answers with one error code per partition, grouped by topic.
macro_rules! per_partition {
    ($($t:ty: $topics:ident . $partitions:ident),*) => {$(
        impl ErrorCode for $t {
            fn error_code(&self) -> i16 {
                first(
                    self.$topics
                        .iter()
                        .flat_map(|t| &t.$partitions)
                        .map(|p| p.error_code),
                )
            }
        }
    )*};
}
per_partition!(
    ProduceResponse: responses.partition_responses,
    ListOffsetsResponse: topics.partitions,
    OffsetCommitResponse: topics.partitions,
    DeleteRecordsResponse: topics.partitions,
    OffsetForLeaderEpochResponse: topics.partitions,
    TxnOffsetCommitResponse: topics.partitions
);

impl ErrorCode for AddPartitionsToTxnResponse {
    fn error_code(&self) -> i16 {
        first(
            self.results_by_topic_v3_and_below
                .iter()
                .flat_map(|t| &t.results_by_partition)
                .map(|p| p.partition_error_code),
        )
    }
}

impl ErrorCode for FetchResponse {
    fn error_code(&self) -> i16 {
        let parts = self.responses.iter().flat_map(|t| &t.partitions);
        first(std::iter::once(self.error_code).chain(parts.map(|p| p.error_code)))
    }
}

impl ErrorCode for MetadataResponse {
    fn error_code(&self) -> i16 {
        first(self.topics.iter().map(|t| t.error_code))
    }
}

impl ErrorCode for OffsetFetchResponse {
    fn error_code(&self) -> i16 {
        let v1 = self
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .map(|p| p.error_code);
        let v8 = self.groups.iter().flat_map(|g| {
            let parts = g.topics.iter().flat_map(|t| &t.partitions);
            std::iter::once(g.error_code).chain(parts.map(|p| p.error_code))
        });
        first(std::iter::once(self.error_code).chain(v1).chain(v8))
    }
}

impl ErrorCode for FindCoordinatorResponse {
    fn error_code(&self) -> i16 {
        let v4 = self.coordinators.iter().map(|c| c.error_code);
        first(std::iter::once(self.error_code).chain(v4))
    }
}

impl ErrorCode for DescribeGroupsResponse {
    fn error_code(&self) -> i16 {
        first(self.groups.iter().map(|g| g.error_code))
    }
}

impl ErrorCode for CreateTopicsResponse {
    fn error_code(&self) -> i16 {
        first(self.topics.iter().map(|t| t.error_code))
    }
}

impl ErrorCode for DeleteTopicsResponse {
    fn error_code(&self) -> i16 {
        first(self.responses.iter().map(|t| t.error_code))
    }
}

impl ErrorCode for DescribeConfigsResponse {
    fn error_code(&self) -> i16 {
        first(self.results.iter().map(|r| r.error_code))
    }
}

impl ErrorCode for AlterConfigsResponse {
    fn error_code(&self) -> i16 {
        first(self.responses.iter().map(|r| r.error_code))
    }
}

impl ErrorCode for IncrementalAlterConfigsResponse {
    fn error_code(&self) -> i16 {
        first(self.responses.iter().map(|r| r.error_code))
    }
}

impl ErrorCode for CreatePartitionsResponse {
    fn error_code(&self) -> i16 {
        first(self.results.iter().map(|r| r.error_code))
    }
}

impl ErrorCode for DeleteGroupsResponse {
    fn error_code(&self) -> i16 {
        first(self.results.iter().map(|r| r.error_code))
    }
}

impl ErrorCode for OffsetDeleteResponse {
    fn error_code(&self) -> i16 {
        let parts = self.topics.iter().flat_map(|t| &t.partitions);
        first(std::iter::once(self.error_code).chain(parts.map(|p| p.error_code)))
    }
}

/// Kafka's name of an API, the `api` label of the request metrics.
pub fn api_name(api: ApiKey) -> &'static str {
    match api {
        ApiKey::Produce => "Produce",
        ApiKey::Fetch => "Fetch",
        ApiKey::ListOffsets => "ListOffsets",
        ApiKey::Metadata => "Metadata",
        ApiKey::OffsetCommit => "OffsetCommit",
        ApiKey::OffsetFetch => "OffsetFetch",
        ApiKey::FindCoordinator => "FindCoordinator",
        ApiKey::JoinGroup => "JoinGroup",
        ApiKey::Heartbeat => "Heartbeat",
        ApiKey::LeaveGroup => "LeaveGroup",
        ApiKey::SyncGroup => "SyncGroup",
        ApiKey::DescribeGroups => "DescribeGroups",
        ApiKey::ListGroups => "ListGroups",
        ApiKey::ApiVersions => "ApiVersions",
        ApiKey::CreateTopics => "CreateTopics",
        ApiKey::DeleteTopics => "DeleteTopics",
        ApiKey::DeleteRecords => "DeleteRecords",
        ApiKey::InitProducerId => "InitProducerId",
        ApiKey::OffsetForLeaderEpoch => "OffsetForLeaderEpoch",
        ApiKey::DescribeConfigs => "DescribeConfigs",
        ApiKey::AlterConfigs => "AlterConfigs",
        ApiKey::CreatePartitions => "CreatePartitions",
        ApiKey::DeleteGroups => "DeleteGroups",
        ApiKey::OffsetDelete => "OffsetDelete",
        ApiKey::DescribeCluster => "DescribeCluster",
        ApiKey::IncrementalAlterConfigs => "IncrementalAlterConfigs",
        ApiKey::SaslHandshake => "SaslHandshake",
        ApiKey::SaslAuthenticate => "SaslAuthenticate",
        _ => "Other",
    }
}
