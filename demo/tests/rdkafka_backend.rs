//! The classroom binaries with `--backend rdkafka` (feature `rdkafka`), against a broker
//! started in this process: the producer's delivery lines, the consumer reading them back
//! with `--max-messages`, a librdkafka property passed through with `--config`, and a bad
//! one refused with librdkafka's own message.

#![cfg(feature = "rdkafka")]

mod common;

use common::run;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_and_consumer_run_on_librdkafka() {
    let (broker, _dir) = common::start_broker().await;
    let addr = broker.addr().to_string();

    let out = run(
        env!("CARGO_BIN_EXE_producer"),
        &[
            "--backend",
            "rdkafka",
            "--bootstrap-server",
            &addr,
            "--topic",
            "rd",
            "--count",
            "6",
            "--interval-ms",
            "0",
            "--config",
            "linger.ms=1",
            "--config",
            "queue.buffering.max.messages=1000",
        ],
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{stdout}");
    // user_1 → 0, user_2 → 1, user_3 → 0 with murmur2 on 3 partitions (KAFKA-NOTES.md).
    for (i, line) in lines.iter().enumerate() {
        let user = ["user_1", "user_2", "user_3"][i % 3];
        let partition = [0, 1, 0][i % 3];
        assert!(line.starts_with(&format!("rd [{partition}] @ ")), "{line}");
        assert!(line.contains(&format!("key={user}")), "{line}");
    }

    let out = run(
        env!("CARGO_BIN_EXE_consumer"),
        &[
            "--backend",
            "rdkafka",
            "--bootstrap-server",
            &addr,
            "--topic",
            "rd",
            "--group",
            "rd-group",
            "--max-messages",
            "6",
            "--config",
            "fetch.wait.max.ms=50",
        ],
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("summary: 6 messages"), "{stdout}");
    assert_eq!(stdout.matches("\"action\"").count(), 6, "{stdout}");

    // librdkafka refuses an unknown property itself, and its message reaches the user.
    let out = run(
        env!("CARGO_BIN_EXE_consumer"),
        &[
            "--backend",
            "rdkafka",
            "--bootstrap-server",
            &addr,
            "--max-messages",
            "1",
            "--config",
            "no.such.property=1",
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("no.such.property"), "{stderr}");
    broker.shutdown().await;
}
