//! The report of `perf compare`: medians over the runs, ratios to the first column, and
//! the markdown table (or one JSON object) printed at the end.
//!
//! What must stay true:
//! - Every ratio divides a median by the median of the first target in the same row; a
//!   cell with no figure (failed, not built, not run) shows why instead of a number.
//! - The markdown is a table that pastes into docs/benchmarks.md as it is: one header,
//!   one row per workload, two columns per target (records/s, server CPU ms/M), then the
//!   notes as a list.

use std::fmt::Write;

use serde::Serialize;

use super::target::TargetId;
use super::workload::{Measure, Sizes, WorkloadId};

/// What the run found, as printed.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Runs of each cell; the figures are their medians.
    pub runs: u32,
    pub sizes: Sizes,
    /// The columns, reference first.
    pub targets: Vec<TargetId>,
    pub rows: Vec<Row>,
    /// What a reader needs to read the figures right.
    pub notes: Vec<String>,
}

/// One workload across the targets.
#[derive(Debug, Serialize)]
pub struct Row {
    pub workload: WorkloadId,
    pub label: String,
    pub cells: Vec<Cell>,
}

/// One workload on one target.
#[derive(Debug, Serialize)]
pub struct Cell {
    pub target: TargetId,
    /// Each run's figures.
    pub runs: Vec<Measure>,
    /// Median records/s over the runs.
    pub records_per_s: Option<f64>,
    /// Median server CPU ms per million records over the runs.
    pub server_cpu_ms_per_million: Option<f64>,
    /// Median records/s divided by the first target's in this row.
    pub records_per_s_ratio: Option<f64>,
    /// Median CPU ms/M divided by the first target's in this row.
    pub cpu_ratio: Option<f64>,
    /// Why there is no figure (or a figure to read with care).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// What failed, one entry per failed run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

impl Cell {
    /// An empty cell for `target`.
    pub fn new(target: TargetId) -> Cell {
        Cell {
            target,
            runs: Vec::new(),
            records_per_s: None,
            server_cpu_ms_per_million: None,
            records_per_s_ratio: None,
            cpu_ratio: None,
            note: target.unavailable().map(str::to_string),
            errors: Vec::new(),
        }
    }
}

impl Row {
    /// Fills in the medians and the ratios to the first cell.
    pub fn finish(&mut self) {
        for cell in &mut self.cells {
            cell.records_per_s = median(cell.runs.iter().map(|m| m.records_per_s));
            cell.server_cpu_ms_per_million =
                median(cell.runs.iter().filter_map(|m| m.server_cpu_ms_per_million));
        }
        let Some(first) = self.cells.first() else {
            return;
        };
        let (rate, cpu) = (first.records_per_s, first.server_cpu_ms_per_million);
        for cell in &mut self.cells {
            cell.records_per_s_ratio = ratio(cell.records_per_s, rate);
            cell.cpu_ratio = ratio(cell.server_cpu_ms_per_million, cpu);
        }
    }
}

/// The median of some figures (the mean of the middle two for an even count).
pub fn median(values: impl Iterator<Item = f64>) -> Option<f64> {
    let mut v: Vec<f64> = values.filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

fn ratio(value: Option<f64>, reference: Option<f64>) -> Option<f64> {
    match (value, reference) {
        (Some(v), Some(r)) if r > 0.0 => Some(v / r),
        _ => None,
    }
}

impl Report {
    /// The markdown table and its notes.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let mut header = String::from("| workload |");
        let mut rule = String::from("|---|");
        for t in &self.targets {
            let _ = write!(
                header,
                " {} records/s | {} CPU ms/M |",
                t.label(),
                t.label()
            );
            rule.push_str("---:|---:|");
        }
        let _ = writeln!(out, "{header}\n{rule}");
        for row in &self.rows {
            let _ = write!(out, "| {} |", row.label);
            for (i, cell) in row.cells.iter().enumerate() {
                let first = i == 0;
                let rate = figure(cell.records_per_s, cell.records_per_s_ratio, first);
                let cpu = figure(cell.server_cpu_ms_per_million, cell.cpu_ratio, first);
                let why = if !cell.errors.is_empty() {
                    "failed"
                } else if cell.note.is_some() && cell.runs.is_empty() {
                    "n/a"
                } else {
                    "–"
                };
                let rate = rate.unwrap_or_else(|| why.to_string());
                let cpu = cpu.unwrap_or_else(|| why.to_string());
                let _ = write!(out, " {rate} | {cpu} |");
            }
            out.push('\n');
        }
        out.push('\n');
        for note in &self.notes {
            let _ = writeln!(out, "- {note}");
        }
        for row in &self.rows {
            for cell in &row.cells {
                if let Some(note) = &cell.note {
                    let _ = writeln!(out, "- {} on {}: {note}", row.label, cell.target.label());
                }
                for e in &cell.errors {
                    let _ = writeln!(
                        out,
                        "- FAILED {} on {}: {e}",
                        row.label,
                        cell.target.label()
                    );
                }
            }
        }
        out
    }
}

/// `412,345 (0.93×)`, or the reference's `412,345`, rounded to a whole number.
fn figure(value: Option<f64>, ratio: Option<f64>, first: bool) -> Option<String> {
    let shown = thousands(value?.max(0.0).round() as u64);
    Some(match (first, ratio) {
        (false, Some(r)) => format!("{shown} ({})", times(r)),
        _ => shown,
    })
}

/// `0.005×`, `0.93×`, `22.0×`, `150×`: at least two significant digits below 100.
pub fn times(r: f64) -> String {
    if r < 0.1 {
        format!("{r:.3}×")
    } else if r < 10.0 {
        format!("{r:.2}×")
    } else if r < 100.0 {
        format!("{r:.1}×")
    } else {
        format!("{r:.0}×")
    }
}

/// `1234567` → `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_ratios() {
        assert_eq!(median([3.0, 1.0, 2.0].into_iter()), Some(2.0));
        assert_eq!(median([4.0, 1.0, 2.0, 3.0].into_iter()), Some(2.5));
        assert_eq!(median(std::iter::empty()), None);
        assert_eq!(times(0.934), "0.93×");
        assert_eq!(times(0.0047), "0.005×");
        assert_eq!(times(22.04), "22.0×");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
    }

    #[test]
    fn cells_show_ratios_to_the_first_and_why_figures_are_missing() {
        let m = |r: f64, c: f64| Measure {
            records: 10,
            records_per_s: r,
            server_cpu_ms_per_million: Some(c),
        };
        let mut cells = vec![
            Cell::new(TargetId::NeverNative),
            Cell::new(TargetId::AlwaysNative),
        ];
        cells[0].runs = vec![m(1000.0, 100.0), m(3000.0, 300.0), m(2000.0, 200.0)];
        cells[1].runs = vec![m(500.0, 400.0)];
        let mut failed = Cell::new(TargetId::NeverRdkafka);
        failed.errors.push("boom".into());
        cells.push(failed);
        let mut row = Row {
            workload: WorkloadId::Baseline,
            label: "baseline".into(),
            cells,
        };
        row.finish();
        assert_eq!(row.cells[1].records_per_s_ratio, Some(0.25));
        assert_eq!(row.cells[1].cpu_ratio, Some(2.0));
        let report = Report {
            runs: 3,
            sizes: Sizes {
                records: 10,
                records_fsync_always: 1,
                consume_bytes: 1024,
                mock_consume_records: 1,
                idle_connections: 1,
            },
            targets: vec![
                TargetId::NeverNative,
                TargetId::AlwaysNative,
                TargetId::NeverRdkafka,
            ],
            rows: vec![row],
            notes: vec!["a note".into()],
        };
        let text = report.markdown();
        assert!(
            text.contains(
                "| baseline | 2,000 | 200 | 500 (0.25×) | 400 (2.00×) | failed | failed |"
            ),
            "{text}"
        );
        assert!(text.contains("- a note\n"), "{text}");
        assert!(
            text.contains("FAILED baseline on minikafka fsync=never, rdkafka: boom"),
            "{text}"
        );
    }
}
