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
//!   client announcing 2 GiB costs us nothing.
//! - Requests are handled one at a time, in the order they arrive, so responses
//!   leave in request order even when the client pipelines (this is what Kafka does:
//!   it mutes a connection while one of its requests is being processed).
//! - Garbage, a truncated or oversized frame, an unknown API key, a version Kafka
//!   does not know, or Produce v0–v2 ends *this* connection with one log line; no
//!   other client notices. (An API Kafka serves and minikafka does not is answered
//!   with UNSUPPORTED_VERSION instead: `protocol/unsupported.rs`.)
//! - On shutdown, the request being handled and any complete requests already
//!   received are answered, then the connection closes.
//! - A response goes out in its pieces (`protocol/response.rs`): encoded bytes through
//!   the write buffer, stored batches with `sendfile` from their segment file, the
//!   buffer flushed before each so the bytes keep their order.

use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter, Interest};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;
use tracing::{debug, warn};

use crate::log::FileSlice;
use crate::protocol::response::Piece;
use crate::protocol::{self, BrokerContext};
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

/// Reads whole frames from the socket, enforcing the maximum size.
struct FrameReader {
    socket: OwnedReadHalf,
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

/// Serves one connection until the client leaves, a frame is bad, or shutdown.
pub async fn serve(stream: TcpStream, ctx: Arc<BrokerContext>, mut shutdown: shutdown::Receiver) {
    // Responses are small and frequent; do not let Nagle hold them back.
    let _ = stream.set_nodelay(true);
    let peer = stream.peer_addr().ok();
    let (read_half, write_half) = stream.into_split();
    let mut reader = FrameReader {
        socket: read_half,
        buffer: BytesMut::with_capacity(8 * 1024),
        max: ctx.config.max_request_bytes,
    };
    let mut writer = BufWriter::new(write_half);
    let idle = ctx.config.connections_max_idle;
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
                drain_buffered(&mut reader, peer, &mut writer, &ctx).await;
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
        if !answer(frame, peer, &mut writer, &ctx).await {
            break;
        }
    }
    let _ = writer.shutdown().await;
    ctx.stats.connections.dec();
}

/// Handles every complete frame still in the buffer (used on shutdown).
async fn drain_buffered(
    reader: &mut FrameReader,
    peer: Option<std::net::SocketAddr>,
    writer: &mut BufWriter<tokio::net::tcp::OwnedWriteHalf>,
    ctx: &BrokerContext,
) {
    loop {
        match reader.buffered_frame() {
            Ok(Some(frame)) => {
                if !answer(frame, peer, writer, ctx).await {
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

/// Handles one request and writes its response (if it has one). Returns `false`
/// when the connection must close.
async fn answer(
    frame: Bytes,
    peer: Option<std::net::SocketAddr>,
    writer: &mut BufWriter<tokio::net::tcp::OwnedWriteHalf>,
    ctx: &BrokerContext,
) -> bool {
    ctx.stats.bytes_in.inc_by(4 + frame.len() as u64);
    let response = match protocol::handle_request(ctx, frame, peer).await {
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
                    writer.flush().await?;
                    send_file(writer.get_ref().as_ref(), slice).await?;
                }
            }
        }
        writer.flush().await
    }
    .await;
    if let Err(e) = written {
        debug!("cannot write response, closing: {e}");
        return false;
    }
    ctx.stats.bytes_out.inc_by(4 + response.len() as u64);
    true
}
