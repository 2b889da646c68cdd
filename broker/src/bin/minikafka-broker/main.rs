//! `minikafka-broker`: the thin CLI. `serve` (the default, `serve.rs`) runs the broker;
//! `inspect` (`inspect.rs`) looks inside a data directory; `users` (`users.rs`) manages
//! the SASL user file. All the work is in the library.
//!
//! Flow: operator → **main** → `Broker::start` (server → connection → protocol → …)
//! until Ctrl+C, then `BrokerHandle::shutdown`; `inspect` reads files with no server.
//!
//! What must stay true:
//! - No default is written here: a flag that is not given keeps its value from
//!   `Config::default()`, and `--help` shows the defaults read from there
//!   (`help.rs`).
//! - No broker logic here: flags become a `Config`, and the library does the rest.
//! - A failure exits with status 1 and its whole cause chain on one line.

mod help;
mod inspect;
mod serve;
mod users;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use help::show_defaults;
use inspect::{inspect, Inspect};
use serve::{serve, ServeArgs};
use users::{users, Users};

#[derive(Parser, Debug)]
#[command(
    name = "minikafka-broker",
    version,
    about = "A small Kafka-compatible broker you can read end to end"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

// Parsed once at start-up: the size of the serve variant costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
enum Command {
    /// Run the broker (the default when no command is given).
    Serve(ServeArgs),
    /// Look inside a data directory or a segment file.
    #[command(subcommand)]
    Inspect(Inspect),
    /// Manage the SASL user file (`--sasl-users`): SCRAM credentials, salted and
    /// hashed; no password is stored. A running broker sees changes at once.
    #[command(subcommand)]
    Users(Users),
}

fn main() -> std::process::ExitCode {
    let matches = show_defaults(Cli::command()).get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` prints the whole chain of causes on one line, without a backtrace.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::Inspect(command)) => inspect(command),
        Some(Command::Users(command)) => users(command),
        Some(Command::Serve(args)) => serve(args),
        None => serve(cli.serve),
    }
}
