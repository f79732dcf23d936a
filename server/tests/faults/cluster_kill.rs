//! Kill -9 in a three-node cluster of `dqlite-server` processes while a
//! client writes: the leader, then a follower, then two nodes in a row.
//! The client follows the leader as go-dqlite does (LEADER, then OPEN on
//! the node named). Snapshots are taken every 32 entries, so restarted
//! nodes catch up by snapshot install and take more snapshots after it.
//! Afterwards every node's database is byte-identical and holds every
//! acknowledged write exactly once.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use dqlite_protocol::Role;
use dqlite_protocol::request::{Cluster, Dump, Request};
use dqlite_protocol::response::Response;

use crate::load::{
    INSTALLED, Load, bulk_load, check_image, count_logged, load_stop, open_on_leader, write_load,
};
use crate::process::{ServerProcess, dial, exec, free_port, leader, request, spawn_node_logging};

struct Nodes {
    addresses: Vec<String>,
    dirs: Vec<tempfile::TempDir>,
    procs: Vec<Option<ServerProcess>>,
    logs: Vec<Option<std::path::PathBuf>>,
}

impl Nodes {
    fn start(&mut self, i: usize) {
        let id = (i + 1).to_string();
        // Snapshots (and log purges) every few dozen entries: a node
        // started again catches up by snapshot install, then takes more
        // snapshots of its own.
        let mut extra = vec![
            "--id",
            id.as_str(),
            "--snapshot-every",
            "32",
            "--snapshot-trailing",
            "0",
        ];
        if i > 0 {
            extra.extend(["--join", self.addresses[0].as_str()]);
        }
        let (process, log) = spawn_node_logging(&self.addresses[i], self.dirs[i].path(), &extra);
        self.procs[i] = Some(process);
        self.logs[i] = Some(log);
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut p) = self.procs[i].take() {
            p.kill();
        }
    }
}

/// The database image of every node once all of them agree.
pub(crate) async fn converged(addresses: &[String]) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut images = Vec::new();
        for address in addresses {
            if let Some(mut stream) = dial(address).await
                && let Some(Response::Files(files)) = request(
                    &mut stream,
                    &Request::from(Dump {
                        name: "load".into(),
                    }),
                )
                .await
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

/// Waits (bounded) until node 1 lists three voters.
pub(crate) async fn three_voters(address: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(mut stream) = dial(address).await
            && let Some(Response::Servers(s)) =
                request(&mut stream, &Request::from(Cluster { format: 1 })).await
            && s.nodes
                .iter()
                .filter(|n| n.role == Some(Role::Voter))
                .count()
                == 3
        {
            return;
        }
        assert!(Instant::now() < deadline, "no three-voter cluster formed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_a_cluster_loses_no_acknowledged_write() {
    let mut nodes = Nodes {
        addresses: (0..3)
            .map(|_| format!("127.0.0.1:{}", free_port()))
            .collect(),
        dirs: (0..3).map(|_| tempfile::tempdir().unwrap()).collect(),
        procs: vec![None, None, None],
        logs: vec![None, None, None],
    };
    nodes.start(0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    nodes.start(1);
    nodes.start(2);
    three_voters(&nodes.addresses[0]).await;
    // As any client would, try again while leadership settles (the last
    // voter was just added).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some((_, mut setup)) = open_on_leader(&nodes.addresses).await {
            let created = request(
                &mut setup,
                &exec("CREATE TABLE IF NOT EXISTS t(i INTEGER)".into()),
            )
            .await;
            match created {
                Some(Response::Result(_)) => break,
                Some(Response::Failure(f))
                    if f.code == dqlite_protocol::codes::LEADERSHIP_LOST
                        || f.code == dqlite_protocol::codes::NOT_LEADER => {}
                other => panic!("{other:?}"),
            }
        }
        assert!(Instant::now() < deadline, "the table was never created");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let load = Arc::new(Load::default());
    let writer = tokio::spawn(write_load(nodes.addresses.clone(), load.clone()));
    // Large changes to another database, so that snapshots come often.
    let bulk = tokio::spawn(bulk_load(
        nodes.addresses.clone(),
        load_stop(&load),
        Arc::default(),
    ));
    let pause = Duration::from_millis(700);

    // The leader.
    tokio::time::sleep(pause).await;
    let l = leader(&nodes.addresses).await.expect("a leader");
    nodes.kill(l);
    tokio::time::sleep(pause * 2).await;
    nodes.start(l);
    // A follower, down long enough for the others to take snapshots and
    // purge the log it misses: it comes back through a snapshot install.
    tokio::time::sleep(pause).await;
    let l = leader(&nodes.addresses).await.expect("a leader");
    let f = (l + 1) % 3;
    nodes.kill(f);
    tokio::time::sleep(pause * 4).await;
    nodes.start(f);
    // Two in a row: the leader, then another node (no quorum meanwhile).
    tokio::time::sleep(pause).await;
    let before = load.acked_count();
    let l = leader(&nodes.addresses).await.expect("a leader");
    nodes.kill(l);
    tokio::time::sleep(pause).await;
    let other = (l + 1) % 3;
    nodes.kill(other);
    tokio::time::sleep(pause).await;
    nodes.start(l);
    nodes.start(other);
    // Writes resume.
    load.resumed_after(before, Duration::from_secs(30)).await;
    load.stop.store(true, Ordering::SeqCst);
    let sent = writer.await.unwrap();
    bulk.await.unwrap();

    let image = converged(&nodes.addresses).await;
    for i in 0..3 {
        nodes.kill(i);
    }
    // The restarted nodes caught up by snapshot install (and went on
    // taking snapshots of their own: one every 32 entries).
    let installs = count_logged(nodes.logs.iter().flatten(), INSTALLED);
    assert!(installs > 0, "no restarted node installed a snapshot");
    let unique = check_image(&image, &load, sent);
    let acked = load.acked.lock().unwrap();
    println!(
        "{} writes acknowledged through 4 kills, {} present on all 3 nodes, {installs} snapshot installs",
        acked.len(),
        unique
    );
}
