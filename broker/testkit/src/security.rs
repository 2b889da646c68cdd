//! A secured test broker: a CA made for one test (rcgen), the broker's certificate and
//! key for 127.0.0.1, client certificates for mTLS, and a user file, all in a temp dir;
//! and a [`TestBroker`] with a listener of each security protocol on 127.0.0.1:0.
//!
//! What must stay true: nothing here is trusted outside the test: the CA exists only in
//! its temp dir, and every listener is on loopback.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use minikafka_broker::config::{ClientAuth, ListenerConfig, SecurityProtocol, TlsConfig};
use minikafka_broker::security::scram::ScramHash;
use minikafka_broker::security::users::Users;
use minikafka_broker::Config;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

use crate::TestBroker;

/// The user every secured test logs in as, with both SCRAM credentials.
pub const USER: &str = "alice";
/// Its password.
pub const PASSWORD: &str = "alice-secret";

/// A CA made for one test, and the files signed by it.
pub struct TestCa {
    cert: rcgen::Certificate,
    key: KeyPair,
    dir: tempfile::TempDir,
}

impl TestCa {
    pub fn new() -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "minikafka test CA");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("ca key");
        let cert = params.self_signed(&key).expect("ca cert");
        TestCa {
            cert,
            key,
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// The directory the files are written to.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The CA certificate, PEM (a client's `ssl.ca.location`, the broker's trust store).
    pub fn ca_pem(&self) -> PathBuf {
        let path = self.dir.path().join("ca.pem");
        std::fs::write(&path, self.cert.pem()).expect("write CA");
        path
    }

    /// A certificate signed by this CA for `names` (IP addresses or DNS names) with
    /// common name `cn`, and its key: `(cert.pem, key.pem)` in the temp dir.
    pub fn issue(&self, file: &str, cn: &str, names: &[&str], client: bool) -> (PathBuf, PathBuf) {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .expect("cert params");
        params.distinguished_name.push(DnType::CommonName, cn);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "minikafka tests");
        params.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        let key = KeyPair::generate().expect("key");
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("sign cert");
        let cert_path = self.dir.path().join(format!("{file}.pem"));
        let key_path = self.dir.path().join(format!("{file}-key.pem"));
        std::fs::write(&cert_path, cert.pem()).expect("write cert");
        std::fs::write(&key_path, key.serialize_pem()).expect("write key");
        (cert_path, key_path)
    }

    /// The broker's TLS settings: a certificate for 127.0.0.1 and localhost, and this
    /// CA as the trust store for client certificates.
    pub fn broker_tls(&self, client_auth: ClientAuth) -> TlsConfig {
        let (certificate, key) =
            self.issue("broker", "minikafka", &["127.0.0.1", "localhost"], false);
        TlsConfig {
            certificate,
            key,
            truststore: Some(self.ca_pem()),
            client_auth,
        }
    }

    /// A user file in the temp dir with [`USER`] / [`PASSWORD`].
    pub fn users_file(&self) -> PathBuf {
        let path = self.dir.path().join("users.txt");
        let mut users = Users::default();
        users
            .add(USER, PASSWORD, &[ScramHash::Sha256, ScramHash::Sha512])
            .expect("add user");
        users.save(&path).expect("save users");
        path
    }
}

impl Default for TestCa {
    fn default() -> Self {
        TestCa::new()
    }
}

/// One listener of each protocol on 127.0.0.1:0, named after its protocol.
pub fn every_protocol(config: &mut Config) {
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    config.listeners = [
        SecurityProtocol::Plaintext,
        SecurityProtocol::Ssl,
        SecurityProtocol::SaslPlaintext,
        SecurityProtocol::SaslSsl,
    ]
    .into_iter()
    .map(|p| ListenerConfig::new(p, any))
    .collect();
}

/// A started broker with [`every_protocol`]'s listeners, TLS from `ca` (`client_auth`
/// for the SSL listeners' clients) and the user file of `ca`.
pub async fn secured_broker(ca: &TestCa, client_auth: ClientAuth) -> TestBroker {
    let tls = ca.broker_tls(client_auth);
    let users = ca.users_file();
    TestBroker::builder()
        .config(move |c| {
            every_protocol(c);
            c.tls = Some(tls);
            c.sasl.users = Some(users);
        })
        .start()
        .await
        .expect("secured broker starts")
}

/// The address of `broker`'s listener for `protocol`.
pub fn addr(broker: &TestBroker, protocol: SecurityProtocol) -> SocketAddr {
    broker
        .listener_addr(&protocol.to_string())
        .expect("the secured broker has a listener of each protocol")
}
