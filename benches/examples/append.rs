//! A fixed append workload for profilers: `count` (default 2,000) appends of one
//! 500 × 100 B batch to a fresh partition log, as the `append/batched_100B` bench does,
//! but a fixed number of times, so `valgrind --tool=callgrind` counts compare run to run.
//!
//! Run: `cargo build --profile bench -p minikafka-benches --example append`, then
//! `valgrind --tool=callgrind target/release/examples/append 2000` (or `perf record -g`).
//! Instructions per append: `PartitionLog::append`'s inclusive count ÷ `count`.

use minikafka_benches::{batch, temp_log};

fn main() {
    let count: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let (_dir, log) = temp_log();
    let buf = batch(500, 100);
    for _ in 0..count {
        log.append(&buf).expect("append");
    }
    println!(
        "appended {count} batches, log end offset {}",
        log.log_end_offset()
    );
}
