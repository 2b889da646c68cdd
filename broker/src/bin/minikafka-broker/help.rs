//! The defaults in `--help`: each serve flag's help gets `[default: …]`, read from
//! `Config::default()`, so the help never holds a second copy of a default.
//!
//! What must stay true: every serve flag with a default in `Config` is listed here (a
//! flag id that does not exist makes clap panic at start, which the CLI tests catch).

use minikafka_broker::Config;

/// Adds `[default: …]` to the help of each serve flag that has one, read from
/// `Config::default()`, so that `--help` tells the defaults without a second copy.
pub(crate) fn show_defaults(cmd: clap::Command) -> clap::Command {
    let d = Config::default();
    let retention_ms = d
        .log
        .retention_ms
        .map_or_else(|| "none".to_string(), |t| t.as_millis().to_string());
    let defaults = [
        (
            "listen",
            d.listeners
                .first()
                .map(|l| l.addr.to_string())
                .unwrap_or_default(),
        ),
        (
            "connection_failed_authentication_delay_ms",
            d.sasl.failed_authentication_delay.as_millis().to_string(),
        ),
        (
            "max_failed_authentications",
            d.sasl.max_failed_authentications.to_string(),
        ),
        (
            "sasl_enabled_mechanisms",
            d.sasl
                .mechanisms
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(","),
        ),
        ("data_dir", d.data_dir.display().to_string()),
        ("num_partitions", d.num_partitions.to_string()),
        ("auto_create_topics", d.auto_create_topics.to_string()),
        ("fsync", d.log.fsync.to_string()),
        ("segment_bytes", d.log.segment_bytes.to_string()),
        ("retention_ms", retention_ms),
        ("max_request_bytes", d.max_request_bytes.to_string()),
        ("max_connections", d.max_connections.to_string()),
        ("fetch_max_bytes", d.fetch_max_bytes.to_string()),
        (
            "connections_max_idle_ms",
            d.connections_max_idle.as_millis().to_string(),
        ),
        ("max_connections_per_ip", "no limit".to_string()),
        (
            "retention_check_interval_ms",
            d.retention_check_interval.as_millis().to_string(),
        ),
        (
            "log_cleaner_backoff_ms",
            d.log_cleaner_backoff.as_millis().to_string(),
        ),
        (
            "producer_id_expiration_ms",
            d.producer_id_expiration.as_millis().to_string(),
        ),
        (
            "producer_id_expiration_check_interval_ms",
            d.producer_id_expiration_check_interval
                .as_millis()
                .to_string(),
        ),
        (
            "transaction_max_timeout_ms",
            d.transaction_max_timeout.as_millis().to_string(),
        ),
        (
            "transaction_abort_interval_ms",
            d.transaction_abort_interval.as_millis().to_string(),
        ),
        (
            "transactional_id_expiration_ms",
            d.transactional_id_expiration.as_millis().to_string(),
        ),
        (
            "offsets_topic_segment_bytes",
            d.offsets_topic_segment_bytes.to_string(),
        ),
        (
            "group_min_session_timeout_ms",
            d.group_min_session_timeout.as_millis().to_string(),
        ),
        (
            "group_max_session_timeout_ms",
            d.group_max_session_timeout.as_millis().to_string(),
        ),
    ];
    let annotate = |mut cmd: clap::Command| {
        for (id, value) in &defaults {
            cmd = cmd.mut_arg(*id, |arg| {
                let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
                arg.help(format!("{help} [default: {value}]"))
            });
        }
        cmd
    };
    annotate(cmd).mut_subcommand("serve", annotate)
}
