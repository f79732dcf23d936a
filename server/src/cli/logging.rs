//! The log of the `dqlite-server` binary: where it goes (stderr), which
//! events it keeps (`RUST_LOG`, else [`DEFAULT_FILTER`]) and how each is
//! written ([`LogFormat`]).
//!
//! Part of the binary only (the library logs through `tracing` and leaves
//! the subscriber to its embedder).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// What is logged when `RUST_LOG` is not set: this server's own events
/// at INFO (start, elections, membership changes, snapshots, shutdown),
/// other crates' at WARN. openraft's at ERROR only: its warnings repeat
/// every failed heartbeat to a member that is down (several a second),
/// which `dqlite_server::raft::network` reports itself, once per outage.
pub(crate) const DEFAULT_FILTER: &str = "warn,openraft=error,dqlite_server=info";

/// How each log line is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// `TIMESTAMP LEVEL target: message key=value ...`, coloured only
    /// when stderr is a terminal (and `NO_COLOR` is not set).
    Text,
    /// One JSON object a line: `timestamp`, `level`, `target`, `message`
    /// and the event's own fields at the top level (`span` holds the
    /// connection an event belongs to, if any).
    Json,
}

/// Installs the process-wide subscriber, writing to stderr.
pub(crate) fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(colour()).init(),
        LogFormat::Json => builder
            .json()
            .with_ansi(false)
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}

/// Whether text lines are coloured: only on a terminal, so that a log
/// redirected to a file or a pipe holds no escape codes.
fn colour() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
