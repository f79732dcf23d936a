//! The real C dqlite server (libdqlite 1.11.1 behind Debian's
//! `dqlite-demo`), started as a child process for differential tests.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Default of `DQLITE_COMPAT_DEMO`.
pub const DEFAULT_DEMO: &str = "/usr/bin/dqlite-demo";

/// The node id `dqlite-demo` gives its bootstrap node.
pub const C_NODE_ID: u64 = 0x2dc1_7185_8c31_55be;

/// Limit for one start attempt: the port accepting connections and the
/// node electing itself (about 1 s in practice).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Start attempts: a port picked free can be taken by someone else before
/// `dqlite-demo` binds it.
const START_ATTEMPTS: usize = 3;

/// A `dqlite-demo` node on `127.0.0.1:<free port>` with its own temporary
/// data directory, killed (by its pid) on drop. Its database `demo`
/// exists already; tests should use other names.
pub struct CServer {
    process: Process,
    address: String,
    id: u64,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

/// A child process, killed by its pid and reaped on drop.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        // SIGKILL to our own child only; then reap it (prompt after SIGKILL).
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl CServer {
    /// Starts `dqlite-demo` (the binary at `demo`) and waits until its
    /// dqlite port accepts connections and a LEADER request names a leader.
    ///
    /// # Panics
    ///
    /// If it does not get ready within 30 s in any of 3 attempts (with its
    /// log in the message).
    pub fn start(demo: &Path) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("dqlite-diff-c-")
            .tempdir()
            .expect("a temporary data directory");
        let mut failures = Vec::new();
        for attempt in 0..START_ATTEMPTS {
            let (api, db) = two_free_ports();
            let log = dir.path().join(format!("demo-{attempt}.log"));
            let node_dir = dir.path().join(format!("node-{attempt}"));
            std::fs::create_dir_all(&node_dir).expect("the node's data directory");
            let log_file = std::fs::File::create(&log).expect("the log file");
            let mut process = Process(
                Command::new(demo)
                    .arg("--api")
                    .arg(api.to_string())
                    .arg("--db")
                    .arg(db.to_string())
                    .arg("--dir")
                    .arg(&node_dir)
                    .stdin(Stdio::null())
                    .stdout(log_file.try_clone().expect("a second log handle"))
                    .stderr(log_file)
                    .spawn()
                    .unwrap_or_else(|e| panic!("cannot run {}: {e}", demo.display())),
            );
            match wait_ready(&mut process.0, db) {
                Ok(id) => {
                    return Self {
                        process,
                        address: db.to_string(),
                        id,
                        log,
                        _dir: dir,
                    };
                }
                Err(why) => {
                    drop(process);
                    failures.push(format!(
                        "attempt {attempt} ({demo} --db {db}): {why}\n--- log ---\n{log}",
                        demo = demo.display(),
                        log = read_log(&log)
                    ));
                }
            }
        }
        panic!("dqlite-demo did not get ready:\n{}", failures.join("\n\n"));
    }

    /// The dqlite address (`127.0.0.1:<port>`), as the node reports it.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The node id (0x2dc171858c3155be for `dqlite-demo`).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Whether the process is still running (it has not crashed).
    pub fn is_running(&mut self) -> bool {
        matches!(self.process.0.try_wait(), Ok(None))
    }

    /// What `dqlite-demo` printed so far.
    pub fn log_text(&self) -> String {
        read_log(&self.log)
    }
}

fn read_log(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Polls until the node answers LEADER with a leader; returns its id.
fn wait_ready(child: &mut Child, db: SocketAddr) -> Result<u64, String> {
    let deadline = Instant::now() + START_TIMEOUT;
    let mut last = String::from("never connected");
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited early with {status}"));
        }
        match leader_of(db) {
            Ok((id, address)) if id != 0 && !address.is_empty() => return Ok(id),
            Ok((id, address)) => last = format!("LEADER answered id {id:#x}, {address:?}"),
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("not ready after {START_TIMEOUT:?}; last: {last}"))
}

/// Two distinct ports that were free a moment ago.
fn two_free_ports() -> (SocketAddr, SocketAddr) {
    let a = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let b = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    (
        a.local_addr().expect("local address"),
        b.local_addr().expect("local address"),
    )
}

/// One handshake + LEADER round trip: the leader's id and address.
pub(crate) fn leader_of(address: SocketAddr) -> Result<(u64, String), String> {
    let timeout = Duration::from_secs(2);
    let mut s = TcpStream::connect_timeout(&address, timeout).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    // Version 1, then LEADER (one word of body).
    let mut request = 1u64.to_le_bytes().to_vec();
    request.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
    request.extend_from_slice(&[0; 8]);
    s.write_all(&request).map_err(|e| e.to_string())?;
    let mut header = [0u8; 8];
    s.read_exact(&mut header).map_err(|e| e.to_string())?;
    let words = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    if header[4] != 1 || !(2..=64).contains(&words) {
        return Err(format!("unexpected reply header {header:02x?}"));
    }
    let mut body = vec![0u8; usize::try_from(words).map_err(|e| e.to_string())? * 8];
    s.read_exact(&mut body).map_err(|e| e.to_string())?;
    let id = u64::from_le_bytes(body[..8].try_into().map_err(|_| "short body")?);
    let text = &body[8..];
    let end = text
        .iter()
        .position(|&b| b == 0)
        .ok_or("unterminated address")?;
    Ok((id, String::from_utf8_lossy(&text[..end]).into_owned()))
}
