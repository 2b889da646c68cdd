//! `BrokerHandle::clean_now`, the embedding hook for the log cleaner: a test (or the
//! tour) runs a cleaning pass when it wants instead of waiting for the timer
//! (`--log-cleaner-backoff-ms`, set to an hour here so only the test cleans).
//!
//! What it pins down, on a compacted topic with small segments, produced to and read
//! with our client:
//! - `clean_now` returns the pass's report for the partition: cleaned up to the active
//!   segment's base, records before → after;
//! - a reader from the earliest offset then gets only the latest record of each key
//!   below that offset, each at its original offset (gaps between them), the tombstone
//!   included, and everything in the active segment;
//! - the snapshot says so: `cleanup_policy`, `cleaned` on the segments below the
//!   checkpoint (never on the active one), `last_clean`, a `segment-cleaned` event;
//! - after the delete horizon (`delete.retention.ms`), a second `clean_now` removes the
//!   tombstone; a pass with nothing to do returns no report.
// Tests may unwrap; clippy's allow-unwrap-in-tests (.clippy.toml) covers #[test] fns only.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use minikafka_broker::events::EventKind;
use minikafka_broker::snapshot::{PartitionView, Snapshot};
use minikafka_testkit::compaction::{self, after_cleaning, BALANCES};
use minikafka_testkit::TestBroker;

const TOPIC: &str = "accounts";
const DELETE_RETENTION_MS: i64 = 300;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn partition(snapshot: &Snapshot) -> PartitionView {
    let topic = snapshot.topics.iter().find(|t| t.name == TOPIC).unwrap();
    topic.partitions[0].clone()
}

#[tokio::test]
async fn clean_now_keeps_the_latest_value_per_key_at_its_offset() {
    let broker = TestBroker::builder()
        .config(|c| c.log_cleaner_backoff = Duration::from_secs(3600))
        .start()
        .await
        .unwrap();
    let bootstrap = broker.bootstrap();
    let handle = broker.handle().unwrap();
    // About two of these one-record batches fit in a segment.
    compaction::create(
        &bootstrap,
        TOPIC,
        &[
            ("segment.bytes", "200"),
            ("min.cleanable.dirty.ratio", "0.01"),
            ("delete.retention.ms", &DELETE_RETENTION_MS.to_string()),
        ],
    )
    .await;
    let produced = compaction::produce(&bootstrap, TOPIC, &BALANCES).await;
    let offsets: Vec<i64> = produced.iter().map(|(o, _, _)| *o).collect();
    assert_eq!(offsets, (0..12).collect::<Vec<_>>());
    let before = partition(&handle.snapshot());
    let segments = &before.segments;
    assert!(segments.len() > 3, "the log rolled: {segments:?}");
    assert!(segments.iter().all(|s| !s.cleaned), "{segments:?}");
    let active_base = segments.last().unwrap().base_offset;
    let tombstone = compaction::BALANCES_TOMBSTONE;
    assert!(tombstone < active_base, "{segments:?}");

    // The first pass: everything below the active segment.
    let reports = handle.clean_now().await.unwrap();
    let report = &reports["accounts-0"];
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(report.cleaned_up_to, active_base);
    assert_eq!(report.first_dirty, 0);
    let want = after_cleaning(&produced, active_base, false);
    let kept_below = want.iter().filter(|(o, _, _)| *o < active_base).count() as u64;
    assert_eq!(report.stats.records_before, active_base as u64);
    assert_eq!(report.stats.records_after, kept_below);
    assert_eq!(report.stats.tombstones_removed, 0);
    let horizon = report.stats.next_horizon.expect("a tombstone was kept");

    // A reader from the beginning: the latest value per key, at its original offset.
    let got = compaction::read_all(&bootstrap, TOPIC, 12).await;
    assert_eq!(got, want);
    assert!(
        got.contains(&(tombstone, "carol".to_string(), None)),
        "{got:?}"
    );
    assert!(
        !got.iter().any(|(o, _, _)| *o == 0),
        "offset 0 was replaced: {got:?}"
    );

    // The snapshot shows it.
    let after = handle.snapshot();
    let p = &partition(&after);
    assert_eq!(p.cleanup_policy, "compact");
    assert_eq!((p.log_start_offset, p.log_end_offset), (0, 12));
    let (active, sealed) = p.segments.split_last().unwrap();
    assert!(!active.cleaned && active.base_offset == active_base);
    assert!(sealed.iter().all(|s| s.cleaned), "{:?}", p.segments);
    let last = p.last_clean.as_ref().expect("last_clean");
    assert_eq!(last.cleaned_up_to, active_base);
    assert_eq!(last.records_after, kept_below);
    assert_eq!(last.next_delete_horizon_ms, Some(horizon));
    assert!(last.segments_before >= last.segments_after);
    assert!(after
        .events
        .iter()
        .any(|e| e.kind == EventKind::SegmentCleaned && e.text.contains("accounts-0")));

    // Nothing new to clean, the horizon not yet passed (unless this machine is slow):
    // no report.
    if now_ms() + 50 < horizon {
        assert!(handle.clean_now().await.unwrap().is_empty());
    }

    // After the delete horizon, a second pass removes the tombstone.
    let wait = (horizon - now_ms() + 20).max(0) as u64;
    tokio::time::sleep(Duration::from_millis(wait)).await;
    let reports = handle.clean_now().await.unwrap();
    assert_eq!(
        reports["accounts-0"].stats.tombstones_removed, 1,
        "{reports:?}"
    );
    let got = compaction::read_all(&bootstrap, TOPIC, 12).await;
    assert_eq!(got, after_cleaning(&produced, active_base, true));
    assert!(!got.iter().any(|(_, k, _)| k == "carol"), "{got:?}");

    broker.stop().await;
}
