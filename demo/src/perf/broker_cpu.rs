//! The broker's CPU time, read from its Prometheus endpoint (`process_cpu_seconds_total`
//! in the text served by the broker's `--http` at `/metrics`).
//!
//! What must stay true:
//! - Only plain `http://host:port/path` URLs; anything else is a clear error, not a guess.
//! - A scrape is bounded in time, so a silent endpoint cannot hang a run.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const METRIC: &str = "process_cpu_seconds_total";

/// Seconds of CPU the broker process has used so far, from `url`.
pub async fn read(url: &str) -> Result<f64> {
    tokio::time::timeout(Duration::from_secs(10), scrape(url))
        .await
        .with_context(|| format!("{url} did not answer within 10 s"))?
        .with_context(|| format!("reading the broker's CPU from {url}"))
}

/// CPU milliseconds per million records, from the seconds before and after.
pub fn ms_per_million(before: f64, after: f64, records: u64) -> f64 {
    (after - before) * 1000.0 / (records as f64 / 1e6)
}

async fn scrape(url: &str) -> Result<f64> {
    let rest = url
        .strip_prefix("http://")
        .context("--broker-metrics must be an http:// URL, e.g. http://127.0.0.1:9093/metrics")?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/metrics"),
    };
    let mut stream = TcpStream::connect(host)
        .await
        .with_context(|| format!("cannot connect to {host}"))?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("the answer is not an HTTP response")?;
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        bail!("the answer was `{status}`, not 200 OK");
    }
    parse(body)
}

/// The value of [`METRIC`] in a Prometheus text exposition.
fn parse(body: &str) -> Result<f64> {
    for line in body.lines() {
        let Some(rest) = line.strip_prefix(METRIC) else {
            continue;
        };
        if !(rest.starts_with(' ') || rest.starts_with('{')) {
            continue;
        }
        let value = rest
            .rsplit(' ')
            .find(|s| !s.is_empty())
            .context("an empty sample")?;
        return value
            .parse()
            .with_context(|| format!("`{line}` has no number"));
    }
    bail!("no {METRIC} in the answer (is this the broker's /metrics?)")
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn the_cpu_counter_is_found_among_others() {
        let body = "# HELP process_cpu_seconds CPU.\n# TYPE process_cpu_seconds counter\n\
                    process_cpu_seconds_total_x 9\nprocess_cpu_seconds_total 1.25\n";
        assert_eq!(parse(body).unwrap(), 1.25);
        assert!(parse("other_total 3\n").is_err());
    }
}
