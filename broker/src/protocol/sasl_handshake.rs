//! SaslHandshake (key 17): the client names the SASL mechanism it wants; the broker
//! says whether it offers it, and lists the ones it does.
//!
//! Flow: ApiVersions → **SaslHandshake** → SaslAuthenticate (one or two rounds) → every
//! other API (see `security/session.rs`).
//!
//! | field       | request            | response                              |
//! |-------------|--------------------|---------------------------------------|
//! | mechanism   | string (`PLAIN`)   | —                                     |
//! | error_code  | —                  | i16: 0, UNSUPPORTED_SASL_MECHANISM (33), ILLEGAL_SASL_STATE (34) |
//! | mechanisms  | —                  | [string]: `sasl.enabled.mechanisms`   |
//!
//! What must stay true:
//! - v1 is followed by SaslAuthenticate requests. After v0 the SASL tokens come as raw
//!   frames, outside Kafka's request framing (`Session::raw_tokens`, answered by
//!   `sasl_authenticate::raw_token`), as before Kafka 1.0. v0 must be advertised anyway:
//!   librdkafka 2.0 (kcat's 2.0.2) counts SaslHandshake v0 in the range as "the broker
//!   speaks SASL" and refuses SCRAM without it, though it then sends v1.
//! - On a listener without SASL, or after the mechanism was chosen, the answer is
//!   ILLEGAL_SASL_STATE; an unknown mechanism gets UNSUPPORTED_SASL_MECHANISM. Both
//!   close the connection after the answer, as Kafka's authenticator does.

use kafka_protocol::messages::{SaslHandshakeRequest, SaslHandshakeResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::BrokerContext;
use crate::config::SaslMechanism;
use crate::security::session::{SaslState, Session};

pub fn handle(
    ctx: &BrokerContext,
    session: &mut Session,
    req: SaslHandshakeRequest,
    version: i16,
) -> (SaslHandshakeResponse, String) {
    let offered = &ctx.config.sasl.mechanisms;
    let mechanisms = offered
        .iter()
        .map(|m| StrBytes::from_string(m.to_string()))
        .collect();
    let asked = req.mechanism.as_str();
    let (code, line) = match &session.sasl {
        SaslState::Handshake => match asked.parse::<SaslMechanism>() {
            Ok(m) if offered.contains(&m) => {
                session.sasl = SaslState::Token(m);
                session.raw_tokens = version == 0;
                let next = if version == 0 {
                    "raw SASL tokens next"
                } else {
                    "authenticate next"
                };
                (0, format!("sasl_handshake {asked} -> NONE, {next}"))
            }
            _ => (
                ResponseError::UnsupportedSaslMechanism.code(),
                format!(
                    "sasl_handshake {asked} -> UNSUPPORTED_SASL_MECHANISM (offered: {}), closing",
                    offered.iter().map(|m| m.to_string()).collect::<Vec<_>>().join(", ")
                ),
            ),
        },
        SaslState::NotUsed => (
            ResponseError::IllegalSaslState.code(),
            format!(
                "sasl_handshake {asked} -> ILLEGAL_SASL_STATE: listener {} does not use SASL, closing",
                session.listener.config
            ),
        ),
        _ => (
            ResponseError::IllegalSaslState.code(),
            format!("sasl_handshake {asked} -> ILLEGAL_SASL_STATE: not expected now, closing"),
        ),
    };
    if code != 0 {
        session.close_after_response = true;
    }
    let response = SaslHandshakeResponse::default()
        .with_error_code(code)
        .with_mechanisms(mechanisms);
    (response, line)
}
