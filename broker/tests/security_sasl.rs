//! SASL on the wire, request by request, with the raw client: what a SASL listener lets
//! through before authentication, PLAIN with a right and a wrong password, the
//! mechanisms offered, the failed-login brake, and users added while the broker runs.
//! (SCRAM is driven by real clients: `security_rdkafka.rs`, and the native client's
//! tests.)

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataResponse, SaslAuthenticateRequest,
    SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use minikafka_broker::config::{ClientAuth, SecurityProtocol};
use minikafka_broker::security::scram::ScramHash;
use minikafka_broker::security::users::Users;
use minikafka_testkit::security::{self, TestCa, PASSWORD, USER};
use minikafka_testkit::wire::{self, Client};
use minikafka_testkit::TestBroker;

async fn handshake(client: &mut Client, mechanism: &'static str) -> SaslHandshakeResponse {
    let req = SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism));
    client.call(ApiKey::SaslHandshake, 1, &req).await
}

async fn authenticate(client: &mut Client, bytes: &[u8]) -> SaslAuthenticateResponse {
    let req = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::copy_from_slice(bytes));
    client.call(ApiKey::SaslAuthenticate, 2, &req).await
}

fn plain(user: &str, password: &str) -> Vec<u8> {
    format!("\0{user}\0{password}").into_bytes()
}

/// A broker with a listener of each protocol, failed logins answered at once.
async fn broker(
    ca: &TestCa,
    tweak: impl FnOnce(&mut minikafka_broker::Config) + Send + 'static,
) -> TestBroker {
    let tls = ca.broker_tls(ClientAuth::None);
    let users = ca.users_file();
    TestBroker::builder()
        .config(move |c| {
            security::every_protocol(c);
            c.tls = Some(tls);
            c.sasl.users = Some(users);
            c.sasl.failed_authentication_delay = Duration::ZERO;
            tweak(c);
        })
        .start()
        .await
        .expect("broker starts")
}

#[tokio::test]
async fn before_authentication_only_api_versions_and_sasl_get_through() {
    let ca = TestCa::new();
    let broker = broker(&ca, |_| {}).await;
    let sasl = security::addr(&broker, SecurityProtocol::SaslPlaintext);

    let mut client = Client::connect(sasl).await;
    let versions: ApiVersionsResponse = client
        .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    assert_eq!(versions.error_code, 0);
    let range = |key: ApiKey| {
        versions
            .api_keys
            .iter()
            .find(|k| k.api_key == key as i16)
            .map(|k| (k.min_version, k.max_version))
    };
    assert_eq!(range(ApiKey::SaslHandshake), Some((0, 1)));
    assert_eq!(range(ApiKey::SaslAuthenticate), Some((0, 2)));
    // Anything else before SASL closes the connection, as Kafka does.
    client
        .send(ApiKey::Metadata, 12, &wire::metadata_for(&["t"], true))
        .await;
    assert!(
        client.is_closed_by_broker().await,
        "Metadata before SASL must close"
    );

    // The PLAINTEXT listener of the same broker needs nothing.
    let mut open = Client::connect(broker.addr()).await;
    let meta: MetadataResponse = open
        .call(ApiKey::Metadata, 12, &wire::metadata_for(&["t"], true))
        .await;
    assert_eq!(meta.topics[0].error_code, 0);
    broker.stop().await;
}

#[tokio::test]
async fn plain_with_the_right_password_opens_the_connection_to_every_api() {
    let ca = TestCa::new();
    let broker = broker(&ca, |_| {}).await;
    let sasl = security::addr(&broker, SecurityProtocol::SaslPlaintext);

    let mut client = Client::connect(sasl).await;
    let offered = handshake(&mut client, "PLAIN").await;
    assert_eq!(offered.error_code, 0);
    let names: Vec<&str> = offered.mechanisms.iter().map(|m| m.as_str()).collect();
    assert_eq!(names, ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]);
    let auth = authenticate(&mut client, &plain(USER, PASSWORD)).await;
    assert_eq!(auth.error_code, 0, "{auth:?}");
    assert_eq!(
        auth.session_lifetime_ms, 0,
        "no re-authentication is asked for"
    );

    // Now every API: Metadata tells the client this listener's own address.
    let meta: MetadataResponse = client
        .call(ApiKey::Metadata, 12, &wire::metadata_for(&["t"], true))
        .await;
    assert_eq!(meta.topics[0].error_code, 0);
    assert_eq!(meta.brokers[0].port, i32::from(sasl.port()));
    // A second handshake on an authenticated connection is out of order.
    let again = handshake(&mut client, "PLAIN").await;
    assert_eq!(again.error_code, ResponseError::IllegalSaslState.code());
    assert!(client.is_closed_by_broker().await);
    broker.stop().await;
}

#[tokio::test]
async fn a_wrong_password_an_unknown_user_and_an_unknown_mechanism_are_refused_and_closed() {
    let ca = TestCa::new();
    let broker = broker(&ca, |_| {}).await;
    let sasl = security::addr(&broker, SecurityProtocol::SaslPlaintext);

    for (user, password) in [(USER, "wrong"), ("mallory", PASSWORD)] {
        let mut client = Client::connect(sasl).await;
        assert_eq!(handshake(&mut client, "PLAIN").await.error_code, 0);
        let auth = authenticate(&mut client, &plain(user, password)).await;
        assert_eq!(
            auth.error_code,
            ResponseError::SaslAuthenticationFailed.code(),
            "{user}: {auth:?}"
        );
        let message = auth.error_message.expect("a reason").to_string();
        assert!(
            message.contains("Invalid username or password"),
            "{message}"
        );
        assert!(
            client.is_closed_by_broker().await,
            "{user}: closed after the failure"
        );
    }

    let mut client = Client::connect(sasl).await;
    let refused = handshake(&mut client, "GSSAPI").await;
    assert_eq!(
        refused.error_code,
        ResponseError::UnsupportedSaslMechanism.code()
    );
    assert!(
        !refused.mechanisms.is_empty(),
        "the answer lists what is offered"
    );
    assert!(client.is_closed_by_broker().await);

    // SaslHandshake on a listener without SASL, and SaslAuthenticate before a
    // handshake, are out of order.
    let mut client = Client::connect(broker.addr()).await;
    assert_eq!(
        handshake(&mut client, "PLAIN").await.error_code,
        ResponseError::IllegalSaslState.code()
    );
    assert!(client.is_closed_by_broker().await);
    let mut client = Client::connect(sasl).await;
    let early = authenticate(&mut client, &plain(USER, PASSWORD)).await;
    assert_eq!(early.error_code, ResponseError::IllegalSaslState.code());
    assert!(client.is_closed_by_broker().await);
    broker.stop().await;
}

#[tokio::test]
async fn failed_logins_from_one_address_are_rate_limited() {
    let ca = TestCa::new();
    let broker = broker(&ca, |c| c.sasl.max_failed_authentications = 3).await;
    let sasl = security::addr(&broker, SecurityProtocol::SaslPlaintext);

    for _ in 0..3 {
        let mut client = Client::connect(sasl).await;
        assert_eq!(handshake(&mut client, "PLAIN").await.error_code, 0);
        let auth = authenticate(&mut client, &plain(USER, "guess")).await;
        assert_eq!(
            auth.error_code,
            ResponseError::SaslAuthenticationFailed.code()
        );
    }
    // The brake is on: even the right password is refused, before it is checked.
    let mut client = Client::connect(sasl).await;
    assert_eq!(handshake(&mut client, "PLAIN").await.error_code, 0);
    let auth = authenticate(&mut client, &plain(USER, PASSWORD)).await;
    assert_eq!(
        auth.error_code,
        ResponseError::SaslAuthenticationFailed.code()
    );
    let message = auth.error_message.expect("a reason").to_string();
    assert!(
        message.contains("Too many failed authentications"),
        "{message}"
    );
    assert!(client.is_closed_by_broker().await);

    // Other listeners keep serving.
    let mut open = Client::connect(broker.addr()).await;
    let meta: MetadataResponse = open
        .call(ApiKey::Metadata, 12, &wire::metadata_for(&["t"], true))
        .await;
    assert_eq!(meta.topics[0].error_code, 0);
    broker.stop().await;
}

#[tokio::test]
async fn a_user_added_while_the_broker_runs_can_log_in_at_once() {
    let ca = TestCa::new();
    let broker = broker(&ca, |_| {}).await;
    let sasl = security::addr(&broker, SecurityProtocol::SaslPlaintext);
    let path = ca.dir().join("users.txt");

    let login = |user: &'static str, password: &'static str| async move {
        let mut client = Client::connect(sasl).await;
        assert_eq!(handshake(&mut client, "PLAIN").await.error_code, 0);
        authenticate(&mut client, &plain(user, password))
            .await
            .error_code
    };
    assert_eq!(
        login("bob", "bob-secret").await,
        ResponseError::SaslAuthenticationFailed.code()
    );
    let mut users = Users::load(&path).expect("load");
    users
        .add("bob", "bob-secret", &[ScramHash::Sha512])
        .expect("add");
    users.save(&path).expect("save");
    assert_eq!(login("bob", "bob-secret").await, 0);
    users.remove("bob").expect("remove");
    users.save(&path).expect("save");
    assert_eq!(
        login("bob", "bob-secret").await,
        ResponseError::SaslAuthenticationFailed.code()
    );
    broker.stop().await;
}

#[tokio::test]
async fn a_secured_listener_without_its_settings_stops_the_start_with_the_reason() {
    let ca = TestCa::new();
    let users = ca.users_file();
    let err = TestBroker::builder()
        .config(security::every_protocol)
        .start()
        .await
        .expect_err("no certificate");
    assert!(err.to_string().contains("--ssl-certificate"), "{err}");
    let err = TestBroker::builder()
        .config(move |c| {
            security::every_protocol(c);
            c.tls = None;
            c.listeners
                .retain(|l| l.protocol == SecurityProtocol::SaslPlaintext);
            c.sasl.users = None;
            let _ = users;
        })
        .start()
        .await
        .expect_err("no users");
    assert!(err.to_string().contains("--sasl-users"), "{err}");
    let tls = minikafka_broker::config::TlsConfig {
        certificate: ca.dir().join("missing.pem"),
        key: ca.dir().join("missing-key.pem"),
        truststore: None,
        client_auth: ClientAuth::None,
    };
    let err = TestBroker::builder()
        .config(move |c| {
            security::every_protocol(c);
            c.listeners.retain(|l| l.protocol == SecurityProtocol::Ssl);
            c.tls = Some(tls);
        })
        .start()
        .await
        .expect_err("missing files");
    assert!(err.to_string().contains("missing.pem"), "{err}");
}

#[tokio::test]
async fn after_a_v0_handshake_the_tokens_are_raw_frames() {
    let ca = TestCa::new();
    let broker = broker(&ca, |_| {}).await;
    let sasl = security::addr(&broker, SecurityProtocol::SaslPlaintext);

    // Right password: the token is a bare frame, and so is the (empty) answer.
    let mut client = Client::connect(sasl).await;
    let req = SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN"));
    let hs: SaslHandshakeResponse = client.call(ApiKey::SaslHandshake, 0, &req).await;
    assert_eq!(hs.error_code, 0);
    client.send_frame(&plain(USER, PASSWORD)).await;
    let answer = client.recv_frame().await.expect("a raw answer");
    assert!(answer.is_empty(), "PLAIN's answer is empty: {answer:?}");
    let meta: MetadataResponse = client
        .call(ApiKey::Metadata, 12, &wire::metadata_for(&["t"], true))
        .await;
    assert_eq!(meta.topics[0].error_code, 0);

    // Wrong password: no answer can say why, so the connection closes.
    let mut client = Client::connect(sasl).await;
    let hs: SaslHandshakeResponse = client.call(ApiKey::SaslHandshake, 0, &req).await;
    assert_eq!(hs.error_code, 0);
    client.send_frame(&plain(USER, "wrong")).await;
    assert!(client.is_closed_by_broker().await);
    broker.stop().await;
}

#[tokio::test]
async fn a_stranger_cannot_send_a_big_frame_before_authenticating() {
    let ca = TestCa::new();
    let broker = broker(&ca, |c| c.sasl.max_receive_size = 4096).await;
    let sasl = security::addr(&broker, SecurityProtocol::SaslPlaintext);

    // 64 KiB announced before authenticating: closed before it is read.
    let mut stranger = Client::connect(sasl).await;
    stranger.send_raw(&(64 * 1024i32).to_be_bytes()).await;
    assert!(stranger.is_closed_by_broker().await);

    // The same size after authenticating is a request like any other.
    let mut client = Client::connect(sasl).await;
    assert_eq!(handshake(&mut client, "PLAIN").await.error_code, 0);
    assert_eq!(
        authenticate(&mut client, &plain(USER, PASSWORD))
            .await
            .error_code,
        0
    );
    client.create_topic("big-after-login", 1).await;
    let value = "v".repeat(64 * 1024);
    let produced = client
        .produce(
            "big-after-login",
            0,
            wire::batch(&[(None, value.as_str())], 1),
        )
        .await;
    assert_eq!(produced.error_code, 0);
    broker.stop().await;
}
