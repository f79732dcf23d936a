//! [`ResultSet`]: the reader's side of a streamed result set, shared by
//! both drivers. It holds the result's ticket, fetches its further ROWS
//! messages from the [`Session`] one at a time, and when dropped before
//! the last one queues [`Deferred::Abandon`] so that the next request
//! interrupts the query on the server.

use std::sync::Arc;

use dqlite_protocol::frame::Frame;

use crate::{Deferred, Result, Session, Shared, Started, has_more};

/// A result set being read; see the module docs.
#[derive(Debug)]
pub struct ResultSet {
    shared: Arc<Shared>,
    ticket: u64,
    /// More messages are due from the server.
    more: bool,
}

impl ResultSet {
    /// The result set a query started, and its first ROWS message.
    /// `shared` is the session's ([`Session::shared`]).
    pub fn new(started: Started, shared: Arc<Shared>) -> (Self, Frame) {
        let Started {
            ticket,
            frame,
            more,
        } = started;
        (
            Self {
                shared,
                ticket,
                more,
            },
            frame,
        )
    }

    /// Whether messages are still due from the server.
    pub fn has_more(&self) -> bool {
        self.more
    }

    /// The next ROWS message, or `None` after the last. An error (a
    /// FAILURE in the middle of the result, a lost connection) ends the
    /// result set.
    pub async fn next_frame(&mut self, session: &mut Session) -> Result<Option<Frame>> {
        if !self.more {
            return Ok(None);
        }
        match session.next_frame(self.ticket).await {
            Ok(frame) => {
                self.more = has_more(&frame);
                Ok(Some(frame))
            }
            Err(e) => {
                self.more = false;
                Err(e)
            }
        }
    }
}

impl Drop for ResultSet {
    fn drop(&mut self) {
        if self.more {
            tracing::trace!(ticket = self.ticket, "result set dropped before its end");
            self.shared.defer(Deferred::Abandon {
                ticket: self.ticket,
            });
        }
    }
}
