//! The write pipeline: puts the frames of each write transaction a session
//! committed locally into the Raft log, in the order SQLite wrote them.
//!
//! Sessions do not call Raft themselves: a transaction is built on the
//! pending ones before it, so their entries must reach the log in that
//! order, and Raft's request channel does not promise the order of
//! concurrent callers. Each session queues its [`Proposal`] while it still
//! holds the SQL lock, right after SQLite committed; one task per node
//! ([`run`]) hands them to Raft one after the other, each tagged with the
//! leadership it was written under, so that an entry written under an
//! earlier leadership is refused rather than appended after a change.
//!
//! Sessions learn the outcome from the transaction's
//! [`TxTicket`](crate::vfs::TxTicket): this task settles it as soon as Raft
//! reports the entry committed (a quorum holds it), without waiting for
//! the state machine to apply it. When Raft refuses or drops an entry, this task
//! aborts the transaction and every one built on it.

use openraft::alias::CommittedLeaderIdOf;
use openraft::raft::responder::ProgressResponder;
use tokio::sync::mpsc;

use crate::raft::instance::Raft;
use crate::raft::typ::{Command, TypeConfig};
use crate::sql::SqlLock;
use crate::vfs::{Frames, Vfs};

/// The leadership a transaction was written under.
pub(crate) type LeaderId = CommittedLeaderIdOf<TypeConfig>;

/// One locally committed write transaction, for the Raft log.
#[derive(Debug)]
pub(crate) struct Proposal {
    pub(crate) db: String,
    pub(crate) leader: LeaderId,
    pub(crate) frames: Frames,
}

/// Where sessions queue their proposals.
#[derive(Debug, Clone)]
pub(crate) struct Proposer(mpsc::UnboundedSender<Proposal>);

impl Proposer {
    /// A proposer and the receiving end for [`run`].
    pub(crate) fn new() -> (Self, mpsc::UnboundedReceiver<Proposal>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self(tx), rx)
    }

    /// Queues `proposal`; hands it back if the node is stopping.
    pub(crate) fn propose(&self, proposal: Proposal) -> Result<(), Proposal> {
        self.0.send(proposal).map_err(|e| e.0)
    }
}

/// Hands queued proposals to Raft in order until every [`Proposer`] is
/// gone. Runs on the node's thread (it spawns local tasks).
pub(crate) async fn run(
    mut queue: mpsc::UnboundedReceiver<Proposal>,
    node_id: u64,
    raft: Raft,
    vfs: Vfs,
    sql: SqlLock,
) {
    while let Some(Proposal { db, leader, frames }) = queue.recv().await {
        let tx_id = frames.tx_id;
        let command = Command::Frames {
            db: db.clone(),
            origin: node_id,
            frames,
        };
        let (responder, committed, done) = ProgressResponder::new();
        let sent = raft
            .write(command)
            .with_leader(leader)
            .responder(responder)
            .await;
        let (vfs, sql) = (vfs, sql.clone());
        let on_commit = (db.clone(), vfs);
        let refused = move |why: String| {
            tracing::debug!(%db, tx_id, %why, "a write transaction was not committed");
            let _sql = sql.hold();
            if let Err(e) = vfs.abort_from(&db, tx_id) {
                tracing::error!(error = %e, %db, "could not abort a transaction");
            }
        };
        match sent {
            Err(fatal) => refused(fatal.to_string()),
            Ok(()) => {
                tokio::task::spawn_local(async move {
                    // Dropped unsent if the entry fails.
                    let was_committed = committed.await.is_ok();
                    if was_committed {
                        let (db, vfs) = &on_commit;
                        if let Err(e) = vfs.mark_committed(db, tx_id) {
                            tracing::error!(error = %e, %db, "could not settle a transaction");
                        }
                    }
                    match done.await {
                        Ok(Ok(_)) => {}
                        // Committed, then Raft stopped before applying it:
                        // it stays in the log (replayed at restart) and
                        // must not be dropped as if it had failed.
                        _ if was_committed => {}
                        Ok(Err(e)) => refused(e.to_string()),
                        Err(_) => refused("Raft dropped the request".into()),
                    }
                });
            }
        }
    }
}
