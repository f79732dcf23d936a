//! Test support for the facade tests: [`DqliteServer`] runs the
//! workspace's `dqlite-server` binary (path in `DQLITE_SERVER_BIN`, set
//! by `scripts/sqlx-facade-tests`) as a child process, on 127.0.0.1 and a
//! free port, with a temporary data directory, and kills it when dropped.

use std::fs::File;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::Connection;
use sqlx_dqlite::{DqliteConnectOptions, DqliteConnection};

/// The variable naming the `dqlite-server` binary.
pub const SERVER_BIN_VAR: &str = "DQLITE_SERVER_BIN";

/// How long a started server may take to answer a query.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Attempts at a port another process took between our probe and the
/// server's bind.
const PORT_ATTEMPTS: usize = 5;

/// A single-node dqlite cluster in a child process, killed (by its pid)
/// on drop.
pub struct DqliteServer {
    child: Child,
    address: String,
    // Dropped after the child is killed: the node's files.
    dir: tempfile::TempDir,
}

impl DqliteServer {
    /// Starts `$DQLITE_SERVER_BIN` and waits, for a bounded time, until it
    /// answers `SELECT 1`.
    ///
    /// # Panics
    ///
    /// If the variable is unset, or the server does not start and answer.
    pub async fn start() -> Self {
        let bin = std::env::var_os(SERVER_BIN_VAR)
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                panic!(
                    "{SERVER_BIN_VAR} is not set: it must name the dqlite-server binary \
                 (scripts/sqlx-facade-tests builds it and sets it)"
                )
            });
        assert!(
            bin.is_file(),
            "{SERVER_BIN_VAR}={} is not a file",
            bin.display()
        );
        for attempt in 1..=PORT_ATTEMPTS {
            let mut server = Self::spawn(&bin);
            match server.wait_ready().await {
                Ok(()) => return server,
                Err(Start::PortTaken) if attempt < PORT_ATTEMPTS => continue,
                Err(Start::PortTaken) => panic!(
                    "dqlite-server could not bind a free port in {PORT_ATTEMPTS} attempts:\n{}",
                    server.log()
                ),
                Err(Start::Failed(why)) => {
                    panic!("dqlite-server did not start: {why}\n{}", server.log())
                }
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// `dqlite://127.0.0.1:PORT/{database}`.
    pub fn url(&self, database: &str) -> String {
        format!("dqlite://{}/{database}", self.address)
    }

    /// The node's address, `127.0.0.1:PORT`.
    pub fn address(&self) -> &str {
        &self.address
    }

    fn spawn(bin: &std::path::Path) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        // A port free now; the server binds it a moment later, and
        // `wait_ready` tells a port taken in between.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port on 127.0.0.1")
            .port();
        let address = format!("127.0.0.1:{port}");
        let log = File::create(dir.path().join("server.log")).expect("server log file");
        let child = Command::new(bin)
            .args(["--address", &address, "--dir"])
            .arg(dir.path().join("data"))
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
        Self {
            child,
            address,
            dir,
        }
    }

    async fn wait_ready(&mut self) -> Result<(), Start> {
        let options = DqliteConnectOptions::new()
            .node(self.address.clone())
            .database("ready")
            .connect_timeout(Duration::from_secs(2))
            .dial_timeout(Duration::from_millis(500))
            .request_timeout(Some(Duration::from_secs(2)));
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.exited() {
                return Err(if self.log().contains("cannot listen") {
                    Start::PortTaken
                } else {
                    Start::Failed(format!("it exited ({status})"))
                });
            }
            let answer = async {
                let mut conn = DqliteConnection::connect_with(&options).await?;
                let one: i64 = sqlx::query_scalar("SELECT 1").fetch_one(&mut conn).await?;
                conn.close().await?;
                Ok::<_, sqlx::Error>(one)
            };
            let last_error = match tokio::time::timeout(Duration::from_secs(5), answer).await {
                // Still running: not someone else's listener on our port.
                Ok(Ok(1)) if self.exited().is_none() => return Ok(()),
                Ok(Ok(other)) => format!("SELECT 1 gave {other}"),
                Ok(Err(e)) => e.to_string(),
                Err(_) => "no answer in 5 s".into(),
            };
            if Instant::now() >= deadline {
                return Err(Start::Failed(format!(
                    "no answer on {} in {READY_TIMEOUT:?}; last error: {last_error}",
                    self.address
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The child's exit status if it has exited (reaped then).
    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .try_wait()
            .unwrap_or_else(|e| panic!("cannot check the dqlite-server process: {e}"))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log"))
            .unwrap_or_else(|e| format!("(no server log: {e})"))
    }
}

enum Start {
    PortTaken,
    Failed(String),
}

impl Drop for DqliteServer {
    fn drop(&mut self) {
        // Our own child, by its pid; then reap it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
