//! Kill -9 during a write load: the `dqlite-server` binary is SIGKILLed
//! while a client writes as fast as it can, then restarted on the same
//! directory, several times. Every write the client saw acknowledged must
//! be there afterwards, exactly once; nothing unacknowledged may appear
//! twice.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use dqlite_protocol::request::{Open, Request};
use dqlite_protocol::response::Response;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::process::{exec, free_port, request, spawn_server};
use crate::util::Client;

/// Waits (bounded) until the server accepts connections and answers.
async fn connect(address: &str) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(mut stream) = TcpStream::connect(address).await {
            stream.write_all(&1u64.to_le_bytes()).await.unwrap();
            let open = Request::from(Open {
                name: "load".into(),
                flags: 0,
                vfs: "volatile".into(),
            });
            if let Some(Response::Db(_)) = request(&mut stream, &open).await {
                return stream;
            }
        }
        assert!(
            Instant::now() < deadline,
            "server at {address} did not come up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_writes_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let address = format!("127.0.0.1:{}", free_port());
    let mut acknowledged = BTreeSet::new();
    let mut next = 0u64;
    for round in 0..4u64 {
        let mut server = spawn_server(&address, dir.path());
        let mut stream = connect(&address).await;
        if round == 0 {
            let created = request(&mut stream, &exec("CREATE TABLE t(i INTEGER)".into())).await;
            assert!(matches!(created, Some(Response::Result(_))), "{created:?}");
        }
        // A separate thread kills the server at an arbitrary moment of the
        // load (mid-request, mid-fsync, mid-reply): once this round has
        // some acknowledged writes (so a slow machine still tests
        // something), after a delay that differs each round.
        let (progress, go) = std::sync::mpsc::channel::<()>();
        let delay = Duration::from_micros(300 + 1700 * round);
        let killer = std::thread::spawn(move || {
            // Bounded: kill anyway if the writer never gets going.
            let _ = go.recv_timeout(Duration::from_secs(30));
            std::thread::sleep(delay);
            server.kill();
        });
        let mut in_round = 0;
        loop {
            next += 1;
            match request(&mut stream, &exec(format!("INSERT INTO t VALUES ({next})"))).await {
                Some(Response::Result(_)) => {
                    acknowledged.insert(next);
                    in_round += 1;
                    if in_round == 25 + 10 * round {
                        let _ = progress.send(());
                    }
                }
                Some(other) => panic!("write {next} failed: {other:?}"),
                None => break,
            }
        }
        killer.join().unwrap();
    }
    assert!(
        acknowledged.len() > 20,
        "only {} writes acknowledged",
        acknowledged.len()
    );

    let mut server = spawn_server(&address, dir.path());
    drop(connect(&address).await);
    let mut client = Client::raw(&address).await;
    client.send("0100000000000000").await;
    client.open("load").await;
    let rows = client.query_rows("SELECT i FROM t").await;
    server.kill();
    let present: Vec<u64> = rows
        .iter()
        .map(|row| match row[0] {
            dqlite_protocol::Value::Integer(i) => u64::try_from(i).unwrap(),
            ref other => panic!("unexpected value {other:?}"),
        })
        .collect();
    let unique: BTreeSet<u64> = present.iter().copied().collect();
    assert_eq!(unique.len(), present.len(), "a write is present twice");
    let missing: Vec<_> = acknowledged.difference(&unique).collect();
    assert!(missing.is_empty(), "acknowledged writes lost: {missing:?}");
    assert!(unique.iter().all(|i| *i <= next), "a write nobody sent");
    println!(
        "{} writes acknowledged over 4 kills, {} present after restart",
        acknowledged.len(),
        unique.len()
    );
}
