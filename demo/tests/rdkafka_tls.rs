//! `--config` reaches clusters that need TLS: the classroom binaries with
//! `--backend rdkafka --config security.protocol=SSL`, against our broker behind a TLS
//! front made for the test (rustls, with a server certificate for 127.0.0.1 signed by a
//! CA that exists only in a temp dir).
//!
//! The broker advertises the front's port (`Config::advertised_port`, Kafka's
//! advertised.listeners), so every connection librdkafka makes, bootstrap and after
//! Metadata, goes through TLS. What must stay true: the `rdkafka` feature builds
//! librdkafka with OpenSSL (vendored, no apt package), records round-trip over TLS, and a
//! certificate the client cannot verify is refused with OpenSSL's reason in the output.

#![cfg(feature = "rdkafka")]

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{assert_all_read_back, run, stdout_of_success};
use minikafka_testkit::TestBroker;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// A CA made for one test: its certificate (PEM, for `ssl.ca.location`) and key.
struct TestCa {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl TestCa {
    fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("ca key");
        let cert = params.self_signed(&key).expect("ca cert");
        TestCa { cert, key }
    }

    /// Writes the CA certificate as PEM into `dir` and returns its path.
    fn write_pem(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, self.cert.pem()).expect("write CA");
        path
    }

    /// A server certificate for 127.0.0.1 (an IP SAN, checked by librdkafka's default
    /// `ssl.endpoint.identification.algorithm=https`) and its key.
    fn server_cert(&self) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("params");
        params
            .distinguished_name
            .push(DnType::CommonName, "minikafka");
        let key = KeyPair::generate().expect("server key");
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("sign server cert");
        (
            cert.der().clone(),
            PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        )
    }
}

/// A TLS front: accepts TLS on its own port and forwards the plain bytes to the broker.
/// Counts the handshakes that succeeded and those that failed.
struct TlsFront {
    addr: SocketAddr,
    done: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
}

impl TlsFront {
    /// Serves on `listener`, presenting a certificate signed by `ca`, forwarding to
    /// `broker`. Runs until the test's runtime ends.
    fn start(listener: TcpListener, ca: &TestCa, broker: SocketAddr) -> TlsFront {
        let (cert, key) = ca.server_cert();
        let config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("TLS versions")
                .with_no_client_auth()
                .with_single_cert(vec![cert], key)
                .expect("server config");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let addr = listener.local_addr().expect("front addr");
        let done = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        let (d, r) = (done.clone(), refused.clone());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, done, refused) = (acceptor.clone(), d.clone(), r.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        refused.fetch_add(1, Ordering::SeqCst);
                        return;
                    };
                    done.fetch_add(1, Ordering::SeqCst);
                    let Ok(mut upstream) = TcpStream::connect(broker).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
                });
            }
        });
        TlsFront {
            addr,
            done,
            refused,
        }
    }

    /// Runs demo binary `bin` on the rdkafka backend through this front, trusting the CA
    /// in `ca_pem`, with `more` arguments after the TLS ones.
    async fn run(&self, bin: &str, ca_pem: &Path, more: &[&str]) -> std::process::Output {
        let addr = self.addr.to_string();
        let ca = format!("ssl.ca.location={}", ca_pem.display());
        let mut args = vec![
            "--backend",
            "rdkafka",
            "--bootstrap-server",
            &addr,
            "--config",
            "security.protocol=SSL",
            "--config",
            &ca,
        ];
        args.extend(more);
        run(bin, &args).await
    }
}

/// Our broker behind a TLS front, advertising the front's port. Returns the broker (stop
/// it at the end) and the front.
async fn broker_behind_tls(ca: &TestCa) -> (TestBroker, TlsFront) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind front");
    let port = listener.local_addr().expect("front addr").port();
    let broker = TestBroker::builder()
        .partitions(3)
        .config(move |c| c.advertised_port = Some(port))
        .start()
        .await
        .expect("broker starts");
    let front = TlsFront::start(listener, ca, broker.addr());
    (broker, front)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_and_consumer_run_over_tls_with_config_pass_through() {
    let ca = TestCa::new("minikafka test CA");
    let (broker, front) = broker_behind_tls(&ca).await;
    let ca_pem = ca.write_pem(broker.data_dir(), "ca.pem");

    let producer = ["--topic", "tls", "--count", "6", "--interval-ms", "0"];
    let out = front
        .run(env!("CARGO_BIN_EXE_producer"), &ca_pem, &producer)
        .await;
    let produced = stdout_of_success(&out);
    let produced: Vec<&str> = produced.lines().collect();
    assert_eq!(produced.len(), 6, "{produced:?}");

    let consumer = [
        "--topic",
        "tls",
        "--group",
        "tls-group",
        "--max-messages",
        "6",
    ];
    let out = front
        .run(env!("CARGO_BIN_EXE_consumer"), &ca_pem, &consumer)
        .await;
    let consumed = stdout_of_success(&out);
    assert!(consumed.contains("summary: 6 messages"), "{consumed}");
    assert_all_read_back(&produced, &consumed);

    // Both binaries spoke TLS to the front (bootstrap, then the advertised address); none
    // of their handshakes failed.
    assert!(front.done.load(Ordering::SeqCst) >= 2, "TLS handshakes");
    assert_eq!(front.refused.load(Ordering::SeqCst), 0, "failed handshakes");
    // The records are in the broker's own log, under the front.
    assert!(broker.data_dir().join("tls-0").is_dir());
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_an_unknown_ca_is_refused_with_openssls_reason() {
    let ca = TestCa::new("minikafka test CA");
    let (broker, front) = broker_behind_tls(&ca).await;
    // The client trusts another CA only.
    let other = TestCa::new("some other CA");
    let other_pem = other.write_pem(broker.data_dir(), "other-ca.pem");

    let producer = ["--topic", "tls", "--count", "1", "--interval-ms", "0"];
    let out = front
        .run(env!("CARGO_BIN_EXE_producer"), &other_pem, &producer)
        .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("certificate verify failed"), "{stderr}");
    assert_eq!(
        front.done.load(Ordering::SeqCst),
        0,
        "no handshake succeeded"
    );
    assert!(
        front.refused.load(Ordering::SeqCst) >= 1,
        "a handshake was tried"
    );
    // Nothing reached the broker.
    assert!(!broker.data_dir().join("tls-0").exists());
    broker.stop().await;
}
