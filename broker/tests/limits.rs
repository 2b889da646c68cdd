//! Limits and misbehaving clients: what one connection may hold, and that a client that
//! pipelines, stops reading, dribbles or idles never holds the broker, while the others
//! are served; and 1,000 connections at once. (Garbage, oversized frames and the
//! connection limits are in `bad_input.rs`.)
//!
//! No timing is asserted: each test waits, bounded by the kit's `WAIT`, for something
//! that must happen (a close, an answer), or checks that a stuck client's writes do not
//! go through while others' do.

use std::time::Duration;

use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, FetchResponse};
use minikafka_testkit::wire::{self, Client};
use minikafka_testkit::{within, TestBroker};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A produce and a fetch on a fresh connection: the broker still serves.
async fn still_served(broker: &TestBroker, topic: &str) {
    let mut client = Client::connect(broker.addr()).await;
    let produced = client
        .produce(topic, 0, wire::batch(&[(Some("k"), "still here")], 1))
        .await;
    assert_eq!(produced.error_code, 0);
    let fetched = client.fetch(topic, 0, produced.base_offset, 0, 1).await;
    let records = wire::decode_records(fetched.records.expect("records"));
    assert!(records.iter().any(|(_, _, v)| v == "still here"));
}

#[tokio::test]
async fn the_broker_caps_a_fetch_at_its_fetch_max_bytes_but_sends_a_big_first_batch_whole() {
    let broker = TestBroker::builder()
        .config(|c| c.fetch_max_bytes = 64 * 1024)
        .start()
        .await
        .expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    client.create_topic("capped", 1).await;
    // 20 batches of about 10 KiB: the client asks for 50 MiB, the broker sends 64 KiB.
    let value = "x".repeat(10 * 1024);
    for i in 0..20 {
        let p = client
            .produce("capped", 0, wire::batch(&[(None, value.as_str())], i))
            .await;
        assert_eq!(p.error_code, 0);
    }
    let part = client.fetch("capped", 0, 0, 0, 1).await;
    let got = part.records.expect("records").len();
    assert!(got > 0 && got <= 64 * 1024, "{got} bytes");

    // A single batch bigger than the cap still goes out whole (KIP-74).
    let big = "y".repeat(200 * 1024);
    let p = client
        .produce("capped", 0, wire::batch(&[(None, big.as_str())], 99))
        .await;
    assert_eq!(p.error_code, 0);
    let part = client.fetch("capped", 0, p.base_offset, 0, 1).await;
    let records = wire::decode_records(part.records.expect("records"));
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].2.len(), 200 * 1024);
    broker.stop().await;
}

#[tokio::test]
async fn pipelined_requests_are_answered_one_at_a_time_in_order() {
    let broker = TestBroker::start().await.expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    // 200 requests in one write, before reading anything.
    let mut bytes = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..200 {
        let (id, body) =
            client.encode_request(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
        bytes.extend_from_slice(&(body.len() as i32).to_be_bytes());
        bytes.extend_from_slice(&body);
        ids.push(id);
    }
    client.send_raw(&bytes).await;
    for want in ids {
        let (got, resp): (i32, ApiVersionsResponse) = client.recv(ApiKey::ApiVersions, 3).await;
        assert_eq!(got, want, "responses leave in request order");
        assert_eq!(resp.error_code, 0);
    }
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_holds_only_itself_and_is_closed_when_idle() {
    let broker = TestBroker::builder()
        .config(|c| c.connections_max_idle = Duration::from_secs(2))
        .start()
        .await
        .expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    client.create_topic("big", 1).await;
    let value = "z".repeat(512 * 1024);
    for i in 0..4 {
        let p = client
            .produce("big", 0, wire::batch(&[(None, value.as_str())], i))
            .await;
        assert_eq!(p.error_code, 0);
    }

    // The reader that never reads: it pipelines Fetch requests of 2 MiB answers.
    let mut stuck = Client::connect(broker.addr()).await;
    let (_, one) = stuck.encode_request(ApiKey::Fetch, 12, &wire::fetch_request("big", 0, 0, 0, 1));
    let mut frame = (one.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&one);
    let burst: Vec<u8> = frame
        .iter()
        .copied()
        .cycle()
        .take(frame.len() * 1000)
        .collect();
    // Its answers fill its socket, the broker stops reading its requests, and then its
    // own writes stop going through: nothing piles up inside the broker. (A broker that
    // buffered without bound would take them all at once.)
    let mut blocked = false;
    for _ in 0..200 {
        match tokio::time::timeout(Duration::from_secs(1), stuck.stream.write_all(&burst)).await {
            Ok(Ok(())) => continue,
            Ok(Err(_)) => break, // already closed by the broker: also bounded
            Err(_) => {
                blocked = true;
                break;
            }
        }
    }
    assert!(blocked, "the stuck client's requests kept being taken");

    // Meanwhile everyone else is served.
    still_served(&broker, "big").await;

    // And the stuck connection is closed once it has not read for the idle time. (Not
    // detected by reading: that would unstick it.) The broker's close resets the
    // connection, which fails the write still waiting for room.
    let closed = within("the stuck connection to be closed", async {
        loop {
            if stuck.stream.write_all(&frame).await.is_err() {
                return true;
            }
        }
    })
    .await;
    assert!(closed);
    broker.stop().await;
}

#[tokio::test]
async fn a_client_dribbling_a_frame_a_byte_at_a_time_is_closed_at_the_idle_time() {
    let broker = TestBroker::builder()
        .config(|c| c.connections_max_idle = Duration::from_millis(500))
        .start()
        .await
        .expect("broker starts");
    // A frame of 1,000 bytes, sent one byte every 50 ms: it would take 50 s. Each byte
    // resets nothing: a frame must be complete within the idle time.
    let mut dribbler = Client::connect(broker.addr()).await;
    let mut frame = 996i32.to_be_bytes().to_vec();
    frame.extend(std::iter::repeat_n(0u8, 996));
    let closed = within("the dribbler to be closed", async {
        for byte in frame {
            if dribbler.stream.write_all(&[byte]).await.is_err() {
                return true;
            }
            let mut one = [0u8; 1];
            match tokio::time::timeout(Duration::from_millis(50), dribbler.stream.read(&mut one))
                .await
            {
                Ok(Ok(0) | Err(_)) => return true,
                Ok(Ok(_)) => panic!("the broker answered half a frame"),
                Err(_) => {}
            }
        }
        false
    })
    .await;
    assert!(
        closed,
        "the dribbler finished its frame before the idle limit closed it"
    );
    let mut newcomer = Client::connect(broker.addr()).await;
    let resp: ApiVersionsResponse = newcomer
        .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    assert_eq!(resp.error_code, 0);
    broker.stop().await;
}

#[tokio::test]
async fn an_idle_connection_is_closed() {
    let broker = TestBroker::builder()
        .config(|c| c.connections_max_idle = Duration::from_millis(300))
        .start()
        .await
        .expect("broker starts");
    let mut idle = Client::connect(broker.addr()).await;
    // It works, then says nothing.
    let resp: ApiVersionsResponse = idle
        .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    assert_eq!(resp.error_code, 0);
    assert!(idle.is_closed_by_broker().await);
    broker.stop().await;
}

/// Lets this process open `want` files (sockets), raising the soft limit toward the hard.
fn allow_open_files(want: u64) {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current.is_some_and(|c| c >= want) {
        return;
    }
    let raised = Rlimit {
        current: Some(limit.maximum.map_or(want, |max| max.min(want.max(4096)))),
        maximum: limit.maximum,
    };
    setrlimit(Resource::Nofile, raised).expect("raise the open-files limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_connections_produce_and_consume_at_once() {
    const CLIENTS: usize = 1000;
    // 1,000 client sockets and 1,000 broker sockets in this one process.
    allow_open_files(4 * CLIENTS as u64 + 256);
    let broker = TestBroker::builder()
        .partitions(8)
        .config(|c| c.max_connections = 2 * CLIENTS)
        .start()
        .await
        .expect("broker starts");
    let mut admin = Client::connect(broker.addr()).await;
    admin.create_topic("crowd", 8).await;
    let addr = broker.addr();

    // Every client connects first, so all 1,000 are open at the same time.
    let clients = futures::future::join_all((0..CLIENTS).map(|_| Client::connect(addr))).await;
    let results = futures::future::join_all(clients.into_iter().enumerate().map(
        |(i, mut c)| async move {
            let partition = (i % 8) as i32;
            let value = format!("client {i}");
            let p = c
                .produce(
                    "crowd",
                    partition,
                    wire::batch(&[(None, value.as_str())], i as i64),
                )
                .await;
            assert_eq!(p.error_code, 0, "client {i}");
            // Read its own record back at the offset it was given.
            let req = wire::fetch_request("crowd", partition, p.base_offset, 0, 1);
            let resp: FetchResponse = c.call(ApiKey::Fetch, 12, &req).await;
            let records = wire::decode_records(
                resp.responses[0].partitions[0]
                    .records
                    .clone()
                    .unwrap_or_default(),
            );
            let mine = records
                .iter()
                .find(|(offset, _, _)| *offset == p.base_offset)
                .map(|(_, _, v)| v.clone());
            (partition, p.base_offset, mine == Some(value), c)
        },
    ))
    .await;

    let mut offsets: Vec<Vec<i64>> = vec![Vec::new(); 8];
    for (partition, offset, read_back, _) in &results {
        assert!(
            *read_back,
            "a record did not come back at {partition}/{offset}"
        );
        offsets[*partition as usize].push(*offset);
    }
    // Dense offsets per partition: every append got its own.
    for (p, mut o) in offsets.into_iter().enumerate() {
        o.sort_unstable();
        assert_eq!(o, (0..o.len() as i64).collect::<Vec<_>>(), "partition {p}");
    }
    let snapshot = broker.handle().expect("running").snapshot();
    let total: i64 = snapshot
        .topics
        .iter()
        .filter(|t| t.name == "crowd")
        .flat_map(|t| &t.partitions)
        .map(|p| p.log_end_offset)
        .sum();
    assert_eq!(total, CLIENTS as i64);
    drop(results);
    broker.stop().await;
}
