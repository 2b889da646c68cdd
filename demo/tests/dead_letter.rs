//! The classroom consumer's `--dlq` flag, with the real binary against a broker started in
//! this process, per backend (`--backend rdkafka` needs the `rdkafka` feature): a value
//! that is not JSON is not printed but sent to `<topic>.dlq`, where it keeps its key and
//! value and carries Kafka Connect's error headers; a line says where it went; the JSON
//! values are printed as without `--dlq`; and the group does not see it again.

mod common;

use minikafka_client::dead_letter;
use minikafka_client::{
    Offset, PartitionReader, Producer, ProducerConfig, ProducerRecord, ReaderConfig,
};
use minikafka_testkit::within;

use common::{run, stdout_of_success};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dlq_sends_what_is_not_json_to_the_dead_letter_topic_native() {
    scenario("native").await;
}

#[cfg(feature = "rdkafka")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dlq_sends_what_is_not_json_to_the_dead_letter_topic_rdkafka() {
    scenario("rdkafka").await;
}

const TOPIC: &str = "grades";

async fn scenario(backend: &str) {
    let broker = common::broker().await;
    let addr = broker.addr().to_string();
    let values = [
        r#"{"id":0,"grade":"A"}"#,
        r#"{"id":1,"grade":"B"}"#,
        "plain words",
        r#"{"id":3,"grade":"C"}"#,
    ];
    let producer = Producer::new(ProducerConfig::new(&addr))
        .await
        .expect("producer");
    for (i, value) in values.iter().enumerate() {
        let record = ProducerRecord::new(TOPIC)
            .key(format!("user_{i}"))
            .value(*value);
        within("send", producer.send(record)).await.expect("send");
    }

    let consumer = |max: &'static str| {
        let addr = addr.clone();
        async move {
            let args = [
                "--backend",
                backend,
                "--bootstrap-server",
                &addr,
                "--topic",
                TOPIC,
                "--group",
                "graders",
                "--dlq",
                "--max-messages",
                max,
            ];
            run(env!("CARGO_BIN_EXE_consumer"), &args).await
        }
    };
    let out = consumer("4").await;
    let stdout = stdout_of_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--dlq: values that are not JSON go to `grades.dlq` after 1 attempt(s)"),
        "{stderr}"
    );
    assert!(stdout.contains("\n  \"grade\": \"A\",\n"), "{stdout}");
    assert!(!stdout.contains("plain words"), "{stdout}");
    assert!(stdout.contains("summary: 4 messages"), "{stdout}");
    assert!(stdout.contains("  sent to grades.dlq: 1\n"), "{stdout}");

    // `grades [p] @ o  key=user_2`, then `not JSON (…): sent to grades.dlq [p] @ o after 1 attempt(s)`.
    let lines: Vec<&str> = stdout.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.starts_with("not JSON ("))
        .unwrap_or_else(|| panic!("no dead-letter line: {stdout}"));
    let (original, key) = lines[i - 1].split_once("  key=").expect("record line");
    assert_eq!(key, "user_2", "{stdout}");
    let (partition, offset) = position(original, TOPIC);
    let dlq_at = lines[i]
        .split_once(": sent to ")
        .and_then(|(_, rest)| rest.strip_suffix(" after 1 attempt(s)"))
        .unwrap_or_else(|| panic!("dead-letter line: {}", lines[i]));
    let (dlq_partition, dlq_offset) = position(dlq_at, "grades.dlq");

    let mut reader = within(
        "assign",
        PartitionReader::assign(
            ReaderConfig::new(&addr),
            "grades.dlq",
            dlq_partition,
            Offset::At(dlq_offset),
        ),
    )
    .await
    .expect("assign");
    let got = within("the dead letter", reader.next())
        .await
        .expect("record");
    assert_eq!(got.key.as_deref(), Some(&b"user_2"[..]));
    assert_eq!(got.value.as_deref(), Some(&b"plain words"[..]));
    let header = |name: &str| {
        got.headers
            .iter()
            .find(|h| h.key == name)
            .and_then(|h| h.value.as_deref())
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_else(|| panic!("no {name}: {:?}", got.headers))
    };
    assert_eq!(header(dead_letter::HEADER_TOPIC), TOPIC);
    assert_eq!(header(dead_letter::HEADER_PARTITION), partition.to_string());
    assert_eq!(header(dead_letter::HEADER_OFFSET), offset.to_string());
    assert_eq!(
        header(dead_letter::HEADER_EXCEPTION_CLASS),
        "serde_json::error::Error"
    );
    assert!(
        header(dead_letter::HEADER_EXCEPTION_MESSAGE).contains("expected"),
        "{:?}",
        got.headers
    );
    assert_eq!(header(dead_letter::HEADER_ATTEMPTS), "1");
    assert!(
        header(dead_letter::HEADER_TIMESTAMP)
            .parse::<i64>()
            .unwrap_or(0)
            > 0
    );

    // The group moved past everything, the dead letter included: only a new record comes.
    let meta = producer
        .send(
            ProducerRecord::new(TOPIC)
                .key("user_4")
                .value(r#"{"id":4}"#),
        )
        .await
        .expect("send");
    producer.close().await;
    let out = consumer("1").await;
    let stdout = stdout_of_success(&out);
    let records: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("grades ["))
        .collect();
    assert_eq!(
        records,
        vec![format!(
            "grades [{}] @ {}  key=user_4",
            meta.partition, meta.offset
        )],
        "{stdout}"
    );
    assert!(stdout.contains("  sent to grades.dlq: 0\n"), "{stdout}");
    broker.stop().await;
}

/// `(partition, offset)` from `topic [p] @ o`.
fn position(at: &str, topic: &str) -> (i32, i64) {
    let rest = at
        .strip_prefix(&format!("{topic} ["))
        .unwrap_or_else(|| panic!("not a position in {topic}: {at}"));
    let (p, o) = rest.split_once("] @ ").expect("position layout");
    (p.parse().expect("partition"), o.parse().expect("offset"))
}
