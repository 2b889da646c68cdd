//! `perf compare`: the same workloads, one after another on one machine, against several
//! servers and clients, printed as one table with ratios (issue 14; docs/benchmarks.md,
//! "Side by side").
//!
//! Where it sits: above `produce` and `consume`, whose `run` functions each cell calls as
//! library code. `target` names the columns, `workload` the rows and runs one cell,
//! `server` starts the server of a cell as a child process and reads its CPU, `idle` holds
//! the idle connections, `table` takes the medians and prints.
//!
//! What must stay true:
//! - Each cell (workload × target × run) gets a new server: a new broker process with its
//!   own temp data dir, or a new mock cluster process. Runs go round the workloads and
//!   targets in turn, so a slow spell on the machine spreads over every column.
//! - A cell that fails is shown as failed with its error, the others still run, and the
//!   command then exits with an error: a failure never looks like a figure.
//! - stdout holds only the table (or the JSON object); progress lines go to stderr.

pub mod idle;
pub mod server;
pub mod table;
pub mod target;
pub mod workload;

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};

pub use target::TargetId;
pub use workload::WorkloadId;

use super::cli::CompareArgs;
use table::{Cell, Report, Row};
use workload::{bytes, Sizes, CONSUME_RECORD_SIZE};

/// Runs `perf compare` and prints its table.
pub async fn run(args: CompareArgs) -> Result<()> {
    let sizes = Sizes::from_args(&args);
    let runs = args.runs.unwrap_or(if args.quick { 1 } else { 3 });
    let targets = chosen(&args.targets, &TargetId::ALL);
    let workloads = chosen(&args.workloads, &WorkloadId::ALL);
    let needs_broker = targets
        .iter()
        .any(|t| t.server() != server::Kind::Mock && t.unavailable().is_none());
    let broker_bin = if needs_broker {
        server::broker_bin(args.broker_bin)?
    } else {
        PathBuf::new()
    };

    let mut rows: Vec<Row> = workloads
        .iter()
        .map(|&w| Row {
            workload: w,
            label: w.label(&sizes),
            cells: targets.iter().map(|&t| Cell::new(t)).collect(),
        })
        .collect();
    let mut failures = 0;
    for run in 1..=runs {
        for row in &mut rows {
            for cell in &mut row.cells {
                if cell.target.unavailable().is_some() {
                    continue;
                }
                let (w, t) = (row.workload, cell.target);
                match workload::run(w, t, &sizes, &broker_bin).await {
                    Ok(m) => {
                        let cpu = m
                            .server_cpu_ms_per_million
                            .map_or("n/a".into(), |c| format!("{c:.0} ms/M"));
                        eprintln!(
                            "[run {run}/{runs}] {} on {}: {} records, {:.0} records/s, server cpu {cpu}",
                            w.name(),
                            t.label(),
                            m.records,
                            m.records_per_s
                        );
                        cell.runs.push(m);
                    }
                    Err(e) => {
                        eprintln!(
                            "[run {run}/{runs}] FAILED {} on {}: {e:#}",
                            w.name(),
                            t.label()
                        );
                        cell.errors.push(format!("{e:#}"));
                        failures += 1;
                    }
                }
            }
        }
    }
    for row in &mut rows {
        row.finish();
    }
    let report = Report {
        runs,
        notes: notes(&sizes, runs, &targets),
        sizes,
        targets,
        rows,
    };
    let text = if args.json {
        serde_json::to_string(&report)? + "\n"
    } else {
        report.markdown()
    };
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("cannot print the table (stdout closed?)")?;
    if failures > 0 {
        bail!("{failures} measurement(s) failed; see the table's notes");
    }
    Ok(())
}

/// The chosen items in their canonical order (all when none are chosen).
fn chosen<T: Copy + Ord>(picked: &[T], all: &[T]) -> Vec<T> {
    let mut v = if picked.is_empty() {
        all.to_vec()
    } else {
        picked.to_vec()
    };
    v.sort();
    v.dedup();
    v
}

/// What the figures mean, printed under the table.
fn notes(sizes: &Sizes, runs: u32, targets: &[TargetId]) -> Vec<String> {
    let reference = targets.first().map_or("", |t| t.label());
    let mut notes = vec![
        format!(
            "Each figure is the median of {runs} run(s), each on a new server. \
             The ratio (×) divides it by the {reference} figure of the same row: \
             above 1 is more records/s, or more server CPU per record."
        ),
        format!(
            "Produce workloads send {} records ({} on fsync=always), perf produce's \
             defaults otherwise: linger.ms 5, batch.size 16384, no rate limit. The baseline \
             is 100 B records, 1 partition, 1 producer, acks=1, no compression; each other \
             row changes one of these.",
            sizes.records, sizes.records_fsync_always
        ),
        format!(
            "consume: {} of {CONSUME_RECORD_SIZE} B records are written to 1 partition \
             first (not measured), then read from the beginning with partition readers.",
            bytes(sizes.consume_bytes)
        ),
        "Server CPU ms/M: user + system CPU of the server process (/proc/PID/stat) during \
         the measured part, per million records; the client's CPU is not counted."
            .into(),
    ];
    if targets.contains(&TargetId::MockRdkafka) {
        notes.push(format!(
            "librdkafka mock: the mock cluster of librdkafka keeps records in memory and \
             writes no files, so it is a yardstick for the protocol path, not for storage. \
             It keeps only the last 5 MiB of each partition, so its consume row writes and \
             reads only {} records: too short a run for its CPU to show (ticks are 10 ms). \
             Issue 14 measured its consume at 423 records/s with librdkafka's \
             rdkafka_performance.",
            sizes.mock_consume_records
        ));
    }
    notes
}
