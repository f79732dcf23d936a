//! `dqlite-server`: runs one dqlite node.
//!
//! `dqlite-server` alone starts node 1 on 127.0.0.1:9001 with its data in
//! `./dqlite-data`, bootstrapping a one-node cluster on first start.
//! With `--tls-cert` and `--tls-key`, every connection is mutual TLS, and
//! SIGHUP reloads the certificate files; `--tls-admin-ca` keeps cluster
//! changes and Raft traffic to the holders of admin certificates.
//! `--address unix:/path` or `--address @name` serves a Unix socket
//! instead of TCP, for nodes and clients on one host (see
//! `dqlite_server::transport::local`).
//!
//! It logs to stderr (see [`logging`]): its own events at INFO, other
//! crates' at WARN unless `RUST_LOG` says otherwise, as text or JSON
//! lines (`--log-format`). A failure to start or a fatal error ends the
//! process with status 1 after one ERROR line (no backtrace).
//!
//! `dqlite-server backup` and `dqlite-server restore` run as clients of a
//! running cluster instead of as a node (see `cli/ops.rs` and
//! `dqlite_server::backup`).

#[path = "cli/logging.rs"]
mod logging;
#[path = "cli/ops.rs"]
mod ops;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::LazyLock;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use dqlite_server::Node;
use dqlite_server::net::{self, Limits};
use dqlite_server::tls::{Tls, TlsFiles};
use dqlite_server::transport::Listener;

/// What `--version` prints after the program's name: this server's
/// version, the dqlite wire protocol it speaks and the SQLite it embeds.
static VERSION: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{}\ndqlite protocol {} (and the legacy pre-1.0 one)\nSQLite {}",
        env!("CARGO_PKG_VERSION"),
        dqlite_protocol::ProtocolVersion::V1.word(),
        rusqlite::version(),
    )
});

/// A dqlite-compatible, Raft-replicated SQLite server.
///
/// Without a subcommand, runs one node with the options below. The
/// subcommands `backup` and `restore` run as clients of a running cluster
/// (`dqlite-server backup --help`).
///
/// Logs go to stderr: this server's events at INFO, other crates' at WARN;
/// `RUST_LOG` (e.g. `RUST_LOG=debug`, `RUST_LOG=info,openraft=info`)
/// overrides that.
#[derive(Debug, Parser)]
#[command(version = VERSION.as_str(), args_conflicts_with_subcommands = true)]
struct Args {
    /// An operation on a running cluster, instead of running a node.
    #[command(subcommand)]
    command: Option<ops::Command>,
    /// Node id; node 1 bootstraps a new cluster on an empty data directory.
    #[arg(long, default_value_t = 1)]
    id: u64,
    /// Address to listen on and to advertise (clients and other nodes
    /// dial it; clients compare it with the address they dialed):
    /// `host:port` (port 0 picks a free port), or a Unix socket for nodes
    /// and clients on this host: `unix:/absolute/path` (a socket file,
    /// created with mode 0600 whatever the umask, so only this user and
    /// root can connect; a stale file nothing listens on is replaced, a
    /// live one or a non-socket refused; removed on a clean exit) or
    /// `@name` (Linux abstract socket: no file, so only processes of this
    /// user or root are let in). TLS (--tls-cert) works over all of these.
    #[arg(long, default_value = "127.0.0.1:9001")]
    address: String,
    /// Data directory (Raft log, snapshots, node identity).
    #[arg(long, default_value = "dqlite-data")]
    dir: PathBuf,
    /// Addresses of cluster members to join, comma-separated: the node
    /// adds itself and takes the role the cluster lacks (voter up to 3,
    /// then stand-by up to 3, then spare).
    /// A node that already belongs to a cluster (its data directory
    /// holds one) starts as that member and ignores this flag.
    #[arg(long, value_delimiter = ',')]
    join: Vec<String>,
    /// Seconds `--join` keeps trying to reach the cluster before the
    /// node gives up and exits.
    #[arg(long, default_value_t = 60)]
    join_timeout: u64,
    /// Most simultaneous client connections.
    #[arg(long, default_value_t = net::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Largest request accepted, in bytes.
    #[arg(long, default_value_t = net::DEFAULT_MAX_FRAME)]
    max_frame: usize,
    /// Seconds a client connection may stay idle between requests before
    /// it is closed (0: never). At the connection limit, the longest-idle
    /// connection is closed for a new one anyway.
    #[arg(long, default_value_t = net::DEFAULT_IDLE_TIMEOUT.as_secs())]
    idle_timeout: u64,
    /// Bytes of large requests (over 64 KiB) the node buffers at once, all
    /// connections together; a request that does not fit waits.
    #[arg(long, default_value_t = net::DEFAULT_REQUEST_BUDGET)]
    request_budget: usize,
    /// Prepared statements one client connection may hold at once.
    #[arg(long, default_value_t = net::DEFAULT_MAX_STATEMENTS)]
    max_statements: usize,
    /// Milliseconds a statement waits for another connection's write
    /// transaction to end before "database is locked" (0: fail at once,
    /// as dqlite by default; LXD uses 5000).
    #[arg(long, default_value_t = 0)]
    busy_timeout: u64,
    /// Log entries between snapshots (each snapshot compacts the log).
    #[arg(long, default_value_t = dqlite_server::DEFAULT_SNAPSHOT_EVERY)]
    snapshot_every: u64,
    /// Whether this node, while it leads, manages the roles by itself:
    /// `on` keeps up to 3 voters and 3 stand-bys among the nodes that
    /// answer and replaces a voter that went silent; `off` changes roles
    /// only when a client asks (ADD, ASSIGN, REMOVE) or on handover, as a
    /// bare C dqlite node does (for programs that manage roles themselves,
    /// as LXD does through go-dqlite).
    #[arg(long, value_enum, default_value_t = Switch::On)]
    role_management: Switch,
    /// This node's failure domain (a rack, a zone): the leader prefers
    /// voters and stand-bys in distinct domains.
    #[arg(long, default_value_t = 0)]
    failure_domain: u64,
    /// PEM certificate (chain) of this node: with --tls-key, every
    /// connection, clients' and other nodes' alike, is TLS 1.2 or 1.3 with
    /// mutual authentication. Its first DNS name (subjectAltName DNS:...)
    /// is the name this node expects other nodes' certificates to carry,
    /// as go-dqlite's clients do. SIGHUP reloads the files (a bad new pair
    /// keeps the old one).
    #[arg(long, requires = "tls_key", value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert", value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// PEM certificates of the CA(s) peers' certificates must chain to.
    /// Without it, --tls-cert itself is the only trusted certificate (one
    /// cluster certificate shared by all nodes and clients, as go-dqlite's
    /// app.SimpleTLSConfig).
    #[arg(long, requires = "tls_cert", value_name = "FILE")]
    tls_ca: Option<PathBuf>,
    /// PEM certificates of the admin CA(s). Only peers whose certificate
    /// chains to it (or is one of its certificates) may change the
    /// cluster (ADD, ASSIGN, REMOVE, TRANSFER, WEIGHT) and talk Raft to
    /// this node; other peers trusted by --tls-ca run SQL and every other
    /// request, and get FAILURE(23, "permission denied: ADD needs a
    /// certificate from the admin CA") for those. Nodes join and talk Raft
    /// with their own certificate: --tls-cert must come from this CA.
    /// Connections are accepted from both CAs. SIGHUP reloads it.
    #[arg(long, requires = "tls_ca", value_name = "FILE")]
    tls_admin_ca: Option<PathBuf>,
    /// How log lines are written to stderr: `text` (coloured only on a
    /// terminal) or `json` (one object a line, with the fields
    /// `timestamp`, `level`, `target`, `message` and the event's own).
    #[arg(long, value_enum, default_value_t = logging::LogFormat::Text)]
    log_format: logging::LogFormat,
    /// Serve the operations endpoints over plain HTTP on this address
    /// (off by default; keep it on a private interface, it has no TLS and
    /// no authentication): GET /metrics (Prometheus text format, names
    /// prefixed dqlite_), GET /healthz (200 while the node serves), GET
    /// /readyz (200 when a leader is known and reached this node within
    /// two election timeouts, and this node's applied index is within 64
    /// entries of the leader's commit index; else 503 and the reason on
    /// one line), GET /status (JSON: id, address, role, leader, members,
    /// version, uptime, data directory size).
    #[arg(long, value_name = "HOST:PORT")]
    http_address: Option<String>,
}

/// A feature switched on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Switch {
    On,
    Off,
}

fn main() -> ExitCode {
    let mut args = Args::parse();
    logging::init(args.log_format);
    let command = args.command.take();
    let ran = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .and_then(|runtime| {
            runtime.block_on(async {
                match command {
                    Some(command) => ops::run(command).await,
                    None => run(args).await,
                }
            })
        });
    match ran {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The chain of causes on one line, and never a backtrace
            // (`RUST_BACKTRACE` is for panics): these are operating
            // errors, such as a port in use.
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the node until a signal or a fatal error.
async fn run(args: Args) -> anyhow::Result<()> {
    let listener = Listener::bind_local(&args.address)
        .with_context(|| format!("cannot listen on {}", args.address))?;
    // With port 0 (or "@"), advertise the port (the name) actually bound;
    // otherwise the address as given (a host name stays a name).
    let address = if args.address.ends_with(":0") || args.address == "@" {
        listener.local_address()?
    } else {
        args.address.clone()
    };
    let limits = Limits {
        max_frame: args.max_frame,
        max_connections: args.max_connections,
        idle_timeout: Duration::from_secs(args.idle_timeout),
        request_budget: args.request_budget,
        max_statements: args.max_statements,
        ..Limits::default()
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let files = TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                ca: args.tls_ca.clone(),
                admin_ca: args.tls_admin_ca.clone(),
            };
            Some(Tls::from_files(files).context("cannot load the TLS certificate")?)
        }
        _ => None,
    };
    // Handle SIGHUP before the node answers anyone: its default action
    // would end the process.
    let hangup = match &tls {
        Some(_) => Some(
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
                .context("cannot handle SIGHUP (TLS reloads)")?,
        ),
        None => None,
    };
    let mut builder = Node::builder(args.id, address.clone(), &args.dir);
    if let Some(http) = &args.http_address {
        let listener = std::net::TcpListener::bind(http)
            .with_context(|| format!("cannot serve HTTP on {http}"))?;
        tracing::info!(address = %listener.local_addr()?, "operations endpoints over HTTP");
        builder = builder.http(listener);
    }
    if let Some(tls) = &tls {
        builder = builder.tls(tls.clone());
    }
    let node = builder
        .snapshot_every(args.snapshot_every)
        .busy_timeout(Duration::from_millis(args.busy_timeout))
        .manage_roles(args.role_management == Switch::On)
        .failure_domain(args.failure_domain)
        .serve(listener, limits)
        .start()
        .await
        .with_context(|| {
            format!(
                "cannot start node {} with data in {}",
                args.id,
                args.dir.display()
            )
        })?;
    tracing::info!(id = args.id, %address, dir = %args.dir.display(), tls = tls.is_some(), admin_ca = args.tls_admin_ca.is_some(), "listening");
    if let (Some(tls), Some(hangup)) = (tls, hangup) {
        tokio::spawn(reload_on_hangup(tls, hangup));
    }
    if args.join.is_empty() && node.members().is_empty() {
        tracing::warn!(
            id = args.id,
            %address,
            "this node belongs to no cluster yet and waits to be added: ADD it from a \
             member of the cluster, or start it with --join (only node 1 starts a new cluster)"
        );
    }
    let run = async {
        if !args.join.is_empty() {
            node.join(&args.join, Duration::from_secs(args.join_timeout))
                .await
                .with_context(|| format!("cannot join the cluster of {}", args.join.join(", ")))?;
        }
        anyhow::Ok(shutdown_signal().await)
    };
    let signal = tokio::select! {
        ran = run => ran?,
        // The node stops by itself when Raft fails (a storage error, such
        // as a full or failing disk, is fatal to openraft): exit non-zero
        // so that a supervisor sees it and restarts the node, which then
        // repairs its log and catches up.
        stopped = node.stopped() => {
            stopped?;
            anyhow::bail!(
                "node {} stopped: {}",
                args.id,
                node.failure().unwrap_or_else(|| "Raft stopped".into())
            );
        }
    };
    tracing::info!(id = args.id, reason = signal, "shutting down");
    node.handover().await;
    tokio::time::timeout(Duration::from_secs(5), node.stop())
        .await
        .context("node did not stop within 5 s")??;
    Ok(())
}

/// Reloads the TLS files on each SIGHUP; a pair that does not load keeps
/// the current one.
async fn reload_on_hangup(tls: Tls, mut hangup: tokio::signal::unix::Signal) {
    while hangup.recv().await.is_some() {
        match tls.reload() {
            Ok(()) => tracing::info!("SIGHUP: reloaded the TLS certificate"),
            Err(e) => tracing::warn!(
                error = %e,
                "SIGHUP: cannot load the new TLS certificate; keeping the current one"
            ),
        }
    }
}

/// Resolves on SIGINT or SIGTERM, with the signal's name.
async fn shutdown_signal() -> &'static str {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        () = async {
            match term.as_mut() {
                Some(term) => { term.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => "SIGTERM",
    }
}
