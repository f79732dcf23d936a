//! `dqlite-server --address unix:/path` and `--address @name`: the
//! binary answers `dqlite-client` sessions over a socket file and over
//! an abstract socket (TLS too); three nodes on Unix sockets join with
//! `--join` and replicate (Raft over Unix sockets); a stale socket file is
//! replaced, a live one or a non-socket refused and kept; the file is
//! mode 0600, removed on a clean exit; another user (run as `nobody`
//! when the tests run as root) is kept out of both kinds of socket.

#![allow(clippy::unwrap_used)] // Tests panic on purpose.

#[path = "../common/process.rs"]
mod process;

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dqlite_client::sql::SqlInfo;
use dqlite_client::{Config, Session};
use dqlite_protocol::request::{Cluster, Leader, Request};
use dqlite_protocol::response::Response;
use dqlite_protocol::{ProtocolVersion, Role, Value};
use process::{ServerProcess, spawn_node_logging};

/// Every wait here is bounded by this.
const WAIT: Duration = Duration::from_secs(30);

/// An abstract socket name no other test (or test run) uses.
fn abstract_name(what: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("@dqlite-test-{what}-{}-{n}-{nanos}", std::process::id())
}

/// `unix:` and the path of `name` in `dir`.
fn socket_file(dir: &Path, name: &str) -> String {
    format!("unix:{}", dir.join(name).display())
}

/// A session on database `app` that may ask `nodes`, finding the leader
/// for up to [`WAIT`] (the nodes may still be starting).
fn session(nodes: &[&str]) -> Session {
    let mut config = Config::new("app");
    for node in nodes {
        config.add_node(node);
    }
    config.connect_timeout = WAIT;
    config.request_timeout = Some(WAIT);
    Session::new(config).unwrap()
}

async fn exec(session: &mut Session, sql: &str) -> u64 {
    session
        .exec_sql(sql, &SqlInfo::new(sql), Vec::new())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The rows of a query that fits one ROWS message.
async fn query(session: &mut Session, sql: &str) -> Vec<Vec<Value>> {
    let started = session
        .query_sql(sql, &SqlInfo::new(sql), Vec::new())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    assert!(!started.more, "a small result");
    match Response::decode_frame(&started.frame, &Default::default()).unwrap() {
        Response::Rows(rows) => rows.rows,
        other => panic!("{sql}: {other:?}"),
    }
}

/// Writes a row through `session` and reads it back.
async fn write_and_read(session: &mut Session) {
    exec(session, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)").await;
    assert_eq!(
        exec(session, "INSERT INTO t (v) VALUES ('over unix')").await,
        1
    );
    assert_eq!(
        query(session, "SELECT id, v FROM t").await,
        [[Value::Integer(1), Value::Text(b"over unix".to_vec())]]
    );
}

/// Waits up to [`WAIT`] for the process to end.
fn exited(node: &mut ServerProcess) -> bool {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if !node.running() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A connection to a Unix socket address that has sent the version word.
async fn dial(address: &str) -> Option<tokio::net::UnixStream> {
    let stream = match address.strip_prefix("unix:") {
        Some(path) => tokio::net::UnixStream::connect(path).await.ok()?,
        None => {
            use std::os::linux::net::SocketAddrExt;
            let name = address.strip_prefix('@')?.as_bytes();
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name).ok()?;
            let stream = std::os::unix::net::UnixStream::connect_addr(&addr).ok()?;
            stream.set_nonblocking(true).ok()?;
            tokio::net::UnixStream::from_std(stream).ok()?
        }
    };
    process::send_version(stream).await
}

/// The voters node `address` reports (0 while it does not answer).
async fn voters(address: &str) -> usize {
    let Some(mut stream) = dial(address).await else {
        return 0;
    };
    let request = Request::from(Cluster { format: 1 });
    let reply = tokio::time::timeout(
        Duration::from_secs(5),
        process::request(&mut stream, &request),
    );
    match reply.await {
        Ok(Some(Response::Servers(servers))) => servers
            .nodes
            .iter()
            .filter(|n| n.role == Some(Role::Voter))
            .count(),
        _ => 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_on_an_abstract_socket_answers_a_client() {
    let dirs = tempfile::tempdir().unwrap();
    let name = abstract_name("one");
    let (_node, _log) = spawn_node_logging(&name, &dirs.path().join("n1"), &[]);
    let mut client = session(&[&name]);
    write_and_read(&mut client).await;
    // The node advertises the address it was given, as go-dqlite's
    // clients expect.
    assert_eq!(client.leader(), Some(name.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_on_a_socket_file_answers_is_private_and_removes_it_on_exit() {
    let dirs = tempfile::tempdir().unwrap();
    let address = socket_file(dirs.path(), "node.sock");
    let path = dirs.path().join("node.sock");
    let (mut node, log) = spawn_node_logging(&address, &dirs.path().join("n1"), &[]);
    let mut client = session(&[&address]);
    write_and_read(&mut client).await;
    assert_eq!(client.leader(), Some(address.as_str()));

    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "owner only");

    // SIGTERM: a clean exit, which removes the file.
    drop(client);
    let pid = libc::pid_t::try_from(node.pid()).unwrap();
    // SAFETY: signals the child this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    assert!(exited(&mut node), "the node exits on SIGTERM");
    assert!(
        !path.exists(),
        "the socket file is removed on a clean exit\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_socket_file_is_replaced_a_live_one_or_other_file_refused() {
    let dirs = tempfile::tempdir().unwrap();
    let path = dirs.path().join("node.sock");
    let address = socket_file(dirs.path(), "node.sock");

    // Something listens there: the node refuses to start, and the socket
    // still works.
    let live = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let (mut node, log) = spawn_node_logging(&address, &dirs.path().join("n1"), &[]);
    assert!(exited(&mut node), "a node on a live socket exits");
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(said.contains("another process listens on"), "{said}");
    std::os::unix::net::UnixStream::connect(&path).unwrap();
    assert!(live.accept().is_ok(), "the other listener is untouched");

    // Its listener closed without removing the file (as a killed node
    // leaves it): stale, so the node replaces it and answers.
    drop(live);
    assert!(path.exists());
    let (_node, _log) = spawn_node_logging(&address, &dirs.path().join("n1"), &[]);
    write_and_read(&mut session(&[&address])).await;

    // A path that is not a socket is never removed.
    let other = dirs.path().join("data");
    std::fs::write(&other, b"not a socket").unwrap();
    let address = format!("unix:{}", other.display());
    let (mut node, log) = spawn_node_logging(&address, &dirs.path().join("n2"), &[]);
    assert!(exited(&mut node), "a node on a regular file exits");
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(said.contains("is not a socket"), "{said}");
    assert_eq!(std::fs::read(&other).unwrap(), b"not a socket");

    // A relative path is refused (every node and client dials the
    // advertised address, whatever its working directory).
    let (mut node, log) = spawn_node_logging("unix:node.sock", &dirs.path().join("n3"), &[]);
    assert!(exited(&mut node), "a node on a relative path exits");
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(said.contains("must be absolute"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_on_unix_sockets_join_and_replicate() {
    let dirs = tempfile::tempdir().unwrap();
    // Two socket files and an abstract socket: Raft dials both kinds.
    let addresses = [
        socket_file(dirs.path(), "n1.sock"),
        socket_file(dirs.path(), "n2.sock"),
        abstract_name("n3"),
    ];
    let mut nodes = Vec::new();
    for (i, address) in addresses.iter().enumerate() {
        let id = (i + 1).to_string();
        let mut extra = vec!["--id", id.as_str()];
        if i > 0 {
            extra.extend(["--join", addresses[0].as_str()]);
        }
        let dir = dirs.path().join(format!("n{id}"));
        nodes.push(spawn_node_logging(address, &dir, &extra));
    }
    let deadline = Instant::now() + WAIT;
    while voters(&addresses[0]).await < 3 {
        assert!(Instant::now() < deadline, "three voters within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let all: Vec<&str> = addresses.iter().map(String::as_str).collect();
    let mut client = session(&all);
    write_and_read(&mut client).await;
    let leader = client.leader().unwrap().to_owned();
    drop(client);

    // Kill the leader: the other two elect one of themselves, and the row
    // is there, replicated over Unix sockets.
    let i = addresses.iter().position(|a| *a == leader).unwrap();
    nodes[i].0.kill();
    let rest: Vec<&str> = all.iter().copied().filter(|a| *a != leader).collect();
    let mut client = session(&rest);
    assert_eq!(
        query(&mut client, "SELECT v FROM t").await,
        [[Value::Text(b"over unix".to_vec())]]
    );
    assert_ne!(client.leader(), Some(leader.as_str()));
    for (j, (node, log)) in nodes.iter_mut().enumerate() {
        if j != i {
            assert!(
                node.running(),
                "{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_runs_over_a_unix_socket() {
    let dirs = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["dqlite".to_owned()]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap().pem();
    let key = key.serialize_pem();
    let (cert_file, key_file) = (dirs.path().join("c.crt"), dirs.path().join("c.key"));
    std::fs::write(&cert_file, &cert).unwrap();
    std::fs::write(&key_file, &key).unwrap();
    let name = abstract_name("tls");
    let flags = [
        "--tls-cert",
        cert_file.to_str().unwrap(),
        "--tls-key",
        key_file.to_str().unwrap(),
    ];
    let (_node, _log) = spawn_node_logging(&name, &dirs.path().join("n1"), &flags);

    let mut config = Config::new("app");
    config.add_node(&name);
    config.connect_timeout = WAIT;
    config.tls = Some(
        dqlite_client::tls::ClientTls::from_pem(cert.as_bytes(), key.as_bytes(), None).unwrap(),
    );
    write_and_read(&mut Session::new(config).unwrap()).await;

    // Plaintext over the same socket is refused.
    let mut config = Config::new("app");
    config.add_node(&name);
    config.connect_timeout = Duration::from_secs(2);
    let mut plain = Session::new(config).unwrap();
    assert!(plain.connect().await.is_err());
}

/// Runs [`PROBE`] as user and group `uid` against `address`: `denied`
/// (connect refused by permissions), `closed` (connected, then closed
/// unanswered) or `answered`.
fn probe_as(uid: u32, address: &str) -> String {
    let mut hello = bytes::BytesMut::new();
    hello.extend_from_slice(&ProtocolVersion::V1.to_bytes());
    Request::from(Leader).encode(&mut hello).unwrap();
    let mut child = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(PROBE)
        .args([address, &hex::encode(&hello)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .uid(uid)
        .gid(uid)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + WAIT;
    while matches!(child.try_wait(), Ok(None)) {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the probe did not finish within {WAIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Connects to argv[1] (`@name` or `unix:/path`), sends argv[2] (hex),
/// says what happened. Every socket operation times out after 5 s.
const PROBE: &str = r#"
import socket, sys
address, hello = sys.argv[1], bytes.fromhex(sys.argv[2])
target = "\0" + address[1:] if address.startswith("@") else address[len("unix:"):]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
try:
    s.connect(target)
except PermissionError:
    print("denied")
    sys.exit(0)
try:
    s.sendall(hello)
    data = s.recv(8)
except (ConnectionResetError, BrokenPipeError):
    data = b""
print("answered" if data else "closed")
"#;

/// Another user: the socket file's mode keeps it from connecting, the
/// abstract socket closes its connection; the server's own user gets
/// answers on both (so the probe itself works). Needs root, to run the
/// probe as `nobody` (CI runs as root: there, not root fails), and
/// `/usr/bin/python3` (missing fails under `CI` or `DQLITE_REQUIRE_TOOLS`;
/// `scripts/prerequisites` installs it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_user_is_kept_out() {
    let ci = std::env::var_os("CI").is_some();
    let require_tools = ci || std::env::var_os("DQLITE_REQUIRE_TOOLS").is_some();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        assert!(!ci, "CI runs as root: this test must run");
        eprintln!("SKIPPED: not root, so no probe can run as another user");
        return;
    }
    if !Path::new("/usr/bin/python3").exists() {
        assert!(!require_tools, "/usr/bin/python3 is missing");
        eprintln!("SKIPPED: /usr/bin/python3 is missing (scripts/prerequisites installs it)");
        return;
    }
    let dirs = tempfile::tempdir().unwrap();
    // Let everyone reach the file, so that its own mode decides.
    std::fs::set_permissions(dirs.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let file = socket_file(dirs.path(), "node.sock");
    let name = abstract_name("users");
    let (_a, _) = spawn_node_logging(&file, &dirs.path().join("n1"), &[]);
    let (_b, _) = spawn_node_logging(&name, &dirs.path().join("n2"), &[]);
    for address in [&file, &name] {
        let deadline = Instant::now() + WAIT;
        while dial(address).await.is_none() {
            assert!(Instant::now() < deadline, "{address} listens");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    const NOBODY: u32 = 65534;
    let (file_probe, name_probe) = tokio::task::spawn_blocking(move || {
        let own = (probe_as(0, &file), probe_as(0, &name));
        assert_eq!(own, ("answered".into(), "answered".into()));
        (probe_as(NOBODY, &file), probe_as(NOBODY, &name))
    })
    .await
    .unwrap();
    assert_eq!(file_probe, "denied");
    assert_eq!(name_probe, "closed");
}
