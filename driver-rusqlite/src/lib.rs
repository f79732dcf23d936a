//! `dqlite-rusqlite`: a client for dqlite clusters with rusqlite's names and
//! habits, built on `dqlite-protocol`.
//!
//! **Status:** not built yet (project issue 5). It exports nothing so far.
