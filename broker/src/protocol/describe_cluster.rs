//! DescribeCluster (key 60): the cluster id, the controller and the brokers. The Java
//! `Admin.describeCluster` (and so Spring, Kafka UI, `kafka-cluster`) sends it.
//!
//! Flow: an admin client → **DescribeCluster** → this broker's `NodeInfo`, the same
//! node, host, port and cluster id Metadata gives.
//!
//! What must stay true:
//! - One broker, node 0, which is also the controller clients are told about.
//! - `endpoint_type` 2 (controllers) is UNSUPPORTED_ENDPOINT_TYPE: a broker answers only
//!   for brokers, as Kafka's brokers do.
//! - With `include_cluster_authorized_operations` the answer lists every operation on
//!   the cluster resource (no authorizer: everything is allowed); without it, Kafka's
//!   "not asked" value, `i32::MIN`.

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::metadata::CLUSTER_ID;
use super::BrokerContext;

/// Kafka's AclOperation codes Kafka supports on the cluster resource: CREATE (5),
/// ALTER (7), DESCRIBE (8), CLUSTER_ACTION (9), DESCRIBE_CONFIGS (10),
/// ALTER_CONFIGS (11), IDEMPOTENT_WRITE (12), as a bit field.
const CLUSTER_OPERATIONS: i32 =
    (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12);

/// DescribeCluster v0–v1.
pub async fn handle(
    ctx: &BrokerContext,
    req: DescribeClusterRequest,
    version: i16,
) -> (DescribeClusterResponse, String) {
    let resp = DescribeClusterResponse::default().with_endpoint_type(req.endpoint_type);
    if version >= 1 && req.endpoint_type != 1 {
        let resp = resp
            .with_error_code(ResponseError::UnsupportedEndpointType.code())
            .with_error_message(Some(StrBytes::from_static_str(
                "minikafka is a broker: it describes brokers (endpoint type 1) only",
            )));
        let line = format!(
            "describe_cluster v{version} endpoint type {} -> UNSUPPORTED_ENDPOINT_TYPE",
            req.endpoint_type
        );
        return (resp, line);
    }
    let broker = DescribeClusterBroker::default()
        .with_broker_id(BrokerId(ctx.node.node_id))
        .with_host(StrBytes::from_string(ctx.node.host.clone()))
        .with_port(ctx.node.port)
        .with_rack(None);
    let operations = if req.include_cluster_authorized_operations {
        CLUSTER_OPERATIONS
    } else {
        i32::MIN
    };
    let resp = resp
        .with_cluster_id(StrBytes::from_static_str(CLUSTER_ID))
        .with_controller_id(BrokerId(ctx.node.node_id))
        .with_brokers(vec![broker])
        .with_cluster_authorized_operations(operations);
    let line = format!(
        "describe_cluster v{version} -> cluster {CLUSTER_ID}, broker {} at {}:{}",
        ctx.node.node_id, ctx.node.host, ctx.node.port
    );
    (resp, line)
}
