//! `dqlite-server`: runs one dqlite node.
//!
//! `dqlite-server` alone starts node 1 on 127.0.0.1:9001 with its data in
//! `./dqlite-data`, bootstrapping a one-node cluster on first start.
//! `--address` is where it listens; `--advertise-address` (default: the
//! bind address) is the address it records in the cluster, that other
//! nodes dial and clients are told (bind 0.0.0.0:9001, advertise
//! 10.0.0.5:9001). An unspecified address (0.0.0.0, `[::]`) or port 0 is
//! never advertised.
//! With `--tls-cert` and `--tls-key`, every connection is mutual TLS, and
//! SIGHUP reloads the certificate files; `--tls-admin-ca` keeps cluster
//! changes and Raft traffic to the holders of admin certificates.
//! `--address unix:/path` or `--address @name` serves a Unix socket
//! instead of TCP, for nodes and clients on one host (see
//! `dqlite_server::transport::local`). Raft's timing
//! (`--election-timeout`, `--heartbeat-interval`) and when snapshots are
//! taken (`--snapshot-every` entries, `--snapshot-bytes` of changes) are
//! flags too.
//!
//! `--config FILE` reads options from a TOML file whose keys are the long
//! flag names (see [`config`]); the command line overrides it.
//!
//! It logs to stderr (see [`logging`]): its own events at INFO, other
//! crates' at WARN unless `RUST_LOG` says otherwise, as text or JSON
//! lines (`--log-format`). A failure to start or a fatal error ends the
//! process with status 1 after one ERROR line (no backtrace).
//!
//! Subcommands run instead of a node: `backup` and `restore` as clients
//! of a running cluster (see `cli/ops.rs` and `dqlite_server::backup`),
//! `describe` and `recover` on a stopped node's data directory (see
//! `cli/offline.rs` and `dqlite_server::offline`).

#[path = "cli/config.rs"]
mod config;
#[path = "cli/logging.rs"]
mod logging;
#[path = "cli/offline.rs"]
mod offline;
#[path = "cli/ops.rs"]
mod ops;

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::LazyLock;
use std::time::Duration;

use anyhow::Context;
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
/// (`dqlite-server backup --help`); `describe` and `recover` work on a
/// stopped node's data directory.
///
/// Options may also come from a TOML file (--config FILE) whose keys are
/// the long option names, e.g. `election-timeout = 1000`, `join =
/// ["10.0.0.5:9001", "10.0.0.6:9001"]`, `tls-cert = "/etc/dqlite/node.crt"`;
/// options on the command line override the file's.
///
/// Logs go to stderr: this server's events at INFO, other crates' at WARN;
/// `RUST_LOG` (e.g. `RUST_LOG=debug`, `RUST_LOG=info,openraft=info`)
/// overrides that.
#[derive(Debug, clap::Parser)]
#[command(version = VERSION.as_str(), args_conflicts_with_subcommands = true)]
struct Args {
    /// An operation instead of running a node.
    #[command(subcommand)]
    command: Option<Command>,
    /// Read options from this TOML file: its keys are the long option
    /// names (`id = 2`, `address = "0.0.0.0:9001"`, `join = ["a:9001",
    /// "b:9001"]`). Options given on the command line override it; an
    /// unknown key is an error.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Node id; node 1 bootstraps a new cluster on an empty data directory.
    #[arg(long, default_value_t = 1)]
    id: u64,
    /// Address to listen on, and to advertise unless --advertise-address
    /// says otherwise: `host:port` (port 0 picks a free port), or a Unix
    /// socket for nodes
    /// and clients on this host: `unix:/absolute/path` (a socket file,
    /// created with mode 0600 whatever the umask, so only this user and
    /// root can connect; a stale file nothing listens on is replaced, a
    /// live one or a non-socket refused; removed on a clean exit) or
    /// `@name` (Linux abstract socket: no file, so only processes of this
    /// user or root are let in). TLS (--tls-cert) works over all of these.
    #[arg(long, default_value = "127.0.0.1:9001")]
    address: String,
    /// Address this node gives the cluster: recorded as its address in
    /// the configuration, dialed by the other nodes, and told to clients
    /// (which compare it with the address they dialed). Default: the
    /// --address (with the port actually bound for port 0). Set it when
    /// the node listens on 0.0.0.0 or behind a forwarded port, e.g.
    /// `--address 0.0.0.0:9001 --advertise-address 10.0.0.5:9001`. An
    /// unspecified address (0.0.0.0, [::]) or port 0 is refused: no one
    /// can dial it. It must stay the same across restarts (the data
    /// directory records it).
    #[arg(long, value_name = "HOST:PORT")]
    advertise_address: Option<String>,
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
    /// MiB of SQLite page cache each connection to a database keeps. The
    /// databases are files in the data directory: this cache, and the
    /// recent changes not yet written to the files, are what they take in
    /// memory, whatever their size.
    #[arg(long, default_value_t = dqlite_server::DEFAULT_CACHE_SIZE / (1024 * 1024), value_name = "MIB")]
    cache_size: u64,
    /// Log entries between snapshots (each snapshot syncs the databases'
    /// files, records them as a durable point and compacts the log).
    #[arg(long, default_value_t = dqlite_server::DEFAULT_SNAPSHOT_EVERY, value_name = "ENTRIES")]
    snapshot_every: u64,
    /// Bytes of database changes (pages, as logged) since the last
    /// snapshot after which a snapshot is taken without waiting for
    /// --snapshot-every entries, so that a few large transactions do not
    /// grow the log unbounded (default 64 MiB).
    #[arg(long, default_value_t = dqlite_server::DEFAULT_SNAPSHOT_BYTES, value_name = "BYTES")]
    snapshot_bytes: u64,
    /// Log entries kept behind a snapshot, so that a follower a little
    /// behind catches up from the log instead of being sent every
    /// database (0: none).
    #[arg(long, default_value_t = dqlite_server::DEFAULT_SNAPSHOT_TRAILING, value_name = "ENTRIES")]
    snapshot_trailing: u64,
    /// At most this many bytes of changes in the entries kept behind a
    /// snapshot (default 64 MiB): the oldest are dropped past it.
    #[arg(long, default_value_t = dqlite_server::DEFAULT_SNAPSHOT_TRAILING_BYTES, value_name = "BYTES")]
    snapshot_trailing_bytes: u64,
    /// Raft election timeout in milliseconds: a follower that hears
    /// nothing from a leader for a random time between it and twice it
    /// stands for election. Larger values ride out slow networks and
    /// disks; smaller ones replace a failed leader sooner. Use the same
    /// value on every node.
    #[arg(long, default_value_t = millis(dqlite_server::DEFAULT_ELECTION_TIMEOUT), value_name = "MS")]
    election_timeout: u64,
    /// Milliseconds between a leader's heartbeats to the other nodes;
    /// must be below --election-timeout (a tenth to a third of it is
    /// usual).
    #[arg(long, default_value_t = millis(dqlite_server::DEFAULT_HEARTBEAT_INTERVAL), value_name = "MS")]
    heartbeat_interval: u64,
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

/// The subcommands.
#[derive(Debug, clap::Subcommand)]
enum Command {
    #[command(flatten)]
    Cluster(ops::Command),
    #[command(flatten)]
    Offline(offline::Command),
}

/// A duration in whole milliseconds (for the defaults of flags).
const fn millis(duration: Duration) -> u64 {
    duration.as_secs() * 1000 + duration.subsec_millis() as u64
}

/// A feature switched on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Switch {
    On,
    Off,
}

fn main() -> ExitCode {
    let parsed = config::parse(|args: &Args| args.config.as_deref());
    let mut args = match parsed {
        Ok(args) => args,
        Err(e) => {
            logging::init(logging::LogFormat::Text);
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    logging::init(args.log_format);
    let command = args.command.take();
    let ran = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .and_then(|runtime| {
            runtime.block_on(async {
                match command {
                    Some(Command::Cluster(command)) => ops::run(command).await,
                    Some(Command::Offline(command)) => offline::run(command),
                    None => run(args).await,
                }
            })
        });
    exit(ran)
}

/// The process's status for what ran, after one ERROR line on failure.
fn exit(ran: anyhow::Result<()>) -> ExitCode {
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
    if args.heartbeat_interval == 0 || args.heartbeat_interval >= args.election_timeout {
        anyhow::bail!(
            "--heartbeat-interval ({} ms) must be above 0 and below --election-timeout ({} ms)",
            args.heartbeat_interval,
            args.election_timeout
        );
    }
    if let Some(advertised) = &args.advertise_address {
        check_advertised(advertised).context("bad --advertise-address")?;
    }
    let listener = Listener::bind_local(&args.address)
        .with_context(|| format!("cannot listen on {}", args.address))?;
    // With port 0 (or "@"), advertise the port (the name) actually bound;
    // otherwise the address as given (a host name stays a name).
    let address = match &args.advertise_address {
        Some(advertised) => advertised.clone(),
        None if args.address.ends_with(":0") || args.address == "@" => listener.local_address()?,
        None => args.address.clone(),
    };
    check_advertised(&address).with_context(|| {
        format!(
            "cannot advertise the listening address {address}: give --advertise-address, \
             the address other nodes and clients reach this node at"
        )
    })?;
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
    let heartbeat = Duration::from_millis(args.heartbeat_interval);
    let election = Duration::from_millis(args.election_timeout);
    let node = builder
        .raft_timing(heartbeat, election, election * 2)
        .snapshot_every(args.snapshot_every)
        .snapshot_bytes(args.snapshot_bytes)
        .snapshot_trailing(args.snapshot_trailing)
        .snapshot_trailing_bytes(args.snapshot_trailing_bytes)
        .busy_timeout(Duration::from_millis(args.busy_timeout))
        .cache_size(args.cache_size.saturating_mul(1024 * 1024))
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
    tracing::info!(
        id = args.id,
        %address,
        bind = %args.address,
        dir = %args.dir.display(),
        tls = tls.is_some(),
        admin_ca = args.tls_admin_ca.is_some(),
        election_timeout_ms = args.election_timeout,
        heartbeat_interval_ms = args.heartbeat_interval,
        "listening"
    );
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

/// Refuses an address no one can dial: an unspecified IP (0.0.0.0,
/// `[::]`), port 0, or not `HOST:PORT` at all. Unix socket addresses
/// (`unix:/path`, `@name`) pass as they are.
fn check_advertised(address: &str) -> anyhow::Result<()> {
    if address.starts_with("unix:") || (address.starts_with('@') && address.len() > 1) {
        return Ok(());
    }
    let Some((host, port)) = address.rsplit_once(':') else {
        anyhow::bail!("{address:?} is not HOST:PORT");
    };
    let port: u16 = port
        .parse()
        .with_context(|| format!("{address:?}: {port:?} is not a port"))?;
    let ip = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        anyhow::bail!("{address:?} has no host");
    }
    if ip.parse::<IpAddr>().is_ok_and(|ip| ip.is_unspecified()) {
        anyhow::bail!("{address} names no host (any interface): other nodes cannot dial it");
    }
    if port == 0 {
        anyhow::bail!("{address} has port 0: other nodes cannot dial it");
    }
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
