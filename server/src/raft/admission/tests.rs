//! The admission checks, one forged call at a time.

use std::collections::{BTreeMap, BTreeSet};

use openraft::raft::{AppendEntriesRequest, TransferLeaderRequest, VoteRequest};
use openraft::{EntryPayload, Membership};

use super::*;
use crate::raft::typ::{Entry, SnapshotMeta, StoredMembership};

type LeaderId = openraft::alias::CommittedLeaderIdOf<crate::raft::typ::TypeConfig>;

fn view() -> View {
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

fn hello(id: u64, address: &str) -> Hello {
    Hello {
        id,
        address: address.to_owned(),
    }
}

fn log_id(term: u64, node: u64, index: u64) -> LogId {
    LogId::new(LeaderId::new(term, node), index)
}

fn entry(term: u64, index: u64) -> Entry {
    Entry {
        log_id: log_id(term, 2, index),
        payload: EntryPayload::Blank,
    }
}

fn append(vote: Vote, prev: Option<LogId>, entries: Vec<Entry>) -> PeerRequest {
    PeerRequest::Append(AppendEntriesRequest {
        vote,
        prev_log_id: prev,
        entries,
        leader_commit: None,
    })
}

fn vote(vote: Vote, last: Option<LogId>) -> PeerRequest {
    PeerRequest::Vote(VoteRequest {
        vote,
        last_log_id: last,
        leadership_transfer: false,
    })
}

fn membership(configs: Vec<BTreeSet<u64>>, nodes: &[u64]) -> Membership<u64, NodeInfo> {
    let nodes: BTreeMap<u64, NodeInfo> = nodes.iter().map(|&n| (n, NodeInfo::default())).collect();
    // Built without openraft's checks, as a forged message could be.
    let bytes = postcard::to_allocvec(&(configs, nodes)).unwrap();
    postcard::from_bytes(&bytes).unwrap()
}

#[test]
fn members_pass_and_strangers_do_not() {
    let v = view();
    assert_eq!(
        v.check_caller(&hello(2, "127.0.0.1:9002"), |_, _| false),
        Ok(())
    );
    assert_eq!(
        v.check_caller(&hello(99, "127.0.0.1:9099"), |_, _| false),
        Err(Refusal::NotMember {
            id: 99,
            address: "127.0.0.1:9099".into()
        })
    );
    assert!(matches!(
        v.check_caller(&hello(2, "127.0.0.1:9999"), |_, _| true),
        Err(Refusal::WrongAddress { id: 2, .. })
    ));
    assert_eq!(
        v.check_caller(&hello(1, "127.0.0.1:9001"), |_, _| true),
        Err(Refusal::Myself(1))
    );
    // Vouched for by a member: a node added while this one was behind.
    assert_eq!(
        v.check_caller(&hello(4, "127.0.0.1:9004"), |id, a| id == 4
            && a == "127.0.0.1:9004"),
        Ok(())
    );
    // A node that belongs to no cluster yet hears from anyone.
    let fresh = View {
        me: 7,
        ..View::default()
    };
    assert_eq!(fresh.check_caller(&hello(99, "x"), |_, _| false), Ok(()));
}

#[test]
fn impossible_terms_are_refused() {
    let v = view();
    for term in [u64::MAX, MAX_TERM + 1, 5 + MAX_TERM_STEP + 1] {
        assert_eq!(
            v.check_request(2, &vote(Vote::new(term, 2), None)),
            Err(Refusal::Term { term, current: 5 }),
            "{term}"
        );
        assert!(matches!(
            v.check_request(2, &append(Vote::new_committed(term, 2), None, vec![])),
            Err(Refusal::Term { .. })
        ));
    }
    assert_eq!(v.check_request(2, &vote(Vote::new(6, 2), None)), Ok(()));
    assert_eq!(
        v.check_request(2, &vote(Vote::new(5 + MAX_TERM_STEP, 2), None)),
        Ok(())
    );
}

#[test]
fn a_call_must_speak_for_its_caller() {
    let v = view();
    assert_eq!(
        v.check_request(2, &vote(Vote::new(6, 3), None)),
        Err(Refusal::Sender { from: 2, named: 3 })
    );
    assert_eq!(
        v.check_request(3, &append(Vote::new_committed(6, 2), None, vec![])),
        Err(Refusal::Sender { from: 3, named: 2 })
    );
    assert!(matches!(
        v.check_request(2, &append(Vote::new(6, 2), None, vec![])),
        Err(Refusal::Malformed(_))
    ));
    assert!(matches!(
        v.check_request(2, &vote(Vote::new_committed(6, 2), None)),
        Err(Refusal::Malformed(_))
    ));
    let transfer = |to| {
        PeerRequest::TransferLeader(TransferLeaderRequest::new(
            Vote::new_committed(5, 2),
            to,
            None,
        ))
    };
    assert_eq!(v.check_request(2, &transfer(1)), Ok(()));
    // Every voter hears of a transfer to another member.
    assert_eq!(v.check_request(2, &transfer(3)), Ok(()));
    for to in [2, 9] {
        assert!(matches!(
            v.check_request(2, &transfer(to)),
            Err(Refusal::Malformed(_))
        ));
    }
}

#[test]
fn appends_must_hold_together() {
    let v = view();
    let leader = Vote::new_committed(6, 2);
    let ok = append(
        leader,
        Some(log_id(5, 2, 9)),
        vec![entry(6, 10), entry(6, 11)],
    );
    assert_eq!(v.check_request(2, &ok), Ok(()));
    for (why, bad) in [
        (
            "gap",
            append(
                leader,
                Some(log_id(5, 2, 9)),
                vec![entry(6, 10), entry(6, 12)],
            ),
        ),
        (
            "after prev",
            append(leader, Some(log_id(5, 2, 9)), vec![entry(6, 11)]),
        ),
        (
            "newer than leader",
            append(leader, Some(log_id(5, 2, 9)), vec![entry(7, 10)]),
        ),
        (
            "back in term",
            append(
                leader,
                Some(log_id(5, 2, 9)),
                vec![entry(6, 10), entry(5, 11)],
            ),
        ),
        (
            "prev newer than leader",
            append(leader, Some(log_id(9, 2, 9)), vec![]),
        ),
    ] {
        assert!(
            matches!(v.check_request(2, &bad), Err(Refusal::Malformed(_))),
            "{why}"
        );
    }
    let huge = append(
        leader,
        Some(log_id(5, 2, u64::MAX - 1)),
        vec![entry(6, u64::MAX)],
    );
    assert_eq!(v.check_request(2, &huge), Err(Refusal::Index(u64::MAX - 1)));
    let bad_member = Entry {
        log_id: log_id(6, 2, 10),
        payload: EntryPayload::Membership(membership(vec![BTreeSet::from([2, 9])], &[2])),
    };
    assert!(matches!(
        v.check_request(2, &append(leader, Some(log_id(5, 2, 9)), vec![bad_member])),
        Err(Refusal::Malformed(_))
    ));
    let empty_voters = Entry {
        log_id: log_id(6, 2, 10),
        payload: EntryPayload::Membership(membership(vec![BTreeSet::new()], &[])),
    };
    assert!(matches!(
        v.check_request(
            2,
            &append(leader, Some(log_id(5, 2, 9)), vec![empty_voters])
        ),
        Err(Refusal::Malformed(_))
    ));
}

#[test]
fn snapshot_chunks_must_fit_their_snapshot() {
    let v = view();
    let chunk =
        |meta: SnapshotMeta, offset: u64, total: u64, len: usize| PeerRequest::SnapshotChunk {
            vote: Vote::new_committed(6, 2),
            meta,
            offset,
            total,
            crc: crc32fast::hash(&vec![0; len]),
            data: vec![0; len],
        };
    let members = membership(vec![BTreeSet::from([1, 2, 3])], &[1, 2, 3]);
    let meta = SnapshotMeta {
        last_log_id: Some(log_id(6, 2, 100)),
        last_membership: StoredMembership::new(Some(log_id(1, 1, 3)), members.clone()),
    };
    assert_eq!(v.check_request(2, &chunk(meta.clone(), 0, 10, 10)), Ok(()));
    assert!(v.check_request(2, &chunk(meta.clone(), 5, 10, 6)).is_err());
    assert!(
        v.check_request(2, &chunk(meta.clone(), u64::MAX, 10, 6))
            .is_err()
    );
    let late = SnapshotMeta {
        last_log_id: Some(log_id(6, 2, 100)),
        last_membership: StoredMembership::new(Some(log_id(6, 2, 101)), members),
    };
    assert!(v.check_request(2, &chunk(late, 0, 10, 10)).is_err());
    let huge = SnapshotMeta {
        last_log_id: Some(log_id(6, 2, u64::MAX)),
        last_membership: StoredMembership::default(),
    };
    assert_eq!(
        v.check_request(2, &chunk(huge, 0, 10, 10)),
        Err(Refusal::Index(u64::MAX))
    );
}

#[test]
fn stored_state_beyond_the_bounds_is_refused() {
    assert!(check_stored(Some(&Vote::new(u64::MAX, 1)), Some(5)).is_err());
    assert!(check_stored(None, Some(u64::MAX)).is_err());
    assert_eq!(check_stored(Some(&Vote::new(7, 1)), Some(5)), Ok(()));
}
