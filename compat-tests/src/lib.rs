//! Compatibility tests: real go-dqlite clients (1.11.x and v3) and the
//! Debian `dqlite` shell driven against this workspace's server.
//!
//! # Layout
//!
//! - `go/`: a Go module (`dqlite-compat`) whose `_test.go` files are the
//!   scenarios, each a `TestXxx` written once against `database/sql` or the
//!   `client` package and run twice, as `TestV1Xxx` (go-dqlite 1.11.x,
//!   `github.com/canonical/go-dqlite`) and `TestV3Xxx` (go-dqlite v3). They
//!   read the node address from `DQLITE_ADDRESS` and fail when it is missing.
//!   `go/doc.go` tells how to run them by hand.
//! - `go/cluster_test.go`: the cluster scenarios, `TestV1Cluster…` and
//!   `TestV3Cluster…`, against three nodes rather than one: the client
//!   package (`FindLeader`, `Leader` and `Cluster` on every member), the
//!   `database/sql` driver with a node store of every member (rows with
//!   `random()`, `randomblob()` and `datetime('now')` read back the same, and
//!   every member holds a byte-identical copy), failover (a writer keeps
//!   writing through one `*sql.DB` while the leader is stopped, retrying
//!   the errors of the leadership change as an application does; no
//!   acknowledged row is lost) and membership changes through the client
//!   (`Add` as spare, `Assign` stand-by, `Remove`, `Add` as voter, `Remove`).
//!   They read the members' addresses from `DQLITE_CLUSTER` (comma-separated,
//!   node ids 1, 2, 3… in that order), a fourth running node that is not a
//!   member from `DQLITE_NEW_NODE` (id 4), and skip when they are missing.
//! - `go/linearizability_test.go`: `TestV3LinearizableUnderFaults`, six
//!   go-dqlite v3 clients reading, writing and compare-and-setting five keys
//!   for about 30 s while the harness kills (SIGKILL) the leader, a
//!   follower, two nodes in a row, and cuts the leader off from the other
//!   nodes twice; the history is checked with
//!   [porcupine](https://github.com/anishathalye/porcupine) (a failed write
//!   may have been applied at any time after it was sent; a failed read is
//!   dropped), and the nodes' copies compared. On a failure it writes
//!   porcupine's visualization (`linearizability.html`) and the history
//!   (`history.txt`) into the report directory, which is kept and named.
//! - `go/tls_test.go`: `TestV3TLSClusterFailover`, go-dqlite v3 over mutual
//!   TLS (`client.DialFuncWithTLS` for `client.FindLeader`, `client.New` and
//!   the `database/sql` driver's `WithDialFunc`) against three node
//!   processes sharing one openssl-made cluster certificate
//!   (`DQLITE_TLS_CERT`, `DQLITE_TLS_KEY`): the three voters listed on every
//!   node, writes read back, clients without the certificate (plain TCP,
//!   TLS without a certificate, another cluster's certificate) refused by
//!   every node and writing nothing; then the leader is killed (SIGKILL)
//!   and the next writes, retried (bounded), succeed on a new leader with
//!   every acknowledged row there.
//! - [`drivers`]: test support the client drivers' integration tests share
//!   (an in-process node, unique database names, the C server for them).
//! - `src/lib.rs` (this file): the harness. [`Server`] runs our node
//!   in-process on `127.0.0.1:0`; [`Cluster`] (`src/cluster.rs`) runs
//!   several, joined into one cluster; [`go_test_binary`] builds the Go
//!   tests once per test process (`CGO_ENABLED=0 go test -c -tags
//!   nosqlite3`); [`run_go_test`] runs one Go test in its own process
//!   against its own server, [`run_go_cluster_test`] one cluster scenario
//!   against its own cluster; [`shell`] runs the `dqlite` shell.
//! - `src/faults.rs`: [`FaultCluster`], three `dqlite-compat-node`
//!   processes each behind a TCP proxy in the test process, for
//!   [`run_go_fault_test`]: the Go test asks for `kill <id>` (SIGKILL),
//!   `start <id>` (again, from its directory), `isolate <id>` (its links to
//!   the other nodes refused and cut, both ways; clients still reach it;
//!   not under TLS, where the proxies cannot tell peers from clients)
//!   and `heal`. Node logs go to the report directory
//!   (`CARGO_TARGET_TMPDIR/faults/<test>-<pid>-<ms>/`, passed to the Go
//!   test as `DQLITE_REPORT_DIR`), removed when the test passes.
//! - `src/bin/dqlite-compat-node.rs`: the `dqlite-compat-node` binary, the
//!   server library as a process with separate listen and advertised
//!   addresses (`dqlite-server --address` is both, so no proxy could sit in
//!   front of it); `--tls-cert`/`--tls-key` as `dqlite-server`'s.
//! - `src/tls.rs`: the cluster certificate (`openssl req -x509`, as the
//!   README's "Secure cluster" section) and [`tls::run_go_tls_test`], the
//!   TLS scenarios against a [`FaultCluster`] of TLS node processes.
//! - `tests/go.rs`: one Rust `#[test]` per Go test, one line each (the
//!   cluster scenarios excepted).
//! - `tests/cluster.rs`: one Rust `#[test]` per cluster scenario, one line
//!   each.
//! - `tests/linearizability.rs`: one Rust `#[test]` per fault scenario
//!   (`TestV3Linearizable…`).
//! - `tests/go_tls.rs`: one Rust `#[test]` per TLS scenario (`TestV3TLS…`).
//! - `tests/capi_go.rs`: go-dqlite's own test suites (v3.0.4, v1.11.9)
//!   built with cgo against our `libdqlite.so.0`, and our probes in
//!   `capi-probe/` run inside go-dqlite v3's module the same way, among
//!   them three `app` nodes with `app.WithTLS(app.SimpleTLSConfig(..))`.
//! - `tests/shell.rs`: the Debian `dqlite` shell (go-dqlite 1.11.5) against
//!   the server.
//! - `tests/shell_tls.rs`: the same shell with `-c`/`-k` against two nodes
//!   running mutual TLS with an openssl-made cluster certificate.
//! - `tests/differential.rs`: the same raw request bytes sent to our server
//!   and to the C server (libdqlite 1.11.1 behind Debian's `dqlite-demo`,
//!   run by [`CServer`]); the replies must be byte-identical except for the
//!   documented deliberate differences.
//!
//! Every test gets a fresh server (or cluster) with its own temporary data
//! directories, so a scenario that breaks the server cannot break the
//! others.
//!
//! # Cluster scenarios and the harness
//!
//! A Go test cannot stop one of the in-process nodes, nor look inside them;
//! it asks the harness, through files in the directory named by
//! `DQLITE_HANDSHAKE` ([`HANDSHAKE_ENV`]): it writes `<seq>-<step>.request`
//! (holding an argument) and waits, bounded, for `<seq>-<step>.reply` or
//! `<seq>-<step>.error`, which the harness writes while it waits for the Go
//! process (every 20 ms it looks for new requests). Both sides write under
//! a temporary name and rename, so neither reads half a file. The steps
//! ([`Cluster::handle`]): `stop-leader` stops the current leader as a crash
//! would (no handover; the port closes) and answers its address;
//! `converged <database>` waits (up to 20 s) until every running member
//! holds a byte-identical image of the database.
//!
//! A Go test that fails because of a server bug is kept and skipped with a
//! message starting `SERVER BUG:` (helper `knownServerBug` in
//! `go/helpers_test.go`; no test is marked at the moment); [`run_go_test`]
//! prints such skips loudly (they count as passes).
//!
//! # Knobs (environment variables)
//!
//! | Variable | Default | Effect |
//! |---|---|---|
//! | `CI`, `DQLITE_REQUIRE_TOOLS` | unset | when either is set (`./scripts/verify` sets the second), a missing `go` toolchain, `dqlite` shell or `dqlite-demo` fails the tests instead of skipping them |
//! | `DQLITE_COMPAT_GO` | `go` (found on `PATH`) | the Go toolchain to build the tests with |
//! | `DQLITE_COMPAT_SHELL` | `/usr/bin/dqlite` | the Debian `dqlite` shell |
//! | `DQLITE_COMPAT_OPENSSL` | `/usr/bin/openssl` | makes the cluster certificate of the TLS tests (`shell_tls.rs`, `go_tls.rs`, `capi_go.rs`) |
//! | `DQLITE_COMPAT_DEMO` | `/usr/bin/dqlite-demo` | the Debian `dqlite-demo` (C server) for the differential tests |
//! | `DQLITE_COMPAT_BUILD_TIMEOUT_SECS` | `600` | limit for building the Go tests (the first build may download modules through the Go module proxy) |
//! | `DQLITE_COMPAT_TIMEOUT_SECS` | `120` | limit for one Go test or one shell command; the Go test gets `-test.timeout` a little shorter so it prints its goroutines first |
//! | `DQLITE_COMPAT_ADDRESS` | unset | run against this already running node (e.g. the C server) instead of starting our server; the Go tests use fresh database names, so one node can serve every test (not the cluster scenarios: they always start our nodes) |
//! | `DQLITE_COMPAT_NODE_ID` | `1` | with `DQLITE_COMPAT_ADDRESS`: that node's id, which the client tests check (passed to them as `DQLITE_NODE_ID`) |
//! | `DQLITE_COMPAT_KNOWN_BUGS` | unset | when set (to anything non-empty), the Go tests marked `SERVER BUG` run instead of skipping (passed through to the Go tests) |
//! | `DQLITE_COMPAT_LOG` | unset | a `tracing` filter (e.g. `info`, `dqlite_server=debug`) for the in-process server's logs, shown with the test output; for the node processes of the fault tests, their `RUST_LOG` (default there `info`), logged into the report directory |

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dqlite_server::Node;
use dqlite_server::net::Limits;
use dqlite_server::transport::Listener;

mod c_server;
mod cluster;
pub mod demo_cluster;
pub mod drivers;
mod faults;
pub mod tls;
pub use c_server::{C_NODE_ID, CServer, DEFAULT_DEMO};
pub use cluster::Cluster;
pub use faults::{FaultCluster, REPORT_DIR_ENV, run_go_fault_test};

/// Name of the Go test binary built in the output directory.
pub const GO_TEST_BINARY: &str = "dqlite-compat.test";

/// Default of `DQLITE_COMPAT_BUILD_TIMEOUT_SECS`.
pub const DEFAULT_BUILD_TIMEOUT: Duration = Duration::from_secs(600);
/// Default of `DQLITE_COMPAT_TIMEOUT_SECS`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// Default of `DQLITE_COMPAT_SHELL`.
pub const DEFAULT_SHELL: &str = "/usr/bin/dqlite";

/// Limit for starting or stopping the in-process server.
const SERVER_TIMEOUT: Duration = Duration::from_secs(30);

/// Reads a duration in whole seconds from `var`, or `default`.
///
/// # Panics
///
/// If the variable is set but not a number of seconds.
pub fn env_secs(var: &str, default: Duration) -> Duration {
    match std::env::var(var) {
        Ok(s) => Duration::from_secs(
            s.trim()
                .parse()
                .unwrap_or_else(|_| panic!("{var}={s:?} is not a number of seconds")),
        ),
        Err(_) => default,
    }
}

/// Whether missing tools are failures rather than skips: when `CI` or
/// `DQLITE_REQUIRE_TOOLS` is set (`./scripts/verify` sets the latter, after
/// installing every tool the suite needs).
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some() || std::env::var_os("DQLITE_REQUIRE_TOOLS").is_some()
}

/// Finds an external tool. `knob` names the variable that overrides
/// `default`; a name without `/` is looked up on `PATH`.
///
/// Returns `None` after printing a skip message if the tool is missing
/// and `CI` is not set.
///
/// # Panics
///
/// If the tool is missing and `CI` is set.
pub fn require_tool(what: &str, knob: &str, default: &str) -> Option<PathBuf> {
    let wanted = std::env::var(knob).unwrap_or_else(|_| default.to_owned());
    if let Some(path) = find_executable(&wanted) {
        return Some(path);
    }
    let message = format!("{what} not found: {wanted:?} (set {knob} to its path)");
    assert!(
        !in_ci(),
        "{message}; CI or DQLITE_REQUIRE_TOOLS is set, so this is a failure \
         (./scripts/prerequisites installs it)"
    );
    eprintln!(
        "SKIPPED: {message}; this test did not run (./scripts/prerequisites installs it; \
         set DQLITE_REQUIRE_TOOLS to make this a failure)"
    );
    None
}

fn find_executable(name: &str) -> Option<PathBuf> {
    let is_file = |p: &Path| p.is_file();
    if name.contains('/') {
        let p = PathBuf::from(name);
        return is_file(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_file(p))
}

/// Installs a log subscriber if `DQLITE_COMPAT_LOG` is set (once per
/// process).
fn init_logging() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        if let Ok(filter) = std::env::var("DQLITE_COMPAT_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
    });
}

/// Our node serving clients on `127.0.0.1:<free port>`, in its own
/// runtime and temporary data directory; stopped on drop. Or, with
/// `DQLITE_COMPAT_ADDRESS` set, just that address.
pub struct Server {
    address: String,
    running: Option<Running>,
}

struct Running {
    runtime: tokio::runtime::Runtime,
    node: Node,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts a fresh single-voter node (id 1), or uses
    /// `DQLITE_COMPAT_ADDRESS`.
    ///
    /// # Panics
    ///
    /// If the node does not start within 30 s.
    pub fn start() -> Self {
        if let Ok(address) = std::env::var("DQLITE_COMPAT_ADDRESS") {
            return Self {
                address,
                running: None,
            };
        }
        Self::start_in_process()
    }

    /// Starts a fresh single-voter node (id 1) in this process, whatever
    /// `DQLITE_COMPAT_ADDRESS` says.
    ///
    /// # Panics
    ///
    /// If the node does not start within 30 s.
    pub fn start_in_process() -> Self {
        Self::start_in_process_on("127.0.0.1:0")
    }

    /// Starts a fresh single-voter node (id 1) in this process listening
    /// on `address` in any form `dqlite-server --address` takes
    /// (`127.0.0.1:0`, `@name`, `unix:/path`); it advertises the address
    /// it bound.
    ///
    /// # Panics
    ///
    /// If `address` cannot be bound or the node does not start within 30 s.
    pub fn start_in_process_on(address: &str) -> Self {
        init_logging();
        // The node runs on a thread of its own; this runtime only starts
        // and stops it.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let dir = tempfile::Builder::new()
            .prefix("dqlite-compat-")
            .tempdir()
            .expect("a temporary data directory");
        let listener =
            Listener::bind_local(address).unwrap_or_else(|e| panic!("bind {address}: {e}"));
        let address = listener.local_address().expect("local address");
        let node = runtime.block_on(async {
            tokio::time::timeout(
                SERVER_TIMEOUT,
                Node::builder(1, address.clone(), dir.path())
                    .serve(listener, Limits::default())
                    .start(),
            )
            .await
            .expect("the node starts within 30 s")
            .expect("the node starts")
        });
        Self {
            address,
            running: Some(Running {
                runtime,
                node,
                _dir: dir,
            }),
        }
    }

    /// The address clients dial, which is also the address the node
    /// advertises.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The node's id: 1, or `DQLITE_COMPAT_NODE_ID` for an external node.
    ///
    /// # Panics
    ///
    /// If `DQLITE_COMPAT_NODE_ID` is not a number.
    pub fn id(&self) -> u64 {
        if self.running.is_some() {
            return 1;
        }
        std::env::var("DQLITE_COMPAT_NODE_ID").map_or(1, |s| {
            s.trim()
                .parse()
                .unwrap_or_else(|_| panic!("DQLITE_COMPAT_NODE_ID={s:?} is not a node id"))
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let Some(running) = self.running.take() else {
            return;
        };
        let node = running.node;
        let stopped = running
            .runtime
            .block_on(async move { tokio::time::timeout(SERVER_TIMEOUT, node.stop()).await });
        if !matches!(stopped, Ok(Ok(()))) && !std::thread::panicking() {
            eprintln!("warning: the server did not stop cleanly: {stopped:?}");
        }
        running.runtime.shutdown_timeout(Duration::from_secs(5));
    }
}

/// A finished child process.
#[derive(Debug)]
pub struct Output {
    /// Exit status.
    pub status: ExitStatus,
    /// Everything it wrote to stdout.
    pub stdout: String,
    /// Everything it wrote to stderr.
    pub stderr: String,
}

impl Output {
    /// Both streams, for failure messages.
    pub fn transcript(&self) -> String {
        format!(
            "status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Runs `command` with stdin closed, collecting its output; kills it after
/// `timeout`.
///
/// # Panics
///
/// If it cannot be started, or on timeout (with the output so far).
pub fn run_with_timeout(command: &mut Command, timeout: Duration) -> Output {
    run_with_input(command, None, timeout)
}

/// Like [`run_with_timeout`], writing `input` to the command's stdin.
///
/// # Panics
///
/// If it cannot be started, or on timeout (with the output so far).
pub fn run_with_input(command: &mut Command, input: Option<&str>, timeout: Duration) -> Output {
    Collecting::spawn(command, input).wait(timeout, &mut || {})
}

/// A running child whose output threads collect; killed on drop if it is
/// still running (say, the caller panicked meanwhile).
struct Collecting {
    description: String,
    child: Child,
    readers: Option<(JoinHandle<String>, JoinHandle<String>)>,
}

impl Collecting {
    /// Starts `command`, feeding it `input` (or closing its stdin).
    ///
    /// # Panics
    ///
    /// If it cannot be started.
    fn spawn(command: &mut Command, input: Option<&str>) -> Self {
        let description = format!("{command:?}");
        let mut child = command
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {description}: {e}"));
        if let Some(input) = input {
            let mut stdin = child.stdin.take().expect("piped stdin");
            let input = input.to_owned();
            // A writer thread, so that a child that does not read cannot block us.
            std::thread::spawn(move || {
                use std::io::Write;
                let _ = stdin.write_all(input.as_bytes());
            });
        }
        let stdout = reader(child.stdout.take().expect("piped stdout"));
        let stderr = reader(child.stderr.take().expect("piped stderr"));
        Self {
            description,
            child,
            readers: Some((stdout, stderr)),
        }
    }

    /// Waits for the child to exit, calling `tick` every 20 ms meanwhile;
    /// kills it after `timeout`.
    ///
    /// # Panics
    ///
    /// On timeout (with the output so far).
    fn wait(mut self, timeout: Duration, tick: &mut dyn FnMut()) -> Output {
        let deadline = Instant::now() + timeout;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Ok(status),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break Err(format!("timed out after {timeout:?}; killed"));
                }
                Ok(None) => {
                    tick();
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => break Err(format!("wait failed: {e}")),
            }
        };
        let (stdout, stderr) = self.readers.take().expect("collected once");
        let stdout = stdout.join().unwrap_or_default();
        let stderr = stderr.join().unwrap_or_default();
        match status {
            Ok(status) => Output {
                status,
                stdout,
                stderr,
            },
            Err(why) => panic!(
                "{}: {why}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
                self.description
            ),
        }
    }
}

impl Drop for Collecting {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn reader(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Directory of the Go module.
pub fn go_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("go")
}

/// Builds the Go tests into `out_dir`, once per process: every caller
/// waits for the one build and shares its result.
///
/// # Errors
///
/// The build's output if it failed.
pub fn go_test_binary(go: &Path, out_dir: &Path) -> Result<&'static Path, &'static str> {
    static BINARY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BINARY
        .get_or_init(|| build_go_tests(go, out_dir))
        .as_ref()
        .map(PathBuf::as_path)
        .map_err(String::as_str)
}

fn build_go_tests(go: &Path, out_dir: &Path) -> Result<PathBuf, String> {
    std::fs::create_dir_all(out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let binary = out_dir.join(GO_TEST_BINARY);
    // Built under a name of this process's own, then renamed over the
    // shared name: another `cargo test` may be running the old binary, and
    // a rename (unlike writing into it) does not disturb that.
    let building = out_dir.join(format!("{GO_TEST_BINARY}.{}", std::process::id()));
    let timeout = env_secs("DQLITE_COMPAT_BUILD_TIMEOUT_SECS", DEFAULT_BUILD_TIMEOUT);
    let started = Instant::now();
    let out = run_with_timeout(
        Command::new(go)
            .args(["test", "-c", "-tags", "nosqlite3", "-o"])
            .arg(&building)
            .arg(".")
            .current_dir(go_dir())
            .env("CGO_ENABLED", "0"),
        timeout,
    );
    if !out.status.success() {
        let _ = std::fs::remove_file(&building);
        return Err(format!(
            "building the Go tests in {} failed\n{}",
            go_dir().display(),
            out.transcript()
        ));
    }
    std::fs::rename(&building, &binary).map_err(|e| {
        format!(
            "renaming {} to {}: {e}",
            building.display(),
            binary.display()
        )
    })?;
    eprintln!("built {} in {:.1?}", binary.display(), started.elapsed());
    Ok(binary)
}

/// The Go test binary, built once per process into `out_dir`; `None`
/// (after a skip message) without a Go toolchain, unless `CI` is set.
///
/// # Panics
///
/// If the build fails, or there is no Go toolchain and `CI` is set.
fn go_binary_or_skip(out_dir: &str) -> Option<&'static Path> {
    let go = require_tool("the Go toolchain", "DQLITE_COMPAT_GO", "go")?;
    match go_test_binary(&go, Path::new(out_dir)) {
        Ok(binary) => Some(binary),
        Err(e) => panic!("{e}"),
    }
}

/// Runs Go test `name` (e.g. `TestV1Types`) against a fresh server, with
/// the Go tests built into `out_dir`. Prints the Go output; skips (or, with
/// `CI`, fails) without a Go toolchain.
///
/// # Panics
///
/// If the Go test fails, does not run, or times out.
pub fn run_go_test(out_dir: &str, name: &str) {
    let Some(binary) = go_binary_or_skip(out_dir) else {
        return;
    };
    let server = Server::start();
    let env = [
        ("DQLITE_ADDRESS", server.address().to_owned()),
        ("DQLITE_NODE_ID", server.id().to_string()),
    ];
    let (out, elapsed) = run_go_process(binary, name, &env, &mut |step, _| {
        Err(format!(
            "step {step:?}: a single-node test has no harness steps"
        ))
    });
    drop(server);
    check_go_output(name, &out, elapsed);
}

/// Runs cluster scenario `name` (e.g. `TestV1ClusterSQL`, from
/// `go/cluster_test.go`) against a fresh [`Cluster`] of `joined` members
/// plus `extra` nodes that run without being members, with the Go tests
/// built into `out_dir`. The Go test gets the members' addresses in
/// `DQLITE_CLUSTER` (comma-separated, node 1 first; node ids follow that
/// order), the first extra node's address in `DQLITE_NEW_NODE` (its id is
/// `joined + 1`), and asks the harness for the steps it cannot take itself
/// (stopping the leader, comparing the nodes' databases) through files in
/// `DQLITE_HANDSHAKE` (see [`Cluster::handle`]). Prints the Go output;
/// skips (or, with `CI`, fails) without a Go toolchain.
///
/// # Panics
///
/// If the cluster does not start, or the Go test fails, does not run, or
/// times out.
pub fn run_go_cluster_test(out_dir: &str, name: &str, joined: usize, extra: usize) {
    let Some(binary) = go_binary_or_skip(out_dir) else {
        return;
    };
    let started = Instant::now();
    let mut cluster = Cluster::start(joined, extra);
    eprintln!(
        "started a {joined}-member cluster (+{extra} other nodes) in {:.1?}: {:?}, leader node {:?}",
        started.elapsed(),
        cluster.addresses(),
        cluster.leader()
    );
    let mut env = vec![("DQLITE_CLUSTER", cluster.addresses().join(","))];
    if let Some(address) = cluster.extra_addresses().first() {
        env.push(("DQLITE_NEW_NODE", (*address).to_owned()));
    }
    let (out, elapsed) = run_go_process(binary, name, &env, &mut |step, argument| {
        cluster.handle(step, argument)
    });
    drop(cluster);
    check_go_output(name, &out, elapsed);
}

/// Runs Go test `name` with `env` and a fresh handshake directory in
/// `DQLITE_HANDSHAKE`, answering its requests with `on_request` while it
/// runs (see [`serve_requests`]). Returns its output and run time.
fn run_go_process(
    binary: &Path,
    name: &str,
    env: &[(&str, String)],
    on_request: &mut dyn FnMut(&str, &str) -> Result<String, String>,
) -> (Output, Duration) {
    let timeout = env_secs("DQLITE_COMPAT_TIMEOUT_SECS", DEFAULT_TIMEOUT);
    // Go's own timeout fires first and dumps every goroutine.
    let go_timeout = timeout
        .saturating_sub(Duration::from_secs(5))
        .max(Duration::from_secs(1));
    let handshake = tempfile::Builder::new()
        .prefix("dqlite-compat-handshake-")
        .tempdir()
        .expect("a temporary handshake directory");
    let mut command = Command::new(binary);
    command
        .arg("-test.run")
        .arg(format!("^{name}$"))
        .args(["-test.v", "-test.count=1"])
        .arg(format!("-test.timeout={}s", go_timeout.as_secs()))
        .current_dir(go_dir())
        .env(HANDSHAKE_ENV, handshake.path());
    for (var, value) in env {
        command.env(var, value);
    }
    let started = Instant::now();
    let mut handled = std::collections::HashSet::new();
    let out = Collecting::spawn(&mut command, None).wait(timeout, &mut || {
        serve_requests(handshake.path(), &mut handled, on_request);
    });
    (out, started.elapsed())
}

/// Environment variable naming the handshake directory of a Go test.
pub const HANDSHAKE_ENV: &str = "DQLITE_HANDSHAKE";

/// Answers the Go test's new requests in the handshake directory `dir`:
/// the Go side (`askHarness` in `go/cluster_test.go`) writes
/// `<seq>-<step>.request` holding an argument (renamed into place, so it is
/// complete when seen) and waits for `<seq>-<step>.reply` (the answer) or
/// `<seq>-<step>.error` (why the step failed), which this writes the same
/// way.
///
/// # Panics
///
/// If an answer cannot be written.
fn serve_requests(
    dir: &Path,
    handled: &mut std::collections::HashSet<String>,
    on_request: &mut dyn FnMut(&str, &str) -> Result<String, String>,
) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut requests: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".request"))
        .collect();
    requests.sort_unstable();
    for request in requests {
        if !handled.insert(request.clone()) {
            continue;
        }
        let base = request.trim_end_matches(".request");
        let step = base.split_once('-').map_or(base, |(_, step)| step);
        let argument = std::fs::read_to_string(dir.join(&request)).unwrap_or_default();
        let started = Instant::now();
        let (kind, text) = match on_request(step, argument.trim()) {
            Ok(reply) => ("reply", reply),
            Err(why) => ("error", why),
        };
        eprintln!(
            "harness step {step:?} {argument:?}: {kind} after {:.1?}: {text}",
            started.elapsed()
        );
        let tmp = dir.join(format!("{base}.{kind}.tmp"));
        let path = dir.join(format!("{base}.{kind}"));
        std::fs::write(&tmp, text.as_bytes())
            .and_then(|()| std::fs::rename(&tmp, &path))
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }
}

/// Checks that Go test `name` passed (or skipped), printing its output.
///
/// # Panics
///
/// If it failed or did not run.
fn check_go_output(name: &str, out: &Output, elapsed: Duration) {
    assert!(
        out.status.success(),
        "Go test {name} failed ({}) after {elapsed:.1?}\n{}",
        out.status,
        out.transcript()
    );
    let passed = out.stdout.contains(&format!("--- PASS: {name} "));
    let skipped = out.stdout.contains(&format!("--- SKIP: {name} "));
    assert!(
        passed || skipped,
        "Go test {name} did not run (no `--- PASS: {name}` line): is it spelled right?\n{}",
        out.transcript()
    );
    // Shown with --nocapture (a failure shows it in the panic message).
    println!("{}", out.stdout);
    if !out.stderr.is_empty() {
        println!("--- stderr ---\n{}", out.stderr);
    }
    if skipped {
        let reason = out
            .stdout
            .lines()
            .find(|l| l.contains("SERVER BUG:"))
            .map_or("(see the output above)", str::trim);
        eprintln!("SKIPPED Go test {name}: {reason}");
    } else {
        eprintln!("Go test {name} passed in {elapsed:.1?}");
    }
}

/// Whether Go test `name` is a cluster scenario (`TestV1Cluster…`,
/// `TestV3Cluster…` in `go/cluster_test.go`), run by `tests/cluster.rs`
/// through [`run_go_cluster_test`] rather than by `tests/go.rs`.
pub fn is_cluster_go_test(name: &str) -> bool {
    ["TestV1Cluster", "TestV3Cluster"]
        .iter()
        .any(|prefix| name.starts_with(prefix))
}

/// Whether Go test `name` is a fault scenario (`TestV1Linearizable…`,
/// `TestV3Linearizable…` in `go/linearizability_test.go`), run by
/// `tests/linearizability.rs` through [`run_go_fault_test`] rather than by
/// `tests/go.rs`.
pub fn is_fault_go_test(name: &str) -> bool {
    ["TestV1Linearizable", "TestV3Linearizable"]
        .iter()
        .any(|prefix| name.starts_with(prefix))
}

/// Whether Go test `name` is a TLS scenario (`TestV3TLS…` in
/// `go/tls_test.go`), run by `tests/go_tls.rs` through
/// [`run_go_tls_test`](tls::run_go_tls_test) rather than by `tests/go.rs`.
pub fn is_tls_go_test(name: &str) -> bool {
    name.starts_with("TestV3TLS")
}

/// The Go tests the binary holds (`-test.list`), built into `out_dir`;
/// `None` without a Go toolchain (unless `CI` is set).
///
/// # Panics
///
/// If the build or the listing fails.
pub fn listed_go_tests(out_dir: &str) -> Option<Vec<String>> {
    let binary = go_binary_or_skip(out_dir)?;
    let out = run_with_timeout(
        Command::new(binary).args(["-test.list", ".*"]),
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{}", out.transcript());
    let mut listed: Vec<String> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("Test"))
        .map(str::to_owned)
        .collect();
    listed.sort_unstable();
    Some(listed)
}

/// Runs the `dqlite` shell with `args`, feeding it `input` on stdin if
/// given, with the `DQLITE_COMPAT_TIMEOUT_SECS` limit.
///
/// # Panics
///
/// On timeout.
pub fn shell(
    dqlite: &Path,
    args: impl IntoIterator<Item = impl AsRef<OsStr>>,
    input: Option<&str>,
) -> Output {
    let timeout = env_secs("DQLITE_COMPAT_TIMEOUT_SECS", DEFAULT_TIMEOUT);
    run_with_input(Command::new(dqlite).args(args), input, timeout)
}
