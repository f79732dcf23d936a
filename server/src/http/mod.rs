//! The node's operations endpoints, served over HTTP/1.1 (axum) on their
//! own listener when one is given (`--http-address`,
//! [`NodeBuilder::http`](crate::NodeBuilder::http)):
//!
//! - `GET /metrics`: every metric in the Prometheus text format
//!   (OpenMetrics 1.0), names prefixed `dqlite_` (see `crate::metrics`).
//! - `GET /healthz`: 200 `ok` while the node serves (its Raft runs); once
//!   Raft has stopped on a fatal error, 503 and why (and the node stops,
//!   taking this server with it).
//! - `GET /readyz`: 200 `ready` when the node can serve reads that are
//!   current and writes through the leader; 503 with a one-line reason
//!   otherwise (see [`READY_MAX_LAG`](crate::READY_MAX_LAG) for the bound).
//! - `GET /status`: JSON: id, address, role, leader, members with their
//!   roles, version, uptime, bytes of the data directory.
//!
//! The server sees the node only through [`Probe`] (implemented by the
//! node in `node/observe.rs`), so that it does not import the node back.
//! It runs on the node's thread and stops with the node.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use crate::metrics::Metrics;

/// What the endpoints ask of the node.
pub(crate) trait Probe: Clone + Send + Sync + 'static {
    /// The node's metrics, with the gauges read at scrape time brought up
    /// to date.
    fn fresh_metrics(&self) -> &Metrics;
    /// Whether the node serves: `Err` says why not.
    fn healthy(&self) -> Result<(), String>;
    /// Whether the node is ready (see the module doc): `Err` says why not.
    fn ready(&self) -> Result<(), String>;
    /// What `/status` reports.
    fn status(&self) -> Status;
}

/// The body of `GET /status`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Status {
    /// This node's id.
    pub(crate) id: u64,
    /// This node's address.
    pub(crate) address: String,
    /// Its role (`voter`, `standby`, `spare`), or null if it is not a
    /// member (yet).
    pub(crate) role: Option<&'static str>,
    /// Whether this node leads.
    pub(crate) is_leader: bool,
    /// The leader as this node knows it, or null.
    pub(crate) leader: Option<StatusMember>,
    /// The members of the configuration, in the order they were added.
    pub(crate) members: Vec<StatusMember>,
    /// The server's version.
    pub(crate) version: &'static str,
    /// Seconds since the node started.
    pub(crate) uptime_seconds: u64,
    /// Bytes of files in the data directory.
    pub(crate) data_dir_bytes: u64,
}

/// A member as `/status` lists it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct StatusMember {
    /// Node id.
    pub(crate) id: u64,
    /// Node address.
    pub(crate) address: String,
    /// Its role (`voter`, `standby`, `spare`); null for the leader entry
    /// if it left the configuration.
    pub(crate) role: Option<&'static str>,
}

/// The router of the endpoints, answering for `probe`.
pub(crate) fn router<P: Probe>(probe: P) -> Router {
    Router::new()
        .route("/metrics", get(metrics::<P>))
        .route("/healthz", get(healthz::<P>))
        .route("/readyz", get(readyz::<P>))
        .route("/status", get(status::<P>))
        .with_state(probe)
}

/// Serves the endpoints on `listener` until the task is dropped.
pub(crate) async fn serve<P: Probe>(listener: tokio::net::TcpListener, probe: P) {
    if let Err(e) = axum::serve(listener, router(probe)).await {
        tracing::warn!(error = %e, "the HTTP endpoints stopped");
    }
}

/// The content type of the text exposition format `encode` writes.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

async fn metrics<P: Probe>(State(probe): State<P>) -> Response {
    match probe.fresh_metrics().encode() {
        Ok(text) => ([(header::CONTENT_TYPE, OPENMETRICS)], text).into_response(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot encode the metrics\n",
        )
            .into_response(),
    }
}

/// 200 with `ok_text`, or 503 with the reason, each on one line.
fn verdict(outcome: Result<(), String>, ok_text: &str) -> Response {
    match outcome {
        Ok(()) => (StatusCode::OK, format!("{ok_text}\n")).into_response(),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")).into_response(),
    }
}

async fn healthz<P: Probe>(State(probe): State<P>) -> Response {
    verdict(probe.healthy(), "ok")
}

async fn readyz<P: Probe>(State(probe): State<P>) -> Response {
    verdict(probe.ready(), "ready")
}

async fn status<P: Probe>(State(probe): State<P>) -> Json<Status> {
    Json(probe.status())
}
