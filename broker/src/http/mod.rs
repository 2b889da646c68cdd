//! The broker's HTTP side, on with `--http ADDR` (off by default):
//! - `GET /metrics`: the Prometheus text format (see `metrics.rs`);
//! - `GET /`: the live dashboard, a page that draws each partition's log, each group's
//!   members and committed offsets, and a timeline of recent events, and redraws itself
//!   from `GET /api/state` (JSON; `?since=<seq>` for the newer events only) twice a
//!   second (see `dashboard.rs`; its page is in `dashboard/`, compiled in);
//! - any other path answers 404.
//!
//! Both pages and the JSON are described in `docs/metrics.md`.
//!
//! Where it sits: at the top, beside `server` (which starts it in `Broker::start`). It
//! reads the broker through the same [`BrokerContext`] the protocol layer uses (and
//! `snapshot.rs`, beside it at the top), and no lower layer imports it: they bump the
//! counters of `stats.rs` and record the events of `events.rs`, two leaves.
//!
//! What must stay true:
//! - It stops with the broker: the accept loop ends on the shutdown signal of
//!   `shutdown.rs`, and the connections still open are dropped (a scrape is short;
//!   keep-alive is off, so each connection serves one request).
//! - A scrape, and `/api/state`, read the partitions and groups on the blocking pool,
//!   never on an async worker.
//! - One route per page in [`route`] (the dashboard's three files share one arm): a new
//!   page is one more arm there and one more file here.

pub mod dashboard;
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
                Err(e) => failed(format!("scrape failed: {e}")),
            }
        }
        (&Method::GET, "/api/state") => {
            let since = dashboard::since(req.uri().query());
            let built = tokio::task::spawn_blocking(move || dashboard::state(&ctx, since)).await;
            match built.map(|state| serde_json::to_string(&state)) {
                Ok(Ok(json)) => answer(StatusCode::OK, "application/json", json),
                Ok(Err(e)) => failed(format!("cannot write the state as JSON: {e}")),
                Err(e) => failed(format!("reading the state failed: {e}")),
            }
        }
        // The dashboard's page, script and style sheet.
        (&Method::GET, path) => match dashboard::asset(path) {
            Some((content_type, body)) => answer(StatusCode::OK, content_type, body),
            None => not_found(),
        },
        _ => not_found(),
    })
}

fn not_found() -> Response<Full<Bytes>> {
    answer(
        StatusCode::NOT_FOUND,
        "text/plain; charset=utf-8",
        "not found; try / (the dashboard), /api/state or /metrics\n",
    )
}

fn failed(why: String) -> Response<Full<Bytes>> {
    answer(
        StatusCode::INTERNAL_SERVER_ERROR,
        "text/plain; charset=utf-8",
        format!("{why}\n"),
    )
}

fn answer(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    resp
}
