//! Restarts that used to fail: the data directory of issue 14 whose log
//! the opener refused, and members restarted with their original
//! `--join` while the node they name is down.

use std::process::Command;
use std::time::{Duration, Instant};

use dqlite_protocol::request::{Dump, Request};
use dqlite_protocol::response::Response;

use crate::cluster_kill::three_voters;
use crate::load::open_on_leader;
use crate::process::{ServerProcess, dial, exec, free_port, leader, request, spawn_node_logging};

/// The image of database `db` on every node once they all hold the same.
async fn converged(addresses: &[String], db: &str) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut images = Vec::new();
        for address in addresses {
            if let Some(mut stream) = dial(address).await
                && let Some(Response::Files(files)) =
                    request(&mut stream, &Request::from(Dump { name: db.into() })).await
            {
                images.push(files.files.into_iter().next().unwrap().data);
            }
        }
        if images.len() == addresses.len() && images.windows(2).all(|w| w[0] == w[1]) {
            return images.pop().unwrap();
        }
        assert!(Instant::now() < deadline, "the nodes did not converge");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Rows of `sql` over a database image.
fn query(image: &[u8], sql: &str) -> Vec<(i64, i64)> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("image.db");
    std::fs::write(&path, image).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mut stmt = conn.prepare(sql).unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// A temporary directory holding fixture `name` (a tarball of
/// `server/tests/fixtures`) unpacked.
fn unpack(name: &str) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let status = Command::new("tar")
        .arg("xzf")
        .arg(&fixture)
        .arg("-C")
        .arg(root.path())
        .status()
        .unwrap();
    assert!(status.success(), "cannot unpack {}", fixture.display());
    root
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_directory_of_issue_14_starts_and_catches_up() {
    // Node 1 of a three-node bank cluster (10 accounts, 10,000 in all),
    // killed during a write load: its segment jumps past a snapshot it
    // installed, and a later snapshot moved the purge point past the jump.
    let root = unpack("issue14-node1-refuses-restart.tar.gz");
    let n1 = root.path().join("n1.corrupt-evidence");
    // Its cluster: nodes 1 to 3 on these ports. Nodes 2 and 3 come back
    // with empty directories (lost disks): node 1 must lead them and
    // bring them up to date.
    let addresses: Vec<String> = (1..=3).map(|i| format!("127.0.0.1:3720{i}")).collect();
    let mut nodes: Vec<ServerProcess> = Vec::new();
    let (one, log) = spawn_node_logging(&addresses[0], &n1, &["--id", "1"]);
    nodes.push(one);
    let empty: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    for (i, dir) in empty.iter().enumerate() {
        let id = (i + 2).to_string();
        nodes.push(spawn_node_logging(&addresses[i + 1], dir.path(), &["--id", &id]).0);
    }
    let image = converged(&addresses, "bank").await;
    assert_eq!(
        query(&image, "SELECT count(*), sum(balance) FROM accounts"),
        [(10, 10_000)]
    );
    assert!(nodes.iter_mut().all(ServerProcess::running));
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(!logged.contains("corrupt log"), "{logged}");

    // Node 1 restarts again, and the cluster takes writes.
    nodes[0].kill();
    nodes[0] = spawn_node_logging(&addresses[0], &n1, &["--id", "1"]).0;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some((_, mut c)) = open_on_bank(&addresses).await
            && let Some(Response::Result(_)) = request(
                &mut c,
                &exec("UPDATE accounts SET balance = balance + 1 WHERE id = 1".into()),
            )
            .await
        {
            break;
        }
        assert!(Instant::now() < deadline, "no write after node 1 restarted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let image = converged(&addresses, "bank").await;
    assert_eq!(
        query(&image, "SELECT count(*), sum(balance) FROM accounts"),
        [(10, 10_001)]
    );
    assert!(nodes.iter_mut().all(ServerProcess::running));
}

/// A connection with "bank" open on the leader.
async fn open_on_bank(addresses: &[String]) -> Option<(usize, tokio::net::TcpStream)> {
    let i = leader(addresses).await?;
    let mut stream = dial(&addresses[i]).await?;
    let open = Request::from(dqlite_protocol::request::Open {
        name: "bank".into(),
        flags: 0,
        vfs: "volatile".into(),
    });
    match request(&mut stream, &open).await? {
        Response::Db(_) => Some((i, stream)),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_restarted_with_their_join_flag_start_while_the_node_named_is_down() {
    let addresses: Vec<String> = (0..3)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    // The command line of each node, the same at every start.
    let start = |i: usize| {
        let id = (i + 1).to_string();
        let mut extra = vec!["--id", id.as_str(), "--join-timeout", "3"];
        if i > 0 {
            extra.extend(["--join", addresses[0].as_str()]);
        }
        spawn_node_logging(&addresses[i], dirs[i].path(), &extra)
    };
    let mut nodes = vec![start(0)];
    tokio::time::sleep(Duration::from_millis(300)).await;
    nodes.push(start(1));
    nodes.push(start(2));
    three_voters(&addresses[0]).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some((_, mut c)) = open_on_leader(&addresses).await
            && let Some(Response::Result(_)) =
                request(&mut c, &exec("CREATE TABLE t(i INTEGER)".into())).await
        {
            break;
        }
        assert!(Instant::now() < deadline, "the table was never created");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (node, _) in &mut nodes {
        node.kill();
    }

    // Node 1 stays down; 2 and 3 come back with the same command lines.
    let mut two = start(1);
    let mut three = start(2);
    // Past their join timeout, they still run: members do not join.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(two.0.running() && three.0.running(), "a member exited");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some((_, mut c)) = open_on_leader(&addresses[1..]).await
            && let Some(Response::Result(_)) =
                request(&mut c, &exec("INSERT INTO t VALUES (1)".into())).await
        {
            break;
        }
        assert!(Instant::now() < deadline, "nodes 2 and 3 took no write");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let logged = std::fs::read_to_string(&two.1).unwrap();
    assert!(
        logged.contains("already belongs to a cluster"),
        "the ignored --join is not logged"
    );
    two.0.kill();
    three.0.kill();
}

/// A connection with `db` open on the node at `address`.
async fn open_db(address: &str, db: &str) -> Option<tokio::net::TcpStream> {
    let mut stream = dial(address).await?;
    let open = Request::from(dqlite_protocol::request::Open {
        name: db.into(),
        flags: 0,
        vfs: "volatile".into(),
    });
    match request(&mut stream, &open).await? {
        Response::Db(_) => Some(stream),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_of_the_in_memory_format_is_upgraded_on_first_start() {
    // Made by main at d37e353, when databases lived in memory and the
    // whole snapshot in state/snapshot (format 1): node 1 on
    // 127.0.0.1:29411 with databases "app" (30 rows) and "other" (one),
    // a snapshot and log entries after it.
    let root = unpack("format1-node1.tar.gz");
    let dir = root.path().join("format1");
    let address = "127.0.0.1:29411".to_string();
    let addresses = [address.clone()];
    let (mut node, log) = spawn_node_logging(&address, &dir, &["--id", "1"]);
    let app = converged(&addresses, "app").await;
    assert_eq!(
        query(&app, "SELECT count(*), sum(length(v)) FROM t"),
        [(30, 12_201)]
    );
    let other = converged(&addresses, "other").await;
    assert_eq!(query(&other, "SELECT count(*), sum(x) FROM k"), [(1, 42)]);
    // Upgraded: the durable point replaces the snapshot file, and the
    // databases are files.
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("upgraded the data directory to format 2"),
        "{logged}"
    );
    assert!(!dir.join("state/snapshot").exists());
    assert!(dir.join("state/applied").exists());
    let files = std::fs::read_dir(dir.join("db"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".db")
        })
        .count();
    assert_eq!(files, 2, "one file per database");

    // It takes writes, and a kill -9 and restart keeps them.
    let mut c = open_db(&address, "app").await.expect("app opens");
    let answer = request(&mut c, &exec("INSERT INTO t(v) VALUES ('after')".into())).await;
    assert!(matches!(answer, Some(Response::Result(_))), "{answer:?}");
    node.kill();
    let (_node, _) = spawn_node_logging(&address, &dir, &["--id", "1"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let image = converged(&addresses, "app").await;
        let counted = query(&image, "SELECT count(*), count(*) FROM t");
        if counted == [(31, 31)] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the write after the upgrade is gone: {counted:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
