//! What the peer fuzz targets share: the node that judges the calls, what
//! a call it lets through must satisfy, and calls built from fuzz input.
#![allow(dead_code)] // Each target uses part of it.

use std::collections::BTreeMap;

use dqlite_server::internals::admission::{MAX_INDEX, MAX_TERM, MAX_TERM_STEP, View};
use dqlite_server::internals::peer_wire::PeerRequest;
use dqlite_server::internals::typ::{Entry, LogId, SnapshotMeta, StoredMembership, TypeConfig, Vote};
use openraft::raft::{AppendEntriesRequest, TransferLeaderRequest, VoteRequest};
use openraft::vote::RaftLeaderId;

type LeaderId = openraft::alias::CommittedLeaderIdOf<TypeConfig>;

/// Node 1 of members 1 to 3, at term 5.
pub fn view() -> View {
    View {
        me: 1,
        members: BTreeMap::from([
            (1, "127.0.0.1:9001".to_owned()),
            (2, "127.0.0.1:9002".to_owned()),
            (3, "127.0.0.1:9003".to_owned()),
        ]),
        term: 5,
    }
}

fn possible_term(term: u64) {
    assert!(term <= MAX_TERM && term <= 5 + MAX_TERM_STEP, "term {term} let through");
}

fn possible_id(id: &LogId, term: u64) {
    assert!(id.index <= MAX_INDEX, "index {} let through", id.index);
    assert!(id.leader_id.term <= term, "a log id newer than its call");
}

/// Judges `request` from `from`; if it is let through, checks that it is
/// possible: terms within bounds (so `term + 1` cannot overflow), indexes
/// below `MAX_INDEX`, the call speaking for its caller, entries
/// consecutive after their previous log id.
pub fn judge(from: u64, request: &PeerRequest) {
    if view().check_request(from, request).is_err() {
        return;
    }
    match request {
        PeerRequest::Append(rpc) => {
            let term = rpc.vote.leader_id().term();
            assert_eq!(*rpc.vote.leader_id().node_id(), from);
            assert!(rpc.vote.is_committed());
            possible_term(term);
            let mut next = rpc.prev_log_id.map_or(0, |p| p.index + 1);
            if let Some(prev) = &rpc.prev_log_id {
                possible_id(prev, term);
            }
            for entry in &rpc.entries {
                possible_id(&entry.log_id, term);
                assert_eq!(entry.log_id.index, next, "entries not consecutive");
                next += 1;
            }
            if let Some(commit) = &rpc.leader_commit {
                possible_id(commit, term);
            }
        }
        PeerRequest::Vote(rpc) | PeerRequest::PreVote(rpc) => {
            let term = rpc.vote.leader_id().term();
            assert_eq!(*rpc.vote.leader_id().node_id(), from);
            assert!(!rpc.vote.is_committed());
            possible_term(term);
            if let Some(last) = &rpc.last_log_id {
                possible_id(last, term);
            }
        }
        PeerRequest::SnapshotChunk {
            vote,
            meta,
            offset,
            total,
            data,
            ..
        } => {
            let term = vote.leader_id().term();
            assert_eq!(*vote.leader_id().node_id(), from);
            possible_term(term);
            if let Some(last) = &meta.last_log_id {
                possible_id(last, term);
            }
            assert!(offset.checked_add(data.len() as u64).is_some_and(|end| end <= *total));
        }
        PeerRequest::TransferLeader(rpc) => {
            assert_eq!(*rpc.from_leader().leader_id().node_id(), from);
            assert_eq!(*rpc.to_node_id(), 1);
            possible_term(rpc.from_leader().leader_id().term());
        }
        _ => {}
    }
}

/// Fuzz input read a field at a time (zeros once it runs out).
pub struct Input<'a>(pub &'a [u8]);

impl Input<'_> {
    pub fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    pub fn u64(&mut self) -> u64 {
        let mut bytes = [0u8; 8];
        for b in &mut bytes {
            *b = self.byte();
        }
        u64::from_le_bytes(bytes)
    }

    /// One of `from`, or (one time in four) any value.
    pub fn pick(&mut self, from: &[u64]) -> u64 {
        let b = usize::from(self.byte());
        if b % 4 == 3 {
            self.u64()
        } else {
            from[b / 4 % from.len()]
        }
    }

    fn term(&mut self) -> u64 {
        self.pick(&[0, 4, 5, 6, 7, 5 + MAX_TERM_STEP, 6 + MAX_TERM_STEP, MAX_TERM, MAX_TERM + 1, u64::MAX])
    }

    fn index(&mut self) -> u64 {
        self.pick(&[0, 1, 2, 10, MAX_INDEX - 1, MAX_INDEX, MAX_INDEX + 1, u64::MAX - 1, u64::MAX])
    }

    fn node(&mut self) -> u64 {
        self.pick(&[1, 2, 3, 4, 0, u64::MAX])
    }

    fn log_id(&mut self) -> Option<LogId> {
        if self.byte() % 3 == 0 {
            return None;
        }
        let (term, node, index) = (self.term(), self.node(), self.index());
        Some(LogId::new(LeaderId::new(term, node), index))
    }

    fn vote(&mut self) -> Vote {
        let (term, node) = (self.term(), self.node());
        if self.byte() % 2 == 0 {
            Vote::new(term, node)
        } else {
            Vote::new_committed(term, node)
        }
    }
}

/// A call built from `input`.
pub fn call(input: &mut Input) -> PeerRequest {
    match input.byte() % 6 {
        0 => PeerRequest::Vote(VoteRequest {
            vote: input.vote(),
            last_log_id: input.log_id(),
            leadership_transfer: input.byte() % 2 == 0,
        }),
        1 => PeerRequest::PreVote(VoteRequest {
            vote: input.vote(),
            last_log_id: input.log_id(),
            leadership_transfer: false,
        }),
        2 => {
            let vote = input.vote();
            let prev = input.log_id();
            let mut entries = Vec::new();
            for _ in 0..input.byte() % 5 {
                let log_id = input
                    .log_id()
                    .unwrap_or_else(|| LogId::new(LeaderId::new(5, 2), 0));
                entries.push(Entry {
                    log_id,
                    payload: openraft::EntryPayload::Blank,
                });
            }
            PeerRequest::Append(AppendEntriesRequest {
                vote,
                prev_log_id: prev,
                entries,
                leader_commit: input.log_id(),
            })
        }
        3 => {
            let len = usize::from(input.byte());
            PeerRequest::SnapshotChunk {
                vote: input.vote(),
                meta: SnapshotMeta {
                    last_log_id: input.log_id(),
                    last_membership: StoredMembership::default(),
                },
                offset: input.pick(&[0, 8, 255, u64::MAX - 8]),
                total: input.pick(&[0, 16, 255, 1 << 30, u64::MAX]),
                crc: u32::from(input.byte()),
                data: vec![0; len],
            }
        }
        4 => PeerRequest::TransferLeader(TransferLeaderRequest::new(
            input.vote(),
            input.node(),
            input.log_id(),
        )),
        _ => PeerRequest::Members,
    }
}
