//! The accept loop, the connection limit, the background maintenance and graceful
//! shutdown: where a message first meets the broker.
//!
//! Flow: producer → partitioner → wire → **server** → connection → protocol →
//! partition log → segment → fetch → consumer.
//!
//! What must stay true:
//! - At most `config.max_connections` connections are open. A permit of the
//!   semaphore is taken *before* `accept`, so over the limit new clients wait in the
//!   kernel's backlog instead of being accepted and dropped.
//! - At most `config.max_connections_per_ip` are open from one client address: one more
//!   is accepted and closed at once with a log line, as Kafka does, so one client cannot
//!   take every connection. Its count goes down when its connection task ends.
//! - Shutdown starts with the signal of [`crate::shutdown`], which this file sends
//!   and every layer below listens to, and goes in this order: stop accepting; stop
//!   the group coordinator (parked JoinGroup/SyncGroup requests are answered at
//!   once); let every connection finish the requests it has already received (a
//!   long-polling Fetch answers at once with what it has); then `Topics::close`,
//!   which syncs every log and writes the clean-shutdown markers. Nothing is
//!   cancelled halfway.
//! - Retention runs once at start-up, before the listener opens (so segments that
//!   expired while the broker was down are gone once `Broker::start` returns), then
//!   every `log.retention.check.interval.ms`. It, the log cleaner (every
//!   `log.cleaner.backoff.ms`, or now with [`BrokerHandle::clean_now`]) and, with
//!   `--fsync <ms>`, the periodic sync run on the blocking pool, never on the async
//!   workers.
//! - With `--http`, the HTTP server of [`crate::http`] starts here and stops on the same
//!   signal; the broker task waits for it before releasing the data dir.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};
use tracing::{debug, info, warn, Instrument};

use crate::config::{FsyncPolicy, ListenerConfig};
use crate::group::{GroupCoordinator, NodeInfo};
use crate::log::partition_log::CleanReport;
use crate::protocol::BrokerContext;
use crate::security::{Listener, Security};
use crate::shutdown::{self, stopping};
use crate::topics::Topics;
use crate::Config;

/// Why the broker could not start. Each message already says why in full (the cause
/// is in it, not behind `source()`), so printing the error once is enough.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {error}")]
    Bind {
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error("no listener is configured")]
    NoListener,
    #[error(transparent)]
    Security(#[from] crate::security::SecurityError),
    #[error(transparent)]
    Locked(#[from] crate::topics::lock::LockError),
    #[error("cannot open data directory: {0}")]
    Data(crate::topics::TopicError),
    /// The blocking task that opens the data directory did not finish (the runtime
    /// is shutting down).
    #[error("opening the data directory was cancelled: {0}")]
    Cancelled(tokio::task::JoinError),
}

impl From<crate::topics::TopicError> for StartError {
    fn from(e: crate::topics::TopicError) -> Self {
        StartError::Data(e)
    }
}

/// Why [`BrokerHandle::clean_now`] failed.
#[derive(Debug, thiserror::Error)]
pub enum CleanError {
    /// A partition's pass failed (the others were still tried).
    #[error("log cleaner: {0}")]
    Clean(crate::topics::TopicError),
    /// The blocking task did not finish (it panicked, or the runtime is shutting down).
    #[error("the log cleaner task did not finish: {0}")]
    Cancelled(tokio::task::JoinError),
}

/// The broker as a library: [`Broker::start`] is the whole API.
#[derive(Debug)]
pub struct Broker {
    _private: (),
}

/// A running broker: its address, and a way to stop it.
///
/// Dropping the handle without calling [`BrokerHandle::shutdown`] starts the same
/// graceful shutdown in the background, but nobody waits for it: if the runtime ends
/// first, the clean-shutdown markers may be missing and the next start runs recovery,
/// exactly as after a crash. Call `shutdown().await`.
#[derive(Debug)]
pub struct BrokerHandle {
    addr: SocketAddr,
    /// Where `/metrics` is served (`--http`), if it is.
    http_addr: Option<SocketAddr>,
    /// `true` is sent once, by `shutdown`; every task holds a receiver.
    shutdown: shutdown::Sender,
    /// The accept loop; it returns once everything is drained and closed.
    server: JoinHandle<()>,
    /// What the protocol layer shares, read by [`BrokerHandle::snapshot`].
    ctx: Arc<BrokerContext>,
}

impl Broker {
    /// Opens the data dir, binds the listener and starts serving in the background.
    pub async fn start(config: Config) -> Result<BrokerHandle, StartError> {
        // The security settings, then the sockets: a missing certificate or user file,
        // or a taken port, fails the start before the data dir is touched (or created).
        // Connections that arrive while the logs open wait in the listen backlog.
        let security = Security::open(&config)?;
        let acceptors = Security::acceptors(&config)?;
        let mut sockets = Vec::with_capacity(config.listeners.len());
        for listener_config in &config.listeners {
            let addr = listener_config.addr;
            let bind_error = |error| StartError::Bind { addr, error };
            let socket = TcpListener::bind(addr).await.map_err(bind_error)?;
            let bound = socket.local_addr().map_err(bind_error)?;
            let node = NodeInfo {
                node_id: 0,
                host: advertised_host(listener_config, bound),
                port: i32::from(listener_config.advertised_port.unwrap_or(bound.port())),
            };
            let tls = acceptors.of(listener_config.protocol);
            let listener = Listener::new(listener_config.clone(), bound, node, tls);
            sockets.push((socket, Arc::new(listener)));
        }
        let listeners: Vec<Arc<Listener>> = sockets.iter().map(|(_, l)| l.clone()).collect();
        let addr = listeners
            .first()
            .map(|l| l.bound)
            .ok_or(StartError::NoListener)?;

        // `--http`: `/metrics` and the dashboard (see `http/`).
        let http_listener = match config.http {
            Some(http) => {
                let bind_error = |error| StartError::Bind { addr: http, error };
                let listener = TcpListener::bind(http).await.map_err(bind_error)?;
                let http_addr = listener.local_addr().map_err(bind_error)?;
                Some((listener, http_addr))
            }
            None => None,
        };
        let http_addr = http_listener.as_ref().map(|(_, a)| *a);

        // One broker per data dir; held until the logs are closed (see `topics/lock.rs`).
        let dir = config.data_dir.clone();
        let lock =
            tokio::task::spawn_blocking(move || crate::topics::lock::DataDirLock::acquire(&dir))
                .await
                .map_err(StartError::Cancelled)??;
        let data_dir = config.data_dir.clone();
        let mut log_defaults = config.log.clone();
        // The log layer reads explain mode from its own settings (see `explain.rs`).
        log_defaults.explain |= config.explain;
        let topics = tokio::task::spawn_blocking(move || {
            let topics = Topics::open(&data_dir, log_defaults)?;
            // One retention check at start-up, as Kafka does: segments that expired
            // while the broker was down go now, not one check interval later.
            if let Err(e) = topics.apply_retention() {
                warn!("retention at start-up failed: {e}");
            }
            Ok::<_, crate::topics::TopicError>(topics)
        })
        .await
        .map_err(StartError::Cancelled)??;
        let topics = Arc::new(topics);

        let (groups, txn) = {
            let topics = topics.clone();
            let config = config.clone();
            tokio::task::spawn_blocking(move || {
                let groups = GroupCoordinator::open(topics.clone(), &config)?;
                let txn =
                    crate::txn::TransactionCoordinator::open(topics, groups.clone(), &config)?;
                Ok::<_, crate::topics::TopicError>((groups, txn))
            })
            .await
            .map_err(StartError::Cancelled)??
        };

        let (shutdown_tx, shutdown_rx) = shutdown::channel();
        let ctx = Arc::new(BrokerContext::new(
            topics,
            groups,
            txn,
            config,
            listeners,
            security,
            shutdown_rx.clone(),
        ));
        let http = http_listener.map(|(listener, http_addr)| {
            info!("serving the dashboard on http://{http_addr}/ and metrics on http://{http_addr}/metrics");
            tokio::spawn(crate::http::serve(
                listener,
                ctx.clone(),
                shutdown_rx.clone(),
            ))
        });
        let server_ctx = ctx.clone();
        let server = tokio::spawn(async move {
            run(sockets, server_ctx, shutdown_rx).await;
            if let Some(http) = http {
                if let Err(e) = http.await {
                    warn!("the http task ended abnormally: {e}");
                }
            }
            drop(lock);
        });
        Ok(BrokerHandle {
            addr,
            http_addr,
            shutdown: shutdown_tx,
            server,
            ctx,
        })
    }
}

impl BrokerHandle {
    /// The address the broker's first listener really listens on (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every listener, in `Config::listeners`' order, with the address each really got
    /// (`Listener::bound`) and what it tells its clients (`Listener::node`).
    pub fn listeners(&self) -> &[Arc<Listener>] {
        &self.ctx.listeners
    }

    /// Who can reach [`Self::addr`], in words for the start-up line: only this machine
    /// (a loopback address), or others too (any other address, all interfaces included).
    pub fn reach(&self) -> Reach {
        Reach::of(self.addr.ip())
    }

    /// The address `/metrics` is served on (`Config::http`, useful with port 0), or
    /// `None` when HTTP is off.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// What is inside the broker now: topics, partitions, segments, groups, members,
    /// assignments, committed offsets and lag (see `snapshot.rs`). It reads the logs'
    /// metadata under their locks; from async code on a busy broker, call it through
    /// `spawn_blocking`.
    pub fn snapshot(&self) -> crate::snapshot::Snapshot {
        crate::snapshot::snapshot(&self.ctx)
    }

    /// Runs one pass of the log cleaner now, over every partition of a compacted
    /// topic (`cleanup.policy=compact`), as the timer does every
    /// `--log-cleaner-backoff-ms`: for tests and the tour, which cannot wait for it. It
    /// runs on the blocking pool, one pass at a time with the timer's. Returns what it
    /// did per partition (`<topic>-<partition>`), for the partitions it cleaned (a
    /// partition with nothing to clean is left out: see `log/cleaner.rs: plan`).
    pub async fn clean_now(&self) -> Result<BTreeMap<String, CleanReport>, CleanError> {
        let topics = self.ctx.topics.clone();
        tokio::task::spawn_blocking(move || topics.clean())
            .await
            .map_err(CleanError::Cancelled)?
            .map_err(CleanError::Clean)
    }

    /// Stops accepting, finishes requests in flight, syncs the logs and writes the
    /// clean-shutdown markers.
    pub async fn shutdown(self) {
        self.shutdown.send_replace(true);
        if let Err(e) = self.server.await {
            warn!("the broker task ended abnormally: {e}");
        }
    }
}

/// The host a listener's clients are told to connect to (Metadata, FindCoordinator).
fn advertised_host(config: &ListenerConfig, addr: SocketAddr) -> String {
    if let Some(host) = &config.advertised_host {
        return host.clone();
    }
    match addr.ip() {
        ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST).to_string(),
        ip => ip.to_string(),
    }
}

/// The next connection on any of the listeners (accept is cancel-safe, so the losers
/// of the race lose nothing).
async fn accept_any(
    sockets: &[(TcpListener, Arc<Listener>)],
) -> (
    std::io::Result<(tokio::net::TcpStream, SocketAddr)>,
    Arc<Listener>,
) {
    let accepts = sockets.iter().map(|(socket, listener)| {
        Box::pin(async move { (socket.accept().await, listener.clone()) })
    });
    futures::future::select_all(accepts).await.0
}

/// The accept loop, over every listener. Returns after a complete, graceful shutdown.
async fn run(
    sockets: Vec<(TcpListener, Arc<Listener>)>,
    ctx: Arc<BrokerContext>,
    mut shutdown: shutdown::Receiver,
) {
    let limit = Arc::new(Semaphore::new(ctx.config.max_connections.max(1)));
    let per_ip = PerIp::new(ctx.config.max_connections_per_ip);
    let mut connections = JoinSet::new();
    let maintenance = tokio::spawn(maintenance(ctx.clone(), shutdown.clone()));

    loop {
        // Reap finished connections so the set does not grow forever.
        while let Some(done) = connections.try_join_next() {
            report_connection_end(done);
        }
        // The permit comes first: over the limit we stop calling accept().
        let permit = tokio::select! {
            permit = limit.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break, // the semaphore is never closed; be defensive
            },
            _ = stopping(&mut shutdown) => break,
        };
        let ((stream, peer), listener) = tokio::select! {
            (accepted, listener) = accept_any(&sockets) => match accepted {
                Ok(accepted) => (accepted, listener),
                Err(e) => {
                    // Usually EMFILE or a connection reset before accept; back off briefly.
                    warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stopping(&mut shutdown) => break,
        };
        let Some(slot) = per_ip.take(peer.ip()) else {
            warn!(
                %peer,
                "closing a new connection from {}: it already has {} open (max.connections.per.ip)",
                peer.ip(),
                per_ip.max
            );
            drop(stream);
            continue;
        };
        debug!(%peer, listener = %listener.config.name, "accepted connection");
        let ctx = ctx.clone();
        let shutdown = shutdown.clone();
        connections.spawn(
            async move {
                crate::connection::serve(stream, listener, ctx, shutdown).await;
                drop(slot);
                drop(permit);
            }
            .instrument(tracing::info_span!("conn", %peer)),
        );
    }

    // 1. Stop accepting.
    drop(sockets);
    // 2. Stop the group coordinator first: a JoinGroup or SyncGroup parked until a
    //    rebalance completes is answered now (COORDINATOR_NOT_AVAILABLE, the client
    //    retries elsewhere or later) instead of holding the drain for minutes.
    ctx.groups.shutdown().await;
    // 3. Finish the requests in flight (each connection sees the shutdown signal).
    // Connections already gone are reaped first, so the count is of the open ones.
    while let Some(done) = connections.try_join_next() {
        report_connection_end(done);
    }
    info!(
        "shutting down: waiting for {} to finish",
        crate::explain::count(connections.len(), "open connection")
    );
    while let Some(done) = connections.join_next().await {
        report_connection_end(done);
    }
    if let Err(e) = maintenance.await {
        warn!("the maintenance task ended abnormally: {e}");
    }
    // 4. Sync the logs and write the clean-shutdown markers.
    let topics = ctx.topics.clone();
    match tokio::task::spawn_blocking(move || topics.close()).await {
        Ok(Ok(())) => info!("shutdown complete: logs synced, clean-shutdown markers written"),
        Ok(Err(e)) => warn!("closing the logs failed: {e}"),
        Err(e) => warn!("closing the logs did not finish: {e}"),
    }
}

fn report_connection_end(done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done {
        warn!("a connection task ended abnormally: {e}");
    }
}

/// Retention every `retention_check_interval` (the first check ran in `Broker::start`);
/// idle producer ids forgotten every `producer_id_expiration_check_interval`; timed-out
/// transactions aborted every `transaction_abort_interval`;
/// the log cleaner every `log_cleaner_backoff`; with `--fsync <ms>`, `sync_all` every
/// `<ms>`. All run on the blocking pool. Ends when shutdown is signalled.
async fn maintenance(ctx: Arc<BrokerContext>, mut shutdown: shutdown::Receiver) {
    let mut retention = tokio::time::interval(ctx.config.retention_check_interval);
    retention.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    retention.tick().await; // the first tick is immediate; `Broker::start` already ran one
    let sync_every = match ctx.config.log.fsync {
        FsyncPolicy::Interval(every) => Some(every),
        FsyncPolicy::Never | FsyncPolicy::Always => None,
    };
    // With no periodic sync the interval still exists but its ticks are ignored.
    let mut sync = tokio::time::interval(sync_every.unwrap_or(Duration::from_secs(3600)));
    sync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    sync.tick().await;
    let mut cleaner = tokio::time::interval(ctx.config.log_cleaner_backoff);
    cleaner.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    cleaner.tick().await;
    let mut txn_timeouts = tokio::time::interval(ctx.config.transaction_abort_interval);
    txn_timeouts.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    txn_timeouts.tick().await;
    let mut expiry = tokio::time::interval(ctx.config.producer_id_expiration_check_interval);
    expiry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    expiry.tick().await;

    loop {
        tokio::select! {
            _ = retention.tick() => {
                let topics = ctx.topics.clone();
                match tokio::task::spawn_blocking(move || topics.apply_retention()).await {
                    Ok(Ok(())) => debug!("retention check done"),
                    Ok(Err(e)) => warn!("retention failed: {e}"),
                    Err(e) => warn!("retention task failed: {e}"),
                }
            }
            _ = cleaner.tick() => {
                let topics = ctx.topics.clone();
                match tokio::task::spawn_blocking(move || topics.clean()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => warn!("log cleaner failed: {e}"),
                    Err(e) => warn!("log cleaner task failed: {e}"),
                }
            }
            _ = txn_timeouts.tick() => {
                let txn = ctx.txn.clone();
                let now = crate::txn::now_ms();
                match tokio::task::spawn_blocking(move || txn.abort_timed_out(now)).await {
                    Ok(0) => {}
                    Ok(n) => debug!("aborted {n} timed-out transactions"),
                    Err(e) => warn!("transaction timeout task failed: {e}"),
                }
            }
            _ = expiry.tick() => {
                let topics = ctx.topics.clone();
                let after = ctx.config.producer_id_expiration;
                match tokio::task::spawn_blocking(move || topics.expire_producers(after)).await {
                    Ok(0) => {}
                    Ok(n) => debug!("forgot {n} idle producer ids (producer.id.expiration.ms)"),
                    Err(e) => warn!("producer expiry task failed: {e}"),
                }
            }
            _ = sync.tick(), if sync_every.is_some() => {
                let topics = ctx.topics.clone();
                match tokio::task::spawn_blocking(move || topics.sync_all()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => warn!("periodic fsync failed: {e}"),
                    Err(e) => warn!("periodic fsync task failed: {e}"),
                }
            }
            _ = stopping(&mut shutdown) => return,
        }
    }
}

/// Open connections per client address, for `max.connections.per.ip`.
struct PerIp {
    max: usize,
    open: Arc<std::sync::Mutex<std::collections::HashMap<IpAddr, usize>>>,
}

/// One connection's place in its address's count; given back on drop.
struct IpSlot {
    ip: IpAddr,
    open: Arc<std::sync::Mutex<std::collections::HashMap<IpAddr, usize>>>,
}

impl PerIp {
    fn new(max: usize) -> PerIp {
        PerIp {
            max: max.max(1),
            open: Arc::default(),
        }
    }

    /// A slot for one more connection from `ip`, unless it has `max` open already.
    fn take(&self, ip: IpAddr) -> Option<IpSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(ip).or_default();
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            ip,
            open: self.open.clone(),
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Who can connect to a listening address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// A loopback address (127.0.0.0/8, ::1): only this machine.
    Loopback,
    /// 0.0.0.0 or ::: every interface, so other machines too.
    AllInterfaces,
    /// Another address of this machine: others on that network.
    Network,
}

impl Reach {
    /// The reach of a listener bound to `ip`.
    pub fn of(ip: IpAddr) -> Reach {
        if ip.is_loopback() {
            Reach::Loopback
        } else if ip.is_unspecified() {
            Reach::AllInterfaces
        } else {
            Reach::Network
        }
    }
}

impl std::fmt::Display for Reach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Reach::Loopback => "loopback: only this machine can connect",
            Reach::AllInterfaces => "all interfaces, not loopback: other machines can connect",
            Reach::Network => "not loopback: other machines on that network can connect",
        })
    }
}

#[cfg(test)]
mod reach_tests {
    use super::*;

    #[test]
    fn loopback_all_interfaces_and_network_addresses_are_told_apart() {
        for (ip, reach) in [
            ("127.0.0.1", Reach::Loopback),
            ("127.8.9.10", Reach::Loopback),
            ("::1", Reach::Loopback),
            ("0.0.0.0", Reach::AllInterfaces),
            ("::", Reach::AllInterfaces),
            ("192.168.1.20", Reach::Network),
            ("fe80::1", Reach::Network),
        ] {
            assert_eq!(Reach::of(ip.parse().unwrap()), reach, "{ip}");
        }
        assert!(Reach::Loopback.to_string().starts_with("loopback"));
        assert!(Reach::AllInterfaces.to_string().contains("not loopback"));
        assert!(Reach::Network.to_string().contains("not loopback"));
    }
}
