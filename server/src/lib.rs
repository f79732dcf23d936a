//! The dqlite-compatible server: an embeddable node and the `dqlite-server`
//! binary.
//!
//! **Status:** not built yet. This crate is reserved for the work described
//! in the project's issue 3 (single-voter node: gateway, SQL execution with
//! WAL-frame capture through our own SQLite VFS, openraft log and state
//! machine) and issue 4 (replicated cluster, membership, pipelining). Until
//! then it exports nothing; the wire format it will speak is implemented in
//! [`dqlite-protocol`](../dqlite_protocol/index.html).
