//! TLS for the SSL and SASL_SSL listeners, with rustls: the broker's certificate and
//! key from PEM files, and, with `ssl.client.auth`, client certificates checked against
//! a trust store (mTLS).
//!
//! What must stay true:
//! - Every file problem is found at start-up, with the file's name and the reason, never
//!   at the first client.
//! - With `ssl.client.auth=required`, a client without a certificate signed by the
//!   trust store fails the handshake; with `requested`, one without a certificate gets
//!   in (as `User:ANONYMOUS`, Kafka's name), one with a bad certificate does not.
//! - The principal of a client certificate is its subject, as Kafka's default
//!   principal builder names it: `User:CN=client,O=example`.

use std::path::Path;
use std::sync::Arc;

use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

use crate::config::{ClientAuth, TlsConfig};

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} from {path}: {reason}")]
    File {
        what: &'static str,
        path: String,
        reason: String,
    },
    #[error("ssl.client.auth={0} needs a trust store (--ssl-truststore) to check client certificates against")]
    NoTruststore(ClientAuth),
    #[error("the TLS settings are not usable: {0}")]
    Rustls(String),
}

fn file_error(what: &'static str, path: &Path, reason: impl ToString) -> TlsError {
    TlsError::File {
        what,
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// Every certificate in a PEM file (at least one).
fn certificates(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(what, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(what, path, e))?;
    if certs.is_empty() {
        return Err(file_error(what, path, "no CERTIFICATE block in it"));
    }
    Ok(certs)
}

/// The acceptor every TLS listener shares.
pub fn acceptor(config: &TlsConfig) -> Result<TlsAcceptor, TlsError> {
    let chain = certificates("the certificate chain", &config.certificate)?;
    let key = PrivateKeyDer::from_pem_file(&config.key)
        .map_err(|e| file_error("the private key", &config.key, e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    let builder = match config.client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        auth => {
            let path = config
                .truststore
                .as_deref()
                .ok_or(TlsError::NoTruststore(auth))?;
            let mut roots = RootCertStore::empty();
            for cert in certificates("the trust store", path)? {
                roots
                    .add(cert)
                    .map_err(|e| file_error("the trust store", path, e))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if auth == ClientAuth::Requested {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier
                .build()
                .map_err(|e| TlsError::Rustls(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let server = builder.with_single_cert(chain, key).map_err(|e| {
        TlsError::Rustls(format!("the certificate and key do not go together: {e}"))
    })?;
    Ok(TlsAcceptor::from(Arc::new(server)))
}

/// The principal of a verified client certificate: `User:` and its subject, in
/// Kafka's spelling (`CN=client,O=example`, without spaces after the commas).
pub fn principal(cert: &CertificateDer<'_>) -> String {
    match x509_parser::parse_x509_certificate(cert.as_ref()) {
        Ok((_, parsed)) => format!("User:{}", parsed.subject().to_string().replace(", ", ",")),
        Err(_) => "User:ANONYMOUS".to_string(),
    }
}
