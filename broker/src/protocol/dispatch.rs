//! The dispatch: one `match` from API key to handler. [`dispatch`] decodes the body
//! of a request whose API and version `handle_request` has already checked, calls the
//! API's handler, logs its line, counts the answer and encodes it.
//!
//! What must stay true:
//! - One arm per entry of [`api_versions::SUPPORTED`] (the unit test
//!   `every_advertised_api_reaches_its_handler` in `protocol/mod.rs` sends each).
//! - Every answer is counted once (`kafka_server_requests_total`), and its log line
//!   written once: at INFO, except the quiet ones (empty fetches, plain heartbeats),
//!   which go to DEBUG.
//! - acks=0 gets no answer; if it failed, the connection closes instead, as Kafka does.

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, ProduceRequest, RequestHeader};
use kafka_protocol::protocol::Encodable;

use super::outcome::{self, ErrorCode};
use super::{
    add_offsets_to_txn, add_partitions_to_txn, alter_configs, api_versions, create_partitions,
    create_topics, decode, delete_records, delete_topics, describe_cluster, describe_configs,
    describe_producers, describe_transactions, end_txn, fetch, incremental_alter_configs,
    init_producer_id, list_offsets, list_transactions, log_request, metadata,
    offset_for_leader_epoch, produce, response, sasl_authenticate, sasl_handshake,
    txn_offset_commit, Answer, BrokerContext, ProtocolError, Reply,
};
use crate::group::{
    delete_groups, describe_groups, find_coordinator, heartbeat, join, leave, list_groups,
    offset_commit, offset_delete, offset_fetch, sync, ClientInfo, GroupCoordinator,
};
use crate::security::session::Session;

/// Decodes the body and calls the API's handler: one arm per API in
/// [`api_versions::SUPPORTED`], in the table's order. `Ok(None)` only for acks=0.
pub(super) async fn dispatch(
    ctx: &BrokerContext,
    frame: &mut Bytes,
    reply: Reply,
    header: &RequestHeader,
    session: &mut Session,
) -> Answer {
    let peer = session.peer;
    let (api, version) = (reply.api, reply.version);
    let groups: &GroupCoordinator = &ctx.groups;
    let answer = match api {
        ApiKey::Produce => {
            let req: ProduceRequest = decode(frame, api, version)?;
            let acks = req.acks;
            let (resp, line) = produce::handle(ctx, req, version).await;
            if acks == 0 {
                log_request(ctx, line);
                // No response to carry an error: Kafka closes the connection instead,
                // which makes the producer refresh its metadata and notice.
                let failed = resp
                    .responses
                    .iter()
                    .flat_map(|t| &t.partition_responses)
                    .filter(|p| p.error_code != 0)
                    .count();
                count(ctx, reply, &resp);
                if failed > 0 {
                    return Err(ProtocolError::UnacknowledgedProduceFailed { failed });
                }
                return Ok(None);
            }
            respond(ctx, reply, (resp, line))
        }
        ApiKey::Fetch => {
            let (fetched, line) = fetch::handle(ctx, decode(frame, api, version)?, version).await;
            // An idle consumer long-polls all day: only fetches that return data or
            // an error are worth an info line; empty ones go to debug.
            if fetched.has_news() {
                log_request(ctx, line);
            } else {
                tracing::debug!("{line}");
            }
            // The records stay in their segment files: the codec encodes the answer
            // without them, and `response::splice` marks where they go.
            let empty = fetched.response(false);
            count(ctx, reply, &empty);
            let e0 = reply.encode(&empty)?;
            let e1 = reply.encode(&fetched.response(true))?;
            let flexible = api.response_header_version(version) >= 1;
            return response::splice(e0, &e1, fetched.into_slices(), flexible)
                .map(Some)
                .map_err(|e| ProtocolError::Encode {
                    api,
                    version,
                    reason: e.to_string(),
                });
        }
        ApiKey::ListOffsets => {
            let req = decode(frame, api, version)?;
            respond(ctx, reply, list_offsets::handle(ctx, req, version).await)
        }
        ApiKey::Metadata => {
            let req = decode(frame, api, version)?;
            let node = &session.listener.node;
            respond(ctx, reply, metadata::handle(ctx, req, version, node).await)
        }
        ApiKey::OffsetCommit => {
            let req = decode(frame, api, version)?;
            respond(
                ctx,
                reply,
                offset_commit::handle(groups, req, version).await,
            )
        }
        ApiKey::OffsetFetch => {
            let req = decode(frame, api, version)?;
            respond(ctx, reply, offset_fetch::handle(groups, req, version).await)
        }
        ApiKey::FindCoordinator => {
            let req = decode(frame, api, version)?;
            let answer =
                find_coordinator::handle(groups, req, version, &session.listener.node).await;
            respond(ctx, reply, answer)
        }
        ApiKey::JoinGroup => {
            // Group members are named after their client, as Kafka does.
            let client = ClientInfo {
                client_id: header
                    .client_id
                    .as_ref()
                    .map(|id| id.as_str().to_owned())
                    .unwrap_or_default(),
                client_host: peer.map(|p| format!("/{}", p.ip())).unwrap_or_default(),
            };
            let req = decode(frame, api, version)?;
            respond(
                ctx,
                reply,
                join::handle(groups, req, version, &client).await,
            )
        }
        ApiKey::Heartbeat => {
            let req = decode(frame, api, version)?;
            let (resp, line) = heartbeat::handle(groups, req, version).await;
            // Every member heartbeats every few seconds: a plain "alive" goes to debug;
            // an answer with an error (REBALANCE_IN_PROGRESS: rejoin) is the news.
            if resp.error_code == 0 {
                tracing::debug!("{line}");
                count(ctx, reply, &resp);
                reply.encode(&resp)
            } else {
                respond(ctx, reply, (resp, line))
            }
        }
        ApiKey::LeaveGroup => {
            let req = decode(frame, api, version)?;
            respond(ctx, reply, leave::handle(groups, req, version).await)
        }
        ApiKey::SyncGroup => {
            let req = decode(frame, api, version)?;
            respond(ctx, reply, sync::handle(groups, req, version).await)
        }
        ApiKey::DescribeGroups => {
            let req = decode(frame, api, version)?;
            respond(
                ctx,
                reply,
                describe_groups::handle(groups, req, version).await,
            )
        }
        ApiKey::ListGroups => {
            let req = decode(frame, api, version)?;
            respond(ctx, reply, list_groups::handle(groups, req, version).await)
        }
        ApiKey::ApiVersions => {
            let req = decode(frame, api, version)?;
            respond(ctx, reply, api_versions::handle(ctx, req, version).await)
        }
        ApiKey::CreateTopics => {
            let req = decode(frame, api, version)?;
            respond(ctx, reply, create_topics::handle(ctx, req, version).await)
        }
        ApiKey::DeleteTopics => {
            let req = decode(frame, api, version)?;
            respond(ctx, reply, delete_topics::handle(ctx, req, version).await)
        }
        ApiKey::InitProducerId => {
            let req = decode(frame, api, version)?;
            respond(
                ctx,
                reply,
                init_producer_id::handle(ctx, req, version).await,
            )
        }
        ApiKey::AddPartitionsToTxn => {
            let req = decode(frame, api, version)?;
            let answer = add_partitions_to_txn::handle(ctx, req, version).await;
            respond(ctx, reply, answer)
        }
        ApiKey::AddOffsetsToTxn => {
            let req = decode(frame, api, version)?;
            let answer = add_offsets_to_txn::handle(ctx, req, version).await;
            respond(ctx, reply, answer)
        }
        ApiKey::EndTxn => {
            let req = decode(frame, api, version)?;
            respond(ctx, reply, end_txn::handle(ctx, req, version).await)
        }
        ApiKey::TxnOffsetCommit => {
            let req = decode(frame, api, version)?;
            let answer = txn_offset_commit::handle(ctx, req, version).await;
            respond(ctx, reply, answer)
        }
        ApiKey::DescribeProducers => {
            let req = decode(frame, api, version)?;
            let answer = describe_producers::handle(ctx, req, version).await;
            respond(ctx, reply, answer)
        }
        ApiKey::DescribeTransactions => {
            let req = decode(frame, api, version)?;
            let answer = describe_transactions::handle(ctx, req, version).await;
            respond(ctx, reply, answer)
        }
        ApiKey::ListTransactions => {
            let req = decode(frame, api, version)?;
            let answer = list_transactions::handle(ctx, req, version).await;
            respond(ctx, reply, answer)
        }
        ApiKey::DescribeConfigs => {
            let req = decode(frame, api, version)?;
            respond(
                ctx,
                reply,
                describe_configs::handle(ctx, req, version).await,
            )
        }
        ApiKey::AlterConfigs => {
            let req = decode(frame, api, version)?;
            respond(ctx, reply, alter_configs::handle(ctx, req, version).await)
        }
        ApiKey::IncrementalAlterConfigs => {
            let req = decode(frame, api, version)?;
            let answer = incremental_alter_configs::handle(ctx, req, version).await;
            respond(ctx, reply, answer)
        }
        ApiKey::CreatePartitions => {
            let req = decode(frame, api, version)?;
            respond(
                ctx,
                reply,
                create_partitions::handle(ctx, req, version).await,
            )
        }
        ApiKey::DeleteRecords => {
            let req = decode(frame, api, version)?;
            respond(ctx, reply, delete_records::handle(ctx, req, version).await)
        }
        ApiKey::DeleteGroups => {
            let req = decode(frame, api, version)?;
            respond(
                ctx,
                reply,
                delete_groups::handle(groups, req, version).await,
            )
        }
        ApiKey::OffsetDelete => {
            let req = decode(frame, api, version)?;
            respond(
                ctx,
                reply,
                offset_delete::handle(groups, req, version).await,
            )
        }
        ApiKey::OffsetForLeaderEpoch => {
            let req = decode(frame, api, version)?;
            let answer = offset_for_leader_epoch::handle(ctx, req, version).await;
            respond(ctx, reply, answer)
        }
        ApiKey::DescribeCluster => {
            let req = decode(frame, api, version)?;
            respond(
                ctx,
                reply,
                describe_cluster::handle(ctx, req, version).await,
            )
        }
        ApiKey::SaslHandshake => {
            let req = decode(frame, api, version)?;
            respond(
                ctx,
                reply,
                sasl_handshake::handle(ctx, session, req, version),
            )
        }
        ApiKey::SaslAuthenticate => {
            let req = decode(frame, api, version)?;
            let answer = sasl_authenticate::handle(ctx, session, req, version).await;
            respond(ctx, reply, answer)
        }
        // Not in the table: already refused by the version check in `handle_request`.
        _ => Err(ProtocolError::UnsupportedApi {
            api,
            api_key: api as i16,
        }),
    };
    answer.map(|bytes| Some(bytes.into()))
}

/// Logs a handler's line, counts the answer and encodes it.
fn respond<T: Encodable + ErrorCode>(
    ctx: &BrokerContext,
    reply: Reply,
    (resp, line): (T, String),
) -> Result<Bytes, ProtocolError> {
    log_request(ctx, line);
    count(ctx, reply, &resp);
    reply.encode(&resp)
}

/// Counts one answer in `kafka_server_requests_total`, by API, version and error code.
fn count(ctx: &BrokerContext, reply: Reply, resp: &impl ErrorCode) {
    ctx.stats.request(
        outcome::api_name(reply.api),
        reply.version,
        resp.error_code(),
    );
}
