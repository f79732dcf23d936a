//! The dqlite-compatible server: an embeddable node and the `dqlite-server`
//! binary.
//!
//! **Status:** under construction (project issues 3 and 4). What exists:
//!
//! - [`vfs`]: the in-memory SQLite VFS that captures each committed write
//!   transaction's WAL frames, hides them until they are published, and
//!   applies frames produced by another node.
//! - [`raft`]: openraft storage: a durable segmented log store and a state
//!   machine that applies WAL frames to the VFS, with on-disk snapshots.
//!
//! Still to come: the gateway speaking the wire protocol of
//! `dqlite-protocol`, the per-database executor threads, the node API
//! (`Node::builder`) and the `dqlite-server` binary.

mod fs_util;
pub mod raft;
pub mod vfs;
