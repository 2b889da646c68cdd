//! `inspect groups --bootstrap-server HOST:PORT`: the groups of a running broker, asked
//! over the wire, printed like `kafka-consumer-groups --describe`.
//!
//! Flow: this tool → TCP → the broker's connection → protocol dispatch → group
//! coordinator. Four requests, in Kafka's own format (the `kafka-protocol` crate's
//! codecs, the ones the broker decodes with): ListGroups (which groups), DescribeGroups
//! (state, members, each member's assignment in the consumer protocol's bytes),
//! OffsetFetch (committed offsets) and ListOffsets (each partition's log end offset).
//!
//! What must stay true:
//! - Every wait is bounded by the timeout given; an unreachable or silent broker is an
//!   error naming the address, never a hang.
//! - A response's correlation id must match its request's; anything else is an error.
//! - The report is the same [`GroupsReport`] that `inspect groups <data-dir>` builds.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    ApiKey, DescribeGroupsRequest, DescribeGroupsResponse, GroupId, ListGroupsRequest,
    ListGroupsResponse, ListOffsetsRequest, ListOffsetsResponse, OffsetFetchRequest,
    OffsetFetchResponse, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::groups::{GroupReport, GroupsReport, MemberReport, PartitionRow};
use super::InspectError;
use crate::group::assignment::{self, Assigned};

const LIST_GROUPS_VERSION: i16 = 2;
const DESCRIBE_GROUPS_VERSION: i16 = 3;
/// v5: `topics: null` asks for every committed offset of the group.
const OFFSET_FETCH_VERSION: i16 = 5;
const LIST_OFFSETS_VERSION: i16 = 2;
/// ListOffsets' special timestamp for "the log end offset".
const LATEST: i64 = -1;
/// Refuse responses larger than this (a sane bound for a classroom broker).
const MAX_RESPONSE: usize = 64 * 1024 * 1024;

/// One connection to the broker, every exchange bounded by `timeout`.
struct Conn {
    addr: String,
    stream: TcpStream,
    timeout: Duration,
    next_correlation_id: i32,
}

impl Conn {
    fn err(&self, reason: impl ToString) -> InspectError {
        InspectError::Broker {
            addr: self.addr.clone(),
            reason: reason.to_string(),
        }
    }

    async fn call<Req: Encodable, Resp: Decodable>(
        &mut self,
        api: ApiKey,
        version: i16,
        body: &Req,
    ) -> Result<Resp, InspectError> {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let buf = crate::protocol::encode_request(
            api,
            version,
            correlation_id,
            "minikafka-inspect",
            body,
        )
        .map_err(|e| self.err(e))?;
        let size = i32::try_from(buf.len()).map_err(|e| self.err(e))?;
        let timeout = self.timeout;
        let exchange = async {
            self.stream.write_all(&size.to_be_bytes()).await?;
            self.stream.write_all(&buf).await?;
            let mut len = [0u8; 4];
            self.stream.read_exact(&mut len).await?;
            let len = usize::try_from(i32::from_be_bytes(len)).unwrap_or(usize::MAX);
            if len > MAX_RESPONSE {
                return Err(std::io::Error::other(format!(
                    "response of {len} bytes is too large"
                )));
            }
            let mut frame = vec![0u8; len];
            self.stream.read_exact(&mut frame).await?;
            Ok(Bytes::from(frame))
        };
        let mut frame = match tokio::time::timeout(timeout, exchange).await {
            Ok(Ok(frame)) => frame,
            Ok(Err(e)) => return Err(self.err(format!("{api:?} failed: {e}"))),
            Err(_) => {
                return Err(self.err(format!("no {api:?} response within {timeout:?}")));
            }
        };
        let header = ResponseHeader::decode(&mut frame, api.response_header_version(version))
            .map_err(|e| self.err(format!("bad {api:?} response header: {e}")))?;
        if header.correlation_id != correlation_id {
            return Err(self.err(format!(
                "{api:?} response has correlation id {}, expected {correlation_id}",
                header.correlation_id
            )));
        }
        Resp::decode(&mut frame, version)
            .map_err(|e| self.err(format!("bad {api:?} v{version} response: {e}")))
    }
}

/// `inspect groups --bootstrap-server <addr>`: every group of the broker, described.
pub async fn groups(addr: &str, timeout: Duration) -> Result<GroupsReport, InspectError> {
    let err = |reason: String| InspectError::Broker {
        addr: addr.to_string(),
        reason,
    };
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(err(format!("cannot connect: {e} (is the broker running?)"))),
        Err(_) => return Err(err(format!("cannot connect within {timeout:?}"))),
    };
    let mut conn = Conn {
        addr: addr.to_string(),
        stream,
        timeout,
        next_correlation_id: 1,
    };
    let listed: ListGroupsResponse = conn
        .call(
            ApiKey::ListGroups,
            LIST_GROUPS_VERSION,
            &ListGroupsRequest::default(),
        )
        .await?;
    check(&conn, "ListGroups", listed.error_code)?;
    let ids: BTreeSet<String> = listed
        .groups
        .iter()
        .map(|g| g.group_id.to_string())
        .collect();
    let described: DescribeGroupsResponse = conn
        .call(
            ApiKey::DescribeGroups,
            DESCRIBE_GROUPS_VERSION,
            &DescribeGroupsRequest::default().with_groups(
                ids.iter()
                    .map(|g| GroupId(StrBytes::from(g.clone())))
                    .collect(),
            ),
        )
        .await?;
    let mut report = GroupsReport {
        source: format!("broker {addr}"),
        broker_running: None,
        replay_stopped: None,
        groups: Vec::new(),
    };
    for g in described.groups {
        check(
            &conn,
            &format!("DescribeGroups {}", &*g.group_id),
            g.error_code,
        )?;
        let mut group = GroupReport {
            group: g.group_id.to_string(),
            state: Some(g.group_state.to_string()),
            members: Vec::new(),
            partitions: Vec::new(),
        };
        let mut rows: BTreeMap<(String, i32), PartitionRow> = BTreeMap::new();
        for m in g.members {
            let member = MemberReport {
                consumer_id: m.member_id.to_string(),
                host: m.client_host.to_string(),
                client_id: m.client_id.to_string(),
                assignment: assignment::decode(m.member_assignment).unwrap_or_else(|| {
                    tracing::warn!("undecodable consumer-protocol assignment");
                    Vec::new()
                }),
            };
            for Assigned { topic, partitions } in &member.assignment {
                for &p in partitions {
                    let row = rows
                        .entry((topic.clone(), p))
                        .or_insert_with(|| PartitionRow::new(topic.clone(), p));
                    row.consumer_id = Some(member.consumer_id.clone());
                    row.host = Some(member.host.clone());
                    row.client_id = Some(member.client_id.clone());
                }
            }
            group.members.push(member);
        }
        let fetched: OffsetFetchResponse = conn
            .call(
                ApiKey::OffsetFetch,
                OFFSET_FETCH_VERSION,
                &OffsetFetchRequest::default()
                    .with_group_id(g.group_id.clone())
                    .with_topics(None),
            )
            .await?;
        check(
            &conn,
            &format!("OffsetFetch {}", group.group),
            fetched.error_code,
        )?;
        for t in fetched.topics {
            for p in t.partitions {
                if p.committed_offset < 0 {
                    continue;
                }
                let row = rows
                    .entry((t.name.to_string(), p.partition_index))
                    .or_insert_with(|| PartitionRow::new(t.name.to_string(), p.partition_index));
                row.current_offset = Some(p.committed_offset);
                row.metadata = p.metadata.map(|m| m.to_string());
            }
        }
        group.partitions = rows.into_values().collect();
        report.groups.push(group);
    }
    log_end_offsets(&mut conn, &mut report).await?;
    Ok(report)
}

/// Fills in each row's log end offset (one ListOffsets for every partition shown) and lag.
async fn log_end_offsets(conn: &mut Conn, report: &mut GroupsReport) -> Result<(), InspectError> {
    let mut wanted: BTreeMap<String, BTreeSet<i32>> = BTreeMap::new();
    for row in report.groups.iter().flat_map(|g| &g.partitions) {
        wanted
            .entry(row.topic.clone())
            .or_default()
            .insert(row.partition);
    }
    if wanted.is_empty() {
        return Ok(());
    }
    let request = ListOffsetsRequest::default()
        .with_replica_id((-1).into())
        .with_topics(
            wanted
                .iter()
                .map(|(topic, parts)| {
                    ListOffsetsTopic::default()
                        .with_name(TopicName(StrBytes::from(topic.clone())))
                        .with_partitions(
                            parts
                                .iter()
                                .map(|&p| {
                                    ListOffsetsPartition::default()
                                        .with_partition_index(p)
                                        .with_timestamp(LATEST)
                                })
                                .collect(),
                        )
                })
                .collect(),
        );
    let listed: ListOffsetsResponse = conn
        .call(ApiKey::ListOffsets, LIST_OFFSETS_VERSION, &request)
        .await?;
    let mut ends = BTreeMap::new();
    for t in listed.topics {
        for p in t.partitions {
            if p.error_code == 0 {
                ends.insert((t.name.to_string(), p.partition_index), p.offset);
            }
        }
    }
    for row in report.groups.iter_mut().flat_map(|g| &mut g.partitions) {
        row.log_end_offset = ends.get(&(row.topic.clone(), row.partition)).copied();
        row.set_lag();
    }
    Ok(())
}

fn check(conn: &Conn, what: &str, code: i16) -> Result<(), InspectError> {
    if code == 0 {
        Ok(())
    } else {
        Err(conn.err(format!("{what} answered error code {code}")))
    }
}
