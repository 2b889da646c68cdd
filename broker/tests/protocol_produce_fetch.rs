//! Black-box protocol tests, the data path: Produce, Fetch (long polls, limits,
//! errors), ListOffsets, acks, pipelining. A real broker on 127.0.0.1:0, driven with
//! raw frames encoded by the `kafka-protocol` crate.

use bytes::Bytes;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, FetchResponse, ListOffsetsResponse,
    MetadataResponse, ProduceResponse,
};
use minikafka_testkit::wire::{self, batch, decode_records, with_base_offset, Client};
use minikafka_testkit::TestBroker;

#[tokio::test]
async fn produce_then_fetch_returns_the_stored_batches_byte_for_byte() {
    let broker = TestBroker::start().await.expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    client.create_topic("rt", 1).await;

    let first = batch(
        &[(Some("k1"), "one"), (Some("k2"), "two"), (None, "three")],
        1000,
    );
    let second = batch(&[(Some("k3"), "four"), (Some("k1"), "five")], 2000);
    let p = client.produce("rt", 0, first.clone()).await;
    assert_eq!((p.error_code, p.base_offset, p.log_start_offset), (0, 0, 0));
    let p = client.produce("rt", 0, second.clone()).await;
    assert_eq!((p.error_code, p.base_offset, p.log_start_offset), (0, 3, 0));

    let fetched = client.fetch("rt", 0, 0, 0, 1).await;
    assert_eq!(fetched.error_code, 0);
    assert_eq!(fetched.high_watermark, 5);
    assert_eq!(fetched.last_stable_offset, 5);
    assert_eq!(fetched.log_start_offset, 0);
    let mut expected = with_base_offset(&first, 0);
    expected.extend(with_base_offset(&second, 3));
    assert_eq!(fetched.records.as_deref(), Some(&expected[..]));
    let records = decode_records(fetched.records.unwrap_or_default());
    assert_eq!(
        records,
        [
            (0, Some("k1".into()), "one".into()),
            (1, Some("k2".into()), "two".into()),
            (2, None, "three".into()),
            (3, Some("k3".into()), "four".into()),
            (4, Some("k1".into()), "five".into()),
        ]
    );

    // From offset 4: the whole batch holding it, as stored.
    let fetched = client.fetch("rt", 0, 4, 0, 1).await;
    assert_eq!(
        fetched.records.as_deref(),
        Some(&with_base_offset(&second, 3)[..])
    );

    // At the end, with no wait: empty records, never null.
    let fetched = client.fetch("rt", 0, 5, 0, 1).await;
    assert_eq!(fetched.error_code, 0);
    assert_eq!(fetched.records, Some(Bytes::new()));
    broker.stop().await;
}

/// Every advertised Produce and Fetch version round-trips (older ones are what
/// kafka-python and older librdkafka pick).
#[tokio::test]
async fn every_produce_and_fetch_version_round_trips() {
    let broker = TestBroker::start().await.expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    client.create_topic("versions", 1).await;
    let mut expected = Vec::new();
    for (i, version) in (3i16..=9).enumerate() {
        let b = batch(&[(Some("v"), &format!("produce v{version}"))], 1000);
        let resp: ProduceResponse = client
            .call(
                ApiKey::Produce,
                version,
                &wire::produce_request("versions", 0, b.clone(), 1),
            )
            .await;
        let p = &resp.responses[0].partition_responses[0];
        assert_eq!(
            (p.error_code, p.base_offset),
            (0, i as i64),
            "produce v{version}"
        );
        expected.extend(with_base_offset(&b, i as i64));
    }
    for version in 4i16..=12 {
        let req = wire::fetch_request("versions", 0, 0, 0, 1);
        let resp: FetchResponse = client.call(ApiKey::Fetch, version, &req).await;
        let p = &resp.responses[0].partitions[0];
        assert_eq!(p.error_code, 0, "fetch v{version}");
        assert_eq!(p.high_watermark, 7, "fetch v{version}");
        assert_eq!(
            p.records.as_deref(),
            Some(&expected[..]),
            "fetch v{version}"
        );
    }
    broker.stop().await;
}

#[tokio::test]
async fn a_waiting_fetch_is_woken_by_an_append() {
    let broker = TestBroker::start().await.expect("broker starts");
    let mut admin = Client::connect(broker.addr()).await;
    admin.create_topic("wake", 1).await;

    let mut consumer = Client::connect(broker.addr()).await;
    // max_wait is far longer than the client's own 10 s limit: only a wake-up by the
    // append can make this fetch answer in time.
    let req = wire::fetch_request("wake", 0, 0, 600_000, 1);
    let sent = consumer.send(ApiKey::Fetch, 12, &req).await;
    // Give the broker a moment to park the fetch (if it has not, the fetch simply
    // finds the data: the assertions below still hold).
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let b = batch(&[(Some("k"), "wake up")], 1000);
    let p = admin.produce("wake", 0, b.clone()).await;
    assert_eq!(p.error_code, 0);

    let (got, resp): (i32, FetchResponse) = consumer.recv(ApiKey::Fetch, 12).await;
    assert_eq!(got, sent);
    let part = &resp.responses[0].partitions[0];
    assert_eq!(part.error_code, 0);
    assert_eq!(part.records.as_deref(), Some(&with_base_offset(&b, 0)[..]));
    broker.stop().await;
}

#[tokio::test]
async fn a_fetch_with_nothing_to_read_answers_empty_after_max_wait() {
    let broker = TestBroker::start().await.expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    client.create_topic("quiet", 1).await;
    let fetched = client.fetch("quiet", 0, 0, 50, 1).await;
    assert_eq!(fetched.error_code, 0);
    assert_eq!(fetched.high_watermark, 0);
    assert_eq!(fetched.records, Some(Bytes::new()), "empty, not null");
    broker.stop().await;
}

#[tokio::test]
async fn fetch_outside_the_log_is_offset_out_of_range() {
    let broker = TestBroker::start().await.expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    client.create_topic("range", 1).await;
    client
        .produce("range", 0, batch(&[(None, "a"), (None, "b")], 1000))
        .await;
    for offset in [3, 100, -1] {
        let fetched = client.fetch("range", 0, offset, 0, 1).await;
        assert_eq!(
            fetched.error_code, 1,
            "offset {offset}: OFFSET_OUT_OF_RANGE"
        );
        assert_eq!(fetched.high_watermark, 2);
        assert_eq!(fetched.records, Some(Bytes::new()));
    }
    let fetched = client.fetch("no-such-topic-here", 0, 0, 0, 1).await;
    assert_eq!(fetched.error_code, 3, "UNKNOWN_TOPIC_OR_PARTITION");
    broker.stop().await;
}

#[tokio::test]
async fn fetch_honours_partition_max_bytes_but_always_returns_one_batch() {
    let broker = TestBroker::start().await.expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    client.create_topic("limits", 1).await;
    let batches: Vec<Bytes> = (0..3)
        .map(|i| batch(&[(None, &"x".repeat(100 + i))], 1000))
        .collect();
    for b in &batches {
        client.produce("limits", 0, b.clone()).await;
    }
    // A limit smaller than one batch still returns the first batch, whole.
    let mut req = wire::fetch_request("limits", 0, 0, 0, 1);
    req.topics[0].partitions[0].partition_max_bytes = 10;
    let resp: FetchResponse = client.call(ApiKey::Fetch, 12, &req).await;
    let records = resp.responses[0].partitions[0]
        .records
        .clone()
        .unwrap_or_default();
    assert_eq!(records, with_base_offset(&batches[0], 0));
    // A limit of two batches returns two.
    let two = batches[0].len() + batches[1].len();
    req.topics[0].partitions[0].partition_max_bytes = two as i32;
    let resp: FetchResponse = client.call(ApiKey::Fetch, 12, &req).await;
    let records = resp.responses[0].partitions[0]
        .records
        .clone()
        .unwrap_or_default();
    assert_eq!(decode_records(records).len(), 2);
    broker.stop().await;
}

#[tokio::test]
async fn list_offsets_earliest_latest_and_by_timestamp() {
    let broker = TestBroker::start().await.expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    client.create_topic("times", 1).await;
    client
        .produce(
            "times",
            0,
            batch(&[(None, "a"), (None, "b"), (None, "c")], 1000),
        )
        .await;
    client
        .produce("times", 0, batch(&[(None, "d"), (None, "e")], 2000))
        .await;
    for version in [1i16, 6] {
        let resp: ListOffsetsResponse = client
            .call(
                ApiKey::ListOffsets,
                version,
                &wire::list_offsets("times", &[-2, -1, 1500, 2001, 999, 5000]),
            )
            .await;
        let got: Vec<(i16, i64, i64)> = resp.topics[0]
            .partitions
            .iter()
            .map(|p| (p.error_code, p.offset, p.timestamp))
            .collect();
        assert_eq!(
            got,
            [
                (0, 0, -1),   // earliest
                (0, 5, -1),   // latest: the next offset
                (0, 3, 2000), // first record at or after 1500
                (0, 4, 2001),
                (0, 0, 1000),
                (0, -1, -1), // nothing that new
            ],
            "v{version}"
        );
    }
    let resp: ListOffsetsResponse = client
        .call(
            ApiKey::ListOffsets,
            6,
            &wire::list_offsets("absent-topic", &[-1]),
        )
        .await;
    assert_eq!(resp.topics[0].partitions[0].error_code, 3);
    broker.stop().await;
}

#[tokio::test]
async fn acks_zero_gets_no_response_but_is_stored() {
    let broker = TestBroker::start().await.expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    client.create_topic("fire", 1).await;
    let b = batch(&[(None, "forget me not")], 1000);
    client
        .send(
            ApiKey::Produce,
            9,
            &wire::produce_request("fire", 0, b.clone(), 0),
        )
        .await;
    // The next response on this connection answers the next request.
    let sent = client
        .send(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    let (got, _): (i32, ApiVersionsResponse) = client.recv(ApiKey::ApiVersions, 3).await;
    assert_eq!(got, sent, "the acks=0 produce got no response");
    let fetched = client.fetch("fire", 0, 0, 0, 1).await;
    assert_eq!(
        fetched.records.as_deref(),
        Some(&with_base_offset(&b, 0)[..])
    );
    broker.stop().await;
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_request_order() {
    let broker = TestBroker::start().await.expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    client.create_topic("pipe", 1).await;
    // Twenty requests of four kinds in one write, before reading anything.
    let mut wire = Vec::new();
    let mut expected = Vec::new();
    for i in 0..20 {
        let (api, version, (id, body)) = match i % 4 {
            0 => (
                ApiKey::Produce,
                9,
                client.encode_request(
                    ApiKey::Produce,
                    9,
                    &wire::produce_request("pipe", 0, batch(&[(None, "p")], 1000), 1),
                ),
            ),
            1 => (
                ApiKey::Fetch,
                12,
                client.encode_request(ApiKey::Fetch, 12, &wire::fetch_request("pipe", 0, 0, 0, 1)),
            ),
            2 => (
                ApiKey::Metadata,
                12,
                client.encode_request(ApiKey::Metadata, 12, &wire::metadata_for(&["pipe"], true)),
            ),
            _ => (
                ApiKey::ApiVersions,
                3,
                client.encode_request(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default()),
            ),
        };
        wire.extend_from_slice(&(body.len() as i32).to_be_bytes());
        wire.extend_from_slice(&body);
        expected.push((api, version, id));
    }
    client.send_raw(&wire).await;
    for (i, (api, version, id)) in expected.into_iter().enumerate() {
        let got = match api {
            ApiKey::Produce => {
                let (got, resp): (i32, ProduceResponse) = client.recv(api, version).await;
                // Produces are answered in order, so offsets follow the request order.
                let p = &resp.responses[0].partition_responses[0];
                assert_eq!(p.base_offset, (i / 4) as i64);
                got
            }
            ApiKey::Fetch => client.recv::<FetchResponse>(api, version).await.0,
            ApiKey::Metadata => client.recv::<MetadataResponse>(api, version).await.0,
            _ => client.recv::<ApiVersionsResponse>(api, version).await.0,
        };
        assert_eq!(got, id, "response {i} answers request {i}");
    }
    broker.stop().await;
}

#[tokio::test]
async fn corrupt_batches_are_rejected_and_nothing_is_stored() {
    let broker = TestBroker::builder()
        .config(|c| c.log.max_message_bytes = 4096)
        .start()
        .await
        .expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    client.create_topic("strict", 1).await;
    let good = batch(&[(Some("k"), "v")], 1000);

    let mut bad_crc = good.to_vec();
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 0xff; // inside the CRC-covered records
    let mut bad_magic = good.to_vec();
    bad_magic[16] = 1;
    let truncated = good.slice(0..good.len() - 3);
    let big = batch(&[(None, &"x".repeat(8000))], 1000);
    // A good batch followed by a bad one: the whole partition's data is refused.
    let mut good_then_bad = good.to_vec();
    good_then_bad.extend_from_slice(&bad_crc);

    let mut magic_3 = good.to_vec();
    magic_3[16] = 3;
    let mut bad_length = good.to_vec();
    bad_length[8..12].copy_from_slice(&13i32.to_be_bytes());

    // Kafka's codes: its record reader (`ByteBufferLogInputStream`) finds no whole batch
    // in a truncated one, and two in "good then bad", which `ProduceRequest.validateRecords`
    // refuses as INVALID_RECORD (87), as it does magic 1; a magic above 2, a batchLength
    // below 14 and a bad CRC are CORRUPT_MESSAGE (2).
    for (what, records, code) in [
        ("bad CRC", Bytes::from(bad_crc), 2),
        ("bad magic", Bytes::from(bad_magic), 87),
        ("magic 3", Bytes::from(magic_3), 2),
        ("batchLength 13", Bytes::from(bad_length), 2),
        ("truncated", truncated, 87),
        ("good then bad", Bytes::from(good_then_bad), 87),
        ("too large", big, 10),
        ("empty", Bytes::new(), 87),
    ] {
        let p = client.produce("strict", 0, records).await;
        assert_eq!(p.error_code, code, "{what}: {p:?}");
        assert_eq!(p.base_offset, -1, "{what}");
    }
    let p = client.produce("strict", 7, good.clone()).await;
    assert_eq!(
        p.error_code, 3,
        "no partition 7: UNKNOWN_TOPIC_OR_PARTITION"
    );

    let fetched = client.fetch("strict", 0, 0, 0, 1).await;
    assert_eq!(fetched.high_watermark, 0, "nothing was stored");
    assert_eq!(fetched.records, Some(Bytes::new()));
    // The partition still accepts good data afterwards.
    let p = client.produce("strict", 0, good).await;
    assert_eq!((p.error_code, p.base_offset), (0, 0));
    broker.stop().await;
}

/// Kafka takes exactly one batch per partition from Produce v3 on
/// (`ProduceRequest.validateRecords`): two are INVALID_RECORD, with Kafka's message, and
/// neither is stored; the partition's next good batch gets offset 0.
#[tokio::test]
async fn several_batches_for_one_partition_are_refused_as_kafka_does() {
    let broker = TestBroker::start().await.expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    client.create_topic("multi", 1).await;
    let a = batch(&[(None, "a1"), (None, "a2")], 1000);
    let b = batch(&[(None, "b1")], 1000);
    let mut both = a.to_vec();
    both.extend_from_slice(&b);
    let p = client.produce("multi", 0, Bytes::from(both)).await;
    assert_eq!((p.error_code, p.base_offset), (87, -1), "{p:?}");
    assert_eq!(
        p.error_message.as_deref(),
        Some("Produce requests with version 9 are only allowed to contain exactly one record batch per partition")
    );
    let fetched = client.fetch("multi", 0, 0, 0, 1).await;
    assert_eq!(fetched.high_watermark, 0, "nothing was stored");
    let p = client.produce("multi", 0, b.clone()).await;
    assert_eq!((p.error_code, p.base_offset), (0, 0));
    let fetched = client.fetch("multi", 0, 0, 0, 1).await;
    assert_eq!(
        fetched.records.as_deref(),
        Some(&with_base_offset(&b, 0)[..])
    );
    broker.stop().await;
}

/// With acks=0 there is no response to carry an error, so Kafka closes the
/// connection; the producer then refreshes its metadata.
#[tokio::test]
async fn a_failed_acks_zero_produce_closes_the_connection() {
    let broker = TestBroker::start().await.expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    client.create_topic("zero", 1).await;
    let mut corrupt = batch(&[(None, "x")], 1000).to_vec();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 1;
    client
        .send(
            ApiKey::Produce,
            9,
            &wire::produce_request("zero", 0, Bytes::from(corrupt), 0),
        )
        .await;
    assert!(client.is_closed_by_broker().await);
    let mut other = Client::connect(broker.addr()).await;
    let fetched = other.fetch("zero", 0, 0, 0, 1).await;
    assert_eq!(fetched.high_watermark, 0, "nothing stored");
    broker.stop().await;
}

/// The response-wide max_bytes: the first partition with data gets its first batch
/// even when it alone is over the limit; the next partitions wait for the next fetch.
#[tokio::test]
async fn fetch_max_bytes_spans_partitions() {
    let broker = TestBroker::start().await.expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    client.create_topic("wide", 2).await;
    let big = batch(&[(None, &"y".repeat(500))], 1000);
    client.produce("wide", 0, big.clone()).await;
    client.produce("wide", 1, big.clone()).await;
    let mut req = wire::fetch_request("wide", 0, 0, 0, 1);
    let mut second = req.topics[0].partitions[0].clone();
    second.partition = 1;
    req.topics[0].partitions.push(second);
    req.max_bytes = 100;
    let resp: FetchResponse = client.call(ApiKey::Fetch, 12, &req).await;
    let parts = &resp.responses[0].partitions;
    assert_eq!(
        parts[0].records.as_deref(),
        Some(&with_base_offset(&big, 0)[..])
    );
    assert_eq!(
        parts[1].records,
        Some(Bytes::new()),
        "over the budget: next time"
    );
    assert_eq!(
        parts[1].high_watermark, 1,
        "but its high watermark is reported"
    );
    broker.stop().await;
}
