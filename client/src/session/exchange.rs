//! One exchange: the deferred work and the requests in one write, their
//! answers read back, and what a failure means for retrying (decided by
//! [`retry::classify`](super::retry::classify)).

use std::collections::VecDeque;

use dqlite_protocol::Params;
use dqlite_protocol::codes::{LEGACY_NOT_LEADER, NOT_LEADER, is_leadership_error};
use dqlite_protocol::frame::Frame;
use dqlite_protocol::request::{ExecSql, Finalize, Interrupt, Request};
use dqlite_protocol::response::{Response, ResponseType};

use super::retry::{Request as Attempted, Trouble, Verdict, classify};
use super::{Deferred, Session, ends_with_part};
use crate::sql::SqlInfo;
use crate::wire::{Wire, decode};
use crate::{Error, Result};

/// What an answer to a request means for retrying it.
pub(super) enum Outcome {
    /// The answers, one per request.
    Done(Vec<Frame>),
    /// The request did not run (or only reads): try again after reconnecting.
    Retry(Error),
}

/// What is expected in front of the request's own answers.
enum Expect {
    Empty,
    Result(SqlInfo),
    UntilEmpty,
}

/// Why an exchange failed.
pub(super) enum Failed {
    /// The requests could not be encoded; the connection is fine.
    Local(Error),
    /// Nothing of the request reached the server.
    NotSent(Error),
    /// The request was sent; its answer was lost.
    Lost(Error),
}

impl Session {
    // ---- one exchange -------------------------------------------------

    /// Writes the deferred work and `requests` in one go and reads their
    /// answers. Classifies failures for retrying.
    pub(super) async fn attempt(
        &mut self,
        requests: &[Request],
        read_only: bool,
        commit: bool,
    ) -> Result<Outcome> {
        let request = Attempted {
            in_transaction: self.tx.active,
            commits: commit,
            read_only,
        };
        let (trouble, error) = match self.exchange(requests).await {
            Ok(frames) => {
                let Some(first) = frames.first() else {
                    return Ok(Outcome::Done(frames));
                };
                if first.header.kind != ResponseType::Failure.code() {
                    return Ok(Outcome::Done(frames));
                }
                let Response::Failure(failure) = decode(first)? else {
                    return Err(Error::Protocol("undecodable FAILURE".into()));
                };
                if !is_leadership_error(failure.code) {
                    return Err(Error::failure(failure.code, failure.message));
                }
                if matches!(failure.code, NOT_LEADER | LEGACY_NOT_LEADER) {
                    (Trouble::NotLeader, Error::NotLeader(failure.message))
                } else {
                    let why = format!("leadership lost ({})", failure.message);
                    (Trouble::LeadershipLost, Error::OutcomeUnknown(why))
                }
            }
            Err(Failed::Local(e)) => return Err(e),
            Err(Failed::NotSent(e)) => (Trouble::NotSent, e),
            Err(Failed::Lost(e)) => (Trouble::AnswerLost, e),
        };
        self.disconnect(&error);
        let decision = classify(trouble, request);
        if decision.ends_transaction {
            self.end_transaction();
        }
        match decision.verdict {
            Verdict::Retry => Ok(Outcome::Retry(error)),
            Verdict::TransactionLost => {
                tracing::debug!(%error, "transaction lost with the connection");
                Err(Error::TransactionLost)
            }
            Verdict::OutcomeUnknown => Err(match error {
                unknown @ Error::OutcomeUnknown(_) => unknown,
                other => Error::OutcomeUnknown(other.to_string()),
            }),
            Verdict::Fail => Err(error),
        }
    }

    /// The raw exchange (see [`attempt`](Self::attempt)).
    pub(super) async fn exchange(&mut self, requests: &[Request]) -> Result<Vec<Frame>, Failed> {
        // An abandoned result set still on the socket is cut short with
        // INTERRUPT; one still wanted is read ahead for its reader.
        let mut interrupt = false;
        let mut deferred = Vec::new();
        for work in self.shared.take_deferred() {
            match work {
                Deferred::Abandon { ticket } if self.stream == Some(ticket) => {
                    self.stream = None;
                    interrupt = true;
                }
                Deferred::Abandon { ticket } => {
                    self.spilled.remove(&ticket);
                }
                other => deferred.push(other),
            }
        }
        let early = match self.settle_stream().await {
            Err(e) => Some(e),
            Ok(()) if self.wire.is_none() => Some(Error::Protocol("not connected".into())),
            Ok(()) if interrupt => None,
            Ok(()) => self
                .wire
                .as_mut()
                .and_then(Wire::closed_while_idle)
                .map(|why| {
                    Error::Io(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        why,
                    ))
                }),
        };
        if let Some(e) = early {
            // The connection is unusable: the queued work dies with it, but
            // a queued ROLLBACK still ends the transaction here.
            self.disconnect(&e);
            for work in deferred {
                if let Deferred::Sql { sql } = work {
                    self.track(&SqlInfo::new(&sql));
                }
            }
            return Err(Failed::NotSent(e));
        }
        let epoch = self.epoch;
        let in_open_tx = self.tx.active && !self.tx.lost;
        let Some(wire) = self.wire.as_mut() else {
            return Err(Failed::NotSent(Error::Protocol("not connected".into())));
        };
        let mut expects = Vec::new();
        let mut skipped_tracking = Vec::new();
        if interrupt && wire.push(&Request::from(Interrupt { db_id: 0 })).is_ok() {
            expects.push(Expect::UntilEmpty);
        }
        for work in deferred {
            match work {
                Deferred::Finalize { epoch: e, id } if e == epoch => {
                    if wire
                        .push(&Request::from(Finalize {
                            db_id: 0,
                            stmt_id: id,
                        }))
                        .is_ok()
                    {
                        expects.push(Expect::Empty);
                    }
                }
                Deferred::Sql { sql } if in_open_tx => {
                    let request = Request::from(ExecSql {
                        db_id: 0,
                        sql: sql.clone(),
                        params: Params::default(),
                    });
                    if wire.push(&request).is_ok() {
                        expects.push(Expect::Result(SqlInfo::new(&sql)));
                    }
                }
                Deferred::Sql { sql, .. } => skipped_tracking.push(SqlInfo::new(&sql)),
                Deferred::Finalize { .. } | Deferred::Abandon { .. } => {}
            }
        }
        let mut pushed = 0;
        let mut local_error = None;
        for request in requests {
            if let Err(e) = wire.push(request) {
                local_error = Some(e);
                break;
            }
            pushed += 1;
        }
        if pushed == 0
            && expects.is_empty()
            && let Some(e) = local_error
        {
            return Err(Failed::Local(e));
        }
        wire.flush().await.map_err(Failed::NotSent)?;
        for expect in expects {
            match expect {
                Expect::Empty => {
                    let frame = wire.read().await.map_err(Failed::Lost)?;
                    if frame.header.kind == ResponseType::Failure.code() {
                        tracing::debug!(answer = ?decode(&frame).ok(), "deferred FINALIZE failed");
                    }
                }
                Expect::Result(info) => {
                    let frame = wire.read().await.map_err(Failed::Lost)?;
                    if frame.header.kind == ResponseType::Result.code() {
                        skipped_tracking.push(info);
                    } else {
                        tracing::warn!(answer = ?decode(&frame).ok(), "deferred statement failed");
                    }
                }
                Expect::UntilEmpty => loop {
                    let frame = wire.read().await.map_err(Failed::Lost)?;
                    if frame.header.kind == ResponseType::Empty.code() {
                        break;
                    }
                },
            }
        }
        let mut frames = Vec::with_capacity(pushed);
        for _ in 0..pushed {
            frames.push(wire.read().await.map_err(Failed::Lost)?);
        }
        for info in skipped_tracking {
            self.track(&info);
        }
        if let Some(e) = local_error {
            return Err(Failed::Local(e));
        }
        Ok(frames)
    }

    /// Reads the rest of a result set still on the socket into memory,
    /// so that another request can go out.
    pub(super) async fn settle_stream(&mut self) -> Result<()> {
        let Some(ticket) = self.stream else {
            return Ok(());
        };
        let Some(wire) = self.wire.as_mut() else {
            self.stream = None;
            return Ok(());
        };
        let mut frames = VecDeque::new();
        let result = loop {
            match wire.read().await {
                Ok(frame) => {
                    let end = frame.header.kind != ResponseType::Rows.code()
                        || !ends_with_part(&frame.body);
                    frames.push_back(Ok(frame));
                    if end {
                        break Ok(());
                    }
                }
                Err(e) => break Err(e),
            }
        };
        self.stream = None;
        let spilled = self.spilled.entry(ticket).or_default();
        spilled.extend(frames);
        if let Err(e) = result {
            let message = e.to_string();
            self.disconnect(&e);
            self.spilled
                .entry(ticket)
                .or_default()
                .push_back(Err(Error::Io(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    message.clone(),
                ))));
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                message,
            )));
        }
        tracing::trace!(ticket, "result set read ahead to send another request");
        Ok(())
    }

    /// Sends the deferred work now (after an async drop).
    pub async fn flush_deferred(&mut self) {
        if self.wire.is_none() || !self.shared.has_deferred() {
            return;
        }
        if let Err(e) = self.exchange(&[]).await {
            let e = match e {
                Failed::Local(e) | Failed::NotSent(e) | Failed::Lost(e) => e,
            };
            self.disconnect(&e);
        }
    }
}
