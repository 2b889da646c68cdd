//! The native backend's way into a secured cluster: TLS with rustls, then SASL (PLAIN,
//! SCRAM-SHA-256/512) on each new connection, before it carries any other request.
//!
//! Where it sits: metadata (`Cluster`, which builds one [`Secure`] per client) →
//! connection (`Connection::connect` calls [`Secure::wrap`] for the socket and
//! [`Secure::login`] after ApiVersions) → broker.
//!
//! What must stay true:
//! - The TLS settings are read once, when the client is made, so a missing CA or key
//!   file fails `Producer::new` (and friends) with the file's name, not the first send.
//! - With `ssl.endpoint.identification.algorithm=https` (the default) the broker's
//!   certificate must name the host connected to; with `none`, only its chain is checked.
//! - A login that fails is an [`Error::Authentication`] with the broker's reason: not
//!   retriable, since the same password will fail again.

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::{SaslAuthenticateRequest, SaslHandshakeRequest};
use kafka_protocol::protocol::StrBytes;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::{self, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_rustls::TlsConnector;

use super::connection::Connection;
use super::scram::ScramClient;
use crate::config::{SaslMechanism, SecurityConfig};
use crate::error::{Error, Result};

/// A socket's two halves, plain or TLS.
pub(crate) type Halves = (
    Box<dyn AsyncRead + Send + Unpin>,
    Box<dyn AsyncWrite + Send + Unpin>,
);

/// What every connection of one client needs to get in.
pub(crate) struct Secure {
    tls: Option<TlsConnector>,
    sasl: Option<(SaslMechanism, String, String)>,
}

impl std::fmt::Debug for Secure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secure")
            .field("tls", &self.tls.is_some())
            .field("sasl", &self.sasl.as_ref().map(|(m, u, _)| (m, u)))
            .finish()
    }
}

fn config_error(key: &str, message: String) -> Error {
    Error::Config {
        key: key.to_string(),
        message,
    }
}

impl Secure {
    /// Reads the TLS files of `config` (if it uses TLS) and keeps the SASL credentials.
    pub(crate) fn new(config: &SecurityConfig) -> Result<Arc<Secure>> {
        let tls = if config.protocol.uses_tls() {
            Some(connector(config)?)
        } else {
            None
        };
        let sasl = if config.protocol.uses_sasl() {
            let user = config.sasl_username.clone().unwrap_or_default();
            let password = config.sasl_password.clone().unwrap_or_default();
            Some((config.sasl_mechanism, user, password))
        } else {
            None
        };
        Ok(Arc::new(Secure { tls, sasl }))
    }

    /// The socket to `addr`, inside TLS when the config says so.
    pub(crate) async fn wrap(&self, stream: TcpStream, addr: &str) -> Result<Halves> {
        let Some(connector) = &self.tls else {
            let (rd, wr) = stream.into_split();
            return Ok((Box::new(rd), Box::new(wr)));
        };
        let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_string()).map_err(|e| {
            config_error(
                "bootstrap.servers",
                format!("{host:?} is not a host name: {e}"),
            )
        })?;
        let tls = connector
            .connect(name, stream)
            .await
            .map_err(|e| Error::Tls {
                addr: addr.to_string(),
                message: e.to_string(),
            })?;
        let (rd, wr) = tokio::io::split(tls);
        Ok((Box::new(rd), Box::new(wr)))
    }

    /// SASL on a connection that has negotiated its versions (SaslHandshake, then one
    /// SaslAuthenticate for PLAIN or two for SCRAM). Nothing to do without SASL.
    pub(crate) async fn login(&self, conn: &Connection) -> Result<()> {
        let Some((mechanism, user, password)) = &self.sasl else {
            return Ok(());
        };
        let refused = |message: String| Error::Authentication {
            addr: conn.addr().to_string(),
            mechanism: mechanism.to_string(),
            message,
        };
        let handshake = conn
            .request(
                &SaslHandshakeRequest::default()
                    .with_mechanism(StrBytes::from_string(mechanism.to_string())),
            )
            .await?;
        if handshake.error_code != 0 {
            let offered: Vec<&str> = handshake.mechanisms.iter().map(|m| m.as_str()).collect();
            return Err(refused(format!(
                "the broker does not offer {mechanism} (it offers {})",
                offered.join(", ")
            )));
        }
        let round = |bytes: Vec<u8>| async move {
            let resp = conn
                .request(&SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(bytes)))
                .await?;
            if resp.error_code != 0 {
                let reason = resp
                    .error_message
                    .map_or_else(|| format!("error {}", resp.error_code), |m| m.to_string());
                return Err(refused(reason));
            }
            Ok(resp.auth_bytes)
        };
        match ScramClient::new(*mechanism, user, password) {
            None => {
                round(format!("\0{user}\0{password}").into_bytes()).await?;
            }
            Some(mut scram) => {
                let server_first = round(scram.first()).await?;
                let client_final = scram.respond(&server_first).map_err(refused)?;
                let server_final = round(client_final).await?;
                scram.finish(&server_final).map_err(refused)?;
            }
        }
        tracing::debug!(addr = conn.addr(), %mechanism, %user, "authenticated");
        Ok(())
    }
}

/// The rustls client of `config`: its CAs (or the system's), its client certificate.
fn connector(config: &SecurityConfig) -> Result<TlsConnector> {
    let mut roots = RootCertStore::empty();
    match &config.ssl_ca_location {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|i| i.collect::<std::result::Result<Vec<_>, _>>())
                .map_err(|e| config_error("ssl.ca.location", format!("{}: {e}", path.display())))?;
            if certs.is_empty() {
                return Err(config_error(
                    "ssl.ca.location",
                    format!("{}: no CERTIFICATE in it", path.display()),
                ));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| {
                    config_error("ssl.ca.location", format!("{}: {e}", path.display()))
                })?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| config_error("ssl.ca.location", e.to_string()))?;
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| config_error("security.protocol", e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Verifier {
            inner: verifier,
            check_hostname: config.ssl_check_hostname,
        }));
    let client = match (&config.ssl_certificate_location, &config.ssl_key_location) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|i| i.collect::<std::result::Result<Vec<_>, _>>())
                .map_err(|e| {
                    config_error(
                        "ssl.certificate.location",
                        format!("{}: {e}", cert.display()),
                    )
                })?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| config_error("ssl.key.location", format!("{}: {e}", key.display())))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| config_error("ssl.key.location", e.to_string()))?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(TlsConnector::from(Arc::new(client)))
}

/// rustls' own verifier, with the host-name check made optional
/// (`ssl.endpoint.identification.algorithm=none`): the chain is always checked.
#[derive(Debug)]
struct Verifier {
    inner: Arc<WebPkiServerVerifier>,
    check_hostname: bool,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) if !self.check_hostname => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
