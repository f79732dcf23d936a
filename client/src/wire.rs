//! One TCP connection to one node: the handshake, requests written into
//! the codec's buffer (so several can go out in one write), and answers
//! read one frame at a time, each bounded by the request timeout.

use std::time::Duration;

use dqlite_protocol::ProtocolVersion;
use dqlite_protocol::codec::ClientCodec;
use dqlite_protocol::frame::Frame;
use dqlite_protocol::request::{Leader, Request};
use dqlite_protocol::response::{Response, ResponseContext, Server};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

use crate::{Error, Result};

/// A connection to a node, after the handshake.
#[derive(Debug)]
pub(crate) struct Wire {
    framed: Framed<TcpStream, ClientCodec>,
    address: String,
    timeout: Option<Duration>,
}

impl Wire {
    /// Connects (within `dial`) and sends the version word.
    pub async fn connect(address: &str, dial: Duration, timeout: Option<Duration>) -> Result<Self> {
        let stream = tokio::time::timeout(dial, TcpStream::connect(address))
            .await
            .map_err(|_| Error::Timeout(dial))??;
        stream.set_nodelay(true)?;
        let mut framed = Framed::new(stream, ClientCodec::default());
        framed
            .write_buffer_mut()
            .extend_from_slice(&ProtocolVersion::V1.to_bytes());
        let mut wire = Self {
            framed,
            address: address.to_owned(),
            timeout,
        };
        wire.flush().await?;
        Ok(wire)
    }

    /// The address this connection was dialed with.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Whether the server closed the connection (or sent something
    /// unasked) while it was idle: a non-blocking peek at the socket. The
    /// server never speaks first, so any readable byte or end of stream
    /// means the connection cannot carry another request.
    pub fn closed_while_idle(&self) -> Option<String> {
        if !self.framed.read_buffer().is_empty() {
            return Some("unexpected bytes from the server".into());
        }
        let mut byte = [std::mem::MaybeUninit::<u8>::uninit(); 1];
        match socket2::SockRef::from(self.framed.get_ref()).peek(&mut byte) {
            Ok(0) => Some(format!("{} closed the connection", self.address)),
            Ok(_) => Some("unexpected bytes from the server".into()),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
            Err(e) => Some(format!("connection to {} failed: {e}", self.address)),
        }
    }

    /// Queues a request; nothing is sent until [`flush`](Self::flush). On
    /// error nothing is queued.
    pub fn push(&mut self, request: &Request) -> Result<()> {
        request
            .encode(self.framed.write_buffer_mut())
            .map_err(Error::Encode)
    }

    /// Sends everything queued.
    pub async fn flush(&mut self) -> Result<()> {
        let flush = SinkExt::<ProtocolVersion>::flush(&mut self.framed);
        match self.timeout {
            Some(limit) => tokio::time::timeout(limit, flush)
                .await
                .map_err(|_| Error::Timeout(limit))??,
            None => flush.await?,
        }
        Ok(())
    }

    /// Reads the next answer.
    pub async fn read(&mut self) -> Result<Frame> {
        let next = self.framed.next();
        let item = match self.timeout {
            Some(limit) => tokio::time::timeout(limit, next)
                .await
                .map_err(|_| Error::Timeout(limit))?,
            None => next.await,
        };
        match item {
            Some(frame) => Ok(frame?),
            None => Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("{} closed the connection", self.address),
            ))),
        }
    }

    /// One LEADER round trip.
    pub async fn leader(&mut self) -> Result<Server> {
        self.push(&Request::from(Leader))?;
        self.flush().await?;
        let frame = self.read().await?;
        match decode(&frame)? {
            Response::Server(server) => Ok(server),
            Response::Failure(f) => Err(Error::failure(f.code, f.message)),
            other => Err(unexpected("SERVER", &other)),
        }
    }
}

/// Decodes a non-ROWS answer.
pub(crate) fn decode(frame: &Frame) -> Result<Response> {
    Ok(Response::decode_frame(frame, &ResponseContext::default())?)
}

/// The error for an answer of the wrong type.
pub(crate) fn unexpected(wanted: &str, got: &Response) -> Error {
    Error::Protocol(format!(
        "expected a {wanted} answer, got {:?}",
        got.response_type()
    ))
}
