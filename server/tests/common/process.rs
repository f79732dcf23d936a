//! The `dqlite-server` binary as a child process, and the raw requests
//! the suites that run it send: start a node (killed when dropped), pick a
//! free port, send one request and read its reply, find the leader.
//! Shared by several test crates, each using part of it.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::BytesMut;
use dqlite_protocol::request::{ExecSql, Leader, Request};
use dqlite_protocol::response::Response;
use dqlite_protocol::{FrameLimits, Params, ProtocolVersion, ResponseContext};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// A port nobody listens on right now (bound, then released).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A server process that is killed when dropped, so a failing test never
/// leaves it running.
pub(crate) struct ServerProcess(Child);

impl ServerProcess {
    pub(crate) fn from_child(child: Child) -> Self {
        Self(child)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Whether the process is still running.
    pub(crate) fn running(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(None))
    }

    pub(crate) fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

pub(crate) fn spawn_server(address: &str, dir: &std::path::Path) -> ServerProcess {
    spawn_node(address, dir, &[])
}

/// The binary with more flags (`--id`, `--join`).
pub(crate) fn spawn_node(address: &str, dir: &std::path::Path, extra: &[&str]) -> ServerProcess {
    ServerProcess(
        Command::new(env!("CARGO_BIN_EXE_dqlite-server"))
            .args(["--address", address, "--dir"])
            .arg(dir)
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// The binary with its log (RUST_LOG unset: the default filter) appended
/// to a file next to `dir` (`DIR.log`), whose path is returned too.
pub(crate) fn spawn_node_logging(
    address: &str,
    dir: &std::path::Path,
    extra: &[&str],
) -> (ServerProcess, std::path::PathBuf) {
    let log = dir.with_extension("log");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_dqlite-server"))
        .args(["--address", address, "--dir"])
        .arg(dir)
        .args(extra)
        .env(
            "RUST_LOG",
            std::env::var("DQLITE_TEST_NODE_LOG").unwrap_or_else(|_| "info,openraft=error".into()),
        )
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .unwrap();
    (ServerProcess(child), log)
}

/// One request and its reply; `None` once the connection is gone. Over
/// TCP or anything else (a TLS session).
pub(crate) async fn request<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    request: &Request,
) -> Option<Response> {
    let mut buf = BytesMut::new();
    request.encode(&mut buf).unwrap();
    stream.write_all(&buf).await.ok()?;
    let mut header = [0u8; 8];
    stream.read_exact(&mut header).await.ok()?;
    let words = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let mut message = header.to_vec();
    message.resize(8 + usize::try_from(words).ok()? * 8, 0);
    stream.read_exact(&mut message[8..]).await.ok()?;
    let frame = dqlite_protocol::Frame::from_message(&message, &FrameLimits::default()).ok()?;
    Response::decode_frame(&frame, &ResponseContext::default()).ok()
}

pub(crate) fn exec(sql: String) -> Request {
    Request::from(ExecSql {
        db_id: 0,
        sql,
        params: Params::default(),
    })
}

/// A connection to `address` that has sent the protocol version.
pub(crate) async fn dial(address: &str) -> Option<TcpStream> {
    let stream = tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(address))
        .await
        .ok()?
        .ok()?;
    send_version(stream).await
}

/// `stream` (TCP, TLS) once it has sent the protocol version.
pub(crate) async fn send_version<S: AsyncWrite + Unpin>(mut stream: S) -> Option<S> {
    stream
        .write_all(&ProtocolVersion::V1.to_bytes())
        .await
        .ok()?;
    Some(stream)
}

/// The index of the node that some node names as leader.
pub(crate) async fn leader(addresses: &[String]) -> Option<usize> {
    for address in addresses {
        let Some(mut stream) = dial(address).await else {
            continue;
        };
        if let Some(Response::Server(s)) = request(&mut stream, &Request::from(Leader)).await
            && let Some(i) = addresses.iter().position(|a| *a == s.address)
        {
            return Some(i);
        }
    }
    None
}
