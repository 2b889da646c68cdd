//! The broker's HTTP side, on with `--http ADDR` (off by default): `GET /metrics` in
//! the Prometheus text format (see `metrics.rs`); any other path answers 404.
//!
//! Where it sits: at the top, beside `server` (which starts it in `Broker::start`). It
//! reads the broker through the same [`BrokerContext`] the protocol layer uses, and no
//! lower layer imports it: they bump the counters of `stats.rs`, a leaf.
//!
//! What must stay true:
//! - It stops with the broker: the accept loop ends on the shutdown signal of
//!   `shutdown.rs`, and the connections still open are dropped (a scrape is short;
//!   keep-alive is off, so each connection serves one request).
//! - A scrape reads the partitions and groups on the blocking pool, never on an async
//!   worker.
//! - One route per path in [`route`]: a new page (the dashboard `/`, `/api/state`) is
//!   one more arm there and one more file here.

pub mod metrics;

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tracing::{debug, warn};

use crate::protocol::BrokerContext;
use crate::shutdown::{self, stopping};

/// Serves HTTP on `listener` until shutdown is signalled.
pub async fn serve(
    listener: TcpListener,
    ctx: Arc<BrokerContext>,
    mut shutdown: shutdown::Receiver,
) {
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    warn!("http: accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stopping(&mut shutdown) => break,
        };
        let ctx = ctx.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |req| route(ctx.clone(), req));
            let served = hyper::server::conn::http1::Builder::new()
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(e) = served {
                debug!(%peer, "http: connection ended: {e}");
            }
        });
    }
    // Dropping the set aborts the connections still open.
    drop(listener);
    connections.shutdown().await;
}

/// One answer per path.
async fn route(
    ctx: Arc<BrokerContext>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") => {
            match tokio::task::spawn_blocking(move || metrics::scrape(&ctx)).await {
                Ok(text) => answer(StatusCode::OK, metrics::CONTENT_TYPE, text),
                Err(e) => answer(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain; charset=utf-8",
                    format!("scrape failed: {e}\n"),
                ),
            }
        }
        _ => answer(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found; try /metrics\n".to_string(),
        ),
    })
}

fn answer(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    resp
}
