//! The retry rule, as a pure function: from what went wrong with one
//! exchange and what the request was, whether it is sent again on a new
//! connection or which error it ends with, and whether the transaction is
//! over. [`Session::attempt`](super::Session) applies the decision.
//!
//! The rule: a request is sent again only when it certainly did not run
//! (a "not leader" answer, nothing sent) or when it only reads; a write
//! whose answer was lost may have committed and is never sent again; a
//! transaction open on a lost connection is gone (the server rolled it
//! back), unless the lost request was the one that commits it.

/// What went wrong with one exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Trouble {
    /// The server answered "not leader": the request did not run.
    NotLeader,
    /// The server answered "leadership lost": the request may have run.
    LeadershipLost,
    /// Nothing of the request reached the server.
    NotSent,
    /// The request was sent; its answer was lost with the connection.
    AnswerLost,
}

/// What the failed request was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Request {
    /// A transaction was open when it was sent.
    pub in_transaction: bool,
    /// Its success commits (COMMIT, END, RELEASE of the outermost savepoint).
    pub commits: bool,
    /// It only reads.
    pub read_only: bool,
}

/// How the request ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Send it again after reconnecting.
    Retry,
    /// [`Error::TransactionLost`](crate::Error::TransactionLost).
    TransactionLost,
    /// [`Error::OutcomeUnknown`](crate::Error::OutcomeUnknown): it may
    /// have been committed.
    OutcomeUnknown,
    /// The error as it is (a read whose answer was lost).
    Fail,
}

/// The decision for one failed exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Decision {
    /// How the request ends.
    pub verdict: Verdict,
    /// The transaction is over (committed or not) and its tracking ends.
    pub ends_transaction: bool,
}

/// Decides what a failed exchange means; see the module docs.
pub(super) fn classify(trouble: Trouble, request: Request) -> Decision {
    let Request {
        in_transaction,
        commits,
        read_only,
    } = request;
    let decide = |verdict, ends_transaction| Decision {
        verdict,
        ends_transaction,
    };
    if !in_transaction {
        return match trouble {
            Trouble::NotLeader | Trouble::NotSent => decide(Verdict::Retry, false),
            Trouble::LeadershipLost | Trouble::AnswerLost if read_only => {
                decide(Verdict::Retry, false)
            }
            Trouble::LeadershipLost | Trouble::AnswerLost => decide(Verdict::OutcomeUnknown, false),
        };
    }
    match trouble {
        // Nothing of the transaction was committed; a COMMIT that did not
        // run ends it all the same (the server rolled it back).
        Trouble::NotLeader | Trouble::NotSent => decide(Verdict::TransactionLost, commits),
        Trouble::LeadershipLost | Trouble::AnswerLost if !commits => {
            decide(Verdict::TransactionLost, false)
        }
        // The commit may or may not have happened.
        Trouble::LeadershipLost => decide(Verdict::OutcomeUnknown, true),
        Trouble::AnswerLost if read_only => decide(Verdict::Fail, true),
        Trouble::AnswerLost => decide(Verdict::OutcomeUnknown, true),
    }
}

#[cfg(test)]
mod tests {
    use super::Trouble::{AnswerLost, LeadershipLost, NotLeader, NotSent};
    use super::Verdict::{Fail, OutcomeUnknown, Retry, TransactionLost};
    use super::*;

    #[test]
    fn every_case() {
        // (trouble, in transaction, commits, read only) => (verdict, ends the transaction)
        #[rustfmt::skip]
        let table = [
            // Outside a transaction: retried unless it may have written.
            (NotLeader,      false, false, false, Retry,           false),
            (NotLeader,      false, false, true,  Retry,           false),
            (NotSent,        false, false, false, Retry,           false),
            (NotSent,        false, false, true,  Retry,           false),
            (LeadershipLost, false, false, true,  Retry,           false),
            (LeadershipLost, false, false, false, OutcomeUnknown,  false),
            (AnswerLost,     false, false, true,  Retry,           false),
            (AnswerLost,     false, false, false, OutcomeUnknown,  false),
            // A RELEASE outside a transaction is an ordinary statement.
            (AnswerLost,     false, true,  false, OutcomeUnknown,  false),
            // Inside a transaction, a statement that does not commit: lost.
            (NotLeader,      true,  false, false, TransactionLost, false),
            (NotLeader,      true,  false, true,  TransactionLost, false),
            (NotSent,        true,  false, false, TransactionLost, false),
            (LeadershipLost, true,  false, false, TransactionLost, false),
            (LeadershipLost, true,  false, true,  TransactionLost, false),
            (AnswerLost,     true,  false, false, TransactionLost, false),
            (AnswerLost,     true,  false, true,  TransactionLost, false),
            // The commit itself: over either way; unknown if it may have run.
            (NotLeader,      true,  true,  false, TransactionLost, true),
            (NotSent,        true,  true,  false, TransactionLost, true),
            (LeadershipLost, true,  true,  false, OutcomeUnknown,  true),
            (AnswerLost,     true,  true,  false, OutcomeUnknown,  true),
            (AnswerLost,     true,  true,  true,  Fail,            true),
        ];
        for (trouble, in_transaction, commits, read_only, verdict, ends_transaction) in table {
            let request = Request {
                in_transaction,
                commits,
                read_only,
            };
            assert_eq!(
                classify(trouble, request),
                Decision {
                    verdict,
                    ends_transaction
                },
                "{trouble:?} {request:?}"
            );
        }
    }
}
