//! Bad input: every kind of broken client gets Kafka's error answer or a clean
//! close, and every other client, already connected or new, is still served.

use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest};
use minikafka_testkit::wire::Client;
use minikafka_testkit::TestBroker;

/// An ApiVersions round trip: proof that a client is served.
async fn still_served(client: &mut Client) {
    let resp: ApiVersionsResponse = client
        .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    assert_eq!(resp.error_code, 0);
}

/// A request header (v1) for `api_key`/`version` with a null client id.
fn header(api_key: i16, version: i16, correlation_id: i32) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&api_key.to_be_bytes());
    h.extend_from_slice(&version.to_be_bytes());
    h.extend_from_slice(&correlation_id.to_be_bytes());
    h.extend_from_slice(&(-1i16).to_be_bytes());
    h
}

/// Sends `bytes` from a fresh client, expects the broker to close that connection,
/// and checks that a client connected before and one connected after still work.
async fn rejected(broker: &TestBroker, what: &str, bytes: &[u8], close_write: bool) {
    let mut bystander = Client::connect(broker.addr()).await;
    still_served(&mut bystander).await;

    let mut bad = Client::connect(broker.addr()).await;
    bad.send_raw(bytes).await;
    if close_write {
        use tokio::io::AsyncWriteExt;
        bad.stream.shutdown().await.expect("half-close");
    }
    assert!(bad.is_closed_by_broker().await, "{what}: connection closed");

    still_served(&mut bystander).await;
    let mut newcomer = Client::connect(broker.addr()).await;
    still_served(&mut newcomer).await;
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut f = (body.len() as i32).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    f
}

#[tokio::test]
async fn garbage_is_closed_cleanly() {
    let broker = TestBroker::start().await.expect("broker starts");
    // An HTTP request: its first four bytes read as a size of about 1.2 GB.
    rejected(&broker, "http", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", false).await;
    // A plausible size followed by noise: API key 0xffff is unknown.
    rejected(&broker, "noise", &framed(&[0xff; 32]), false).await;
    // A frame too short to hold a request header.
    rejected(&broker, "tiny", &framed(&[0, 18, 0]), false).await;
    // A negative size.
    rejected(&broker, "negative", &(-5i32).to_be_bytes(), false).await;
    broker.stop().await;
}

#[tokio::test]
async fn truncated_frame_is_closed_cleanly() {
    let broker = TestBroker::start().await.expect("broker starts");
    // Announces 100 bytes, sends 20, then the client stops writing.
    let mut bytes = 100i32.to_be_bytes().to_vec();
    bytes.extend_from_slice(&header(18, 0, 1));
    bytes.extend_from_slice(&[0; 10]);
    rejected(&broker, "truncated", &bytes, true).await;
    // Fewer than the four size bytes.
    rejected(&broker, "half a size", &[0, 0], true).await;
    broker.stop().await;
}

#[tokio::test]
async fn a_client_stalled_mid_frame_is_closed_when_idle() {
    let broker = TestBroker::builder()
        .config(|c| c.connections_max_idle = std::time::Duration::from_millis(300))
        .start()
        .await
        .expect("broker starts");
    let mut bytes = 100i32.to_be_bytes().to_vec();
    bytes.extend_from_slice(&header(18, 0, 1));
    // The client keeps its side open: only the idle limit can end this. (Every
    // connection idles out this fast here, so only a newcomer checks service.)
    let mut stalled = Client::connect(broker.addr()).await;
    stalled.send_raw(&bytes).await;
    assert!(stalled.is_closed_by_broker().await, "stalled client closed");
    let mut newcomer = Client::connect(broker.addr()).await;
    still_served(&mut newcomer).await;
    broker.stop().await;
}

#[tokio::test]
async fn oversized_frame_is_closed_before_reading_it() {
    let broker = TestBroker::builder()
        .config(|c| c.max_request_bytes = 1024)
        .start()
        .await
        .expect("broker starts");
    // Only the size is sent: the broker must not wait for 2 GB that never come.
    rejected(&broker, "2 GB", &(i32::MAX).to_be_bytes(), false).await;
    // Just over the configured limit, body included.
    let mut body = header(18, 0, 1);
    body.resize(1025, 0);
    rejected(&broker, "1025 bytes", &framed(&body), false).await;
    broker.stop().await;
}

#[tokio::test]
async fn unknown_api_key_is_closed() {
    let broker = TestBroker::start().await.expect("broker starts");
    rejected(&broker, "key 1000", &framed(&header(1000, 0, 1)), false).await;
    // A real Kafka API this broker does not implement (DescribeConfigs, key 32).
    rejected(
        &broker,
        "DescribeConfigs",
        &framed(&header(32, 0, 1)),
        false,
    )
    .await;
    broker.stop().await;
}

#[tokio::test]
async fn unsupported_version_is_closed() {
    let broker = TestBroker::start().await.expect("broker starts");
    // Produce v2 (below our minimum), Fetch v99, ListOffsets v0 (Kafka 4.0 dropped it).
    for (what, key, version) in [
        ("produce v2", 0, 2),
        ("fetch v99", 1, 99),
        ("list_offsets v0", 2, 0),
    ] {
        let mut body = header(key, version, 1);
        body.extend_from_slice(&[0; 16]);
        rejected(&broker, what, &framed(&body), false).await;
    }
    broker.stop().await;
}

#[tokio::test]
async fn undecodable_body_is_closed() {
    let broker = TestBroker::start().await.expect("broker starts");
    // Metadata v1 whose topic array claims a million entries but has none.
    let mut body = header(3, 1, 1);
    body.extend_from_slice(&1_000_000i32.to_be_bytes());
    rejected(&broker, "short body", &framed(&body), false).await;
    broker.stop().await;
}

#[tokio::test]
async fn connections_over_the_limit_wait_for_a_free_slot() {
    let broker = TestBroker::builder()
        .config(|c| c.max_connections = 1)
        .start()
        .await
        .expect("broker starts");
    let mut first = Client::connect(broker.addr()).await;
    still_served(&mut first).await;

    // The second connection sits in the backlog: its request is not read yet.
    let mut second = Client::connect(broker.addr()).await;
    let sent = second
        .send(ApiKey::Metadata, 12, &MetadataRequest::default())
        .await;
    let early =
        tokio::time::timeout(std::time::Duration::from_millis(300), second.recv_frame()).await;
    assert!(early.is_err(), "no answer while the only slot is taken");

    drop(first);
    let (got, _): (i32, kafka_protocol::messages::MetadataResponse) =
        second.recv(ApiKey::Metadata, 12).await;
    assert_eq!(got, sent);
    broker.stop().await;
}

#[tokio::test]
async fn one_connection_over_max_connections_per_ip_is_closed_and_the_others_are_served() {
    let broker = TestBroker::builder()
        .config(|c| c.max_connections_per_ip = 2)
        .start()
        .await
        .expect("broker starts");
    let mut first = Client::connect(broker.addr()).await;
    let mut second = Client::connect(broker.addr()).await;
    still_served(&mut first).await;
    still_served(&mut second).await;

    // A third from the same address is accepted and closed at once.
    let mut third = Client::connect(broker.addr()).await;
    assert!(third.is_closed_by_broker().await, "the third is closed");
    still_served(&mut first).await;
    still_served(&mut second).await;

    // Once one of the two goes, the address may connect again (the broker notices the
    // close when that connection's task ends, so try until it has).
    drop(first);
    let served = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        loop {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut again = tokio::net::TcpStream::connect(broker.addr())
                .await
                .expect("connect");
            // ApiVersions v0: a closed connection fails the write or reads nothing back.
            let _ = again.write_all(&framed(&header(18, 0, 7))).await;
            let mut size = [0u8; 4];
            if again.read_exact(&mut size).await.is_ok() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(served.is_ok(), "a slot came free once a connection closed");
    still_served(&mut second).await;
    broker.stop().await;
}

#[test]
fn a_taken_port_fails_the_start_once_and_clearly_without_creating_the_data_dir() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    for (what, args) in [
        ("the Kafka port", vec!["--listen", port.as_str()]),
        (
            "the HTTP port",
            vec!["--listen", "127.0.0.1:0", "--http", port.as_str()],
        ),
    ] {
        let data = dir.path().join("data");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_minikafka-broker"))
            .args(&args)
            .arg("--data-dir")
            .arg(&data)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {stderr}");
        let line = format!("cannot listen on {port}: ");
        assert!(stderr.contains(&line), "{what}: {stderr}");
        assert_eq!(
            stderr.matches("in use").count(),
            1,
            "{what}: the cause is said once: {stderr}"
        );
        assert!(
            !data.exists(),
            "{what}: a failed start created {}",
            data.display()
        );
    }
}

/// A v2 batch of one record whose records section is `records`, compressed with
/// `codec` (attribute bits), with a correct CRC: only decompressing can tell it is bad.
fn crafted_batch(codec: i16, records: &[u8]) -> Vec<u8> {
    let mut tail = Vec::new(); // attributes .. end: what the CRC covers
    tail.extend_from_slice(&codec.to_be_bytes()); // attributes
    tail.extend_from_slice(&0i32.to_be_bytes()); // lastOffsetDelta
    tail.extend_from_slice(&0i64.to_be_bytes()); // baseTimestamp
    tail.extend_from_slice(&0i64.to_be_bytes()); // maxTimestamp
    tail.extend_from_slice(&(-1i64).to_be_bytes()); // producerId
    tail.extend_from_slice(&(-1i16).to_be_bytes()); // producerEpoch
    tail.extend_from_slice(&(-1i32).to_be_bytes()); // baseSequence
    tail.extend_from_slice(&1i32.to_be_bytes()); // recordCount
    tail.extend_from_slice(records);
    let mut batch = Vec::new();
    batch.extend_from_slice(&0i64.to_be_bytes()); // baseOffset
    batch.extend_from_slice(&((4 + 1 + 4 + tail.len()) as i32).to_be_bytes()); // batchLength
    batch.extend_from_slice(&(-1i32).to_be_bytes()); // partitionLeaderEpoch
    batch.push(2); // magic
    batch.extend_from_slice(&crc32c::crc32c(&tail).to_be_bytes());
    batch.extend_from_slice(&tail);
    batch
}

#[tokio::test]
async fn a_decompression_bomb_is_refused_and_the_broker_keeps_serving() {
    let broker = TestBroker::start().await.expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    client.create_topic("bombs", 1).await;
    // Raw snappy whose header claims 4 GiB - 1 of records, in 5 bytes.
    let bomb = crafted_batch(2, &[0xff, 0xff, 0xff, 0xff, 0x0f]);
    let answer = client.produce("bombs", 0, bytes::Bytes::from(bomb)).await;
    assert_eq!(answer.error_code, 10, "MESSAGE_TOO_LARGE: {answer:?}");
    // A gzip payload that is not gzip: CORRUPT_MESSAGE.
    let junk = crafted_batch(1, b"not gzip at all");
    let answer = client.produce("bombs", 0, bytes::Bytes::from(junk)).await;
    assert_eq!(answer.error_code, 2, "CORRUPT_MESSAGE: {answer:?}");
    // Nothing was written, and the same connection is still served.
    let fetched = client.fetch("bombs", 0, 0, 0, 0).await;
    assert_eq!(fetched.high_watermark, 0);
    still_served(&mut client).await;
    broker.stop().await;
}
