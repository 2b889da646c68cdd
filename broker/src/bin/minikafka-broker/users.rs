//! `minikafka-broker users`: the SASL user file (`--sasl-users`). Each user gets SCRAM
//! credentials (salted and hashed, as `security/users.rs` stores them), never the
//! password itself; a running broker sees a change at once.
//!
//! What must stay true: a password given on standard input is read as one line, and an
//! empty one is refused.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub(crate) enum Users {
    /// Add a user, or change its password.
    Add {
        /// The user name.
        name: String,
        /// The user file (created if missing).
        #[arg(long)]
        file: PathBuf,
        /// The password. Without it, one line is read from standard input (safer: a
        /// password on the command line shows in `ps` and the shell history).
        #[arg(long)]
        password: Option<String>,
        /// Mechanisms to store a credential for (PLAIN logins work with either).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "SCRAM-SHA-256,SCRAM-SHA-512"
        )]
        mechanism: Vec<String>,
    },
    /// Remove a user.
    Remove {
        /// The user name.
        name: String,
        /// The user file.
        #[arg(long)]
        file: PathBuf,
    },
    /// List the users and the mechanisms each can log in with.
    List {
        /// The user file.
        #[arg(long)]
        file: PathBuf,
    },
}

pub(crate) fn users(command: Users) -> anyhow::Result<()> {
    use minikafka_broker::security::scram::ScramHash;
    use minikafka_broker::security::users::Users as UserFile;
    match command {
        Users::Add {
            name,
            file,
            password,
            mechanism,
        } => {
            let hashes = mechanism
                .iter()
                .map(|m| {
                    m.parse()
                        .ok()
                        .and_then(ScramHash::of)
                        .with_context(|| format!("{m:?} is not SCRAM-SHA-256 or SCRAM-SHA-512"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let password = match password {
                Some(p) => p,
                None => {
                    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                        eprint!("password for {name}: ");
                    }
                    let mut line = String::new();
                    std::io::stdin()
                        .read_line(&mut line)
                        .context("cannot read the password from standard input")?;
                    line.trim_end_matches(['\n', '\r']).to_string()
                }
            };
            anyhow::ensure!(!password.is_empty(), "the password is empty");
            let mut users = UserFile::load(&file)?;
            users.add(&name, &password, &hashes)?;
            users.save(&file)?;
            let mechanisms: Vec<String> =
                hashes.iter().map(|h| h.mechanism().to_string()).collect();
            println!(
                "user {name} saved in {} ({}, and PLAIN)",
                file.display(),
                mechanisms.join(", ")
            );
        }
        Users::Remove { name, file } => {
            let mut users = UserFile::load(&file)?;
            users.remove(&name)?;
            users.save(&file)?;
            println!("user {name} removed from {}", file.display());
        }
        Users::List { file } => {
            for (name, mechanisms) in UserFile::load(&file)?.list() {
                println!("{name}\t{}", mechanisms.join(","));
            }
        }
    }
    Ok(())
}
