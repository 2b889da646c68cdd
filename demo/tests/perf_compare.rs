//! `perf compare --quick` against the real broker binary (a child process per cell, as in
//! a full run): the JSON has a cell per workload and target with records in it, and the
//! markdown table has its header, its rows and its notes; a target this build cannot run
//! says why instead of failing. Nothing here asserts on speed.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

const PERF: &str = env!("CARGO_BIN_EXE_perf");

/// The broker's binary, beside the demo's own.
fn broker_bin() -> PathBuf {
    let path = Path::new(PERF).with_file_name("minikafka-broker");
    assert!(
        path.is_file(),
        "{} is not built; run this test with `cargo test --workspace`",
        path.display()
    );
    path
}

/// The targets this build can run: the rdkafka ones only with the feature.
fn targets() -> &'static str {
    if cfg!(feature = "rdkafka") {
        "never-native,always-native,never-rdkafka,mock-rdkafka"
    } else {
        "never-native,always-native"
    }
}

#[tokio::test]
async fn quick_json_has_every_cell_with_records() {
    let bin = broker_bin();
    let out = common::run(
        PERF,
        &[
            "compare",
            "--quick",
            "--json",
            "--workloads",
            "baseline,consume,idle-connections,16-partitions",
            "--targets",
            targets(),
            "--broker-bin",
            bin.to_str().unwrap(),
        ],
    )
    .await;
    let stdout = common::stdout_of_success(&out);
    let v: serde_json::Value = serde_json::from_str(&stdout).expect(&stdout);
    assert_eq!(v["runs"], 1, "{stdout}");
    let rows = v["rows"].as_array().unwrap();
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["workload"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["baseline", "16-partitions", "consume", "idle-connections"],
        "rows in canonical order: {stdout}"
    );
    let columns = targets().split(',').count();
    for row in rows {
        let cells = row["cells"].as_array().unwrap();
        assert_eq!(cells.len(), columns, "{stdout}");
        for cell in cells {
            let runs = cell["runs"].as_array().unwrap();
            assert_eq!(runs.len(), 1, "{stdout}");
            assert!(runs[0]["records"].as_u64().unwrap() > 0, "{stdout}");
            assert!(cell["records_per_s"].as_f64().unwrap() > 0.0, "{stdout}");
            assert!(cell.get("errors").is_none(), "{stdout}");
            // /proc is there on Linux, where CI runs: the server's CPU is measured.
            if cfg!(target_os = "linux") {
                assert!(
                    cell["server_cpu_ms_per_million"].as_f64().unwrap() >= 0.0,
                    "{stdout}"
                );
            }
        }
        // The reference column's ratio is 1 by definition.
        assert_eq!(
            cells[0]["records_per_s_ratio"].as_f64(),
            Some(1.0),
            "{stdout}"
        );
    }
    // The quick consume row reads 1 MiB of 1 KiB records from our broker.
    let consume = &rows[2]["cells"][0]["runs"][0];
    assert_eq!(consume["records"], 1024, "{stdout}");
}

#[tokio::test]
async fn quick_markdown_has_the_table_and_says_what_is_missing() {
    let bin = broker_bin();
    let out = common::run(
        PERF,
        &[
            "compare",
            "--quick",
            "--records",
            "500",
            "--workloads",
            "baseline,acks-all",
            "--targets",
            "mock-rdkafka,never-native",
            "--broker-bin",
            bin.to_str().unwrap(),
        ],
    )
    .await;
    let stdout = common::stdout_of_success(&out);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with(
            "| workload | minikafka fsync=never, native records/s | \
             minikafka fsync=never, native CPU ms/M | librdkafka mock, rdkafka records/s |"
        ),
        "the reference comes first whatever the order asked: {stdout}"
    );
    assert_eq!(lines[1], "|---|---:|---:|---:|---:|", "{stdout}");
    assert!(
        lines[2].starts_with("| baseline: 100 B, 1 partition"),
        "{stdout}"
    );
    assert!(lines[3].starts_with("| acks=all | "), "{stdout}");
    for row in &lines[2..4] {
        let cells: Vec<&str> = row.split(" | ").collect();
        let rate: f64 = cells[1].replace(',', "").parse().expect(row);
        assert!(rate > 0.0, "{row}");
        if cfg!(feature = "rdkafka") {
            assert!(cells[3].ends_with("×)"), "a ratio to the reference: {row}");
        } else {
            assert_eq!(cells[3], "n/a", "{row}");
        }
    }
    assert!(
        stdout.contains("\n- Each figure is the median of 1 run(s)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Produce workloads send 500 records"),
        "{stdout}"
    );
    assert!(stdout.contains("keeps records in memory"), "{stdout}");
    if !cfg!(feature = "rdkafka") {
        assert!(stdout.contains("--features rdkafka"), "{stdout}");
    }
}

#[tokio::test]
async fn a_missing_broker_binary_fails_clearly() {
    let out = common::run(
        PERF,
        &[
            "compare",
            "--quick",
            "--workloads",
            "baseline",
            "--broker-bin",
            "/nonexistent/minikafka-broker",
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: --broker-bin /nonexistent/minikafka-broker is not a file"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "no table on failure");
}
