//! The async API, for tokio programs: the same names as the blocking one
//! (and rusqlite's), with `.await` after every call that talks to the
//! server.
//!
//! ```no_run
//! # async fn demo() -> dqlite_rusqlite::Result<()> {
//! use dqlite_rusqlite::asynchronous::Connection;
//!
//! let conn = Connection::open("dqlite://127.0.0.1:9001/app").await?;
//! conn.execute("CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v)", []).await?;
//! conn.execute("INSERT OR REPLACE INTO kv VALUES (?1, ?2)", ("a", 1)).await?;
//! let v: i64 = conn.query_row("SELECT v FROM kv WHERE k = ?1", ["a"], |r| r.get(0)).await?;
//! let mut stmt = conn.prepare("SELECT k, v FROM kv").await?;
//! let mut rows = stmt.query([]).await?;
//! while let Some(row) = rows.next().await? {
//!     let k: String = row.get("k")?;
//!     # let _ = (k, v);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Differences from the blocking API, all due to async Rust: iterators
//! ([`MappedRows`], [`AndThenRows`]) have an async `next` instead of
//! implementing `Iterator`; dropping a [`Transaction`] or [`Savepoint`]
//! without finishing it queues the rollback and sends it from a spawned
//! task (call [`Transaction::rollback`] or [`Transaction::finish`] to see
//! its outcome), and `DropBehavior::Commit` on drop is likewise sent in the
//! background, its error only logged.
//!
//! In a task that must be `Send` (`tokio::spawn`), pass parameters as
//! tuples or arrays: the slices built by [`params!`](crate::params) and
//! [`named_params!`](crate::named_params) hold `&dyn ToSql`, which is not
//! `Sync`, so they cannot live across an `.await` there (in
//! `block_on`/`#[tokio::main]` code they can).
//!
//! A [`Connection`] may be shared between tasks (`&Connection` is `Send`);
//! its requests then take turns, one at a time, as on a rusqlite
//! connection shared between threads behind a mutex.

mod connection;
mod statement;
mod transaction;

pub use connection::Connection;
pub use statement::{AndThenRows, CachedStatement, MappedRows, Rows, Statement};
pub use transaction::{Savepoint, Transaction};
