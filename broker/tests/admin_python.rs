//! The admin APIs of issue 13 through Python's admin clients: kafka-python's
//! KafkaAdminClient and confluent-kafka's AdminClient (librdkafka), each against a
//! fresh broker. The scripts (`broker/tests/python/*_admin.py`) check every answer
//! themselves and print one `ok <step>` line per step; a failed check ends the script
//! with a traceback, which `run` shows. confluent-kafka's script also commits one
//! transaction (`init_transactions`, `begin`, `commit`).

use minikafka_testkit::external::{python, python_script, run};
use minikafka_testkit::TestBroker;
use tokio::process::Command;

async fn run_script(name: &str, steps: &[&str]) {
    let Some(python) = python() else {
        return;
    };
    let broker = TestBroker::start().await.expect("broker starts");
    let out = run(Command::new(python)
        .arg(python_script(name))
        .arg(broker.bootstrap()))
    .await;
    for step in steps {
        assert!(
            out.lines().any(|l| l.starts_with(&format!("ok {step}"))),
            "{name}: no `ok {step}` in:\n{out}"
        );
    }
    assert_eq!(out.lines().last(), Some("done"), "{out}");
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_python_admin_client() {
    run_script(
        "kafka_python_admin.py",
        &[
            "create_topics",
            "describe_configs",
            "alter_configs",
            "create_partitions",
            "delete_records",
            "delete_groups",
            "describe_cluster",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_kafka_admin_client() {
    run_script(
        "confluent_kafka_admin.py",
        &[
            "create_topics",
            "describe_configs",
            "incremental_alter_configs",
            "create_partitions",
            "delete_records",
            "delete_consumer_groups",
            "describe_cluster",
            "transactions",
        ],
    )
    .await;
}
