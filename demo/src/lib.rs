//! What the classroom binaries (`producer`, `consumer`) share: logging to stderr, the
//! exit code, and `--config key=value` parsing. Their stdout stays for the messages.
//!
//! Where it sits: under both ends of the flow, the demo `producer` (start) and
//! `consumer` (end).
//!
//! What must stay true:
//! - Nothing here writes to stdout: logs and errors go to stderr.
//! - Exit code 0 only on success; a failure prints `error:` with every cause and exits 1.
//! - `--config` splits at the first `=` and trims both sides (`a=b=c` → `a`, `b=c`).

use std::future::Future;
use std::process::ExitCode;

use anyhow::Context;

/// Logs to stderr at `warn` unless `RUST_LOG` says otherwise.
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// Runs a binary's body: exit 0 on success, else `error: …` with every cause and exit 1.
pub async fn exit_code(run: impl Future<Output = anyhow::Result<()>>) -> ExitCode {
    match run.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Splits one `--config key=value` into its trimmed key and value.
pub fn config_pair(kv: &str) -> anyhow::Result<(&str, &str)> {
    let (key, value) = kv
        .split_once('=')
        .with_context(|| format!("--config `{kv}` must look like key=value"))?;
    Ok((key.trim(), value.trim()))
}

#[cfg(test)]
mod tests {
    use super::config_pair;

    #[test]
    fn config_pairs_are_split_and_trimmed() {
        assert_eq!(config_pair(" linger.ms = 5 ").unwrap(), ("linger.ms", "5"));
        assert_eq!(config_pair("a=b=c").unwrap(), ("a", "b=c"));
        let err = config_pair("linger.ms").unwrap_err().to_string();
        assert!(err.contains("key=value"), "{err}");
    }
}
