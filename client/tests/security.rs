//! Both backends against the broker's own TLS and SASL, configured by Kafka's property
//! names only (`security.protocol`, `sasl.*`, `ssl.*`): produce, read a partition and
//! consume in a group (so the group coordinator's own connection logs in too) over
//! SASL_SSL with SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN; SSL with a client certificate;
//! and the refusals, each with its reason: a wrong password, an unknown CA, a broker
//! certificate for another name (unless `ssl.endpoint.identification.algorithm=none`).
#![allow(clippy::unwrap_used)]

use minikafka_broker::config::{ClientAuth, SecurityProtocol, TlsConfig};
use minikafka_client::{
    Backend, ClientConfig, Consumer, ConsumerConfig, ConsumerEvent, Error, Offset, PartitionReader,
    Producer, ProducerConfig, ProducerRecord, ReaderConfig,
};
use minikafka_testkit::security::{self, TestCa, PASSWORD, USER};
use minikafka_testkit::{within, TestBroker};

fn backends() -> Vec<Backend> {
    let mut all = vec![Backend::Native];
    if cfg!(feature = "rdkafka") {
        all.push(Backend::Rdkafka);
    }
    all
}

/// `security.*` properties: SASL over `protocol` with `mechanism`, trusting `ca`.
fn sasl(
    protocol: &str,
    mechanism: &str,
    password: &str,
    ca: &TestCa,
) -> Vec<(&'static str, String)> {
    vec![
        ("security.protocol", protocol.to_string()),
        ("sasl.mechanism", mechanism.to_string()),
        ("sasl.username", USER.to_string()),
        ("sasl.password", password.to_string()),
        ("ssl.ca.location", ca.ca_pem().display().to_string()),
    ]
}

fn client(bootstrap: &str, backend: Backend, props: &[(&str, String)]) -> ClientConfig {
    let mut c = ClientConfig::new(bootstrap);
    c.backend = backend;
    c.request_timeout = std::time::Duration::from_secs(10);
    c.retries = 2;
    for (k, v) in props {
        // Every key goes through the same `set` an application (or `--config`) uses.
        let mut p = ProducerConfig::new(bootstrap);
        p.client = c.clone();
        p.set(k, v).unwrap();
        c = p.client;
    }
    c
}

/// Produces 10 records to `topic` (1 partition), reads them back with a partition
/// reader, then consumes them as the one member of a group.
async fn round_trip(bootstrap: &str, backend: Backend, props: &[(&str, String)], topic: &str) {
    let mut pc = ProducerConfig::new(bootstrap);
    pc.client = client(bootstrap, backend, props);
    let producer = Producer::new(pc)
        .await
        .unwrap_or_else(|e| panic!("{backend:?} {props:?}: {e}"));
    for i in 0..10 {
        let md = producer
            .send(
                ProducerRecord::new(topic)
                    .partition(0)
                    .key("k")
                    .value(format!("v{i}")),
            )
            .await
            .unwrap();
        assert_eq!(md.offset, i);
    }
    producer.close().await;

    let mut rc = ReaderConfig::new(bootstrap);
    rc.client = client(bootstrap, backend, props);
    let mut reader = PartitionReader::assign(rc, topic, 0, Offset::Earliest)
        .await
        .unwrap();
    for i in 0..10 {
        let r = within("read", reader.next()).await.unwrap();
        assert_eq!(
            (r.offset, r.value.as_deref()),
            (i, Some(format!("v{i}").as_bytes()))
        );
    }

    let mut cc = ConsumerConfig::new(bootstrap, &format!("{topic}-group"));
    cc.client = client(bootstrap, backend, props);
    let mut consumer = Consumer::new(cc).await.unwrap();
    consumer.subscribe(&[topic]).await.unwrap();
    let mut got = 0;
    while got < 10 {
        if let ConsumerEvent::Record(r) = within("a record", consumer.recv()).await.unwrap() {
            assert_eq!(r.offset, got);
            got += 1;
        }
    }
    consumer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_backends_round_trip_over_sasl_ssl_with_scram_and_plain() {
    let ca = TestCa::new();
    let broker = security::secured_broker(&ca, ClientAuth::None).await;
    let sasl_ssl = security::addr(&broker, SecurityProtocol::SaslSsl).to_string();
    let sasl_plaintext = security::addr(&broker, SecurityProtocol::SaslPlaintext).to_string();
    for backend in backends() {
        for (i, mechanism) in ["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"]
            .iter()
            .enumerate()
        {
            let props = sasl("SASL_SSL", mechanism, PASSWORD, &ca);
            round_trip(&sasl_ssl, backend, &props, &format!("sec-{backend:?}-{i}")).await;
        }
        let props = sasl("SASL_PLAINTEXT", "SCRAM-SHA-512", PASSWORD, &ca);
        round_trip(
            &sasl_plaintext,
            backend,
            &props,
            &format!("sec-{backend:?}-plain"),
        )
        .await;
    }
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_native_client_shows_a_client_certificate_and_is_refused_without_one() {
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
    round_trip(&ssl, Backend::Native, &with_cert, "mtls").await;

    let without = &with_cert[..2];
    let mut pc = ProducerConfig::new(&ssl);
    pc.client = client(&ssl, Backend::Native, without);
    pc.client.retries = 0;
    assert!(
        Producer::new(pc).await.is_err(),
        "no client certificate, no entry"
    );
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_native_client_says_why_it_cannot_get_in() {
    let ca = TestCa::new();
    let broker = security::secured_broker(&ca, ClientAuth::None).await;
    let sasl_ssl = security::addr(&broker, SecurityProtocol::SaslSsl).to_string();
    let attempt = |props: Vec<(&'static str, String)>| {
        let bootstrap = sasl_ssl.clone();
        async move {
            let mut pc = ProducerConfig::new(&bootstrap);
            pc.client = client(&bootstrap, Backend::Native, &props);
            match Producer::new(pc).await {
                Ok(_) => panic!("{props:?} got in"),
                Err(e) => e,
            }
        }
    };

    for mechanism in ["SCRAM-SHA-256", "PLAIN"] {
        let err = attempt(sasl("SASL_SSL", mechanism, "wrong", &ca)).await;
        assert!(matches!(err, Error::Authentication { .. }), "{err}");
        assert!(!err.is_retriable());
        assert!(err.to_string().contains("Authentication failed"), "{err}");
        assert!(err.to_string().contains(mechanism), "{err}");
    }
    let stranger = TestCa::new();
    let err = attempt(sasl("SASL_SSL", "SCRAM-SHA-256", PASSWORD, &stranger)).await;
    assert!(matches!(err, Error::Tls { .. }), "{err}");
    assert!(
        err.to_string().contains("invalid peer certificate"),
        "{err}"
    );
    // A missing CA file fails when the client is made, naming the file.
    let mut missing = sasl("SASL_SSL", "PLAIN", PASSWORD, &ca);
    missing[4].1 = "/nonexistent/ca.pem".into();
    let err = attempt(missing).await;
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_name_check_can_be_turned_off_but_the_chain_is_still_checked() {
    let ca = TestCa::new();
    let (certificate, key) = ca.issue("elsewhere", "elsewhere", &["kafka.example"], false);
    let tls = TlsConfig {
        certificate,
        key,
        truststore: None,
        client_auth: ClientAuth::None,
    };
    let users = ca.users_file();
    let broker = TestBroker::builder()
        .config(move |c| {
            security::every_protocol(c);
            c.tls = Some(tls);
            c.sasl.users = Some(users);
        })
        .start()
        .await
        .unwrap();
    let ssl = security::addr(&broker, SecurityProtocol::Ssl).to_string();
    let mut props = vec![
        ("security.protocol", "SSL".to_string()),
        ("ssl.ca.location", ca.ca_pem().display().to_string()),
    ];
    let mut pc = ProducerConfig::new(&ssl);
    pc.client = client(&ssl, Backend::Native, &props);
    let Err(err) = Producer::new(pc).await else {
        panic!("the name does not match, yet the client got in");
    };
    assert!(err.to_string().contains("not valid for name"), "{err}");

    props.push(("ssl.endpoint.identification.algorithm", "none".to_string()));
    round_trip(&ssl, Backend::Native, &props, "no-hostname-check").await;
    broker.stop().await;
}
