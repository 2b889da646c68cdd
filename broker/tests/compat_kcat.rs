//! kcat (Debian's, linked against librdkafka 2.0.2, an old client) against minikafka:
//! `-L` metadata, `-P` with keys, `-C -e` back, with counts, content and placement checked.

use std::collections::BTreeMap;

use minikafka_testkit::external::{kcat, run};
use minikafka_testkit::TestBroker;
use tokio::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcat_lists_produces_and_consumes() {
    let Some(kcat) = kcat() else { return };
    let broker = TestBroker::start().await.expect("broker starts");
    let bootstrap = broker.bootstrap();

    // -P with keys: one "key:value" line per message, murmur2 like the Java client.
    let count = 300;
    let input: String = (0..count)
        .map(|i| format!("user_{}:{{\"id\":{i},\"action\":\"click\"}}\n", i % 5))
        .collect();
    let input_path = broker.data_dir().join("input.txt");
    std::fs::write(&input_path, &input).expect("write kcat input");
    run(Command::new(&kcat)
        .args(["-b", &bootstrap, "-t", "kcat-topic", "-P", "-K:"])
        .args(["-X", "partitioner=murmur2_random", "-l"])
        .arg(&input_path))
    .await;

    // -L lists the broker and the auto-created topic with its 3 partitions.
    let listing = run(Command::new(&kcat).args(["-b", &bootstrap, "-L"])).await;
    assert!(listing.contains("1 brokers:"), "{listing}");
    assert!(listing.contains("broker 0 at 127.0.0.1:"), "{listing}");
    assert!(
        listing.contains("topic \"kcat-topic\" with 3 partitions:"),
        "{listing}"
    );

    // -C -e reads everything back: key, value, partition, offset.
    let out = run(Command::new(&kcat)
        .args([
            "-b",
            &bootstrap,
            "-t",
            "kcat-topic",
            "-C",
            "-e",
            "-o",
            "beginning",
        ])
        .args(["-f", "%k\t%s\t%p\t%o\n"]))
    .await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), count, "kcat read back:\n{out}");

    let mut next_offset: BTreeMap<i32, i64> = BTreeMap::new();
    let mut ids = Vec::new();
    for line in lines {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 4, "bad line {line:?}");
        let (key, value) = (f[0], f[1]);
        let partition: i32 = f[2].parse().expect("partition");
        let offset: i64 = f[3].parse().expect("offset");
        assert_eq!(
            partition,
            minikafka_client::partitioner::partition_for_key(key.as_bytes(), 3),
            "{key} landed on the wrong partition"
        );
        // Offsets are dense from 0 within each partition.
        let expected = next_offset.entry(partition).or_insert(0);
        assert_eq!(offset, *expected, "offset gap on partition {partition}");
        *expected += 1;
        let json: serde_json::Value = serde_json::from_str(value).expect("JSON value");
        let id = json["id"].as_u64().expect("id") as usize;
        assert_eq!(key, format!("user_{}", id % 5));
        ids.push(id);
    }
    ids.sort_unstable();
    assert_eq!(ids, (0..count).collect::<Vec<_>>());
    broker.stop().await;
}
