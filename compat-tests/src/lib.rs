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
//! - `src/lib.rs` (this file): the harness. [`Server`] runs our node
//!   in-process on `127.0.0.1:0`; [`go_test_binary`] builds the Go tests once
//!   per test process (`CGO_ENABLED=0 go test -c -tags nosqlite3`);
//!   [`run_go_test`] runs one Go test in its own process against its own
//!   server; [`shell`] runs the `dqlite` shell.
//! - `tests/go.rs`: one Rust `#[test]` per Go test, one line each.
//! - `tests/shell.rs`: the Debian `dqlite` shell (go-dqlite 1.11.5) against
//!   the server.
//! - `tests/differential.rs`: the same raw request bytes sent to our server
//!   and to the C server (libdqlite 1.11.1 behind Debian's `dqlite-demo`,
//!   run by [`CServer`]); the replies must be byte-identical except for the
//!   documented deliberate differences.
//!
//! Every test gets a fresh server with its own temporary data directory, so
//! a scenario that breaks the server cannot break the others.
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
//! | `CI` | unset | when set, a missing `go` toolchain, `dqlite` shell or `dqlite-demo` fails the tests instead of skipping them |
//! | `DQLITE_COMPAT_GO` | `go` (found on `PATH`) | the Go toolchain to build the tests with |
//! | `DQLITE_COMPAT_SHELL` | `/usr/bin/dqlite` | the Debian `dqlite` shell |
//! | `DQLITE_COMPAT_DEMO` | `/usr/bin/dqlite-demo` | the Debian `dqlite-demo` (C server) for the differential tests |
//! | `DQLITE_COMPAT_BUILD_TIMEOUT_SECS` | `600` | limit for building the Go tests (the first build may download modules through the Go module proxy) |
//! | `DQLITE_COMPAT_TIMEOUT_SECS` | `120` | limit for one Go test or one shell command; the Go test gets `-test.timeout` a little shorter so it prints its goroutines first |
//! | `DQLITE_COMPAT_ADDRESS` | unset | run against this already running node (e.g. the C server) instead of starting our server; the Go tests use fresh database names, so one node can serve every test |
//! | `DQLITE_COMPAT_NODE_ID` | `1` | with `DQLITE_COMPAT_ADDRESS`: that node's id, which the client tests check (passed to them as `DQLITE_NODE_ID`) |
//! | `DQLITE_COMPAT_KNOWN_BUGS` | unset | when set (to anything non-empty), the Go tests marked `SERVER BUG` run instead of skipping (passed through to the Go tests) |
//! | `DQLITE_COMPAT_LOG` | unset | a `tracing` filter (e.g. `info`, `dqlite_server=debug`) for the in-process server's logs, shown with the test output |

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use dqlite_server::Node;
use dqlite_server::net::Limits;

mod c_server;
pub use c_server::{C_NODE_ID, CServer, DEFAULT_DEMO};

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

/// Whether the `CI` variable is set: missing tools are then failures.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some()
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
    assert!(!in_ci(), "{message}; CI is set, so this is a failure");
    eprintln!("SKIPPED: {message}; this test did not run (set CI to make this a failure)");
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
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let address = listener.local_addr().expect("local address").to_string();
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
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!("timed out after {timeout:?}; killed"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => break Err(format!("wait failed: {e}")),
        }
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    match status {
        Ok(status) => Output {
            status,
            stdout,
            stderr,
        },
        Err(why) => {
            panic!("{description}: {why}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}")
        }
    }
}

fn reader(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
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

/// Runs Go test `name` (e.g. `TestV1Types`) against a fresh server, with
/// the Go tests built into `out_dir`. Prints the Go output; skips (or, with
/// `CI`, fails) without a Go toolchain.
///
/// # Panics
///
/// If the Go test fails, does not run, or times out.
pub fn run_go_test(out_dir: &str, name: &str) {
    let Some(go) = require_tool("the Go toolchain", "DQLITE_COMPAT_GO", "go") else {
        return;
    };
    let binary = match go_test_binary(&go, Path::new(out_dir)) {
        Ok(binary) => binary,
        Err(e) => panic!("{e}"),
    };
    let timeout = env_secs("DQLITE_COMPAT_TIMEOUT_SECS", DEFAULT_TIMEOUT);
    // Go's own timeout fires first and dumps every goroutine.
    let go_timeout = timeout
        .saturating_sub(Duration::from_secs(5))
        .max(Duration::from_secs(1));
    let server = Server::start();
    let started = Instant::now();
    let out = run_with_timeout(
        Command::new(binary)
            .arg("-test.run")
            .arg(format!("^{name}$"))
            .args(["-test.v", "-test.count=1"])
            .arg(format!("-test.timeout={}s", go_timeout.as_secs()))
            .current_dir(go_dir())
            .env("DQLITE_ADDRESS", server.address())
            .env("DQLITE_NODE_ID", server.id().to_string()),
        timeout,
    );
    let elapsed = started.elapsed();
    drop(server);
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
