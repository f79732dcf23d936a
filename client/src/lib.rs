//! `dqlite-client`: the cluster-aware async client core that the dqlite
//! drivers share (`dqlite-rusqlite` and `sqlx-dqlite`). It is not meant to
//! be used on its own: its API serves drivers, not applications.
//!
//! A [`Session`] is one logical connection to a cluster's leader:
//!
//! - it finds the leader as go-dqlite does (LEADER on each known node,
//!   follow the node it names, accept a node that names itself), in rounds
//!   with a doubling pause, bounded by [`Config::connect_timeout`]; then it
//!   sends CLIENT, OPEN and CLUSTER in one write and keeps the node list
//!   current from the CLUSTER answer, voters first;
//! - it reconnects on its own when the leader changes, and sends a request
//!   again only when it certainly did not run (a "not leader" answer, a
//!   request that could not be sent) or only reads; a write whose answer
//!   was lost is [`Error::OutcomeUnknown`], never retried silently;
//! - it follows the transaction statements it sends (`BEGIN`, `COMMIT`,
//!   `SAVEPOINT`, …, scanned by [`sql`]), so that a transaction open on a
//!   lost connection fails with [`Error::TransactionLost`] until it is
//!   rolled back instead of going on in autocommit mode on the new leader;
//! - result sets stream: a query's first ROWS message is returned
//!   ([`Started`]) and the rest stay on the socket until
//!   [`Session::next_frame`] asks for them; if another request must go out
//!   first, the rest is read into memory for its reader. Drivers read them
//!   through [`ResultSet`], which interrupts an abandoned one;
//! - work that a `Drop` cannot wait for (FINALIZE, a ROLLBACK, INTERRUPT of
//!   an abandoned result) is queued with [`Shared::defer`] and written in
//!   front of the next request.
//!
//! # Layout
//!
//! - `session/`: [`Session`], [`Shared`], [`StmtHandle`], [`Started`];
//!   `connect.rs` (finding the leader), `transaction.rs` (transaction
//!   tracking), `exchange.rs` (one write and its answers), `retry.rs` (the
//!   pure retry rule), `operations.rs` (EXEC, QUERY, PREPARE, FINALIZE).
//! - `result_set.rs`: [`ResultSet`], the cursor both drivers wrap.
//! - `wire.rs`: one connection to one node (TCP, an abstract Unix socket
//!   `@name` or a socket file `unix:/path`; TLS over any of them) over
//!   `dqlite-protocol`'s `ClientCodec`, each answer bounded by the
//!   request timeout.
//! - [`sql`]: the client-side SQL scanner (parameters numbered as SQLite
//!   numbers them, statements, their effect on the transaction state).
//! - [`cache`]: the per-connection LRU cache of prepared statements.
//! - [`temporal`]: dqlite's ISO8601 text and UNIXTIME integers, parsed
//!   and formatted once for both drivers, with chrono's types (feature
//!   `chrono`) and the time crate's (feature `time`).
//! - [`config`]: [`Config`], its defaults, and the one parser of
//!   `dqlite://` URLs ([`Config::from_url_with`]). [`Error`] in `error.rs`.
//! - `tls` (feature `tls`, off by default so that plain-TCP users do not
//!   build rustls): `ClientTls`, what a session needs to speak TLS to
//!   the nodes ([`Config`]'s `tls` field, the URL's `tls_*` keys), and
//!   the pieces `dqlite-server` takes from here rather than keeping its
//!   own: PEM loading, the *ring* provider, and the verifier that accepts
//!   a certificate identical to a trusted root (go-dqlite's self-signed
//!   cluster certificate). Each driver's feature `tls` turns it on.

#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod cache;
pub mod config;
mod error;
mod result_set;
mod session;
pub mod sql;
pub mod temporal;
#[cfg(feature = "tls")]
pub mod tls;
mod wire;

pub use config::{Config, parse_duration};
pub use error::{Error, Result};
pub use result_set::ResultSet;
pub use session::{
    Deferred, Dumped, Session, Shared, Started, StmtHandle, has_more, is_rows_yielded, wire_i64,
};
