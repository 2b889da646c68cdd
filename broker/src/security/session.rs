//! Who is on the other end of one connection: the listener it came in on, its address,
//! where its SASL authentication is, and the principal it ends up as.
//!
//! # States of a SASL listener's connection (Kafka's `SaslServerAuthenticator`)
//!
//! ```text
//! Handshake ──SaslHandshake(mechanism)──▶ Token(mechanism) ──SaslAuthenticate──▶ Authenticated
//!                                               │  (SCRAM: first message)
//!                                               ▼
//!                                          Scram(exchange) ──SaslAuthenticate──▶ Authenticated
//! ```
//!
//! What must stay true:
//! - Until a SASL listener's connection is `Authenticated`, only ApiVersions,
//!   SaslHandshake and SaslAuthenticate get past [`Session::may_send`]; any other
//!   request closes the connection, as Kafka does.
//! - A failed authentication sets `close_after_response`: the client reads why, then
//!   the connection closes.
//! - PLAINTEXT and SSL connections start authenticated (as `User:ANONYMOUS`, or as the
//!   subject of their client certificate).

use std::net::SocketAddr;
use std::sync::Arc;

use kafka_protocol::messages::ApiKey;

use super::scram::ScramServer;
use super::Listener;
use crate::config::SaslMechanism;

/// Kafka's principal for a client that did not authenticate.
pub const ANONYMOUS: &str = "User:ANONYMOUS";

/// Where a connection's SASL authentication is.
#[derive(Debug)]
pub enum SaslState {
    /// The listener does not use SASL.
    NotUsed,
    /// Waiting for SaslHandshake.
    Handshake,
    /// The mechanism is chosen; waiting for the first SaslAuthenticate.
    Token(SaslMechanism),
    /// A SCRAM exchange after its first round.
    Scram(Box<ScramServer>),
    /// Done: the client is `principal`.
    Authenticated,
}

/// One connection's identity.
#[derive(Debug)]
pub struct Session {
    /// The client's address, if the socket knew it.
    pub peer: Option<SocketAddr>,
    /// The listener the connection came in on.
    pub listener: Arc<Listener>,
    /// `User:alice`, `User:CN=client`, or `User:ANONYMOUS`.
    pub principal: String,
    pub sasl: SaslState,
    /// Close the connection once the response being written is out.
    pub close_after_response: bool,
    /// SaslHandshake v0 was used: until authenticated, frames are raw SASL tokens.
    pub raw_tokens: bool,
}

impl Session {
    /// A new connection on `listener` from `peer`; `principal` is its client
    /// certificate's, if TLS checked one.
    pub fn new(
        listener: Arc<Listener>,
        peer: Option<SocketAddr>,
        principal: Option<String>,
    ) -> Session {
        let sasl = if listener.config.protocol.uses_sasl() {
            SaslState::Handshake
        } else {
            SaslState::NotUsed
        };
        Session {
            peer,
            listener,
            principal: principal.unwrap_or_else(|| ANONYMOUS.to_string()),
            sasl,
            close_after_response: false,
            raw_tokens: false,
        }
    }

    /// Whether the connection may send `api` now.
    pub fn may_send(&self, api: ApiKey) -> bool {
        match self.sasl {
            SaslState::NotUsed | SaslState::Authenticated => true,
            _ => matches!(
                api,
                ApiKey::ApiVersions | ApiKey::SaslHandshake | ApiKey::SaslAuthenticate
            ),
        }
    }

    /// Whether the next frame is a raw SASL token rather than a request (after a
    /// SaslHandshake v0, until the exchange ends).
    pub fn expects_raw_token(&self) -> bool {
        self.raw_tokens && matches!(self.sasl, SaslState::Token(_) | SaslState::Scram(_))
    }

    /// Whether the client has authenticated (always, on a listener without SASL).
    pub fn authenticated(&self) -> bool {
        matches!(self.sasl, SaslState::NotUsed | SaslState::Authenticated)
    }
}
