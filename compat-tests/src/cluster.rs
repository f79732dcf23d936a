//! Several of our nodes in this process, joined into one cluster, for the
//! Go scenarios that need a real cluster (`go/cluster_test.go`).

use std::time::{Duration, Instant};

use dqlite_server::Node;
use dqlite_server::net::Limits;

use crate::{SERVER_TIMEOUT, init_logging};

/// Limit for one node to join, and for the members to agree afterwards.
const JOIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Limit for the nodes to elect a leader, and for followers to catch up.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(20);

/// Voters the cluster grows to before new nodes become stand-bys (as
/// `Node::join` does).
const WANTED_VOTERS: usize = 3;

/// Our nodes 1..=n on `127.0.0.1:<free port>` each, with their own
/// temporary data directories: nodes 1..=`joined` form one cluster (node 1
/// bootstraps it, the others [`Node::join`] it in turn, becoming voters up
/// to three), the rest run without being members, for a test to add them.
/// Every node is stopped on drop.
///
/// The nodes run on threads of their own; the cluster keeps a
/// current-thread runtime only to start, stop and inspect them.
pub struct Cluster {
    runtime: tokio::runtime::Runtime,
    slots: Vec<Slot>,
    joined: usize,
}

struct Slot {
    address: String,
    node: Option<Node>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts `joined + extra` nodes and joins the first `joined` into a
    /// cluster; returns once every member lists all `joined` of them with
    /// their roles (the first three voters, then stand-bys).
    ///
    /// # Panics
    ///
    /// If `joined` is 0, or a node does not start, join or settle in time.
    pub fn start(joined: usize, extra: usize) -> Self {
        assert!(joined > 0, "a cluster needs at least one member");
        init_logging();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let mut cluster = Self {
            runtime,
            slots: Vec::new(),
            joined,
        };
        for i in 0..joined + extra {
            let id = u64::try_from(i + 1).expect("a node id");
            let dir = tempfile::Builder::new()
                .prefix(&format!("dqlite-compat-n{id}-"))
                .tempdir()
                .expect("a temporary data directory");
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
            let address = listener.local_addr().expect("local address").to_string();
            let node = cluster.runtime.block_on(async {
                tokio::time::timeout(
                    SERVER_TIMEOUT,
                    Node::builder(id, address.clone(), dir.path())
                        .serve(listener, Limits::default())
                        .start(),
                )
                .await
                .unwrap_or_else(|_| panic!("node {id} starts within {SERVER_TIMEOUT:?}"))
                .unwrap_or_else(|e| panic!("node {id} starts: {e}"))
            });
            // Pushed before joining, so that a failure stops it too.
            cluster.slots.push(Slot {
                address,
                node: Some(node),
                _dir: dir,
            });
            if i > 0 && i < joined {
                cluster.join(id);
            }
        }
        cluster.wait_settled();
        cluster
    }

    fn slot(&self, id: u64) -> &Slot {
        usize::try_from(id)
            .ok()
            .and_then(|id| id.checked_sub(1))
            .and_then(|i| self.slots.get(i))
            .unwrap_or_else(|| panic!("no node {id} in this cluster"))
    }

    /// Joins node `id` to the cluster through node 1.
    fn join(&self, id: u64) {
        let node = self.node(id).expect("a running node");
        let peers = [self.address(1).to_owned()];
        let joined = self.runtime.block_on(async {
            tokio::time::timeout(JOIN_TIMEOUT + Duration::from_secs(5), async {
                node.join(&peers, JOIN_TIMEOUT).await
            })
            .await
        });
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("node {id} did not join the cluster: {e}"),
            Err(_) => panic!("node {id} did not join the cluster within {JOIN_TIMEOUT:?}"),
        }
    }

    /// Waits until every running member lists exactly the members
    /// 1..=`joined`, the first three of them voters.
    fn wait_settled(&self) {
        let deadline = Instant::now() + JOIN_TIMEOUT;
        let expected = |members: &[dqlite_server::Member]| {
            members.len() == self.joined
                && members.iter().enumerate().all(|(i, m)| {
                    m.id == u64::try_from(i + 1).unwrap_or(0)
                        && m.address == self.slots[i].address
                        && m.is_voter() == (i < WANTED_VOTERS)
                })
        };
        loop {
            let views: Vec<(u64, Vec<dqlite_server::Member>)> = self
                .members_ids()
                .filter_map(|id| self.node(id).map(|n| (id, n.members())))
                .collect();
            if views.iter().all(|(_, members)| expected(members)) && self.leader().is_some() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster did not settle within {JOIN_TIMEOUT:?}: members as each node sees \
                 them: {views:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Ids of the members (running or not): 1..=`joined`.
    fn members_ids(&self) -> std::ops::RangeInclusive<u64> {
        1..=u64::try_from(self.joined).expect("a node id")
    }

    /// Node `id`, unless stopped.
    pub fn node(&self, id: u64) -> Option<&Node> {
        self.slot(id).node.as_ref()
    }

    /// The address of node `id` (also after it stopped).
    pub fn address(&self, id: u64) -> &str {
        &self.slot(id).address
    }

    /// The members' addresses, node 1 first: the value of
    /// `DQLITE_CLUSTER` (comma-separated).
    pub fn addresses(&self) -> Vec<&str> {
        self.slots[..self.joined]
            .iter()
            .map(|s| s.address.as_str())
            .collect()
    }

    /// The addresses of the nodes that run without being members, by id.
    pub fn extra_addresses(&self) -> Vec<&str> {
        self.slots[self.joined..]
            .iter()
            .map(|s| s.address.as_str())
            .collect()
    }

    /// The running member that considers itself leader now, if any.
    pub fn leader(&self) -> Option<u64> {
        self.members_ids()
            .find(|&id| self.node(id).is_some_and(Node::is_leader))
    }

    /// Waits (bounded) for a running member to lead.
    ///
    /// # Panics
    ///
    /// If none does within 20 s.
    pub fn wait_leader(&self) -> u64 {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        loop {
            if let Some(id) = self.leader() {
                return id;
            }
            assert!(
                Instant::now() < deadline,
                "no leader among the running nodes within {SETTLE_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops node `id` (closing its port) without handing leadership over,
    /// as if it crashed; bounded by 30 s.
    ///
    /// # Errors
    ///
    /// If it is not running, or does not stop cleanly in time.
    pub fn stop(&mut self, id: u64) -> Result<(), String> {
        let i = usize::try_from(id - 1).map_err(|e| e.to_string())?;
        let node = self
            .slots
            .get_mut(i)
            .and_then(|s| s.node.take())
            .ok_or_else(|| format!("node {id} is not running"))?;
        let stopped = self
            .runtime
            .block_on(async { tokio::time::timeout(SERVER_TIMEOUT, node.stop()).await });
        match stopped {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("node {id} did not stop cleanly: {e}")),
            Err(_) => Err(format!("node {id} did not stop within {SERVER_TIMEOUT:?}")),
        }
    }

    /// Every running member's image of database `db` once they are all
    /// present and byte-identical (waiting, bounded, for followers to catch
    /// up); returns how many nodes agree and the image's size.
    ///
    /// # Errors
    ///
    /// If they do not agree within 20 s.
    pub fn converged(&self, db: &str) -> Result<(usize, usize), String> {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        loop {
            let mut images = Vec::new();
            let mut missing = Vec::new();
            let mut failed = Vec::new();
            for id in self.members_ids() {
                let Some(node) = self.node(id) else { continue };
                if !node.has_database(db) {
                    missing.push(id);
                    continue;
                }
                let image = self.runtime.block_on(async {
                    tokio::time::timeout(SERVER_TIMEOUT, async {
                        node.session(db).await?.dump().await
                    })
                    .await
                });
                match image {
                    Ok(Ok(image)) => images.push((id, image)),
                    Ok(Err(e)) => failed.push(format!("node {id}: {e}")),
                    Err(_) => failed.push(format!("node {id}: dump timed out")),
                }
            }
            if missing.is_empty()
                && failed.is_empty()
                && images.windows(2).all(|w| w[0].1 == w[1].1)
            {
                let size = images.first().map_or(0, |(_, image)| image.len());
                return Ok((images.len(), size));
            }
            if Instant::now() >= deadline {
                let sizes: Vec<String> = images
                    .iter()
                    .map(|(id, image)| format!("node {id}: {} bytes", image.len()))
                    .collect();
                return Err(format!(
                    "the running nodes' images of {db:?} did not become identical within \
                     {SETTLE_TIMEOUT:?}: without it: {missing:?}; errors: {failed:?}; images: \
                     {sizes:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Does what a Go scenario asks through `askHarness` (see
    /// [`run_go_cluster_test`](crate::run_go_cluster_test)), answering with
    /// a line for it:
    ///
    /// - `stop-leader`: stops the current leader (see [`stop`](Self::stop));
    ///   answers with its address.
    /// - `converged` with a database name: waits until every running member
    ///   holds an identical image of it (see [`converged`](Self::converged)).
    ///
    /// # Errors
    ///
    /// An unknown step, or the step failed.
    pub fn handle(&mut self, step: &str, argument: &str) -> Result<String, String> {
        match step {
            "stop-leader" => {
                let id = self.wait_leader();
                let address = self.address(id).to_owned();
                let started = Instant::now();
                self.stop(id)?;
                eprintln!(
                    "stopped the leader, node {id} at {address}, in {:.1?}",
                    started.elapsed()
                );
                Ok(address)
            }
            "converged" => {
                let (nodes, size) = self.converged(argument)?;
                Ok(format!(
                    "{nodes} nodes hold identical {size}-byte images of {argument}"
                ))
            }
            other => Err(format!("the harness knows no step {other:?}")),
        }
    }
}

impl Drop for Cluster {
    /// Stops every running node, all at once, bounded by 30 s.
    fn drop(&mut self) {
        let nodes: Vec<(usize, Node)> = self
            .slots
            .iter_mut()
            .enumerate()
            .filter_map(|(i, s)| s.node.take().map(|n| (i + 1, n)))
            .collect();
        let results = self.runtime.block_on(async {
            let tasks: Vec<_> = nodes
                .into_iter()
                .map(|(id, node)| {
                    (
                        id,
                        tokio::spawn(async move {
                            tokio::time::timeout(SERVER_TIMEOUT, node.stop()).await
                        }),
                    )
                })
                .collect();
            let mut results = Vec::new();
            for (id, task) in tasks {
                results.push((id, task.await));
            }
            results
        });
        for (id, result) in results {
            if !matches!(result, Ok(Ok(Ok(())))) && !std::thread::panicking() {
                eprintln!("warning: node {id} did not stop cleanly: {result:?}");
            }
        }
    }
}
