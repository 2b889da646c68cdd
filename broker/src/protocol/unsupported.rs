//! The answer to a request for an API (or a version) Kafka serves and this broker does
//! not: Kafka's own error response, UNSUPPORTED_VERSION (35) in its error fields and the
//! correlation id echoed, on a connection that stays open.
//!
//! Flow: a client sends an API that ApiVersions did not advertise (an admin client's
//! DescribeAcls, say: minikafka has no authorizer) → `protocol::handle_request` finds
//! no entry in `api_versions::SUPPORTED` → **here** → the client gets an error it can
//! report, instead of a dropped connection that it retries.
//!
//! What Kafka does, and so what minikafka does (Kafka's `SocketServer`, `KafkaApis`):
//!
//! | request                                                   | Kafka's answer                      |
//! |-----------------------------------------------------------|-------------------------------------|
//! | unknown API key                                           | closes the connection               |
//! | known key, version outside Kafka's own range              | closes the connection               |
//! | ApiVersions at a version it does not know                 | v0 answer, UNSUPPORTED_VERSION      |
//! | Produce v0–v2 (advertised since 4.0, never served)        | closes the connection               |
//! | a served API the broker cannot serve here (e.g. ConsumerGroupHeartbeat without the new coordinator) | the API's error response: `getErrorResponse(UNSUPPORTED_VERSION)` |
//!
//! minikafka treats "an API Kafka serves that minikafka does not" as the last row: the
//! request is decoded with the `kafka-protocol` crate, and the response is built the
//! way Kafka's `AbstractRequest.getErrorResponse` builds it: the top-level
//! `error_code`, or, for the APIs whose answer has no top-level one, one error entry per
//! resource, topic, partition or group named in the request.
//!
//! What must stay true: only APIs listed in [`answer`] get an answer; any other (an
//! inter-broker or controller API, which a Kafka broker's client listener does not
//! accept either, or one whose error answer is not written here) closes the connection,
//! and so does a request that does not decode or an answer that does not encode.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

/// Kafka's error answer to the request whose body is `body`, as response bytes
/// (header + body), or `None` where Kafka closes the connection instead.
pub fn answer(api: ApiKey, version: i16, correlation_id: i32, body: &mut Bytes) -> Option<Bytes> {
    let known = api.valid_versions();
    if !(known.min..=known.max).contains(&version) {
        return None; // Kafka does not know this version either: it closes.
    }
    let mut buf = BytesMut::new();
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut buf, api.response_header_version(version))
        .ok()?;
    error_response(api, body, version, &mut buf)?;
    Some(buf.freeze())
}

/// Decodes a request of type `T` (Kafka closes on a body that does not decode).
fn decode<T: Decodable>(body: &mut Bytes, version: i16) -> Option<T> {
    T::decode(body, version).ok()
}

/// Appends `response` to `buf`; `None` if it does not encode at `version`.
fn put<T: Encodable>(response: T, version: i16, buf: &mut BytesMut) -> Option<()> {
    response.encode(buf, version).ok()
}

/// UNSUPPORTED_VERSION, the error every answer here carries.
pub const CODE: i16 = 35;

fn message(what: &str) -> Option<StrBytes> {
    Some(StrBytes::from_string(format!(
        "{what} is not served by minikafka (see docs/protocol.md)"
    )))
}

/// Answers whose only error is the top-level `error_code`:
/// `Api: Request -> Response from v`, v the first version whose answer has the field.
macro_rules! top_level {
    ($api:expr, $body:expr, $version:expr, $buf:expr,
     $($kind:ident: $req:ident -> $resp:ident from $min:expr),* $(,)?) => {
        match $api {
            $(ApiKey::$kind if $version >= $min => {
                decode::<$req>($body, $version)?;
                put($resp::default().with_error_code(CODE), $version, $buf)
            })*
            _ => per_item($api, $body, $version, $buf),
        }
    };
}

/// Appends the response carrying UNSUPPORTED_VERSION to `buf`, or `None` for an API
/// answered by closing the connection.
fn error_response(api: ApiKey, body: &mut Bytes, version: i16, buf: &mut BytesMut) -> Option<()> {
    top_level!(
        api, body, version, buf,
        SaslHandshake: SaslHandshakeRequest -> SaslHandshakeResponse from 0,
        SaslAuthenticate: SaslAuthenticateRequest -> SaslAuthenticateResponse from 0,
        AddOffsetsToTxn: AddOffsetsToTxnRequest -> AddOffsetsToTxnResponse from 0,
        EndTxn: EndTxnRequest -> EndTxnResponse from 0,
        DescribeAcls: DescribeAclsRequest -> DescribeAclsResponse from 0,
        DescribeLogDirs: DescribeLogDirsRequest -> DescribeLogDirsResponse from 3,
        DescribeDelegationToken: DescribeDelegationTokenRequest -> DescribeDelegationTokenResponse from 0,
        ElectLeaders: ElectLeadersRequest -> ElectLeadersResponse from 1,
        AlterPartitionReassignments: AlterPartitionReassignmentsRequest -> AlterPartitionReassignmentsResponse from 0,
        ListPartitionReassignments: ListPartitionReassignmentsRequest -> ListPartitionReassignmentsResponse from 0,
        OffsetDelete: OffsetDeleteRequest -> OffsetDeleteResponse from 0,
        DescribeClientQuotas: DescribeClientQuotasRequest -> DescribeClientQuotasResponse from 0,
        DescribeUserScramCredentials: DescribeUserScramCredentialsRequest -> DescribeUserScramCredentialsResponse from 0,
        DescribeCluster: DescribeClusterRequest -> DescribeClusterResponse from 0,
        ListTransactions: ListTransactionsRequest -> ListTransactionsResponse from 0,
        ConsumerGroupHeartbeat: ConsumerGroupHeartbeatRequest -> ConsumerGroupHeartbeatResponse from 0,
        GetTelemetrySubscriptions: GetTelemetrySubscriptionsRequest -> GetTelemetrySubscriptionsResponse from 0,
        PushTelemetry: PushTelemetryRequest -> PushTelemetryResponse from 0,
        UpdateFeatures: UpdateFeaturesRequest -> UpdateFeaturesResponse from 0,
        // Served APIs, at a version past what this broker serves (clients do not send
        // those, having read ApiVersions; a hand-rolled client might).
        JoinGroup: JoinGroupRequest -> JoinGroupResponse from 0,
        Heartbeat: HeartbeatRequest -> HeartbeatResponse from 0,
        LeaveGroup: LeaveGroupRequest -> LeaveGroupResponse from 0,
        SyncGroup: SyncGroupRequest -> SyncGroupResponse from 0,
        ListGroups: ListGroupsRequest -> ListGroupsResponse from 0,
        InitProducerId: InitProducerIdRequest -> InitProducerIdResponse from 0,
    )
}

/// One error per config resource of the request (the three config APIs share the shape):
/// `Request, Response.with_results_field, ResultType, "Api"`.
macro_rules! per_resource {
    ($body:expr, $version:expr, $buf:expr, $req:ty,
     $resp:ident . $with:ident, $result:ty, $name:literal) => {{
        let req: $req = decode($body, $version)?;
        let results = req
            .resources
            .into_iter()
            .map(|r| {
                <$result>::default()
                    .with_error_code(CODE)
                    .with_error_message(message($name))
                    .with_resource_type(r.resource_type)
                    .with_resource_name(r.resource_name)
            })
            .collect();
        put($resp::default().$with(results), $version, $buf)
    }};
}

/// Answers with one error per item of the request, as Kafka's `getErrorResponse`.
fn per_item(api: ApiKey, body: &mut Bytes, version: i16, buf: &mut BytesMut) -> Option<()> {
    use kafka_protocol::messages::{
        create_partitions_response as cp, delete_groups_response as dg,
        delete_records_response as dr, describe_configs_response as dc,
        offset_for_leader_epoch_response as ofle,
    };
    match api {
        ApiKey::DescribeConfigs => per_resource!(
            body,
            version,
            buf,
            DescribeConfigsRequest,
            DescribeConfigsResponse.with_results,
            dc::DescribeConfigsResult,
            "DescribeConfigs"
        ),
        ApiKey::AlterConfigs => per_resource!(
            body,
            version,
            buf,
            AlterConfigsRequest,
            AlterConfigsResponse.with_responses,
            alter_configs_response::AlterConfigsResourceResponse,
            "AlterConfigs"
        ),
        ApiKey::IncrementalAlterConfigs => per_resource!(
            body,
            version,
            buf,
            IncrementalAlterConfigsRequest,
            IncrementalAlterConfigsResponse.with_responses,
            incremental_alter_configs_response::AlterConfigsResourceResponse,
            "IncrementalAlterConfigs"
        ),
        ApiKey::CreatePartitions => {
            let req: CreatePartitionsRequest = decode(body, version)?;
            put(
                CreatePartitionsResponse::default().with_results(
                    req.topics
                        .into_iter()
                        .map(|t| {
                            cp::CreatePartitionsTopicResult::default()
                                .with_name(t.name)
                                .with_error_code(CODE)
                                .with_error_message(message("CreatePartitions"))
                        })
                        .collect(),
                ),
                version,
                buf,
            )
        }
        ApiKey::DeleteRecords => {
            let req: DeleteRecordsRequest = decode(body, version)?;
            put(
                DeleteRecordsResponse::default().with_topics(
                    req.topics
                        .into_iter()
                        .map(|t| {
                            dr::DeleteRecordsTopicResult::default()
                                .with_name(t.name)
                                .with_partitions(
                                    t.partitions
                                        .into_iter()
                                        .map(|p| {
                                            dr::DeleteRecordsPartitionResult::default()
                                                .with_partition_index(p.partition_index)
                                                .with_low_watermark(-1)
                                                .with_error_code(CODE)
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                ),
                version,
                buf,
            )
        }
        ApiKey::DeleteGroups => {
            let req: DeleteGroupsRequest = decode(body, version)?;
            put(
                DeleteGroupsResponse::default().with_results(
                    req.groups_names
                        .into_iter()
                        .map(|g| {
                            dg::DeletableGroupResult::default()
                                .with_group_id(g)
                                .with_error_code(CODE)
                        })
                        .collect(),
                ),
                version,
                buf,
            )
        }
        ApiKey::OffsetForLeaderEpoch => {
            let req: OffsetForLeaderEpochRequest = decode(body, version)?;
            put(
                OffsetForLeaderEpochResponse::default().with_topics(
                    req.topics
                        .into_iter()
                        .map(|t| {
                            ofle::OffsetForLeaderTopicResult::default()
                                .with_topic(t.topic)
                                .with_partitions(
                                    t.partitions
                                        .into_iter()
                                        .map(|p| {
                                            ofle::EpochEndOffset::default()
                                                .with_partition(p.partition)
                                                .with_error_code(CODE)
                                                .with_leader_epoch(-1)
                                                .with_end_offset(-1)
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                ),
                version,
                buf,
            )
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::ResponseError;

    fn request<T: Encodable>(version: i16, body: &T) -> Bytes {
        let mut buf = BytesMut::new();
        body.encode(&mut buf, version).unwrap();
        buf.freeze()
    }

    #[test]
    fn describe_configs_gets_one_error_per_resource() {
        let req = DescribeConfigsRequest::default().with_resources(vec![
            describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_static_str("t")),
        ]);
        let mut body = request(1, &req);
        let mut bytes = answer(ApiKey::DescribeConfigs, 1, 77, &mut body).expect("answered");
        let header =
            <ResponseHeader as kafka_protocol::protocol::Decodable>::decode(&mut bytes, 0).unwrap();
        assert_eq!(header.correlation_id, 77);
        let resp =
            <DescribeConfigsResponse as kafka_protocol::protocol::Decodable>::decode(&mut bytes, 1)
                .unwrap();
        assert_eq!(resp.results.len(), 1);
        assert_eq!(
            resp.results[0].error_code,
            ResponseError::UnsupportedVersion.code()
        );
        assert_eq!(resp.results[0].resource_name.as_str(), "t");
    }

    #[test]
    fn a_served_api_past_our_range_gets_the_error_answer() {
        // InitProducerId v5 exists in Kafka 3.9/4.0; this broker serves 0–4.
        let mut body = request(5, &InitProducerIdRequest::default());
        let mut bytes = answer(ApiKey::InitProducerId, 5, 3, &mut body).expect("answered");
        let header =
            <ResponseHeader as kafka_protocol::protocol::Decodable>::decode(&mut bytes, 1).unwrap();
        assert_eq!(header.correlation_id, 3);
        let resp =
            <InitProducerIdResponse as kafka_protocol::protocol::Decodable>::decode(&mut bytes, 5)
                .unwrap();
        assert_eq!(resp.error_code, CODE);
    }

    #[test]
    fn inter_broker_apis_and_unknown_versions_are_closed() {
        let mut empty = Bytes::new();
        assert!(answer(ApiKey::Vote, 0, 1, &mut empty).is_none());
        assert!(answer(ApiKey::DescribeConfigs, 0, 1, &mut empty).is_none());
    }
}
