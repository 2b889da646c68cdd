//! One client connection: length-prefixed frames in, responses out, in request order.
//!
//! Flow: producer → partitioner → wire → server → **connection** → protocol →
//! topics (the partition) → partition log → segment → fetch → consumer.
//!
//! # Frame layout (both directions)
//!
//! | bytes   | field                                                     |
//! |---------|-----------------------------------------------------------|
//! | 0–3     | size i32, big-endian: the number of bytes that follow     |
//! | 4…      | request: header (api_key i16, api_version i16,            |
//! |         | correlation_id i32, client_id, [tagged fields]) then body |
//! |         | response: header (correlation_id i32, [tagged fields])    |
//! |         | then body                                                 |
//!
//! What must stay true:
//! - The size is checked against `max_request_bytes` (Kafka's
//!   `socket.request.max.bytes`) *before* any buffer for it is allocated, so a
//!   client announcing 2 GiB costs us nothing. Until a SASL listener's client has
//!   authenticated, the limit is `sasl.server.max.receive.size` (512 KiB).
//! - Requests are handled one at a time, in the order they arrive, so responses
//!   leave in request order even when the client pipelines (this is what Kafka does:
//!   it mutes a connection while one of its requests is being processed). So one
//!   connection has at most one request in flight and one response queued: the bytes
//!   of the requests behind it wait in the socket, and a client that sends faster than
//!   it reads is slowed by TCP itself. The read buffer holds at most one frame beyond
//!   the 8 KiB it starts with (`max_request_bytes` bounds that frame).
//! - `connections.max.idle.ms` bounds every wait on the client: a connection that sends
//!   no complete request for that long (idle, or dribbling a frame a byte at a time), or
//!   does not take a response for that long (it stopped reading its socket), is closed
//!   with a log line. No client holds a task, a buffer or a file forever.
//! - Garbage, a truncated or oversized frame, an unknown API key, a version Kafka
//!   does not know, or Produce v0–v2 ends *this* connection with one log line; no
//!   other client notices. (An API Kafka serves and minikafka does not is answered
//!   with UNSUPPORTED_VERSION instead: `protocol/unsupported.rs`.)
//! - On shutdown, the request being handled and any complete requests already
//!   received are answered, then the connection closes.
//! - A response goes out in its pieces (`protocol/response.rs`): encoded bytes through
//!   the write buffer, stored batches with `sendfile` from their segment file, the
//!   buffer flushed before each so the bytes keep their order. Under TLS the kernel
//!   cannot encrypt, so stored batches are read from the file and written through TLS.
//! - On an SSL or SASL_SSL listener nothing is read as a request before the TLS
//!   handshake completes; a failed handshake closes the connection with one log line,
//!   and a handshake that stalls is cut at `connections.max.idle.ms`.
//! - A response that ends an authentication attempt in failure
//!   (`Session::close_after_response`) is written, then the connection closes.

use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{
    AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter, Interest, WriteHalf,
};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tracing::{debug, warn};

use crate::log::FileSlice;
use crate::protocol::response::Piece;
use crate::protocol::{self, BrokerContext};
use crate::security::session::Session;
use crate::security::{tls, Listener};
use crate::shutdown::{self, stopping};

/// Why a connection was closed by the broker rather than by the client.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame size {size} is negative")]
    NegativeSize { size: i32 },
    #[error(
        "frame size {size} is larger than the maximum request size {max} \
         (socket.request.max.bytes)"
    )]
    TooLarge { size: usize, max: usize },
    #[error("client closed the connection in the middle of a frame ({have} of {want} bytes)")]
    Truncated { have: usize, want: usize },
    #[error("no complete request for {idle_secs} s (connections.max.idle.ms)")]
    Idle { idle_secs: u64 },
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Where responses go: the socket itself, or TLS over it.
enum Sink {
    Plain(OwnedWriteHalf),
    Tls(WriteHalf<TlsStream<TcpStream>>),
}

impl AsyncWrite for Sink {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Sink::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Sink::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Sink::Plain(s) => Pin::new(s).poll_flush(cx),
            Sink::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Sink::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Sink::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

type Writer = BufWriter<Sink>;

/// Reads whole frames from the socket, enforcing the maximum size.
struct FrameReader {
    socket: Box<dyn AsyncRead + Send + Unpin>,
    buffer: BytesMut,
    max: usize,
}

impl FrameReader {
    /// A complete frame already in the buffer, without touching the socket.
    /// `Ok(None)` means more bytes are needed.
    fn buffered_frame(&mut self) -> Result<Option<Bytes>, FrameError> {
        if self.buffer.len() < 4 {
            return Ok(None);
        }
        let size = i32::from_be_bytes([
            self.buffer[0],
            self.buffer[1],
            self.buffer[2],
            self.buffer[3],
        ]);
        let size = usize::try_from(size).map_err(|_| FrameError::NegativeSize { size })?;
        if size > self.max {
            return Err(FrameError::TooLarge {
                size,
                max: self.max,
            });
        }
        if self.buffer.len() < 4 + size {
            // Checked above, so this reservation is bounded by `max`.
            self.buffer.reserve(4 + size - self.buffer.len());
            return Ok(None);
        }
        self.buffer.advance(4);
        Ok(Some(self.buffer.split_to(size).freeze()))
    }

    /// The next frame; `Ok(None)` when the client closed cleanly between frames.
    /// Cancel-safe: bytes already read stay in the buffer.
    async fn next_frame(&mut self) -> Result<Option<Bytes>, FrameError> {
        loop {
            if let Some(frame) = self.buffered_frame()? {
                return Ok(Some(frame));
            }
            if self.socket.read_buf(&mut self.buffer).await? == 0 {
                if self.buffer.is_empty() {
                    return Ok(None);
                }
                let want = if self.buffer.len() >= 4 {
                    4 + i32::from_be_bytes([
                        self.buffer[0],
                        self.buffer[1],
                        self.buffer[2],
                        self.buffer[3],
                    ]) as usize
                } else {
                    4
                };
                return Err(FrameError::Truncated {
                    have: self.buffer.len(),
                    want,
                });
            }
        }
    }
}

/// The largest frame to read next: `socket.request.max.bytes`, or, from a client of a
/// SASL listener that has not authenticated yet, `sasl.server.max.receive.size`.
fn max_frame(session: &Session, ctx: &BrokerContext) -> usize {
    if session.authenticated() {
        ctx.config.max_request_bytes
    } else {
        ctx.config
            .max_request_bytes
            .min(ctx.config.sasl.max_receive_size)
    }
}

/// The TLS handshake of a connection on an SSL or SASL_SSL listener, bounded by the
/// idle timeout and by shutdown. `None` (logged) when it fails.
async fn tls_handshake(
    stream: TcpStream,
    acceptor: &tokio_rustls::TlsAcceptor,
    idle: std::time::Duration,
    shutdown: &mut shutdown::Receiver,
) -> Option<TlsStream<TcpStream>> {
    tokio::select! {
        done = tokio::time::timeout(idle, acceptor.accept(stream)) => match done {
            Ok(Ok(tls)) => Some(tls),
            Ok(Err(e)) => {
                warn!("closing connection: TLS handshake failed: {e}");
                None
            }
            Err(_) => {
                warn!("closing connection: no TLS handshake for {} s (connections.max.idle.ms)", idle.as_secs());
                None
            }
        },
        _ = stopping(shutdown) => None,
    }
}

/// Serves one connection on `listener` until the client leaves, a frame is bad, or
/// shutdown.
pub async fn serve(
    stream: TcpStream,
    listener: Arc<Listener>,
    ctx: Arc<BrokerContext>,
    mut shutdown: shutdown::Receiver,
) {
    // Responses are small and frequent; do not let Nagle hold them back.
    let _ = stream.set_nodelay(true);
    let peer = stream.peer_addr().ok();
    let idle = ctx.config.connections_max_idle;
    let (socket, sink, principal): (Box<dyn AsyncRead + Send + Unpin>, Sink, Option<String>) =
        match &listener.tls {
            None => {
                let (read_half, write_half) = stream.into_split();
                (Box::new(read_half), Sink::Plain(write_half), None)
            }
            Some(acceptor) => {
                let Some(tls) = tls_handshake(stream, acceptor, idle, &mut shutdown).await else {
                    return;
                };
                let principal = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|certs| certs.first())
                    .map(tls::principal);
                if let Some(principal) = &principal {
                    debug!("TLS client certificate: {principal}");
                }
                let (read_half, write_half) = tokio::io::split(tls);
                (Box::new(read_half), Sink::Tls(write_half), principal)
            }
        };
    let mut session = Session::new(listener, peer, principal);
    let mut reader = FrameReader {
        socket,
        buffer: BytesMut::with_capacity(8 * 1024),
        max: max_frame(&session, &ctx),
    };
    let mut writer = BufWriter::new(sink);
    // `kafka_server_connections` on /metrics; the matching `dec` is at the end.
    ctx.stats.connections.inc();

    loop {
        let next = tokio::select! {
            next = tokio::time::timeout(idle, reader.next_frame()) => match next {
                Ok(next) => next,
                Err(_) => Err(FrameError::Idle { idle_secs: idle.as_secs() }),
            },
            _ = stopping(&mut shutdown) => {
                // Answer what was already received completely, then close.
                drain_buffered(&mut reader, &mut session, &mut writer, &ctx).await;
                break;
            }
        };
        let frame = match next {
            Ok(Some(frame)) => frame,
            Ok(None) => {
                debug!("client closed the connection");
                break;
            }
            Err(FrameError::Io(e)) => {
                debug!("connection lost: {e}");
                break;
            }
            Err(e) => {
                warn!("closing connection: {e}");
                break;
            }
        };
        if !answer(frame, &mut session, &mut writer, &ctx).await {
            break;
        }
        reader.max = max_frame(&session, &ctx);
    }
    let _ = writer.shutdown().await;
    ctx.stats.connections.dec();
}

/// Handles every complete frame still in the buffer (used on shutdown).
async fn drain_buffered(
    reader: &mut FrameReader,
    session: &mut Session,
    writer: &mut Writer,
    ctx: &BrokerContext,
) {
    loop {
        match reader.buffered_frame() {
            Ok(Some(frame)) => {
                if !answer(frame, session, writer, ctx).await {
                    return;
                }
            }
            Ok(None) => return,
            Err(e) => {
                warn!("closing connection: {e}");
                return;
            }
        }
    }
}

/// Sends stored batches from their segment file to the socket with `sendfile`: the
/// bytes go from the page cache to the socket buffer without passing through the
/// broker's memory. Waits for the socket to be writable when its buffer is full.
async fn send_file(stream: &TcpStream, slice: &FileSlice) -> std::io::Result<()> {
    let mut position = slice.position;
    let mut left = slice.len;
    while left > 0 {
        stream.writable().await?;
        let sent = stream.try_io(Interest::WRITABLE, || {
            rustix::fs::sendfile(stream, &*slice.file, Some(&mut position), left)
                .map_err(std::io::Error::from)
        });
        match sent {
            // The file ends before the slice does: it was truncated after the read.
            // The frame cannot be completed, so the connection must close.
            Ok(0) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("{} is shorter than the batches read", slice.path.display()),
                ))
            }
            Ok(n) => left -= n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Sends stored batches through TLS: read from the file in chunks, encrypted by the
/// writer (the kernel's `sendfile` cannot encrypt).
async fn copy_file(writer: &mut Writer, slice: &FileSlice) -> std::io::Result<()> {
    const CHUNK: usize = 256 * 1024;
    let mut buf = vec![0; CHUNK.min(slice.len)];
    let mut position = slice.position;
    let mut left = slice.len;
    while left > 0 {
        let want = left.min(buf.len());
        let n = slice.file.read_at(&mut buf[..want], position)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("{} is shorter than the batches read", slice.path.display()),
            ));
        }
        writer.write_all(&buf[..n]).await?;
        position += n as u64;
        left -= n;
    }
    Ok(())
}

/// Handles one request and writes its response (if it has one). Returns `false`
/// when the connection must close.
async fn answer(
    frame: Bytes,
    session: &mut Session,
    writer: &mut Writer,
    ctx: &BrokerContext,
) -> bool {
    ctx.stats.bytes_in.inc_by(4 + frame.len() as u64);
    let response = match protocol::handle_request(ctx, frame, session).await {
        Ok(Some(response)) => response,
        Ok(None) => return true, // Produce with acks=0: no response at all
        Err(e) => {
            warn!("closing connection: {e}");
            return false;
        }
    };
    let Ok(size) = i32::try_from(response.len()) else {
        warn!(
            "closing connection: response of {} bytes does not fit a frame",
            response.len()
        );
        return false;
    };
    let written = async {
        writer.write_all(&size.to_be_bytes()).await?;
        for piece in response.pieces() {
            match piece {
                Piece::Bytes(bytes) => writer.write_all(bytes).await?,
                Piece::File(slice) => {
                    if matches!(writer.get_ref(), Sink::Tls(_)) {
                        copy_file(writer, slice).await?;
                    } else {
                        writer.flush().await?;
                        if let Sink::Plain(socket) = writer.get_ref() {
                            send_file(socket.as_ref(), slice).await?;
                        }
                    }
                }
            }
        }
        writer.flush().await
    };
    // A client that stops reading its socket fills it, and the write waits: it holds only
    // this connection (and one response), and not forever.
    let idle = ctx.config.connections_max_idle;
    match tokio::time::timeout(idle, written).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            debug!("cannot write response, closing: {e}");
            return false;
        }
        Err(_) => {
            warn!(
                "closing connection: the client has not read its response for {} s \
                 (connections.max.idle.ms)",
                idle.as_secs()
            );
            return false;
        }
    }
    ctx.stats.bytes_out.inc_by(4 + response.len() as u64);
    !session.close_after_response
}
