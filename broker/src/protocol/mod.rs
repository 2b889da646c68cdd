//! The Kafka protocol layer: decode one request, call the broker, encode the answer.
//! It never touches a socket; [`crate::connection`] hands it a frame's bytes and
//! writes back what it returns.
//!
//! Flow: producer → partitioner → wire → server → connection → **protocol** →
//! partition log → segment → fetch → consumer.
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
//! What must stay true:
//! - ApiVersions advertises exactly the APIs dispatched here ([`api_versions::supported`]),
//!   including the group APIs from [`crate::group::SUPPORTED_APIS`].
//! - An unsupported ApiVersions version gets the v0-format error answer; any other
//!   unknown key or unsupported version is an error that closes the connection, as
//!   Kafka does.

pub mod api_versions;
pub mod fetch;
pub mod groups;
pub mod init_producer_id;
pub mod list_offsets;
pub mod metadata;
pub mod produce;
pub mod topics;

use std::sync::atomic::AtomicI64;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, CreateTopicsRequest, DeleteTopicsRequest, FetchRequest,
    InitProducerIdRequest, ListOffsetsRequest, MetadataRequest, ProduceRequest, RequestHeader,
    ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable};
use tokio::sync::watch;
use tracing::info;

use crate::group::{ClientInfo, GroupCoordinator, NodeInfo};
use crate::topics::Topics;
use crate::Config;

/// Everything a request handler may use. One per broker, shared by every connection.
#[derive(Debug)]
pub struct BrokerContext {
    pub topics: Arc<Topics>,
    /// The group coordinator: groups, members and committed offsets.
    pub groups: Arc<GroupCoordinator>,
    pub config: Config,
    /// This broker as clients should reach it: node 0, the advertised host and port.
    pub node: NodeInfo,
    /// Becomes `true` on shutdown: long-polling fetches answer at once.
    pub shutdown: watch::Receiver<bool>,
    /// The next producer id handed out by InitProducerId.
    pub next_producer_id: AtomicI64,
}

impl BrokerContext {
    pub fn new(
        topics: Arc<Topics>,
        groups: Arc<GroupCoordinator>,
        config: Config,
        node: NodeInfo,
        shutdown: watch::Receiver<bool>,
    ) -> BrokerContext {
        BrokerContext {
            topics,
            groups,
            config,
            node,
            shutdown,
            next_producer_id: AtomicI64::new(init_producer_id::first_producer_id()),
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
        "an acks=0 produce failed for {failed} partition(s); closing the connection \
         so the producer notices (as Kafka does)"
    )]
    UnacknowledgedProduceFailed { failed: usize },
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

/// The answer to one request: the response bytes (header + body, without the frame
/// size), or `None` when the request gets no response (Produce with acks=0).
pub type Answer = Result<Option<Bytes>, ProtocolError>;

/// Decodes the request in `frame` (sent by `peer`), runs it and encodes the response.
pub async fn handle_request(
    ctx: &BrokerContext,
    mut frame: Bytes,
    peer: Option<std::net::SocketAddr>,
) -> Answer {
    if frame.len() < 8 {
        return Err(ProtocolError::TooShort { len: frame.len() });
    }
    let api_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);

    // Kafka answers an ApiVersions version it does not know in the v0 format, so that
    // any client can read the ranges and retry lower. Decode nothing else: the header
    // format of an unknown version is unknown too.
    if api_key == ApiKey::ApiVersions as i16 && !api_versions::OWN_VERSIONS.contains(&version) {
        log_request(
            ctx,
            format!("api_versions v{version} unsupported -> UNSUPPORTED_VERSION with our ranges"),
        );
        return Ok(Some(api_versions::unsupported_version_response(
            correlation_id,
        )));
    }

    let api = ApiKey::try_from(api_key).map_err(|()| ProtocolError::UnknownApiKey {
        api_key,
        version,
        correlation_id,
    })?;
    let (min, max) = api_versions::supported_range(api_key)
        .ok_or(ProtocolError::UnsupportedApi { api, api_key })?;
    if version < min || version > max {
        return Err(ProtocolError::UnsupportedVersion {
            api,
            version,
            min,
            max,
        });
    }
    let header: RequestHeader = decode(&mut frame, api, api.request_header_version(version))?;
    let reply = Reply {
        api,
        version,
        correlation_id: header.correlation_id,
    };

    match api {
        ApiKey::ApiVersions => {
            let req: ApiVersionsRequest = decode(&mut frame, api, version)?;
            let (resp, line) = api_versions::handle(req, version);
            log_request(ctx, line);
            reply.encode(&resp).map(Some)
        }
        ApiKey::Metadata => {
            let req: MetadataRequest = decode(&mut frame, api, version)?;
            let (resp, line) = metadata::handle(ctx, req, version).await;
            log_request(ctx, line);
            reply.encode(&resp).map(Some)
        }
        ApiKey::CreateTopics => {
            let req: CreateTopicsRequest = decode(&mut frame, api, version)?;
            let (resp, line) = topics::create(ctx, req, version).await;
            log_request(ctx, line);
            reply.encode(&resp).map(Some)
        }
        ApiKey::DeleteTopics => {
            let req: DeleteTopicsRequest = decode(&mut frame, api, version)?;
            let (resp, line) = topics::delete(ctx, req, version).await;
            log_request(ctx, line);
            reply.encode(&resp).map(Some)
        }
        ApiKey::Produce => {
            let req: ProduceRequest = decode(&mut frame, api, version)?;
            let acks = req.acks;
            let (resp, line) = produce::handle(ctx, req, version).await;
            log_request(ctx, line);
            if acks == 0 {
                // No response to carry an error: Kafka closes the connection instead,
                // which makes the producer refresh its metadata and notice.
                let failed = resp
                    .responses
                    .iter()
                    .flat_map(|t| &t.partition_responses)
                    .filter(|p| p.error_code != 0)
                    .count();
                if failed > 0 {
                    return Err(ProtocolError::UnacknowledgedProduceFailed { failed });
                }
                Ok(None)
            } else {
                reply.encode(&resp).map(Some)
            }
        }
        ApiKey::Fetch => {
            let req: FetchRequest = decode(&mut frame, api, version)?;
            let (resp, line) = fetch::handle(ctx, req, version).await;
            // An idle consumer long-polls all day: only fetches that return data or
            // an error are worth an info line; empty ones go to debug.
            let idle = resp
                .responses
                .iter()
                .flat_map(|t| &t.partitions)
                .all(|p| p.error_code == 0 && p.records.as_ref().is_none_or(|r| r.is_empty()));
            if idle {
                tracing::debug!("{line}");
            } else {
                log_request(ctx, line);
            }
            reply.encode(&resp).map(Some)
        }
        ApiKey::ListOffsets => {
            let req: ListOffsetsRequest = decode(&mut frame, api, version)?;
            let (resp, line) = list_offsets::handle(ctx, req, version).await;
            log_request(ctx, line);
            reply.encode(&resp).map(Some)
        }
        ApiKey::InitProducerId => {
            let req: InitProducerIdRequest = decode(&mut frame, api, version)?;
            let (resp, line) = init_producer_id::handle(ctx, req, version);
            log_request(ctx, line);
            reply.encode(&resp).map(Some)
        }
        _ => {
            // Group members are named after their client, as Kafka does.
            let client = ClientInfo {
                client_id: header
                    .client_id
                    .as_ref()
                    .map(|id| id.as_str().to_owned())
                    .unwrap_or_default(),
                client_host: peer.map(|p| format!("/{}", p.ip())).unwrap_or_default(),
            };
            groups::handle(ctx, api, &mut frame, reply, &client).await
        }
    }
}

/// Writes the one-line explanation of a request, unless `--quiet`.
pub(crate) fn log_request(ctx: &BrokerContext, line: String) {
    if ctx.config.log_requests {
        info!("{line}");
    }
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

/// Kafka's name for an error code, as its docs and clients print it:
/// `3` → `UNKNOWN_TOPIC_OR_PARTITION`.
pub fn error_name(code: i16) -> String {
    match kafka_protocol::ResponseError::try_from_code(code) {
        None => "NONE".to_string(),
        Some(kafka_protocol::ResponseError::Unknown(code)) => format!("error {code}"),
        Some(e) => {
            // The crate names variants in CamelCase: UnknownTopicOrPartition.
            let camel = format!("{e:?}");
            let mut name = String::with_capacity(camel.len() + 8);
            for (i, c) in camel.chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    name.push('_');
                }
                name.push(c.to_ascii_uppercase());
            }
            name
        }
    }
}

#[cfg(test)]
mod tests {
    use super::error_name;

    #[test]
    fn error_names_are_kafkas() {
        assert_eq!(error_name(0), "NONE");
        assert_eq!(error_name(1), "OFFSET_OUT_OF_RANGE");
        assert_eq!(error_name(3), "UNKNOWN_TOPIC_OR_PARTITION");
        assert_eq!(error_name(35), "UNSUPPORTED_VERSION");
        assert_eq!(error_name(-1), "UNKNOWN_SERVER_ERROR");
        assert_eq!(error_name(30000), "error 30000");
    }
}
