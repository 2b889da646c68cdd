//! What transactions leave in a `.log`, as `inspect dump` shows it: the COMMIT or ABORT
//! marker a control batch carries, and each record of `__transaction_state` decoded as
//! the transactional id's state it is.
//!
//! Flow: beside the message path. The transaction coordinator (`txn/coordinator.rs`)
//! writes a state record to `__transaction_state` (`txn/state_log.rs`) at each step and
//! a marker into every partition of a transaction when it ends
//! (`log/control_batch.rs`); `dump.rs` calls [`marker`] for every control batch and
//! [`txn_state`] for every record of a `__transaction_state-*` segment.
//!
//! What must stay true: markers are read by `control_batch::marker_of` and state records
//! by `state_log::decode_key` / `decode_value`, the broker's own decoders; a record that
//! does not decode is shown with the reason, and the dump goes on.

use std::io::Write;

use serde::Serialize;

use super::format;
use crate::log::control_batch::marker_of;
use crate::log::record::Record;
use crate::txn::state_log::{decode_key, decode_value};

/// The marker of a control batch.
#[derive(Debug, Clone, Serialize)]
pub struct MarkerDump {
    /// `COMMIT` (control type 1) or `ABORT` (type 0).
    pub marker: &'static str,
    /// The epoch of the transaction coordinator that wrote it.
    pub coordinator_epoch: i32,
}

/// The marker of `batch`, a control batch; `None` for another control type (KRaft's).
pub(super) fn marker(batch: &[u8]) -> Option<MarkerDump> {
    marker_of(batch).map(|m| MarkerDump {
        marker: m.name(),
        coordinator_epoch: m.coordinator_epoch,
    })
}

impl MarkerDump {
    /// `  COMMIT marker: …`, the line under a control batch's header.
    pub(super) fn write_text(
        &self,
        producer_id: i64,
        epoch: i16,
        out: &mut dyn Write,
    ) -> std::io::Result<()> {
        let what = if self.marker == "COMMIT" {
            "its records become visible to read_committed consumers"
        } else {
            "read_committed consumers drop its records (see the .txnindex)"
        };
        writeln!(
            out,
            "  {} marker: ends producer {producer_id}'s transaction (epoch {epoch}) in this partition; {what}; coordinator epoch {}",
            self.marker, self.coordinator_epoch
        )
    }
}

/// A record of `__transaction_state`: one transactional id's state.
#[derive(Debug, Clone, Serialize)]
pub struct TxnStateDump {
    pub transactional_id: String,
    /// A null value: the id was removed (expired).
    pub tombstone: bool,
    pub producer_id: Option<i64>,
    pub producer_epoch: Option<i16>,
    pub timeout_ms: Option<i32>,
    /// `Empty`, `Ongoing`, `PrepareCommit`, `PrepareAbort`, `CompleteCommit`, …
    pub state: Option<&'static str>,
    /// The partitions in its transaction, `<topic>-<partition>`.
    pub partitions: Vec<String>,
    pub last_update_ms: Option<i64>,
    /// When its transaction started; -1 when none is open.
    pub start_ms: Option<i64>,
    /// Why the key or value could not be decoded.
    pub error: Option<String>,
}

/// Decodes a `__transaction_state` record with the state log's own codec.
pub(super) fn txn_state(r: &Record) -> TxnStateDump {
    let mut d = TxnStateDump {
        transactional_id: String::new(),
        tombstone: r.value.is_none(),
        producer_id: None,
        producer_epoch: None,
        timeout_ms: None,
        state: None,
        partitions: Vec::new(),
        last_update_ms: None,
        start_ms: None,
        error: None,
    };
    match r.key.clone().map(decode_key) {
        Some(Ok(id)) => d.transactional_id = id,
        Some(Err(e)) => d.error = Some(format!("key: {e}")),
        None => d.error = Some("null key: not a transaction state".into()),
    }
    if let (Some(v), None) = (r.value.clone(), &d.error) {
        match decode_value(&d.transactional_id, v) {
            Ok(m) => {
                d.producer_id = Some(m.producer_id);
                d.producer_epoch = Some(m.epoch);
                d.timeout_ms = Some(m.timeout_ms);
                d.state = Some(m.state.name());
                d.partitions = m
                    .partitions
                    .iter()
                    .map(|(t, p)| format!("{t}-{p}"))
                    .collect();
                d.last_update_ms = Some(m.last_update);
                d.start_ms = Some(m.start);
            }
            Err(e) => d.error = Some(format!("value: {e}")),
        }
    }
    d
}

impl TxnStateDump {
    /// `transactional id "…" state Ongoing producer id … epoch … partitions […] …`.
    pub(super) fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        if let Some(e) = &self.error {
            return write!(out, "not a transaction state ({e})");
        }
        let id = format!("transactional id {:?}", self.transactional_id);
        if self.tombstone {
            return write!(out, "tombstone {id} (the id expired and is forgotten)");
        }
        let started = match self.start_ms {
            Some(s) if s >= 0 => format!(" started {}", format::timestamp(s)),
            _ => String::new(),
        };
        write!(
            out,
            "{id} state {} producer id {} epoch {} timeout {} ms partitions [{}]{started}",
            self.state.unwrap_or("?"),
            self.producer_id.unwrap_or_default(),
            self.producer_epoch.unwrap_or_default(),
            self.timeout_ms.unwrap_or_default(),
            self.partitions.join(", ")
        )
    }
}
