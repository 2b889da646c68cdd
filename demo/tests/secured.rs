//! The classroom binaries against a secured broker: the broker's own SASL_SSL listener
//! (rustls, SCRAM), reached with nothing but `--config` properties, Kafka's names:
//!
//! ```text
//! producer --config security.protocol=SASL_SSL --config sasl.mechanisms=SCRAM-SHA-512 \
//!          --config sasl.username=alice --config sasl.password=... \
//!          --config ssl.ca.location=ca.pem
//! ```
//!
//! The same flags work on both backends: the native one speaks TLS (rustls) and SASL
//! itself, the rdkafka one hands them to librdkafka.
//!
//! What must stay true: records round-trip over TLS with SASL; a server certificate the
//! client cannot verify is refused with the TLS library's reason, and a wrong password
//! with the broker's; neither reaches the log.

mod common;

use std::path::Path;

use common::{assert_all_read_back, run, stdout_of_success};
use minikafka_broker::config::{ClientAuth, SecurityProtocol};
use minikafka_testkit::security::{self, TestCa, PASSWORD, USER};
use minikafka_testkit::TestBroker;

/// A broker with a listener of each protocol (3 partitions per topic, the classroom's).
async fn broker(ca: &TestCa) -> TestBroker {
    let tls = ca.broker_tls(ClientAuth::None);
    let users = ca.users_file();
    TestBroker::builder()
        .partitions(3)
        .config(move |c| {
            security::every_protocol(c);
            c.tls = Some(tls);
            c.sasl.users = Some(users);
            c.sasl.max_failed_authentications = 1000;
        })
        .start()
        .await
        .expect("broker starts")
}

/// Runs demo binary `bin` on `backend` against the SASL_SSL listener, trusting
/// `ca_pem`, logging in with `password`, with `more` arguments after.
async fn run_secured(
    bin: &str,
    backend: &str,
    broker: &TestBroker,
    ca_pem: &Path,
    password: &str,
    more: &[&str],
) -> std::process::Output {
    let addr = security::addr(broker, SecurityProtocol::SaslSsl).to_string();
    let ca = format!("ssl.ca.location={}", ca_pem.display());
    let user = format!("sasl.username={USER}");
    let password = format!("sasl.password={password}");
    let mut args = vec![
        "--backend",
        backend,
        "--bootstrap-server",
        &addr,
        "--config",
        "security.protocol=SASL_SSL",
        "--config",
        "sasl.mechanisms=SCRAM-SHA-512",
        "--config",
        &user,
        "--config",
        &password,
        "--config",
        &ca,
    ];
    args.extend(more);
    run(bin, &args).await
}

async fn round_trip(backend: &str) {
    let ca = TestCa::new();
    let broker = broker(&ca).await;
    let ca_pem = ca.ca_pem();
    let producer = ["--topic", "tls", "--count", "6", "--interval-ms", "0"];
    let out = run_secured(
        env!("CARGO_BIN_EXE_producer"),
        backend,
        &broker,
        &ca_pem,
        PASSWORD,
        &producer,
    )
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
    let out = run_secured(
        env!("CARGO_BIN_EXE_consumer"),
        backend,
        &broker,
        &ca_pem,
        PASSWORD,
        &consumer,
    )
    .await;
    let consumed = stdout_of_success(&out);
    assert!(consumed.contains("summary: 6 messages"), "{consumed}");
    assert_all_read_back(&produced, &consumed);
    assert!(broker.data_dir().join("tls-0").is_dir());
    broker.stop().await;
}

async fn refusals(backend: &str, unknown_ca_reason: &str) {
    let ca = TestCa::new();
    let broker = broker(&ca).await;
    let producer = ["--topic", "tls", "--count", "1", "--interval-ms", "0"];

    // The client trusts another CA only.
    let other = TestCa::new();
    let out = run_secured(
        env!("CARGO_BIN_EXE_producer"),
        backend,
        &broker,
        &other.ca_pem(),
        PASSWORD,
        &producer,
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains(unknown_ca_reason), "{stderr}");

    // The right CA, the wrong password.
    let out = run_secured(
        env!("CARGO_BIN_EXE_producer"),
        backend,
        &broker,
        &ca.ca_pem(),
        "wrong",
        &producer,
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("Authentication failed"), "{stderr}");

    // Nothing reached the log.
    assert!(!broker.data_dir().join("tls-0").exists());
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_producer_and_consumer_run_over_sasl_ssl() {
    round_trip("native").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_refuses_an_unknown_ca_and_a_wrong_password_with_the_reason() {
    refusals("native", "invalid peer certificate").await;
}

#[cfg(feature = "rdkafka")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rdkafka_producer_and_consumer_run_over_sasl_ssl() {
    round_trip("rdkafka").await;
}

#[cfg(feature = "rdkafka")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rdkafka_refuses_an_unknown_ca_and_a_wrong_password_with_the_reason() {
    refusals("rdkafka", "certificate verify failed").await;
}
