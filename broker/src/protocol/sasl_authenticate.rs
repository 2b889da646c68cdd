//! SaslAuthenticate (key 36): the SASL messages themselves, one per request. PLAIN
//! takes one round; SCRAM takes two (client-first → server-first, client-final →
//! server-final). The broker's side of each mechanism is in `security/`.
//!
//! | field               | request          | response                                   |
//! |---------------------|------------------|--------------------------------------------|
//! | auth_bytes          | bytes: the client's SASL message | bytes: the server's       |
//! | error_code          | —                | i16: 0, SASL_AUTHENTICATION_FAILED (58), ILLEGAL_SASL_STATE (34) |
//! | error_message       | —                | nullable string: why                        |
//! | session_lifetime_ms | —                | i64 (v1+): 0, no re-authentication needed  |
//!
//! What must stay true:
//! - A failure answers SASL_AUTHENTICATION_FAILED with Kafka's message, after
//!   `connection.failed.authentication.delay.ms`, logs one warning line with the
//!   address and the user (never the password), counts toward the address's
//!   failed-login brake (`security/failed_logins.rs`), and closes the connection.
//! - An address past its brake is refused before any password is checked.
//! - Success logs the principal and the mechanism once, at info.
//! - After a SaslHandshake v0, the same messages come as raw frames, without a request
//!   header ([`raw_token`]), and are answered as raw frames; a failure there closes the
//!   connection without an answer, as Kafka does.

use std::time::Instant;

use bytes::Bytes;
use kafka_protocol::messages::{SaslAuthenticateRequest, SaslAuthenticateResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use tracing::{info, warn};

use super::BrokerContext;
use crate::config::SaslMechanism;
use crate::security::plain;
use crate::security::scram::{ScramHash, ScramServer};
use crate::security::session::{SaslState, Session};

/// The outcome of one message: the reply to send, or why the login failed.
enum Step {
    Continue(Vec<u8>),
    Done { reply: Vec<u8>, user: String },
    Failed { client: String, log: String },
}

pub async fn handle(
    ctx: &BrokerContext,
    session: &mut Session,
    req: SaslAuthenticateRequest,
    _version: i16,
) -> (SaslAuthenticateResponse, String) {
    let response = SaslAuthenticateResponse::default().with_session_lifetime_ms(0);
    match exchange(ctx, session, &req.auth_bytes).await {
        Exchanged::Reply { bytes, line } => (response.with_auth_bytes(Bytes::from(bytes)), line),
        Exchanged::Failed { code, client, line } => {
            let response = response
                .with_error_code(code)
                .with_error_message(Some(StrBytes::from_string(client)));
            (response, line)
        }
    }
}

/// A SASL token after a SaslHandshake **v0**: the raw bytes of the frame, outside Kafka's
/// request framing, answered with raw bytes (Kafka's pre-1.0 framing, still served so that
/// clients that ask for it work). A failure has no way to say why, so it closes the
/// connection (after the same delay, log line and count as SaslAuthenticate's).
pub async fn raw_token(ctx: &BrokerContext, session: &mut Session, token: &[u8]) -> Option<Bytes> {
    match exchange(ctx, session, token).await {
        Exchanged::Reply { bytes, line } => {
            super::log_request(ctx, format!("raw SASL token (SaslHandshake v0): {line}"));
            Some(Bytes::from(bytes))
        }
        Exchanged::Failed { line, .. } => {
            super::log_request(ctx, format!("raw SASL token (SaslHandshake v0): {line}"));
            None
        }
    }
}

/// What one SASL message led to.
enum Exchanged {
    Reply {
        bytes: Vec<u8>,
        line: String,
    },
    Failed {
        code: i16,
        client: String,
        line: String,
    },
}

/// One SASL message of the connection's exchange: the reply, or the failure (logged,
/// counted, delayed, and the connection marked to close).
async fn exchange(ctx: &BrokerContext, session: &mut Session, message: &[u8]) -> Exchanged {
    let ip = session.peer.map(|p| p.ip());
    let step = match std::mem::replace(&mut session.sasl, SaslState::Handshake) {
        SaslState::Token(mechanism) => {
            let blocked = ip.and_then(|ip| ctx.security.failed_logins.blocked(ip, Instant::now()));
            match blocked {
                Some(wait) => Step::Failed {
                    client: format!(
                        "Too many failed authentications from this address; try again in {} s",
                        wait.as_secs().max(1)
                    ),
                    log: format!(
                        "refused: too many failed authentications, {} s to wait",
                        wait.as_secs().max(1)
                    ),
                },
                None => first_message(ctx, session, mechanism, message),
            }
        }
        SaslState::Scram(mut scram) => {
            let mechanism = scram_mechanism(&scram);
            match scram.step(message, |_| None) {
                Ok((reply, Some(user))) => Step::Done { reply, user },
                Ok((_, None)) => Step::Failed {
                    client: "Unexpected SCRAM state".into(),
                    log: "SCRAM exchange out of order".into(),
                },
                Err(e) => Step::Failed {
                    client: format!(
                        "Authentication failed during authentication due to invalid credentials with SASL mechanism {mechanism}"
                    ),
                    log: e.to_string(),
                },
            }
        }
        other => {
            session.sasl = other;
            session.close_after_response = true;
            return Exchanged::Failed {
                code: ResponseError::IllegalSaslState.code(),
                client: "SaslAuthenticate is not expected now (send SaslHandshake first)".into(),
                line: "sasl_authenticate -> ILLEGAL_SASL_STATE, closing".into(),
            };
        }
    };
    match step {
        Step::Continue(reply) => {
            let line = format!(
                "sasl_authenticate -> NONE, {} bytes, one more round",
                reply.len()
            );
            Exchanged::Reply { bytes: reply, line }
        }
        Step::Done { reply, user } => {
            session.sasl = SaslState::Authenticated;
            session.principal = format!("User:{user}");
            info!(
                "authenticated {} on listener {}",
                session.principal, session.listener.config
            );
            let line = format!("sasl_authenticate -> NONE, {}", session.principal);
            Exchanged::Reply { bytes: reply, line }
        }
        Step::Failed { client, log } => {
            session.close_after_response = true;
            warn!(
                peer = ?session.peer,
                "authentication failed on listener {}: {log}; closing the connection",
                session.listener.config
            );
            if let Some(ip) = ip {
                ctx.security.failed_logins.record(ip, Instant::now());
            }
            tokio::time::sleep(ctx.config.sasl.failed_authentication_delay).await;
            Exchanged::Failed {
                code: ResponseError::SaslAuthenticationFailed.code(),
                client,
                line: format!("sasl_authenticate -> SASL_AUTHENTICATION_FAILED ({log}), closing"),
            }
        }
    }
}

/// The first SaslAuthenticate after the handshake: all of PLAIN, or SCRAM's first round.
fn first_message(
    ctx: &BrokerContext,
    session: &mut Session,
    mechanism: SaslMechanism,
    message: &[u8],
) -> Step {
    let users = ctx.security.users.current();
    match ScramHash::of(mechanism) {
        None => match plain::authenticate(message, &users) {
            Ok(user) => Step::Done {
                reply: Vec::new(),
                user,
            },
            Err(e) => Step::Failed {
                client: "Authentication failed: Invalid username or password".into(),
                log: e.to_string(),
            },
        },
        Some(hash) => {
            let mut scram = Box::new(ScramServer::new(hash));
            match scram.step(message, |user| users.credential(user, hash)) {
                Ok((reply, _)) => {
                    session.sasl = SaslState::Scram(scram);
                    Step::Continue(reply)
                }
                Err(e) => Step::Failed {
                    client: format!(
                        "Authentication failed during authentication due to invalid credentials with SASL mechanism {mechanism}"
                    ),
                    log: e.to_string(),
                },
            }
        }
    }
}

fn scram_mechanism(scram: &ScramServer) -> SaslMechanism {
    scram.hash().mechanism()
}
