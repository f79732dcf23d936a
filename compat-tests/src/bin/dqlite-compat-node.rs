//! `dqlite-compat-node`: one node of this workspace's server as a process
//! of its own, for the fault tests (`tests/linearizability.rs`), which kill
//! it with SIGKILL and cut its links to the other nodes.
//!
//! It is `dqlite-server` with one difference: the address it listens on
//! (`--listen`, port 0 allowed) and the address it advertises to clients
//! and peers (`--advertise`) are separate, so that the test can put a
//! proxy in front of it (`dqlite-server --address` is both). Once it
//! listens it prints `listening <address>` on stdout, which the harness
//! reads to point the proxy at it; logs go to stderr (`RUST_LOG`, default
//! `info`).
//!
//! ```text
//! dqlite-compat-node --id 2 --listen 127.0.0.1:0 --advertise 127.0.0.1:4242 \
//!     --dir n2 [--join 127.0.0.1:4241] [--busy-timeout 5000] [--snapshot-every 32] \
//!     [--snapshot-trailing 0] \
//!     [--tls-cert cluster.crt --tls-key cluster.key [--tls-ca ca.crt]]
//! ```
//!
//! `--join` is for the first start only: a restarted node is a member
//! already (and ignores it, as `dqlite-server` does). A restarted member
//! that does not see a leader within the builder's startup timeout starts
//! anyway and waits for the others. `--snapshot-every` sets the entries
//! between snapshots (the fault tests take them often, so that restarted
//! nodes catch up by snapshot install while more snapshots follow), and
//! `--snapshot-trailing` the entries kept behind one (0: none, so that a
//! node behind needs the snapshot).
//! `--tls-cert`, `--tls-key` and `--tls-ca` are `dqlite-server`'s: every
//! connection, clients' and peers' alike, is mutual TLS (the TLS tests,
//! `tests/go_tls.rs`).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use dqlite_server::Node;
use dqlite_server::net::Limits;
use dqlite_server::tls::{Tls, TlsFiles};

/// How long `--join` keeps trying to reach the cluster.
const JOIN_TIMEOUT: Duration = Duration::from_secs(30);

const USAGE: &str = "usage: dqlite-compat-node --id N --listen ADDR --advertise ADDR --dir DIR \
                     [--join ADDR] [--busy-timeout MS] [--snapshot-every N] \
                     [--snapshot-trailing N] \
                     [--tls-cert FILE --tls-key FILE [--tls-ca FILE]]";

struct Args {
    id: u64,
    listen: String,
    advertise: String,
    dir: PathBuf,
    join: Option<String>,
    busy_timeout: Duration,
    snapshot_every: u64,
    snapshot_trailing: u64,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_ca: Option<PathBuf>,
}

impl Args {
    /// The TLS files, if the node runs mutual TLS.
    fn tls_files(&self) -> Result<Option<TlsFiles>, String> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Ok(Some(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                ca: self.tls_ca.clone(),
                admin_ca: None,
            })),
            (None, None) if self.tls_ca.is_none() => Ok(None),
            _ => Err(format!(
                "--tls-cert and --tls-key go together (--tls-ca needs both)\n{USAGE}"
            )),
        }
    }
}

fn parse_args() -> Result<Args, String> {
    let mut id = None;
    let mut listen = None;
    let mut advertise = None;
    let mut dir = None;
    let mut join = None;
    let mut busy_timeout = Duration::ZERO;
    let mut snapshot_every = dqlite_server::DEFAULT_SNAPSHOT_EVERY;
    let mut snapshot_trailing = dqlite_server::DEFAULT_SNAPSHOT_TRAILING;
    let (mut tls_cert, mut tls_key, mut tls_ca) = (None, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--id" => id = Some(value.parse().map_err(|e| format!("--id {value}: {e}"))?),
            "--listen" => listen = Some(value),
            "--advertise" => advertise = Some(value),
            "--dir" => dir = Some(PathBuf::from(value)),
            "--join" => join = Some(value),
            "--busy-timeout" => {
                busy_timeout = Duration::from_millis(
                    value
                        .parse()
                        .map_err(|e| format!("--busy-timeout {value}: {e}"))?,
                );
            }
            "--snapshot-every" => {
                snapshot_every = value
                    .parse()
                    .map_err(|e| format!("--snapshot-every {value}: {e}"))?;
            }
            "--snapshot-trailing" => {
                snapshot_trailing = value
                    .parse()
                    .map_err(|e| format!("--snapshot-trailing {value}: {e}"))?;
            }
            "--tls-cert" => tls_cert = Some(PathBuf::from(value)),
            "--tls-key" => tls_key = Some(PathBuf::from(value)),
            "--tls-ca" => tls_ca = Some(PathBuf::from(value)),
            other => return Err(format!("unknown flag {other}\n{USAGE}")),
        }
    }
    let missing = |what: &str| format!("{what} is required\n{USAGE}");
    Ok(Args {
        id: id.ok_or_else(|| missing("--id"))?,
        listen: listen.ok_or_else(|| missing("--listen"))?,
        advertise: advertise.ok_or_else(|| missing("--advertise"))?,
        dir: dir.ok_or_else(|| missing("--dir"))?,
        join,
        busy_timeout,
        snapshot_every,
        snapshot_trailing,
        tls_cert,
        tls_key,
        tls_ca,
    })
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let result = parse_args().and_then(|args| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("a tokio runtime: {e}"))?
            .block_on(run(args))
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dqlite-compat-node: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    // Loaded before anything listens: a bad pair fails the start.
    let tls = args
        .tls_files()?
        .map(|files| {
            Tls::from_files(files).map_err(|e| format!("cannot load the TLS certificate: {e}"))
        })
        .transpose()?;
    let listener = std::net::TcpListener::bind(&args.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("local address: {e}"))?;
    // Before the node starts: it needs its peers (through the proxy) to
    // see a leader.
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening {bound}")
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("stdout: {e}"))?;
    let mut builder = Node::builder(args.id, args.advertise.clone(), &args.dir);
    if let Some(tls) = &tls {
        builder = builder.tls(tls.clone());
    }
    let node = builder
        .busy_timeout(args.busy_timeout)
        .snapshot_every(args.snapshot_every)
        .snapshot_trailing(args.snapshot_trailing)
        .manage_roles(true)
        .serve(listener, Limits::default())
        .start()
        .await
        .map_err(|e| format!("cannot start node {}: {e}", args.id))?;
    eprintln!(
        "dqlite-compat-node: node {} started, listening on {bound}, advertising {}{}",
        args.id,
        args.advertise,
        if tls.is_some() { ", mutual TLS" } else { "" }
    );
    if let Some(peer) = args.join {
        node.join(std::slice::from_ref(&peer), JOIN_TIMEOUT)
            .await
            .map_err(|e| format!("cannot join the cluster through {peer}: {e}"))?;
        eprintln!("dqlite-compat-node: node {} joined through {peer}", args.id);
    }
    // Runs until killed.
    std::future::pending::<()>().await;
    Ok(())
}
