//! `--role-management`: with it on (the binary's default) the leader fills
//! the voter seats by itself; with it off, roles change only when a client
//! asks, so that a program managing roles itself (LXD, through go-dqlite's
//! `Assign`) keeps the roles it chose.

use std::time::{Duration, Instant};

use dqlite_protocol::request::{Add, Assign, Cluster, Request};
use dqlite_protocol::response::Response;
use dqlite_protocol::{ProtocolVersion, Role};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::process::{ServerProcess, free_port, leader, request, spawn_node};

/// Node 4's role as the leader lists it, waiting (bounded) for a leader.
async fn role_of_4(addresses: &[String]) -> Option<Role> {
    let i = leader(addresses).await?;
    let mut stream = TcpStream::connect(&addresses[i]).await.ok()?;
    stream
        .write_all(&ProtocolVersion::V1.to_bytes())
        .await
        .ok()?;
    match request(&mut stream, &Request::from(Cluster { format: 1 })).await? {
        Response::Servers(s) => s.nodes.iter().find(|n| n.id == 4)?.role,
        _ => None,
    }
}

/// Two voters (nodes 1 and 2) and node 4 added and assigned stand-by by a
/// client; node 4's role over the next 3 s.
async fn stand_by_of_a_two_voter_cluster(management: &str) -> Vec<Role> {
    let addresses: Vec<String> = (0..3)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes: Vec<ServerProcess> = Vec::new();
    for (i, id) in [(0, "1"), (1, "2"), (2, "4")] {
        let mut extra = vec!["--id", id, "--role-management", management];
        if id == "2" {
            extra.extend(["--join", addresses[0].as_str()]);
        }
        nodes.push(spawn_node(&addresses[i], dirs[i].path(), &extra));
        if i == 0 {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    // Wait for the two voters.
    let deadline = Instant::now() + Duration::from_secs(30);
    let leader_address = loop {
        if let Some(i) = leader(&addresses[..2]).await {
            let mut stream = TcpStream::connect(&addresses[i]).await.unwrap();
            stream
                .write_all(&ProtocolVersion::V1.to_bytes())
                .await
                .unwrap();
            if let Some(Response::Servers(s)) =
                request(&mut stream, &Request::from(Cluster { format: 1 })).await
                && s.nodes
                    .iter()
                    .filter(|n| n.role == Some(Role::Voter))
                    .count()
                    == 2
            {
                break addresses[i].clone();
            }
        }
        assert!(Instant::now() < deadline, "no two-voter cluster formed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // A client adds node 4 and makes it a stand-by.
    let mut c = TcpStream::connect(&leader_address).await.unwrap();
    c.write_all(&ProtocolVersion::V1.to_bytes()).await.unwrap();
    // Node 2's joining may still be being committed, and with role
    // management on the leader changes roles meanwhile: the server waits
    // for those changes rather than refusing (CHANGE_SETTLE_TIMEOUT).
    let added = request(
        &mut c,
        &Request::from(Add {
            id: 4,
            address: addresses[2].clone(),
        }),
    )
    .await;
    assert!(matches!(added, Some(Response::Empty(_))), "{added:?}");
    let assigned = request(
        &mut c,
        &Request::from(Assign {
            id: 4,
            role: Some(Role::StandBy.code()),
        }),
    )
    .await;
    assert!(matches!(assigned, Some(Response::Empty(_))), "{assigned:?}");
    let mut roles = Vec::new();
    for _ in 0..15 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if let Some(role) = role_of_4(&addresses).await {
            roles.push(role);
        }
    }
    drop(nodes);
    roles
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_role_management_a_stand_by_stays_a_stand_by() {
    let roles = stand_by_of_a_two_voter_cluster("off").await;
    assert!(!roles.is_empty());
    assert!(roles.iter().all(|r| *r == Role::StandBy), "{roles:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_role_management_the_leader_fills_the_third_voter_seat() {
    let roles = stand_by_of_a_two_voter_cluster("on").await;
    assert_eq!(roles.last(), Some(&Role::Voter), "{roles:?}");
}
