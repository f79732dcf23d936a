//! `sqlx-dqlite`: a third-party [sqlx](https://docs.rs/sqlx) driver for
//! [dqlite](https://dqlite.io) clusters, built on `sqlx-core` 0.9 (pinned
//! exactly, as its semver-exempt driver API requires) and this
//! workspace's `dqlite-protocol` and `dqlite-client`.
//!
//! ```
//! use sqlx::{Executor, FromRow};
//! use sqlx_dqlite::DqlitePoolOptions;
//!
//! #[derive(Debug, FromRow)]
//! struct Person {
//!     id: i64,
//!     name: String,
//!     email: Option<String>,
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! #   // A node of our own on a free port, for the example to run against.
//! #   let dir = tempfile::tempdir()?;
//! #   let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! #   let address = listener.local_addr()?.to_string();
//! #   let rt = tokio::runtime::Runtime::new()?;
//! #   let node = rt.block_on(
//! #       dqlite_server::Node::builder(1, address.clone(), dir.path())
//! #           .serve(listener, dqlite_server::net::Limits::default())
//! #           .start(),
//! #   )?;
//! #   let url = format!("dqlite://{address}/app");
//! # rt.block_on(async {
//!     // e.g. "dqlite://10.0.0.1:9001,10.0.0.2:9001,10.0.0.3:9001/app"
//!     let pool = DqlitePoolOptions::new().max_connections(5).connect(&url).await?;
//!     pool.execute("CREATE TABLE person (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT)")
//!         .await?;
//!     let done = sqlx::query("INSERT INTO person (name, email) VALUES (?, ?)")
//!         .bind("Ada")
//!         .bind(Some("ada@example.com"))
//!         .execute(&pool)
//!         .await?;
//!     assert_eq!(done.rows_affected(), 1);
//!
//!     let mut tx = pool.begin().await?;
//!     sqlx::query("INSERT INTO person (name) VALUES ($1)").bind("Grace").execute(&mut *tx).await?;
//!     tx.commit().await?;
//!
//!     let people: Vec<Person> = sqlx::query_as("SELECT id, name, email FROM person ORDER BY id")
//!         .fetch_all(&pool)
//!         .await?;
//!     assert_eq!(people.len(), 2);
//!     let count: i64 = sqlx::query_scalar("SELECT count(*) FROM person").fetch_one(&pool).await?;
//!     assert_eq!(count, 2);
//! #   pool.close().await;
//! #   Ok::<(), sqlx::Error>(())
//! # })?;
//! #   rt.block_on(node.stop())?;
//! #   Ok(())
//! # }
//! ```
//!
//! (The hidden lines start a `dqlite-server` node to run against.)
//! `examples/notes_service.rs` is a small axum service over a pool; see
//! `examples/README.md`.
//!
//! # Connecting
//!
//! [`DqliteConnectOptions`] is a builder and parses
//! `dqlite://host:port[,host:port…]/database[?…]`; [`options`] has the
//! table of URL parameters. The listed nodes are asked for the leader as
//! go-dqlite does, the node list is kept current from the leader, and a
//! connection whose leader goes away reconnects to the new one on its next
//! use: a pool's health check (`SELECT 1` before handing a connection
//! out, the default) does it for you. A statement is sent again on the new
//! leader only when it certainly did not run ("not leader") or only reads.
//! A write whose answer was lost is an error of unknown outcome, a
//! transaction open on a lost connection fails until rolled back: see
//! [`client_error`] and [`DqliteClientError`].
//!
//! # How queries run
//!
//! dqlite binds parameters by position and runs statements on the leader.
//!
//! - Placeholders: `?`, `?NNN`, `:name`, `@name`, `$name` as in SQLite, and
//!   `$1`, `$2`, … taking argument N wherever they appear (as sqlx users
//!   write them for PostgreSQL). The number of arguments must match.
//! - A statement is sent as a query (its rows streamed) when its text says
//!   it returns rows: `SELECT`, `VALUES`, `WITH … SELECT`, `EXPLAIN`,
//!   anything with `RETURNING`, a `PRAGMA` without `=`. Anything else is
//!   executed, giving rows affected and the last insert rowid.
//! - Result sets stream: rows are decoded one ROWS message (about 4 KiB)
//!   at a time as the stream is polled; a stream dropped early is cut
//!   short with INTERRUPT in front of the next request.
//! - `sqlx::query` is prepared on the leader and kept in a per-connection
//!   LRU cache (`statement_cache_capacity`, 100 by default);
//!   `.persistent(false)` sends the SQL each time. A text with several
//!   statements runs them one after the other (arguments taken in order),
//!   yielding each one's result and rows.
//! - Transactions: `begin` sends `BEGIN`, nested ones are savepoints,
//!   `begin_with("BEGIN IMMEDIATE")` takes a custom statement. A dropped
//!   transaction is rolled back in front of the connection's next request.
//!
//! # Types
//!
//! See [`types`]: integers, floats, `bool`, text, bytes, `Option`, and with
//! features chrono, time, uuid and JSON; dqlite's ISO8601, UNIXTIME and
//! BOOLEAN column types decode into them.
//!
//! # Errors
//!
//! Failures reported by the server are `sqlx::Error::Database` holding a
//! [`DqliteDatabaseError`]: `code()` is SQLite's extended code ("2067"),
//! `kind()` tells unique, foreign key, not-null and check violations apart.
//!
//! # In a project: `sqlx::migrate!()`, `Any`, JSON
//!
//! Depend on the `sqlx` facade (the same 0.9.0 as this crate's `sqlx-core`)
//! with a runtime and the features you use, never `sqlite`; sqlx's
//! default features are `any`, `macros`, `migrate` and `json`:
//!
//! ```toml
//! [dependencies]
//! sqlx = { version = "=0.9.0", default-features = false, features = ["runtime-tokio", "macros", "migrate", "any", "json"] }
//! # No registry serves this crate: depend on a checkout of this repository
//! # (here next to your project), or on your clone of it through git
//! # (`git = "<its URL>"` instead of `path`).
//! sqlx-dqlite = { path = "../dqlite-rs/driver-sqlx", features = ["json"] }
//! ```
//!
//! (`driver-sqlx/facade-tests` is such a project, with a path
//! dependency.)
//!
//! ```ignore
//! use sqlx::migrate::Migrator;
//! use sqlx::types::Json;
//!
//! // Embedded at compile time from ./migrations (1_accounts.sql, …).
//! static MIGRATOR: Migrator = sqlx::migrate!("./migrations");
//!
//! let pool = sqlx_dqlite::DqlitePool::connect("dqlite://10.0.0.1:9001/app").await?;
//! MIGRATOR.run(&pool).await?;
//! MIGRATOR.undo(&pool, 1).await?; // reversible migrations (`.up.sql`/`.down.sql`)
//!
//! // `Any`: install the drivers once, then connect by URL.
//! sqlx::any::install_drivers(&[sqlx_dqlite::ANY_DRIVER])?;
//! // The `url` crate reads one host only: more nodes go in `node=`.
//! let any = sqlx::AnyPool::connect("dqlite://10.0.0.1:9001/app?node=10.0.0.2:9001").await?;
//! MIGRATOR.run(&any).await?;
//! sqlx::query("INSERT INTO prefs (settings) VALUES (?)")
//!     .bind(Json(serde_json::json!({"theme": "dark"})))
//!     .execute(&pool)
//!     .await?;
//! ```
//!
//! (That is what `driver-sqlx/facade-tests`, a project of its own run by
//! `scripts/sqlx-facade-tests`, tests against a `dqlite-server`.)
//!
//! The migration lock is a row taken with one write, which the leader
//! serializes, so it holds across the nodes of a cluster: a second
//! migrator waits for the first (see the `migrate` module source for the
//! details). `MigrateDatabase` creates a database by opening it, and
//! "drops" it by dropping everything in it (dqlite cannot delete a
//! database).
//!
//! **`libsqlite3-sys` in your lock file.** Each of sqlx's `any`, `macros`,
//! `migrate`, `json`, `chrono`, `time` and `uuid` features names
//! `sqlx-sqlite?/…`, and Cargo's lock-file resolver counts such weak
//! features as dependencies
//! ([rust-lang/cargo#10801](https://github.com/rust-lang/cargo/issues/10801)):
//! sqlx-sqlite and its `libsqlite3-sys` (`>=0.30.1, <0.38`) appear in
//! `Cargo.lock`, though they are never built (`cargo tree -i
//! libsqlite3-sys` prints nothing). That is harmless, unless the same
//! lock file needs another `libsqlite3-sys` — rusqlite 0.41's 0.39, say:
//! both say `links = "sqlite3"`, and resolution fails. Such a project
//! (this workspace is one: the server uses rusqlite) enables only sqlx's
//! `derive` and a runtime feature, and reaches the same things through
//! `sqlx-core`: `sqlx_core::migrate::Migrator::new(path)` reads the
//! migrations at run time instead of `migrate!()`,
//! `sqlx_core::any::driver::install_drivers` and `sqlx_core::any::AnyPool`
//! are what `sqlx::any` re-exports, and `sqlx_core::types::Json` is
//! `sqlx::types::Json`:
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! sqlx_core::any::driver::install_drivers(&[sqlx_dqlite::ANY_DRIVER])?;
//! let pool = sqlx_core::any::AnyPool::connect("dqlite://10.0.0.1:9001/app").await?;
//! let migrator = sqlx_core::migrate::Migrator::new(std::path::Path::new("./migrations")).await?;
//! migrator.run(&pool).await?;
//! # Ok(()) }
//! ```
//!
//! # Not supported
//!
//! - **`query!`, `query_as!`, `query_scalar!` and sqlx-cli's `prepare`**:
//!   sqlx's macros know only its built-in drivers, and dqlite has no way to
//!   describe a statement's column types and nullability. Use the
//!   functions (`sqlx::query`, `query_as` with `#[derive(FromRow)]`,
//!   `query_scalar`) instead; `Executor::describe` gives what dqlite knows
//!   (parameter count, column names). The facade's other macros work:
//!   `migrate!()`, `#[derive(FromRow)]`, `#[derive(Type)]` (transparent
//!   newtypes), `#[sqlx(json)]` fields.
//! - TLS (dqlite's TLS transport): not yet; a `tls` URL parameter is
//!   refused.
//! - `Connection::shrink_buffers` does nothing (no buffers are kept
//!   between requests); `create_schema_if_not_exists` fails (dqlite has no
//!   schemas); `force_drop_database` is not supported.
//! - Parameter type information (`Statement::parameters` gives a count)
//!   and column types before a row is read (prepared statements' columns
//!   are typed NULL).
//! - `last_insert_rowid` of a statement run as a query (`… RETURNING`) is
//!   0: read the id from the returned row.
//! - `sqlx::test`: it needs a per-test database lifecycle that sqlx only
//!   wires up for its own drivers.
//!
//! # Layout
//!
//! As in sqlx-sqlite: [`Dqlite`] (`database.rs`) names every type;
//! [`DqliteConnection`] (`connection/`: `mod.rs` the connection,
//! `executor.rs` the `Executor`, `run.rs` binding, EXEC vs QUERY, the
//! statement cache, and rows read through `dqlite_client::ResultSet`);
//! [`DqliteConnectOptions`] (`options/`; `parse.rs` adds this driver's URL
//! key to `dqlite_client::Config::from_url_with`);
//! [`DqliteTransactionManager`] (`transaction.rs`); [`DqliteArguments`],
//! [`DqliteRow`], [`DqliteValue`], [`DqliteColumn`], [`DqliteTypeInfo`],
//! [`DqliteStatement`], [`DqliteQueryResult`]; [`types`] (`types/temporal.rs`
//! adapts `dqlite_client::temporal`'s dates and times to
//! `Type`/`Encode`/`Decode`); `error.rs`; `migrate.rs`; `any.rs`;
//! `statement_cache.rs`. The network client (leader discovery, retries,
//! streaming, the URL parser, date/time layouts) is the `dqlite-client`
//! crate, shared with `dqlite-rusqlite`.
//!
//! # Features
//!
//! | feature | what it adds |
//! |---|---|
//! | `chrono` | chrono's `NaiveDate`, `NaiveTime`, `NaiveDateTime`, `DateTime<Utc/Local/FixedOffset>` |
//! | `time` | time's `Date`, `Time`, `PrimitiveDateTime`, `OffsetDateTime` |
//! | `uuid` | `uuid::Uuid` |
//! | `json` | `sqlx::types::Json<T>` and `serde_json::Value` |
//! | `tls` | TLS to the nodes (forwards to `dqlite-client/tls`: rustls with *ring*): [`DqliteConnectOptions::tls`], the URL keys `tls_cert`, `tls_key`, `tls_ca`, `tls_server_name`, and [`tls`] (`ClientTls`, re-exported `rustls`) |
//!
//! # TLS
//!
//! With the feature `tls`, connections to a cluster secured with mutual
//! TLS present a certificate and check the nodes'. The certificate, key
//! and CA are PEM files; without a CA the certificate itself is the only
//! trusted root (go-dqlite's one shared cluster certificate, a
//! self-signed `CA:TRUE` one included). The nodes are named by the first
//! DNS name of the client's own certificate, as go-dqlite does, unless
//! `tls_server_name` / [`ClientTls::with_server_name`](tls::ClientTls::with_server_name)
//! says otherwise. A ready `rustls::ClientConfig` goes through
//! [`ClientTls::from_config`](tls::ClientTls::from_config). Leader
//! discovery and failover are unchanged. `to_url_lossy` leaves the TLS
//! settings out. A certificate refused by either side is an error naming
//! the node and the reason, once the connect timeout has passed.
//!
//! ```no_run
//! # #[cfg(feature = "tls")]
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use sqlx_dqlite::{DqliteConnectOptions, DqlitePoolOptions, tls::ClientTls};
//! let pool = DqlitePoolOptions::new()
//!     .connect("dqlite://10.0.0.1:9001/app?tls_cert=cluster.crt&tls_key=cluster.key")
//!     .await?;
//! let options = DqliteConnectOptions::new()
//!     .node("10.0.0.1:9001")
//!     .database("app")
//!     .tls(ClientTls::from_files("cluster.crt", "cluster.key", None)?);
//! let pool = DqlitePoolOptions::new().connect_with(options).await?;
//! # Ok(()) }
//! ```
//!
//! # Changelog
//!
//! ## Unreleased (issue 17: TLS)
//!
//! - Feature `tls`: [`DqliteConnectOptions::tls`] and the URL keys
//!   `tls_cert`, `tls_key`, `tls_ca`, `tls_server_name` (see [`options`]
//!   and "TLS" above). `tls`/`sslmode` in a URL are still refused, now
//!   pointing to these keys.
//!
//! ## Unreleased (issue 16: one home for what both drivers share)
//!
//! - URLs are parsed by `dqlite_client::Config::from_url_with`, the same
//!   parser as dqlite-rusqlite's: the keys are unchanged, and `cache=N` is
//!   now accepted as an alias of `statement_cache_capacity=N`
//!   (dqlite-rusqlite's spelling). See [`options`].
//! - Dates and times are converted by `dqlite_client::temporal`, shared
//!   with dqlite-rusqlite. Reading accepts go-dqlite's layouts as before
//!   (a bare date still reads as midnight). Writing now uses go-dqlite's
//!   own layout: the fraction of a second loses its trailing zeros and is
//!   left out when zero (`03:04:05.5`, not `03:04:05.500`); the time
//!   crate's values no longer end in `.0`. `DateTime<Local>` (any
//!   `DateTime<Tz>`) keeps writing its own offset, not UTC: the same
//!   instant, the text go-dqlite writes for a local `time.Time`, and the
//!   offset is not lost. dqlite-rusqlite now does the same.
//!
//! sqlx-core's `any`, `migrate` and `offline` features are always on
//! (`offline` because sqlx's default `macros` feature turns it on, which
//! makes `Executor::describe` required). Never enable sqlx's `sqlite`
//! feature in a program that also links rusqlite's SQLite: both crates
//! link `libsqlite3-sys` (`links = "sqlite3"`).

#![cfg_attr(not(test), warn(unused_crate_dependencies))]

mod any;
mod arguments;
mod column;
mod connection;
mod database;
mod error;
mod migrate;
pub mod options;
mod query_result;
mod row;
mod statement;
mod statement_cache;
mod transaction;
mod type_info;
pub mod types;
mod value;

pub use arguments::{DqliteArgumentBuffer, DqliteArguments};
pub use column::DqliteColumn;
pub use connection::DqliteConnection;
pub use database::Dqlite;
pub use dqlite_client::Error as DqliteClientError;
/// TLS settings (feature `tls`): [`tls::ClientTls`] and the `rustls` it is built with.
#[cfg(feature = "tls")]
pub use dqlite_client::tls;
pub use error::{DqliteDatabaseError, client_error};
pub use options::DqliteConnectOptions;
pub use query_result::DqliteQueryResult;
pub use row::DqliteRow;
pub use statement::DqliteStatement;
pub use transaction::DqliteTransactionManager;
pub use type_info::{DqliteDataType, DqliteTypeInfo};
pub use value::{DqliteValue, DqliteValueRef};

/// A pool of connections to a dqlite cluster.
pub type DqlitePool = sqlx_core::pool::Pool<Dqlite>;

/// Options of a [`DqlitePool`].
pub type DqlitePoolOptions = sqlx_core::pool::PoolOptions<Dqlite>;

/// A transaction on a dqlite connection.
pub type DqliteTransaction<'c> = sqlx_core::transaction::Transaction<'c, Dqlite>;

/// An executor for dqlite: a pool, a connection or a transaction.
pub trait DqliteExecutor<'c>: sqlx_core::executor::Executor<'c, Database = Dqlite> {}

impl<'c, T: sqlx_core::executor::Executor<'c, Database = Dqlite>> DqliteExecutor<'c> for T {}

/// The driver for sqlx's `Any` (with migrations): pass it to
/// `sqlx::any::install_drivers` so that `AnyPool::connect("dqlite://…")`
/// works (see the crate docs).
pub const ANY_DRIVER: sqlx_core::any::driver::AnyDriver =
    sqlx_core::any::driver::AnyDriver::with_migrate::<Dqlite>();

sqlx_core::impl_into_arguments_for_arguments!(DqliteArguments);
sqlx_core::impl_acquire!(Dqlite, DqliteConnection);
sqlx_core::impl_column_index_for_row!(DqliteRow);
sqlx_core::impl_column_index_for_statement!(DqliteStatement);
sqlx_core::impl_encode_for_option!(Dqlite);
