//! The client's error type: every failure a caller can see, with a message that says what
//! went wrong, where (address, topic, partition, offset) and what to do about it.
//!
//! Where it sits: returned by every public call, whatever the backend. Kafka error codes from
//! broker responses become [`KafkaCode`] values with Kafka's names, so logs and messages read
//! like Kafka's own documentation.
//!
//! Invariants: `Error` is `Clone`, because one failed batch fails every record in it and each
//! record's delivery future gets its own copy.

use std::sync::Arc;
use std::time::Duration;

/// Result with the client's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the client.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// TCP connect failed (refused, unreachable, DNS).
    #[error("cannot connect to {addr}: is the broker running? ({cause})")]
    Connect {
        /// `host:port` we tried.
        addr: String,
        /// The OS error (in the message, not repeated as a source).
        cause: Arc<std::io::Error>,
    },
    /// Reading or writing an open connection failed.
    #[error("connection to {addr} failed: {cause}; the client reconnects on the next request")]
    Io {
        /// `host:port` of the broker.
        addr: String,
        /// The OS error (in the message, not repeated as a source).
        cause: Arc<std::io::Error>,
    },
    /// The broker closed the connection while a request was waiting for its answer.
    #[error(
        "connection to {addr} closed while waiting for a {api} response; check the broker's log"
    )]
    ConnectionClosed {
        /// `host:port` of the broker.
        addr: String,
        /// The API whose answer was lost.
        api: &'static str,
    },
    /// No answer within the configured time.
    #[error("{what} timed out after {after:?}; raise request.timeout.ms or check the broker")]
    Timeout {
        /// What we were waiting for.
        what: String,
        /// How long we waited.
        after: Duration,
    },
    /// Bytes from the broker that do not decode, or a request we could not encode.
    #[error("protocol error talking to {addr} ({api}): {message}")]
    Protocol {
        /// `host:port` of the broker.
        addr: String,
        /// The API being encoded or decoded.
        api: &'static str,
        /// What did not fit.
        message: String,
    },
    /// The broker does not support any version of an API that this client speaks.
    #[error("{addr} supports {api} versions {broker}, this client needs {ours}; upgrade the broker or the client")]
    UnsupportedVersion {
        /// `host:port` of the broker.
        addr: String,
        /// The API.
        api: &'static str,
        /// What we can speak, as `min..max`.
        ours: String,
        /// What the broker advertised, as `min..max` or `none`.
        broker: String,
    },
    /// The broker answered with a Kafka error code.
    #[error("broker answered {code} for {context}: {}", code.hint())]
    Kafka {
        /// The error code, by Kafka's name.
        code: KafkaCode,
        /// What the request was about, e.g. `produce to demo-topic[1]`.
        context: String,
    },
    /// The topic does not exist and was not created.
    #[error(
        "topic `{topic}` does not exist; create it first or enable auto-creation on the broker"
    )]
    UnknownTopic {
        /// The topic.
        topic: String,
    },
    /// A partition number outside the topic.
    #[error("topic `{topic}` has {count} partitions, so partition {partition} does not exist")]
    InvalidPartition {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: i32,
        /// How many the topic has.
        count: i32,
    },
    /// The requested offset is outside the partition's log.
    #[error("offset {offset} is out of range for {topic}[{partition}]; start from Offset::Earliest or Offset::Latest")]
    OffsetOutOfRange {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The offset asked for.
        offset: i64,
    },
    /// A record this client cannot encode as asked.
    #[error("cannot send record to `{topic}`: {message}")]
    InvalidRecord {
        /// The topic.
        topic: String,
        /// Why.
        message: String,
    },
    /// The TLS handshake with a broker failed (an untrusted certificate, a name that does
    /// not match, a broker that does not speak TLS on that port).
    #[error(
        "TLS with {addr} failed: {message}; check ssl.ca.location and the broker's certificate"
    )]
    Tls {
        /// `host:port` of the broker.
        addr: String,
        /// rustls' reason.
        message: String,
    },
    /// The broker refused our SASL login. Not retriable: the same credentials fail again.
    #[error(
        "SASL {mechanism} login to {addr} failed: {message}; check sasl.username and sasl.password"
    )]
    Authentication {
        /// `host:port` of the broker.
        addr: String,
        /// The mechanism used.
        mechanism: String,
        /// The broker's reason.
        message: String,
    },
    /// A configuration value is wrong.
    #[error("config `{key}`: {message}")]
    Config {
        /// The Kafka property name.
        key: String,
        /// What is wrong and what would be right.
        message: String,
    },
    /// The chosen backend is not available in this build.
    #[error("the {backend} backend is not available: {hint}")]
    BackendUnavailable {
        /// The backend asked for.
        backend: &'static str,
        /// How to get it.
        hint: &'static str,
    },
    /// `send` after `close`.
    #[error("the producer is closed; create a new one to send more")]
    ProducerClosed,
    /// A transactional producer's call out of order (`send` before `begin_transaction`,
    /// a second `init_transactions`), or a transaction that can only be aborted now
    /// because one of its batches failed.
    #[error("transaction: {reason}")]
    Transaction {
        /// What is wrong, and what to call.
        reason: String,
    },
    /// The idempotent producer cannot go on (`enable.idempotence`): another producer with
    /// its id fenced it, or the broker lost track of its sequence numbers. Every record
    /// not yet delivered fails with this; create a new producer.
    #[error("the idempotent producer stopped: {reason}; create a new producer")]
    ProducerFailed {
        /// What happened.
        reason: String,
    },
    /// librdkafka reported an error that has no closer variant (rdkafka backend); its own
    /// message is kept as it is.
    #[error("librdkafka failed to {context}: {message}")]
    Librdkafka {
        /// What was being done, e.g. `create the consumer`.
        context: String,
        /// librdkafka's message.
        message: String,
    },
    /// A group consumer call after `close`, or after its group membership ended with an error
    /// that was already reported.
    #[error("the consumer of group `{group}` is closed; create a new one to consume more")]
    ConsumerClosed {
        /// The consumer's group id.
        group: String,
    },
}

impl Error {
    /// Whether trying again (after refreshing metadata and a backoff) may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::Connect { .. }
            | Error::Io { .. }
            | Error::ConnectionClosed { .. }
            | Error::Timeout { .. } => true,
            Error::Kafka { code, .. } => code.is_retriable(),
            _ => false,
        }
    }

    /// Whether the client's view of the cluster (leaders, partitions) may be stale.
    pub fn needs_metadata_refresh(&self) -> bool {
        match self {
            Error::Kafka { code, .. } => matches!(
                code,
                KafkaCode::NotLeaderOrFollower
                    | KafkaCode::LeaderNotAvailable
                    | KafkaCode::UnknownTopicOrPartition
                    | KafkaCode::FencedLeaderEpoch
                    | KafkaCode::UnknownLeaderEpoch
            ),
            _ => self.is_retriable(),
        }
    }

    pub(crate) fn kafka(code: i16, context: impl Into<String>) -> Error {
        Error::Kafka {
            code: KafkaCode::from_code(code),
            context: context.into(),
        }
    }
}

macro_rules! kafka_codes {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, $name:literal, $retriable:literal, $hint:literal; )*) => {
        /// A Kafka error code from a broker response, named as Kafka names it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum KafkaCode {
            $( $(#[$doc])* $variant, )*
            /// A code this client has no name for.
            Other(i16),
        }

        impl KafkaCode {
            /// The code for a wire value.
            pub fn from_code(code: i16) -> KafkaCode {
                match code {
                    $( $code => KafkaCode::$variant, )*
                    other => KafkaCode::Other(other),
                }
            }

            /// The wire value.
            pub fn code(self) -> i16 {
                match self {
                    $( KafkaCode::$variant => $code, )*
                    KafkaCode::Other(c) => c,
                }
            }

            /// Kafka's name, e.g. `NOT_LEADER_OR_FOLLOWER`.
            pub fn name(self) -> &'static str {
                match self {
                    $( KafkaCode::$variant => $name, )*
                    KafkaCode::Other(_) => "UNKNOWN_CODE",
                }
            }

            /// Whether Kafka classes this error as retriable.
            pub fn is_retriable(self) -> bool {
                match self {
                    $( KafkaCode::$variant => $retriable, )*
                    KafkaCode::Other(c) => kafka_protocol::ResponseError::try_from_code(c)
                        .is_some_and(|e| e.is_retriable()),
                }
            }

            /// What to do about it, in one sentence.
            pub fn hint(self) -> &'static str {
                match self {
                    $( KafkaCode::$variant => $hint, )*
                    KafkaCode::Other(_) => "see Kafka's protocol error table for this code",
                }
            }
        }
    };
}

kafka_codes! {
    /// -1: the broker hit an unexpected error.
    UnknownServerError = -1, "UNKNOWN_SERVER_ERROR", false, "check the broker's log";
    /// 1
    OffsetOutOfRange = 1, "OFFSET_OUT_OF_RANGE", false, "the offset is outside the log; start from earliest or latest";
    /// 2
    CorruptMessage = 2, "CORRUPT_MESSAGE", false, "the batch failed its CRC-32C or size check";
    /// 3
    UnknownTopicOrPartition = 3, "UNKNOWN_TOPIC_OR_PARTITION", true, "the topic or partition does not exist (yet); create it or enable auto-creation";
    /// 5
    LeaderNotAvailable = 5, "LEADER_NOT_AVAILABLE", true, "the partition has no leader yet; retrying";
    /// 6
    NotLeaderOrFollower = 6, "NOT_LEADER_OR_FOLLOWER", true, "leadership moved; the client refreshes metadata and retries";
    /// 7
    RequestTimedOut = 7, "REQUEST_TIMED_OUT", true, "the broker timed out; retrying";
    /// 10
    MessageTooLarge = 10, "MESSAGE_TOO_LARGE", false, "the batch is larger than the broker accepts; lower batch.size or send smaller records";
    /// 12
    OffsetMetadataTooLarge = 12, "OFFSET_METADATA_TOO_LARGE", false, "the commit's metadata string is longer than the broker allows";
    /// 13
    NetworkException = 13, "NETWORK_EXCEPTION", true, "the connection failed; retrying";
    /// 14
    CoordinatorLoadInProgress = 14, "COORDINATOR_LOAD_IN_PROGRESS", true, "the group coordinator is still loading offsets; retrying";
    /// 15
    CoordinatorNotAvailable = 15, "COORDINATOR_NOT_AVAILABLE", true, "the group coordinator is not available; finding it again";
    /// 16
    NotCoordinator = 16, "NOT_COORDINATOR", true, "the group moved to another coordinator; finding it again";
    /// 17
    InvalidTopicException = 17, "INVALID_TOPIC_EXCEPTION", false, "topic names use letters, digits, '.', '_' and '-', at most 249 characters";
    /// 18
    RecordListTooLarge = 18, "RECORD_LIST_TOO_LARGE", false, "the request is too large; lower batch.size";
    /// 19
    NotEnoughReplicas = 19, "NOT_ENOUGH_REPLICAS", true, "too few in-sync replicas; retrying";
    /// 20
    NotEnoughReplicasAfterAppend = 20, "NOT_ENOUGH_REPLICAS_AFTER_APPEND", true, "too few in-sync replicas; retrying";
    /// 21
    InvalidRequiredAcks = 21, "INVALID_REQUIRED_ACKS", false, "acks must be 0, 1 or all";
    /// 22
    IllegalGeneration = 22, "ILLEGAL_GENERATION", false, "the group rebalanced; the member rejoins and its commit is dropped";
    /// 23
    InconsistentGroupProtocol = 23, "INCONSISTENT_GROUP_PROTOCOL", false, "the members share no assignor; set partition.assignment.strategy alike (e.g. roundrobin)";
    /// 24
    InvalidGroupId = 24, "INVALID_GROUP_ID", false, "set a non-empty group.id";
    /// 25
    UnknownMemberId = 25, "UNKNOWN_MEMBER_ID", false, "the coordinator forgot this member (session timeout?); it rejoins as new";
    /// 26
    InvalidSessionTimeout = 26, "INVALID_SESSION_TIMEOUT", false, "session.timeout.ms is outside the broker's group.min/max.session.timeout.ms";
    /// 27
    RebalanceInProgress = 27, "REBALANCE_IN_PROGRESS", false, "the group is rebalancing; the member rejoins";
    /// 30
    GroupAuthorizationFailed = 30, "GROUP_AUTHORIZATION_FAILED", false, "this client may not use the group; check the ACLs";
    /// 35
    UnsupportedVersion = 35, "UNSUPPORTED_VERSION", false, "the broker does not speak this request version";
    /// 36
    TopicAlreadyExists = 36, "TOPIC_ALREADY_EXISTS", false, "the topic exists already";
    /// 37
    InvalidPartitions = 37, "INVALID_PARTITIONS", false, "the partition count must be at least 1";
    /// 38
    InvalidReplicationFactor = 38, "INVALID_REPLICATION_FACTOR", false, "use a replication factor the cluster can hold (1 on minikafka)";
    /// 40
    InvalidConfig = 40, "INVALID_CONFIG", false, "a topic config has an unknown name or a bad value (see NewTopic::config)";
    /// 41
    NotController = 41, "NOT_CONTROLLER", true, "the controller moved; retrying";
    /// 42
    InvalidRequest = 42, "INVALID_REQUEST", false, "the broker rejected the request as malformed; check the broker's log";
    /// 45
    OutOfOrderSequenceNumber = 45, "OUT_OF_ORDER_SEQUENCE_NUMBER", false, "the broker expected another sequence number from this idempotent producer";
    /// 47
    InvalidProducerEpoch = 47, "INVALID_PRODUCER_EPOCH", false, "a newer producer with the same producer id took over; this one is fenced";
    /// 48
    InvalidTxnState = 48, "INVALID_TXN_STATE", false, "the request does not fit the producer's transaction state";
    /// 49
    InvalidProducerIdMapping = 49, "INVALID_PRODUCER_ID_MAPPING", false, "the transactional id belongs to another producer id; call init_transactions";
    /// 51
    ConcurrentTransactions = 51, "CONCURRENT_TRANSACTIONS", true, "the previous transaction is still being completed; retrying";
    /// 53
    TransactionalIdAuthorizationFailed = 53, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED", false, "this client may not use the transactional id; check the ACLs";
    /// 55
    OperationNotAttempted = 55, "OPERATION_NOT_ATTEMPTED", false, "not tried because another part of the request failed";
    /// 56
    KafkaStorageError = 56, "KAFKA_STORAGE_ERROR", true, "the broker had a disk error; check its log";
    /// 74
    FencedLeaderEpoch = 74, "FENCED_LEADER_EPOCH", true, "stale leader epoch; refreshing metadata";
    /// 75
    UnknownLeaderEpoch = 75, "UNKNOWN_LEADER_EPOCH", true, "the leader epoch is newer than the broker's; retrying";
    /// 79
    MemberIdRequired = 79, "MEMBER_ID_REQUIRED", false, "the coordinator assigned a member id; the member joins again with it";
    /// 88
    UnstableOffsetCommit = 88, "UNSTABLE_OFFSET_COMMIT", true, "an open transaction holds a commit for this partition; waiting for it to end";
    /// 90
    ProducerFenced = 90, "PRODUCER_FENCED", false, "a newer producer with the same transactional id took over; this one must close";
    /// 105
    TransactionalIdNotFound = 105, "TRANSACTIONAL_ID_NOT_FOUND", false, "the coordinator does not know this transactional id";
    /// 87
    InvalidRecord = 87, "INVALID_RECORD", false, "the broker rejected a record in the batch";
}

impl std::fmt::Display for KafkaCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KafkaCode::Other(c) => match kafka_protocol::ResponseError::try_from_code(*c) {
                Some(e) => write!(f, "{e:?} ({c})"),
                None => write!(f, "error code {c}"),
            },
            known => write!(f, "{} ({})", known.name(), known.code()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_error_says_what_to_do() {
        let e = Error::Connect {
            addr: "localhost:9092".into(),
            cause: Arc::new(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
        };
        let msg = e.to_string();
        assert!(
            msg.starts_with("cannot connect to localhost:9092: is the broker running?"),
            "{msg}"
        );
        assert!(e.is_retriable());
    }

    #[test]
    fn codes_round_trip_with_kafka_names() {
        for code in [-1i16, 1, 2, 3, 5, 6, 7, 10, 35, 36, 87] {
            assert_eq!(KafkaCode::from_code(code).code(), code);
        }
        assert_eq!(KafkaCode::from_code(6), KafkaCode::NotLeaderOrFollower);
        assert_eq!(KafkaCode::from_code(6).name(), "NOT_LEADER_OR_FOLLOWER");
        assert!(KafkaCode::from_code(6).is_retriable());
        assert!(!KafkaCode::from_code(10).is_retriable());
        // Unnamed codes still get Kafka's name from kafka-protocol's table.
        assert_eq!(KafkaCode::from_code(58), KafkaCode::Other(58));
        assert!(KafkaCode::Other(58).to_string().contains("58"));
    }

    #[test]
    fn kafka_error_message_has_context_and_hint() {
        let e = Error::kafka(3, "produce to demo-topic[7]");
        let msg = e.to_string();
        assert!(msg.contains("UNKNOWN_TOPIC_OR_PARTITION (3)"), "{msg}");
        assert!(msg.contains("demo-topic[7]"), "{msg}");
        assert!(e.needs_metadata_refresh());
    }
}
