//! Criterion benches of the storage engine: batched and single-record appends
//! (no fsync), and reads. Run: `cargo bench -p minikafka-benches`.
//!
//! Each append (`PartitionLog::append`) frames the bytes once
//! (`record_batch::split_exact`), validates the batch once (header, CRC-32C over every
//! byte, the record length prefixes), writes the base offset in place and does one
//! `pwrite`.
//!
//! Where it sits: bench → partition log → segment, below `Partition::append`/`read`.
//!
//! What a change must not break:
//! - Appends measure the append path, not the disk: `temp_log` keeps the default
//!   `FsyncPolicy::Never`, and each sample gets a fresh log.
//! - Throughput comes from real sizes: the appended batch, and what a read at offset 0
//!   returns.
//! - Reads stride through the log (by 7919 offsets) instead of rereading one batch.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use minikafka_benches::{batch, temp_log};

fn append(c: &mut Criterion) {
    let mut g = c.benchmark_group("append");
    for (name, records, value_len) in [
        ("batched_100B", 500, 100),
        ("batched_1KiB", 500, 1024),
        ("single_100B", 1, 100),
    ] {
        let template = batch(records, value_len);
        g.throughput(Throughput::ElementsAndBytes {
            elements: records as u64,
            bytes: template.len() as u64,
        });
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter_custom(|iters| {
                // A fresh log per sample, so the files never grow past one sample.
                let (_dir, log) = temp_log();
                let buf = template.clone();
                let start = Instant::now();
                for _ in 0..iters {
                    log.append(&buf).expect("append");
                }
                start.elapsed()
            })
        });
    }
    g.finish();
}

fn read(c: &mut Criterion) {
    let mut g = c.benchmark_group("read");
    let (_dir, log) = temp_log();
    let b = batch(500, 100);
    for _ in 0..200 {
        log.append(&b).expect("append");
    }
    let end = log.log_end_offset();
    let one = log.read(0, 1).expect("read").len() as u64;
    for (name, max_bytes, batches) in [("one_batch", 1usize, 1u64), ("1MiB", 1 << 20, 0)] {
        let got = log.read(0, max_bytes).expect("read").len() as u64;
        let n = if batches == 0 { got / one } else { batches };
        g.throughput(Throughput::ElementsAndBytes {
            elements: n * 500,
            bytes: got,
        });
        g.bench_function(BenchmarkId::from_parameter(name), |bench| {
            let mut offset = 0;
            bench.iter(|| {
                offset = (offset + 7919) % end;
                log.read(offset, max_bytes).expect("read")
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1));
    targets = append, read
}
criterion_main!(benches);
