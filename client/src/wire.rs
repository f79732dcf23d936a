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

use crate::{Config, Error, Result};

/// The byte stream under the codec: TCP, or TLS over TCP.
#[cfg(not(feature = "tls"))]
type Stream = TcpStream;
#[cfg(feature = "tls")]
type Stream = tokio_util::either::Either<TcpStream, tokio_rustls::client::TlsStream<TcpStream>>;

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
        let mut framed = Framed::new(stream, ClientCodec::default());
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

    /// TCP, then TLS if configured.
    async fn dial(address: &str, config: &Config) -> Result<Stream> {
        let stream = TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        #[cfg(feature = "tls")]
        {
            use tokio_util::either::Either;
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
            tokio_util::either::Either::Left(tcp) => &*tcp,
            tokio_util::either::Either::Right(tls) => {
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
        let mut byte = [std::mem::MaybeUninit::<u8>::uninit(); 1];
        match socket2::SockRef::from(socket).peek(&mut byte) {
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
        if matches!(self.framed.get_ref(), tokio_util::either::Either::Right(_)) {
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
