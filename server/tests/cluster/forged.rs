//! Forged node-to-node traffic against a three-voter cluster: callers
//! that are not members, members' ids from other addresses, impossible
//! terms and indexes, calls that speak for another node, truncated,
//! oversized and unreadable frames, and then thousands of random
//! mutations of real calls. Nothing may reach Raft: the leader and the
//! terms stay as they were, no node fails, writes go on, and every node
//! restarts afterwards (nothing forged was persisted).

use std::time::Duration;

use dqlite_server::PEER_MAGIC;
use dqlite_server::internals::peer_wire::{self, Hello, PeerRequest, PeerResponse};
use dqlite_server::internals::typ::{Entry, LogId, SnapshotMeta, StoredMembership, Vote};
use openraft::EntryPayload;
use openraft::raft::{AppendEntriesRequest, TransferLeaderRequest, VoteRequest};
use openraft::vote::RaftLeaderId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::Cluster;
use super::rng::Rng;

type LeaderId = openraft::alias::CommittedLeaderIdOf<dqlite_server::internals::typ::TypeConfig>;

fn log_id(term: u64, node: u64, index: u64) -> LogId {
    LogId::new(LeaderId::new(term, node), index)
}

/// What became of a forged call.
#[derive(Debug)]
enum Outcome {
    /// The node closed the connection without answering.
    Closed,
    /// The node answered.
    Answer(PeerResponse),
}

fn hello(id: u64, address: &str) -> Vec<u8> {
    Hello {
        id,
        address: address.to_owned(),
    }
    .encode()
    .unwrap()
}

/// One message as frames on the wire.
fn message(request: &PeerRequest) -> Vec<u8> {
    let bytes = postcard::to_allocvec(request).unwrap();
    let mut out = Vec::new();
    for part in peer_wire::parts(&bytes) {
        out.extend_from_slice(&u32::try_from(part.len()).unwrap().to_be_bytes());
        out.extend_from_slice(&part);
    }
    out
}

/// Sends `bytes` to `address` and reads what comes back: one answer, or
/// the connection closing (bounded).
async fn send(address: &str, bytes: &[u8]) -> Outcome {
    let mut stream = TcpStream::connect(address).await.unwrap();
    // The node may close before reading everything: that is an answer.
    let _ = stream.write_all(bytes).await;
    let _ = stream.shutdown().await;
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "the node neither answered nor closed");
    let mut assembler = peer_wire::Assembler::default();
    let mut at = 0;
    while got.len() >= at + 4 {
        let len = usize::try_from(u32::from_be_bytes(got[at..at + 4].try_into().unwrap())).unwrap();
        let Some(frame) = got.get(at + 4..at + 4 + len) else {
            break;
        };
        at += 4 + len;
        if let Some(message) = assembler.push(frame).unwrap() {
            return Outcome::Answer(peer_wire::decode(&message).unwrap());
        }
    }
    Outcome::Closed
}

/// Asserts that `outcome` is a refusal: no answer, or an error answer
/// that says so.
fn refused(outcome: &Outcome, case: &str) {
    let error = match outcome {
        Outcome::Closed => return,
        Outcome::Answer(PeerResponse::Append(Err(e)))
        | Outcome::Answer(PeerResponse::Vote(Err(e)))
        | Outcome::Answer(PeerResponse::Snapshot(Err(e)))
        | Outcome::Answer(PeerResponse::SnapshotChunk(Err(e)))
        | Outcome::Answer(PeerResponse::TransferLeader(Err(e)))
        | Outcome::Answer(PeerResponse::Members(Err(e))) => e,
        other => panic!("{case}: not refused: {other:?}"),
    };
    assert!(error.starts_with("refused"), "{case}: {error}");
}

fn vote(
    term: u64,
    node: u64,
    last: Option<LogId>,
) -> VoteRequest<dqlite_server::internals::typ::TypeConfig> {
    VoteRequest {
        vote: Vote::new(term, node),
        last_log_id: last,
        leadership_transfer: false,
    }
}

fn blank(term: u64, node: u64, index: u64) -> Entry {
    Entry {
        log_id: log_id(term, node, index),
        payload: EntryPayload::Blank,
    }
}

fn append(
    vote: Vote,
    prev: Option<LogId>,
    entries: Vec<Entry>,
    commit: Option<LogId>,
) -> PeerRequest {
    PeerRequest::Append(AppendEntriesRequest {
        vote,
        prev_log_id: prev,
        entries,
        leader_commit: commit,
    })
}

fn snapshot(vote: Vote, last: Option<LogId>, offset: u64, total: u64, len: usize) -> PeerRequest {
    PeerRequest::SnapshotChunk {
        vote,
        meta: SnapshotMeta {
            last_log_id: last,
            last_membership: StoredMembership::default(),
        },
        offset,
        total,
        crc: crc32fast::hash(&vec![0x5a; len]),
        data: vec![0x5a; len],
    }
}

/// The cases, each a name and the bytes sent, for node `target` of a
/// cluster whose members are `addresses` (node i + 1 at `addresses[i]`)
/// at `term`.
fn cases(addresses: &[String], term: u64, target: u64) -> Vec<(String, Vec<u8>)> {
    let member = |id: u64| hello(id, &addresses[usize::try_from(id - 1).unwrap()]);
    let stranger = hello(99, "127.0.0.1:1");
    let with = |h: &[u8], request: &PeerRequest| {
        let mut bytes = h.to_vec();
        bytes.extend_from_slice(&message(request));
        bytes
    };
    let huge = u64::MAX;
    let mut cases = Vec::new();
    // The attack of issue 14, in the format nodes spoke before hellos
    // carried an address: magic, id 99, one length-prefixed vote.
    let legacy_vote = postcard::to_allocvec(&PeerRequest::Vote(vote(
        huge,
        99,
        Some(log_id(huge, 99, huge)),
    )))
    .unwrap();
    let mut legacy = PEER_MAGIC.to_le_bytes().to_vec();
    legacy.extend_from_slice(&99u64.to_le_bytes());
    legacy.extend_from_slice(&u32::try_from(legacy_vote.len()).unwrap().to_be_bytes());
    legacy.extend_from_slice(&legacy_vote);
    cases.push(("issue 14's vote (old format)".to_owned(), legacy));
    for (who, h) in [
        ("a stranger", stranger.clone()),
        ("a member's id at another address", hello(2, "127.0.0.1:2")),
        ("this node's own id", member(target)),
    ] {
        for (what, request) in [
            ("vote at u64::MAX", PeerRequest::Vote(vote(huge, 99, None))),
            (
                "vote at term 1000",
                PeerRequest::Vote(vote(1000, 99, Some(log_id(999, 99, 1 << 40)))),
            ),
            (
                "pre-vote",
                PeerRequest::PreVote(vote(term + 1, 99, Some(log_id(term, 99, 1 << 40)))),
            ),
            (
                "append",
                append(
                    Vote::new_committed(term + 1, 99),
                    None,
                    vec![blank(term + 1, 99, 0)],
                    None,
                ),
            ),
            (
                "snapshot chunk",
                snapshot(
                    Vote::new_committed(term + 1, 99),
                    Some(log_id(term + 1, 99, 1 << 30)),
                    0,
                    16,
                    16,
                ),
            ),
            (
                "transfer",
                PeerRequest::TransferLeader(TransferLeaderRequest::new(
                    Vote::new_committed(term, 99),
                    1,
                    None,
                )),
            ),
            ("members", PeerRequest::Members),
        ] {
            cases.push((format!("{who}: {what}"), with(&h, &request)));
        }
    }
    // A member's id and address, spoofed: only what it may say passes,
    // and none of these may.
    // (Node 1 hears from "node 3", the others from "node 1".)
    let (spoofed, other) = if target == 1 { (3, 2) } else { (1, 5 - target) };
    let spoof = member(spoofed);
    let (sp, ot) = (spoofed, other);
    for (what, request) in [
        (
            "vote at u64::MAX",
            PeerRequest::Vote(vote(huge, sp, Some(log_id(huge, sp, huge)))),
        ),
        (
            "vote beyond the term step",
            PeerRequest::Vote(vote(term + (1 << 21), sp, None)),
        ),
        (
            "pre-vote at u64::MAX",
            PeerRequest::PreVote(vote(huge, sp, None)),
        ),
        (
            "vote for another node",
            PeerRequest::Vote(vote(term + 1, ot, None)),
        ),
        (
            "committed candidate vote",
            PeerRequest::Vote(VoteRequest {
                vote: Vote::new_committed(term + 1, sp),
                last_log_id: None,
                leadership_transfer: true,
            }),
        ),
        (
            "vote whose log is newer than it",
            PeerRequest::Vote(vote(term + 1, sp, Some(log_id(term + 5, sp, 10)))),
        ),
        (
            "append at u64::MAX",
            append(Vote::new_committed(huge, sp), None, vec![], None),
        ),
        (
            "append for another node",
            append(Vote::new_committed(term + 1, ot), None, vec![], None),
        ),
        (
            "uncommitted append",
            append(Vote::new(term + 1, sp), None, vec![], None),
        ),
        (
            "append with a gap",
            append(
                Vote::new_committed(term + 1, sp),
                Some(log_id(term, 1, 3)),
                vec![blank(term + 1, sp, 4), blank(term + 1, sp, 6)],
                None,
            ),
        ),
        (
            "append after its place",
            append(
                Vote::new_committed(term + 1, sp),
                Some(log_id(term, 1, 3)),
                vec![blank(term + 1, sp, 5)],
                None,
            ),
        ),
        (
            "append at index u64::MAX",
            append(
                Vote::new_committed(term + 1, sp),
                Some(log_id(term, 1, huge - 1)),
                vec![blank(term + 1, sp, huge)],
                None,
            ),
        ),
        (
            "append of entries newer than it",
            append(
                Vote::new_committed(term + 1, sp),
                Some(log_id(term, 1, 3)),
                vec![blank(term + 9, sp, 4)],
                None,
            ),
        ),
        (
            "append committing u64::MAX",
            append(
                Vote::new_committed(term + 1, sp),
                None,
                vec![],
                Some(log_id(term, 1, huge)),
            ),
        ),
        (
            "snapshot at index u64::MAX",
            snapshot(
                Vote::new_committed(term + 1, sp),
                Some(log_id(term + 1, sp, huge)),
                0,
                16,
                16,
            ),
        ),
        (
            "snapshot chunk past its end",
            snapshot(
                Vote::new_committed(term + 1, sp),
                Some(log_id(term + 1, sp, 100)),
                10,
                16,
                16,
            ),
        ),
        (
            "snapshot chunk at u64::MAX",
            snapshot(
                Vote::new_committed(term + 1, sp),
                Some(log_id(term + 1, sp, 100)),
                huge,
                16,
                16,
            ),
        ),
        (
            "snapshot for another node",
            snapshot(
                Vote::new_committed(term + 1, ot),
                Some(log_id(term + 1, ot, 100)),
                0,
                16,
                16,
            ),
        ),
        (
            "transfer to another node",
            PeerRequest::TransferLeader(TransferLeaderRequest::new(
                Vote::new_committed(term, sp),
                ot,
                None,
            )),
        ),
        (
            "transfer at u64::MAX",
            PeerRequest::TransferLeader(TransferLeaderRequest::new(
                Vote::new_committed(huge, sp),
                target,
                None,
            )),
        ),
    ] {
        cases.push((format!("a spoofed member: {what}"), with(&spoof, &request)));
    }
    // Broken bytes.
    let mut truncated_hello = PEER_MAGIC.to_le_bytes().to_vec();
    truncated_hello.extend_from_slice(&[2, 0, 0]);
    cases.push(("a truncated hello".into(), truncated_hello));
    let mut long_address = PEER_MAGIC.to_le_bytes().to_vec();
    long_address.extend_from_slice(&2u64.to_le_bytes());
    long_address.extend_from_slice(&60_000u16.to_le_bytes());
    cases.push(("a hello with a 60,000-byte address".into(), long_address));
    let mut oversized = spoof.clone();
    oversized.extend_from_slice(&(200u32 << 20).to_be_bytes());
    oversized.extend_from_slice(&[0; 64]);
    cases.push(("a frame claiming 200 MiB".into(), oversized));
    let mut bad_flag = spoof.clone();
    bad_flag.extend_from_slice(&3u32.to_be_bytes());
    bad_flag.extend_from_slice(&[7, 1, 2]);
    cases.push(("a frame with a bad flag".into(), bad_flag));
    let mut garbage = spoof.clone();
    garbage.extend_from_slice(&9u32.to_be_bytes());
    garbage.extend_from_slice(&[0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    cases.push(("an unreadable call".into(), garbage));
    let mut truncated_frame = spoof.clone();
    truncated_frame.extend_from_slice(&message(&PeerRequest::Vote(vote(huge, 2, None)))[..10]);
    cases.push(("a truncated frame".into(), truncated_frame));
    let mut unfinished = spoof;
    unfinished.extend_from_slice(&5u32.to_be_bytes());
    unfinished.extend_from_slice(&[1, 0, 0, 0, 0]);
    cases.push(("a message whose last part never comes".into(), unfinished));
    cases
}

/// A random call that must be refused: from a stranger, from a member's
/// id at another address (both maybe damaged on the wire), or from a
/// member's id and address with an impossible term. (A member's id and
/// address with a plausible term is the member itself as far as anyone
/// without TLS can tell: those calls are not forged here.)
fn random_case(rng: &mut Rng, addresses: &[String], term: u64) -> Vec<u8> {
    let any_terms = [
        0,
        1,
        term,
        term + 1,
        1000,
        1 << 20,
        1 << 47,
        1 << 49,
        u64::MAX,
    ];
    let impossible = [term + (1 << 20) + 1, 1 << 49, u64::MAX - 1, u64::MAX];
    let indexes = [
        0,
        1,
        2,
        5,
        100,
        1 << 31,
        1 << 62,
        (1 << 62) + 1,
        u64::MAX - 1,
        u64::MAX,
    ];
    let ids = [0, 1, 2, 3, 4, 99, u64::MAX];
    let kind = rng.next() % 3;
    let (from, address, terms): (u64, String, &[u64]) = match kind {
        0 => (
            rng.pick(&[0, 4, 99, u64::MAX]),
            "127.0.0.1:1".into(),
            &any_terms,
        ),
        1 => (
            rng.pick(&[2, 3]),
            format!("127.0.0.1:{}", 1 + rng.next() % 1000),
            &any_terms,
        ),
        _ => {
            let id = rng.pick(&[2u64, 3]);
            (
                id,
                addresses[usize::try_from(id - 1).unwrap()].clone(),
                &impossible,
            )
        }
    };
    let mut bytes = hello(from, &address);
    let t = rng.pick(terms);
    // The call speaks for its caller, or (refused anyway) for another.
    let node = if rng.one_in(4) { rng.pick(&ids) } else { from };
    let maybe_id = |rng: &mut Rng| {
        (!rng.one_in(3)).then(|| log_id(rng.pick(&any_terms), rng.pick(&ids), rng.pick(&indexes)))
    };
    let request = match rng.next() % (if kind == 2 { 5 } else { 6 }) {
        0 => PeerRequest::Vote(VoteRequest {
            vote: if rng.one_in(5) {
                Vote::new_committed(t, node)
            } else {
                Vote::new(t, node)
            },
            last_log_id: maybe_id(rng),
            leadership_transfer: rng.one_in(2),
        }),
        1 => PeerRequest::PreVote(vote(t, node, maybe_id(rng))),
        2 => {
            let prev = maybe_id(rng);
            let first = prev.map_or(0, |p| p.index.wrapping_add(rng.next() % 3));
            let count = rng.next() % 4;
            let entries = (0..count)
                .map(|i| blank(rng.pick(&any_terms), node, first.wrapping_add(i)))
                .collect();
            let vote = if rng.one_in(5) {
                Vote::new(t, node)
            } else {
                Vote::new_committed(t, node)
            };
            append(vote, prev, entries, maybe_id(rng))
        }
        3 => snapshot(
            Vote::new_committed(t, node),
            maybe_id(rng),
            rng.pick(&[0u64, 8, 16, u64::MAX]),
            rng.pick(&[0u64, 16, 1 << 20, u64::MAX]),
            usize::try_from(rng.next() % 64).unwrap(),
        ),
        4 => PeerRequest::TransferLeader(TransferLeaderRequest::new(
            Vote::new_committed(t, node),
            rng.pick(&ids),
            maybe_id(rng),
        )),
        _ => PeerRequest::Members,
    };
    let mut body = message(&request);
    if kind != 2 {
        // Damage the bytes on the wire too, now and then.
        if rng.one_in(4) && !body.is_empty() {
            let at = usize::try_from(rng.next() % body.len() as u64).unwrap();
            body[at] ^= u8::try_from(rng.next() % 255 + 1).unwrap();
        }
        if rng.one_in(8) {
            let keep = usize::try_from(rng.next() % body.len() as u64).unwrap();
            body.truncate(keep);
        }
    }
    bytes.extend_from_slice(&body);
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_node_to_node_calls_change_nothing() {
    let mut cluster = Cluster::start(3).await;
    cluster.join_2_and_3().await;
    let leader = cluster.leader().await.id();
    let s = cluster.node(leader).session("app").await.unwrap();
    s.exec("CREATE TABLE t(i INTEGER)").await.unwrap();
    s.exec("INSERT INTO t VALUES (1)").await.unwrap();
    drop(s);
    let terms: Vec<u64> = (1..=3).map(|id| cluster.node(id).term()).collect();
    let term = terms.iter().copied().max().unwrap();

    let mut tried = 0;
    for target in 1..=3u64 {
        let address = &cluster.addresses[usize::try_from(target - 1).unwrap()];
        for (case, bytes) in &cases(&cluster.addresses, term, target) {
            let outcome = send(address, bytes).await;
            refused(&outcome, &format!("node {target}, {case}"));
            tried += 1;
        }
    }
    // Random calls, every one of them refused.
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for i in 0..1500 {
        let target = rng.pick(&[0usize, 1, 2]);
        let bytes = random_case(&mut rng, &cluster.addresses, term);
        let outcome = send(&cluster.addresses[target], &bytes).await;
        refused(&outcome, &format!("random call {i} to node {}", target + 1));
        tried += 1;
    }

    for id in 1..=3 {
        let node = cluster.node(id);
        assert_eq!(node.failure(), None, "node {id} failed");
        assert_eq!(
            node.term(),
            terms[usize::try_from(id - 1).unwrap()],
            "node {id}'s term moved"
        );
    }
    assert_eq!(
        cluster.leader().await.id(),
        leader,
        "the leader was deposed"
    );
    let s = cluster.node(leader).session("app").await.unwrap();
    s.exec("INSERT INTO t VALUES (2)").await.unwrap();
    drop(s);
    cluster.converged("app").await;

    // Nothing forged reached the disk: every node restarts.
    for id in 1..=3 {
        cluster.stop(id).await;
    }
    for id in 1..=3 {
        cluster.restart(id).await;
    }
    let leader = cluster.leader().await;
    let s = leader.session("app").await.unwrap();
    assert_eq!(
        s.query("SELECT count(*) FROM t").await.unwrap(),
        [[rusqlite::types::Value::Integer(2)]]
    );
    println!(
        "{tried} forged node-to-node calls refused; the cluster kept its leader and terms and restarted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_missed_a_new_member_hears_from_it_once_a_member_vouches() {
    let mut cluster = Cluster::start(4).await;
    cluster.join_2_and_3().await;
    // Node 3 goes away; node 4 is added as a voter and takes the lead.
    cluster.stop(3).await;
    let leader = cluster.leader().await;
    leader.add_node(4, &cluster.addresses[3]).await.unwrap();
    leader
        .assign(4, dqlite_protocol::Role::Voter)
        .await
        .unwrap();
    leader.transfer(4).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !cluster.node(4).is_leader() {
        assert!(
            std::time::Instant::now() < deadline,
            "node 4 did not take over"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let s = cluster.node(4).session("app").await.unwrap();
    s.exec("CREATE TABLE t(i INTEGER)").await.unwrap();
    s.exec("INSERT INTO t VALUES (4)").await.unwrap();
    drop(s);
    // Node 3 only knows nodes 1 to 3: node 4's calls are refused until
    // node 1 or 2 lists node 4; then node 3 catches up.
    cluster.restart(3).await;
    cluster.converged("app").await;
    let members: Vec<u64> = cluster.node(3).members().iter().map(|m| m.id).collect();
    assert_eq!(members, [1, 2, 3, 4]);
}
