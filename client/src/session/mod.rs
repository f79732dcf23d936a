//! The client core: one logical connection to the cluster's leader.
//!
//! A `Session` finds the leader (as go-dqlite does: LEADER on each known
//! node, follow the answer, check that the named node names itself), opens
//! the database, keeps the node list current from CLUSTER, and runs
//! requests. It reconnects on its own when the leader changes, and retries
//! a request only when it certainly did not run (a "not leader" answer, a
//! request that could not be sent) or when it only reads; a write whose
//! answer was lost is reported as [`Error::OutcomeUnknown`](crate::Error::OutcomeUnknown). A transaction
//! open on a lost connection is gone: statements fail with
//! [`Error::TransactionLost`](crate::Error::TransactionLost) until it is rolled back.
//!
//! Result sets stream: a query's first ROWS message is returned and the
//! rest stay on the socket until asked for. If another request must go out
//! first, the rest of the result is read into memory ("spilled") for its
//! reader; an abandoned result is cut short with INTERRUPT. Work that
//! cannot wait for an answer (FINALIZE of a dropped statement, ROLLBACK of
//! a dropped async transaction, INTERRUPT) is queued in [`Shared`] and
//! written in front of the next request.
//!
//! # Layout
//!
//! - `mod.rs`: [`Session`], the handles it shares ([`Shared`],
//!   [`Deferred`], [`StmtHandle`], [`Started`]) and small wire helpers.
//! - `connect.rs`: finding the leader, CLIENT/OPEN/CLUSTER (or a bare
//!   connection to the leader, for DUMP), disconnecting.
//! - `transaction.rs`: following the transaction statements sent.
//! - `exchange.rs`: one write of deferred work and requests, and reading
//!   their answers (with a result set still on the socket read ahead).
//! - `retry.rs`: the pure rule deciding, from what went wrong, whether a
//!   request is sent again or which error it ends with.
//! - `operations.rs`: EXEC, QUERY, PREPARE, FINALIZE and result-set
//!   messages, each through the retry loop; DUMP ([`Dumped`]).

mod connect;
mod exchange;
mod operations;
mod retry;
mod transaction;

pub use operations::Dumped;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64};
use std::sync::{Arc, Mutex};

use dqlite_protocol::codes::SQLITE_ROW;
use dqlite_protocol::frame::Frame;
use dqlite_protocol::response::{ResponseType, RowsEnd};

use crate::Result;
use crate::config::Config;
use crate::wire::Wire;

use transaction::TxState;

/// Attempts of one request across reconnections.
const MAX_ATTEMPTS: usize = 3;

/// State shared with the handles that cannot wait for the session (drops).
#[derive(Debug, Default)]
pub struct Shared {
    /// The last EXEC's last insert rowid.
    pub last_insert_rowid: AtomicI64,
    /// The last EXEC's count of changed rows.
    pub changes: AtomicU64,
    /// Whether a transaction is open, as far as the statements sent tell.
    pub in_transaction: AtomicBool,
    deferred: Mutex<Vec<Deferred>>,
}

impl Shared {
    /// Queues work for the next request.
    pub fn defer(&self, work: Deferred) {
        match self.deferred.lock() {
            Ok(mut queue) => queue.push(work),
            Err(poisoned) => poisoned.into_inner().push(work),
        }
    }

    pub(crate) fn take_deferred(&self) -> Vec<Deferred> {
        match self.deferred.lock() {
            Ok(mut queue) => std::mem::take(&mut *queue),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }

    /// Whether work is queued for the next request.
    pub fn has_deferred(&self) -> bool {
        self.deferred.lock().map(|q| !q.is_empty()).unwrap_or(false)
    }
}

/// Work queued by a drop.
#[derive(Debug)]
pub enum Deferred {
    /// FINALIZE a statement prepared on connection `epoch`.
    Finalize {
        /// The connection it was prepared on ([`StmtHandle::epoch`]).
        epoch: u64,
        /// Its id there.
        id: u32,
    },
    /// Run SQL (a ROLLBACK) if the transaction is still open.
    Sql {
        /// The SQL, run with EXEC_SQL.
        sql: String,
    },
    /// Stop result set `ticket`.
    Abandon {
        /// [`Started::ticket`].
        ticket: u64,
    },
}

/// A statement prepared on the server.
#[derive(Debug, Clone)]
pub struct StmtHandle {
    /// The statement's id on the server.
    pub id: u32,
    /// The connection it lives on.
    pub epoch: u64,
    /// The server's parameter count.
    pub param_count: usize,
    /// Column names, when known (from a probe or a past query).
    pub columns: Option<Arc<[String]>>,
}

/// The first message of a result set.
#[derive(Debug)]
pub struct Started {
    /// Names the result set for [`Session::next_frame`] and [`Deferred::Abandon`].
    pub ticket: u64,
    /// The first ROWS message.
    pub frame: Frame,
    /// More messages follow.
    pub more: bool,
}

/// The client core; see the module docs.
#[derive(Debug)]
pub struct Session {
    config: Config,
    wire: Option<Wire>,
    epoch: u64,
    nodes: Vec<String>,
    leader: Option<String>,
    stream: Option<u64>,
    spilled: HashMap<u64, VecDeque<Result<Frame>>>,
    next_ticket: u64,
    tx: TxState,
    shared: Arc<Shared>,
}

impl Session {
    /// A session that has not connected yet.
    pub fn new(config: Config) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            nodes: config.nodes.clone(),
            config,
            wire: None,
            epoch: 0,
            leader: None,
            stream: None,
            spilled: HashMap::new(),
            next_ticket: 1,
            tx: TxState::default(),
            shared: Arc::new(Shared::default()),
        })
    }

    /// The state shared with handles that cannot wait (drops).
    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// The leader this session talks to, if connected.
    pub fn leader(&self) -> Option<&str> {
        self.wire.as_ref().map(Wire::address)
    }

    /// The nodes known from the last CLUSTER answer (voters first) and the
    /// configured ones.
    pub fn nodes(&self) -> &[String] {
        &self.nodes
    }
}

/// Reinterprets the bits of a wire `u64` as the `i64` SQLite stored.
pub fn wire_i64(v: u64) -> i64 {
    i64::from_le_bytes(v.to_le_bytes())
}

/// Whether a ROWS message says that more messages of its result set follow.
pub fn has_more(frame: &Frame) -> bool {
    frame.header.kind == ResponseType::Rows.code() && ends_with_part(&frame.body)
}

/// Whether a FAILURE says that the statement returned rows where none were
/// expected (EXEC of a query).
pub fn is_rows_yielded(code: u64, message: &str) -> bool {
    code == SQLITE_ROW || message.starts_with("rows yielded when none expected")
}

/// Whether a ROWS body ends with the protocol's PART marker (more
/// messages of its result set follow).
fn ends_with_part(body: &[u8]) -> bool {
    body.ends_with(&RowsEnd::Part.marker().to_le_bytes())
}
