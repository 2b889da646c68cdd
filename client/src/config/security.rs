//! How a client reaches a secured cluster: Kafka's `security.protocol`, the `sasl.*`
//! credentials and the `ssl.*` files, by their Kafka (and librdkafka) names. Both
//! backends read the same settings: the native one speaks TLS (rustls) and SASL itself
//! (`native/security.rs`), the rdkafka one hands them to librdkafka.
//!
//! What must stay true:
//! - Every key has the name Kafka's clients use; where the Java client and librdkafka
//!   differ (`sasl.mechanism` / `sasl.mechanisms`), both are accepted.
//! - `Debug` never prints the password.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::error::{Error, Result};

/// `security.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecurityProtocol {
    /// No TLS, no SASL (the default).
    #[default]
    Plaintext,
    /// TLS.
    Ssl,
    /// SASL over plain TCP.
    SaslPlaintext,
    /// SASL inside TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// Whether the connection is wrapped in TLS.
    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// Whether the client authenticates with SASL after connecting.
    pub fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

impl FromStr for SecurityProtocol {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Ok(SecurityProtocol::Plaintext),
            "SSL" => Ok(SecurityProtocol::Ssl),
            "SASL_PLAINTEXT" => Ok(SecurityProtocol::SaslPlaintext),
            "SASL_SSL" => Ok(SecurityProtocol::SaslSsl),
            _ => Err(Error::Config {
                key: "security.protocol".into(),
                message: format!("{s:?} is not PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"),
            }),
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

/// `sasl.mechanism`: how the client proves who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SaslMechanism {
    /// The password itself (use it inside TLS). Kafka's default.
    #[default]
    Plain,
    /// SCRAM with SHA-256: only a proof crosses the wire.
    ScramSha256,
    /// SCRAM with SHA-512.
    ScramSha512,
}

impl FromStr for SaslMechanism {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "PLAIN" => Ok(SaslMechanism::Plain),
            "SCRAM-SHA-256" => Ok(SaslMechanism::ScramSha256),
            "SCRAM-SHA-512" => Ok(SaslMechanism::ScramSha512),
            _ => Err(Error::Config {
                key: "sasl.mechanism".into(),
                message: format!(
                    "{s:?} is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (the native backend's \
                     mechanisms; GSSAPI and OAUTHBEARER need --backend rdkafka)"
                ),
            }),
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

/// The security settings of a client.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecurityConfig {
    /// `security.protocol`.
    pub protocol: SecurityProtocol,
    /// `sasl.mechanism` (librdkafka: `sasl.mechanisms`).
    pub sasl_mechanism: SaslMechanism,
    /// `sasl.username`.
    pub sasl_username: Option<String>,
    /// `sasl.password`.
    pub sasl_password: Option<String>,
    /// `ssl.ca.location`: PEM file of the CAs that sign the brokers' certificates.
    /// `None`: the system's trust store (`/etc/ssl/certs`), as librdkafka does.
    pub ssl_ca_location: Option<PathBuf>,
    /// `ssl.certificate.location`: this client's certificate (PEM), for brokers that ask
    /// for one (`ssl.client.auth`).
    pub ssl_certificate_location: Option<PathBuf>,
    /// `ssl.key.location`: its private key (PEM).
    pub ssl_key_location: Option<PathBuf>,
    /// `ssl.endpoint.identification.algorithm`: `https` (the default) checks that the
    /// broker's certificate names the host connected to; `none` checks only that a
    /// trusted CA signed it.
    pub ssl_check_hostname: bool,
}

impl fmt::Debug for SecurityConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecurityConfig")
            .field("protocol", &self.protocol)
            .field("sasl_mechanism", &self.sasl_mechanism)
            .field("sasl_username", &self.sasl_username)
            .field("sasl_password", &self.sasl_password.as_ref().map(|_| "***"))
            .field("ssl_ca_location", &self.ssl_ca_location)
            .field("ssl_certificate_location", &self.ssl_certificate_location)
            .field("ssl_key_location", &self.ssl_key_location)
            .field("ssl_check_hostname", &self.ssl_check_hostname)
            .finish()
    }
}

/// The keys [`SecurityConfig::set`] knows.
pub(crate) const KEYS: [&str; 9] = [
    "security.protocol",
    "sasl.mechanism",
    "sasl.mechanisms",
    "sasl.username",
    "sasl.password",
    "ssl.ca.location",
    "ssl.certificate.location",
    "ssl.key.location",
    "ssl.endpoint.identification.algorithm",
];

impl SecurityConfig {
    /// Kafka's defaults: PLAINTEXT, and hostnames checked when TLS is on.
    pub fn new() -> SecurityConfig {
        SecurityConfig {
            ssl_check_hostname: true,
            ..SecurityConfig::default()
        }
    }

    /// Sets one property; `Ok(false)` when `key` is not a security key.
    pub(crate) fn set(&mut self, key: &str, value: &str) -> Result<bool> {
        match key {
            "security.protocol" => self.protocol = value.parse()?,
            "sasl.mechanism" | "sasl.mechanisms" => self.sasl_mechanism = value.parse()?,
            "sasl.username" => self.sasl_username = Some(value.to_string()),
            "sasl.password" => self.sasl_password = Some(value.to_string()),
            "ssl.ca.location" => self.ssl_ca_location = Some(PathBuf::from(value)),
            "ssl.certificate.location" => {
                self.ssl_certificate_location = Some(PathBuf::from(value))
            }
            "ssl.key.location" => self.ssl_key_location = Some(PathBuf::from(value)),
            "ssl.endpoint.identification.algorithm" => {
                self.ssl_check_hostname = match value {
                    "https" => true,
                    "none" | "" => false,
                    _ => {
                        return Err(Error::Config {
                            key: key.into(),
                            message: format!("{value:?} is not https or none"),
                        })
                    }
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// What every backend needs: SASL has a user name and a password; a client
    /// certificate comes with its key.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.protocol.uses_sasl()
            && (self.sasl_username.is_none() || self.sasl_password.is_none())
        {
            return Err(Error::Config {
                key: "sasl.username".into(),
                message: format!(
                    "security.protocol={} needs sasl.username and sasl.password",
                    self.protocol
                ),
            });
        }
        if self.ssl_certificate_location.is_some() != self.ssl_key_location.is_some() {
            return Err(Error::Config {
                key: "ssl.certificate.location".into(),
                message: "ssl.certificate.location and ssl.key.location go together".into(),
            });
        }
        Ok(())
    }

    /// The librdkafka properties of these settings (only those that differ from its
    /// defaults).
    #[cfg(any(feature = "rdkafka", test))]
    pub(crate) fn rdkafka_properties(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![("security.protocol", self.protocol.to_string())];
        if self.protocol.uses_sasl() {
            out.push(("sasl.mechanisms", self.sasl_mechanism.to_string()));
        }
        let mut path = |key, p: &Option<PathBuf>| {
            if let Some(p) = p {
                out.push((key, p.display().to_string()));
            }
        };
        path("ssl.ca.location", &self.ssl_ca_location);
        path("ssl.certificate.location", &self.ssl_certificate_location);
        path("ssl.key.location", &self.ssl_key_location);
        if let Some(user) = &self.sasl_username {
            out.push(("sasl.username", user.clone()));
        }
        if let Some(password) = &self.sasl_password {
            out.push(("sasl.password", password.clone()));
        }
        if !self.ssl_check_hostname {
            out.push(("ssl.endpoint.identification.algorithm", "none".into()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_names_set_each_field_and_the_password_stays_out_of_debug() {
        let mut s = SecurityConfig::new();
        for (k, v) in [
            ("security.protocol", "sasl_ssl"),
            ("sasl.mechanisms", "SCRAM-SHA-512"),
            ("sasl.username", "alice"),
            ("sasl.password", "alice-secret"),
            ("ssl.ca.location", "/tmp/ca.pem"),
        ] {
            assert!(s.set(k, v).unwrap(), "{k}");
        }
        assert!(!s.set("linger.ms", "5").unwrap());
        assert_eq!(s.protocol, SecurityProtocol::SaslSsl);
        assert_eq!(s.sasl_mechanism, SaslMechanism::ScramSha512);
        s.validate().unwrap();
        assert!(!format!("{s:?}").contains("alice-secret"));
        assert!(s.set("sasl.mechanism", "GSSAPI").is_err());
        assert!(s.set("security.protocol", "TLS").is_err());
        s.sasl_password = None;
        assert!(s.validate().is_err());
        let props = s.rdkafka_properties();
        assert!(props.contains(&("security.protocol", "SASL_SSL".into())));
        assert!(props.contains(&("sasl.mechanisms", "SCRAM-SHA-512".into())));
    }
}
