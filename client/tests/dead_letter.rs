//! The dead-letter queue (`client/src/dead_letter.rs`) end to end: a handler that keeps
//! failing on one record sends it to `<topic>.dlq`, with its key, value and headers and
//! Kafka Connect's error headers; a handler that fails once and then succeeds is retried;
//! the other records are handled once; and the group's committed offset is past the bad
//! record, so a new member of the group does not see it again. And when the dead-letter
//! topic refuses the record, `handle` fails and commits nothing: the group hands the
//! record out again. Written once, run per backend against our broker, and (but the
//! refusal, which needs a topic config) with rdkafka against librdkafka's mock cluster.
// Tests may unwrap; clippy's allow-unwrap-in-tests (.clippy.toml) covers #[test] fns only.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use minikafka_client::dead_letter::{self, DeadLetterQueue, Outcome};
use minikafka_client::{Admin, Backend, Consumer, ConsumerEvent, ConsumerRecord, NewTopic};
use minikafka_client::{Error, KafkaCode, Offset, Producer, ProducerRecord, RecordMetadata};
use minikafka_testkit::cluster::read_n;
use minikafka_testkit::{backend_tests, within, Cluster};

backend_tests!(
    a_record_that_keeps_failing_goes_to_the_dlq_and_the_group_moves_past_it;
    // The mock cluster takes no topic configs (max.message.bytes) to refuse a record with.
    ours_only: a_refused_dead_letter_commits_nothing,
);

const TOPIC: &str = "orders";
const GROUP: &str = "billing";
const MAX_ATTEMPTS: u32 = 3;

/// What the records hold, by offset (one partition, so offsets are 0, 1, 2, ...):
/// `poison` always fails, `flaky` fails on its first attempt only.
const VALUES: [&str; 5] = ["ok-0", "ok-1", "poison", "flaky", "ok-4"];

async fn a_record_that_keeps_failing_goes_to_the_dlq_and_the_group_moves_past_it(
    backend: Backend,
    cluster: &mut Cluster,
) {
    cluster.create_topic(backend, TOPIC, 1).await;
    let producer = Producer::new(cluster.producer_config(backend))
        .await
        .expect("producer");
    for (i, value) in VALUES.iter().enumerate() {
        let mut record = ProducerRecord::new(TOPIC)
            .key(format!("k{i}"))
            .value(*value);
        if *value == "poison" {
            record = record.header("trace-id", "abc-123");
        }
        let meta = within("send", producer.send(record)).await.expect("send");
        assert_eq!((meta.partition, meta.offset), (0, i as i64));
    }
    producer.close().await;

    // Commits come only from the dead-letter queue: what it commits is what a new member
    // of the group starts from.
    let mut config = cluster.member_config(backend, GROUP);
    config.enable_auto_commit = false;
    let mut consumer = Consumer::new(config.clone()).await.expect("consumer");
    consumer.subscribe(&[TOPIC]).await.expect("subscribe");
    let dlq = DeadLetterQueue::new(cluster.producer_config(backend), MAX_ATTEMPTS)
        .await
        .expect("dead-letter queue");

    let mut calls: BTreeMap<i64, u32> = BTreeMap::new();
    let mut outcomes: BTreeMap<i64, Outcome> = BTreeMap::new();
    let mut poison: Option<ConsumerRecord> = None;
    within("handling every record", async {
        while outcomes.len() < VALUES.len() {
            let ConsumerEvent::Record(record) = consumer.recv().await.expect("recv") else {
                continue;
            };
            let outcome = dlq
                .handle(&consumer, &record, |r| {
                    let n = calls.entry(r.offset).or_default();
                    *n += 1;
                    let attempt = *n;
                    async move {
                        match r.value.as_deref() {
                            Some(b"poison") => Err(format!("cannot bill offset {}", r.offset)),
                            Some(b"flaky") if attempt == 1 => Err("billing timed out".into()),
                            _ => Ok(()),
                        }
                    }
                })
                .await
                .expect("handle");
            if record.value.as_deref() == Some(b"poison") {
                poison = Some(record.clone());
            }
            let previous = outcomes.insert(record.offset, outcome);
            assert!(previous.is_none(), "offset {} twice", record.offset);
        }
    })
    .await;

    assert_eq!(
        calls,
        BTreeMap::from([(0, 1), (1, 1), (2, MAX_ATTEMPTS), (3, 2), (4, 1)]),
        "every record handled once, the flaky one twice, the poison max_attempts times"
    );
    for offset in [0, 1, 4] {
        assert_eq!(outcomes[&offset], Outcome::Handled { attempts: 1 });
    }
    assert_eq!(outcomes[&3], Outcome::Handled { attempts: 2 });
    let Outcome::DeadLettered {
        attempts,
        error,
        dead_letter,
    } = outcomes[&2].clone()
    else {
        panic!("the poison was not dead-lettered: {:?}", outcomes[&2]);
    };
    assert_eq!(attempts, MAX_ATTEMPTS);
    assert_eq!(error, "cannot bill offset 2");
    check_dead_letter(cluster, backend, &dead_letter, &poison.unwrap()).await;

    // Without auto-commit, close commits nothing: the group's offset is the one the
    // dead-letter queue committed after the DLQ acknowledged the poison, 3.
    within("close", consumer.close()).await.expect("close");
    dlq.close().await;
    let mut again = Consumer::new(config).await.expect("a new member");
    again.subscribe(&[TOPIC]).await.expect("subscribe");
    let mut seen = Vec::new();
    within("the records after the poison", async {
        while seen.len() < 2 {
            if let ConsumerEvent::Record(r) = again.recv().await.expect("recv") {
                seen.push(r.offset);
            }
        }
    })
    .await;
    assert_eq!(seen, vec![3, 4], "the new member starts past the poison");
    within("close", again.close()).await.expect("close");
}

/// The record in `orders.dlq` at `at` is `poison`'s key, value and headers, plus the error
/// headers.
async fn check_dead_letter(
    cluster: &Cluster,
    backend: Backend,
    at: &RecordMetadata,
    poison: &ConsumerRecord,
) {
    assert_eq!(at.topic, "orders.dlq");
    assert_eq!(at.topic, dead_letter::dead_letter_topic(TOPIC));
    let got = read_n(
        cluster,
        backend,
        &at.topic,
        at.partition,
        Offset::At(at.offset),
        1,
    )
    .await
    .remove(0);
    assert_eq!(got.key.as_deref(), Some(&b"k2"[..]));
    assert_eq!(got.value.as_deref(), Some(&b"poison"[..]));
    let headers: BTreeMap<&str, String> = got
        .headers
        .iter()
        .map(|h| {
            let value = String::from_utf8_lossy(h.value.as_deref().unwrap_or_default());
            (h.key.as_str(), value.into_owned())
        })
        .collect();
    let original_timestamp = poison.timestamp.to_string();
    let expect = BTreeMap::from([
        ("trace-id", "abc-123"),
        (dead_letter::HEADER_TOPIC, TOPIC),
        (dead_letter::HEADER_PARTITION, "0"),
        (dead_letter::HEADER_OFFSET, "2"),
        (dead_letter::HEADER_TIMESTAMP, original_timestamp.as_str()),
        (dead_letter::HEADER_EXCEPTION_CLASS, "alloc::string::String"),
        (
            dead_letter::HEADER_EXCEPTION_MESSAGE,
            "cannot bill offset 2",
        ),
        (dead_letter::HEADER_ATTEMPTS, "3"),
    ]);
    let expect: BTreeMap<&str, String> =
        expect.into_iter().map(|(k, v)| (k, v.to_owned())).collect();
    assert_eq!(headers, expect);
    assert_eq!(
        got.headers[0].key, "trace-id",
        "the original headers come first"
    );
}

/// The dead-letter topic exists with a `max.message.bytes` below any dead-letter record
/// (a batch header alone is 61 bytes; the error headers add more), so the broker refuses
/// the poison's: `handle` fails, nothing is committed, and a new member of the group
/// starts at the poison again. Never lost: at worst handled (or dead-lettered) again.
async fn a_refused_dead_letter_commits_nothing(backend: Backend, cluster: &mut Cluster) {
    let admin = Admin::new(cluster.client_config(backend))
        .await
        .expect("admin");
    let topics = [
        NewTopic::new("payments", 1),
        NewTopic::new("payments.dlq", 1).config("max.message.bytes", "100"),
    ];
    within("create topics", admin.create_topics(&topics))
        .await
        .expect("create topics");
    let producer = Producer::new(cluster.producer_config(backend))
        .await
        .expect("producer");
    for value in ["ok-0", "poison", "ok-2"] {
        let record = ProducerRecord::new("payments").value(value);
        within("send", producer.send(record)).await.expect("send");
    }
    producer.close().await;

    let mut config = cluster.member_config(backend, "payers");
    config.enable_auto_commit = false;
    let mut consumer = Consumer::new(config.clone()).await.expect("consumer");
    consumer.subscribe(&["payments"]).await.expect("subscribe");
    let dlq = DeadLetterQueue::new(cluster.producer_config(backend), 2)
        .await
        .expect("dead-letter queue");
    let fail_on_poison = |r: &ConsumerRecord| {
        let poison = r.value.as_deref() == Some(b"poison");
        async move {
            if poison {
                Err("cannot pay")
            } else {
                Ok(())
            }
        }
    };
    let record = next_record(&mut consumer).await;
    assert_eq!(record.offset, 0);
    let outcome = within("handle", dlq.handle(&consumer, &record, fail_on_poison))
        .await
        .expect("handle");
    assert_eq!(outcome, Outcome::Handled { attempts: 1 });
    within("commit", consumer.commit()).await.expect("commit");

    let record = next_record(&mut consumer).await;
    assert_eq!(record.offset, 1);
    let result = within("handle", dlq.handle(&consumer, &record, fail_on_poison)).await;
    let err = result.expect_err("the DLQ refuses the record");
    assert!(
        matches!(
            err,
            Error::Kafka {
                code: KafkaCode::MessageTooLarge,
                ..
            }
        ),
        "{err}"
    );
    // The application stops at the error; without auto-commit, close commits nothing.
    within("close", consumer.close()).await.expect("close");
    dlq.close().await;

    let mut again = Consumer::new(config).await.expect("a new member");
    again.subscribe(&["payments"]).await.expect("subscribe");
    let record = next_record(&mut again).await;
    assert_eq!(
        (record.offset, record.value.as_deref()),
        (1, Some(&b"poison"[..])),
        "the poison comes again"
    );
    within("close", again.close()).await.expect("close");
}

async fn next_record(consumer: &mut Consumer) -> ConsumerRecord {
    within("a record", async {
        loop {
            if let ConsumerEvent::Record(r) = consumer.recv().await.expect("recv") {
                return r;
            }
        }
    })
    .await
}
