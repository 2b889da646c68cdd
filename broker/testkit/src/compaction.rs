//! A compacted topic (`cleanup.policy=compact`) for the log-cleaner tests: created with
//! our client's admin, fed keyed updates and tombstones one record per batch (so small
//! segments roll between them), read back from the earliest offset, and what a cleaning
//! pass must leave of it.
//!
//! Where it sits: beside [`crate::wire`]; the tests that embed the broker call
//! `BrokerHandle::clean_now` between these helpers (`broker/tests/clean_now.rs`,
//! `broker/tests/dashboard.rs`).
//!
//! What must stay true: every record is produced on its own and awaited, so offsets are
//! 0, 1, 2, … in the order given; every wait is bounded by [`crate::WAIT`].

use std::collections::BTreeMap;

use minikafka_client::{
    Admin, ClientConfig, NewTopic, Offset, PartitionReader, Producer, ProducerConfig,
    ProducerRecord, ReaderConfig,
};

use crate::within;

/// Balances of five accounts, one update after another; `carol` closes (a tombstone,
/// offset [`BALANCES_TOMBSTONE`]), and more updates follow, so that with small segments
/// the tombstone lies in a sealed segment, not the active one.
pub const BALANCES: [(&str, Option<&str>); 12] = [
    ("alice", Some("100")),
    ("bob", Some("50")),
    ("carol", Some("75")),
    ("alice", Some("80")),
    ("bob", Some("65")),
    ("alice", Some("60")),
    ("carol", None),
    ("bob", Some("90")),
    ("dave", Some("10")),
    ("alice", Some("45")),
    ("dave", Some("20")),
    ("erin", Some("5")),
];
/// The offset of `carol`'s tombstone in [`BALANCES`].
pub const BALANCES_TOMBSTONE: i64 = 6;

/// One record as produced and as read back: offset, key, value (`None`: a tombstone).
pub type Kept = (i64, String, Option<String>);

/// Creates `topic` with one partition and `cleanup.policy=compact`, plus `configs`.
pub async fn create(bootstrap: &str, topic: &str, configs: &[(&str, &str)]) {
    let admin = Admin::new(ClientConfig::new(bootstrap))
        .await
        .expect("the admin client connects");
    let mut new = NewTopic::new(topic, 1).config("cleanup.policy", "compact");
    for (k, v) in configs {
        new = new.config(*k, *v);
    }
    within("CreateTopics", admin.create_topics(&[new]))
        .await
        .unwrap_or_else(|e| panic!("create {topic}: {e}"));
}

/// Produces `records` (key, value; `None` is a tombstone) one at a time to partition 0
/// and returns them with their offsets.
pub async fn produce(bootstrap: &str, topic: &str, records: &[(&str, Option<&str>)]) -> Vec<Kept> {
    let producer = Producer::new(ProducerConfig::new(bootstrap))
        .await
        .expect("the producer connects");
    let mut out = Vec::new();
    for (key, value) in records {
        let mut record = ProducerRecord::new(topic).partition(0).key(key.to_string());
        if let Some(v) = value {
            record = record.value(v.to_string());
        }
        let meta = within("a produce", producer.send(record))
            .await
            .unwrap_or_else(|e| panic!("produce {key}: {e}"));
        out.push((meta.offset, key.to_string(), value.map(str::to_string)));
    }
    producer.close().await;
    out
}

/// Every record of partition 0 from the earliest offset up to `end` (the log end offset),
/// read with our client's reader, gaps and all.
pub async fn read_all(bootstrap: &str, topic: &str, end: i64) -> Vec<Kept> {
    let mut reader =
        PartitionReader::assign(ReaderConfig::new(bootstrap), topic, 0, Offset::Earliest)
            .await
            .expect("the reader starts");
    let mut out = Vec::new();
    let text = |b: Option<bytes::Bytes>| b.map(|b| String::from_utf8_lossy(&b).into_owned());
    while out.last().is_none_or(|(o, _, _): &Kept| *o + 1 < end) {
        let r = within("a record", reader.next()).await.expect("a record");
        out.push((r.offset, text(r.key).unwrap_or_default(), text(r.value)));
    }
    out
}

/// What a log holding `produced` reads as after a pass that cleaned the offsets below
/// `up_to`: there, only the latest record of each key (a tombstone too, unless
/// `tombstones_gone`), at its own offset; from `up_to` on, everything.
pub fn after_cleaning(produced: &[Kept], up_to: i64, tombstones_gone: bool) -> Vec<Kept> {
    let mut latest = BTreeMap::new();
    for (offset, key, _) in produced.iter().filter(|(o, _, _)| *o < up_to) {
        latest.insert(key.clone(), *offset);
    }
    produced
        .iter()
        .filter(|(offset, key, value)| {
            *offset >= up_to || (latest[key] == *offset && !(tombstones_gone && value.is_none()))
        })
        .cloned()
        .collect()
}
