//! openraft's storage conformance suite against our log store and state
//! machine, each on a fresh directory and a fresh VFS; then a restart test
//! of the Frames path.

use std::sync::atomic::{AtomicUsize, Ordering};

use openraft::testing::log::{StoreBuilder, Suite};
use openraft::type_config::TypeConfigExt;

use super::log_store::LogStore;
use super::state_machine::StateMachine;
use super::typ::{StorageError, TypeConfig};
use crate::vfs::Vfs;

/// A VFS (of a unique name: registration is process-wide) keeping its
/// databases in `dir`.
fn vfs_at(dir: &std::path::Path) -> Vfs {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    Vfs::register(&format!("raft-test-{n}"), dir).unwrap()
}

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for Builder {
    async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError> {
        let dir = tempfile::tempdir().unwrap();
        let log = LogStore::open(dir.path().join("log")).unwrap();
        let sm = StateMachine::open(
            1,
            vfs_at(&dir.path().join("db")),
            crate::sql::SqlLock::default(),
            dir.path().join("sm"),
        )
        .await
        .unwrap();
        Ok((dir, log, sm))
    }
}

#[test]
fn openraft_storage_suite() {
    TypeConfig::run(async {
        Suite::test_all(Builder).await.unwrap();
    });
}

mod frames {
    use futures_util::stream;
    use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
    use openraft::{EntryPayload, testing};
    use rusqlite::Connection;

    use super::*;
    use crate::raft::typ::{Command, Entry};

    fn rows(conn: &Connection) -> Vec<(i64, String)> {
        let mut stmt = conn.prepare("SELECT r, d FROM t ORDER BY rowid").unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn entry(index: u64, command: Command) -> Entry {
        Entry {
            log_id: testing::log_id::<TypeConfig>(1, 1, index),
            payload: EntryPayload::Normal(command),
        }
    }

    async fn apply(sm: &mut StateMachine, entries: Vec<Entry>) {
        sm.apply(stream::iter(entries.into_iter().map(|e| Ok((e, None)))))
            .await
            .unwrap();
    }

    /// Node `id`'s databases and state machine in `root/<id>`, opened
    /// (again) from what that directory holds.
    async fn node(root: &std::path::Path, id: u64) -> (Vfs, StateMachine) {
        let dir = root.join(id.to_string());
        let vfs = vfs_at(&dir.join("db"));
        let sm = StateMachine::open(id, vfs, crate::sql::SqlLock::default(), dir)
            .await
            .unwrap();
        (vfs, sm)
    }

    /// Runs `sql` on node 1's connection and returns the entry it becomes.
    fn capture(vfs: &Vfs, conn: &Connection, index: u64, sql: &str) -> Entry {
        conn.execute_batch(sql).unwrap();
        let frames = vfs
            .frames_after("db", None)
            .unwrap()
            .pop()
            .expect("pending transaction");
        entry(
            index,
            Command::Frames {
                db: "db".into(),
                origin: 1,
                frames,
            },
        )
    }

    #[test]
    fn entries_publish_on_the_origin_and_apply_elsewhere_and_snapshots_restore() {
        TypeConfig::run(async {
            let dir = tempfile::tempdir().unwrap();
            let (leader_vfs, mut leader) = node(dir.path(), 1).await;
            let (follower_vfs, mut follower) = node(dir.path(), 2).await;
            let writer = leader_vfs.open("db").unwrap();
            let reader = leader_vfs.open("db").unwrap();

            let e1 = capture(&leader_vfs, &writer, 1, "CREATE TABLE t(r, d)");
            apply(&mut leader, vec![e1.clone()]).await;
            apply(&mut follower, vec![e1]).await;
            let e2 = capture(
                &leader_vfs,
                &writer,
                2,
                "INSERT INTO t VALUES (random(), datetime('now')), (random(), 'x')",
            );
            assert_eq!(rows(&reader).len(), 2, "pending, visible on its node");
            let ticket = leader_vfs.last_tx("db").unwrap().expect("pending");
            apply(&mut leader, vec![e2.clone()]).await;
            apply(&mut follower, vec![e2]).await;
            assert_eq!(ticket.state(), crate::vfs::TxState::Committed);
            assert!(
                leader_vfs.frames_after("db", None).unwrap().is_empty(),
                "published, not re-applied"
            );
            let expected = rows(&reader);
            assert_eq!(expected.len(), 2);
            assert_eq!(rows(&follower_vfs.open("db").unwrap()), expected);

            // A snapshot of the leader installs on a fresh node ...
            let snapshot = leader
                .get_snapshot_builder()
                .await
                .build_snapshot()
                .await
                .unwrap();
            assert_eq!(snapshot.meta.last_log_id.as_ref().map(|l| l.index), Some(2));
            let (fresh_vfs_3, mut third) = node(dir.path(), 3).await;
            third
                .install_snapshot(&snapshot.meta, snapshot.snapshot)
                .await
                .unwrap();
            assert_eq!(rows(&fresh_vfs_3.open("db").unwrap()), expected);
            drop(third);

            // ... and survives a restart of that node, on new memory.
            let (restarted_vfs, mut restarted) = node(dir.path(), 3).await;
            let (applied, _) = restarted.applied_state().await.unwrap();
            assert_eq!(applied.map(|l| l.index), Some(2));
            assert_eq!(rows(&restarted_vfs.open("db").unwrap()), expected);

            // The leader goes on past its durable point, and its file
            // with it (a fold written to disk overwrites pages) ...
            let e3 = capture(
                &leader_vfs,
                &writer,
                3,
                "BEGIN; UPDATE t SET d = 'changed'; INSERT INTO t VALUES (3, 'y'); COMMIT",
            );
            apply(&mut leader, vec![e3.clone()]).await;
            let expected3 = rows(&reader);
            assert_ne!(expected3, expected);
            assert!(leader_vfs.checkpoint_if_over("db", 1).unwrap().is_some());
            let timeout = std::time::Duration::from_secs(30);
            assert!(leader_vfs.wait_written("db", timeout).unwrap());
            assert!(dir.path().join("1/db/1.undo").exists(), "blocks saved");
            drop((writer, reader));
            // ... and a restart finds the durable point again (the undo
            // file puts the overwritten blocks back), on which the log
            // after it applies: its page changes match their base.
            let (again_vfs, mut again) = node(dir.path(), 1).await;
            let (applied, _) = again.applied_state().await.unwrap();
            assert_eq!(applied.map(|l| l.index), Some(2));
            assert_eq!(rows(&again_vfs.open("db").unwrap()), expected);
            apply(&mut again, vec![e3]).await;
            assert_eq!(rows(&again_vfs.open("db").unwrap()), expected3);
        });
    }
}

mod log_store_persistence {
    use openraft::storage::{IOFlushed, RaftLogStorage};
    use openraft::{RaftLogReader, testing};

    use super::*;
    use crate::raft::typ::Vote;

    #[test]
    fn a_purge_interrupted_by_a_crash_is_completed_at_open() {
        // Found by the chaos test: the purged id was on disk, the entries
        // up to it not yet dropped when the node was killed; openraft then
        // refused to start ("inverted log order").
        TypeConfig::run(async {
            let dir = tempfile::tempdir().unwrap();
            {
                let mut store = LogStore::open(dir.path()).unwrap();
                let entries: Vec<_> = (1..=10)
                    .map(|i| testing::blank_ent::<TypeConfig>(2, 1, i))
                    .collect();
                store.append(entries, IOFlushed::noop()).await.unwrap();
            }
            // Only Raft's half of a purge through 14 (a snapshot ahead).
            let mut file = crate::raft::log_file::LogFile::open(dir.path()).unwrap();
            let purged = testing::log_id::<TypeConfig>(2, 1, 14);
            file.set_meta("raft.purged", &postcard::to_allocvec(&purged).unwrap())
                .unwrap();
            drop(file);
            let mut store = LogStore::open(dir.path()).unwrap();
            let state = store.get_log_state().await.unwrap();
            assert_eq!(state.last_purged_log_id, Some(purged));
            assert_eq!(state.last_log_id, Some(purged));
            assert!(store.try_get_log_entries(0..100).await.unwrap().is_empty());
            // And the log goes on after it.
            store
                .append(
                    vec![testing::blank_ent::<TypeConfig>(3, 1, 15)],
                    IOFlushed::noop(),
                )
                .await
                .unwrap();
        });
    }

    #[test]
    fn entries_vote_committed_and_purge_survive_reopening() {
        TypeConfig::run(async {
            let dir = tempfile::tempdir().unwrap();
            let entries: Vec<_> = (1..=10)
                .map(|i| testing::blank_ent::<TypeConfig>(2, 1, i))
                .collect();
            {
                let mut store = LogStore::open(dir.path()).unwrap();
                store
                    .append(entries.clone(), IOFlushed::noop())
                    .await
                    .unwrap();
                store.save_vote(&Vote::new(2, 1)).await.unwrap();
                store
                    .save_committed(Some(testing::log_id::<TypeConfig>(2, 1, 8)))
                    .await
                    .unwrap();
                store
                    .purge(testing::log_id::<TypeConfig>(2, 1, 3))
                    .await
                    .unwrap();
            }
            let mut store = LogStore::open(dir.path()).unwrap();
            let state = store.get_log_state().await.unwrap();
            assert_eq!(state.last_purged_log_id.map(|l| l.index), Some(3));
            assert_eq!(state.last_log_id.map(|l| l.index), Some(10));
            assert_eq!(store.read_vote().await.unwrap(), Some(Vote::new(2, 1)));
            assert_eq!(
                store.read_committed().await.unwrap().map(|l| l.index),
                Some(8)
            );
            assert_eq!(
                store.try_get_log_entries(0..100).await.unwrap(),
                entries[3..].to_vec()
            );
            // Ranges read back from the file, then partly from the cache
            // of entries appended since.
            assert_eq!(
                store.try_get_log_entries(5..6).await.unwrap(),
                entries[4..5].to_vec()
            );
            assert_eq!(
                store.try_get_log_entries(5..=7).await.unwrap(),
                entries[4..7].to_vec()
            );
            let more: Vec<_> = (11..=12)
                .map(|i| testing::blank_ent::<TypeConfig>(2, 1, i))
                .collect();
            let (tx, rx) = TypeConfig::oneshot();
            store
                .append(more.clone(), IOFlushed::signal(tx))
                .await
                .unwrap();
            rx.await.unwrap().unwrap();
            let mut expected = entries[8..].to_vec();
            expected.extend(more);
            assert_eq!(store.try_get_log_entries(9..=12).await.unwrap(), expected);
            assert_eq!(
                store.try_get_log_entries(9..10).await.unwrap(),
                expected[..1]
            );
        });
    }

    /// A leader can record an entry as committed (a quorum of the others
    /// has it) that its own log lost (a failed write, a crash before the
    /// write): openraft could not start on such a hint.
    #[test]
    fn a_committed_hint_ahead_of_the_log_is_ignored() {
        TypeConfig::run(async {
            let dir = tempfile::tempdir().unwrap();
            let entries: Vec<_> = (1..=5)
                .map(|i| testing::blank_ent::<TypeConfig>(2, 1, i))
                .collect();
            let reopened = |hint| {
                let path = dir.path().to_owned();
                async move {
                    let mut store = LogStore::open(&path).unwrap();
                    store.save_committed(Some(hint)).await.unwrap();
                    drop(store);
                    LogStore::open(&path)
                        .unwrap()
                        .read_committed()
                        .await
                        .unwrap()
                }
            };
            {
                let mut store = LogStore::open(dir.path()).unwrap();
                store.append(entries, IOFlushed::noop()).await.unwrap();
            }
            let held = testing::log_id::<TypeConfig>(2, 1, 5);
            assert_eq!(reopened(held).await, Some(held));
            // Past the end, and an entry of another term at that index.
            assert_eq!(reopened(testing::log_id::<TypeConfig>(2, 1, 6)).await, None);
            assert_eq!(reopened(testing::log_id::<TypeConfig>(3, 1, 5)).await, None);
            // Purged entries are in a snapshot.
            {
                let mut store = LogStore::open(dir.path()).unwrap();
                store
                    .purge(testing::log_id::<TypeConfig>(2, 1, 3))
                    .await
                    .unwrap();
            }
            let purged = testing::log_id::<TypeConfig>(2, 1, 2);
            assert_eq!(reopened(purged).await, Some(purged));
        });
    }
}
