//! Finding the group coordinator and talking to it on a connection of its own.
//!
//! Where it sits: consumer → **FindCoordinator** → coordinator connection → JoinGroup,
//! SyncGroup, Heartbeat, OffsetCommit, OffsetFetch, LeaveGroup.
//!
//! Invariants:
//! - The coordinator gets its own TCP connection, never the pooled one the fetcher uses.
//!   A broker answers one connection's requests in order, so a JoinGroup that the broker
//!   holds until every member has rejoined (up to the rebalance timeout) would otherwise
//!   stall fetches, and a long-polling Fetch would delay heartbeats. Java does the same.
//! - That connection's request timeout covers a whole rebalance (`max.poll.interval.ms`
//!   + 5 s, as Java); every other call on it is bounded by `request.timeout.ms` here.
//! - Each request goes at the highest version both sides speak, capped by [`call`]'s
//!   `cap` where this client only implements the older layout.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::{FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::{Request, StrBytes};

use crate::config::ConsumerConfig;
use crate::error::{Error, KafkaCode, Result};
use crate::native::connection::Connection;
use crate::native::metadata::Cluster;

/// The group's coordinator and a connection reserved for it.
#[derive(Debug, Clone)]
pub(crate) struct Coordinator {
    /// `host:port` of the coordinator.
    pub(crate) addr: String,
    pub(crate) conn: Arc<Connection>,
    /// Bounds every call except JoinGroup and SyncGroup.
    pub(crate) request_timeout: Duration,
}

impl Coordinator {
    /// Ask any broker which node coordinates `config.group_id`, then connect to it.
    /// Retries COORDINATOR_NOT_AVAILABLE and connection failures `retries` times.
    pub(crate) async fn find(cluster: &Cluster, config: &ConsumerConfig) -> Result<Coordinator> {
        let client = &config.client;
        let mut attempt = 0;
        loop {
            match Self::find_once(cluster, config).await {
                Ok(c) => return Ok(c),
                Err(e) if e.is_retriable() && attempt < client.retries => {
                    attempt += 1;
                    tracing::debug!(group = %config.group_id, attempt, error = %e, "coordinator not found yet, retrying");
                    tokio::time::sleep(client.retry_backoff).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn find_once(cluster: &Cluster, config: &ConsumerConfig) -> Result<Coordinator> {
        let group = &config.group_id;
        let conn = cluster.any_connection().await?;
        let mut req = FindCoordinatorRequest::default();
        let version = conn.version_for::<FindCoordinatorRequest>()?;
        if version >= 4 {
            req.coordinator_keys = vec![StrBytes::from_string(group.clone())];
        } else {
            req.key = StrBytes::from_string(group.clone());
        }
        req.key_type = 0; // a consumer group, not a transaction
        let resp = match conn.request_at(&req, version).await {
            Ok(r) => r,
            Err(e) => {
                cluster.forget_connection(conn.addr());
                return Err(e);
            }
        };
        let (error_code, host, port) = answer(&resp, version);
        if error_code != 0 {
            return Err(Error::kafka(
                error_code,
                format!("find the coordinator of group `{group}`"),
            ));
        }
        let addr = format!("{host}:{port}");
        let client = &config.client;
        // JoinGroup may be held for the whole rebalance timeout.
        let join_timeout = client
            .request_timeout
            .max(config.rebalance_timeout + Duration::from_secs(5));
        let conn = cluster.open(&addr, join_timeout).await?;
        tracing::debug!(%group, %addr, "found the group coordinator");
        Ok(Coordinator {
            addr,
            conn: Arc::new(conn),
            request_timeout: client.request_timeout,
        })
    }

    /// Send `req` and wait at most `request.timeout.ms`.
    pub(crate) async fn call<R: Request>(&self, req: &R, cap: i16) -> Result<R::Response> {
        let api = crate::native::connection::api_name(R::KEY);
        match tokio::time::timeout(self.request_timeout, call(&self.conn, req, cap)).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout {
                what: format!("{api} request to {}", self.addr),
                after: self.request_timeout,
            }),
        }
    }

    /// Send `req` and wait as long as a rebalance may take (JoinGroup, SyncGroup).
    pub(crate) async fn call_long<R: Request>(&self, req: &R, cap: i16) -> Result<R::Response> {
        call(&self.conn, req, cap).await
    }
}

/// Send `req` at the highest version both sides speak, at most `cap`.
pub(crate) async fn call<R: Request>(conn: &Connection, req: &R, cap: i16) -> Result<R::Response> {
    let version = conn.version_for::<R>()?.min(cap);
    conn.request_at(req, version).await
}

/// Whether an error means "ask again who the coordinator is".
pub(crate) fn coordinator_moved(e: &Error) -> bool {
    match e {
        Error::Kafka { code, .. } => matches!(
            code,
            KafkaCode::CoordinatorNotAvailable | KafkaCode::NotCoordinator
        ),
        Error::Connect { .. }
        | Error::Io { .. }
        | Error::ConnectionClosed { .. }
        | Error::Timeout { .. } => true,
        _ => false,
    }
}

/// `(error, host, port)` from either layout: fields at the top (v0–v3) or one entry per
/// key (v4+).
pub(crate) fn answer(resp: &FindCoordinatorResponse, version: i16) -> (i16, String, i32) {
    if version >= 4 {
        match resp.coordinators.first() {
            Some(c) => (c.error_code, c.host.to_string(), c.port),
            None => (KafkaCode::CoordinatorNotAvailable.code(), String::new(), 0),
        }
    } else {
        (resp.error_code, resp.host.to_string(), resp.port)
    }
}
