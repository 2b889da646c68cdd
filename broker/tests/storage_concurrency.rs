//! Black-box test of the storage engine under concurrent producers, through the
//! registry as the server uses it: `Topics` → `Partition::append` with `fsync always`
//! (group commit), then a clean close and reopen.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use minikafka_broker::config::{FsyncPolicy, LogConfig};
use minikafka_broker::log::record::{build, records, NewRecord};
use minikafka_broker::log::record_batch::{split_batches, Compression};
use minikafka_broker::topics::Topics;

#[test]
fn concurrent_producers_get_dense_offsets_and_every_record_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let defaults = LogConfig {
        fsync: FsyncPolicy::Always,
        segment_bytes: 8 * 1024,
        ..LogConfig::default()
    };
    let topics = Arc::new(Topics::open(dir.path(), defaults.clone()).unwrap());
    topics.create("t", 1, BTreeMap::new()).unwrap();
    let producers: Vec<_> = (0..4)
        .map(|p| {
            let topics = topics.clone();
            std::thread::spawn(move || {
                let part = topics.partition("t", 0).unwrap();
                let mut seen = Vec::new();
                for i in 0..40 {
                    let rec = NewRecord {
                        key: Some(Bytes::from(format!("p{p}"))),
                        value: Some(Bytes::from(format!("{i}"))),
                        headers: vec![],
                        timestamp: 1,
                    };
                    let b = build(&[rec.clone(), rec], 1, Compression::None);
                    let info = part.append(&b).unwrap();
                    assert_eq!(info.last_offset, info.base_offset + 1);
                    seen.push(info.base_offset);
                }
                seen
            })
        })
        .collect();
    let mut bases: Vec<i64> = producers
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    bases.sort_unstable();
    assert_eq!(bases, (0..160).map(|i| i * 2).collect::<Vec<_>>());
    let part = topics.partition("t", 0).unwrap();
    assert_eq!(*part.subscribe().borrow(), 320);
    assert!(part.segments().len() > 1);
    topics.close().unwrap();
    drop((part, topics));

    let topics = Topics::open(dir.path(), defaults).unwrap();
    let log = topics.partition("t", 0).unwrap();
    let mut next = 0;
    let mut per_producer = BTreeMap::<String, Vec<i64>>::new();
    while next < log.log_end_offset() {
        let chunk = log.read(next, 64 * 1024).unwrap();
        for batch in split_batches(&chunk) {
            for r in records(batch).unwrap() {
                assert_eq!(r.offset, next);
                next += 1;
                let key = String::from_utf8(r.key.unwrap().to_vec()).unwrap();
                let v: i64 = std::str::from_utf8(&r.value.unwrap())
                    .unwrap()
                    .parse()
                    .unwrap();
                per_producer.entry(key).or_default().push(v);
            }
        }
    }
    assert_eq!(next, 320);
    for (_, values) in per_producer {
        // Each producer's records are in its own order, each twice.
        let expected: Vec<i64> = (0..40).flat_map(|i| [i, i]).collect();
        assert_eq!(values, expected);
    }
}
