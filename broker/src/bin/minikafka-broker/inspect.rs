//! `minikafka-broker inspect`: the library's `inspect` reports (topics, a dump of one
//! file, groups), printed as text or as `--json`.
//!
//! What must stay true: read-only (a data dir is never changed, even when no broker
//! runs), and a reader that goes away (`| head`) ends the output quietly.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub(crate) enum Inspect {
    /// List topics, partitions, offsets and segments of a data directory.
    Topics {
        /// The broker's data directory.
        data_dir: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print every batch and record of a `.log` (commits decoded in
    /// `__consumer_offsets`, transaction states in `__transaction_state`, COMMIT and
    /// ABORT markers named), or every entry of an `.index`, a `.timeindex`, a `.txnindex`
    /// (aborted transactions) or a producer-state `.snapshot`.
    Dump {
        /// A `<base offset>.log`, `.index`, `.timeindex`, `.txnindex` or `.snapshot` file.
        file: PathBuf,
        /// Label every byte of each batch header (offsets, length, CRC, ...), of a
        /// marker's record, and of each `.txnindex` entry.
        #[arg(long)]
        hex: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Consumer groups: committed offsets and lag, from the files of a data dir or
    /// from a running broker (with members and assignments).
    Groups {
        /// The broker's data directory (read-only).
        #[arg(
            required_unless_present = "bootstrap_server",
            conflicts_with = "bootstrap_server"
        )]
        data_dir: Option<PathBuf>,
        /// Ask a running broker instead (HOST:PORT).
        #[arg(long)]
        bootstrap_server: Option<String>,
        /// How long to wait for the broker, in milliseconds.
        #[arg(long, default_value_t = 5000)]
        timeout_ms: u64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Prints a report as pretty JSON or as its text rendering.
fn print<T: serde::Serialize>(
    report: &T,
    json: bool,
    text: impl FnOnce(&T, &mut dyn std::io::Write) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let written = if json {
        serde_json::to_writer_pretty(&mut out, report)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out))
    } else {
        text(report, &mut out)
    };
    match written {
        // The reader went away (`inspect dump ... | head`): stop quietly, as `cat` does.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        written => written.context("cannot write to standard output"),
    }
}

pub(crate) fn inspect(command: Inspect) -> anyhow::Result<()> {
    use minikafka_broker::inspect;
    match command {
        Inspect::Topics { data_dir, json } => {
            print(&inspect::topics(&data_dir)?, json, |r, o| r.write_text(o))
        }
        Inspect::Dump { file, hex, json } => {
            print(&inspect::dump(&file, hex)?, json, |r, o| r.write_text(o))
        }
        Inspect::Groups {
            data_dir,
            bootstrap_server,
            timeout_ms,
            json,
        } => {
            let report = match (data_dir, bootstrap_server) {
                (_, Some(addr)) => tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("cannot start the tokio runtime")?
                    .block_on(inspect::remote::groups(
                        &addr,
                        Duration::from_millis(timeout_ms),
                    ))?,
                (Some(dir), None) => inspect::groups(&dir)?,
                (None, None) => anyhow::bail!("give a data dir or --bootstrap-server"),
            };
            print(&report, json, |r, o| r.write_text(o))
        }
    }
}
