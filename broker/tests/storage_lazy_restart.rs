//! A real broker restarted cleanly over a partition of many segments: the restart opens
//! only the active segment (`log/lazy_segment.rs`), and Fetch from the first offset,
//! ListOffsets by timestamp into an old segment, and appends all work through the
//! wire, restart after restart.
// Tests may unwrap; clippy's allow-unwrap-in-tests (.clippy.toml) covers #[test] fns only.
#![allow(clippy::unwrap_used)]

use kafka_protocol::messages::{ApiKey, ListOffsetsResponse};
use minikafka_testkit::wire::{self, batch, decode_records, Client};
use minikafka_testkit::TestBroker;

/// Batch `i` holds three records with timestamps `base + 1000 * i` and the two after.
async fn produce(client: &mut Client, base: i64, batches: std::ops::Range<i64>) {
    for i in batches {
        let v = format!("value {i} {}", "x".repeat(100));
        let records = [(Some("a"), v.as_str()), (Some("b"), &v), (Some("c"), &v)];
        let r = client
            .produce("lazy", 0, batch(&records, base + 1_000 * i))
            .await;
        assert_eq!((r.error_code, r.base_offset), (0, 3 * i));
    }
}

/// Every record from offset 0 to `end`, fetched.
async fn fetch_all(client: &mut Client, end: i64) -> Vec<(i64, Option<String>, String)> {
    let mut out = Vec::new();
    while out.len() < end as usize {
        let p = client.fetch("lazy", 0, out.len() as i64, 0, 1).await;
        assert_eq!(p.error_code, 0);
        let got = decode_records(p.records.unwrap());
        assert!(!got.is_empty());
        // Whole batches come back: skip the records before the offset asked for.
        let from = out.len() as i64;
        out.extend(got.into_iter().filter(|r| r.0 >= from));
    }
    out
}

async fn offsets_for(client: &mut Client, timestamps: &[i64]) -> Vec<(i64, i64)> {
    let resp: ListOffsetsResponse = client
        .call(
            ApiKey::ListOffsets,
            6,
            &wire::list_offsets("lazy", timestamps),
        )
        .await;
    resp.topics[0]
        .partitions
        .iter()
        .map(|p| {
            assert_eq!(p.error_code, 0);
            (p.offset, p.timestamp)
        })
        .collect()
}

#[tokio::test]
async fn old_segments_answer_fetch_and_list_offsets_after_clean_restarts() {
    let mut broker = TestBroker::start().await.expect("broker starts");
    let mut client = Client::connect(broker.addr()).await;
    // About two batches per segment; nothing old enough for retention.
    let code = client
        .create_topic_with(
            "lazy",
            1,
            &[("segment.bytes", "1000"), ("retention.ms", "-1")],
        )
        .await;
    assert_eq!(code, 0);
    let base = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    produce(&mut client, base, 0..12).await;
    let before = fetch_all(&mut client, 36).await;
    let asked = [base + 1_001, base + 5_000, base + 11_002, -2, -1];
    let expected = [
        (4, base + 1_001),
        (15, base + 5_000),
        (35, base + 11_002),
        (0, -1),
        (36, -1),
    ];
    assert_eq!(offsets_for(&mut client, &asked).await, expected);
    let segments = std::fs::read_dir(broker.data_dir().join("lazy-0"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".log")
        })
        .count();
    assert!(segments >= 4, "{segments} segments");

    // ListOffsets first, then Fetch: each reaches segments not opened since the restart.
    broker.restart().await.unwrap();
    let mut client = Client::connect(broker.addr()).await;
    assert_eq!(offsets_for(&mut client, &asked).await, expected);
    assert_eq!(fetch_all(&mut client, 36).await, before);

    // Fetch first, then an append, then ListOffsets; and once more with nothing read.
    broker.restart().await.unwrap();
    let mut client = Client::connect(broker.addr()).await;
    assert_eq!(fetch_all(&mut client, 36).await, before);
    produce(&mut client, base, 12..14).await;
    assert_eq!(offsets_for(&mut client, &asked[..3]).await, expected[..3]);
    broker.restart().await.unwrap();
    broker.restart().await.unwrap();
    let mut client = Client::connect(broker.addr()).await;
    let after = fetch_all(&mut client, 42).await;
    assert_eq!(after[..36], before[..]);
    assert_eq!(
        offsets_for(&mut client, &[base + 13_000]).await,
        [(39, base + 13_000)]
    );
    broker.stop().await;
}
