//! The write load of the cluster fault tests: one client writing 1, 2,
//! 3… into table `t` of database "load", following the leader, recording
//! which writes were acknowledged (when, and by which node).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dqlite_protocol::request::{Open, Request};
use dqlite_protocol::response::Response;
use tokio::net::TcpStream;

use crate::process::{dial, exec, leader, request};

/// One acknowledged write: when, and by which node.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ack {
    pub(crate) at: Instant,
    pub(crate) node: usize,
}

/// A write load's shared state: what was acknowledged, and the controls.
#[derive(Default)]
pub(crate) struct Load {
    pub(crate) acked: Mutex<BTreeMap<u64, Ack>>,
    paused: AtomicBool,
    /// Set by the writer while it idles, paused: no write is in flight.
    idle: AtomicBool,
    pub(crate) stop: AtomicBool,
}

impl Load {
    /// Pauses the writer and waits (bounded) until no write is in flight.
    pub(crate) async fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.idle.load(Ordering::SeqCst) {
            assert!(Instant::now() < deadline, "the writer did not pause");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub(crate) fn resume(&self) {
        self.idle.store(false, Ordering::SeqCst);
        self.paused.store(false, Ordering::SeqCst);
    }

    /// How many writes were acknowledged so far.
    pub(crate) fn acked_count(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    /// Waits until 20 more writes than `before` are acknowledged: writes
    /// resumed. Fails after `within`.
    pub(crate) async fn resumed_after(&self, before: usize, within: Duration) {
        let deadline = Instant::now() + within;
        while self.acked_count() < before + 20 {
            assert!(Instant::now() < deadline, "writes did not resume");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(crate) fn acks_after(&self, t: Instant, not_by: usize) -> Vec<Ack> {
        self.acked
            .lock()
            .unwrap()
            .values()
            .filter(|a| a.at > t && a.node != not_by)
            .copied()
            .collect()
    }
}

/// The leader's index and a connection with "load" open on it.
pub(crate) async fn open_on_leader(addresses: &[String]) -> Option<(usize, TcpStream)> {
    let i = leader(addresses).await?;
    let mut stream = dial(&addresses[i]).await?;
    let open = Request::from(Open {
        name: "load".into(),
        flags: 0,
        vfs: "volatile".into(),
    });
    match request(&mut stream, &open).await? {
        Response::Db(_) => Some((i, stream)),
        _ => None,
    }
}

/// The client: writes 1, 2, 3… one at a time, following the leader and
/// recording which were acknowledged, until told to stop; idles while
/// paused. Returns the last value sent.
pub(crate) async fn write_load(addresses: Vec<String>, load: Arc<Load>) -> u64 {
    let mut next = 0u64;
    let mut conn: Option<(usize, TcpStream)> = None;
    while !load.stop.load(Ordering::SeqCst) {
        if load.paused.load(Ordering::SeqCst) {
            load.idle.store(true, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        let Some((node, stream)) = conn.as_mut() else {
            conn = open_on_leader(&addresses).await;
            if conn.is_none() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            continue;
        };
        next += 1;
        let insert = exec(format!("INSERT INTO t VALUES ({next})"));
        match tokio::time::timeout(Duration::from_secs(5), request(stream, &insert)).await {
            Ok(Some(Response::Result(_))) => {
                let ack = Ack {
                    at: Instant::now(),
                    node: *node,
                };
                load.acked.lock().unwrap().insert(next, ack);
            }
            // Not leader, leadership lost, connection gone, no answer: the
            // write's fate is unknown; find the leader again.
            _ => conn = None,
        }
    }
    next
}

/// A second writer that keeps the database a few MB large (blobs added,
/// old ones deleted), so that snapshots take a while to send and install.
pub(crate) async fn bulk_load(addresses: Vec<String>, stop: Arc<AtomicBool>, done: Arc<AtomicU64>) {
    let mut conn = None;
    while !stop.load(Ordering::SeqCst) {
        let Some(stream) = conn.as_mut() else {
            conn = match crate::process::leader(&addresses).await {
                Some(i) => match dial(&addresses[i]).await {
                    Some(mut s) => {
                        let open = Request::from(Open {
                            name: "bulk".into(),
                            flags: 0,
                            vfs: "volatile".into(),
                        });
                        match request(&mut s, &open).await {
                            Some(Response::Db(_)) => Some(s),
                            _ => None,
                        }
                    }
                    None => None,
                },
                None => None,
            };
            if conn.is_none() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            continue;
        };
        let statements = [
            "CREATE TABLE IF NOT EXISTS pad(b BLOB)",
            "INSERT INTO pad VALUES (randomblob(8192))",
            "DELETE FROM pad WHERE rowid < (SELECT max(rowid) FROM pad) - 60",
        ];
        for sql in statements {
            match tokio::time::timeout(Duration::from_secs(5), request(stream, &exec(sql.into())))
                .await
            {
                Ok(Some(Response::Result(_))) => {
                    done.fetch_add(1, Ordering::Relaxed);
                }
                _ => {
                    conn = None;
                    break;
                }
            }
        }
    }
}

/// A stop flag for the bulk writer that follows the load's.
pub(crate) fn load_stop(load: &Arc<Load>) -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let (load, out) = (load.clone(), flag.clone());
    tokio::spawn(async move {
        while !load.stop.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        out.store(true, Ordering::SeqCst);
    });
    flag
}

/// Checks a database image taken after the load stopped: every write the
/// load saw acknowledged is in table `t` exactly once, and nothing beyond
/// the last value `sent`. Returns how many rows it holds.
pub(crate) fn check_image(image: &[u8], load: &Load, sent: u64) -> usize {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), image).unwrap();
    let conn = rusqlite::Connection::open(file.path()).unwrap();
    let mut stmt = conn.prepare("SELECT i FROM t").unwrap();
    let present: Vec<u64> = stmt
        .query_map([], |r| r.get::<_, i64>(0))
        .unwrap()
        .map(|i| u64::try_from(i.unwrap()).unwrap())
        .collect();
    let unique: std::collections::BTreeSet<u64> = present.iter().copied().collect();
    assert_eq!(unique.len(), present.len(), "a write is present twice");
    let acked = load.acked.lock().unwrap();
    let missing: Vec<_> = acked.keys().filter(|i| !unique.contains(i)).collect();
    assert!(missing.is_empty(), "acknowledged writes lost: {missing:?}");
    assert!(unique.iter().all(|i| *i <= sent), "a write nobody sent");
    unique.len()
}

/// How many times `needle` appears in the files at `logs`.
pub(crate) fn count_logged<'a>(
    logs: impl IntoIterator<Item = &'a std::path::PathBuf>,
    needle: &str,
) -> usize {
    logs.into_iter()
        .map(|log| {
            std::fs::read_to_string(log)
                .unwrap_or_default()
                .matches(needle)
                .count()
        })
        .sum()
}

/// The log line of a node that installed a snapshot from the leader.
pub(crate) const INSTALLED: &str = "installed a snapshot from the leader";
