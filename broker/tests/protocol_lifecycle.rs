//! Black-box protocol tests of the broker's life: graceful shutdown (with a fetch
//! in flight), reopening the same data dir, periodic retention.

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, FetchResponse, ListOffsetsResponse};
use minikafka_testkit::wire::{self, batch, with_base_offset, Client};
use minikafka_testkit::TestBroker;

#[tokio::test]
async fn graceful_shutdown_then_reopen_keeps_the_data() {
    let broker = TestBroker::start().await.expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    client.create_topic("durable", 2).await;
    let a = batch(&[(Some("a"), "kept")], 1000);
    let b = batch(&[(Some("b"), "also kept")], 1000);
    client.produce("durable", 0, a.clone()).await;
    client.produce("durable", 1, b.clone()).await;
    client.produce("durable", 1, a.clone()).await;
    drop(client);
    let dir = broker.stop().await;

    let broker = TestBroker::builder()
        .data_dir(dir)
        .start()
        .await
        .expect("restart on the same data dir");
    let mut client = Client::connect(broker.addr()).await;
    let p0 = client.fetch("durable", 0, 0, 0, 1).await;
    assert_eq!(p0.records.as_deref(), Some(&with_base_offset(&a, 0)[..]));
    let p1 = client.fetch("durable", 1, 0, 0, 1).await;
    let mut expected = with_base_offset(&b, 0);
    expected.extend(with_base_offset(&a, 1));
    assert_eq!(p1.records.as_deref(), Some(&expected[..]));
    // New appends continue after the old ones.
    let p = client.produce("durable", 1, b).await;
    assert_eq!(p.base_offset, 2);
    broker.stop().await;
}

/// A fetch parked in a long poll when shutdown starts is answered, not dropped.
#[tokio::test]
async fn shutdown_answers_a_parked_fetch() {
    let broker = TestBroker::start().await.expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    client.create_topic("parked", 1).await;
    let sent = client
        .send(
            ApiKey::Fetch,
            12,
            &wire::fetch_request("parked", 0, 0, 600_000, 1),
        )
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let stopping = tokio::spawn(broker.stop());
    let (got, resp): (i32, FetchResponse) = client.recv(ApiKey::Fetch, 12).await;
    assert_eq!(got, sent);
    assert_eq!(resp.responses[0].partitions[0].records, Some(Bytes::new()));
    assert!(
        client.is_closed_by_broker().await,
        "closed after the answer"
    );
    stopping.await.expect("shutdown task");
}

/// The server runs retention every `retention_check_interval`: old segments go,
/// the log start moves up, and fetching below it is OFFSET_OUT_OF_RANGE.
#[tokio::test]
async fn retention_runs_periodically() {
    let broker = TestBroker::builder()
        .config(|c| {
            c.retention_check_interval = std::time::Duration::from_millis(20);
            c.log.segment_bytes = 300;
            c.log.retention_bytes = Some(300);
        })
        .start()
        .await
        .expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    client.create_topic("short", 1).await;
    for i in 0..20 {
        let p = client
            .produce(
                "short",
                0,
                batch(&[(None, &format!("record {i:>40}"))], 1000),
            )
            .await;
        assert_eq!(p.error_code, 0);
    }
    // Wait (bounded) for a retention pass to have deleted something.
    let mut earliest = 0;
    for _ in 0..500 {
        let resp: ListOffsetsResponse = client
            .call(ApiKey::ListOffsets, 6, &wire::list_offsets("short", &[-2]))
            .await;
        earliest = resp.topics[0].partitions[0].offset;
        if earliest > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(earliest > 0, "retention never ran");
    let fetched = client.fetch("short", 0, 0, 0, 1).await;
    assert_eq!(
        fetched.error_code, 1,
        "below the log start: OFFSET_OUT_OF_RANGE"
    );
    assert!(fetched.log_start_offset >= earliest);
    broker.stop().await;
}
