//! Damage between two runs of the crash test, and what the files on disk say the valid
//! prefix of each partition is (so the check can demand that recovery keeps exactly it).
//!
//! Flow: SIGKILL → **damage** (garbage after the active segment, the segment cut short,
//! an index cut) → **valid_ends** → restart → `check_partition` compares the log end.
//!
//! What must stay true: a cut of ours forgets, in the model, exactly the acknowledged
//! records past the valid prefix of the cut file, and nothing else; garbage never forms
//! a valid batch (its CRC-32C fails, or its framing does).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use minikafka_broker::log::record_batch::frames;
use minikafka_testkit::disk::{active_segment, base_offset_of, valid_prefix};
use rand::rngs::StdRng;
use rand::Rng;

use super::{spec, Kind, Model, Totals, Tp, OFFSETS_TOPIC, TOPICS};

/// Each partition's log end offset as recovery must find it: the valid prefix of its
/// active segment.
pub fn valid_ends(data: &Path) -> BTreeMap<Tp, i64> {
    let mut ends = BTreeMap::new();
    for s in &TOPICS {
        for p in 0..s.partitions {
            let tp = (s.name.to_string(), p);
            if let Some(log) = active_segment(data, &tp.0, tp.1) {
                let bytes = std::fs::read(&log).expect("read the active segment");
                ends.insert(tp, valid_prefix(&bytes, base_offset_of(&log)).0);
            }
        }
    }
    ends
}

/// What was done to a partition's files between two runs.
#[derive(Debug, Clone, Copy)]
pub enum Damage {
    /// Bytes appended after the active segment's last batch (the broker must cut them).
    Garbage,
    /// The active segment cut at a random length (what was past the cut is lost, by us).
    CutSegment,
    /// The active segment's offset index cut at a random length.
    CutIndex,
    /// The active segment's time index cut at a random length.
    CutTimeIndex,
}

/// One kind of damage to one partition's active segment, or nothing when the chosen
/// partition has no segment yet.
pub fn damage(
    rng: &mut StdRng,
    data: &Path,
    model: &mut Model,
    totals: &mut Totals,
) -> Option<(Tp, Damage)> {
    let mut targets: Vec<Tp> = TOPICS
        .iter()
        .flat_map(|s| (0..s.partitions).map(|p| (s.name.to_string(), p)))
        .collect();
    targets.push((OFFSETS_TOPIC.to_string(), 0));
    let tp = targets[rng.random_range(0..targets.len())].clone();
    let log = active_segment(data, &tp.0, tp.1)?;
    let bytes = std::fs::read(&log).expect("read the active segment");
    let roll = rng.random_range(0..10);
    // Cutting data away is only for topics whose model can forget it exactly (not the
    // compacted ones, where the cleaner may already have dropped the older values).
    let cuttable = tp.0 != OFFSETS_TOPIC && spec(&tp.0).kind != Kind::Compacted;
    if roll < 4 || (!cuttable && roll < 7) {
        append_garbage(rng, &log, &bytes);
        totals.garbage += 1;
        Some((tp, Damage::Garbage))
    } else if roll < 7 {
        let at = rng.random_range(0..=bytes.len());
        std::fs::OpenOptions::new()
            .write(true)
            .open(&log)
            .and_then(|f| f.set_len(at as u64))
            .expect("cut the active segment");
        // Our cut: whatever was past the valid prefix of the cut file is gone, by our hand.
        let (lost_from, _) = valid_prefix(&bytes[..at], base_offset_of(&log));
        if let Some(acked) = model.acked.get_mut(&tp) {
            acked.split_off(&lost_from);
        }
        totals.log_cuts += 1;
        Some((tp, Damage::CutSegment))
    } else {
        let (ext, what) = if rng.random_bool(0.5) {
            ("index", Damage::CutIndex)
        } else {
            ("timeindex", Damage::CutTimeIndex)
        };
        let index = log.with_extension(ext);
        let len = std::fs::metadata(&index).map_or(0, |m| m.len());
        let at = rng.random_range(0..=len);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&index)
            .and_then(|f| f.set_len(at))
            .expect("cut the index");
        totals.index_cuts += 1;
        Some((tp, what))
    }
}

/// Appends one of: random bytes; a batch header whose length runs past the file; zeros
/// (what a preallocated tail looks like); or a copy of the last batch, renumbered to the
/// next offset, with one byte of its records flipped (a torn rewrite: the CRC fails).
fn append_garbage(rng: &mut StdRng, log: &Path, bytes: &[u8]) {
    let garbage: Vec<u8> = match rng.random_range(0..4) {
        0 => (0..rng.random_range(1..300))
            .map(|_| rng.random())
            .collect(),
        1 => {
            let mut g = Vec::new();
            g.extend_from_slice(&valid_prefix(bytes, base_offset_of(log)).0.to_be_bytes());
            g.extend_from_slice(&100_000i32.to_be_bytes());
            g.extend_from_slice(&[0, 0, 0, 0, 2]);
            g.extend((0..rng.random_range(0..100)).map(|_| rng.random::<u8>()));
            g
        }
        2 => vec![0; rng.random_range(1..4096)],
        _ => {
            let (next, end) = valid_prefix(bytes, base_offset_of(log));
            let last = frames(&bytes[..end]).filter_map(Result::ok).last();
            match last {
                Some(r) if r.len() > 62 => {
                    let mut g = bytes[r].to_vec();
                    g[0..8].copy_from_slice(&next.to_be_bytes());
                    let i = rng.random_range(61..g.len());
                    g[i] ^= 0x5a;
                    g
                }
                _ => (0..64).map(|_| rng.random()).collect(),
            }
        }
    };
    std::fs::OpenOptions::new()
        .append(true)
        .open(log)
        .and_then(|mut f| f.write_all(&garbage))
        .expect("append garbage");
}
