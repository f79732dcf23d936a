//! What opening a connection to a node costs, with and without TLS: TCP
//! connect, TLS handshake (a full one, or one resuming an earlier
//! session), the protocol version word, and LEADER up to its answer.
//!
//! ```sh
//! cargo run --release -p dqlite-server --example connect_cost -- \
//!     --plain 127.0.0.1:9001 --tls 127.0.0.1:9002 \
//!     --tls-cert cluster.crt --tls-key cluster.key [--rounds 10 --per-round 100]
//! ```
//!
//! The TLS side uses the configuration the Rust drivers use
//! ([`ClientTls::from_files`], whose rustls `ClientConfig` keeps an
//! in-memory session cache): "resumed" shares it between connections,
//! "full" is the same configuration with resumption disabled. Rounds
//! alternate the three modes; every connection's handshake kind is
//! checked (rustls' `handshake_kind`), and the run fails if a "resumed"
//! connection did not resume. Prints a table of medians and p99s, and
//! one JSON line per mode for scripts (`compat-tests/bench/tls.py`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::BytesMut;
use clap::Parser;
use dqlite_client::tls::ClientTls;
use dqlite_protocol::request::{Leader, Request};
use dqlite_protocol::response::{Response, ResponseContext};
use dqlite_protocol::{Frame, FrameLimits, ProtocolVersion};
use rustls::HandshakeKind;
use rustls::client::Resumption;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Command line.
#[derive(Parser, Debug)]
struct Args {
    /// A node without TLS.
    #[arg(long)]
    plain: String,
    /// A node with TLS (`--tls-cert`, `--tls-key`).
    #[arg(long)]
    tls: String,
    /// The client's certificate (PEM): the cluster certificate.
    #[arg(long)]
    tls_cert: String,
    /// Its key (PEM).
    #[arg(long)]
    tls_key: String,
    /// Rounds; each runs every mode once.
    #[arg(long, default_value_t = 10)]
    rounds: usize,
    /// Connections per mode and round, one after the other.
    #[arg(long, default_value_t = 100)]
    per_round: usize,
}

/// How a connection is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Plain,
    TlsFull,
    TlsResumed,
}

impl Mode {
    const ALL: [Mode; 3] = [Mode::Plain, Mode::TlsFull, Mode::TlsResumed];

    fn name(self) -> &'static str {
        match self {
            Mode::Plain => "plain",
            Mode::TlsFull => "tls-full",
            Mode::TlsResumed => "tls-resumed",
        }
    }
}

/// The phases of one connection, and how its handshake went.
struct Sample {
    tcp: Duration,
    tls: Duration,
    leader: Duration,
    total: Duration,
    kind: Option<HandshakeKind>,
}

/// The TLS configurations of the two TLS modes, and the server name.
struct Tls {
    resuming: Arc<rustls::ClientConfig>,
    full: Arc<rustls::ClientConfig>,
    name: ServerName<'static>,
}

impl Tls {
    fn load(cert: &str, key: &str) -> anyhow::Result<Self> {
        let client = ClientTls::from_files(cert, key, None).context("loading the certificate")?;
        let resuming = client.config();
        let mut full = (*resuming).clone();
        full.resumption = Resumption::disabled();
        let name = ServerName::try_from(client.server_name())?;
        Ok(Self {
            resuming,
            full: Arc::new(full),
            name,
        })
    }
}

/// Sends the version word and LEADER in one write and reads the answer,
/// which must name a node.
async fn leader<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) -> anyhow::Result<()> {
    let mut out = BytesMut::new();
    out.extend_from_slice(&ProtocolVersion::V1.to_bytes());
    Request::from(Leader).encode(&mut out)?;
    stream.write_all(&out).await?;
    let mut message = vec![0u8; 8];
    stream.read_exact(&mut message).await?;
    let words = u32::from_le_bytes([message[0], message[1], message[2], message[3]]);
    message.resize(8 + usize::try_from(words)? * 8, 0);
    stream.read_exact(&mut message[8..]).await?;
    let frame = Frame::from_message(&message, &FrameLimits::default())?;
    match Response::decode_frame(&frame, &ResponseContext::default())? {
        Response::Server(_) => Ok(()),
        other => bail!("LEADER answered {other:?}"),
    }
}

/// Opens one connection in `mode`, asks LEADER, closes.
async fn connect(args: &Args, tls: &Tls, mode: Mode) -> anyhow::Result<Sample> {
    let address = if mode == Mode::Plain {
        &args.plain
    } else {
        &args.tls
    };
    let start = Instant::now();
    let tcp = TcpStream::connect(address).await?;
    tcp.set_nodelay(true)?;
    let connected = Instant::now();
    let config = match mode {
        Mode::Plain => {
            let mut tcp = tcp;
            leader(&mut tcp).await?;
            let done = Instant::now();
            return Ok(Sample {
                tcp: connected - start,
                tls: Duration::ZERO,
                leader: done - connected,
                total: done - start,
                kind: None,
            });
        }
        Mode::TlsFull => tls.full.clone(),
        Mode::TlsResumed => tls.resuming.clone(),
    };
    let mut stream = tokio_rustls::TlsConnector::from(config)
        .connect(tls.name.clone(), tcp)
        .await
        .context("TLS handshake")?;
    let handshaken = Instant::now();
    leader(&mut stream).await?;
    let done = Instant::now();
    let kind = stream.get_ref().1.handshake_kind();
    // Close politely (close_notify), outside the timed part.
    let _ = stream.shutdown().await;
    Ok(Sample {
        tcp: connected - start,
        tls: handshaken - connected,
        leader: done - handshaken,
        total: done - start,
        kind,
    })
}

/// The `q` quantile of `values` in microseconds.
fn quantile_us(values: &mut [Duration], q: f64) -> f64 {
    values.sort_unstable();
    if values.is_empty() {
        return 0.0;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let index = ((values.len() - 1) as f64 * q).round() as usize;
    values[index].as_secs_f64() * 1e6
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let tls = Tls::load(&args.tls_cert, &args.tls_key)?;
    // One full handshake fills the session cache of the resuming config.
    connect(&args, &tls, Mode::TlsResumed).await?;
    let mut samples: Vec<Vec<Sample>> = Mode::ALL.iter().map(|_| Vec::new()).collect();
    for _ in 0..args.rounds {
        for (i, mode) in Mode::ALL.into_iter().enumerate() {
            for _ in 0..args.per_round {
                let sample = connect(&args, &tls, mode)
                    .await
                    .with_context(|| format!("{} connection", mode.name()))?;
                samples[i].push(sample);
            }
        }
    }
    println!(
        "{:<12} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8}",
        "mode", "conns", "tcp µs", "tls µs", "leader µs", "total µs", "p99 µs", "resumed"
    );
    let mut failures = Vec::new();
    for (mode, samples) in Mode::ALL.into_iter().zip(&samples) {
        let column =
            |f: fn(&Sample) -> Duration| -> Vec<Duration> { samples.iter().map(f).collect() };
        let (mut tcp, mut handshake) = (column(|s| s.tcp), column(|s| s.tls));
        let (mut answer, mut total) = (column(|s| s.leader), column(|s| s.total));
        let resumed = samples
            .iter()
            .filter(|s| s.kind == Some(HandshakeKind::Resumed))
            .count();
        let expected = match mode {
            Mode::Plain | Mode::TlsFull => 0,
            Mode::TlsResumed => samples.len(),
        };
        if resumed != expected {
            failures.push(format!(
                "{}: {resumed} of {} connections resumed, expected {expected}",
                mode.name(),
                samples.len()
            ));
        }
        let median = [
            quantile_us(&mut tcp, 0.5),
            quantile_us(&mut handshake, 0.5),
            quantile_us(&mut answer, 0.5),
            quantile_us(&mut total, 0.5),
        ];
        let p99 = quantile_us(&mut total, 0.99);
        println!(
            "{:<12} {:>6} {:>9.0} {:>9.0} {:>9.0} {:>9.0} {:>9.0} {:>8}",
            mode.name(),
            samples.len(),
            median[0],
            median[1],
            median[2],
            median[3],
            p99,
            resumed
        );
        println!(
            "{{\"mode\":\"{}\",\"connections\":{},\"tcp_us\":{:.1},\"tls_us\":{:.1},\"leader_us\":{:.1},\"total_us\":{:.1},\"p99_us\":{:.1},\"resumed\":{resumed}}}",
            mode.name(),
            samples.len(),
            median[0],
            median[1],
            median[2],
            median[3],
            p99
        );
    }
    if !failures.is_empty() {
        bail!("{}", failures.join("; "));
    }
    Ok(())
}
