//! `sqlx-dqlite`: a third-party [sqlx](https://docs.rs/sqlx) driver for
//! dqlite clusters, built on `sqlx-core` and `dqlite-protocol`.
//!
//! **Status:** not built yet (project issue 6). It exports nothing so far.
