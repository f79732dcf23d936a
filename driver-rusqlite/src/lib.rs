//! `dqlite-rusqlite`: a client for [dqlite](https://dqlite.io) clusters
//! with [rusqlite](https://docs.rs/rusqlite)'s names, shapes and habits.
//! Code written for rusqlite moves to a dqlite cluster by changing
//! `use rusqlite::…` to `use dqlite_rusqlite::…` and the open call.
//!
//! ```
//! use dqlite_rusqlite::{Connection, OptionalExtension, Result, params};
//!
//! #[derive(Debug)]
//! struct Person {
//!     id: i64,
//!     name: String,
//!     data: Option<Vec<u8>>,
//! }
//!
//! fn main() -> Result<()> {
//! #   // A node of our own on a free port, for the example to run against.
//! #   let dir = tempfile::tempdir().unwrap();
//! #   let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
//! #   let address = listener.local_addr().unwrap().to_string();
//! #   let rt = tokio::runtime::Runtime::new().unwrap();
//! #   let node = rt
//! #       .block_on(
//! #           dqlite_server::Node::builder(1, address.clone(), dir.path())
//! #               .serve(listener, dqlite_server::net::Limits::default())
//! #               .start(),
//! #       )
//! #       .unwrap();
//! #   let url = format!("dqlite://{address}/app");
//!     // e.g. "dqlite://10.0.0.1:9001,10.0.0.2:9001,10.0.0.3:9001/app"
//!     let conn = Connection::open(&url)?;
//!     conn.execute_batch(
//!         "CREATE TABLE person (id INTEGER PRIMARY KEY, name TEXT NOT NULL, data BLOB)",
//!     )?;
//!     conn.execute(
//!         "INSERT INTO person (name, data) VALUES (?1, ?2)",
//!         params!["Steven", None::<Vec<u8>>],
//!     )?;
//!
//!     let mut stmt = conn.prepare("SELECT id, name, data FROM person")?;
//!     let people = stmt.query_map([], |row| {
//!         Ok(Person { id: row.get(0)?, name: row.get("name")?, data: row.get(2)? })
//!     })?;
//!     for person in people {
//!         println!("found {:?}", person?);
//!     }
//!     let nobody: Option<String> = conn
//!         .query_row("SELECT name FROM person WHERE id = ?1", [-1], |r| r.get(0))
//!         .optional()?;
//!     assert!(nobody.is_none());
//! #   drop(stmt);
//! #   drop(conn);
//! #   rt.block_on(node.stop()).unwrap();
//!     Ok(())
//! }
//! ```
//!
//! (The hidden lines start a `dqlite-server` node to run against.) The
//! same program as a binary, against a cluster of yours or a node it
//! starts itself, is `examples/persons.rs`; see `examples/README.md`.
//!
//! No registry serves this crate: depend on a checkout of this
//! repository (here next to your project), or on your clone of it
//! through git (`git = "<its URL>"` instead of `path`):
//!
//! ```toml
//! [dependencies]
//! dqlite-rusqlite = { path = "../dqlite-rs/driver-rusqlite" }
//! ```
//!
//! # The cluster behind the connection
//!
//! [`Connection::open`] takes `dqlite://host:port[,host:port…]/database`.
//! The listed nodes are asked for the leader as go-dqlite does (LEADER on
//! each node, follow the node it names, accept it when it names itself),
//! in rounds with a growing pause, for at most the connect timeout
//! ([`config`] lists the knobs). Once connected, the node list is kept
//! current from the leader's CLUSTER answer.
//!
//! When the leader changes, the next call reconnects to the new one on its
//! own. A request is sent again on the new leader only when it certainly
//! did not run (the old leader answered "not leader", or it could not be
//! sent) or when it only reads (`SELECT`, `VALUES`). A write whose answer
//! was lost, or that the leader answered with "leadership lost", may or
//! may not have been committed: it fails with [`Error::OutcomeUnknown`]
//! and is never sent again silently. A transaction open when the
//! connection is lost is over (the server rolled it back): its statements
//! fail with [`Error::TransactionLost`] until it is rolled back or dropped.
//! Prepared statements survive a change of leader: they are prepared again
//! on the new one when next used.
//!
//! # Blocking and async
//!
//! [`Connection`] blocks the calling thread, as rusqlite's does, and works
//! on any thread: a plain thread, a pool's thread (r2d2, deadpool) or
//! `tokio::task::spawn_blocking` inside an async service. Its sockets and
//! timers are driven by one background thread (`dqlite-rusqlite-io`) that
//! the crate starts on first use and shares between every blocking
//! connection; the calling thread only waits. Called from an async task
//! directly (not through `spawn_blocking`), it is not refused and does not
//! deadlock, since its IO never runs on the caller's runtime, but it
//! blocks that worker thread for the whole call, like any blocking call:
//! use [`asynchronous::Connection`] there, which has the same methods as
//! `async fn`s. Both share one implementation.
//!
//! # What differs from rusqlite
//!
//! The SQL runs on the leader, over the network, so whatever rusqlite does
//! through SQLite's C handle is out of reach (user functions, collations,
//! hooks, blob I/O, backups, `load_extension`, `open_in_memory`, …).
//! Otherwise:
//!
//! - dqlite binds parameters by position only. Names (`:a`, `@a`, `$a`)
//!   and `?NNN` are resolved here by a scanner that numbers them as SQLite
//!   does, skipping literals, quoted identifiers and comments.
//! - `Statement::column_names` is known right after `prepare` for queries
//!   starting with `SELECT`, `VALUES` or `WITH` (one extra `LIMIT 0` query
//!   in the same round trip); for others (`… RETURNING`) after the first
//!   `query`.
//! - `execute_batch` sends the whole text in one EXEC_SQL request: a
//!   statement in it that returns rows is an error, not ignored.
//! - `is_autocommit` follows the transaction statements sent on the
//!   connection; `changes` and `last_insert_rowid` are the last EXEC's.
//! - Columns declared `DATETIME`/`DATE`/`TIMESTAMP` or `BOOLEAN` come back
//!   typed by dqlite; see [`types`] for how they read.
//! - Text parameters cannot contain a NUL byte (the wire cannot carry it).
//! - More than 255 parameters go out in the wider (schema 1) tuple, which
//!   dqlite ≥ 1.12 and our server read; libdqlite 1.11 misreads it.
//!
//! Not provided, because they need SQLite's handle in the client process:
//! `open_in_memory`, `open_with_flags`, user functions, collations,
//! hooks, virtual tables, incremental blob I/O, backup, serialize,
//! `load_extension`, `interrupt` handles, `pragma_*` helpers (most pragmas
//! are refused by dqlite anyway), `Statement::expanded_sql`, `readonly`,
//! `raw_bind_parameter`/`raw_query`, and `Rows` as a
//! `FallibleStreamingIterator` (use `next`, `mapped`, `and_then`).
//!
//! # Layout
//!
//! - [`Connection`] (`connection.rs`), [`Statement`], [`Rows`],
//!   [`MappedRows`] (`statement.rs`), [`Transaction`], [`Savepoint`]
//!   (`transaction.rs`): the blocking API, thin wrappers over…
//! - [`asynchronous`]: the async API.
//! - The core, shared with `sqlx-dqlite`, is the `dqlite-client` crate:
//!   its `Session` finds the leader, reconnects, applies the retry rules,
//!   streams result sets and sends the work queued by drops (FINALIZE,
//!   INTERRUPT, ROLLBACK); its `sql` module is the client-side SQL scanner
//!   (parameters, statements, transaction statements).
//! - `params.rs`: [`Params`] and binding.
//! - `blocking.rs`: how the blocking API waits (the calling thread polls,
//!   the shared `dqlite-rusqlite-io` thread drives the sockets and timers).
//! - [`types`]: [`ToSql`], [`FromSql`](types::FromSql),
//!   [`Value`](types::Value), [`ValueRef`](types::ValueRef) and their
//!   implementations (`types/temporal.rs` adapts
//!   `dqlite_client::temporal`'s dates and times); [`Row`] in `row.rs`;
//!   [`Error`] in `error.rs`; [`config`]: [`Builder`], which holds a
//!   `dqlite_client::Config` and reads URLs with its parser.
//! - Async rows ([`asynchronous::Rows`]) wrap `dqlite_client::ResultSet`,
//!   the result cursor shared with sqlx-dqlite.
//!
//! # Features
//!
//! | feature | what it adds |
//! |---|---|
//! | `chrono` | `ToSql`/`FromSql` for chrono's `NaiveDate`, `NaiveTime`, `NaiveDateTime`, `DateTime<Utc/Local/FixedOffset>` |
//! | `time` | the same for the time crate's `Date`, `Time`, `PrimitiveDateTime`, `OffsetDateTime` |
//! | `uuid` | `uuid::Uuid` as a 16-byte blob |
//! | `serde_json` | `serde_json::Value` as JSON text |
//! | `rusqlite` | [`RusqliteParam`] and conversions from `rusqlite::types::Value`, so rusqlite's `ToSql` values bind here |
//! | `tls` | TLS to the nodes (forwards to `dqlite-client/tls`: rustls with *ring*): [`Builder::tls`], the URL keys `tls_cert`, `tls_key`, `tls_ca`, `tls_server_name`, and [`tls`] (`ClientTls`, re-exported `rustls`) |
//!
//! # TLS
//!
//! With the feature `tls`, a connection to a cluster secured with mutual
//! TLS presents a certificate and checks the nodes'. The certificate, its
//! key and the CA are PEM files; without a CA the certificate itself is
//! the only trusted root (go-dqlite's one shared cluster certificate, a
//! self-signed `CA:TRUE` one included). The nodes are named by the first
//! DNS name of the client's own certificate, as go-dqlite does, unless
//! `tls_server_name` / [`ClientTls::with_server_name`](tls::ClientTls::with_server_name)
//! names them otherwise. Leader discovery and failover are unchanged.
//!
//! ```no_run
//! # #[cfg(feature = "tls")]
//! # fn main() -> dqlite_rusqlite::Result<()> {
//! use dqlite_rusqlite::{Builder, Connection, tls::ClientTls};
//! let conn = Connection::open(
//!     "dqlite://10.0.0.1:9001,10.0.0.2:9001/app?tls_cert=cluster.crt&tls_key=cluster.key",
//! )?;
//! let tls = ClientTls::from_files("cluster.crt", "cluster.key", None)
//!     .map_err(|e| dqlite_rusqlite::Error::InvalidConfig(e.to_string()))?;
//! let conn = Builder::new("app").node("10.0.0.1:9001").tls(tls).open()?;
//! # Ok(()) }
//! # #[cfg(not(feature = "tls"))]
//! # fn main() {}
//! ```
//!
//! A certificate refused by either side is an error naming the node and
//! the reason (in [`Error::NoLeader`]'s last error), once the connect
//! timeout has passed.
//!
//! # Changelog
//!
//! ## Unreleased (issue 17: TLS)
//!
//! - Feature `tls`: [`Builder::tls`] and the URL keys `tls_cert`,
//!   `tls_key`, `tls_ca`, `tls_server_name` (see [`config`] and "TLS"
//!   above). `tls`/`sslmode` in a URL are still refused, now pointing to
//!   these keys.
//!
//! ## Unreleased (issue 16: one home for what both drivers share)
//!
//! - The blocking [`Connection`] works on any thread, inside
//!   `tokio::task::spawn_blocking` and pool threads included; it used to
//!   refuse to open inside a tokio runtime (`InvalidConfig`). See
//!   "Blocking and async" above.
//! - URLs are parsed by `dqlite_client::Config::from_url_with`, the same
//!   parser as sqlx-dqlite's. New: `node=host:port` (repeatable),
//!   percent-decoding of the database name and values, and
//!   `statement_cache_capacity=N` (sqlx-dqlite's spelling); `cache=N`
//!   still works as its alias; `tls`/`sslmode` are refused as "not
//!   supported yet" (TLS came with issue 17, above). See [`config`].
//! - Dates and times are converted by `dqlite_client::temporal`, shared
//!   with sqlx-dqlite, so both drivers read and write the same text:
//!   - a bare date (`2024-01-02`) now reads as midnight into
//!     `NaiveDateTime`/`PrimitiveDateTime` (it was an error); a date-time
//!     with an offset reads into them as its wall-clock time; `NaiveDate`,
//!     `NaiveTime`, `Date` and `Time` also read UNIXTIME integers and the
//!     part of a full date-time;
//!   - `DateTime<Local>` is written with the local offset
//!     (`2024-01-02 04:04:05+01:00`), no longer converted to UTC: the same
//!     instant, the text go-dqlite writes for a local `time.Time`, and the
//!     offset is not lost; it reads back as the same instant. (rusqlite
//!     itself writes UTC; code comparing the stored text with UTC text
//!     must bind `DateTime<Utc>`.)
//!   - writing uses go-dqlite's layout: the fraction of a second loses its
//!     trailing zeros and is left out when zero (`03:04:05.5`, not
//!     `03:04:05.500`), and the time crate's values no longer end in `.0`.

#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod asynchronous;
mod blocking;
mod cache;
pub mod config;
mod connection;
mod error;
mod params;
mod row;
#[cfg(feature = "rusqlite")]
mod rusqlite_compat;
mod statement;
mod transaction;
pub mod types;

pub use config::Builder;
pub use connection::Connection;
/// TLS settings (feature `tls`): [`tls::ClientTls`] and the `rustls` it is built with.
#[cfg(feature = "tls")]
pub use dqlite_client::tls;
pub use error::{Error, ErrorCode, OptionalExtension, Result, SqliteError, UNKNOWN_COLUMN};
#[doc(hidden)]
pub use params::Binder;
pub use params::{BindIndex, Params, ParamsFromIter, params_from_iter};
pub use row::{Row, RowIndex};
#[cfg(feature = "rusqlite")]
pub use rusqlite_compat::RusqliteParam;
pub use statement::{AndThenRows, CachedStatement, MappedRows, Rows, Statement};
pub use transaction::{DropBehavior, Savepoint, Transaction, TransactionBehavior};
pub use types::ToSql;

/// rusqlite's `ffi` names that code matches errors with.
pub mod ffi {
    pub use crate::error::ErrorCode;
    pub use crate::error::SqliteError as Error;
}

/// Positional parameters as a `&[&dyn ToSql]`, as rusqlite's macro.
#[macro_export]
macro_rules! params {
    () => {
        &[] as &[&dyn $crate::ToSql]
    };
    ($($param:expr),+ $(,)?) => {
        &[$(&$param as &dyn $crate::ToSql),+] as &[&dyn $crate::ToSql]
    };
}

/// Named parameters as a `&[(&str, &dyn ToSql)]`, as rusqlite's macro.
/// Names keep their prefix: `":id"`, `"@id"`, `"$id"`.
#[macro_export]
macro_rules! named_params {
    () => {
        &[] as &[(&str, &dyn $crate::ToSql)]
    };
    ($($name:literal: $value:expr),+ $(,)?) => {
        &[$(($name, &$value as &dyn $crate::ToSql)),+] as &[(&str, &dyn $crate::ToSql)]
    };
}
