//! Several nodes in one process, each on its own 127.0.0.1 port: the
//! node-to-node transport, membership changes and failover.

#![allow(clippy::unwrap_used)] // Tests panic on purpose.

mod forged;
#[path = "../common/http.rs"]
mod http;
mod proxy;
mod resume;
#[path = "../common/rng.rs"]
mod rng;

use std::time::{Duration, Instant};

use dqlite_protocol::Role;
use dqlite_server::net::Limits;
use dqlite_server::{Error, Node};
use rusqlite::types::Value;

struct Cluster {
    nodes: Vec<Option<Node>>,
    addresses: Vec<String>,
    dirs: Vec<tempfile::TempDir>,
    snapshot_every: u64,
    manage_roles: bool,
    /// Failure domain of each node (0 for all unless set).
    domains: Vec<u64>,
}

impl Cluster {
    /// Starts nodes 1..=n: node 1 bootstraps, the others wait to be added.
    async fn start(n: u64) -> Self {
        Self::start_with(n, dqlite_server::DEFAULT_SNAPSHOT_EVERY).await
    }

    async fn start_with(n: u64, snapshot_every: u64) -> Self {
        Self::start_full(n, snapshot_every, false).await
    }

    async fn start_full(n: u64, snapshot_every: u64, manage_roles: bool) -> Self {
        Self::start_in_domains(
            &vec![0; usize::try_from(n).unwrap()],
            snapshot_every,
            manage_roles,
        )
        .await
    }

    /// Starts one node per entry of `domains`, in that failure domain.
    async fn start_in_domains(domains: &[u64], snapshot_every: u64, manage_roles: bool) -> Self {
        let n = domains.len() as u64;
        let mut cluster = Self {
            nodes: Vec::new(),
            addresses: Vec::new(),
            dirs: Vec::new(),
            snapshot_every,
            manage_roles,
            domains: domains.to_vec(),
        };
        for _ in 1..=n {
            let dir = tempfile::tempdir().unwrap();
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            cluster
                .addresses
                .push(listener.local_addr().unwrap().to_string());
            cluster.dirs.push(dir);
            cluster.nodes.push(None);
            let id = cluster.nodes.len() as u64;
            cluster.run(id, listener).await;
        }
        cluster
    }

    /// Starts node `id` on its address and directory.
    async fn run(&mut self, id: u64, listener: std::net::TcpListener) {
        let i = usize::try_from(id - 1).unwrap();
        // Tests that snapshot often want followers to need snapshots: the
        // whole log goes at each one.
        let trailing = if self.snapshot_every < dqlite_server::DEFAULT_SNAPSHOT_EVERY {
            0
        } else {
            dqlite_server::DEFAULT_SNAPSHOT_TRAILING
        };
        let node = Node::builder(id, self.addresses[i].clone(), self.dirs[i].path())
            .snapshot_every(self.snapshot_every)
            .snapshot_trailing(trailing)
            .manage_roles(self.manage_roles)
            .failure_domain(self.domains[i])
            .serve(listener, Limits::default())
            .start()
            .await
            .unwrap();
        self.nodes[i] = Some(node);
    }

    /// Nodes 2 and 3 join through node 1, one after the other.
    async fn join_2_and_3(&self) {
        let seed = vec![self.addresses[0].clone()];
        for id in [2, 3] {
            self.node(id)
                .join(&seed, Duration::from_secs(20))
                .await
                .unwrap();
        }
    }

    /// Nodes 2, 3 and 4 join through node 1, all at the same time.
    async fn join_2_to_4_at_once(&self) {
        let seed = vec![self.addresses[0].clone()];
        let timeout = Duration::from_secs(20);
        let (a, b, c) = tokio::join!(
            self.node(2).join(&seed, timeout),
            self.node(3).join(&seed, timeout),
            self.node(4).join(&seed, timeout),
        );
        a.unwrap();
        b.unwrap();
        c.unwrap();
    }

    /// Stops node `id`.
    async fn stop(&mut self, id: u64) {
        let i = usize::try_from(id - 1).unwrap();
        self.nodes[i].take().unwrap().stop().await.unwrap();
    }

    /// Starts node `id` again, on the same address and directory.
    async fn restart(&mut self, id: u64) {
        let i = usize::try_from(id - 1).unwrap();
        let listener = std::net::TcpListener::bind(&self.addresses[i]).unwrap();
        self.run(id, listener).await;
    }

    /// Every running node's image of `db` once they are all the same
    /// (waiting, bounded, for followers to catch up).
    async fn converged(&self, db: &str) -> Vec<u8> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut images = Vec::new();
            for node in self.nodes.iter().flatten() {
                if node.has_database(db) {
                    images.push(node.session(db).await.unwrap().dump().await.unwrap());
                }
            }
            let running = self.nodes.iter().flatten().count();
            if images.len() == running && images.windows(2).all(|w| w[0] == w[1]) {
                return images.pop().unwrap();
            }
            assert!(Instant::now() < deadline, "the nodes did not converge");
            tokio::time::sleep(Duration::from_millis(100)).await;
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
    cluster.stop(1).await;
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
    cluster.join_2_to_4_at_once().await;
    let members = cluster.node(1).members();
    assert_eq!(members.len(), 4);
    // Each joiner reads the roles, then asks for one: joiners racing each
    // other can overshoot to a fourth voter (without managed roles), but
    // nobody is left out and no voter is lost.
    let voters = members.iter().filter(|m| m.is_voter()).count();
    assert!((3..=4).contains(&voters), "{members:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_hands_over_before_it_stops() {
    let mut cluster = Cluster::start(3).await;
    cluster.join_2_and_3().await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_hands_its_roles_over_as_dqlite_node_handover() {
    let cluster = Cluster::start(4).await;
    let seed = vec![cluster.addresses[0].clone()];
    for id in 2..=4 {
        cluster
            .node(id)
            .join(&seed, Duration::from_secs(20))
            .await
            .unwrap();
    }
    let roles = |at: &Node| -> Vec<(u64, Role)> {
        let mut roles: Vec<(u64, Role)> = at.members().iter().map(|m| (m.id, m.role)).collect();
        roles.sort_unstable_by_key(|(id, _)| *id);
        roles
    };
    use Role::{Spare, StandBy, Voter};
    assert_eq!(
        roles(cluster.node(1)),
        [(1, Voter), (2, Voter), (3, Voter), (4, StandBy)]
    );
    // A voter that does not lead: the stand-by takes its seat.
    cluster.node(2).handover_roles().await.unwrap();
    roles_become(
        cluster.node(1),
        &[(1, Voter), (2, Spare), (3, Voter), (4, Voter)],
    )
    .await;
    // The leader: leadership moves, then its seat goes to the spare.
    cluster.node(1).handover_roles().await.unwrap();
    assert!(!cluster.node(1).is_leader());
    roles_become(
        cluster.leader().await,
        &[(1, Spare), (2, Voter), (3, Voter), (4, Voter)],
    )
    .await;
    // The spare that was the leader takes the next seat handed over.
    cluster.node(3).handover_roles().await.unwrap();
    roles_become(
        cluster.leader().await,
        &[(1, Voter), (2, Voter), (3, Spare), (4, Voter)],
    )
    .await;
    // Nobody to hand a seat to: two voters and no one else.
    let pair = Cluster::start(2).await;
    pair.node(2)
        .join(&[pair.addresses[0].clone()], Duration::from_secs(20))
        .await
        .unwrap();
    let err = pair.node(2).handover_roles().await.unwrap_err();
    assert!(err.to_string().contains("no non-voter"), "{err}");
    // A single node has no other node to lead.
    let dir = tempfile::tempdir().unwrap();
    let single = Node::builder(1, "127.0.0.1:1", dir.path())
        .start()
        .await
        .unwrap();
    assert!(single.handover_roles().await.is_err());
    single.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voter_demoted_to_spare_names_the_leader_for_an_election_timeout() {
    // dqlite's demoted node does not hear of its demotion and answers as
    // a voter until its election timer runs out; go-dqlite's app finds
    // the leader through it right after a handover.
    let cluster = Cluster::start(3).await;
    cluster.join_2_and_3().await;
    let leader = cluster.leader().await;
    let named = (leader.id(), cluster.addresses[0].clone());
    assert_eq!(named.0, 1);
    assert_eq!(leader_on(&cluster.addresses[2]).await, named);
    leader.assign(3, Role::Spare).await.unwrap();
    assert_eq!(leader_on(&cluster.addresses[2]).await, named);
    // Then, like dqlite's spares, it knows no leader.
    let deadline = Instant::now() + Duration::from_secs(10);
    while leader_on(&cluster.addresses[2]).await != (0, String::new()) {
        assert!(
            Instant::now() < deadline,
            "the spare still names the leader"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The voters still name the leader.
    assert_eq!(leader_on(&cluster.addresses[1]).await, named);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_catches_up_from_a_snapshot_and_the_log() {
    // Snapshots every 32 entries: the leader compacts its log while node 3
    // is down, so node 3 needs a snapshot, then the entries after it.
    let mut cluster = Cluster::start_with(3, 32).await;
    cluster.join_2_and_3().await;
    let s = cluster.node(1).session("app").await.unwrap();
    s.exec("CREATE TABLE t(i INTEGER, r INTEGER)")
        .await
        .unwrap();
    for i in 0..20 {
        s.exec(&format!("INSERT INTO t VALUES ({i}, random())"))
            .await
            .unwrap();
    }
    cluster.converged("app").await;
    cluster.stop(3).await;
    // Enough data that the snapshot streams in several chunks.
    for i in 20..200 {
        s.exec(&format!("INSERT INTO t VALUES ({i}, randomblob(20000))"))
            .await
            .unwrap();
    }
    cluster.restart(3).await;
    for i in 200..210 {
        s.exec(&format!("INSERT INTO t VALUES ({i}, random())"))
            .await
            .unwrap();
    }
    // Byte-identical databases everywhere, with every row.
    let image = cluster.converged("app").await;
    let path = cluster.dirs[0].path().join("image.db");
    std::fs::write(&path, image).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let count: i64 = conn
        .query_row("SELECT count(DISTINCT i) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, 210);
    // Node 3 got there through a snapshot larger than one chunk: it holds
    // a durable point, and its database file is that large.
    assert!(cluster.dirs[2].path().join("state/applied").exists());
    let files: u64 = std::fs::read_dir(cluster.dirs[2].path().join("db"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(
        files > dqlite_server::SNAPSHOT_CHUNK as u64,
        "{files} bytes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_leader_refuses_writes_and_the_cluster_heals() {
    // Every node advertises a proxy, so links between nodes can be cut.
    let mut proxies = Vec::new();
    let mut nodes = Vec::new();
    let mut dirs = Vec::new();
    for id in 1..=3u64 {
        let dir = tempfile::tempdir().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy = proxy::Proxy::start(listener.local_addr().unwrap().to_string()).await;
        let node = Node::builder(id, proxy.address.clone(), dir.path())
            .serve(listener, Limits::default())
            .start()
            .await
            .unwrap();
        proxies.push(proxy);
        nodes.push(node);
        dirs.push(dir);
    }
    for node in &nodes[1..] {
        node.join(&[proxies[0].address.clone()], Duration::from_secs(20))
            .await
            .unwrap();
    }
    let s = nodes[0].session("app").await.unwrap();
    s.exec("CREATE TABLE t(x)").await.unwrap();
    s.exec("INSERT INTO t VALUES ('before')").await.unwrap();

    // Cut node 1 (the leader) off from nodes 2 and 3, both ways.
    proxies[0].block(&[2, 3]);
    proxies[1].block(&[1]);
    proxies[2].block(&[1]);
    let started = Instant::now();
    let err = s
        .exec("INSERT INTO t VALUES ('minority')")
        .await
        .unwrap_err();
    let (code, _) = err.failure();
    assert!(
        code == dqlite_protocol::codes::NOT_LEADER
            || code == dqlite_protocol::codes::LEADERSHIP_LOST,
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );

    // The majority elects a leader of its own and takes writes.
    let deadline = Instant::now() + Duration::from_secs(15);
    let majority = loop {
        if let Some(n) = nodes[1..].iter().find(|n| n.is_leader()) {
            break n;
        }
        assert!(Instant::now() < deadline, "the majority elected no leader");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    majority
        .session("app")
        .await
        .unwrap()
        .exec("INSERT INTO t VALUES ('majority')")
        .await
        .unwrap();

    // Healed, node 1 follows and converges; the minority write is gone.
    for proxy in &proxies {
        proxy.block(&[]);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let image = loop {
        let mut images = Vec::new();
        for node in &nodes {
            // Node 1 refuses to dump while its minority write is pending
            // (until the new leader's log replaces it): not converged yet.
            if let Ok(image) = node.session("app").await.unwrap().dump().await {
                images.push(image);
            }
        }
        if images.len() == nodes.len() && images.windows(2).all(|w| w[0] == w[1]) {
            break images.pop().unwrap();
        }
        assert!(Instant::now() < deadline, "the nodes did not converge");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(!nodes[0].is_leader() || nodes[1..].iter().all(|n| !n.is_leader()));
    let path = dirs[0].path().join("image.db");
    std::fs::write(&path, image).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mut stmt = conn.prepare("SELECT x FROM t ORDER BY rowid").unwrap();
    let rows: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows, ["before", "majority"]);
    for node in nodes {
        node.stop().await.unwrap();
    }
}

/// What LEADER answers on `address` under the version-1 handshake.
async fn leader_on(address: &str) -> (u64, String) {
    use bytes::BytesMut;
    use dqlite_protocol::request::{Leader, Request};
    use dqlite_protocol::response::Response;
    use dqlite_protocol::{Frame, FrameLimits, ResponseContext};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&1u64.to_le_bytes());
        Request::from(Leader).encode(&mut buf).unwrap();
        stream.write_all(&buf).await.unwrap();
        let mut message = vec![0u8; 8];
        stream.read_exact(&mut message).await.unwrap();
        let words = u32::from_le_bytes(message[..4].try_into().unwrap());
        message.resize(8 + usize::try_from(words).unwrap() * 8, 0);
        stream.read_exact(&mut message[8..]).await.unwrap();
        let frame = Frame::from_message(&message, &FrameLimits::default()).unwrap();
        match Response::decode_frame(&frame, &ResponseContext::default()).unwrap() {
            Response::Server(server) => (server.id, server.address),
            other => panic!("LEADER answered {other:?}"),
        }
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .expect("LEADER answered in time")
}

/// The roles node `at` lists, in id order, once they equal `want`
/// (waiting, bounded).
async fn roles_become(at: &Node, want: &[(u64, Role)]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut roles: Vec<(u64, Role)> = at.members().iter().map(|m| (m.id, m.role)).collect();
        // CLUSTER order is the order of addition; compare by id.
        roles.sort_unstable_by_key(|(id, _)| *id);
        if roles == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "roles stayed {roles:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_roles_replace_a_voter_that_went_away() {
    let mut cluster = Cluster::start_full(4, dqlite_server::DEFAULT_SNAPSHOT_EVERY, true).await;
    // Joining at once can overshoot to four voters; the leader corrects it.
    cluster.join_2_to_4_at_once().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let standby = loop {
        let members = cluster.node(1).members();
        let voters = members.iter().filter(|m| m.is_voter()).count();
        let standbys: Vec<u64> = members
            .iter()
            .filter(|m| m.role == Role::StandBy)
            .map(|m| m.id)
            .collect();
        if voters == 3 && standbys.len() == 1 {
            break standbys[0];
        }
        assert!(
            Instant::now() < deadline,
            "roles did not settle: {members:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // A voter that is not the leader goes away: the stand-by replaces it.
    let leader = cluster.leader().await.id();
    let gone = (1..=4).find(|&id| id != leader && id != standby).unwrap();
    cluster.stop(gone).await;
    let mut want: Vec<(u64, Role)> = (1..=4)
        .map(|id| {
            let role = if id == gone { Role::Spare } else { Role::Voter };
            (id, role)
        })
        .collect();
    want.sort_unstable_by_key(|(id, _)| *id);
    let leader = cluster.leader().await;
    roles_become(leader, &want).await;
    // It comes back as a spare, and is made the stand-by again.
    cluster.restart(gone).await;
    want[usize::try_from(gone - 1).unwrap()].1 = Role::StandBy;
    roles_become(cluster.leader().await, &want).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_roles_spread_voters_over_failure_domains() {
    // Nodes 1 to 3 share a rack, node 4 is alone in another; node 4 joins
    // last, when three voters are there already.
    let cluster =
        Cluster::start_in_domains(&[1, 1, 1, 2], dqlite_server::DEFAULT_SNAPSHOT_EVERY, true).await;
    cluster.join_2_and_3().await;
    let seed = vec![cluster.addresses[0].clone()];
    cluster
        .node(4)
        .join(&seed, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(cluster.node(4).metadata().failure_domain, 2);
    // The leader makes node 4 a voter in place of one of rack 1's, which
    // stays as a stand-by.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let members = cluster.leader().await.members();
        let voters: Vec<u64> = members
            .iter()
            .filter(|m| m.is_voter())
            .map(|m| m.id)
            .collect();
        let standbys = members.iter().filter(|m| m.role == Role::StandBy).count();
        if voters.len() == 3 && voters.contains(&4) && standbys == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "voters did not spread: {members:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_database_is_replicated_and_stays_deleted_after_restarts_and_snapshots() {
    // Snapshots every 32 entries: node 3, down meanwhile, comes back
    // through a snapshot that already holds the emptied database.
    let mut cluster = Cluster::start_with(3, 32).await;
    cluster.join_2_and_3().await;
    let leader = cluster.leader().await;
    for db in ["model", "other"] {
        let s = leader.session(db).await.unwrap();
        s.exec("CREATE TABLE t(x, pad BLOB)").await.unwrap();
        for i in 0..40 {
            s.exec(&format!("INSERT INTO t VALUES ({i}, randomblob(3000))"))
                .await
                .unwrap();
        }
    }
    let other = cluster.converged("other").await;
    cluster.converged("model").await;
    cluster.stop(3).await;
    let leader = cluster.leader().await;
    let s = leader.session("model").await.unwrap();
    s.exec("BEGIN IMMEDIATE; PRAGMA delete_database; COMMIT")
        .await
        .unwrap();
    // More writes elsewhere, so that snapshots are taken past the delete.
    let o = leader.session("other").await.unwrap();
    for i in 40..120 {
        o.exec(&format!("INSERT INTO t VALUES ({i}, randomblob(3000))"))
            .await
            .unwrap();
    }
    drop((s, o));
    cluster.restart(3).await;
    let empty = cluster.converged("model").await;
    assert_eq!(empty.len(), 4096, "the deleted database is one empty page");
    assert_ne!(cluster.converged("other").await, other);
    // Every node restarts with the database still deleted.
    for id in 1..=3 {
        cluster.stop(id).await;
    }
    for id in 1..=3 {
        cluster.restart(id).await;
    }
    let leader = cluster.leader().await;
    let s = leader.session("model").await.unwrap();
    assert_eq!(
        s.query("SELECT count(*) FROM sqlite_schema").await.unwrap(),
        [[Value::Integer(0)]]
    );
    assert_eq!(cluster.converged("model").await, empty);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_an_election_leader_waits_for_the_outcome_instead_of_naming_no_one() {
    let mut cluster = Cluster::start(3).await;
    cluster.join_2_and_3().await;
    let old = cluster.leader().await.id();
    cluster.stop(old).await;
    // The two others notice, elect one of them, and answer LEADER all
    // along: the old leader until they notice, then (waiting while they
    // elect) the new one; never "no leader".
    let followers: Vec<String> = (1..=3u64)
        .filter(|id| *id != old)
        .map(|id| cluster.addresses[usize::try_from(id - 1).unwrap()].clone())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut answers = Vec::new();
    while Instant::now() < deadline {
        for address in &followers {
            answers.push(leader_on(address).await.0);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        !answers.contains(&0),
        "a LEADER answer named no one: {answers:?}"
    );
    let new = *answers.last().unwrap();
    assert_ne!(new, old, "no new leader within 3 s: {answers:?}");
}
