//! The live dashboard: `GET /` (one HTML page, its script and its style sheet, all
//! compiled into the binary) and `GET /api/state`, the JSON the page polls.
//!
//! `/api/state` is the [`Snapshot`] of `snapshot.rs` (topics, partitions, segments,
//! groups, members, assignments, committed offsets, lag, recent events), plus what only
//! the page needs: the broker's address and clock, each partition's settings, and the
//! keys and values of each partition's newest records (so the page can label the cells
//! it draws, and show the gaps the log cleaner left in a compacted one; a record written
//! in a transaction carries its producer id, and a COMMIT or ABORT marker is named, so
//! the page can tell committed, aborted and still-open records apart). `?since=<seq>`
//! keeps only the events newer than `seq`. The JSON is described, with a sample, in
//! `docs/metrics.md` ("Dashboard").
//!
//! Where it sits: called by `http/mod.rs`; the page's files are beside this one, in
//! `dashboard/` (`index.html`, `dashboard.js`, `dashboard.css`), and are included with
//! `include_str!`: no build step, no CDN, no external font, no framework.
//!
//! What must stay true:
//! - `state` only reads the broker, and runs on the blocking pool (it reads the logs).
//! - The newest records are read through [`Partition::read`], the one door into a
//!   partition, at most [`TAIL_RECORDS`] per partition and [`TAIL_BYTES`] per read.
//!   The records of `__consumer_offsets`, whose keys and values are binary, are shown
//!   decoded by the offset store's own codec (`group/offset_store.rs`): key
//!   `demo-group demo-topic-0`, value `offset 5`. A control batch's record is named by
//!   `control_batch::marker_of`, not shown as its bytes.

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::group::offset_record::{decode_key, decode_value};
use crate::group::offset_store::OFFSETS_TOPIC;
use crate::log::control_batch::marker_of;
use crate::log::record::{self, Record};
use crate::log::record_batch::{self, BatchHeader};
use crate::protocol::BrokerContext;
use crate::snapshot::{snapshot, Snapshot};
use crate::topics::Partition;

/// How many of a partition's newest records `/api/state` shows (the page draws the
/// newest offsets of a long log, with an ellipsis before them).
pub const TAIL_RECORDS: i64 = 40;
/// The most bytes read from one partition in one read for those records.
pub const TAIL_BYTES: usize = 64 * 1024;
/// Keys and values longer than this are cut (with `…`).
const SHOWN_CHARS: usize = 48;

/// The page, its script and its style sheet: `(path, content type, body)`.
const ASSETS: [(&str, &str, &str); 3] = [
    (
        "/",
        "text/html; charset=utf-8",
        include_str!("dashboard/index.html"),
    ),
    (
        "/dashboard.js",
        "text/javascript; charset=utf-8",
        include_str!("dashboard/dashboard.js"),
    ),
    (
        "/dashboard.css",
        "text/css; charset=utf-8",
        include_str!("dashboard/dashboard.css"),
    ),
];

/// The page's file at `path` (`/`, `/dashboard.js`, `/dashboard.css`): its content
/// type and body.
pub fn asset(path: &str) -> Option<(&'static str, &'static str)> {
    ASSETS
        .iter()
        .find(|(p, _, _)| *p == path)
        .map(|(_, content_type, body)| (*content_type, *body))
}

/// The answer of `/api/state`.
#[derive(Debug, Clone, Serialize)]
pub struct State {
    /// Who answers, and its clock (so the page can say "3 s ago" without trusting the
    /// browser's).
    pub broker: BrokerView,
    /// Topics, groups and events, as `snapshot.rs` reads them (flattened: `topics`,
    /// `groups` and `events` are top-level fields).
    #[serde(flatten)]
    pub snapshot: Snapshot,
    /// The `seq` of the newest event, even when `since` filtered it out (smaller than
    /// what the page saw before: the broker restarted, and its events start at 1 again).
    pub last_event_seq: u64,
    /// Per partition, `"<topic>-<partition>"`: its settings and newest records.
    pub partitions: BTreeMap<String, PartitionExtra>,
}

/// This broker, as clients reach it.
#[derive(Debug, Clone, Serialize)]
pub struct BrokerView {
    pub host: String,
    pub port: i32,
    /// The broker's wall clock, milliseconds since the Unix epoch.
    pub now_ms: i64,
}

/// What the page shows of a partition besides the snapshot's offsets.
#[derive(Debug, Clone, Serialize)]
pub struct PartitionExtra {
    /// `segment.bytes`: a segment rolls before it grows past this.
    pub segment_bytes: u64,
    /// `retention.ms` (`None`: kept forever by time).
    pub retention_ms: Option<u64>,
    /// `retention.bytes` (`None`: no size limit).
    pub retention_bytes: Option<u64>,
    /// The newest records (at most [`TAIL_RECORDS`]), oldest first.
    pub records: Vec<RecordView>,
    /// The offsets `records` covers: `[records_from, records_to)`. An offset in it with
    /// no record is a gap the log cleaner left (a compacted topic keeps only the latest
    /// record of each key, at its original offset).
    pub records_from: i64,
    pub records_to: i64,
}

/// One record, as the page labels its cell (a commit of `__consumer_offsets`: decoded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordView {
    pub offset: i64,
    pub timestamp: i64,
    /// UTF-8 (lossy), cut at 48 characters; `None` for a null key.
    pub key: Option<String>,
    pub value: Option<String>,
    /// Written in a transaction (attribute bit 4): `producer_id` says whose, and the
    /// partition's open and aborted transactions say whether it is committed.
    pub transactional: bool,
    /// The batch's producer id (`None`: not an idempotent or transactional producer's).
    pub producer_id: Option<i64>,
    /// `COMMIT` or `ABORT` for a transaction marker (a control record: no key or value
    /// of an application's).
    pub marker: Option<&'static str>,
}

/// Builds `/api/state`. Blocking: it reads the logs.
pub fn state(ctx: &BrokerContext, since: u64) -> State {
    let mut snapshot = snapshot(ctx);
    let last_event_seq = snapshot.events.last().map_or(0, |e| e.seq);
    snapshot.events.retain(|e| e.seq > since);
    let mut partitions = BTreeMap::new();
    for topic in ctx.topics.list() {
        for p in &topic.partitions {
            let config = p.config();
            let (records, covered) = tail(p);
            partitions.insert(
                p.name(),
                PartitionExtra {
                    segment_bytes: config.segment_bytes,
                    retention_ms: config.retention_ms.map(|d| d.as_millis() as u64),
                    retention_bytes: config.retention_bytes,
                    records,
                    records_from: covered.start,
                    records_to: covered.end,
                },
            );
        }
    }
    State {
        broker: BrokerView {
            host: ctx.node.host.clone(),
            port: ctx.node.port,
            now_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        },
        snapshot,
        last_event_seq,
        partitions,
    }
}

/// The partition's newest records, oldest first, and the offsets they cover (from
/// the first offset read to the one after the last record read). A record that cannot
/// be read (the log moved under us: retention, truncation) ends the list early; the
/// page then draws the cells after it without a label.
fn tail(p: &Partition) -> (Vec<RecordView>, Range<i64>) {
    let end = p.log_end_offset();
    let from = (end - TAIL_RECORDS).max(p.log_start_offset());
    let mut next = from;
    let mut out = Vec::new();
    'reading: while next < end {
        let Ok(bytes) = p.read(next, TAIL_BYTES) else {
            break;
        };
        let Ok(batches) = record_batch::split_exact(&bytes) else {
            break;
        };
        let before = next;
        for range in batches {
            let batch = &bytes[range];
            let (Ok(h), Ok(records)) = (BatchHeader::parse(batch), record::records(batch)) else {
                break 'reading;
            };
            let marker = if h.is_control() {
                marker_of(batch).map(|m| m.name())
            } else {
                None
            };
            for r in records {
                if r.offset < next {
                    continue; // the start of a batch that began before `next`
                }
                next = r.offset + 1;
                let mut v = if marker.is_some() {
                    RecordView {
                        offset: r.offset,
                        timestamp: r.timestamp,
                        key: None,
                        value: None,
                        transactional: false,
                        producer_id: None,
                        marker,
                    }
                } else {
                    view(&p.topic, r)
                };
                v.transactional = h.is_transactional();
                v.producer_id = (h.producer_id >= 0).then_some(h.producer_id);
                out.push(v);
            }
        }
        if next == before {
            break; // nothing new in what was read: do not spin
        }
    }
    (out, from..next)
}

/// A record as the page shows it: UTF-8, or for `__consumer_offsets` the commit decoded.
fn view(topic: &str, r: Record) -> RecordView {
    let plain = |bytes: Option<&[u8]>| bytes.map(shown);
    let (key, value) = if topic == OFFSETS_TOPIC {
        let key = r.key.clone().and_then(|k| decode_key(k).ok());
        let value = r.value.clone().map(|v| decode_value(v).ok());
        match (key, value) {
            (Some(k), Some(Some(v))) => (
                Some(format!("{} {}-{}", k.group, k.topic, k.partition)),
                Some(format!("offset {}", v.offset)),
            ),
            (Some(k), None) => (
                Some(format!("{} {}-{}", k.group, k.topic, k.partition)),
                Some("tombstone (commit deleted)".to_string()),
            ),
            _ => (plain(r.key.as_deref()), plain(r.value.as_deref())),
        }
    } else {
        (plain(r.key.as_deref()), plain(r.value.as_deref()))
    };
    RecordView {
        offset: r.offset,
        timestamp: r.timestamp,
        key,
        value,
        transactional: false,
        producer_id: None,
        marker: None,
    }
}

/// Bytes as the page shows them: UTF-8 (lossy), cut at [`SHOWN_CHARS`] characters.
fn shown(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if text.chars().count() <= SHOWN_CHARS {
        return text.into_owned();
    }
    let mut cut: String = text.chars().take(SHOWN_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// `since=<seq>` from a query string (`None` or unparsable: 0, every event).
pub fn since(query: Option<&str>) -> u64 {
    query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter_map(|pair| pair.strip_prefix("since="))
        .find_map(|v| v.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_and_its_files_are_served() {
        let (html_type, html) = asset("/").unwrap();
        assert!(html_type.starts_with("text/html"));
        assert!(html.contains("dashboard.js") && html.contains("dashboard.css"));
        assert!(asset("/dashboard.js").unwrap().0.contains("javascript"));
        assert!(asset("/dashboard.css").unwrap().0.starts_with("text/css"));
        assert!(asset("/nope").is_none());
        // Nothing is fetched from elsewhere: no CDN, no external font.
        for (_, _, body) in ASSETS {
            assert!(!body.contains("http://") && !body.contains("https://"));
        }
    }

    #[test]
    fn since_is_read_from_the_query() {
        assert_eq!(since(None), 0);
        assert_eq!(since(Some("since=17")), 17);
        assert_eq!(since(Some("x=1&since=4")), 4);
        assert_eq!(since(Some("since=abc")), 0);
    }

    #[test]
    fn long_keys_are_cut() {
        assert_eq!(shown(b"key-1"), "key-1");
        let long = shown("é".repeat(100).as_bytes());
        assert_eq!(long.chars().count(), SHOWN_CHARS);
        assert!(long.ends_with('…'));
    }
}
