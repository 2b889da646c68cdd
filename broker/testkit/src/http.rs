//! A plain HTTP/1.1 GET, for the tests of the broker's `--http` side (`/metrics`, the
//! dashboard's `/` and `/api/state`).
//!
//! Flow: test → [`get`] → the broker's HTTP server (`broker/src/http/`).
//!
//! What must stay true: one request per connection (`Connection: close`, as the broker
//! answers), and every wait bounded by [`crate::WAIT`].

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::within;

/// `GET path` over HTTP/1.1; returns the status code and the body.
pub async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = within("the HTTP connection", TcpStream::connect(addr))
        .await
        .expect("connect to the HTTP server");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send the request");
    let mut answer = String::new();
    within("the HTTP answer", stream.read_to_string(&mut answer))
        .await
        .expect("read the answer");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status code");
    (status, body.to_string())
}
