//! `message.timestamp.type=LogAppendTime` on a topic, end to end on a real broker: the
//! broker stamps each batch with its append time (attribute bit 3 and maxTimestamp,
//! the CRC recomputed), Produce answers that time as `log_append_time_ms`, consumers
//! see it as every record's timestamp, and ListOffsets by time finds records by it.
//! A CreateTime topic (the default) keeps the producer's timestamps and answers -1.
// Tests may unwrap; clippy's allow-unwrap-in-tests (.clippy.toml) covers #[test] fns only.
#![allow(clippy::unwrap_used)]

use std::time::{SystemTime, UNIX_EPOCH};

use kafka_protocol::messages::{ApiKey, ListOffsetsResponse};
use minikafka_broker::log::record::records;
use minikafka_broker::log::record_batch::{check_frame, split_batches};
use minikafka_testkit::wire::{self, Client};
use minikafka_testkit::TestBroker;

fn now_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

#[tokio::test]
async fn the_broker_stamps_batches_of_a_log_append_time_topic() {
    let broker = TestBroker::start().await.unwrap();
    let mut c = Client::connect(broker.addr()).await;
    let ts_type = |t| [("message.timestamp.type", t)];
    let stamped = ts_type("LogAppendTime");
    assert_eq!(c.create_topic_with("stamped", 1, &stamped).await, 0);
    assert_eq!(
        c.create_topic_with("created", 1, &ts_type("CreateTime"))
            .await,
        0
    );
    assert_eq!(
        c.create_topic_with("bad", 1, &ts_type("WallClock")).await,
        40,
        "INVALID_CONFIG"
    );

    // Records from 1970, as a producer with a broken clock would send them.
    let sent = || wire::batch(&[(Some("a"), "1"), (Some("b"), "2"), (None, "3")], 1_000);
    let before = now_ms();
    let stamped = c.produce("stamped", 0, sent()).await;
    let after = now_ms();
    assert_eq!(stamped.error_code, 0);
    let t = stamped.log_append_time_ms;
    assert!((before..=after).contains(&t), "log_append_time_ms {t}");
    let created = c.produce("created", 0, sent()).await;
    assert_eq!((created.error_code, created.log_append_time_ms), (0, -1));

    // The stored batch: bit 3 set, maxTimestamp = the append time, the CRC still valid;
    // every record reads with that timestamp.
    let fetched = c.fetch("stamped", 0, 0, 0, 1).await;
    let bytes = fetched.records.unwrap();
    let batch = split_batches(&bytes).next().unwrap();
    let h = check_frame(batch).expect("the recomputed CRC checks out");
    assert!(h.is_log_append_time());
    assert_eq!(h.max_timestamp, t);
    assert_eq!(
        h.base_timestamp, 1_000,
        "the producer's base timestamp stays"
    );
    let stamps: Vec<i64> = records(batch)
        .unwrap()
        .iter()
        .map(|r| r.timestamp)
        .collect();
    assert_eq!(stamps, [t, t, t]);

    // The CreateTime topic keeps the producer's timestamps.
    let fetched = c.fetch("created", 0, 0, 0, 1).await;
    let bytes = fetched.records.unwrap();
    let batch = split_batches(&bytes).next().unwrap();
    let h = check_frame(batch).unwrap();
    assert!(!h.is_log_append_time());
    let stamps: Vec<i64> = records(batch)
        .unwrap()
        .iter()
        .map(|r| r.timestamp)
        .collect();
    assert_eq!(stamps, [1_000, 1_001, 1_002]);

    // ListOffsets by time goes by the append time: nothing is as new as after + 1 s,
    // and offset 0 is the first at or after the append time (and after 1970).
    for (topic, ts, want) in [
        ("stamped", t, (0, t)),
        ("stamped", 5_000, (0, t)),
        ("stamped", after + 1_000, (-1, -1)),
        ("created", 1_001, (1, 1_001)),
    ] {
        let resp: ListOffsetsResponse = c
            .call(ApiKey::ListOffsets, 5, &wire::list_offsets(topic, &[ts]))
            .await;
        let p = &resp.topics[0].partitions[0];
        assert_eq!((p.offset, p.timestamp), want, "{topic} at {ts}");
    }
    drop(c);
    broker.stop().await;
}
