//! Chapter 1, partitioning: the classroom's 10 keyed JSON messages, and for each key its
//! murmur2 hash, the hash made positive modulo 3, and the partition the broker
//! acknowledged. Same key, same partition; the key's hash, not its name, decides.
//!
//! Where it sits: the start of the flow, producer → **partitioner** → wire → partition log.
//!
//! What must stay true: the hash and partition shown are computed by the client crate's
//! own partitioner (`partitioner.rs`), and the chapter fails if the broker's answer
//! disagrees with it.

use std::collections::BTreeMap;

use anyhow::{ensure, Result};
use minikafka_client::partitioner::{murmur2, partition_for_key, to_positive};

use super::out::{count, list, offsets};
use super::{clients, refs, Tour, TOPIC};

pub const TITLE: &str = "Partitioning";
/// How many messages the classroom producer sends.
pub const COUNT: u64 = 10;

pub async fn run(tour: &mut Tour) -> Result<()> {
    let out = tour.out;
    out.chapter(
        1,
        TITLE,
        "The producer sends 10 JSON events keyed by user to demo-topic (auto-created with 3\n\
         partitions). The key picks the partition: murmur2(key), made positive, modulo 3.",
    );
    let before = super::end_offsets(&tour.snapshot()?);
    let sent = clients::produce(tour, 0..COUNT).await?;

    out.client("the producer's delivery reports, as the producer demo prints them (acks=all):");
    out.line("topic [partition] @ offset  key  value");
    for (event, meta) in &sent {
        out.line(format!(
            "{} [{}] @ {}  key={}  value={}",
            meta.topic, meta.partition, meta.offset, event.key, event.value
        ));
    }

    out.client("why each key went where it went:");
    out.line(format!(
        "{:<10} {:>12} {:>10} {:>20} {:>9} {:>8}",
        "key", "murmur2", "(hex)", "toPositive(hash)", "% 3", "acked"
    ));
    let mut acked: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (event, meta) in &sent {
        acked.entry(event.key).or_default().push(meta.partition);
    }
    for (key, partitions) in &acked {
        let hash = murmur2(key.as_bytes());
        let expected = partition_for_key(key.as_bytes(), 3);
        let mut distinct = partitions.clone();
        distinct.dedup();
        ensure!(
            distinct == [expected],
            "key {key}: murmur2 says partition {expected}, the broker acknowledged {distinct:?}"
        );
        out.line(format!(
            "{:<10} {:>12} {:>10} {:>20} {:>9} {:>8}",
            key,
            hash,
            format!("{:08x}", hash as u32),
            to_positive(hash),
            to_positive(hash) % 3,
            format!("[{}]", list(&distinct)),
        ));
    }
    out.line(format!(
        "every key reached the partition its hash picked, each time ({}).",
        count(sent.len(), "message")
    ));
    out.code(&refs::MURMUR2, "Java's murmur2, bit for bit");
    out.code(
        &refs::PARTITION_FOR_KEY,
        "toPositive(murmur2(key)) % partitions",
    );

    out.broker("demo-topic's partitions now:");
    let snapshot = tour.snapshot()?;
    if let Some(topic) = snapshot.topics.iter().find(|t| t.name == TOPIC) {
        for p in &topic.partitions {
            let new = p.log_end_offset - before.get(&p.partition).copied().unwrap_or(0);
            let held = if p.log_end_offset > p.log_start_offset {
                offsets(p.log_start_offset, p.log_end_offset - 1)
            } else {
                "no records".to_string()
            };
            out.line(format!(
                "partition {}: {held} ({} added), next offset {}, {} bytes in {}",
                p.partition,
                count(new, "record"),
                p.log_end_offset,
                p.size_bytes,
                count(p.segments.len(), "segment"),
            ));
        }
    }
    out.code(
        &refs::PRODUCE_HANDLE,
        "takes the Produce request, partition by partition",
    );
    out.code(
        &refs::PARTITION_LOG_APPEND,
        "gives the batch its offsets, writes it",
    );
    out.note(
        "Notice: the numbers in the names do not predict the partition (student_3 → 0);\n\
         only the hash does. The broker never hashes: the client chose the partition.",
    );
    Ok(())
}
