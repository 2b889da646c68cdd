//! Idle connections for the `idle-connections` workload: plain TCP connections that each
//! make one ApiVersions request, as every Kafka client does first, and then sit open while
//! a busy producer runs beside them.
//!
//! The request, ApiVersions v0 with request header v1:
//!
//! | bytes | field          | value                       |
//! |-------|----------------|-----------------------------|
//! | 4     | length         | 10 + client id length       |
//! | 2     | api_key        | 18 (ApiVersions)            |
//! | 2     | api_version    | 0                           |
//! | 4     | correlation_id | the connection's number     |
//! | 2 + n | client_id      | `minikafka-perf-idle`       |
//!
//! What must stay true: every connection has had its answer (a whole length-prefixed
//! frame) before [`open`] returns, so the server really holds them all; they close when
//! the returned [`Idle`] is dropped.

use anyhow::{bail, Context, Result};
use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const API_VERSIONS: i16 = 18;
const CLIENT_ID: &str = "minikafka-perf-idle";

/// Connections held open.
#[derive(Debug)]
pub struct Idle {
    _connections: Vec<TcpStream>,
}

/// Opens `count` connections to `bootstrap`, each answered once.
pub async fn open(bootstrap: &str, count: u32) -> Result<Idle> {
    let mut connections = Vec::with_capacity(count as usize);
    for i in 0..count {
        let stream = handshake(bootstrap, i as i32)
            .await
            .with_context(|| format!("idle connection {i} of {count} to {bootstrap}"))?;
        connections.push(stream);
    }
    Ok(Idle {
        _connections: connections,
    })
}

async fn handshake(bootstrap: &str, correlation_id: i32) -> Result<TcpStream> {
    let mut stream = TcpStream::connect(bootstrap).await?;
    let mut frame = BytesMut::new();
    frame.put_i32((10 + CLIENT_ID.len()) as i32);
    frame.put_i16(API_VERSIONS);
    frame.put_i16(0);
    frame.put_i32(correlation_id);
    frame.put_i16(CLIENT_ID.len() as i16);
    frame.put_slice(CLIENT_ID.as_bytes());
    stream.write_all(&frame).await?;
    let length = stream
        .read_i32()
        .await
        .context("no answer to ApiVersions")?;
    if !(4..=1 << 20).contains(&length) {
        bail!("an ApiVersions answer of {length} bytes");
    }
    let mut body = vec![0; length as usize];
    stream.read_exact(&mut body).await?;
    let answered = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
    if answered != correlation_id {
        bail!("the answer is for correlation id {answered}, not {correlation_id}");
    }
    Ok(stream)
}
