//! Mutual TLS for every connection of a node: clients' and other nodes'.
//!
//! A node given a certificate, its key and optionally a CA ([`TlsFiles`],
//! PEM) runs TLS 1.2 or 1.3 (rustls, *ring* provider) on each connection
//! it accepts (`net::serve` calls [`Tls::accept`] before reading a byte of
//! the dqlite protocol) and on each one it dials ([`TlsDialer`], which
//! wraps the node's [`Dialer`]). Both sides must present a certificate
//! that chains to a trusted root: the CA's certificates, or without a CA
//! the node's own certificate, as go-dqlite's `app.SimpleTLSConfig` (one
//! cluster certificate shared by every node and client).
//!
//! # A certificate that is its own root
//!
//! Such a cluster certificate, made the usual way (`openssl req -x509`),
//! is marked `CA:TRUE`; webpki refuses a CA certificate as an end entity
//! (`CaUsedAsEndEntity`), where Go's crypto/tls accepts it. The verifier
//! therefore accepts a presented certificate that is byte for byte one of
//! the trusted roots (if valid now, and, for a server, valid for the
//! name dialed), and hands every other one to rustls' webpki verifiers;
//! handshake signatures are always checked by webpki, with the
//! provider's algorithms.
//!
//! # Names
//!
//! A dialing node names the server by the first DNS name of its own
//! certificate (go-dqlite's dial configuration does the same): with one
//! shared certificate that is the server's own; with a CA, every node's
//! certificate must carry that name too. A certificate without a DNS
//! name is refused at load.
//!
//! # Resumption
//!
//! A client that connects again (a driver's pool, a go-dqlite client
//! redialing the leader, another node's Raft connection) resumes its TLS
//! session instead of running a full handshake: the server issues
//! stateless tickets (rustls' *ring* `Ticketer`: ChaCha20-Poly1305 keys
//! made at load and rotated every 6 hours, tickets valid 12 hours), as Go's
//! crypto/tls servers do, so no number of other clients' handshakes
//! pushes a session out (rustls' default, a cache of 256 sessions on the
//! server, forgot them after 128 full handshakes). A resumed session
//! keeps the client certificate verified at its full handshake. A
//! configuration loaded again (`SIGHUP`) has new ticket keys: every
//! session starts with a full handshake against the new files. Measured
//! costs: `compat-tests/bench/README.md`.
//!
//! # Reloading
//!
//! [`Tls`] holds the current configuration behind a lock; [`Tls::reload`]
//! reads the files again and swaps it in only if the new pair loads and
//! checks, so established sessions keep theirs and new connections get
//! the new one.

use std::io;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use dqlite_client::tls::{Identity, VERSIONS, provider};
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{ServerName, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use rustls::{ClientConfig, ServerConfig};

pub use dqlite_client::tls::{TlsError, Verifier, handshake_failure};

use crate::transport::{Dialer, Stream};

/// The PEM files of a node's TLS configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The node's certificate (chain), leaf first.
    pub cert: PathBuf,
    /// The certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// Trusted roots for peers' certificates; `None` trusts the node's
    /// own certificate only.
    pub ca: Option<PathBuf>,
}

/// One loaded certificate, key and set of trusted roots: the rustls
/// configurations of both sides.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
    server_name: ServerName<'static>,
}

impl TlsConfig {
    /// Loads the PEM files of `files`.
    pub fn from_files(files: &TlsFiles) -> Result<Self, TlsError> {
        Self::build(Identity::from_files(
            &files.cert,
            &files.key,
            files.ca.as_deref(),
        )?)
    }

    /// Builds a configuration from PEM texts: the certificate chain
    /// (leaf first), its private key, and the trusted roots (`None`: the
    /// leaf itself).
    pub fn from_pem(cert: &[u8], key: &[u8], ca: Option<&[u8]>) -> Result<Self, TlsError> {
        Self::build(Identity::from_pem(cert, key, ca)?)
    }

    /// Builds both sides' configurations (the dialing side is the
    /// client's, from `dqlite_client::tls`) and checks that the node's own
    /// certificate passes them (else no peer would accept it).
    fn build(identity: Identity) -> Result<Self, TlsError> {
        let server_name = identity.first_dns_name()?;
        let verifier = identity.verifier()?;
        let (leaf, rest, now) = (&identity.chain[0], &identity.chain[1..], UnixTime::now());
        verifier
            .verify_client_cert(leaf, rest, now)
            .and_then(|_| verifier.verify_server_cert(leaf, rest, &server_name, &[], now))
            .map_err(TlsError::Untrusted)?;
        let client = identity.client_config(verifier.clone())?;
        let mut server = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(VERSIONS)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(identity.chain, identity.key)?;
        #[allow(deprecated)] // The ring provider is (see `provider`).
        let ticketer = rustls::crypto::ring::Ticketer::new()?;
        server.ticketer = ticketer;
        Ok(Self {
            server: Arc::new(server),
            client: Arc::new(client),
            server_name,
        })
    }

    /// The name a dialing node gives the server: the first DNS name of
    /// the certificate.
    pub fn server_name(&self) -> String {
        self.server_name.to_str().into_owned()
    }

    /// The rustls configuration of the accepting side.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.server.clone()
    }

    /// The rustls configuration of the dialing side.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        self.client.clone()
    }
}

/// A node's TLS configuration, replaceable while the node runs: clones
/// share it.
#[derive(Debug, Clone)]
pub struct Tls {
    current: Arc<RwLock<Arc<TlsConfig>>>,
    files: Option<TlsFiles>,
}

impl Tls {
    /// A fixed configuration ([`reload`](Self::reload) has no files to
    /// read; [`replace`](Self::replace) still works).
    pub fn new(config: TlsConfig) -> Self {
        Self {
            current: Arc::new(RwLock::new(Arc::new(config))),
            files: None,
        }
    }

    /// Loads `files`, which [`reload`](Self::reload) reads again.
    pub fn from_files(files: TlsFiles) -> Result<Self, TlsError> {
        let config = TlsConfig::from_files(&files)?;
        let mut tls = Self::new(config);
        tls.files = Some(files);
        Ok(tls)
    }

    /// The configuration new connections get.
    pub fn current(&self) -> Arc<TlsConfig> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Makes `config` the one of new connections; established ones keep
    /// theirs.
    pub fn replace(&self, config: TlsConfig) {
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(config);
    }

    /// Reads the files again and, if they load and check, uses them for
    /// new connections; on error the current configuration stays.
    /// Without files, does nothing.
    pub fn reload(&self) -> Result<(), TlsError> {
        if let Some(files) = &self.files {
            self.replace(TlsConfig::from_files(files)?);
        }
        Ok(())
    }

    /// Runs the server side of the handshake on an accepted connection:
    /// the peer's certificate is verified before this returns.
    pub async fn accept(&self, stream: Stream) -> io::Result<Stream> {
        let acceptor = tokio_rustls::TlsAcceptor::from(self.current().server_config());
        let tls = acceptor.accept(stream).await?;
        Ok(Stream::Tls(Box::new(tokio_rustls::TlsStream::Server(tls))))
    }

    /// Runs the client side of the handshake on a dialed connection,
    /// naming the server by the certificate's first DNS name.
    pub async fn connect(&self, stream: Stream) -> io::Result<Stream> {
        let config = self.current();
        let connector = tokio_rustls::TlsConnector::from(config.client_config());
        let tls = connector
            .connect(config.server_name.clone(), stream)
            .await?;
        Ok(Stream::Tls(Box::new(tokio_rustls::TlsStream::Client(tls))))
    }
}

/// A [`Dialer`] that runs TLS over the connections of another.
#[derive(Debug)]
pub struct TlsDialer {
    inner: Arc<dyn Dialer>,
    tls: Tls,
}

impl TlsDialer {
    /// TLS with `tls` over the connections `inner` dials.
    pub fn new(inner: Arc<dyn Dialer>, tls: Tls) -> Self {
        Self { inner, tls }
    }
}

#[async_trait::async_trait]
impl Dialer for TlsDialer {
    async fn dial(&self, address: &str) -> io::Result<Stream> {
        let stream = self.inner.dial(address).await?;
        self.tls.connect(stream).await
    }

    fn check_address(&self, address: &str) -> io::Result<()> {
        self.inner.check_address(address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    /// A self-signed CA:TRUE certificate for `names`, PEM, with its key.
    fn self_signed(names: &[&str], expired: bool) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        if expired {
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        }
        (params.self_signed(&key).unwrap().pem(), key.serialize_pem())
    }

    fn der(pem: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
    }

    #[test]
    fn a_certificate_that_is_its_own_root_is_accepted_on_both_sides() {
        let (cert, key) = self_signed(&["dqlite", "other"], false);
        let config = TlsConfig::from_pem(cert.as_bytes(), key.as_bytes(), None).unwrap();
        assert_eq!(config.server_name(), "dqlite");
        let verifier = Verifier::new(vec![der(&cert)], provider()).unwrap();
        let now = UnixTime::now();
        let name = ServerName::try_from("dqlite").unwrap();
        assert!(verifier.verify_client_cert(&der(&cert), &[], now).is_ok());
        assert!(
            verifier
                .verify_server_cert(&der(&cert), &[], &name, &[], now)
                .is_ok()
        );
        // Another name than the certificate's: refused.
        let wrong = ServerName::try_from("elsewhere").unwrap();
        assert!(
            verifier
                .verify_server_cert(&der(&cert), &[], &wrong, &[], now)
                .is_err()
        );
        // Another self-signed certificate, same name: refused both ways.
        let (stranger, _) = self_signed(&["dqlite"], false);
        assert!(
            verifier
                .verify_client_cert(&der(&stranger), &[], now)
                .is_err()
        );
        assert!(
            verifier
                .verify_server_cert(&der(&stranger), &[], &name, &[], now)
                .is_err()
        );
    }

    #[test]
    fn an_expired_root_is_refused_as_an_end_entity() {
        let (cert, key) = self_signed(&["dqlite"], true);
        let verifier = Verifier::new(vec![der(&cert)], provider()).unwrap();
        let refused = verifier.verify_client_cert(&der(&cert), &[], UnixTime::now());
        assert!(
            matches!(
                refused,
                Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::Expired
                ))
            ),
            "{refused:?}"
        );
        // And loading it says so.
        let loaded = TlsConfig::from_pem(cert.as_bytes(), key.as_bytes(), None);
        assert!(matches!(loaded, Err(TlsError::Untrusted(_))), "{loaded:?}");
    }

    /// One handshake of a client with `client_config` with `server`
    /// over loopback TCP, as the client saw it: full or resumed, and the
    /// key exchange group. The server then sends a byte, which the client
    /// reads, so that it also takes in the tickets sent before it.
    async fn handshake(
        server: &Tls,
        client_config: Arc<ClientConfig>,
    ) -> (Option<rustls::HandshakeKind>, Option<rustls::NamedGroup>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = server.clone();
        let serve = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let mut stream = server.accept(Stream::Tcp(socket)).await.unwrap();
            stream.write_all(b"x").await.unwrap();
            stream.flush().await.unwrap();
            // Until the client hangs up.
            let _ = stream.read(&mut [0u8; 1]).await;
        });
        let tcp = tokio::net::TcpStream::connect(address).await.unwrap();
        let name = ServerName::try_from("dqlite").unwrap();
        let mut stream = tokio_rustls::TlsConnector::from(client_config)
            .connect(name, tcp)
            .await
            .unwrap();
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await.unwrap();
        let session = stream.get_ref().1;
        let seen = (
            session.handshake_kind(),
            session.negotiated_key_exchange_group().map(|g| g.name()),
        );
        drop(stream);
        serve.await.unwrap();
        seen
    }

    /// A TLS configuration of a fresh cluster certificate.
    fn cluster() -> TlsConfig {
        let (cert, key) = self_signed(&["dqlite"], false);
        TlsConfig::from_pem(cert.as_bytes(), key.as_bytes(), None).unwrap()
    }

    #[tokio::test]
    async fn a_second_connection_resumes_the_session_over_x25519() {
        let config = cluster();
        let server = Tls::new(config.clone());
        let first = handshake(&server, config.client_config()).await;
        let second = handshake(&server, config.client_config()).await;
        let x25519 = Some(rustls::NamedGroup::X25519);
        assert_eq!(first, (Some(rustls::HandshakeKind::Full), x25519));
        assert_eq!(second, (Some(rustls::HandshakeKind::Resumed), x25519));
    }

    #[tokio::test]
    async fn a_session_resumes_after_many_other_clients_handshakes() {
        let config = cluster();
        let server = Tls::new(config.clone());
        let client = config.client_config();
        let (kind, _) = handshake(&server, client.clone()).await;
        assert_eq!(kind, Some(rustls::HandshakeKind::Full));
        // Other clients, each a full handshake: more sessions than a
        // server-side cache of 256 (two tickets each) would hold.
        let mut other = (*config.client_config()).clone();
        other.resumption = rustls::client::Resumption::disabled();
        let other = Arc::new(other);
        for _ in 0..130 {
            handshake(&server, other.clone()).await;
        }
        let (kind, _) = handshake(&server, client).await;
        assert_eq!(kind, Some(rustls::HandshakeKind::Resumed));
    }

    #[tokio::test]
    async fn a_reloaded_configuration_does_not_resume_older_sessions() {
        let (cert, key) = self_signed(&["dqlite"], false);
        let load = || TlsConfig::from_pem(cert.as_bytes(), key.as_bytes(), None).unwrap();
        let config = load();
        let server = Tls::new(config.clone());
        handshake(&server, config.client_config()).await;
        let (kind, _) = handshake(&server, config.client_config()).await;
        assert_eq!(kind, Some(rustls::HandshakeKind::Resumed));
        // The same certificate and key loaded again: new ticket keys.
        server.replace(load());
        let (kind, _) = handshake(&server, config.client_config()).await;
        assert_eq!(kind, Some(rustls::HandshakeKind::Full));
    }

    #[test]
    fn bad_pairs_are_refused_at_load() {
        let (cert, key) = self_signed(&["dqlite"], false);
        let (other, other_key) = self_signed(&["dqlite"], false);
        // No DNS name to dial by.
        let (nameless, nameless_key) = self_signed(&[], false);
        let e = TlsConfig::from_pem(nameless.as_bytes(), nameless_key.as_bytes(), None);
        assert!(matches!(e, Err(TlsError::NoDnsName)), "{e:?}");
        // The key of another certificate.
        let e = TlsConfig::from_pem(cert.as_bytes(), other_key.as_bytes(), None);
        assert!(matches!(e, Err(TlsError::Rustls(_))), "{e:?}");
        // A CA that did not sign the certificate.
        let e = TlsConfig::from_pem(cert.as_bytes(), key.as_bytes(), Some(other.as_bytes()));
        assert!(matches!(e, Err(TlsError::Untrusted(_))), "{e:?}");
        // Not PEM at all.
        let e = TlsConfig::from_pem(b"garbage", key.as_bytes(), None);
        assert!(matches!(e, Err(TlsError::NoCertificate(_))), "{e:?}");
        let e = TlsConfig::from_pem(cert.as_bytes(), b"garbage", None);
        assert!(matches!(e, Err(TlsError::Pem { .. })), "{e:?}");
        // A file that is not there names itself.
        let files = TlsFiles {
            cert: "/nonexistent/cluster.crt".into(),
            key: "/nonexistent/cluster.key".into(),
            ca: None,
        };
        let e = Tls::from_files(files).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/cluster.crt"), "{e}");
    }
}
