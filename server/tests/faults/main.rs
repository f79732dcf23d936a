//! Faults and load against `dqlite-server` nodes: kill -9 during writes
//! (one node: `durability`; a three-node cluster: `cluster_kill`; minutes
//! of random kills: `chaos`), restarts that used to fail (`restart`), a
//! full or failing disk (`disk_full`), and resources under abuse
//! (`abuse`). `load` is the write load the cluster tests share. Most run
//! the binary as child processes; they are the suite's slow part.
//!
//! Knobs: `DQLITE_CHAOS_SECS` and `DQLITE_CHAOS_SEED` (see `chaos`),
//! `DQLITE_TEST_NODE_LOG` (the nodes' `RUST_LOG`).

#![allow(clippy::unwrap_used)] // Tests panic on purpose.

mod abuse;
mod chaos;
mod cluster_kill;
mod disk_full;
mod durability;
mod load;
#[path = "../common/process.rs"]
mod process;
mod restart;
#[path = "../common/rng.rs"]
mod rng;
#[path = "../common/util.rs"]
mod util;
