//! One connection to one node: the handshake, requests written into
//! the codec's buffer (so several can go out in one write), and answers
//! read one frame at a time, each bounded by the request timeout.
//!
//! A node's address is `host:port` (TCP; host names are resolved),
//! `@name` (a Linux abstract Unix socket, as go-dqlite dials it) or
//! `unix:/path` (a Unix socket file, as `dqlite-server --address
//! unix:/path` serves it). TLS, when configured, runs over any of them:
//! the server's name comes from the configuration, not the address.

use std::time::Duration;

use dqlite_protocol::ProtocolVersion;
use dqlite_protocol::codec::ClientCodec;
use dqlite_protocol::frame::{Frame, FrameLimits};
use dqlite_protocol::request::{Leader, Request};
use dqlite_protocol::response::{Response, ResponseContext, Server};
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpStream, UnixStream};
use tokio_util::codec::Framed;
use tokio_util::either::Either;

use crate::{Config, Error, Result};

/// A connected socket: TCP or Unix.
type Socket = Either<TcpStream, UnixStream>;

/// The byte stream under the codec: a socket, or TLS over one.
#[cfg(not(feature = "tls"))]
type Stream = Socket;
#[cfg(feature = "tls")]
type Stream = Either<Socket, tokio_rustls::client::TlsStream<Socket>>;

/// The prefix of a Unix socket file's address.
const UNIX_PREFIX: &str = "unix:";

/// Connects to `address`: `@name`, `unix:/path` or `host:port`.
async fn open_socket(address: &str) -> std::io::Result<Socket> {
    if let Some(name) = address.strip_prefix('@') {
        return abstract_socket(name).map(Either::Right);
    }
    if let Some(path) = address.strip_prefix(UNIX_PREFIX) {
        if !path.starts_with('/') {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{address:?}: a Unix socket path must be absolute"),
            ));
        }
        return Ok(Either::Right(UnixStream::connect(path).await?));
    }
    let stream = TcpStream::connect(address).await?;
    stream.set_nodelay(true)?;
    Ok(Either::Left(stream))
}

/// Connects to the abstract Unix socket `name` (Linux only). The connect
/// does not wait: a listening socket takes it at once or refuses it.
#[cfg(target_os = "linux")]
fn abstract_socket(name: &str) -> std::io::Result<UnixStream> {
    use std::os::linux::net::SocketAddrExt;
    if name.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "\"@\" names no socket",
        ));
    }
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
    let stream = std::os::unix::net::UnixStream::connect_addr(&addr)?;
    stream.set_nonblocking(true)?;
    UnixStream::from_std(stream)
}

#[cfg(not(target_os = "linux"))]
fn abstract_socket(name: &str) -> std::io::Result<UnixStream> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        format!("@{name}: abstract Unix sockets exist on Linux only"),
    ))
}

/// Whether `socket` was closed (or sent something unasked) while idle: a
/// non-blocking peek.
fn peek_closed(socket: &Socket, address: &str) -> Option<String> {
    let socket = match socket {
        Either::Left(tcp) => socket2::SockRef::from(tcp),
        Either::Right(unix) => socket2::SockRef::from(unix),
    };
    let mut byte = [std::mem::MaybeUninit::<u8>::uninit(); 1];
    match socket.peek(&mut byte) {
        Ok(0) => Some(format!("{address} closed the connection")),
        Ok(_) => Some("unexpected bytes from the server".into()),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
        Err(e) => Some(format!("connection to {address} failed: {e}")),
    }
}

/// A connection to a node, after the handshake.
#[derive(Debug)]
pub(crate) struct Wire {
    framed: Framed<Stream, ClientCodec>,
    address: String,
    timeout: Option<Duration>,
}

impl Wire {
    /// Connects (within the dial timeout, TLS handshake included) and
    /// sends the version word.
    pub async fn connect(address: &str, config: &Config) -> Result<Self> {
        let (dial, timeout) = (config.dial_timeout, config.request_timeout);
        let stream = tokio::time::timeout(dial, Self::dial(address, config))
            .await
            .map_err(|_| Error::Timeout(dial))??;
        let mut framed = Framed::new(
            stream,
            ClientCodec::new(FrameLimits {
                max_body: config.max_response,
            }),
        );
        framed
            .write_buffer_mut()
            .extend_from_slice(&ProtocolVersion::V1.to_bytes());
        let mut wire = Self {
            framed,
            address: address.to_owned(),
            timeout,
        };
        if let Err(e) = wire.flush().await {
            return Err(wire.refusal_after_failed_write(e).await);
        }
        Ok(wire)
    }

    /// The socket, then TLS if configured.
    async fn dial(address: &str, config: &Config) -> Result<Stream> {
        let stream = open_socket(address).await?;
        #[cfg(feature = "tls")]
        {
            match &config.tls {
                None => Ok(Either::Left(stream)),
                Some(tls) => match tls.connect(stream).await {
                    Ok(stream) => Ok(Either::Right(stream)),
                    Err(e) => Err(Error::Tls(format!(
                        "TLS handshake with {address} failed: {}",
                        crate::tls::handshake_failure(&e)
                    ))),
                },
            }
        }
        #[cfg(not(feature = "tls"))]
        {
            let _ = config;
            Ok(stream)
        }
    }

    /// The address this connection was dialed with.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Whether the server closed the connection (or sent something
    /// unasked) while it was idle: a non-blocking peek at the socket. The
    /// server never speaks first, so any readable byte or end of stream
    /// means the connection cannot carry another request.
    ///
    /// Over TLS the socket may hold records that carry no data (TLS 1.3
    /// session tickets), so the check polls the TLS stream instead, once,
    /// without waiting: rustls takes those records in and reports only
    /// data or the end.
    pub fn closed_while_idle(&mut self) -> Option<String> {
        if !self.framed.read_buffer().is_empty() {
            return Some("unexpected bytes from the server".into());
        }
        #[cfg(feature = "tls")]
        let socket = match self.framed.get_mut() {
            Either::Left(socket) => &*socket,
            Either::Right(tls) => {
                use std::task::{Context, Poll, Waker};
                use tokio::io::{AsyncRead, ReadBuf};
                let mut byte = [0u8; 1];
                let mut buf = ReadBuf::new(&mut byte);
                let mut cx = Context::from_waker(Waker::noop());
                return match std::pin::Pin::new(tls).poll_read(&mut cx, &mut buf) {
                    Poll::Pending => None,
                    Poll::Ready(Ok(())) if buf.filled().is_empty() => {
                        Some(format!("{} closed the connection", self.address))
                    }
                    Poll::Ready(Ok(())) => Some("unexpected bytes from the server".into()),
                    Poll::Ready(Err(e)) => {
                        Some(format!("connection to {} failed: {e}", self.address))
                    }
                };
            }
        };
        #[cfg(not(feature = "tls"))]
        let socket = self.framed.get_ref();
        peek_closed(socket, &self.address)
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

    /// One LEADER round trip: the first on every connection, so over TLS
    /// 1.3 the one where a server that refuses the client's certificate
    /// says so (its alert follows the handshake).
    pub async fn leader(&mut self) -> Result<Server> {
        self.push(&Request::from(Leader))?;
        if let Err(e) = self.flush().await {
            return Err(self.refusal_after_failed_write(e).await);
        }
        let frame = self.read().await.map_err(|e| self.refused(e))?;
        match decode(&frame)? {
            Response::Server(server) => Ok(server),
            Response::Failure(f) => Err(Error::failure(f.code, f.message)),
            other => Err(unexpected("SERVER", &other)),
        }
    }
}

impl Wire {
    /// The error to report when the first write failed: a server that
    /// refused the client's certificate after a TLS 1.3 handshake sent its
    /// alert and closed, so the write may meet a reset ("broken pipe")
    /// before anything was read. The alert is still in the socket's
    /// receive buffer: read it (briefly) to say why; otherwise `error`.
    async fn refusal_after_failed_write(&mut self, error: Error) -> Error {
        #[cfg(feature = "tls")]
        if matches!(self.framed.get_ref(), Either::Right(_)) {
            const ALERT_WAIT: Duration = Duration::from_secs(1);
            if let Ok(Err(read)) = tokio::time::timeout(ALERT_WAIT, self.read()).await {
                let refused = self.refused(read);
                if matches!(refused, Error::Tls(_)) {
                    return refused;
                }
            }
        }
        error
    }

    /// A TLS alert from the server, in words; other errors as they are.
    fn refused(&self, error: Error) -> Error {
        if self.is_plain() && self.framed.read_buffer().starts_with(&TLS_ALERT_RECORD) {
            return Error::Tls(
                "the node answered with a TLS alert: it takes TLS connections only, and this client has no TLS configured".into(),
            );
        }
        #[cfg(feature = "tls")]
        if let Error::Io(e) = &error
            && let Some(rustls::Error::AlertReceived(alert)) = e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Error::Tls(format!(
                "{} refused the TLS session ({alert:?}): is the client's certificate one the cluster trusts?",
                self.address
            ));
        }
        error
    }
}

impl Wire {
    /// Whether the connection is plain (no TLS).
    fn is_plain(&self) -> bool {
        #[cfg(feature = "tls")]
        {
            matches!(self.framed.get_ref(), Either::Left(_))
        }
        #[cfg(not(feature = "tls"))]
        {
            true
        }
    }
}

/// How a TLS alert record starts: content type 21, protocol version 3.x.
/// A TLS server sends one to a client that does not speak TLS (the
/// version word is no ClientHello). A dqlite frame would start so only
/// with a body of 789 (0x315) words, far longer than an answer to LEADER.
const TLS_ALERT_RECORD: [u8; 2] = [0x15, 0x03];

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

#[cfg(all(test, feature = "tls"))]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::tls::{ClientTls, Identity};
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use std::sync::Arc;

    fn self_signed(name: &str) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![name.to_owned()]).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        (params.self_signed(&key).unwrap().pem(), key.serialize_pem())
    }

    /// A server refusing the client's certificate after a TLS 1.3
    /// handshake sends an alert and closes. A client whose write then
    /// meets the reset (the server's close came first) still reports the
    /// refusal, read from the alert, not a bare "broken pipe".
    #[tokio::test]
    async fn a_refusal_is_named_even_when_the_write_meets_the_reset() {
        let (cert, key) = self_signed("cluster");
        let (stranger, stranger_key) = self_signed("cluster");
        let server = Identity::from_pem(cert.as_bytes(), key.as_bytes(), None).unwrap();
        let verifier = server.verifier().unwrap();
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert.as_bytes())
            .map(Result::unwrap)
            .collect();
        let private = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
        let server_config = rustls::ServerConfig::builder_with_provider(crate::tls::provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, private)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let serve = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            // The handshake fails on the client's certificate; tokio-rustls
            // sends the alert, then the socket is closed.
            assert!(acceptor.accept(socket).await.is_err());
        });

        let mut config = Config::new("db");
        config.tls = Some(
            ClientTls::from_pem(
                stranger.as_bytes(),
                stranger_key.as_bytes(),
                Some(cert.as_bytes()),
            )
            .unwrap(),
        );
        let mut wire = match Wire::connect(&address, &config).await {
            Ok(wire) => wire,
            // The refusal came before the version word went out.
            Err(e) => return assert!(matches!(e, Error::Tls(_)), "{e:?}"),
        };
        serve.await.unwrap();
        // The server is gone: one write draws its reset, the next one
        // fails with it.
        tokio::time::sleep(Duration::from_millis(50)).await;
        wire.push(&Request::from(Leader)).unwrap();
        let _ = wire.flush().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let err = wire.leader().await.unwrap_err();
        assert!(
            matches!(&err, Error::Tls(text) if text.contains("refused the TLS session")),
            "{err:?}"
        );
    }
}
