//! Backup and restore of one database of a running cluster, as client
//! operations (what `dqlite-server backup` and `dqlite-server restore` run).
//!
//! - [`backup`] asks the leader for its image of the database (DUMP) and
//!   writes it as a standalone SQLite file: the leader's answer (main file
//!   and, from a C dqlite node, a WAL) is written next to the destination,
//!   opened with SQLite, checkpointed and switched to the rollback journal,
//!   checked with `PRAGMA integrity_check`, then renamed over the
//!   destination. The image is consistent: a node takes it with SQLite's
//!   backup API inside one read transaction, on the leader after every
//!   write it could see has committed, so it holds every write
//!   acknowledged before the backup started and never half a transaction.
//! - [`restore`] loads a SQLite file into a database through the leader
//!   with SQL, so that every node gets it as replicated writes
//!   ([`restore`] describes the order and the limits).
//!
//! Both find the leader through [`Target::servers`] as any client does,
//! with TLS when [`Target::tls`] is set.

mod dump;
mod restore;
mod statements;
mod target;

pub use dump::{BackupReport, backup};
pub use restore::{RestoreReport, restore};
pub use target::{BackupError, DEFAULT_MAX_SIZE, DEFAULT_TIMEOUT, Target};
