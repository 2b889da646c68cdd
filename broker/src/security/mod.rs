//! Security: listeners, TLS and SASL. Who may connect, how the bytes are protected,
//! and who the client is.
//!
//! Flow: server (one accept loop per listener) → connection (TLS handshake: `tls.rs`)
//! → protocol (SaslHandshake, SaslAuthenticate: `protocol/sasl_*.rs`, with the state in
//! `session.rs`) → every other API, once authenticated.
//!
//! # Reading order
//!
//! 1. `crate::config::listeners`: Kafka's `listeners`, `listener.security.protocol.map`
//!    and the `ssl.*` / `sasl.*` settings, as plain data.
//! 2. [`tls`]: the rustls acceptor; client certificates and their principal.
//! 3. [`session`]: one connection's identity and SASL state.
//! 4. [`scram`]: SCRAM-SHA-256/512, the credentials and the exchange.
//! 5. [`plain`]: PLAIN, checked against those credentials.
//! 6. [`users`]: the user file (`minikafka-broker users add|remove|list`).
//! 7. [`failed_logins`]: the brake on password guessing.
//!
//! What must stay true:
//! - A listener's protocol decides everything: TLS for SSL and SASL_SSL, SASL for
//!   SASL_PLAINTEXT and SASL_SSL. A secured listener whose settings are missing or
//!   broken stops the start-up with the reason ([`Security::open`], [`tls::acceptor`]).
//! - Nothing here logs a password or keeps one.

pub mod failed_logins;
pub mod plain;
pub mod scram;
pub mod session;
pub mod tls;
pub mod users;

use crate::config::{ClientAuth, Config, ListenerConfig, SecurityProtocol, TlsConfig};
use crate::group::NodeInfo;

/// Why the security settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error("listener {listener} uses TLS but no certificate is configured (--ssl-certificate and --ssl-key)")]
    NoCertificate { listener: String },
    #[error("listener {listener} uses SASL but no user file is configured (--sasl-users; create it with `minikafka-broker users add`)")]
    NoUsers { listener: String },
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error(transparent)]
    Users(#[from] users::UsersError),
}

/// One listener as the connections see it: its settings, what Metadata and
/// FindCoordinator tell the clients that came in on it, and its TLS acceptor.
pub struct Listener {
    pub config: ListenerConfig,
    /// The address the socket really got (port 0 resolved).
    pub bound: std::net::SocketAddr,
    /// This broker as the listener's clients should reach it.
    pub node: NodeInfo,
    /// Set for SSL and SASL_SSL.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("config", &self.config)
            .field("bound", &self.bound)
            .field("node", &self.node)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Listener {
    /// A listener on `bound` that tells its clients to connect to `node`.
    pub fn new(
        config: ListenerConfig,
        bound: std::net::SocketAddr,
        node: NodeInfo,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Listener {
        Listener {
            config,
            bound,
            node,
            tls,
        }
    }
}

impl Listener {
    /// A PLAINTEXT listener on `bound` that advertises `bound` itself: for benches and
    /// tests that call the protocol layer without sockets.
    pub fn plaintext(bound: std::net::SocketAddr) -> Listener {
        let node = NodeInfo {
            node_id: 0,
            host: bound.ip().to_string(),
            port: i32::from(bound.port()),
        };
        Listener::new(ListenerConfig::plaintext(bound), bound, node, None)
    }
}

/// What SASL needs across connections: the users and the failed-login brake.
#[derive(Debug)]
pub struct Security {
    pub users: users::UserStore,
    pub failed_logins: failed_logins::FailedLogins,
}

impl Security {
    /// Checks that every secured listener has what it needs, and reads the user file.
    pub fn open(config: &Config) -> Result<Security, SecurityError> {
        for l in &config.listeners {
            if l.protocol.uses_tls() && config.tls.is_none() {
                return Err(SecurityError::NoCertificate {
                    listener: l.to_string(),
                });
            }
            if l.protocol.uses_sasl() && config.sasl.users.is_none() {
                return Err(SecurityError::NoUsers {
                    listener: l.to_string(),
                });
            }
        }
        Ok(Security {
            users: users::UserStore::open(config.sasl.users.as_deref())?,
            failed_logins: failed_logins::FailedLogins::new(
                config.sasl.max_failed_authentications,
                config.sasl.failed_authentication_window,
            ),
        })
    }

    /// The TLS acceptors, built once: one for the SSL listeners (with `ssl.client.auth`)
    /// and one for the SASL_SSL listeners, whose clients authenticate with SASL, so no
    /// client certificate is asked for (Kafka ignores `ssl.client.auth` there too,
    /// KIP-684). `None` where no listener needs one.
    pub fn acceptors(config: &Config) -> Result<Acceptors, SecurityError> {
        let wants = |p: SecurityProtocol| config.listeners.iter().any(|l| l.protocol == p);
        let Some(settings) = &config.tls else {
            return Ok(Acceptors::default());
        };
        let ssl = if wants(SecurityProtocol::Ssl) {
            Some(tls::acceptor(settings)?)
        } else {
            None
        };
        let sasl_ssl = if wants(SecurityProtocol::SaslSsl) {
            let no_client_auth = TlsConfig {
                client_auth: ClientAuth::None,
                ..settings.clone()
            };
            Some(tls::acceptor(&no_client_auth)?)
        } else {
            None
        };
        Ok(Acceptors { ssl, sasl_ssl })
    }
}

/// The TLS acceptors of [`Security::acceptors`].
#[derive(Clone, Default)]
pub struct Acceptors {
    pub ssl: Option<tokio_rustls::TlsAcceptor>,
    pub sasl_ssl: Option<tokio_rustls::TlsAcceptor>,
}

impl Acceptors {
    /// The acceptor of a listener with `protocol` (`None` for the plain ones).
    pub fn of(&self, protocol: SecurityProtocol) -> Option<tokio_rustls::TlsAcceptor> {
        match protocol {
            SecurityProtocol::Ssl => self.ssl.clone(),
            SecurityProtocol::SaslSsl => self.sasl_ssl.clone(),
            SecurityProtocol::Plaintext | SecurityProtocol::SaslPlaintext => None,
        }
    }
}

/// How a listener protects its connections, in words for the start-up line, and
/// whether it checks who the clients are (SASL, or required client certificates).
pub fn protection(listener: &ListenerConfig, config: &Config) -> (String, bool) {
    let mechanisms = || {
        config
            .sasl
            .mechanisms
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let client_auth = config
        .tls
        .as_ref()
        .map_or(ClientAuth::None, |t| t.client_auth);
    match listener.protocol {
        SecurityProtocol::Plaintext => {
            ("PLAINTEXT: no encryption, no authentication".into(), false)
        }
        SecurityProtocol::Ssl => match client_auth {
            ClientAuth::Required => ("SSL: TLS, client certificates required".into(), true),
            ClientAuth::Requested => (
                "SSL: TLS, client certificates checked if given, no authentication otherwise"
                    .into(),
                false,
            ),
            ClientAuth::None => ("SSL: TLS, no authentication".into(), false),
        },
        SecurityProtocol::SaslPlaintext => (
            format!(
                "SASL_PLAINTEXT: SASL authentication ({}), no encryption",
                mechanisms()
            ),
            true,
        ),
        SecurityProtocol::SaslSsl => (
            format!("SASL_SSL: TLS and SASL authentication ({})", mechanisms()),
            true,
        ),
    }
}
