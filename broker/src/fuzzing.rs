//! Fuzzing entry points: one function per `cargo fuzz` target (`fuzz/fuzz_targets/`),
//! each taking arbitrary bytes. The normal test suite replays the committed seed corpus
//! and every crash regression through the same functions (`tests/fuzz_corpus.rs`), on
//! stable, so a bug found once stays fixed. See `docs/fuzzing.md`.
//!
//! Flow: not on the message path; each function enters it where bytes from outside
//! arrive: a request frame ([`requests`]), a produced record batch ([`record_batch`]),
//! the files of a partition directory at start-up ([`recovery`]), and the records of
//! `__consumer_offsets` at coordinator start-up ([`offsets_records`]).
//!
//! What must stay true:
//! - No function here panics on any input. A panic, or one of the `assert!`s below
//!   failing, is a bug in the broker code reached, never an accepted outcome: the
//!   asserts state what that code promises (a response echoes the correlation id, a
//!   validated batch stays valid once the broker writes its offset, recovery keeps a
//!   valid prefix of what was on disk, a decoded commit encodes back to itself).
//! - Each function is deterministic for its bytes (fresh temp dirs, the clock paused
//!   for [`requests`]), so a crash input replays as the same crash.
//! - The input layouts below are part of the committed corpus's meaning: change one and
//!   the corpus must be regenerated (`fuzz_corpus.rs: write_seed_corpus`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use crate::group::offset_record::{self, CommittedOffset, OffsetKey};
use crate::group::offset_store;
use crate::group::{GroupCoordinator, NodeInfo};
use crate::log::record::{self, NewRecord};
use crate::log::record_batch::{
    self, check_frame, compute_crc, frames, Compression, BATCH_LENGTH, CRC, LOG_OVERHEAD,
};
use crate::log::recovery::CLEAN_SHUTDOWN_FILE;
use crate::log::segment::file_name;
use crate::log::PartitionLog;
use crate::protocol::{handle_request, BrokerContext};
use crate::security::session::Session;
use crate::security::{Listener, Security};
use crate::topics::Topics;
use crate::Config;

/// `max.message.bytes` for the batch target: the broker's default.
const MAX_MESSAGE_BYTES: usize = 1024 * 1024 + 12;

/// Sets the CRC-32C of every whole batch framed in `buf` to the right value, so that
/// mutated inputs get past the CRC check to the code behind it.
fn fix_crcs(buf: &mut [u8]) {
    let ranges: Vec<_> = frames(buf).map_while(Result::ok).collect();
    for r in ranges {
        let batch = &mut buf[r];
        let crc = compute_crc(batch);
        batch[CRC].copy_from_slice(&crc.to_be_bytes());
    }
}

// ---------------------------------------------------------------------------------
// Target `requests`: frames through `protocol::handle_request`.
// ---------------------------------------------------------------------------------

/// Input: the bytes a client sends on one connection: frames of `size i32` + request
/// (header + body), as `connection.rs` cuts them. Each whole frame goes to
/// [`handle_request`] on a fresh broker context (a real `Topics` and group coordinator
/// on a temp data dir), in order, until a frame is cut short, has a bad size, or gets
/// an error (where the connection would close).
///
/// Must run on a current-thread tokio runtime with the clock paused
/// (`Builder::new_current_thread().enable_all().start_paused(true)`): long polls,
/// rebalance waits and session timeouts then pass in virtual time, at once.
pub async fn requests(data: &[u8]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        log_requests: false,
        ..Config::default()
    };
    // Small preallocated indexes: every topic created costs a few KiB, not 10 MiB.
    config.log.max_index_bytes = 4096;
    config.offsets_topic_segment_bytes = 1 << 20;
    let topics = Arc::new(Topics::open(dir.path(), config.log.clone()).expect("topics open"));
    let groups = GroupCoordinator::open(topics.clone(), &config).expect("coordinator open");
    let txn = crate::txn::TransactionCoordinator::open(topics.clone(), groups.clone(), &config)
        .expect("transaction coordinator open");
    // An odd first byte puts the connection on a SASL_PLAINTEXT listener (with one user,
    // alice / alice-secret), so the SASL state machine and SCRAM parser are fuzzed too;
    // an even one on a PLAINTEXT listener, where every API is open.
    let sasl = data.first().is_some_and(|b| b & 1 == 1);
    let bound: std::net::SocketAddr = ([127, 0, 0, 1], 9092).into();
    let node = NodeInfo {
        node_id: 0,
        host: "127.0.0.1".into(),
        port: 9092,
    };
    let listener = if sasl {
        let users = dir.path().join("users.txt");
        let mut file = crate::security::users::Users::default();
        file.add(
            "alice",
            "alice-secret",
            &[crate::security::scram::ScramHash::Sha256],
        )
        .expect("add user");
        file.save(&users).expect("save users");
        config.sasl.users = Some(users);
        config.sasl.failed_authentication_delay = std::time::Duration::ZERO;
        config.listeners = vec![crate::config::ListenerConfig::new(
            crate::config::SecurityProtocol::SaslPlaintext,
            bound,
        )];
        let listener_config = config.listeners[0].clone();
        Arc::new(Listener::new(listener_config, bound, node, None))
    } else {
        Arc::new(Listener::plaintext(bound))
    };
    let security = Security::open(&config).expect("security");
    let (_stop, shutdown) = crate::shutdown::channel();
    let max = config.max_request_bytes;
    let ctx = BrokerContext::new(
        topics,
        groups.clone(),
        txn,
        config,
        vec![listener.clone()],
        security,
        shutdown,
    );
    let mut session = Session::new(listener, None, None);

    let mut rest = data;
    while rest.len() >= 4 {
        let size = i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let Ok(size) = usize::try_from(size) else {
            break; // negative: FrameError::NegativeSize
        };
        if size > max || rest.len() - 4 < size {
            break; // too large, or cut short
        }
        let frame = Bytes::copy_from_slice(&rest[4..4 + size]);
        rest = &rest[4 + size..];
        let correlation_id = frame.get(4..8).map(<[u8]>::to_vec);
        match handle_request(&ctx, frame, &mut session).await {
            Ok(Some(response)) => {
                let bytes = response
                    .to_bytes()
                    .expect("a response's stored batches read");
                assert_eq!(bytes.len(), response.len(), "response length");
                assert_eq!(
                    bytes.get(..4).map(<[u8]>::to_vec),
                    correlation_id,
                    "a response starts with the request's correlation id"
                );
            }
            Ok(None) => {}
            Err(e) => {
                let _ = e.to_string();
                break;
            }
        }
    }
    groups.shutdown().await;
}

// ---------------------------------------------------------------------------------
// Target `record_batch`: produce-side validation.
// ---------------------------------------------------------------------------------

/// Flag bit: set batchLength (bytes 8–11) to the length of the bytes given.
pub const BATCH_FIX_LENGTH: u8 = 0x01;
/// Flag bit: set the CRC-32C of every framed batch.
pub const BATCH_FIX_CRC: u8 = 0x02;
/// Flag bit: validate as for a compacted topic (every record needs a key).
pub const BATCH_COMPACTED: u8 = 0x04;

/// Input: one flags byte (`BATCH_*`), then the `records` of a Produce request: one or
/// more v2 batches, compressed or not. Runs what `PartitionLog::append` runs on them:
/// `split_exact`, `validate_for` (decompression and the record walk included), then
/// for a valid batch what the broker does to it before storing it (base offset,
/// LogAppendTime), and the recompression of `compression.type` into every codec.
pub fn record_batch(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let mut bytes = rest.to_vec();
    if flags & BATCH_FIX_LENGTH != 0 && bytes.len() >= LOG_OVERHEAD {
        let length = i32::try_from(bytes.len() - LOG_OVERHEAD).unwrap_or(i32::MAX);
        bytes[BATCH_LENGTH].copy_from_slice(&length.to_be_bytes());
    }
    if flags & BATCH_FIX_CRC != 0 {
        fix_crcs(&mut bytes);
    }
    let compacted = flags & BATCH_COMPACTED != 0;
    let ranges = match record_batch::split_exact(&bytes) {
        Ok(ranges) => ranges,
        Err(e) => {
            assert!(matches!(e.kafka_error_code(), 2 | 87));
            return;
        }
    };
    let mut all_valid = true;
    for r in ranges {
        let batch = &bytes[r];
        match record_batch::validate_for(batch, MAX_MESSAGE_BYTES, compacted) {
            Ok(h) => {
                assert_eq!(h.last_offset_delta, h.record_count - 1);
                // What the broker writes into a valid batch keeps it valid.
                let mut stored = batch.to_vec();
                record_batch::set_base_offset(&mut stored, 1 << 40);
                let again = check_frame(&stored).expect("the base offset is outside the CRC");
                assert_eq!(again.base_offset, 1 << 40);
                record_batch::set_max_timestamp(&mut stored, h.max_timestamp);
                let again = check_frame(&stored).expect("maxTimestamp recomputes the CRC");
                assert_eq!(again.max_timestamp, h.max_timestamp);
                record_batch::set_log_append_time(&mut stored, 1_700_000_000_000);
                check_frame(&stored).expect("LogAppendTime recomputes the CRC");
                // Consumers, `inspect` and the cleaner decode the records of a stored
                // batch: that must not panic either.
                if let Ok(records) = record::records(batch) {
                    assert_eq!(records.len(), h.record_count as usize);
                }
            }
            Err(e) => {
                all_valid = false;
                let _ = e.to_string();
                assert!(matches!(e.kafka_error_code(), 2 | 10 | 87));
            }
        }
    }
    if !all_valid {
        return;
    }
    for target in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        if let Ok(Some(batch)) = record::recompress(&bytes, target, MAX_MESSAGE_BYTES) {
            let h =
                record_batch::validate(&batch, usize::MAX).expect("a recompressed batch validates");
            assert_eq!(h.compression().ok(), Some(target));
        }
    }
}

// ---------------------------------------------------------------------------------
// Target `recovery`: opening a partition directory with arbitrary files.
// ---------------------------------------------------------------------------------

/// Flag bit: the `clean-shutdown` marker is in the directory.
pub const RECOVERY_CLEAN: u8 = 0x01;
/// Flag bit: a `recovery-point` file holds the header's recovery point.
pub const RECOVERY_POINT: u8 = 0x02;
/// Flag bit: a `log-start-offset` file holds the header's log start offset.
pub const RECOVERY_LOG_START: u8 = 0x04;
/// Flag bit: set the CRC-32C of every framed batch of each `.log`.
pub const RECOVERY_FIX_CRC: u8 = 0x08;
/// Flag bits 4–5: `index.interval.bytes`, one of [`RECOVERY_INTERVALS`].
pub const RECOVERY_INTERVALS: [u32; 4] = [4096, 1, 100, 1000];

/// The fixed header of a `recovery` input.
const RECOVERY_HEADER: usize = 5;
/// The header of each segment in a `recovery` input.
const SEGMENT_HEADER: usize = 8;

/// One segment's files, as the `recovery` target writes them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SegmentFiles {
    pub base_offset: u16,
    pub index: Vec<u8>,
    pub time_index: Vec<u8>,
    pub log: Vec<u8>,
}

/// Encodes a `recovery` input (for the seed corpus):
///
/// | bytes | field                                                     |
/// |-------|-----------------------------------------------------------|
/// | 0     | flags (`RECOVERY_*`)                                      |
/// | 1–2   | recovery point, u16 (used with `RECOVERY_POINT`)          |
/// | 3–4   | log start offset, u16 (used with `RECOVERY_LOG_START`)    |
/// | then, per segment (at most 4): base offset u16, `.index` length u16, `.timeindex` length u16, `.log` length u16, then those bytes in that order |
///
/// A length past the end of the input takes what is left.
pub fn recovery_input(
    flags: u8,
    recovery_point: u16,
    log_start: u16,
    segs: &[SegmentFiles],
) -> Vec<u8> {
    let mut out = vec![flags];
    out.extend(recovery_point.to_be_bytes());
    out.extend(log_start.to_be_bytes());
    for s in segs {
        out.extend(s.base_offset.to_be_bytes());
        for part in [&s.index, &s.time_index, &s.log] {
            out.extend(u16::try_from(part.len()).unwrap_or(u16::MAX).to_be_bytes());
        }
        out.extend(&s.index);
        out.extend(&s.time_index);
        out.extend(&s.log);
    }
    out
}

fn parse_recovery_input(data: &[u8]) -> Option<(u8, u16, u16, Vec<SegmentFiles>)> {
    if data.len() < RECOVERY_HEADER {
        return None;
    }
    let u16_at = |at: usize| u16::from_be_bytes([data[at], data[at + 1]]);
    let (flags, point, start) = (data[0], u16_at(1), u16_at(3));
    let mut rest = &data[RECOVERY_HEADER..];
    let mut segs = Vec::new();
    while rest.len() >= SEGMENT_HEADER && segs.len() < 4 {
        let field = |i: usize| u16::from_be_bytes([rest[2 * i], rest[2 * i + 1]]);
        let base_offset = field(0);
        let lens = [field(1), field(2), field(3)].map(usize::from);
        rest = &rest[SEGMENT_HEADER..];
        let mut take = |len: usize| {
            let (part, after) = rest.split_at(len.min(rest.len()));
            rest = after;
            part.to_vec()
        };
        segs.push(SegmentFiles {
            base_offset,
            index: take(lens[0]),
            time_index: take(lens[1]),
            log: take(lens[2]),
        });
    }
    Some((flags, point, start, segs))
}

/// Input: the files of one partition directory ([`recovery_input`] says how). Writes
/// them into a temp dir, opens the log as the broker does at start-up
/// (`PartitionLog::open`), reads every offset it reports, appends a batch, closes,
/// and opens it again.
///
/// Without the clean-shutdown marker and without a recovery point, recovery scans
/// everything and must keep a valid prefix: every `.log` left is a prefix of what was
/// written, every batch read back is whole and CRC-valid with increasing offsets, and
/// an append lands at the log end and survives a clean reopen. With the marker the
/// broker trusts the files as a clean close left them, and with a recovery point the
/// segments below it as synced whole (as Kafka does), so there it must only not panic.
pub fn recovery(data: &[u8]) {
    let Some((flags, point, start, segs)) = parse_recovery_input(data) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let part = dir.path().join("fuzz-0");
    std::fs::create_dir(&part).expect("partition dir");
    let clean = flags & RECOVERY_CLEAN != 0;
    // Everything is scanned, so everything kept must be valid (see above).
    let strict = !clean && flags & RECOVERY_POINT == 0;
    let mut written: BTreeMap<u16, Vec<u8>> = BTreeMap::new();
    for mut s in segs {
        if flags & RECOVERY_FIX_CRC != 0 {
            fix_crcs(&mut s.log);
        }
        let base = i64::from(s.base_offset);
        let write = |ext: &str, bytes: &[u8]| {
            std::fs::write(part.join(file_name(base, ext)), bytes).expect("write segment file");
        };
        write("index", &s.index);
        write("timeindex", &s.time_index);
        write("log", &s.log);
        written.insert(s.base_offset, s.log);
    }
    if clean {
        std::fs::write(part.join(CLEAN_SHUTDOWN_FILE), b"").expect("marker");
    }
    if flags & RECOVERY_POINT != 0 {
        std::fs::write(part.join("recovery-point"), format!("{point}\n")).expect("point");
    }
    if flags & RECOVERY_LOG_START != 0 {
        std::fs::write(part.join("log-start-offset"), format!("{start}\n")).expect("start");
    }
    let config = crate::config::LogConfig {
        index_interval_bytes: RECOVERY_INTERVALS[usize::from(flags >> 4) & 3],
        max_index_bytes: 4096,
        ..crate::config::LogConfig::default()
    };
    let log = match PartitionLog::open(&part, config.clone()) {
        Ok(log) => log,
        Err(e) => panic!("a partition directory with any bytes in it opens: {e}"),
    };
    let (start, end) = (log.log_start_offset(), log.log_end_offset());
    assert!(start <= end, "log start {start} is after log end {end}");
    if !clean {
        check_prefixes(&part, &written);
    }
    read_all(&log, start, end, strict);

    // The log takes an append at its end, and a clean reopen finds it.
    let batch = record::build(
        &[NewRecord {
            key: Some(Bytes::from_static(b"k")),
            value: Some(Bytes::from_static(b"v")),
            headers: Vec::new(),
            timestamp: 1_700_000_000_000,
        }],
        1_700_000_000_000,
        Compression::None,
    );
    let appended = log.append(&batch);
    if !strict {
        let _ = log.close();
        return;
    }
    let info = appended.expect("a recovered log takes an append");
    assert_eq!(info.base_offset, end, "the append lands at the log end");
    log.close().expect("close");
    drop(log);
    let log = PartitionLog::open(&part, config).expect("clean reopen");
    assert_eq!(
        log.log_end_offset(),
        end + 1,
        "the append survives a clean reopen"
    );
    read_all(&log, log.log_start_offset(), end + 1, true);
}

/// Every `.log` in `dir` is a prefix of what was written for its base offset.
fn check_prefixes(dir: &Path, written: &BTreeMap<u16, Vec<u8>>) {
    for (&base, bytes) in written {
        let path = dir.join(file_name(i64::from(base), "log"));
        if let Ok(kept) = std::fs::read(&path) {
            assert!(
                bytes.starts_with(&kept),
                "{} keeps {} bytes that are not a prefix of the {} written",
                path.display(),
                kept.len(),
                bytes.len()
            );
        }
    }
}

/// Reads `[start, end)` batch by batch. With `strict`, every read inside the range
/// must succeed and give whole, CRC-valid batches with increasing offsets.
fn read_all(log: &PartitionLog, start: i64, end: i64, strict: bool) {
    let mut next = start;
    let mut last_base = i64::MIN;
    while next < end {
        let chunk = match log.read(next, 64 * 1024) {
            Ok(chunk) => chunk,
            Err(e) if strict => panic!("reading offset {next} of [{start}, {end}): {e}"),
            Err(_) => return,
        };
        if chunk.is_empty() {
            // Past the last batch of the log: only gaps (the cleaner's) may remain.
            return;
        }
        let before = next;
        for frame in frames(&chunk) {
            let range = match frame {
                Ok(range) => range,
                Err(torn) if strict => panic!("read gave a torn batch: {torn}"),
                Err(_) => return,
            };
            let h = match check_frame(&chunk[range]) {
                Ok(h) => h,
                Err(e) if strict => panic!("read gave a bad batch at offset {next}: {e}"),
                Err(_) => return,
            };
            if strict {
                assert!(h.base_offset > last_base, "offsets increase");
                assert!(
                    h.last_offset() >= next,
                    "a read starts at or before its offset"
                );
            }
            last_base = h.base_offset;
            next = next.max(h.last_offset().saturating_add(1));
        }
        if next == before {
            assert!(!strict, "a read at {next} made no progress");
            return;
        }
    }
}

// ---------------------------------------------------------------------------------
// Target `offsets_records`: the `__consumer_offsets` replay.
// ---------------------------------------------------------------------------------

/// Input: stored `__consumer_offsets` batches, as the coordinator's replay reads them
/// (`offset_store.rs: apply_batch`, the step `inspect groups` shares); the same bytes
/// also go to the key and value decoders on their own. A decoded key or value must
/// encode back to itself.
pub fn offsets_records(data: &[u8]) {
    let mut map: BTreeMap<OffsetKey, CommittedOffset> = BTreeMap::new();
    let mut pending = offset_store::Pending::new();
    for batch in record_batch::split_batches(data) {
        let _ = offset_store::apply_batch(&mut map, &mut pending, batch);
    }
    for (key, value) in &map {
        assert_eq!(
            offset_record::decode_key(offset_record::encode_key(key)).as_ref(),
            Ok(key)
        );
        assert_eq!(
            offset_record::decode_value(offset_record::encode_value(value)).as_ref(),
            Ok(value)
        );
    }
    let bytes = Bytes::copy_from_slice(data);
    if let Ok(key) = offset_record::decode_key(bytes.clone()) {
        assert_eq!(
            offset_record::decode_key(offset_record::encode_key(&key)),
            Ok(key)
        );
    }
    if let Ok(value) = offset_record::decode_value(bytes) {
        assert_eq!(
            offset_record::decode_value(offset_record::encode_value(&value)),
            Ok(value)
        );
    }
}
