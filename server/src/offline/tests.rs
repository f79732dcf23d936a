//! The offline operations against real data directories written by a
//! running node.

use std::path::Path;
use std::time::Duration;

use openraft::async_runtime::WatchReceiver;
use rusqlite::types::Value;

use super::*;
use crate::Node;
use crate::raft::log_file::LogFile;

const ADDRESS: &str = "node-1";

async fn start(dir: &Path) -> Node {
    // A snapshot purges the whole log behind it (what these tests read).
    Node::builder(1, ADDRESS, dir)
        .startup_timeout(Duration::from_secs(10))
        .snapshot_trailing(0)
        .start()
        .await
        .unwrap()
}

/// Writes `rows` rows to table `t` of database `app`.
async fn write(node: &Node, rows: std::ops::Range<i64>) {
    let s = node.session("app").await.unwrap();
    s.exec("CREATE TABLE IF NOT EXISTS t(i INTEGER)")
        .await
        .unwrap();
    for i in rows {
        s.exec(&format!("INSERT INTO t VALUES ({i})"))
            .await
            .unwrap();
    }
}

async fn rows(node: &Node) -> Vec<Vec<Value>> {
    let s = node.session("app").await.unwrap();
    s.query("SELECT i FROM t ORDER BY i").await.unwrap()
}

fn expected(rows: std::ops::Range<i64>) -> Vec<Vec<Value>> {
    rows.map(|i| vec![Value::Integer(i)]).collect()
}

/// `(last log index, its term)` and the snapshot's and purge point's log
/// ids as the node's metrics report them, once everything logged is
/// applied.
async fn settled(node: &Node) -> ((u64, u64), Option<(u64, u64)>, Option<(u64, u64)>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (last, applied, snapshot, purged) = {
            let metrics = node.raft().metrics();
            let m = metrics.borrow_watched();
            (m.last_log_index, m.last_applied, m.snapshot, m.purged)
        };
        let pair = |id: Option<crate::raft::typ::LogId>| id.map(|l| (l.index, l.leader_id.term));
        if let Some(applied) = applied
            && last == Some(applied.index)
        {
            return (
                (applied.index, applied.leader_id.term),
                pair(snapshot),
                pair(purged),
            );
        }
        assert!(tokio::time::Instant::now() < deadline, "never settled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn vote_term(dir: &Path) -> Option<u64> {
    crate::raft::log_store::OfflineLog::open_read_only(&dir.join(LOG_DIR))
        .unwrap()
        .vote()
        .unwrap()
        .map(|v| v.leader_id.term)
}

fn voter(id: u64) -> RecoverMember {
    RecoverMember {
        id,
        address: format!("node-{id}"),
        role: Role::Voter,
    }
}

fn is_config_error(result: Result<()>, words: &str) -> bool {
    matches!(result, Err(Error::Config(message)) if message.contains(words))
}

#[tokio::test]
async fn last_entry_of_an_empty_directory_is_zero() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(last_entry(dir.path()).unwrap(), (0, 0));
    // Still empty: nothing was created.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    assert!(matches!(
        last_entry(&dir.path().join("absent")),
        Err(Error::Config(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_entry_is_what_the_node_reported_when_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path()).await;
    write(&node, 0..20).await;
    let (last, _, _) = settled(&node).await;
    node.stop().await.unwrap();
    assert!(
        last.0 >= 21,
        "bootstrap, blank, table and 20 rows: {last:?}"
    );
    assert_eq!(last_entry(dir.path()).unwrap(), last);

    // A crash during an append leaves garbage after the last batch: it is
    // read as the log store keeps it, and the file is left alone.
    let log_dir = dir.path().join(LOG_DIR);
    let mut segments: Vec<_> = std::fs::read_dir(&log_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("log-"))
        .collect();
    segments.sort();
    let segment = segments.pop().unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    let end = bytes.iter().rposition(|&b| b != 0).unwrap() + 1;
    let torn_at = end.next_multiple_of(8) + 8;
    bytes[torn_at..torn_at + 5].copy_from_slice(b"DQLB\x07");
    std::fs::write(&segment, &bytes).unwrap();
    assert_eq!(last_entry(dir.path()).unwrap(), last);
    assert_eq!(std::fs::read(&segment).unwrap(), bytes, "read only");

    // The node agrees after its own repair.
    let node = start(dir.path()).await;
    assert_eq!(rows(&node).await, expected(0..20));
    node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_snapshot_and_purge_last_entry_is_the_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path()).await;
    write(&node, 0..10).await;
    let (last, _, _) = settled(&node).await;
    node.raft().trigger().snapshot().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let snapshot = loop {
        let (_, snapshot, purged) = settled(&node).await;
        if snapshot == Some(last) && purged == Some(last) {
            break snapshot.unwrap();
        }
        assert!(tokio::time::Instant::now() < deadline, "no snapshot");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    node.stop().await.unwrap();
    // Every record is purged: the log holds none.
    let log = LogFile::open_read_only(dir.path().join(LOG_DIR)).unwrap();
    assert_eq!(log.last_index(), None);
    drop(log);
    assert_eq!(last_entry(dir.path()).unwrap(), snapshot);

    // Without any log at all, the snapshot alone answers.
    std::fs::remove_dir_all(dir.path().join(LOG_DIR)).unwrap();
    assert_eq!(last_entry(dir.path()).unwrap(), snapshot);

    // And recovery goes on after the snapshot: the node starts with it,
    // leads, and has every row.
    recover(dir.path(), &[voter(1)]).unwrap();
    assert_eq!(
        last_entry(dir.path()).unwrap(),
        (snapshot.0 + 1, snapshot.1 + 1)
    );
    let node = start(dir.path()).await;
    assert!(node.is_leader());
    assert_eq!(rows(&node).await, expected(0..10));
    write(&node, 10..11).await;
    assert_eq!(rows(&node).await, expected(0..11));
    node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recover_appends_one_configuration_entry_past_the_log_and_the_vote() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path()).await;
    write(&node, 0..5).await;
    let (last, _, _) = settled(&node).await;
    node.stop().await.unwrap();
    let vote = vote_term(dir.path()).unwrap();
    assert_eq!(vote, last.1, "a sole voter votes in the term it logs in");

    let members = [
        voter(1),
        RecoverMember {
            id: 7,
            address: "node-7".into(),
            role: Role::StandBy,
        },
        RecoverMember {
            id: 9,
            address: "node-9".into(),
            role: Role::Spare,
        },
    ];
    recover(dir.path(), &members).unwrap();
    let term = last.1.max(vote) + 1;
    assert_eq!(last_entry(dir.path()).unwrap(), (last.0 + 1, term));
    assert_eq!(vote_term(dir.path()), Some(term));

    // The node starts with the forced configuration, leads in a later
    // term, and commits the entry with the rest.
    let node = start(dir.path()).await;
    assert!(node.is_leader());
    let members: Vec<_> = node
        .members()
        .into_iter()
        .map(|m| (m.id, m.address, m.role))
        .collect();
    assert_eq!(
        members,
        [
            (1, "node-1".to_owned(), Role::Voter),
            (7, "node-7".to_owned(), Role::StandBy),
            (9, "node-9".to_owned(), Role::Spare),
        ]
    );
    let (now, _, _) = settled(&node).await;
    assert!(now.0 > last.0 + 1 && now.1 > term, "{now:?}");
    assert_eq!(rows(&node).await, expected(0..5));
    node.stop().await.unwrap();

    // A second recovery goes past the first.
    let before = last_entry(dir.path()).unwrap();
    recover(dir.path(), &[voter(1)]).unwrap();
    let after = last_entry(dir.path()).unwrap();
    assert_eq!(after.0, before.0 + 1);
    assert!(after.1 > before.1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recover_refuses_bad_configurations_and_a_locked_directory() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path()).await;
    write(&node, 0..3).await;
    node.stop().await.unwrap();
    let last = last_entry(dir.path()).unwrap();
    let vote = vote_term(dir.path());

    let spare = RecoverMember {
        role: Role::Spare,
        ..voter(2)
    };
    let standby = RecoverMember {
        role: Role::StandBy,
        ..voter(3)
    };
    assert!(is_config_error(
        recover(dir.path(), &[]),
        "at least one voter"
    ));
    assert!(is_config_error(
        recover(dir.path(), &[spare.clone(), standby]),
        "at least one voter"
    ));
    assert!(is_config_error(
        recover(dir.path(), &[voter(1), voter(0)]),
        "id 0"
    ));
    assert!(is_config_error(
        recover(dir.path(), &[voter(1), spare, voter(1)]),
        "more than once"
    ));
    {
        // The lock a running node holds.
        let _held = lock_dir(dir.path()).unwrap();
        assert!(is_config_error(
            recover(dir.path(), &[voter(1)]),
            "couldn't lock"
        ));
    }
    assert!(is_config_error(
        recover(&dir.path().join("absent"), &[voter(1)]),
        "no data directory"
    ));
    let empty = tempfile::tempdir().unwrap();
    assert!(is_config_error(
        recover(empty.path(), &[voter(1)]),
        "nothing to recover"
    ));
    assert!(!empty.path().join(LOG_DIR).exists());

    // Nothing changed.
    assert_eq!(last_entry(dir.path()).unwrap(), last);
    assert_eq!(vote_term(dir.path()), vote);
    // The lock is released once recover returns.
    recover(dir.path(), &[voter(1)]).unwrap();
    drop(lock_dir(dir.path()).unwrap());
}
