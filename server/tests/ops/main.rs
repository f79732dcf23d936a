//! The operations endpoints (`NodeBuilder::http`, `--http-address`):
//! `/metrics`, `/healthz`, `/readyz` and `/status` on one node and on a
//! three-node cluster in this process, each node on its own 127.0.0.1
//! ports; counters move with SQL traffic, and `/readyz` turns 503 on a
//! follower cut off from the rest and 200 again once they are back.

#![allow(clippy::unwrap_used)] // Tests panic on purpose.

#[path = "../common/http.rs"]
mod http;
#[path = "../common/util.rs"]
mod util;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dqlite_protocol::Schema;
use dqlite_protocol::request::Prepare;
use dqlite_protocol::response::Response;
use dqlite_server::Node;
use dqlite_server::net::Limits;
use http::{get, must, sample};
use util::{Client, decode};

/// Every single wait is bounded by this.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Polls `GET path` until it answers `status`, for up to `limit`; the
/// last body.
async fn wait_for(http: SocketAddr, path: &str, status: u16, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let (got, body) = get(http, path).await;
        if got == status {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{path} still answers {got} ({}) after {limit:?}",
            body.trim()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A node of the test, with its addresses and directory.
struct TestNode {
    id: u64,
    address: String,
    http: SocketAddr,
    dir: tempfile::TempDir,
    node: Option<Node>,
}

impl TestNode {
    /// Binds fresh ports and starts node `id`.
    async fn start(id: u64) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let http = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut node = TestNode {
            id,
            address: listener.local_addr().unwrap().to_string(),
            http: http.local_addr().unwrap(),
            dir: tempfile::tempdir().unwrap(),
            node: None,
        };
        node.run(listener, http).await;
        node
    }

    async fn run(&mut self, listener: std::net::TcpListener, http: std::net::TcpListener) {
        let node = Node::builder(self.id, self.address.clone(), self.dir.path())
            .serve(listener, Limits::default())
            .http(http)
            .start()
            .await
            .unwrap();
        self.node = Some(node);
    }

    /// Starts the node again on its ports and directory.
    async fn restart(&mut self) {
        let listener = std::net::TcpListener::bind(&self.address).unwrap();
        let http = std::net::TcpListener::bind(self.http).unwrap();
        self.run(listener, http).await;
    }

    async fn stop(&mut self) {
        self.node.take().unwrap().stop().await.unwrap();
    }

    fn node(&self) -> &Node {
        self.node.as_ref().unwrap()
    }

    async fn metrics(&self) -> String {
        let (status, body) = get(self.http, "/metrics").await;
        assert_eq!(status, 200, "{body}");
        body
    }

    async fn status(&self) -> serde_json::Value {
        let (status, body) = get(self.http, "/status").await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// A client connection to this node with database `db` open.
    async fn client(&self, db: &str) -> Client {
        let mut client = Client::raw(&self.address).await;
        client.send("0100000000000000").await;
        client.open(db).await;
        client
    }
}

/// Whether an EXEC_SQL reply is a RESULT.
fn is_result(reply: Vec<u8>) -> bool {
    matches!(decode(reply), Response::Result(_))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_node_serves_the_endpoints_and_counts_requests() {
    let n = TestNode::start(1).await;

    assert_eq!(get(n.http, "/healthz").await, (200, "ok\n".to_owned()));
    assert_eq!(get(n.http, "/readyz").await, (200, "ready\n".to_owned()));
    assert_eq!(get(n.http, "/nothing-here").await.0, 404);

    let status = n.status().await;
    assert_eq!(status["id"], 1);
    assert_eq!(status["address"], n.address.as_str());
    assert_eq!(status["role"], "voter");
    assert_eq!(status["is_leader"], true);
    assert_eq!(status["leader"]["id"], 1);
    assert_eq!(status["members"].as_array().unwrap().len(), 1);
    assert_eq!(status["members"][0]["role"], "voter");
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert!(status["data_dir_bytes"].as_u64().unwrap() > 0, "{status}");
    assert!(status["uptime_seconds"].is_u64(), "{status}");

    let before = n.metrics().await;
    assert_eq!(must(&before, "dqlite_leader"), 1.0);
    assert_eq!(must(&before, "dqlite_role{role=\"voter\"}"), 1.0);
    assert_eq!(must(&before, "dqlite_role{role=\"spare\"}"), 0.0);
    assert!(must(&before, "dqlite_raft_term") >= 1.0);
    assert_eq!(
        sample(
            &before,
            "dqlite_requests_total{type=\"exec_sql\",outcome=\"ok\"}"
        ),
        None
    );
    assert_eq!(must(&before, "dqlite_client_connections"), 0.0);
    let applied_before = must(&before, "dqlite_raft_applied_index");
    assert!(
        before.ends_with("# EOF\n"),
        "OpenMetrics text ends with # EOF"
    );

    let mut client = n.client("app").await;
    assert!(is_result(client.exec_sql("CREATE TABLE t (x INT)").await));
    for i in 0..20 {
        assert!(is_result(
            client
                .exec_sql(&format!("INSERT INTO t VALUES ({i})"))
                .await
        ));
    }
    // A failing statement counts as an error.
    assert!(!is_result(
        client.exec_sql("INSERT INTO missing VALUES (1)").await
    ));
    assert_eq!(client.query_rows("SELECT count(*) FROM t").await.len(), 1);
    let prepared = client
        .request(Prepare {
            db_id: 0,
            sql: "SELECT x FROM t".into(),
            schema: Schema::V0,
        })
        .await;
    assert!(matches!(prepared, Response::Stmt(_)), "{prepared:?}");

    let after = n.metrics().await;
    assert_eq!(
        must(
            &after,
            "dqlite_requests_total{type=\"exec_sql\",outcome=\"ok\"}"
        ),
        21.0
    );
    assert_eq!(
        must(
            &after,
            "dqlite_requests_total{type=\"exec_sql\",outcome=\"error\"}"
        ),
        1.0
    );
    assert_eq!(
        must(
            &after,
            "dqlite_requests_total{type=\"query_sql\",outcome=\"ok\"}"
        ),
        1.0
    );
    assert_eq!(
        must(
            &after,
            "dqlite_requests_total{type=\"open\",outcome=\"ok\"}"
        ),
        1.0
    );
    assert_eq!(
        must(
            &after,
            "dqlite_request_duration_seconds_count{type=\"exec_sql\"}"
        ),
        22.0
    );
    assert_eq!(
        must(
            &after,
            "dqlite_request_duration_seconds_bucket{le=\"+Inf\",type=\"exec_sql\"}"
        ),
        22.0
    );
    assert!(
        must(
            &after,
            "dqlite_request_duration_seconds_sum{type=\"exec_sql\"}"
        ) > 0.0
    );
    assert_eq!(must(&after, "dqlite_client_connections"), 1.0);
    assert_eq!(must(&after, "dqlite_prepared_statements"), 1.0);
    assert!(must(&after, "dqlite_raft_applied_index") >= applied_before + 21.0);
    assert!(
        must(&after, "dqlite_raft_last_log_index") >= must(&after, "dqlite_raft_applied_index")
    );
    assert!(must(&after, "dqlite_log_fsync_seconds_count") >= 1.0);
    assert!(must(&after, "dqlite_log_bytes") > 0.0);
    assert!(must(&after, "dqlite_database_bytes{database=\"app\"}") > 0.0);
    assert!(must(&after, "dqlite_database_wal_frames{database=\"app\"}") >= 1.0);

    drop(client);
    let deadline = Instant::now() + TIMEOUT;
    while must(&n.metrics().await, "dqlite_client_connections") != 0.0 {
        assert!(
            Instant::now() < deadline,
            "the closed connection is still counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let closed = n.metrics().await;
    assert_eq!(must(&closed, "dqlite_prepared_statements"), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_are_counted() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let http = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let http_address = http.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let node = Node::builder(1, address.clone(), dir.path())
        .serve(listener, Limits::default())
        .http(http)
        .snapshot_every(8)
        .start()
        .await
        .unwrap();
    let mut client = Client::raw(&address).await;
    client.send("0100000000000000").await;
    client.open("app").await;
    assert!(is_result(client.exec_sql("CREATE TABLE t (x INT)").await));
    for i in 0..40 {
        assert!(is_result(
            client
                .exec_sql(&format!("INSERT INTO t VALUES ({i})"))
                .await
        ));
    }
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let (_, metrics) = get(http_address, "/metrics").await;
        if must(&metrics, "dqlite_snapshots_total{kind=\"taken\"}") >= 1.0 {
            assert!(
                must(
                    &metrics,
                    "dqlite_snapshot_duration_seconds_count{kind=\"taken\"}"
                ) >= 1.0
            );
            assert!(must(&metrics, "dqlite_snapshot_bytes") > 0.0);
            break;
        }
        assert!(Instant::now() < deadline, "no snapshot counted:\n{metrics}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    node.stop().await.unwrap();
    // The endpoints go away with the node.
    assert!(tokio::net::TcpStream::connect(http_address).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_report_peers_and_a_cut_off_follower_is_not_ready() {
    let mut nodes = Vec::new();
    for id in 1..=3 {
        nodes.push(TestNode::start(id).await);
    }
    let seed = vec![nodes[0].address.clone()];
    for n in &nodes[1..] {
        n.node().join(&seed, Duration::from_secs(20)).await.unwrap();
    }
    for n in &nodes {
        wait_for(n.http, "/readyz", 200, TIMEOUT).await;
        assert_eq!(get(n.http, "/healthz").await.0, 200);
    }

    // Every node names the same leader and three voters.
    let leader = nodes
        .iter()
        .position(|n| n.node().is_leader())
        .expect("a leader");
    let leader_id = nodes[leader].id;
    for n in &nodes {
        let status = n.status().await;
        assert_eq!(status["leader"]["id"], leader_id, "{status}");
        assert_eq!(status["leader"]["address"], nodes[leader].address.as_str());
        let members = status["members"].as_array().unwrap();
        assert_eq!(members.len(), 3, "{status}");
        assert!(members.iter().all(|m| m["role"] == "voter"), "{status}");
        assert_eq!(status["is_leader"], n.id == leader_id);
    }

    // Traffic through the leader; a follower refuses SQL.
    let mut client = nodes[leader].client("app").await;
    assert!(is_result(client.exec_sql("CREATE TABLE t (x INT)").await));
    for i in 0..30 {
        assert!(is_result(
            client
                .exec_sql(&format!("INSERT INTO t VALUES ({i})"))
                .await
        ));
    }
    let follower = (leader + 1) % 3;
    let mut refused = Client::raw(&nodes[follower].address).await;
    refused.send("0100000000000000").await;
    let reply = refused
        .request(dqlite_protocol::request::Open {
            name: "app".into(),
            flags: 0,
            vfs: "volatile".into(),
        })
        .await;
    assert!(matches!(reply, Response::Failure(_)), "{reply:?}");

    let on_leader = nodes[leader].metrics().await;
    assert_eq!(must(&on_leader, "dqlite_leader"), 1.0);
    assert_eq!(must(&on_leader, "dqlite_leader_id"), leader_id as f64);
    assert_eq!(
        must(&on_leader, "dqlite_raft_leader_last_contact_seconds"),
        0.0
    );
    assert_eq!(
        must(
            &on_leader,
            "dqlite_requests_total{type=\"exec_sql\",outcome=\"ok\"}"
        ),
        31.0
    );
    for n in &nodes {
        if n.id == leader_id {
            continue;
        }
        let lag = must(
            &on_leader,
            &format!("dqlite_raft_peer_lag_entries{{peer=\"{}\"}}", n.id),
        );
        assert!(lag >= 0.0);
        let age = must(
            &on_leader,
            &format!("dqlite_raft_peer_last_contact_seconds{{peer=\"{}\"}}", n.id),
        );
        assert!(
            (0.0..5.0).contains(&age),
            "peer {} last contact {age} s ago",
            n.id
        );
    }
    let on_follower = nodes[follower].metrics().await;
    assert_eq!(must(&on_follower, "dqlite_leader"), 0.0);
    assert_eq!(must(&on_follower, "dqlite_leader_id"), leader_id as f64);
    assert_eq!(
        must(
            &on_follower,
            "dqlite_requests_total{type=\"open\",outcome=\"not_leader\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(&on_follower, "dqlite_raft_peer_lag_entries{peer=\"1\"}"),
        None
    );
    assert!(must(&on_follower, "dqlite_raft_leader_last_contact_seconds") < 5.0);
    assert!(must(&on_follower, "dqlite_raft_leader_changes_total") >= 1.0);
    // The follower applies what the leader committed.
    let committed = must(&on_leader, "dqlite_raft_committed_index");
    let deadline = Instant::now() + TIMEOUT;
    while must(
        &nodes[follower].metrics().await,
        "dqlite_raft_applied_index",
    ) < committed
    {
        assert!(Instant::now() < deadline, "the follower does not catch up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(client);

    // Cut the follower off: the two others stop.
    for (i, n) in nodes.iter_mut().enumerate() {
        if i != follower {
            n.stop().await;
        }
    }
    let why = wait_for(nodes[follower].http, "/readyz", 503, TIMEOUT).await;
    assert!(why.contains("leader"), "{why}");
    assert_eq!(why.lines().count(), 1, "{why}");
    assert_eq!(get(nodes[follower].http, "/healthz").await.0, 200);
    let cut_off = nodes[follower].metrics().await;
    assert!(must(&cut_off, "dqlite_raft_leader_last_contact_seconds") > 1.0);

    // They come back (together: each waits for a leader, which takes
    // two voters): a leader is elected and reaches the follower.
    let mut others: Vec<&mut TestNode> = nodes
        .iter_mut()
        .enumerate()
        .filter(|(i, _)| *i != follower)
        .map(|(_, n)| n)
        .collect();
    let (first, second) = others.split_at_mut(1);
    tokio::join!(first[0].restart(), second[0].restart());
    wait_for(
        nodes[follower].http,
        "/readyz",
        200,
        Duration::from_secs(20),
    )
    .await;
    let status = nodes[follower].status().await;
    assert!(status["leader"]["id"].is_u64(), "{status}");
    for n in &mut nodes {
        n.stop().await;
    }
}
