//! Recovering a cluster that lost its quorum, as dqlite's documented
//! procedure does it: stop every node, force the configuration in the
//! directory of the most up-to-date survivor (`offline::recover`), copy
//! that directory to the other new members, start them.

#![allow(clippy::unwrap_used)] // Tests panic on purpose.

use std::path::Path;
use std::time::{Duration, Instant};

use dqlite_protocol::Role;
use dqlite_server::net::Limits;
use dqlite_server::offline::{self, RecoverMember};
use dqlite_server::{Error, Node};
use rusqlite::types::Value;

/// A node's directory and address; the node while it runs.
struct Slot {
    id: u64,
    dir: tempfile::TempDir,
    address: String,
    node: Option<Node>,
}

impl Slot {
    /// A new directory and a listener on a port of its own.
    fn new(id: u64) -> (Self, std::net::TcpListener) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let slot = Self {
            id,
            dir: tempfile::tempdir().unwrap(),
            address: listener.local_addr().unwrap().to_string(),
            node: None,
        };
        (slot, listener)
    }

    async fn start(&mut self, listener: std::net::TcpListener) {
        let node = Node::builder(self.id, self.address.clone(), self.dir.path())
            .serve(listener, Limits::default())
            .start()
            .await
            .unwrap();
        self.node = Some(node);
    }

    /// Starts the node again on its address (the port it had).
    async fn restart(&mut self) {
        let listener = std::net::TcpListener::bind(&self.address).unwrap();
        self.start(listener).await;
    }

    async fn stop(&mut self) {
        self.node.take().unwrap().stop().await.unwrap();
    }

    fn node(&self) -> &Node {
        self.node.as_ref().unwrap()
    }

    fn member(&self, role: Role) -> RecoverMember {
        RecoverMember {
            id: self.id,
            address: self.address.clone(),
            role,
        }
    }
}

/// Three voters holding `ROWS` acknowledged rows in table `t` of `app`.
const ROWS: i64 = 30;

async fn three_voters_with_rows() -> Vec<Slot> {
    let mut slots = Vec::new();
    for id in 1..=3 {
        let (mut slot, listener) = Slot::new(id);
        slot.start(listener).await;
        slots.push(slot);
    }
    let first = slots[0].node();
    for slot in &slots[1..] {
        first.add_node(slot.id, &slot.address).await.unwrap();
        first.assign(slot.id, Role::Voter).await.unwrap();
    }
    assert_eq!(
        first.members().iter().map(|m| m.role).collect::<Vec<_>>(),
        [Role::Voter; 3]
    );
    let s = first.session("app").await.unwrap();
    s.exec("CREATE TABLE t(i INTEGER)").await.unwrap();
    for i in 0..ROWS {
        s.exec(&format!("INSERT INTO t VALUES ({i})"))
            .await
            .unwrap();
    }
    slots
}

fn rows(range: std::ops::Range<i64>) -> Vec<Vec<Value>> {
    range.map(|i| vec![Value::Integer(i)]).collect()
}

async fn query(node: &Node) -> Vec<Vec<Value>> {
    let s = node.session("app").await.unwrap();
    s.query("SELECT i FROM t ORDER BY i").await.unwrap()
}

/// Copies a data directory (files and subdirectories).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The leader among `slots`' running nodes, waiting (bounded) for one.
async fn leader(slots: &[&Slot]) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(slot) = slots.iter().find(|s| s.node().is_leader()) {
            return slot.id;
        }
        assert!(Instant::now() < deadline, "no leader elected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Both nodes' image of `app` once they are the same (bounded wait).
async fn converged(a: &Node, b: &Node) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if a.has_database("app") && b.has_database("app") {
            let x = a.session("app").await.unwrap().dump().await.unwrap();
            let y = b.session("app").await.unwrap().dump().await.unwrap();
            if x == y {
                return x;
            }
        }
        assert!(Instant::now() < deadline, "the nodes did not converge");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_survivor_is_recovered_as_the_only_voter() {
    let mut slots = three_voters_with_rows().await;
    // Two nodes are gone for good: the survivor (the leader) cannot commit.
    slots[2].stop().await;
    slots[1].stop().await;
    let s = slots[0].node().session("app").await.unwrap();
    let lost = s.exec("INSERT INTO t VALUES (1000)").await;
    assert!(matches!(lost, Err(Error::LeadershipLost(_))), "{lost:?}");
    drop(s);
    slots[0].stop().await;

    let survivor = &mut slots[0];
    let before = offline::last_entry(survivor.dir.path()).unwrap();
    // A node restarted before recovery would wait for a quorum forever;
    // recovery makes it the only voter.
    offline::recover(survivor.dir.path(), &[survivor.member(Role::Voter)]).unwrap();
    let after = offline::last_entry(survivor.dir.path()).unwrap();
    assert_eq!(after.0, before.0 + 1);
    assert!(after.1 > before.1);

    survivor.restart().await;
    let node = survivor.node();
    assert!(node.is_leader());
    assert_eq!(
        node.members()
            .into_iter()
            .map(|m| (m.id, m.role))
            .collect::<Vec<_>>(),
        [(1, Role::Voter)]
    );
    // Every acknowledged row is there; the write that was never
    // acknowledged was in the survivor's log, and recovery commits the
    // whole log (as dqlite's does).
    let mut found = query(node).await;
    assert_eq!(found.pop(), Some(vec![Value::Integer(1000)]));
    assert_eq!(found, rows(0..ROWS));
    // And it takes writes again.
    let s = node.session("app").await.unwrap();
    s.exec("DELETE FROM t WHERE i = 1000").await.unwrap();
    s.exec(&format!("INSERT INTO t VALUES ({ROWS})"))
        .await
        .unwrap();
    drop(s);
    assert_eq!(query(node).await, rows(0..ROWS + 1));
    survivor.stop().await;

    // The new configuration and the rows survive another restart.
    survivor.restart().await;
    assert!(survivor.node().is_leader());
    assert_eq!(query(survivor.node()).await, rows(0..ROWS + 1));
    survivor.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_survivor_and_a_copy_of_its_directory_form_a_new_cluster() {
    let mut slots = three_voters_with_rows().await;
    slots[2].stop().await;
    slots[1].stop().await;
    slots[0].stop().await;

    // Node 4, a new machine, joins the survivor in the new configuration.
    let (mut fourth, listener) = Slot::new(4);
    let survivor = &mut slots[0];
    offline::recover(
        survivor.dir.path(),
        &[survivor.member(Role::Voter), fourth.member(Role::Voter)],
    )
    .unwrap();
    copy_dir(survivor.dir.path(), fourth.dir.path());
    // The copy carries the survivor's identity file (id 1 and its
    // address), which node 4 would refuse; a directory with Raft state
    // and no identity file is refused too. The operator writes node 4's.
    std::fs::write(
        fourth.dir.path().join("node"),
        format!("4\n{}\n", fourth.address),
    )
    .unwrap();
    assert_eq!(
        offline::last_entry(fourth.dir.path()).unwrap(),
        offline::last_entry(survivor.dir.path()).unwrap()
    );

    fourth.start(listener).await;
    survivor.restart().await;
    let both = [&*survivor, &fourth];
    let leader_id = leader(&both).await;
    let (leader, follower) = if leader_id == 1 {
        (survivor.node(), fourth.node())
    } else {
        (fourth.node(), survivor.node())
    };
    for node in [leader, follower] {
        let roles: Vec<_> = node.members().into_iter().map(|m| (m.id, m.role)).collect();
        assert_eq!(roles, [(1, Role::Voter), (4, Role::Voter)]);
    }
    assert_eq!(query(leader).await, rows(0..ROWS));

    // A new write is committed by both and replicated.
    let s = leader.session("app").await.unwrap();
    s.exec(&format!("INSERT INTO t VALUES ({ROWS})"))
        .await
        .unwrap();
    drop(s);
    converged(leader, follower).await;

    // The other node serves the same rows once it leads.
    let follower_id = if leader_id == 1 { 4 } else { 1 };
    leader.transfer(follower_id).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !follower.is_leader() {
        assert!(Instant::now() < deadline, "the transfer did not happen");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(query(follower).await, rows(0..ROWS + 1));
    fourth.stop().await;
    slots[0].stop().await;
}
