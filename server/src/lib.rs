//! The dqlite-compatible server: an embeddable node and the `dqlite-server`
//! binary.
//!
//! **Status:** under construction (project issues 3 and 4). What exists:
//!
//! - [`vfs`]: the in-memory SQLite VFS that captures each committed write
//!   transaction's WAL frames, hides them until they are published, and
//!   applies frames produced by another node.
//!
//! Still to come: the gateway speaking the wire protocol of
//! `dqlite-protocol`, the openraft log and state machine, the node API and
//! the `dqlite-server` binary.

pub mod raft;
pub mod vfs;
