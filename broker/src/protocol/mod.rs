//! The Kafka protocol layer: decode one request, call the broker, encode the answer.
//! It never touches a socket; [`crate::connection`] hands it a frame's bytes and
//! writes back what it returns.
//!
//! Flow: producer → partitioner → wire → server → connection → **protocol** →
//! topics (the partition) → partition log → segment → fetch → consumer.
//!
//! # Request header (after the 4-byte frame size)
//!
//! | bytes | field                                                          |
//! |-------|----------------------------------------------------------------|
//! | 0–1   | api_key i16 (0 Produce, 1 Fetch, 3 Metadata, 18 ApiVersions …) |
//! | 2–3   | api_version i16                                                |
//! | 4–7   | correlation_id i32, echoed in the response                     |
//! | 8…    | client_id (nullable string, i16 length)                        |
//! | …     | tagged fields (header v2, used by "flexible" versions)         |
//!
//! The response header is the correlation id, plus an empty tagged-field section
//! (header v1) for flexible versions, except ApiVersions whose response header is
//! always v0 so that a client can read it before it knows what we support.
//!
//! # Dispatch
//!
//! [`handle_request`] checks the API and version against the one table in
//! [`api_versions::SUPPORTED`], decodes the request, and calls the API's handler
//! directly, in one `match` (`dispatch.rs`). Every handler has the same shape:
//!
//! ```text
//! async fn handle(ctx, request, version[, what else it needs]) -> (response, log line)
//! ```
//!
//! where `ctx` is the [`BrokerContext`] for the APIs in this folder, and the
//! [`GroupCoordinator`] for the group APIs, whose handlers live in [`crate::group`]
//! (JoinGroup also gets the client's id and host, FindCoordinator this broker's
//! address). The log line is written once, by `log_request` (called from the dispatch).
//!
//! What must stay true:
//! - ApiVersions advertises exactly the APIs dispatched here: the `match` has one arm
//!   per entry of [`api_versions::SUPPORTED`], and nothing else gets past the version check.
//! - An unsupported ApiVersions version gets the v0-format error answer. An API or
//!   version Kafka serves and this broker does not gets Kafka's error answer
//!   (UNSUPPORTED_VERSION, `unsupported.rs`) where one is written; an unknown key, a
//!   version Kafka does not know, Produce v0–v2 and the rest close the connection, as
//!   Kafka does.

pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod alter_configs;
pub mod api_versions;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_producers;
pub mod describe_transactions;
mod dispatch;
pub mod end_txn;
pub mod fetch;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod list_offsets;
pub mod list_transactions;
pub mod metadata;
pub mod offset_for_leader_epoch;
pub mod outcome;
pub mod produce;
pub mod response;
pub mod sasl_authenticate;
pub mod sasl_handshake;
pub mod txn_offset_commit;
pub mod unsupported;

use crate::txn::TransactionCoordinator;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable};
use kafka_protocol::ResponseError;
use tracing::info;

pub use crate::error_codes::error_name;
use crate::events::Events;
use crate::group::{GroupCoordinator, NodeInfo};
use crate::security::session::Session;
use crate::security::{Listener, Security};
use crate::shutdown;
use crate::stats::Stats;
use crate::topics::{TopicError, Topics};
use crate::Config;
use response::Response;

/// Everything a request handler may use. One per broker, shared by every connection.
#[derive(Debug)]
pub struct BrokerContext {
    pub topics: Arc<Topics>,
    /// The group coordinator: groups, members and committed offsets.
    pub groups: Arc<GroupCoordinator>,
    pub config: Config,
    /// This broker as the clients of its first listener should reach it: node 0, the
    /// advertised host and port. Metadata and FindCoordinator answer with the node of
    /// the listener the request came in on (`Session::listener`).
    pub node: NodeInfo,
    /// Every listener, in `Config::listeners`' order (for `advertised.listeners`).
    pub listeners: Vec<Arc<Listener>>,
    /// The user file and the failed-login brake of the SASL listeners.
    pub security: Security,
    /// Becomes `true` on shutdown: long-polling fetches answer at once.
    pub shutdown: shutdown::Receiver,
    /// The transaction coordinator; it also hands out producer ids.
    pub txn: Arc<TransactionCoordinator>,
    /// Requests, latency, bytes and connections, for `/metrics` (see `stats.rs`).
    pub stats: Stats,
    /// Recent events for the dashboard's timeline (see `events.rs`); the ring made by
    /// `Topics::open` and shared by every layer that records.
    pub events: Events,
}

impl BrokerContext {
    pub fn new(
        topics: Arc<Topics>,
        groups: Arc<GroupCoordinator>,
        txn: Arc<TransactionCoordinator>,
        config: Config,
        listeners: Vec<Arc<Listener>>,
        security: Security,
        shutdown: shutdown::Receiver,
    ) -> BrokerContext {
        let node = listeners.first().map_or_else(
            || NodeInfo {
                node_id: 0,
                host: "127.0.0.1".into(),
                port: 9092,
            },
            |l| l.node.clone(),
        );
        BrokerContext {
            events: topics.events().clone(),
            topics,
            groups,
            config,
            node,
            listeners,
            security,
            shutdown,
            txn,
            stats: Stats::default(),
        }
    }
}

/// A request that cannot be answered; the connection is closed with this in the log.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("request of {len} bytes is shorter than a request header")]
    TooShort { len: usize },
    #[error("unknown API key {api_key} (version {version}, correlation id {correlation_id})")]
    UnknownApiKey {
        api_key: i16,
        version: i16,
        correlation_id: i32,
    },
    #[error("{api:?} (key {api_key}) is not supported by this broker")]
    UnsupportedApi { api: ApiKey, api_key: i16 },
    #[error("{api:?} version {version} is not supported (this broker supports {min}..={max})")]
    UnsupportedVersion {
        api: ApiKey,
        version: i16,
        min: i16,
        max: i16,
    },
    #[error(
        "Produce v{version} is advertised for old librdkafka's sake but not served \
         (v3+ is; message format v0/v1 is gone): closing the connection, as Kafka 4.0 does"
    )]
    RefusedProduceVersion { version: i16 },
    #[error(
        "an acks=0 produce failed for {failed} partition(s); closing the connection \
         so the producer notices (as Kafka does)"
    )]
    UnacknowledgedProduceFailed { failed: usize },
    #[error(
        "{api:?} before authentication: only ApiVersions, SaslHandshake and \
         SaslAuthenticate are allowed until SASL succeeds (as in Kafka, the connection closes)"
    )]
    Unauthenticated { api: ApiKey },
    #[error("SASL authentication with raw tokens (SaslHandshake v0) failed")]
    RawSaslFailed,
    #[error("cannot decode {api:?} v{version} request: {reason}")]
    Decode {
        api: ApiKey,
        version: i16,
        reason: String,
    },
    #[error("cannot encode {api:?} v{version} response: {reason}")]
    Encode {
        api: ApiKey,
        version: i16,
        reason: String,
    },
}

/// The answer to one request: the response (header + body, without the frame size;
/// see `response.rs`), or `None` when the request gets no response (Produce with acks=0).
pub type Answer = Result<Option<Response>, ProtocolError>;

/// Decodes the request in `frame` (sent by the client of `session`), runs it and
/// encodes the response.
pub async fn handle_request(
    ctx: &BrokerContext,
    mut frame: Bytes,
    session: &mut Session,
) -> Answer {
    // After SaslHandshake v0 the frame is a raw SASL token, not a request.
    if session.expects_raw_token() {
        return match sasl_authenticate::raw_token(ctx, session, &frame).await {
            Some(reply) => Ok(Some(reply.into())),
            None => Err(ProtocolError::RawSaslFailed),
        };
    }
    if frame.len() < 8 {
        return Err(ProtocolError::TooShort { len: frame.len() });
    }
    let api_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);

    let api = ApiKey::try_from(api_key).map_err(|()| ProtocolError::UnknownApiKey {
        api_key,
        version,
        correlation_id,
    })?;
    let range = api_versions::supported_range(api);
    let speaks = range.is_some_and(|(min, max)| (min..=max).contains(&version));
    // Kafka answers an ApiVersions version it does not know in the v0 format, so that
    // any client can read the ranges and retry lower. Decode nothing else: the header
    // format of an unknown version is unknown too.
    if api == ApiKey::ApiVersions && !speaks {
        log_request(
            ctx,
            format!("api_versions v{version} unsupported -> UNSUPPORTED_VERSION with our ranges"),
        );
        let unsupported = ResponseError::UnsupportedVersion.code();
        ctx.stats.request("ApiVersions", version, unsupported);
        return Ok(Some(
            api_versions::unsupported_version_response(correlation_id).into(),
        ));
    }
    // Produce v0–v2 are advertised (see `api_versions::advertised_min`) but refused when
    // they arrive, as Kafka 4.0 refuses them: its socket server closes the connection.
    if api == ApiKey::Produce && (0..3).contains(&version) {
        ctx.stats
            .request("Produce", version, ResponseError::UnsupportedVersion.code());
        return Err(ProtocolError::RefusedProduceVersion { version });
    }
    if !speaks {
        // An API (or version) Kafka serves and this broker does not: Kafka's own error
        // answer where one is written (see `unsupported.rs`), else closed, as Kafka
        // closes an API it does not serve on a client listener.
        let mut body = frame.clone();
        let header_version = api.request_header_version(version);
        let skipped = decode::<RequestHeader>(&mut body, api, header_version);
        if let Some(answer) = skipped
            .ok()
            .and_then(|_| unsupported::answer(api, version, correlation_id, &mut body))
        {
            log_request(
                ctx,
                format!(
                    "{api:?} v{version} is not served here -> UNSUPPORTED_VERSION, connection kept"
                ),
            );
            ctx.stats
                .request(outcome::api_name(api), version, unsupported::CODE);
            if ctx.config.explain {
                crate::explain::line(
                    "protocol/unsupported.rs unsupported::answer",
                    format_args!(
                        "{api:?} v{version} is not in api_versions::SUPPORTED (ApiVersions never advertised it); Kafka's answer to an API it cannot serve is the API's own response with UNSUPPORTED_VERSION (35) in its error fields, so the client reports an error instead of reconnecting"
                    ),
                );
            }
            return Ok(Some(answer.into()));
        }
        return Err(match range {
            None => ProtocolError::UnsupportedApi { api, api_key },
            Some((min, max)) => ProtocolError::UnsupportedVersion {
                api,
                version,
                min,
                max,
            },
        });
    }
    // A SASL listener's client must authenticate first (`security/session.rs`).
    if !session.may_send(api) {
        ctx.stats.request(
            outcome::api_name(api),
            version,
            ResponseError::IllegalSaslState.code(),
        );
        return Err(ProtocolError::Unauthenticated { api });
    }
    let header: RequestHeader = decode(&mut frame, api, api.request_header_version(version))?;
    let reply = Reply {
        api,
        version,
        correlation_id: header.correlation_id,
    };
    let started = std::time::Instant::now();
    let answer = dispatch::dispatch(ctx, &mut frame, reply, &header, session).await;
    ctx.stats.latency(outcome::api_name(api), started.elapsed());
    answer
}

/// Writes the one-line explanation of a request, unless `--quiet`.
pub(crate) fn log_request(ctx: &BrokerContext, line: String) {
    if ctx.config.log_requests {
        info!("{line}");
    }
}

/// Whether a request's log line will be written anywhere: `log_request` writes it at
/// INFO unless `--quiet`, and the quiet fetch and heartbeat lines go to DEBUG. Handlers
/// on the hot path (Produce, Fetch) skip formatting a line no one reads.
pub(crate) fn describing(ctx: &BrokerContext) -> bool {
    ctx.config.log_requests || tracing::enabled!(tracing::Level::DEBUG)
}

/// Decodes a header or body, turning the codec's error into ours.
pub(crate) fn decode<T: Decodable>(
    buf: &mut Bytes,
    api: ApiKey,
    version: i16,
) -> Result<T, ProtocolError> {
    T::decode(buf, version).map_err(|e| ProtocolError::Decode {
        api,
        version,
        reason: format!("{e:#}"),
    })
}

/// How to frame the response to one request: its API, version and correlation id.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reply {
    pub api: ApiKey,
    pub version: i16,
    pub correlation_id: i32,
}

impl Reply {
    /// Response header (v0 or v1, as the API and version require) followed by `body`.
    pub fn encode<T: Encodable>(&self, body: &T) -> Result<Bytes, ProtocolError> {
        let header_version = self.api.response_header_version(self.version);
        let header = ResponseHeader::default().with_correlation_id(self.correlation_id);
        let mut buf = BytesMut::new();
        header
            .encode(&mut buf, header_version)
            .and_then(|()| body.encode(&mut buf, self.version))
            .map_err(|e| ProtocolError::Encode {
                api: self.api,
                version: self.version,
                reason: format!("{e:#}"),
            })?;
        Ok(buf.freeze())
    }
}

/// A request as a client frames it, without the 4-byte size: the request header (v1 or
/// v2, as `api` and `version` require) followed by `body`. The client's side of
/// [`handle_request`], for `inspect groups --bootstrap-server` and the test kit's raw
/// wire client.
pub fn encode_request<T: Encodable>(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    client_id: &'static str,
    body: &T,
) -> Result<BytesMut, ProtocolError> {
    let header = RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(kafka_protocol::protocol::StrBytes::from_static_str(
            client_id,
        )));
    let mut buf = BytesMut::new();
    header
        .encode(&mut buf, api.request_header_version(version))
        .and_then(|()| body.encode(&mut buf, version))
        .map_err(|e| ProtocolError::Encode {
            api,
            version,
            reason: format!("{e:#}"),
        })?;
    Ok(buf)
}

/// The Kafka error code for a topic-registry error (CreateTopics, DeleteTopics, and
/// the auto-creation in Metadata).
pub fn topic_error_code(e: &TopicError) -> i16 {
    match e {
        TopicError::InvalidName { .. } => ResponseError::InvalidTopicException.code(),
        TopicError::AlreadyExists(_) => ResponseError::TopicAlreadyExists.code(),
        TopicError::UnknownTopic(_) => ResponseError::UnknownTopicOrPartition.code(),
        TopicError::InvalidPartitions(_) => ResponseError::InvalidPartitions.code(),
        TopicError::InvalidConfig { .. } => ResponseError::InvalidConfig.code(),
        TopicError::Corrupt { .. } | TopicError::Log(_) => ResponseError::KafkaStorageError.code(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::{Bytes, BytesMut};
    use kafka_protocol::messages::RequestHeader;
    use kafka_protocol::protocol::Encodable;

    use super::{api_versions, handle_request, BrokerContext, ProtocolError};
    use crate::group::GroupCoordinator;
    use crate::security::session::Session;
    use crate::security::{Listener, Security};
    use crate::topics::Topics;
    use crate::Config;

    /// The version table and the dispatch stay in step: every API ApiVersions
    /// advertises reaches a handler at its lowest and highest version. A request with a
    /// header and no body gets past the dispatch to the body's decoder (or, for the
    /// APIs whose body may be empty, to the handler); only an API with no arm would be
    /// refused as unsupported.
    #[tokio::test]
    async fn every_advertised_api_reaches_its_handler() {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            log_requests: false,
            ..Config::default()
        };
        let topics = Arc::new(Topics::open(dir.path(), config.log.clone()).expect("topics"));
        let groups = GroupCoordinator::open(topics.clone(), &config).expect("coordinator");
        let txn = crate::txn::TransactionCoordinator::open(topics.clone(), groups.clone(), &config)
            .expect("transaction coordinator");
        let listener = Arc::new(Listener::plaintext("127.0.0.1:9092".parse().expect("addr")));
        let security = Security::open(&config).expect("security");
        let (_stop, shutdown) = crate::shutdown::channel();
        let ctx = BrokerContext::new(
            topics,
            groups.clone(),
            txn,
            config,
            vec![listener.clone()],
            security,
            shutdown,
        );
        let mut session = Session::new(listener, None, None);
        for &(api, min, max) in api_versions::SUPPORTED {
            for version in [min, max] {
                let mut frame = BytesMut::new();
                RequestHeader::default()
                    .with_request_api_key(api as i16)
                    .with_request_api_version(version)
                    .with_correlation_id(7)
                    .encode(&mut frame, api.request_header_version(version))
                    .expect("header encodes");
                let answer = handle_request(&ctx, Bytes::from(frame), &mut session).await;
                assert!(
                    !matches!(
                        answer,
                        Err(ProtocolError::UnsupportedApi { .. }
                            | ProtocolError::UnsupportedVersion { .. })
                    ),
                    "{api:?} v{version} is advertised but not dispatched: {answer:?}"
                );
            }
        }
        groups.shutdown().await;
    }
}
