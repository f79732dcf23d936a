//! An embeddable node: its Raft instance, its databases, the client
//! connections it serves, and the sessions that run SQL.
//!
//! A node runs on a thread of its own with a current-thread runtime, like
//! the C server's event loop: Raft, the client connections and their SQL
//! all run there, so a request costs no thread switch; only the Raft log's
//! `fdatasync` runs on another thread. [`Node`] is a handle to it, usable
//! from any runtime; the node stops on [`Node::stop`], when the last
//! handle the builder returned (and its clones) is dropped, or by itself
//! when Raft fails on a storage error ([`Node::stopped`],
//! [`Node::failure`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), dqlite_server::Error> {
//! use dqlite_server::Node;
//! use dqlite_server::net::Limits;
//!
//! let listener = std::net::TcpListener::bind("127.0.0.1:9001")?;
//! let node = Node::builder(1, "127.0.0.1:9001", "./data")
//!     .serve(listener, Limits::default())
//!     .start()
//!     .await?;
//! let session = node.session("app").await?;
//! session.exec("CREATE TABLE t(x)").await?;
//! node.stop().await?;
//! # Ok(())
//! # }
//! ```
//!
//! - `start.rs`: [`NodeBuilder`], the node's thread and its wiring (data
//!   directory, Raft, the node's tasks, serving).
//! - `handle.rs`: [`Node`], the handle, and its queries.
//! - `membership.rs` (ADD, ASSIGN, REMOVE, TRANSFER, handover), `join.rs`
//!   (joining a cluster by address, as a dqlite client), `roles.rs` (the
//!   role manager), `events.rs` (INFO lines for elections and membership
//!   changes), `catchup.rs` (progress of a peer far behind, on the
//!   leader), `demotion.rs` (LEADER on a voter just demoted to
//!   spare), `snapshots.rs` (when to take a snapshot), `observe.rs`
//!   (health, readiness, status and the gauges of `GET /metrics`).

mod catchup;
mod demotion;
mod events;
mod handle;
mod join;
mod membership;
mod observe;
mod roles;
mod snapshots;
mod start;

pub use handle::{CHANGE_SETTLE_TIMEOUT, Node, STOP_TIMEOUT};
pub use membership::{CATCH_UP_TIMEOUT, HANDOVER_TIMEOUT, MAX_MEMBERS, TRANSFER_TIMEOUT};
pub use observe::READY_MAX_LAG;
pub use roles::NODE_FAILURE_TIMEOUT;
pub use snapshots::{
    DEFAULT_SNAPSHOT_BYTES, DEFAULT_SNAPSHOT_TRAILING, DEFAULT_SNAPSHOT_TRAILING_BYTES,
};
pub use start::{
    BOOTSTRAP_ID, DEFAULT_CACHE_SIZE, DEFAULT_ELECTION_TIMEOUT, DEFAULT_HEARTBEAT_INTERVAL,
    DEFAULT_SNAPSHOT_EVERY, DEFAULT_STARTUP_TIMEOUT, NodeBuilder,
};
