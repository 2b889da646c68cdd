//! Chapter 9, transactions (exactly-once): a transactional producer writes records that
//! go into the log at once, but a `read_committed` reader sees them only after the
//! COMMIT marker; a second transaction is aborted: its records stay in the log, an ABORT
//! marker follows, the `.txnindex` records it, and `read_committed` readers skip it. On
//! the way, the last stable offset (LSO) held at the first offset of the open
//! transaction, the markers as bytes, and the coordinator's states in
//! `__transaction_state`.
//!
//! Where it sits: producer → transaction coordinator (`txn/`) → partition log (the
//! producer state, the LSO, the markers, the aborted index) → fetch (`read_committed`
//! stops at the LSO and reports aborted transactions) → consumer (drops them).
//!
//! What must stay true:
//! - The topic and the transactional id are this chapter's own, so it runs alone or
//!   after the others.
//! - Nothing here parses bytes itself: batches, markers, the `.txnindex` and the state
//!   records come from `minikafka_broker::inspect` (`dump`, `hex`), the broker's decoders;
//!   the LSO and the open transactions from `BrokerHandle::snapshot`.
//! - What the readers got is what our client's `PartitionReader` returned, at each
//!   isolation level; the offsets it prints come from the delivery reports.

use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use minikafka_broker::inspect::{self, hex, DumpReport};
use minikafka_broker::snapshot::{PartitionView, Snapshot, TransactionView};
use minikafka_client::{
    Admin, ConsumerRecord, IsolationLevel, NewTopic, Offset, PartitionReader, Producer,
    ProducerRecord, ReaderConfig,
};

use super::out::{count, list};
use super::{refs, Tour};

pub const TITLE: &str = "Transactions";
const TOPIC: &str = "tour-transactions";
const TXN_ID: &str = "tour-tx";
/// How long the `read_committed` reader is given to find something while the
/// transaction is open (it finds nothing).
const QUIET: Duration = Duration::from_millis(600);
/// How long a reader may take to get a record that is there.
const READ_WAIT: Duration = Duration::from_secs(10);

/// The transactions, in order: (what the records are, commit?).
const ORDER_1: [(&str, &str); 3] = [
    ("order-1", "reserve 2 books"),
    ("order-1", "charge 30 EUR"),
    ("order-1", "ship to Lyon"),
];
const ORDER_2: [(&str, &str); 2] = [("order-2", "reserve 1 lamp"), ("order-2", "charge 45 EUR")];
const ORDER_3: [(&str, &str); 1] = [("order-3", "reserve 3 pens")];

pub async fn run(tour: &mut Tour) -> Result<()> {
    let out = tour.out;
    out.chapter(
        9,
        TITLE,
        "A transactional producer writes to the log as it goes, then ends the transaction with\n\
         a marker in every partition it wrote to: COMMIT or ABORT. read_committed consumers\n\
         read only what is committed (up to the last stable offset, the LSO); with\n\
         idempotence, this is how Kafka makes consume-transform-produce exactly-once.",
    );
    let admin = Admin::new(tour.producer_config().client).await?;
    admin
        .create_topics(&[NewTopic::new(TOPIC, 1)])
        .await
        .with_context(|| format!("cannot create {TOPIC}"))?;
    out.client(format!("Admin::create_topics: {TOPIC}, 1 partition"));

    // init_transactions: the coordinator gives the id its producer id and an epoch.
    let mut config = tour.producer_config();
    config.set("transactional.id", TXN_ID)?;
    let producer = Producer::new(config)
        .await
        .context("cannot start the transactional producer")?;
    producer.init_transactions().await?;
    let txn = coordinator(&tour.snapshot()?)?;
    out.client(format!(
        "Producer with transactional.id={TXN_ID}: init_transactions()"
    ));
    out.broker(format!(
        "the transaction coordinator: {TXN_ID} → producer id {}, epoch {}, state {} \
         (transaction.timeout.ms {})",
        txn.producer_id, txn.producer_epoch, txn.state, txn.timeout_ms
    ));
    let states = state_records(tour)?;
    out.line(format!(
        "__transaction_state-0 holds its state, one record per change: {}",
        states.join(" → ")
    ));
    out.line(
        "a new instance with the same transactional.id gets the next epoch: the old one is fenced.",
    );
    out.code(
        &refs::TXN_INIT_PRODUCER_ID,
        "the id's producer id and next epoch",
    );
    out.code(
        &refs::STATE_LOG_WRITE,
        "writes each state change before answering",
    );

    // The first transaction, open.
    producer.begin_transaction().await?;
    out.client(format!(
        "begin_transaction(), then {} sent; not committed yet:",
        count(ORDER_1.len(), "record")
    ));
    let first = send_all(tour, &producer, &ORDER_1).await?;
    let mut uncommitted = reader(tour, IsolationLevel::ReadUncommitted).await?;
    let mut committed = reader(tour, IsolationLevel::ReadCommitted).await?;
    let got = read_up_to(&mut uncommitted, last(&first)?).await?;
    out.client(format!(
        "a read_uncommitted reader from the earliest offset gets {}: {}",
        count(got.len(), "record"),
        at_offsets(&got)
    ));
    ensure!(offsets(&got) == first, "read_uncommitted got {got:?}");
    let nothing = tokio::time::timeout(QUIET, committed.next()).await;
    ensure!(
        nothing.is_err(),
        "the read_committed reader got a record of an open transaction: {nothing:?}"
    );
    out.key_line(format!(
        "a read_committed reader gets nothing in {:.1} s: its Fetch stops at the last stable offset",
        QUIET.as_secs_f64()
    ));
    let snapshot = tour.snapshot()?;
    let p = partition(&snapshot)?;
    let txn = coordinator(&snapshot)?;
    out.broker(format!(
        "{TOPIC}-0 with the transaction open (read in-process, as the dashboard does):"
    ));
    out.key_line(format!(
        "high watermark {}, last stable offset {}: the LSO stays at the transaction's first offset",
        p.high_watermark, p.last_stable_offset
    ));
    for t in &p.open_transactions {
        out.line(format!(
            "open transaction: producer id {} epoch {} since offset {}",
            t.producer_id, t.producer_epoch, t.first_offset
        ));
    }
    ensure!(
        p.last_stable_offset == first[0] && p.high_watermark == last(&first)? + 1,
        "the LSO or high watermark is not as expected: {p:?}"
    );
    out.line(format!(
        "coordinator: {TXN_ID} {} with partitions [{}] (AddPartitionsToTxn came before the first record)",
        txn.state,
        txn.partitions
            .iter()
            .map(|tp| format!("{}-{}", tp.topic, tp.partition))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    out.line("the dashboard draws the records dashed and an LSO line before them (docs/tour.md has a screenshot).");
    out.code(
        &refs::LAST_STABLE_OFFSET,
        "the first offset of the oldest open transaction",
    );
    out.code(
        &refs::SLICE_UPTO,
        "a read_committed Fetch returns whole batches below it",
    );

    // Commit.
    producer.commit_transaction().await?;
    out.client("commit_transaction()");
    let commit_at = last(&first)? + 1;
    show_marker(tour, commit_at, true)?;
    let p = partition(&tour.snapshot()?)?;
    out.broker(format!("{TOPIC}-0 after the commit:"));
    out.key_line(format!(
        "high watermark {}, last stable offset {}: nothing open, the LSO caught up",
        p.high_watermark, p.last_stable_offset
    ));
    ensure!(
        p.last_stable_offset == p.high_watermark && p.high_watermark == commit_at + 1,
        "after the commit: {p:?}"
    );
    let got = read_up_to(&mut committed, last(&first)?).await?;
    out.client(format!(
        "the same read_committed reader now gets {}: {} (never the marker at {commit_at})",
        count(got.len(), "record"),
        at_offsets(&got)
    ));
    ensure!(offsets(&got) == first, "read_committed got {got:?}");
    out.broker(format!(
        "__transaction_state-0 so far: {}",
        state_records(tour)?.join(" → ")
    ));
    out.line("PrepareCommit is the decision, written before any marker: after a crash the");
    out.line("coordinator finds it and writes the markers again.");
    out.code(
        &refs::TXN_END_TXN,
        "PrepareCommit, the markers, CompleteCommit",
    );

    // The second transaction, aborted.
    producer.begin_transaction().await?;
    out.client(format!(
        "begin_transaction(), {}, then abort_transaction():",
        count(ORDER_2.len(), "record")
    ));
    let second = send_all(tour, &producer, &ORDER_2).await?;
    producer.abort_transaction().await?;
    let abort_at = last(&second)? + 1;
    let got = read_up_to(&mut uncommitted, last(&second)?).await?;
    out.client(format!(
        "the read_uncommitted reader gets them anyway: {} (aborted records stay in the log)",
        at_offsets(&got)
    ));
    ensure!(offsets(&got) == second, "read_uncommitted got {got:?}");
    show_marker(tour, abort_at, false)?;
    let aborted = show_txn_index(tour, abort_at)?;

    // A third transaction, committed: something for read_committed to read past the abort.
    producer.begin_transaction().await?;
    out.client("a third transaction, committed, so there is something after the aborted one:");
    let third = send_all(tour, &producer, &ORDER_3).await?;
    producer.commit_transaction().await?;
    producer.close().await;
    let end = last(&third)?;
    let got = read_up_to(&mut uncommitted, end).await?;
    ensure!(offsets(&got) == third, "read_uncommitted got {got:?}");
    let got = read_up_to(&mut committed, end).await?;
    ensure!(
        offsets(&got) == third,
        "read_committed got {got:?}: the aborted records were not skipped"
    );

    // What each reader saw, from the earliest offset.
    let all_uncommitted = read_from_start(tour, IsolationLevel::ReadUncommitted, end).await?;
    let all_committed = read_from_start(tour, IsolationLevel::ReadCommitted, end).await?;
    let markers = [commit_at, abort_at, end + 1];
    out.client("two new readers from the earliest offset, one at each isolation level:");
    out.key_line(format!(
        "read_uncommitted: {}  ({}: the aborted ones too)",
        list(&offsets(&all_uncommitted)),
        count(all_uncommitted.len(), "record")
    ));
    out.key_line(format!(
        "read_committed:   {}  ({}: {} skipped, aborted)",
        list(&offsets(&all_committed)),
        count(all_committed.len(), "record"),
        list(&second)
    ));
    out.line(format!(
        "neither got offsets {}: the markers (control batches are never handed to an application)",
        list(&markers)
    ));
    let want_all: Vec<i64> = [&first[..], &second[..], &third[..]].concat();
    let want_committed: Vec<i64> = [&first[..], &third[..]].concat();
    ensure!(
        offsets(&all_uncommitted) == want_all,
        "read_uncommitted got {all_uncommitted:?}"
    );
    ensure!(
        offsets(&all_committed) == want_committed,
        "read_committed got {all_committed:?}"
    );
    out.broker(format!(
        "its Fetch from offset 0 was answered with the records up to the LSO and\n  \
         aborted_transactions = [(producer id {}, first offset {})], from the .txnindex;\n  \
         the client dropped that producer's records from {} up to its ABORT marker",
        aborted.0, aborted.1, aborted.1
    ));
    out.code(
        &refs::ABORTED_OVERLAPPING,
        "the aborted transactions a Fetch must report",
    );
    out.code(
        &refs::COMPLETED_FETCH_NEXT_BATCH,
        "the consumer skips aborted batches and markers",
    );
    out.note(
        "Notice: a transaction's records are written as they are sent, so the log holds\n\
         committed, aborted and still-open records side by side; the markers decide what\n\
         read_committed readers see, and the LSO makes them wait for the decision. An open\n\
         transaction holds the LSO of every partition it wrote to, so a stuck one stalls\n\
         read_committed consumers (until transaction.timeout.ms aborts it). The markers take\n\
         offsets, which is why a read_committed consumer's offsets have gaps.",
    );
    Ok(())
}

/// The chapter's transactional id at the coordinator.
fn coordinator(snapshot: &Snapshot) -> Result<TransactionView> {
    snapshot
        .transactions
        .iter()
        .find(|t| t.transactional_id == TXN_ID)
        .cloned()
        .with_context(|| format!("the coordinator does not know {TXN_ID}"))
}

/// The topic's one partition.
fn partition(snapshot: &Snapshot) -> Result<PartitionView> {
    super::first_partition(snapshot, TOPIC)
}

/// Sends `records` in the open transaction, one at a time, printing each delivery report;
/// returns their offsets.
async fn send_all(tour: &Tour, producer: &Producer, records: &[(&str, &str)]) -> Result<Vec<i64>> {
    let mut sent = Vec::new();
    for (key, value) in records {
        let meta = producer
            .send(
                ProducerRecord::new(TOPIC)
                    .partition(0)
                    .key(key.to_string())
                    .value(value.to_string()),
            )
            .await
            .with_context(|| format!("sending {key}'s {value:?} to {TOPIC}"))?;
        tour.out.line(format!(
            "{TOPIC} [0] @ {}  key={key}  value={value}",
            meta.offset
        ));
        sent.push(meta.offset);
    }
    Ok(sent)
}

fn last(offsets: &[i64]) -> Result<i64> {
    offsets.last().copied().context("nothing was sent")
}

fn offsets(records: &[ConsumerRecord]) -> Vec<i64> {
    records.iter().map(|r| r.offset).collect()
}

fn at_offsets(records: &[ConsumerRecord]) -> String {
    records
        .iter()
        .map(|r| {
            format!(
                "@{} {}",
                r.offset,
                String::from_utf8_lossy(r.value.as_deref().unwrap_or_default())
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A reader of the topic from the earliest offset, at `isolation`.
async fn reader(tour: &Tour, isolation: IsolationLevel) -> Result<PartitionReader> {
    let mut config = ReaderConfig::new(&tour.bootstrap);
    config.isolation_level = isolation;
    // Answer an empty fetch soon: the chapter waits on the LSO, not on the long poll.
    config.fetch_max_wait = Duration::from_millis(100);
    Ok(PartitionReader::assign(config, TOPIC, 0, Offset::Earliest).await?)
}

/// Reads until a record at `last` or beyond arrived.
async fn read_up_to(reader: &mut PartitionReader, last: i64) -> Result<Vec<ConsumerRecord>> {
    let mut got = Vec::new();
    while got.last().is_none_or(|r: &ConsumerRecord| r.offset < last) {
        let r = tokio::time::timeout(READ_WAIT, reader.next())
            .await
            .with_context(|| format!("no record up to offset {last} within {READ_WAIT:?}"))??;
        got.push(r);
    }
    Ok(got)
}

/// A new reader at `isolation`: everything it gets from the earliest offset to `last`.
async fn read_from_start(
    tour: &Tour,
    isolation: IsolationLevel,
    last: i64,
) -> Result<Vec<ConsumerRecord>> {
    read_up_to(&mut reader(tour, isolation).await?, last).await
}

/// The states in `__transaction_state-0`, in order, of the chapter's id.
fn state_records(tour: &Tour) -> Result<Vec<String>> {
    let path = tour
        .data_dir
        .join("__transaction_state-0")
        .join("00000000000000000000.log");
    let DumpReport::Log(log) = inspect::dump(&path, false)? else {
        bail!("{} is not a log", path.display());
    };
    Ok(log
        .batches
        .iter()
        .flat_map(|b| &b.records)
        .filter_map(|r| r.txn_state.as_ref())
        .filter(|s| s.transactional_id == TXN_ID)
        .map(|s| s.state.unwrap_or("?").to_string())
        .collect())
}

/// The marker batch at `offset`: its header (all fields for a COMMIT, the ones that
/// make it a marker for an ABORT) and its record, byte by byte.
fn show_marker(tour: &Tour, offset: i64, commit: bool) -> Result<()> {
    let out = tour.out;
    let p = partition(&tour.snapshot()?)?;
    let segment = p
        .segments
        .iter()
        .rev()
        .find(|s| s.base_offset <= offset)
        .context("the marker's segment")?;
    let path = tour.data_dir.join(&segment.file);
    let DumpReport::Log(log) = inspect::dump(&path, true)? else {
        bail!("{} is not a log", path.display());
    };
    let batch = log
        .batches
        .iter()
        .find(|b| b.base_offset == Some(offset))
        .with_context(|| format!("no batch at offset {offset} in {}", segment.file))?;
    let marker = batch
        .marker
        .as_ref()
        .with_context(|| format!("the batch at {offset} is not a marker"))?;
    let (name, a) = if commit {
        ("COMMIT", "a")
    } else {
        ("ABORT", "an")
    };
    ensure!(marker.marker == name, "expected {name}, found {marker:?}");
    out.broker(format!(
        "{a} {name} marker at offset {offset}, right after the transaction's records: a control batch\n  \
         the coordinator wrote ({} bytes at position {} of {}):",
        batch.size, batch.position, segment.file
    ));
    let header = batch.header_bytes.as_deref().unwrap_or_default();
    let shown: Vec<hex::HexField> = if commit {
        header.to_vec()
    } else {
        header
            .iter()
            .filter(|f| {
                [
                    "baseOffset",
                    "attributes",
                    "producerId",
                    "producerEpoch",
                    "baseSequence",
                ]
                .contains(&f.field)
            })
            .cloned()
            .collect()
    };
    let record = batch.marker_bytes.as_deref().unwrap_or_default();
    let record: Vec<hex::HexField> = if commit {
        record.to_vec()
    } else {
        record
            .iter()
            .filter(|f| f.field.starts_with("key:") || f.field.starts_with("value:"))
            .cloned()
            .collect()
    };
    // One table, so the header's rows and the record's line up.
    let mut table = Vec::new();
    hex::write_fields(&[&shown[..], &record[..]].concat(), &mut table)?;
    for (i, line) in String::from_utf8_lossy(&table).lines().enumerate() {
        if i == 1 + shown.len() {
            out.line(if commit {
                "its one record, a control record: the key says COMMIT (1) or ABORT (0):"
            } else {
                "its record: key type 0, ABORT"
            });
        }
        out.line(line.trim_start());
    }
    if commit {
        out.line(
            "attributes 0x0030: bit 4 transactional, bit 5 control. The producer id and epoch are the",
        );
        out.line("transaction's: they close that producer's transaction in this partition.");
        out.code(&refs::MARKER_BATCH, "builds the marker batch");
        out.code(
            &refs::RECORD_MARKER,
            "closes the producer's transaction; an ABORT goes into the .txnindex",
        );
        out.code(
            &refs::ANNOTATE_CONTROL_RECORD,
            "labelled the record's bytes",
        );
    }
    Ok(())
}

/// The `.txnindex` of the segment holding the ABORT marker at `abort_at`: its entry,
/// byte by byte. Returns (producer id, first offset) of the aborted transaction.
fn show_txn_index(tour: &Tour, abort_at: i64) -> Result<(i64, i64)> {
    let out = tour.out;
    let p = partition(&tour.snapshot()?)?;
    let segment = p
        .segments
        .iter()
        .rev()
        .find(|s| s.base_offset <= abort_at)
        .context("the marker's segment")?;
    let path = tour
        .data_dir
        .join(segment.file.replace(".log", ".txnindex"));
    let DumpReport::TxnIndex(index) = inspect::dump(&path, true)? else {
        bail!("{} is not an aborted-transaction index", path.display());
    };
    let entry = index
        .entries
        .iter()
        .find(|e| e.last_offset == abort_at)
        .with_context(|| format!("no entry for the ABORT marker at {abort_at}"))?;
    out.broker(format!(
        "{}: {} (34 bytes each), the aborted transactions of this segment:",
        segment.file.replace(".log", ".txnindex"),
        count(index.entries.len(), "entry")
    ));
    let mut table = Vec::new();
    hex::write_fields(entry.entry_bytes.as_deref().unwrap_or_default(), &mut table)?;
    for line in String::from_utf8_lossy(&table).lines() {
        out.line(line.trim_start());
    }
    out.key_line(format!(
        "producer id {}: aborted from offset {} to its ABORT marker at {}; the LSO after it was {}",
        entry.producer_id, entry.first_offset, entry.last_offset, entry.last_stable_offset
    ));
    let listed = p
        .aborted_transactions
        .iter()
        .any(|a| a.producer_id == entry.producer_id && a.first_offset == entry.first_offset);
    ensure!(
        listed,
        "the partition does not list the aborted transaction: {p:?}"
    );
    out.code(
        &refs::TXN_INDEX_ADD,
        "appends the entry when the ABORT is written",
    );
    Ok((entry.producer_id, entry.first_offset))
}
