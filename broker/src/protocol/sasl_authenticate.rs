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
                None => first_message(ctx, session, mechanism, &req.auth_bytes),
            }
        }
        SaslState::Scram(mut scram) => {
            let mechanism = scram_mechanism(&scram);
            match scram.step(&req.auth_bytes, |_| None) {
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
            let response = SaslAuthenticateResponse::default()
                .with_error_code(ResponseError::IllegalSaslState.code())
                .with_error_message(Some(StrBytes::from_static_str(
                    "SaslAuthenticate is not expected now (send SaslHandshake first)",
                )));
            return (
                response,
                "sasl_authenticate -> ILLEGAL_SASL_STATE, closing".to_string(),
            );
        }
    };
    let response = SaslAuthenticateResponse::default().with_session_lifetime_ms(0);
    match step {
        Step::Continue(reply) => {
            let line = format!(
                "sasl_authenticate -> NONE, {} bytes, one more round",
                reply.len()
            );
            (response.with_auth_bytes(Bytes::from(reply)), line)
        }
        Step::Done { reply, user } => {
            session.sasl = SaslState::Authenticated;
            session.principal = format!("User:{user}");
            info!(
                "authenticated {} on listener {}",
                session.principal, session.listener.config
            );
            let line = format!("sasl_authenticate -> NONE, {}", session.principal);
            (response.with_auth_bytes(Bytes::from(reply)), line)
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
            let response = response
                .with_error_code(ResponseError::SaslAuthenticationFailed.code())
                .with_error_message(Some(StrBytes::from_string(client)));
            (
                response,
                format!("sasl_authenticate -> SASL_AUTHENTICATION_FAILED ({log}), closing"),
            )
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
