//! Criterion bench of recovery: opening a partition log that was not closed cleanly
//! (no `clean-shutdown` marker, no `recovery-point`), so `recovery::load` checks every
//! batch (framing, CRC-32C, offsets) and rebuilds both indexes. Reported in bytes/s of
//! `.log` scanned.
//!
//! Run: `cargo bench -p minikafka-benches --bench recovery` (a 256 MiB log). The 1 GiB
//! log of issue 14: `MINIKAFKA_RECOVERY_MIB=1024 cargo bench -p minikafka-benches
//! --bench recovery`.
//!
//! Where it sits: bench → `PartitionLog::open` → **recovery::load** → `scan` → segment
//! files. It runs from the page cache (the log was just written): it measures the CPU
//! cost of the scan, not the disk.
//!
//! What a change must not break:
//! - The log is built once per run (500 × 100 B batches in one segment), then "crashed":
//!   dropped without `close`, and its `recovery-point` removed, so every open scans all
//!   of it. An open changes nothing on disk but the rebuilt indexes, so every sample
//!   scans the same bytes.
//! - Each open is checked: it must find every record again.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use minikafka_benches::batch;
use minikafka_broker::config::LogConfig;
use minikafka_broker::log::PartitionLog;

/// A log of `mib` MiB in one segment, left as a crash leaves it.
fn crashed_log(mib: u64) -> (tempfile::TempDir, LogConfig, u64, i64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = LogConfig {
        segment_bytes: 2 << 30,
        ..LogConfig::default()
    };
    let log = PartitionLog::open(dir.path(), config.clone()).expect("open log");
    let template = batch(500, 100);
    let batches = (mib << 20) / template.len() as u64;
    for _ in 0..batches {
        log.append(&template).expect("append");
    }
    let end = log.log_end_offset();
    drop(log);
    for name in ["clean-shutdown", "recovery-point"] {
        let _ = std::fs::remove_file(dir.path().join(name));
    }
    (dir, config, batches * template.len() as u64, end)
}

fn recovery(c: &mut Criterion) {
    let mib = std::env::var("MINIKAFKA_RECOVERY_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let (dir, config, bytes, end) = crashed_log(mib);
    let mut g = c.benchmark_group("recovery");
    g.throughput(Throughput::Bytes(bytes));
    g.sample_size(10);
    g.bench_function(format!("unclean_{mib}MiB"), |b| {
        b.iter(|| {
            let log = PartitionLog::open(dir.path(), config.clone()).expect("recover");
            assert_eq!(log.log_end_offset(), end, "recovery lost records");
            log
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(10));
    targets = recovery
}
criterion_main!(benches);
