//! Consensus: everything that touches openraft lives under this module.
//!
//! Built so far:
//! - [`log_file`]: the durable, segmented record log that the Raft log
//!   store is built on (fsync before an append counts, torn tails repaired
//!   on open, corruption elsewhere refused).
//!
//! To come (project issue 3): the openraft type config, the log store and
//! state machine adapters (the state machine applies WAL frames through
//! [`crate::vfs`]), and the network.

pub mod log_file;
