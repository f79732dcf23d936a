//! A cluster of Debian's `dqlite-demo` processes (go-dqlite's `app`
//! package embedding a dqlite library through cgo), optionally loading a
//! `libdqlite.so.0` other than the system's: the drop-in test of our
//! C-ABI library (`server/capi`).
//!
//! Each node is `dqlite-demo --api <http> --db <dqlite> --dir <dir>`
//! (`--join` the first node's dqlite address for the others); its HTTP API
//! stores a value with `PUT /key` and reads it with `GET /key`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::c_server::leader_of;

/// Limit for one HTTP exchange.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// Limit for a node to answer HTTP after it starts.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Limit for a node to exit after SIGTERM (it hands its roles over first).
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

/// One `dqlite-demo` node.
pub struct DemoNode {
    /// HTTP API address.
    pub api: SocketAddr,
    /// dqlite address (client and Raft traffic).
    pub db: SocketAddr,
    dir: PathBuf,
    log: PathBuf,
    join: Option<SocketAddr>,
    child: Option<Child>,
    starts: usize,
}

/// Several `dqlite-demo` nodes sharing a base directory.
pub struct DemoCluster {
    demo: PathBuf,
    library_dir: Option<PathBuf>,
    base: tempfile::TempDir,
    /// The nodes, in start order (the first bootstraps the cluster).
    pub nodes: Vec<DemoNode>,
}

impl DemoCluster {
    /// An empty cluster running `demo`; with `library_dir`, every node
    /// loads `libdqlite.so.0` from there (`LD_LIBRARY_PATH`).
    pub fn new(demo: &Path, library_dir: Option<&Path>) -> Self {
        DemoCluster {
            demo: demo.to_owned(),
            library_dir: library_dir.map(Path::to_owned),
            base: tempfile::Builder::new()
                .prefix("dqlite-demo-cluster-")
                .tempdir()
                .expect("a temporary directory"),
            nodes: Vec::new(),
        }
    }

    /// Adds and starts a node (joining the first one unless it is the
    /// first) and waits until its HTTP API answers. Returns its index.
    pub fn add(&mut self) -> Result<usize, String> {
        let index = self.nodes.len();
        let (api, db) = (free_port(), free_port());
        let dir = self.base.path().join(format!("node{index}"));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        self.nodes.push(DemoNode {
            api,
            db,
            log: self.base.path().join(format!("node{index}.log")),
            dir,
            join: self.nodes.first().map(|n| n.db),
            child: None,
            starts: 0,
        });
        self.start(index)?;
        Ok(index)
    }

    /// (Re)starts node `index` with its original arguments and waits until
    /// its HTTP API answers.
    pub fn start(&mut self, index: usize) -> Result<(), String> {
        self.spawn(index)?;
        self.wait_ready(index)
    }

    /// (Re)starts node `index` with its original arguments, without
    /// waiting (a node of a stopped cluster gets ready only once a quorum
    /// runs).
    pub fn spawn(&mut self, index: usize) -> Result<(), String> {
        let node = &mut self.nodes[index];
        let mut command = Command::new(&self.demo);
        command
            .arg("--api")
            .arg(node.api.to_string())
            .arg("--db")
            .arg(node.db.to_string())
            .arg("--dir")
            .arg(&node.dir)
            .stdin(Stdio::null());
        if let Some(join) = node.join {
            command.arg("--join").arg(join.to_string());
        }
        if let Some(dir) = &self.library_dir {
            command.env("LD_LIBRARY_PATH", dir);
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)
            .map_err(|e| e.to_string())?;
        let stderr = log.try_clone().map_err(|e| e.to_string())?;
        command.stdout(log).stderr(stderr);
        node.child = Some(
            command
                .spawn()
                .map_err(|e| format!("cannot run dqlite-demo: {e}"))?,
        );
        node.starts += 1;
        Ok(())
    }

    /// Waits until node `index` answers HTTP (or fails if it exits).
    pub fn wait_ready(&mut self, index: usize) -> Result<(), String> {
        let node = &mut self.nodes[index];
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(Ok(Some(status))) = node.child.as_mut().map(Child::try_wait) {
                return Err(format!(
                    "node {index} exited with {status} while starting:\n{}",
                    node.log_text()
                ));
            }
            if http(node.api, "GET", "/ready-probe", "").is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "node {index} did not answer HTTP within {READY_TIMEOUT:?}:\n{}",
                    node.log_text()
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// SIGKILL to node `index` (a child of ours), then reaps it.
    pub fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.nodes[index].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM to node `index` (it hands its roles over, then exits);
    /// waits for it to exit. Returns whether it exited successfully.
    pub fn terminate(&mut self, index: usize) -> Result<bool, String> {
        let Some(mut child) = self.nodes[index].child.take() else {
            return Ok(true);
        };
        let pid = i32::try_from(child.id()).map_err(|e| e.to_string())?;
        // SAFETY: a signal to our own child, which has not been reaped.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + EXIT_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                return Ok(status.success());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("node {index} ignored SIGTERM for {EXIT_TIMEOUT:?}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The index of the node the others name leader, asking each running
    /// node in turn.
    pub fn leader(&self) -> Option<usize> {
        self.nodes
            .iter()
            .filter(|n| n.child.is_some())
            .find_map(|n| match leader_of(n.db) {
                Ok((id, address)) if id != 0 => {
                    self.nodes.iter().position(|m| m.db.to_string() == address)
                }
                _ => None,
            })
    }

    /// Waits until some running node leads.
    pub fn wait_leader(&self, timeout: Duration) -> Result<usize, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(leader) = self.leader() {
                return Ok(leader);
            }
            if Instant::now() > deadline {
                return Err(format!("no leader within {timeout:?}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stores `value` under `key` through node `index`, retrying while the
    /// cluster fails over, up to `timeout`.
    pub fn put(
        &self,
        index: usize,
        key: &str,
        value: &str,
        timeout: Duration,
    ) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            let answer = http(self.nodes[index].api, "PUT", &format!("/{key}"), value);
            match answer {
                Ok(body) if body.trim() == "done" => return Ok(()),
                Ok(body) if Instant::now() > deadline => {
                    return Err(format!("PUT {key} through node {index}: {}", body.trim()));
                }
                Err(e) if Instant::now() > deadline => {
                    return Err(format!("PUT {key} through node {index}: {e}"));
                }
                _ => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    /// Reads `key` through node `index` (the demo answers "Error: ..." for
    /// a missing key).
    pub fn get(&self, index: usize, key: &str) -> Result<String, String> {
        http(self.nodes[index].api, "GET", &format!("/{key}"), "")
            .map(|body| body.trim().to_owned())
    }

    /// Whether node `index` has `path` mapped (a loaded library).
    pub fn has_mapped(&self, index: usize, path: &Path) -> Result<bool, String> {
        let child = self.nodes[index].child.as_ref().ok_or("node not running")?;
        let maps = std::fs::read_to_string(format!("/proc/{}/maps", child.id()))
            .map_err(|e| e.to_string())?;
        Ok(maps.contains(&path.display().to_string()))
    }

    /// What node `index` printed over all its runs.
    pub fn log_text(&self, index: usize) -> String {
        self.nodes[index].log_text()
    }
}

impl DemoNode {
    fn log_text(&self) -> String {
        std::fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// How many times this node was started.
    pub fn starts(&self) -> usize {
        self.starts
    }
}

impl Drop for DemoCluster {
    fn drop(&mut self) {
        for index in 0..self.nodes.len() {
            self.kill(index);
        }
    }
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port on 127.0.0.1")
}

/// One HTTP/1.1 exchange with `Connection: close`; the body on 200.
fn http(address: SocketAddr, method: &str, path: &str, body: &str) -> Result<String, String> {
    let mut s = TcpStream::connect_timeout(&address, HTTP_TIMEOUT).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(HTTP_TIMEOUT))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(HTTP_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
    let mut response = String::new();
    s.read_to_string(&mut response).map_err(|e| e.to_string())?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or("no HTTP header end")?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!("HTTP answer {}", head.lines().next().unwrap_or("")));
    }
    Ok(body.to_owned())
}
