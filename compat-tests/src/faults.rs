//! A cluster for fault tests: each node a `dqlite-compat-node` process
//! (killed with SIGKILL, restarted from its directory), each behind a TCP
//! proxy in this process (links between nodes cut and healed).
//!
//! Every node advertises its proxy's address, so clients and peers all
//! come through the proxies. A node dialing a peer sends
//! [`PEER_MAGIC`] and its own id first; the proxy reads those 16 bytes
//! and refuses (or cuts) connections from the nodes it is told to block.
//! Client connections always pass. A restarted node listens on a fresh
//! port: the proxy learns it from the `listening <address>` line the node
//! prints, so its advertised address never changes.

use std::collections::HashSet;
use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use dqlite_server::PEER_MAGIC;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// How long a proxy waits for the first bytes of a connection, and for
/// its backend to accept.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a started node may take to print the port it listens on.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(20);

/// What a proxy lets through.
#[derive(Default)]
struct Links {
    /// Where the node listens now; `None` while it is down.
    backend: Option<String>,
    /// Nodes whose peer connections are refused.
    blocked: HashSet<u64>,
    /// Relays of peer connections, with their sender.
    peers: Vec<(u64, AbortHandle)>,
}

fn lock(links: &Mutex<Links>) -> MutexGuard<'_, Links> {
    links.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A TCP proxy on `127.0.0.1:<free port>` in front of one node.
struct Proxy {
    address: String,
    links: Arc<Mutex<Links>>,
    accept: AbortHandle,
}

impl Proxy {
    /// Listens, relaying nowhere until [`set_backend`](Self::set_backend).
    fn start(runtime: &tokio::runtime::Runtime) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?.to_string();
        let links = Arc::new(Mutex::new(Links::default()));
        let shared = Arc::clone(&links);
        let listener = {
            let _entered = runtime.enter();
            TcpListener::from_std(listener)?
        };
        let accept = runtime
            .spawn(async move {
                loop {
                    match listener.accept().await {
                        Ok((stream, _)) => {
                            tokio::spawn(relay(stream, Arc::clone(&shared)));
                        }
                        // Out of file descriptors, say: try again shortly.
                        Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                    }
                }
            })
            .abort_handle();
        Ok(Self {
            address,
            links,
            accept,
        })
    }

    fn set_backend(&self, backend: Option<String>) {
        lock(&self.links).backend = backend;
    }

    /// Refuses peer connections from `senders` (cutting those open), and
    /// lets every other sender through.
    fn block(&self, senders: &[u64]) {
        let mut links = lock(&self.links);
        links.blocked = senders.iter().copied().collect();
        links.peers.retain(|(sender, relay)| {
            let cut = senders.contains(sender);
            if cut {
                relay.abort();
            }
            !cut && !relay.is_finished()
        });
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        for (_, relay) in lock(&self.links).peers.drain(..) {
            relay.abort();
        }
    }
}

/// Relays one accepted connection to the node, unless it is a peer
/// connection from a blocked node, or the node is down.
async fn relay(mut client: TcpStream, links: Arc<Mutex<Links>>) {
    let mut hello = [0u8; 16];
    let mut len = 8;
    let read = tokio::time::timeout(HELLO_TIMEOUT, client.read_exact(&mut hello[..8])).await;
    if !matches!(read, Ok(Ok(_))) {
        return;
    }
    let mut sender = None;
    if hello[..8] == PEER_MAGIC.to_le_bytes() {
        let read = tokio::time::timeout(HELLO_TIMEOUT, client.read_exact(&mut hello[8..])).await;
        if !matches!(read, Ok(Ok(_))) {
            return;
        }
        len = 16;
        let mut id = [0u8; 8];
        id.copy_from_slice(&hello[8..]);
        sender = Some(u64::from_le_bytes(id));
    }
    let backend = {
        let links = lock(&links);
        if sender.is_some_and(|id| links.blocked.contains(&id)) {
            return;
        }
        links.backend.clone()
    };
    let Some(backend) = backend else { return };
    let Ok(Ok(mut server)) =
        tokio::time::timeout(HELLO_TIMEOUT, TcpStream::connect(&backend)).await
    else {
        return;
    };
    let _ = server.set_nodelay(true);
    let _ = client.set_nodelay(true);
    if server.write_all(&hello[..len]).await.is_err() {
        return;
    }
    let copy = tokio::spawn(async move {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
    });
    if let Some(id) = sender {
        let mut links = lock(&links);
        // Blocked while this connection was being set up.
        if links.blocked.contains(&id) {
            copy.abort();
            return;
        }
        links.peers.retain(|(_, relay)| !relay.is_finished());
        links.peers.push((id, copy.abort_handle()));
    }
}

/// One node: its proxy, data directory, log file and process.
struct Slot {
    id: u64,
    proxy: Proxy,
    dir: tempfile::TempDir,
    log: PathBuf,
    child: Option<Child>,
}

/// Nodes 1..=n as `dqlite-compat-node` processes behind proxies: node 1
/// bootstraps the cluster, the others join it through node 1 (becoming
/// voters up to three). Logs go to `node-<id>.log` in the directory the
/// caller names. Every process still running is killed on drop.
pub struct FaultCluster {
    runtime: tokio::runtime::Runtime,
    binary: PathBuf,
    /// Further arguments of every node process (the TLS files, say).
    node_args: Vec<OsString>,
    slots: Vec<Slot>,
}

impl FaultCluster {
    /// Starts `nodes` processes of `binary`, logging into `log_dir`.
    /// Returns once each listens; the joins go on in the background (the
    /// test waits for the members it needs).
    ///
    /// # Panics
    ///
    /// If a proxy or a node cannot be started.
    pub fn start(binary: &Path, nodes: usize, log_dir: &Path) -> Self {
        Self::start_with_args(binary, nodes, log_dir, &[])
    }

    /// [`start`](Self::start), every node process (and every restart of
    /// one) getting `node_args` after the usual arguments, such as
    /// `--tls-cert` and `--tls-key`. Under TLS the proxies cannot read
    /// which node dials (that is inside the encrypted stream): they relay
    /// every connection, and `isolate` cuts nothing.
    ///
    /// # Panics
    ///
    /// If a proxy or a node cannot be started.
    pub fn start_with_args(
        binary: &Path,
        nodes: usize,
        log_dir: &Path,
        node_args: &[OsString],
    ) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("fault-proxy")
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let mut cluster = Self {
            runtime,
            binary: binary.to_owned(),
            node_args: node_args.to_vec(),
            slots: Vec::new(),
        };
        for i in 0..nodes {
            let id = u64::try_from(i + 1).expect("a node id");
            let proxy = Proxy::start(&cluster.runtime).expect("a proxy on 127.0.0.1:0");
            let dir = tempfile::Builder::new()
                .prefix(&format!("dqlite-faults-n{id}-"))
                .tempdir()
                .expect("a temporary data directory");
            cluster.slots.push(Slot {
                id,
                proxy,
                dir,
                log: log_dir.join(format!("node-{id}.log")),
                child: None,
            });
        }
        let seed = cluster.slots.first().map(|s| s.proxy.address.clone());
        for id in 1..=u64::try_from(nodes).expect("a node count") {
            let join = if id == 1 { None } else { seed.clone() };
            cluster
                .spawn(id, join.as_deref())
                .unwrap_or_else(|e| panic!("{e}"));
        }
        cluster
    }

    fn slot(&self, id: u64) -> Result<&Slot, String> {
        self.slots
            .iter()
            .find(|s| s.id == id)
            .ok_or_else(|| format!("no node {id} in this cluster"))
    }

    fn slot_mut(&mut self, id: u64) -> Result<&mut Slot, String> {
        self.slots
            .iter_mut()
            .find(|s| s.id == id)
            .ok_or_else(|| format!("no node {id} in this cluster"))
    }

    /// The advertised (proxy) addresses, node 1 first.
    pub fn addresses(&self) -> Vec<&str> {
        self.slots
            .iter()
            .map(|s| s.proxy.address.as_str())
            .collect()
    }

    /// Starts node `id`'s process on its directory (joining through `join`
    /// on its first start) and points its proxy at it; returns where it
    /// listens.
    fn spawn(&mut self, id: u64, join: Option<&str>) -> Result<String, String> {
        let binary = self.binary.clone();
        let node_args = self.node_args.clone();
        let slot = self.slot_mut(id)?;
        if slot.child.is_some() {
            return Err(format!("node {id} is running already"));
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&slot.log)
            .map_err(|e| format!("{}: {e}", slot.log.display()))?;
        let mut command = Command::new(&binary);
        command
            .arg("--id")
            .arg(id.to_string())
            .args(["--listen", "127.0.0.1:0", "--advertise"])
            .arg(&slot.proxy.address)
            .arg("--dir")
            .arg(slot.dir.path())
            // As LXD: writers queue behind each other instead of failing
            // at once with "database is locked".
            .args(["--busy-timeout", "5000"])
            // Snapshots every few dozen entries, each purging the whole
            // log: a node started again after a fault catches up by
            // snapshot install, and more snapshots (and log purges)
            // follow while the test runs.
            .args(["--snapshot-every", "32", "--snapshot-trailing", "0"])
            .env(
                "RUST_LOG",
                std::env::var("DQLITE_COMPAT_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .args(&node_args);
        if let Some(peer) = join {
            command.args(["--join", peer]);
        }
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next();
            let _ = tx.send(first);
            // Drain the rest, so that the node never blocks on a full pipe.
            for _ in lines {}
        });
        let line = match rx.recv_timeout(LISTEN_TIMEOUT) {
            Ok(Some(Ok(line))) => line,
            other => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "node {id} did not say where it listens within {LISTEN_TIMEOUT:?} ({other:?}); \
                     see {}",
                    slot.log.display()
                ));
            }
        };
        let Some(listening) = line.strip_prefix("listening ").map(str::to_owned) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "node {id} printed {line:?}, not `listening <address>`"
            ));
        };
        slot.proxy.set_backend(Some(listening.clone()));
        slot.child = Some(child);
        Ok(listening)
    }

    /// Kills node `id` with SIGKILL and waits for it; returns its pid.
    ///
    /// # Errors
    ///
    /// If it is not running.
    pub fn kill(&mut self, id: u64) -> Result<u32, String> {
        let slot = self.slot_mut(id)?;
        let mut child = slot
            .child
            .take()
            .ok_or_else(|| format!("node {id} is not running"))?;
        slot.proxy.set_backend(None);
        let pid = child.id();
        // `Child::kill` is SIGKILL on Unix.
        child
            .kill()
            .and_then(|()| child.wait())
            .map_err(|e| format!("killing node {id} (pid {pid}): {e}"))?;
        Ok(pid)
    }

    /// Starts node `id` again from its data directory, without joining
    /// (it is a member already).
    ///
    /// # Errors
    ///
    /// If it is running, or does not start.
    pub fn restart(&mut self, id: u64) -> Result<String, String> {
        self.spawn(id, None)
    }

    /// Cuts node `id` off from every other node, both ways; clients still
    /// reach every node.
    ///
    /// # Errors
    ///
    /// If there is no node `id`.
    pub fn isolate(&self, id: u64) -> Result<(), String> {
        self.slot(id)?;
        let others: Vec<u64> = self
            .slots
            .iter()
            .map(|s| s.id)
            .filter(|&o| o != id)
            .collect();
        for slot in &self.slots {
            if slot.id == id {
                slot.proxy.block(&others);
            } else {
                slot.proxy.block(&[id]);
            }
        }
        Ok(())
    }

    /// Lets every link through again.
    pub fn heal(&self) {
        for slot in &self.slots {
            slot.proxy.block(&[]);
        }
    }

    /// The nodes whose processes ended although this harness did not kill
    /// them (a crash of the server), with how they ended.
    pub fn exited(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        for slot in &mut self.slots {
            if let Some(child) = slot.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                let log = std::fs::read_to_string(&slot.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(2).collect();
                out.push(format!(
                    "node {} (pid {}) exited by itself: {status}; log {} ends with: {:?}",
                    slot.id,
                    child.id(),
                    slot.log.display(),
                    tail.into_iter().rev().collect::<Vec<_>>()
                ));
            }
        }
        out
    }

    /// How many times `needle` appears in the nodes' logs, all starts
    /// together.
    pub fn logged(&self, needle: &str) -> usize {
        self.slots
            .iter()
            .map(|slot| {
                std::fs::read_to_string(&slot.log)
                    .unwrap_or_default()
                    .matches(needle)
                    .count()
            })
            .sum()
    }

    /// Does what the Go test asks through `askHarness`, answering with a
    /// line for its log:
    ///
    /// - `kill <id>`: SIGKILL of node `id`'s process.
    /// - `start <id>`: starts it again from its directory.
    /// - `isolate <id>`: cuts its links to the other nodes, both ways.
    /// - `heal`: restores every link.
    ///
    /// Every step first checks that no node died by itself.
    ///
    /// # Errors
    ///
    /// An unknown step or node, a step that failed, or a node that died.
    pub fn handle(&mut self, step: &str, argument: &str) -> Result<String, String> {
        let exited = self.exited();
        if !exited.is_empty() {
            return Err(exited.join("; "));
        }
        let id = || {
            argument
                .parse::<u64>()
                .map_err(|e| format!("step {step}: {argument:?} is not a node id: {e}"))
        };
        match step {
            "kill" => {
                let id = id()?;
                let pid = self.kill(id)?;
                Ok(format!("killed node {id} (pid {pid}) with SIGKILL"))
            }
            "start" => {
                let id = id()?;
                let listening = self.restart(id)?;
                Ok(format!("node {id} started again, listening on {listening}"))
            }
            "isolate" => {
                let id = id()?;
                self.isolate(id)?;
                Ok(format!("node {id} cut off from the other nodes"))
            }
            "heal" => {
                self.heal();
                Ok("every link restored".into())
            }
            other => Err(format!("the fault harness knows no step {other:?}")),
        }
    }
}

impl Drop for FaultCluster {
    fn drop(&mut self) {
        for slot in &mut self.slots {
            if let Some(mut child) = slot.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        // Proxies first (they abort their tasks), then the runtime.
        let slots = std::mem::take(&mut self.slots);
        drop(slots);
    }
}

/// Environment variable naming the directory where a fault test writes
/// what explains a failure (node logs; the Go side's history and
/// porcupine's visualization).
pub const REPORT_DIR_ENV: &str = "DQLITE_REPORT_DIR";

/// Runs fault scenario `name` (e.g. `TestV3LinearizableUnderFaults`, from
/// `go/linearizability_test.go`) against a fresh three-node
/// [`FaultCluster`] of `node_binary` processes, with the Go tests built
/// into `out_dir`. The Go test gets the nodes' (proxy) addresses in
/// `DQLITE_CLUSTER`, a report directory in `DQLITE_REPORT_DIR` (under
/// `out_dir/faults/`, removed if the test passes, kept and named
/// otherwise) and asks for faults through files in `DQLITE_HANDSHAKE`
/// (see [`FaultCluster::handle`]). Prints the Go output; skips (or, with
/// `CI`, fails) without a Go toolchain.
///
/// # Panics
///
/// If the cluster does not start, a node dies without being killed, or
/// the Go test fails, does not run, or times out.
pub fn run_go_fault_test(out_dir: &str, name: &str, node_binary: &str) {
    let Some(binary) = crate::go_binary_or_skip(out_dir) else {
        return;
    };
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let report = Path::new(out_dir)
        .join("faults")
        .join(format!("{name}-{}-{stamp}", std::process::id()));
    std::fs::create_dir_all(&report)
        .unwrap_or_else(|e| panic!("creating {}: {e}", report.display()));
    let mut cluster = FaultCluster::start(Path::new(node_binary), 3, &report);
    eprintln!(
        "started 3 node processes behind proxies {:?}; logs and reports in {}",
        cluster.addresses(),
        report.display()
    );
    let env = [
        ("DQLITE_CLUSTER", cluster.addresses().join(",")),
        (REPORT_DIR_ENV, report.display().to_string()),
    ];
    let (out, elapsed) = crate::run_go_process(binary, name, &env, &mut |step, argument| {
        cluster.handle(step, argument)
    });
    let exited = cluster.exited();
    let installs = cluster.logged("installed a snapshot from the leader");
    drop(cluster);
    let passed = out.status.success() && exited.is_empty();
    eprintln!("{name}: {installs} snapshot installs on nodes started again after faults");
    if !passed {
        eprintln!(
            "FAILED: node logs, history and visualization (if any) are kept in {}",
            report.display()
        );
    }
    assert!(
        exited.is_empty(),
        "nodes died without being killed: {exited:?}\n{}",
        out.transcript()
    );
    crate::check_go_output(name, &out, elapsed);
    // The nodes take snapshots every 32 entries under the Go test's bulk
    // writes: a node started again after a fault comes back through a
    // snapshot install, and the history stays linearizable across it.
    assert!(
        installs > 0,
        "no node installed a snapshot: the faults did not exercise catch-up by snapshot"
    );
    let _ = std::fs::remove_dir_all(&report);
}
