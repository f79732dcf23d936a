//! `--tls-admin-ca`: with a cluster CA and an admin CA, only admin
//! certificates change the cluster (ADD, ASSIGN, REMOVE, TRANSFER,
//! WEIGHT) and talk Raft; other certificates of the cluster CA run SQL
//! and get FAILURE(23) for those requests, on a connection that stays
//! usable. Nodes hold admin certificates; one that does not cannot join,
//! and its node-to-node hello is refused.

use super::*;
use dqlite_protocol::codes;
use dqlite_protocol::request::{Add, Assign, Remove, Transfer, Weight};
use tokio::io::AsyncWriteExt;

/// A cluster CA and an admin CA, their files, and clients of each.
struct Cas {
    cluster: Ca,
    admin: Ca,
    cluster_file: PathBuf,
    admin_file: PathBuf,
    /// Both CAs, PEM: what a client trusts (the nodes' certificates are
    /// the admin CA's, clients' either CA's).
    both: String,
}

impl Cas {
    fn new(dir: &Path) -> Self {
        let (cluster, admin) = (Ca::new(), Ca::new());
        let cluster_file = dir.join("cluster-ca.crt");
        let admin_file = dir.join("admin-ca.crt");
        std::fs::write(&cluster_file, cluster.pem()).unwrap();
        std::fs::write(&admin_file, admin.pem()).unwrap();
        let both = cluster.pem() + &admin.pem();
        Cas {
            cluster,
            admin,
            cluster_file,
            admin_file,
            both,
        }
    }

    /// The TLS files of node `id`: an admin certificate and its key, the
    /// cluster CA, the admin CA (in `start`'s order).
    fn node(&self, dir: &Path, id: u64) -> Vec<PathBuf> {
        let (cert, key) = self.admin.leaf().write(dir, &format!("node{id}"));
        vec![
            cert,
            key,
            self.cluster_file.clone(),
            self.admin_file.clone(),
        ]
    }

    /// A client with a certificate of the admin CA.
    fn admin_client(&self) -> Arc<rustls::ClientConfig> {
        self.admin.leaf().client(Some(&self.both))
    }

    /// A client with a certificate of the cluster CA only.
    fn user_client(&self) -> Arc<rustls::ClientConfig> {
        self.cluster.leaf().client(Some(&self.both))
    }
}

/// Starts node `id` with `files` and `extra` flags, role management off
/// (the test changes roles itself).
fn start_node(dirs: &Path, id: u64, address: &str, files: &[PathBuf]) -> (ServerProcess, PathBuf) {
    let files: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    start(dirs, id, address, &files, &["--role-management", "off"])
}

/// One request and its reply within 20 s (ASSIGN waits for the node to
/// catch up).
async fn slow_call<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    request: impl Into<Request>,
) -> Option<Response> {
    let request = request.into();
    tokio::time::timeout(Duration::from_secs(20), process::request(stream, &request))
        .await
        .ok()
        .flatten()
}

/// Whether `response` is the refusal of request `name` to a peer
/// without an admin certificate.
fn denied(response: Option<Response>, name: &str) -> bool {
    match response {
        Some(Response::Failure(f)) => {
            assert_eq!(f.code, codes::SQLITE_AUTH, "{name}: {f:?}");
            assert_eq!(
                f.message,
                format!("permission denied: {name} needs a certificate from the admin CA")
            );
            true
        }
        other => panic!("{name}: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admin_certificates_change_the_cluster() {
    let dirs = tempfile::tempdir().unwrap();
    let cas = Cas::new(dirs.path());
    let (a, b) = (address(), address());
    let (mut first, _) = start_node(dirs.path(), 1, &a, &cas.node(dirs.path(), 1));
    // Node 2 waits to be added.
    let (mut second, _) = start_node(dirs.path(), 2, &b, &cas.node(dirs.path(), 2));
    let (admin, user) = (cas.admin_client(), cas.user_client());
    assert!(eventually(|| answers(&a, user.clone())).await);

    // A certificate of the cluster CA only: every cluster change is
    // refused, the connection goes on with SQL.
    let mut stream = tls_dial(&a, user.clone()).await.unwrap();
    let add = Add {
        id: 2,
        address: b.clone(),
    };
    let assign = Assign {
        id: 2,
        role: Some(0),
    };
    assert!(denied(call(&mut stream, add.clone()).await, "ADD"));
    assert!(denied(call(&mut stream, assign).await, "ASSIGN"));
    assert!(denied(call(&mut stream, Remove { id: 2 }).await, "REMOVE"));
    assert!(denied(
        call(&mut stream, Transfer { id: 2 }).await,
        "TRANSFER"
    ));
    assert!(denied(
        call(&mut stream, Weight { weight: 3 }).await,
        "WEIGHT"
    ));
    assert!(matches!(
        call(&mut stream, Leader).await,
        Some(Response::Server(s)) if s.address == a
    ));
    assert!(matches!(
        call(&mut stream, open()).await,
        Some(Response::Db(_))
    ));
    assert!(matches!(
        call(&mut stream, exec("CREATE TABLE t(x)")).await,
        Some(Response::Result(_))
    ));
    assert_eq!(members(&a, user.clone()).await, 1, "nothing was added");

    // An admin certificate: each is carried out.
    let mut stream = tls_dial(&a, admin.clone()).await.unwrap();
    let empty = |r: Option<Response>, what: &str| {
        assert!(matches!(r, Some(Response::Empty(_))), "{what}: {r:?}");
    };
    empty(slow_call(&mut stream, add).await, "ADD");
    empty(slow_call(&mut stream, assign).await, "ASSIGN");
    empty(slow_call(&mut stream, Weight { weight: 3 }).await, "WEIGHT");
    assert_eq!(members(&a, admin.clone()).await, 2);
    empty(slow_call(&mut stream, Transfer { id: 2 }).await, "TRANSFER");
    // Node 2 leads once its election is through: the removal of node 1
    // goes there.
    let mut stream = tls_dial(&b, admin.clone()).await.unwrap();
    let leads = eventually(|| {
        let (admin, b) = (admin.clone(), b.clone());
        async move {
            let Some(mut stream) = tls_dial(&b, admin).await else {
                return false;
            };
            matches!(call(&mut stream, Leader).await, Some(Response::Server(s)) if s.address == b)
        }
    })
    .await;
    assert!(leads, "node 2 leads after TRANSFER");
    empty(slow_call(&mut stream, Remove { id: 1 }).await, "REMOVE");
    assert_eq!(members(&b, admin.clone()).await, 1);
    // The table created through node 1 was replicated to node 2.
    assert!(write(std::slice::from_ref(&b), &user, "INSERT INTO t VALUES (1)").await);
    assert!(first.running() && second.running());
}

/// A TLS connection to `address` that has sent nothing yet.
async fn tls_connect(
    address: &str,
    config: Arc<rustls::ClientConfig>,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let tcp = TcpStream::connect(address).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(config);
    let name = ServerName::try_from(NAME).unwrap();
    let connect = tokio::time::timeout(Duration::from_secs(5), connector.connect(name, tcp));
    connect.await.unwrap().unwrap()
}

/// Whether the node at `address` closes a node-to-node connection from
/// a peer with `config` right after its hello (node 7 at `127.0.0.1:1`);
/// false if it keeps it open for a second, waiting for calls.
async fn hello_closed(address: &str, config: Arc<rustls::ClientConfig>) -> bool {
    let mut stream = tls_connect(address, config).await;
    let mut hello = b"dqlrsrft".to_vec();
    hello.extend_from_slice(&7u64.to_le_bytes());
    let from = b"127.0.0.1:1";
    hello.extend_from_slice(&u16::try_from(from.len()).unwrap().to_le_bytes());
    hello.extend_from_slice(from);
    stream.write_all(&hello).await.unwrap();
    stream.flush().await.unwrap();
    let mut byte = [0u8; 1];
    match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut byte)).await {
        Ok(Ok(0) | Err(_)) => true,
        Ok(Ok(_)) => panic!("a node-to-node hello is not answered"),
        Err(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_an_admin_certificate_cannot_join_nor_talk_raft() {
    let dirs = tempfile::tempdir().unwrap();
    let cas = Cas::new(dirs.path());
    let (a, c, f) = (address(), address(), address());
    let (_first, _) = start_node(dirs.path(), 1, &a, &cas.node(dirs.path(), 1));
    let user = cas.user_client();
    assert!(eventually(|| answers(&a, user.clone())).await);

    // A node with a certificate of the cluster CA (trusting both CAs, so
    // that it accepts node 1's certificate) asks to join: ADD is refused
    // and it gives up at once.
    let (cert, key) = cas.cluster.leaf().write(dirs.path(), "intruder");
    let both = dirs.path().join("both.crt");
    std::fs::write(&both, &cas.both).unwrap();
    let join = ["--join", a.as_str(), "--join-timeout", "30"];
    let (mut intruder, intruder_log) = start(dirs.path(), 3, &c, &[&cert, &key, &both], &join);
    let started = Instant::now();
    let exited = eventually(|| {
        let running = intruder.running();
        async move { !running }
    })
    .await;
    assert!(exited, "the node without an admin certificate gave up");
    assert!(started.elapsed() < Duration::from_secs(20), "at once");
    let said = std::fs::read_to_string(intruder_log).unwrap();
    assert!(
        said.contains("cannot join the cluster")
            && said.contains("permission denied: ADD needs a certificate from the admin CA"),
        "{said}"
    );
    assert_eq!(members(&a, user.clone()).await, 1);

    // Its Raft traffic: a node that belongs to no cluster yet hears from
    // any admin caller, and refuses the hello of anyone else.
    let (_fresh, fresh_log) = start_node(dirs.path(), 5, &f, &cas.node(dirs.path(), 5));
    assert!(eventually(|| answers(&f, user.clone())).await);
    assert!(
        !hello_closed(&f, cas.admin_client()).await,
        "admin: admitted"
    );
    assert!(hello_closed(&f, user.clone()).await, "no admin: refused");
    let warned = || async {
        std::fs::read_to_string(&fresh_log).unwrap().lines().any(|l| {
            l.contains("WARN")
                && l.contains("refused a node-to-node connection")
                && l.contains("peer")
                && l.contains("node 7 at 127.0.0.1:1 presented a certificate that is not from the admin CA")
        })
    };
    assert!(
        eventually(warned).await,
        "the refusal is logged at WARN: {}",
        std::fs::read_to_string(&fresh_log).unwrap()
    );
    // A second refusal of the same peer within a minute: at DEBUG only.
    assert!(hello_closed(&f, user.clone()).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let count = std::fs::read_to_string(&fresh_log)
        .unwrap()
        .matches("not from the admin CA")
        .count();
    assert_eq!(count, 1, "logged once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_of_admin_nodes_serves_other_clients() {
    let dirs = tempfile::tempdir().unwrap();
    let cas = Cas::new(dirs.path());
    let files: Vec<Vec<PathBuf>> = (1..=3).map(|id| cas.node(dirs.path(), id)).collect();
    // The nodes join each other with their admin certificates; a client
    // with a certificate of the cluster CA writes.
    three_nodes(
        dirs.path(),
        |id| files[usize::try_from(id - 1).unwrap()].clone(),
        cas.user_client(),
    )
    .await;
}
