//! Routing of the consumer-group APIs (keys 8–16) to the
//! [`GroupCoordinator`](crate::group::GroupCoordinator).
//!
//! Flow: consumer → FindCoordinator → JoinGroup → SyncGroup → Heartbeat… →
//! OffsetCommit / OffsetFetch → LeaveGroup, each decoded here and answered by
//! `crate::group`.
//!
//! What must stay true: only APIs listed in [`crate::group::SUPPORTED_APIS`] reach
//! the coordinator (`handle_request` checks the list before calling here); anything
//! else is an unsupported API and closes the connection, as Kafka does.

use bytes::Bytes;
use kafka_protocol::messages::{
    ApiKey, DescribeGroupsRequest, FindCoordinatorRequest, HeartbeatRequest, JoinGroupRequest,
    LeaveGroupRequest, ListGroupsRequest, OffsetCommitRequest, OffsetFetchRequest,
    SyncGroupRequest,
};

use crate::group::ClientInfo;

use super::{decode, error_name, log_request, Answer, BrokerContext, ProtocolError, Reply};

/// Decodes a group request, lets the coordinator answer it and encodes the answer.
pub(crate) async fn handle(
    ctx: &BrokerContext,
    api: ApiKey,
    frame: &mut Bytes,
    reply: Reply,
    client: &ClientInfo,
) -> Answer {
    let version = reply.version;
    let groups = &*ctx.groups;
    match api {
        ApiKey::FindCoordinator => {
            let req: FindCoordinatorRequest = decode(frame, api, version)?;
            let keys = if req.coordinator_keys.is_empty() {
                req.key.as_str().to_string()
            } else {
                join(req.coordinator_keys.iter().map(|k| k.as_str()))
            };
            let resp = groups.find_coordinator(req, version, &ctx.node).await;
            let line = format!(
                "find_coordinator {keys} -> node {} at {}:{}{}",
                ctx.node.node_id,
                ctx.node.host,
                ctx.node.port,
                outcome(resp.error_code)
            );
            finish(ctx, reply, &resp, line)
        }
        ApiKey::JoinGroup => {
            let req: JoinGroupRequest = decode(frame, api, version)?;
            let head = format!(
                "join_group {} member {:?}",
                req.group_id.0.as_str(),
                req.member_id.as_str()
            );
            let resp = groups.join_group_from(req, version, client).await;
            let line = format!(
                "{head} -> generation {}, member {:?}, leader {:?}{}",
                resp.generation_id,
                resp.member_id.as_str(),
                resp.leader.as_str(),
                outcome(resp.error_code)
            );
            finish(ctx, reply, &resp, line)
        }
        ApiKey::SyncGroup => {
            let req: SyncGroupRequest = decode(frame, api, version)?;
            let head = format!(
                "sync_group {} generation {} member {:?} ({} assignments given)",
                req.group_id.0.as_str(),
                req.generation_id,
                req.member_id.as_str(),
                req.assignments.len()
            );
            let resp = groups.sync_group(req, version).await;
            let line = format!(
                "{head} -> {} assignment bytes{}",
                resp.assignment.len(),
                outcome(resp.error_code)
            );
            finish(ctx, reply, &resp, line)
        }
        ApiKey::Heartbeat => {
            let req: HeartbeatRequest = decode(frame, api, version)?;
            let head = format!(
                "heartbeat {} generation {} member {:?}",
                req.group_id.0.as_str(),
                req.generation_id,
                req.member_id.as_str()
            );
            let resp = groups.heartbeat(req, version).await;
            finish(
                ctx,
                reply,
                &resp,
                format!("{head}{}", outcome(resp.error_code)),
            )
        }
        ApiKey::LeaveGroup => {
            let req: LeaveGroupRequest = decode(frame, api, version)?;
            let members = if req.members.is_empty() {
                format!("{:?}", req.member_id.as_str())
            } else {
                join(req.members.iter().map(|m| m.member_id.as_str()))
            };
            let head = format!(
                "leave_group {} member(s) {members}",
                req.group_id.0.as_str()
            );
            let resp = groups.leave_group(req, version).await;
            finish(
                ctx,
                reply,
                &resp,
                format!("{head}{}", outcome(resp.error_code)),
            )
        }
        ApiKey::OffsetCommit => {
            let req: OffsetCommitRequest = decode(frame, api, version)?;
            let offsets = join(req.topics.iter().flat_map(|t| {
                t.partitions.iter().map(move |p| {
                    format!(
                        "{}[{}]={}",
                        t.name.0.as_str(),
                        p.partition_index,
                        p.committed_offset
                    )
                })
            }));
            let head = format!("offset_commit {} {offsets}", req.group_id.0.as_str());
            let resp = groups.offset_commit(req, version).await;
            let errors: Vec<String> = resp
                .topics
                .iter()
                .flat_map(|t| {
                    t.partitions
                        .iter()
                        .filter(|p| p.error_code != 0)
                        .map(move |p| {
                            format!(
                                "{}[{}] {}",
                                t.name.0.as_str(),
                                p.partition_index,
                                error_name(p.error_code)
                            )
                        })
                })
                .collect();
            let line = if errors.is_empty() {
                head
            } else {
                format!("{head} -> {}", errors.join(", "))
            };
            finish(ctx, reply, &resp, line)
        }
        ApiKey::OffsetFetch => {
            let req: OffsetFetchRequest = decode(frame, api, version)?;
            let group_names = if req.groups.is_empty() {
                req.group_id.0.as_str().to_string()
            } else {
                join(req.groups.iter().map(|g| g.group_id.0.as_str()))
            };
            let resp = groups.offset_fetch(req, version).await;
            let line = format!("offset_fetch {group_names}{}", outcome(resp.error_code));
            finish(ctx, reply, &resp, line)
        }
        ApiKey::ListGroups => {
            let req: ListGroupsRequest = decode(frame, api, version)?;
            let resp = groups.list_groups(req, version).await;
            let line = format!(
                "list_groups -> {} group(s){}",
                resp.groups.len(),
                outcome(resp.error_code)
            );
            finish(ctx, reply, &resp, line)
        }
        ApiKey::DescribeGroups => {
            let req: DescribeGroupsRequest = decode(frame, api, version)?;
            let names = join(req.groups.iter().map(|g| g.0.as_str()));
            let resp = groups.describe_groups(req, version).await;
            finish(ctx, reply, &resp, format!("describe_groups {names}"))
        }
        _ => Err(ProtocolError::UnsupportedApi {
            api,
            api_key: api as i16,
        }),
    }
}

fn finish<T: kafka_protocol::protocol::Encodable>(
    ctx: &BrokerContext,
    reply: Reply,
    resp: &T,
    line: String,
) -> Answer {
    log_request(ctx, line);
    reply.encode(resp).map(Some)
}

fn outcome(code: i16) -> String {
    if code == 0 {
        String::new()
    } else {
        format!(" -> {}", error_name(code))
    }
}

fn join<'a>(items: impl Iterator<Item = impl AsRef<str> + 'a>) -> String {
    items
        .map(|s| s.as_ref().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
