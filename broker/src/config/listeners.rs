//! Listeners and their security: Kafka's `listeners`, `advertised.listeners` and
//! `listener.security.protocol.map`, and the TLS (`ssl.*`) and SASL (`sasl.*`) settings
//! the secured listeners use. Plain data and parsing; the work is in `crate::security`.
//!
//! # Spelling, as in Kafka's `server.properties`
//!
//! ```text
//! listeners=PLAINTEXT://127.0.0.1:9092,SASL_SSL://127.0.0.1:9093,INTERNAL://127.0.0.1:9094
//! listener.security.protocol.map=INTERNAL:SASL_PLAINTEXT
//! advertised.listeners=SASL_SSL://kafka.example:9093
//! ```
//!
//! A listener's name is its security protocol unless the map says otherwise, exactly as
//! Kafka's default map (`PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,
//! SASL_SSL:SASL_SSL`) does.
//!
//! What must stay true:
//! - This file imports nothing from the crate (see `config.rs`).
//! - Two listeners never share a name, and a name that is not a protocol has an entry in
//!   the map: parsing refuses both, with the reason.
//! - Every protocol has exactly one spelling (Kafka's), used by `FromStr` and `Display`.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// How a listener's connections are secured (Kafka's `SecurityProtocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecurityProtocol {
    /// No encryption, no authentication.
    Plaintext,
    /// TLS; with `ssl.client.auth`, the client proves who it is with a certificate.
    Ssl,
    /// SASL authentication over plain TCP (passwords cross the network in the open with
    /// PLAIN; SCRAM sends only proofs).
    SaslPlaintext,
    /// SASL authentication inside TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// Whether the connection is wrapped in TLS.
    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// Whether clients must authenticate with SASL before anything else.
    pub fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

impl FromStr for SecurityProtocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "PLAINTEXT" => Ok(SecurityProtocol::Plaintext),
            "SSL" => Ok(SecurityProtocol::Ssl),
            "SASL_PLAINTEXT" => Ok(SecurityProtocol::SaslPlaintext),
            "SASL_SSL" => Ok(SecurityProtocol::SaslSsl),
            other => Err(format!(
                "unknown security protocol {other:?} (PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)"
            )),
        }
    }
}

impl fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        })
    }
}

/// One listener: a name, an address, a security protocol, and what clients are told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    /// The listener's name (`PLAINTEXT`, `SASL_SSL`, or one of the map's names).
    pub name: String,
    /// Where it accepts connections; port 0 picks a free port (tests read the real one
    /// from `BrokerHandle::listeners`).
    pub addr: SocketAddr,
    pub protocol: SecurityProtocol,
    /// `advertised.listeners` (host part): the host Metadata and FindCoordinator hand to
    /// clients that came in on this listener. `None` = the listener's real IP
    /// (127.0.0.1 when it listens on an unspecified address such as 0.0.0.0).
    pub advertised_host: Option<String>,
    /// `advertised.listeners` (port part), for clients that reach this listener through
    /// a proxy, a tunnel or NAT. `None` = the port the listener really got.
    pub advertised_port: Option<u16>,
}

impl ListenerConfig {
    /// A listener named after its protocol, advertising its own address.
    pub fn new(protocol: SecurityProtocol, addr: SocketAddr) -> ListenerConfig {
        ListenerConfig {
            name: protocol.to_string(),
            addr,
            protocol,
            advertised_host: None,
            advertised_port: None,
        }
    }

    /// One PLAINTEXT listener on `addr`: what `--listen` gives.
    pub fn plaintext(addr: SocketAddr) -> ListenerConfig {
        ListenerConfig::new(SecurityProtocol::Plaintext, addr)
    }
}

impl fmt::Display for ListenerConfig {
    /// Kafka's spelling: `SASL_SSL://127.0.0.1:9093`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.name, self.addr)
    }
}

/// Splits `NAME://host:port`.
fn name_and_rest(entry: &str) -> Result<(&str, &str), String> {
    let (name, rest) = entry
        .split_once("://")
        .ok_or_else(|| format!("{entry:?} is not NAME://HOST:PORT"))?;
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!(
            "{entry:?}: a listener name is letters, digits and _"
        ));
    }
    Ok((name, rest))
}

/// Parses Kafka's `listeners` with its `listener.security.protocol.map` (`map` may be
/// empty: every name must then be a protocol).
pub fn parse_listeners(listeners: &str, map: &str) -> Result<Vec<ListenerConfig>, String> {
    let mut protocols: Vec<(String, SecurityProtocol)> = Vec::new();
    for pair in map.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, protocol) = pair
            .split_once(':')
            .ok_or_else(|| format!("{pair:?} in the protocol map is not NAME:PROTOCOL"))?;
        protocols.push((name.to_string(), protocol.parse()?));
    }
    let mut out: Vec<ListenerConfig> = Vec::new();
    for entry in listeners
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        let (name, addr) = name_and_rest(entry)?;
        let protocol = match protocols.iter().find(|(n, _)| n == name) {
            Some((_, p)) => *p,
            None => name.parse().map_err(|_| {
                format!(
                    "listener {name:?} is not a security protocol and has no entry in \
                     listener.security.protocol.map (add {name}:SASL_SSL, for example)"
                )
            })?,
        };
        let addr: SocketAddr = addr.parse().map_err(|e| {
            format!("{entry:?}: {addr:?} is not IP:PORT ({e}); use 127.0.0.1 or 0.0.0.0")
        })?;
        if out.iter().any(|l| l.name == name) {
            return Err(format!("listener {name:?} is given twice"));
        }
        out.push(ListenerConfig {
            name: name.to_string(),
            addr,
            protocol,
            advertised_host: None,
            advertised_port: None,
        });
    }
    if out.is_empty() {
        return Err("no listener given (for example PLAINTEXT://127.0.0.1:9092)".into());
    }
    Ok(out)
}

/// Applies Kafka's `advertised.listeners` (`NAME://host:port,...`) to `listeners`.
pub fn apply_advertised(listeners: &mut [ListenerConfig], advertised: &str) -> Result<(), String> {
    for entry in advertised
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        let (name, rest) = name_and_rest(entry)?;
        let (host, port) = rest
            .rsplit_once(':')
            .ok_or_else(|| format!("{entry:?} is not NAME://HOST:PORT"))?;
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("{entry:?}: the port must be 1 to 65535"))?;
        let listener = listeners
            .iter_mut()
            .find(|l| l.name == name)
            .ok_or_else(|| format!("advertised listener {name:?} is not in listeners"))?;
        listener.advertised_host = Some(host.trim_matches(['[', ']']).to_string());
        listener.advertised_port = Some(port);
    }
    Ok(())
}

/// `ssl.client.auth`: whether a TLS client must show a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// No client certificate is asked for (Kafka's default).
    #[default]
    None,
    /// One is asked for and checked if given; clients without one still connect.
    Requested,
    /// A client without a certificate signed by the trust store is refused.
    Required,
}

impl FromStr for ClientAuth {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(ClientAuth::None),
            "requested" => Ok(ClientAuth::Requested),
            "required" => Ok(ClientAuth::Required),
            other => Err(format!(
                "ssl.client.auth must be none, requested or required, not {other:?}"
            )),
        }
    }
}

impl fmt::Display for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClientAuth::None => "none",
            ClientAuth::Requested => "requested",
            ClientAuth::Required => "required",
        })
    }
}

/// The TLS settings of the SSL and SASL_SSL listeners, all PEM files (Kafka:
/// `ssl.keystore.type=PEM` with `ssl.keystore.location`, `ssl.truststore.location`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// The broker's certificate chain, leaf first.
    pub certificate: PathBuf,
    /// The private key of the leaf certificate (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// The CA certificates a client certificate must chain to (mTLS); needed when
    /// `client_auth` is not `None`.
    pub truststore: Option<PathBuf>,
    pub client_auth: ClientAuth,
}

/// A SASL mechanism the broker can offer (`sasl.enabled.mechanisms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SaslMechanism {
    /// RFC 4616: the password itself, checked against the stored SCRAM credential.
    Plain,
    /// RFC 5802/7677 with SHA-256: the password never crosses the wire.
    ScramSha256,
    /// RFC 5802 with SHA-512.
    ScramSha512,
}

impl SaslMechanism {
    /// Every mechanism, in the order SaslHandshake lists them.
    pub const ALL: [SaslMechanism; 3] = [
        SaslMechanism::ScramSha512,
        SaslMechanism::ScramSha256,
        SaslMechanism::Plain,
    ];
}

impl FromStr for SaslMechanism {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "PLAIN" => Ok(SaslMechanism::Plain),
            "SCRAM-SHA-256" => Ok(SaslMechanism::ScramSha256),
            "SCRAM-SHA-512" => Ok(SaslMechanism::ScramSha512),
            other => Err(format!(
                "unknown SASL mechanism {other:?} (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)"
            )),
        }
    }
}

impl fmt::Display for SaslMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        })
    }
}

/// The SASL settings of the SASL_PLAINTEXT and SASL_SSL listeners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslConfig {
    /// `sasl.enabled.mechanisms`. Default: SCRAM-SHA-512, SCRAM-SHA-256 and PLAIN.
    pub mechanisms: Vec<SaslMechanism>,
    /// The user file (`minikafka-broker users add|remove|list`), read again whenever it
    /// changes, so users added while the broker runs can log in at once (Kafka applies
    /// SCRAM credential changes without a restart too).
    pub users: Option<PathBuf>,
    /// `connection.failed.authentication.delay.ms`: how long a failed authentication
    /// waits before its answer and the close. Default 100 ms, as in Kafka.
    pub failed_authentication_delay: Duration,
    /// Failed authentications allowed from one client address within
    /// `failed_authentication_window`; past it, that address's next attempts are
    /// refused at once until the window slides. Not a Kafka setting. Default 5.
    pub max_failed_authentications: u32,
    /// The window of `max_failed_authentications`. Default 60 s.
    pub failed_authentication_window: Duration,
    /// `sasl.server.max.receive.size`: the largest frame a SASL listener reads from a
    /// client that has not authenticated yet (after it, `socket.request.max.bytes`), so
    /// that a stranger cannot make the broker buffer 100 MiB. Default 512 KiB, as in Kafka.
    pub max_receive_size: usize,
}

impl Default for SaslConfig {
    fn default() -> Self {
        SaslConfig {
            mechanisms: SaslMechanism::ALL.to_vec(),
            users: None,
            failed_authentication_delay: Duration::from_millis(100),
            max_failed_authentications: 5,
            failed_authentication_window: Duration::from_secs(60),
            max_receive_size: 524_288,
        }
    }
}

/// Parses `sasl.enabled.mechanisms` (`SCRAM-SHA-256,PLAIN`).
pub fn parse_mechanisms(s: &str) -> Result<Vec<SaslMechanism>, String> {
    let mut out = Vec::new();
    for m in s.split(',').map(str::trim).filter(|m| !m.is_empty()) {
        let m: SaslMechanism = m.parse()?;
        if !out.contains(&m) {
            out.push(m);
        }
    }
    if out.is_empty() {
        return Err("no SASL mechanism given".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listeners_take_their_protocol_from_the_name_or_the_map() {
        let l = parse_listeners(
            "PLAINTEXT://127.0.0.1:9092, SASL_SSL://127.0.0.1:9093,CLIENT://0.0.0.0:0",
            "CLIENT:SASL_PLAINTEXT",
        )
        .unwrap();
        assert_eq!(l.len(), 3);
        assert_eq!(l[0].protocol, SecurityProtocol::Plaintext);
        assert_eq!(l[1].protocol, SecurityProtocol::SaslSsl);
        assert_eq!(l[2].name, "CLIENT");
        assert_eq!(l[2].protocol, SecurityProtocol::SaslPlaintext);
        assert_eq!(l[1].to_string(), "SASL_SSL://127.0.0.1:9093");
    }

    #[test]
    fn bad_listeners_say_why() {
        let err = |l: &str, m: &str| parse_listeners(l, m).unwrap_err();
        assert!(err("CLIENT://127.0.0.1:1", "").contains("listener.security.protocol.map"));
        assert!(err("PLAINTEXT://localhost:1", "").contains("IP:PORT"));
        assert!(err("PLAINTEXT://127.0.0.1:1,PLAINTEXT://127.0.0.1:2", "").contains("twice"));
        assert!(err("127.0.0.1:1", "").contains("NAME://"));
        assert!(err("X://127.0.0.1:1", "X:TLS").contains("unknown security protocol"));
        assert!(err("", "").contains("no listener"));
    }

    #[test]
    fn advertised_listeners_set_host_and_port_by_name() {
        let mut l = parse_listeners("PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0", "").unwrap();
        apply_advertised(&mut l, "SSL://kafka.example:19093").unwrap();
        assert_eq!(l[0].advertised_host, None);
        assert_eq!(l[1].advertised_host.as_deref(), Some("kafka.example"));
        assert_eq!(l[1].advertised_port, Some(19093));
        assert!(apply_advertised(&mut l, "SASL_SSL://h:1").is_err());
        assert!(apply_advertised(&mut l, "SSL://h:0").is_err());
    }

    #[test]
    fn mechanisms_and_client_auth_round_trip() {
        for m in SaslMechanism::ALL {
            assert_eq!(m.to_string().parse::<SaslMechanism>(), Ok(m));
        }
        assert_eq!(
            parse_mechanisms("PLAIN, SCRAM-SHA-256,PLAIN").unwrap(),
            vec![SaslMechanism::Plain, SaslMechanism::ScramSha256]
        );
        assert!(parse_mechanisms("GSSAPI").is_err());
        for a in [
            ClientAuth::None,
            ClientAuth::Requested,
            ClientAuth::Required,
        ] {
            assert_eq!(a.to_string().parse::<ClientAuth>(), Ok(a));
        }
    }
}
