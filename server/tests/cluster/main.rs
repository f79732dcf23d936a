//! Several nodes in one process, each on its own 127.0.0.1 port: the
//! node-to-node transport, membership changes and failover.

#![allow(clippy::unwrap_used)] // Tests panic on purpose.

use std::time::{Duration, Instant};

use dqlite_protocol::Role;
use dqlite_server::net::Limits;
use dqlite_server::{Error, Node};
use rusqlite::types::Value;

struct Cluster {
    nodes: Vec<Option<Node>>,
    addresses: Vec<String>,
    _dirs: Vec<tempfile::TempDir>,
}

impl Cluster {
    /// Starts nodes 1..=n: node 1 bootstraps, the others wait to be added.
    async fn start(n: u64) -> Self {
        let mut nodes = Vec::new();
        let mut addresses = Vec::new();
        let mut dirs = Vec::new();
        for id in 1..=n {
            let dir = tempfile::tempdir().unwrap();
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let address = listener.local_addr().unwrap().to_string();
            let node = Node::builder(id, address.clone(), dir.path())
                .serve(listener, Limits::default())
                .start()
                .await
                .unwrap();
            nodes.push(Some(node));
            addresses.push(address);
            dirs.push(dir);
        }
        Self {
            nodes,
            addresses,
            _dirs: dirs,
        }
    }

    fn node(&self, id: u64) -> &Node {
        self.nodes[usize::try_from(id - 1).unwrap()]
            .as_ref()
            .unwrap()
    }

    /// The leader among the running nodes, waiting (bounded) for one.
    async fn leader(&self) -> &Node {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(leader) = self.nodes.iter().flatten().find(|n| n.is_leader()) {
                return leader;
            }
            assert!(Instant::now() < deadline, "no leader elected");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_voters_replicate_and_survive_the_loss_of_the_leader() {
    let mut cluster = Cluster::start(3).await;
    let first = cluster.node(1);
    for id in [2, 3] {
        first
            .add_node(id, &cluster.addresses[usize::try_from(id - 1).unwrap()])
            .await
            .unwrap();
        assert_eq!(
            first.members().iter().find(|m| m.id == id).unwrap().role,
            Role::Spare
        );
        first.assign(id, Role::Voter).await.unwrap();
    }
    let roles: Vec<Role> = first.members().iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::Voter; 3]);

    let s = first.session("app").await.unwrap();
    s.exec("CREATE TABLE t(i INTEGER, r INTEGER, at TEXT)")
        .await
        .unwrap();
    for i in 0..50 {
        s.exec(&format!(
            "INSERT INTO t VALUES ({i}, random(), strftime('%f', 'now'))"
        ))
        .await
        .unwrap();
    }
    let before = s.query("SELECT * FROM t ORDER BY i").await.unwrap();
    drop(s);

    // The leader goes away; the two others elect one of them, which has
    // every row, byte for byte (random() and the time ran once).
    cluster.nodes[0].take().unwrap().stop().await.unwrap();
    let leader = cluster.leader().await;
    assert_ne!(leader.id(), 1);
    let s = leader.session("app").await.unwrap();
    assert_eq!(s.query("SELECT * FROM t ORDER BY i").await.unwrap(), before);
    s.exec("INSERT INTO t VALUES (50, 0, '')").await.unwrap();
    assert_eq!(
        s.query("SELECT count(*) FROM t").await.unwrap(),
        [[Value::Integer(51)]]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_changes_follow_dqlite_rules() {
    let cluster = Cluster::start(3).await;
    let first = cluster.node(1);
    let refused = |e: Error| e.failure();
    assert_eq!(
        refused(first.add_node(1, "127.0.0.1:1").await.unwrap_err()),
        (1, "server ID already in use".into())
    );
    assert_eq!(
        refused(first.add_node(9, &cluster.addresses[0]).await.unwrap_err()),
        (1, "server address already in use".into())
    );
    assert_eq!(
        refused(first.assign(9, Role::Voter).await.unwrap_err()),
        (1, "server ID is not valid".into())
    );
    first.add_node(2, &cluster.addresses[1]).await.unwrap();
    assert_eq!(
        refused(first.assign(2, Role::Spare).await.unwrap_err()),
        (1, "server role is not valid".into())
    );
    first.assign(2, Role::StandBy).await.unwrap();
    first.assign(2, Role::Voter).await.unwrap();
    first.assign(2, Role::StandBy).await.unwrap();
    let role = |id: u64| first.members().iter().find(|m| m.id == id).map(|m| m.role);
    assert_eq!(role(2), Some(Role::StandBy));
    first.remove_node(2).await.unwrap();
    assert_eq!(role(2), None);
    assert_eq!(
        refused(first.remove_node(2).await.unwrap_err()),
        (1, "server ID is not valid".into())
    );

    // Leadership moves to a voter on TRANSFER.
    first.add_node(3, &cluster.addresses[2]).await.unwrap();
    first.assign(3, Role::Voter).await.unwrap();
    assert_eq!(
        refused(first.transfer(1).await.unwrap_err()),
        (1, "server ID is not valid".into())
    );
    first.transfer(3).await.unwrap();
    assert!(!first.is_leader());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cluster.node(3).is_leader() {
        assert!(Instant::now() < deadline, "node 3 did not take over");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_join_by_address_and_fill_the_roles() {
    let cluster = Cluster::start(5).await;
    // Each joins through the node before it, not always the leader.
    for id in 2..=5u64 {
        let via = cluster.addresses[usize::try_from(id - 2).unwrap()].clone();
        cluster
            .node(id)
            .join(&[via], Duration::from_secs(20))
            .await
            .unwrap();
    }
    let roles: Vec<(u64, Role)> = cluster
        .node(1)
        .members()
        .iter()
        .map(|m| (m.id, m.role))
        .collect();
    assert_eq!(
        roles,
        [
            (1, Role::Voter),
            (2, Role::Voter),
            (3, Role::Voter),
            (4, Role::StandBy),
            (5, Role::StandBy)
        ]
    );
    // Joining again (a restart with --join) changes nothing.
    cluster
        .node(4)
        .join(&[cluster.addresses[0].clone()], Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(cluster.node(1).members().len(), 5);
    // A joiner whose address is taken is refused at once.
    let dir = tempfile::tempdir().unwrap();
    let impostor = Node::builder(6, cluster.addresses[1].clone(), dir.path())
        .start()
        .await
        .unwrap();
    let err = impostor
        .join(&[cluster.addresses[0].clone()], Duration::from_secs(5))
        .await
        .unwrap_err();
    assert_eq!(err.failure(), (1, "server address already in use".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_joining_at_the_same_time_all_get_in() {
    let cluster = Cluster::start(4).await;
    let seed = vec![cluster.addresses[0].clone()];
    let timeout = Duration::from_secs(20);
    let (a, b, c) = tokio::join!(
        cluster.node(2).join(&seed, timeout),
        cluster.node(3).join(&seed, timeout),
        cluster.node(4).join(&seed, timeout),
    );
    a.unwrap();
    b.unwrap();
    c.unwrap();
    let members = cluster.node(1).members();
    assert_eq!(members.len(), 4);
    // Each joiner reads the roles, then asks for one: joiners racing each
    // other can overshoot to a fourth voter (no rebalancing yet), but
    // nobody is left out and no voter is lost.
    let voters = members.iter().filter(|m| m.is_voter()).count();
    assert!((3..=4).contains(&voters), "{members:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_hands_over_before_it_stops() {
    let mut cluster = Cluster::start(3).await;
    let seed = vec![cluster.addresses[0].clone()];
    for id in [2, 3] {
        cluster
            .node(id)
            .join(&seed, Duration::from_secs(20))
            .await
            .unwrap();
    }
    let s = cluster.node(1).session("app").await.unwrap();
    s.exec("CREATE TABLE t(x)").await.unwrap();
    drop(s);
    let started = Instant::now();
    assert!(cluster.node(1).handover().await);
    cluster.nodes[0].take().unwrap().stop().await.unwrap();
    // Another node leads at once, without waiting out an election timeout.
    let leader = cluster.leader().await;
    leader
        .session("app")
        .await
        .unwrap()
        .exec("INSERT INTO t VALUES (1)")
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // A node that does not lead has nothing to hand over.
    let follower = cluster
        .nodes
        .iter()
        .flatten()
        .find(|n| !n.is_leader())
        .unwrap();
    assert!(!follower.handover().await);
}
