//! librdkafka (the rdkafka crate's bundled 2.12, built with OpenSSL) against the
//! broker's own TLS and SASL: SASL_SSL with SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN,
//! SASL_PLAINTEXT, and SSL with client certificates (mTLS, `ssl.client.auth=required`).
//! Records go in and come back out over the secured listener, so the TLS read path of
//! Fetch (stored batches read and encrypted, no `sendfile`) is what serves them.
//! A wrong password and a missing client certificate are refused with the reason.
#![cfg(feature = "rdkafka")]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use minikafka_broker::config::{ClientAuth, SecurityProtocol};
use minikafka_testkit::security::{self, TestCa, PASSWORD, USER};
use minikafka_testkit::TestBroker;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

/// Collects the errors librdkafka reports outside any request (authentication among
/// them), so a test can say why a client could not get in.
#[derive(Clone, Default)]
struct Errors(Arc<Mutex<Vec<String>>>);

impl ClientContext for Errors {
    fn error(&self, error: KafkaError, reason: &str) {
        self.0
            .lock()
            .expect("errors lock")
            .push(format!("{error}: {reason}"));
    }
}

impl ConsumerContext for Errors {}

impl Errors {
    fn all(&self) -> String {
        self.0.lock().expect("errors lock").join("\n")
    }
}

fn config(bootstrap: &str, settings: &[(&str, String)]) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("message.timeout.ms", "20000")
        .set("group.id", "unused-assign-only")
        .set("enable.auto.commit", "false");
    for (key, value) in settings {
        config.set(*key, value);
    }
    config
}

/// Produces `count` records to `topic` (1 partition) and reads them back from offset 0,
/// both over the listener `settings` describe.
async fn round_trip(bootstrap: &str, settings: &[(&str, String)], topic: &str, count: usize) {
    let producer: FutureProducer = config(bootstrap, settings)
        .set("acks", "all")
        .create()
        .expect("producer");
    let mut offsets = Vec::new();
    for i in 0..count {
        let value = format!("secret record {i}");
        let rdkafka::producer::future_producer::Delivery {
            partition, offset, ..
        } = producer
            .send(
                FutureRecord::to(topic)
                    .key("k")
                    .payload(&value)
                    .partition(0),
                Duration::from_secs(20),
            )
            .await
            .unwrap_or_else(|(e, _)| panic!("delivery over {settings:?} failed: {e}"));
        assert_eq!(partition, 0);
        offsets.push(offset);
    }
    assert_eq!(offsets, (0..count as i64).collect::<Vec<_>>());

    let reader: BaseConsumer = config(bootstrap, settings).create().expect("reader");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Beginning)
        .expect("assign");
    reader.assign(&assignment).expect("assign");
    let topic = topic.to_string();
    let got = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + minikafka_testkit::WAIT;
        let mut got = Vec::new();
        while got.len() < count && Instant::now() < deadline {
            if let Some(message) = reader.poll(Duration::from_millis(200)) {
                let message = message.expect("read");
                assert_eq!(message.topic(), topic);
                got.push((
                    message.offset(),
                    String::from_utf8(message.payload().expect("payload").to_vec()).expect("utf8"),
                ));
            }
        }
        got
    })
    .await
    .expect("reader thread");
    let want: Vec<(i64, String)> = (0..count)
        .map(|i| (i as i64, format!("secret record {i}")))
        .collect();
    assert_eq!(got, want, "read back over {settings:?}");
}

/// Checks that a client with `settings` cannot fetch metadata, and returns the errors it
/// reported, waiting until they mention `expected` (any error, when it is empty).
async fn refused(bootstrap: &str, settings: &[(&str, String)], expected: &str) -> String {
    let errors = Errors::default();
    let consumer: BaseConsumer<Errors> = config(bootstrap, settings)
        .create_with_context(errors.clone())
        .expect("consumer");
    let seen = errors.clone();
    let expected = expected.to_string();
    let outcome = tokio::task::spawn_blocking(move || {
        let outcome = consumer
            .fetch_metadata(None, Duration::from_secs(5))
            .map(|_| ());
        // librdkafka hands errors to the context only when the client is polled, and
        // the authentication error may still be on its way: serve the queue until it
        // has come (or a while has passed).
        let deadline = Instant::now() + minikafka_testkit::WAIT;
        let come = |all: String| !all.is_empty() && all.contains(expected.as_str());
        while !come(seen.all()) && Instant::now() < deadline {
            if let Some(Err(e)) = consumer.poll(Duration::from_millis(100)) {
                seen.0.lock().expect("errors lock").push(e.to_string());
            }
        }
        outcome
    })
    .await
    .expect("metadata thread");
    assert!(outcome.is_err(), "{settings:?} got in");
    errors.all()
}

fn sasl(
    protocol: &str,
    mechanism: &str,
    password: &str,
    ca: &TestCa,
) -> Vec<(&'static str, String)> {
    vec![
        ("security.protocol", protocol.to_string()),
        ("sasl.mechanisms", mechanism.to_string()),
        ("sasl.username", USER.to_string()),
        ("sasl.password", password.to_string()),
        ("ssl.ca.location", ca.ca_pem().display().to_string()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_over_sasl_ssl_with_scram_and_plain_produces_and_reads_back() {
    let ca = TestCa::new();
    let broker = security::secured_broker(&ca, ClientAuth::None).await;
    let sasl_ssl = security::addr(&broker, SecurityProtocol::SaslSsl).to_string();
    for (i, mechanism) in ["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"]
        .iter()
        .enumerate()
    {
        let settings = sasl("SASL_SSL", mechanism, PASSWORD, &ca);
        round_trip(&sasl_ssl, &settings, &format!("sasl-ssl-{i}"), 20).await;
    }
    // SASL without TLS, with SCRAM (the password itself never crosses the wire).
    let sasl_plaintext = security::addr(&broker, SecurityProtocol::SaslPlaintext).to_string();
    let settings = sasl("SASL_PLAINTEXT", "SCRAM-SHA-256", PASSWORD, &ca);
    round_trip(&sasl_plaintext, &settings, "sasl-plaintext", 20).await;
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_with_a_wrong_password_is_refused_with_the_brokers_reason() {
    let ca = TestCa::new();
    let broker = TestBroker::builder()
        .config({
            let tls = ca.broker_tls(ClientAuth::None);
            let users = ca.users_file();
            move |c| {
                security::every_protocol(c);
                c.tls = Some(tls);
                c.sasl.users = Some(users);
                // librdkafka retries; keep the brake out of this test.
                c.sasl.max_failed_authentications = 1000;
            }
        })
        .start()
        .await
        .expect("broker starts");
    let sasl_ssl = security::addr(&broker, SecurityProtocol::SaslSsl).to_string();
    for mechanism in ["SCRAM-SHA-512", "PLAIN"] {
        let errors = refused(
            &sasl_ssl,
            &sasl("SASL_SSL", mechanism, "not-the-password", &ca),
            "Authentication failed",
        )
        .await;
        assert!(
            errors.contains("Authentication failed"),
            "{mechanism}: librdkafka should report the broker's reason:\n{errors}"
        );
    }
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_with_a_client_certificate_gets_in_and_one_without_does_not() {
    let ca = TestCa::new();
    let broker = security::secured_broker(&ca, ClientAuth::Required).await;
    let ssl = security::addr(&broker, SecurityProtocol::Ssl).to_string();
    let (cert, key) = ca.issue("client", "client-app", &["client-app"], true);
    let with_cert = vec![
        ("security.protocol", "SSL".to_string()),
        ("ssl.ca.location", ca.ca_pem().display().to_string()),
        ("ssl.certificate.location", cert.display().to_string()),
        ("ssl.key.location", key.display().to_string()),
    ];
    round_trip(&ssl, &with_cert, "mtls", 10).await;

    let without = vec![
        ("security.protocol", "SSL".to_string()),
        ("ssl.ca.location", ca.ca_pem().display().to_string()),
    ];
    let errors = refused(&ssl, &without, "").await;
    assert!(!errors.is_empty(), "the failed handshake is reported");

    // A certificate from another CA is refused too.
    let stranger = TestCa::new();
    let (cert, key) = stranger.issue("stranger", "stranger", &["stranger"], true);
    let foreign = vec![
        ("security.protocol", "SSL".to_string()),
        ("ssl.ca.location", ca.ca_pem().display().to_string()),
        ("ssl.certificate.location", cert.display().to_string()),
        ("ssl.key.location", key.display().to_string()),
    ];
    refused(&ssl, &foreign, "").await;

    // SASL_SSL asks for no client certificate (KIP-684): SASL authenticates there.
    let sasl_ssl = security::addr(&broker, SecurityProtocol::SaslSsl).to_string();
    round_trip(
        &sasl_ssl,
        &sasl("SASL_SSL", "SCRAM-SHA-256", PASSWORD, &ca),
        "mtls-sasl",
        5,
    )
    .await;
    broker.stop().await;
}
