//! A TCP proxy between clients and the broker that loses responses on purpose: the
//! broker has done the work (say, appended a batch), the client never hears of it,
//! and its connection drops, so it sends the request again on a new one. This is the
//! retry the idempotent producer exists for.
//!
//! Flow: [`ProxyListener::bind`] takes a port on 127.0.0.1 first, so the broker can
//! advertise it (`advertised.listeners`, see [`ProxyListener::advertise`]) and every
//! client connection, after the bootstrap too, goes through the proxy;
//! [`ProxyListener::start`] then forwards to the broker.
//!
//! What must stay true:
//! - Frames are forwarded whole and unchanged, in order, in both directions; the
//!   proxy reads only the request header's API key and correlation id, and a
//!   response's correlation id.
//! - A response is dropped only once the broker has sent it, that is, once the
//!   request was handled; the connection is then closed both ways, so the responses
//!   still in flight on it are lost too, as on a real network failure.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Which responses to lose: of the requests with `api_key`, every `every`-th one
/// (the `every`-th, the `2 × every`-th, …), at most `max` in all.
#[derive(Debug, Clone, Copy)]
pub struct DropPlan {
    pub api_key: i16,
    pub every: usize,
    pub max: usize,
}

impl DropPlan {
    /// Lose the response of every `every`-th Produce request, at most `max` times.
    pub fn produce(every: usize, max: usize) -> DropPlan {
        DropPlan {
            api_key: 0,
            every: every.max(1),
            max,
        }
    }
}

/// A bound proxy port, not yet forwarding.
#[derive(Debug)]
pub struct ProxyListener {
    listener: TcpListener,
}

impl ProxyListener {
    /// Binds 127.0.0.1:0.
    pub async fn bind() -> ProxyListener {
        ProxyListener {
            listener: TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind the proxy on 127.0.0.1:0"),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("the proxy's address")
    }

    /// Makes a broker config advertise this proxy instead of its own listener, so that
    /// clients reconnect through it after the bootstrap.
    pub fn advertise(&self, config: &mut minikafka_broker::Config) {
        let port = self.addr().port();
        for l in &mut config.listeners {
            l.advertised_host = Some("127.0.0.1".into());
            l.advertised_port = Some(port);
        }
    }

    /// Forwards every connection to `upstream`, losing responses as `plan` says.
    pub fn start(self, upstream: SocketAddr, plan: DropPlan) -> DropProxy {
        let shared = Arc::new(Shared {
            plan,
            seen: AtomicUsize::new(0),
            dropped: AtomicUsize::new(0),
        });
        let addr = self.addr();
        let s = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = self.listener.accept().await {
                let Ok(broker) = TcpStream::connect(upstream).await else {
                    continue;
                };
                tokio::spawn(pipe(client, broker, s.clone()));
            }
        });
        DropProxy { addr, shared, task }
    }
}

#[derive(Debug)]
struct Shared {
    plan: DropPlan,
    /// Requests with the plan's API key seen so far.
    seen: AtomicUsize,
    dropped: AtomicUsize,
}

/// A running proxy; stops when dropped.
#[derive(Debug)]
pub struct DropProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl DropProxy {
    /// Where clients connect (what the broker advertises).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `127.0.0.1:<port>`, a client's `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    /// How many responses were lost so far.
    pub fn dropped(&self) -> usize {
        self.shared.dropped.load(Ordering::SeqCst)
    }
}

impl Drop for DropProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one length-prefixed frame; `None` at EOF or on an error.
async fn read_frame(r: &mut OwnedReadHalf) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len).await.ok()?;
    let n = usize::try_from(i32::from_be_bytes(len)).ok()?;
    let mut frame = vec![0u8; 4 + n];
    frame[..4].copy_from_slice(&len);
    r.read_exact(&mut frame[4..]).await.ok()?;
    Some(frame)
}

async fn pipe(client: TcpStream, broker: TcpStream, shared: Arc<Shared>) {
    let (mut client_r, mut client_w) = client.into_split();
    let (mut broker_r, broker_w) = broker.into_split();
    // Correlation ids whose responses are to be lost.
    let doomed: Arc<Mutex<HashSet<i32>>> = Arc::default();
    let up = {
        let doomed = doomed.clone();
        let shared = shared.clone();
        let mut broker_w: OwnedWriteHalf = broker_w;
        tokio::spawn(async move {
            while let Some(frame) = read_frame(&mut client_r).await {
                // Request header: api_key i16, api_version i16, correlation_id i32.
                if frame.len() >= 12 {
                    let api_key = i16::from_be_bytes([frame[4], frame[5]]);
                    let correlation =
                        i32::from_be_bytes([frame[8], frame[9], frame[10], frame[11]]);
                    if api_key == shared.plan.api_key {
                        let n = shared.seen.fetch_add(1, Ordering::SeqCst) + 1;
                        if n.is_multiple_of(shared.plan.every) {
                            doomed.lock().expect("doomed").insert(correlation);
                        }
                    }
                }
                if broker_w.write_all(&frame).await.is_err() {
                    break;
                }
            }
        })
    };
    while let Some(frame) = read_frame(&mut broker_r).await {
        let correlation = frame
            .get(4..8)
            .map_or(-1, |b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        let lose = doomed.lock().expect("doomed").remove(&correlation)
            && shared
                .dropped
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |d| {
                    (d < shared.plan.max).then_some(d + 1)
                })
                .is_ok();
        if lose {
            break; // the broker answered; the client will never know
        }
        if client_w.write_all(&frame).await.is_err() {
            break;
        }
    }
    up.abort();
    let _ = client_w.shutdown().await;
}
