//! `sqlx-dqlite`: a third-party [sqlx](https://docs.rs/sqlx) driver for
//! [dqlite](https://dqlite.io) clusters, built on `sqlx-core` 0.9 (pinned
//! exactly, as its semver-exempt driver API requires) and this
//! workspace's `dqlite-protocol` and `dqlite-client`.
//!
//! DOCS-PLACEHOLDER

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
