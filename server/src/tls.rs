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
//! # Admin certificates
//!
//! With an admin CA ([`TlsFiles::admin_ca`], `--tls-admin-ca`), each
//! accepted connection is given an [`Access`] once, right after its
//! handshake: [`Access::Admin`] if the peer's certificate chains to the
//! admin CA (or is byte for byte one of its certificates, the rule above),
//! else [`Access::Restricted`]. A restricted peer may run SQL and every
//! other request, but not change the cluster (ADD, ASSIGN, REMOVE,
//! TRANSFER, WEIGHT: the gateway answers `FAILURE(SQLITE_AUTH)`), nor talk
//! Raft (the node-to-node hello is refused). The handshake trusts the CA
//! and the admin CA together, so an admin CA separate from the CA works,
//! as does one the CA signed. Nodes use their own certificate for Raft
//! and to join, so a node's certificate must be an admin's: one that is
//! not is refused at load. An admin CA requires a CA (without one, the
//! only other trusted certificate would be the node's own).
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
//! reads the files again (the admin CA too) and swaps it in only if the
//! new pair loads and checks, so established sessions keep theirs and new
//! connections get the new one.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use dqlite_client::tls::{Identity, VERSIONS, provider};
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
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
    /// Certificates of the admin CA(s): only peers whose certificate
    /// chains to one may change the cluster and talk Raft; `None`: every
    /// authenticated peer may. Requires `ca`.
    pub admin_ca: Option<PathBuf>,
}

/// What the peer of an accepted connection may do, decided once after
/// its TLS handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Everything: a certificate of the admin CA, or a node without an
    /// admin CA (or without TLS).
    Admin,
    /// SQL and every request but ADD, ASSIGN, REMOVE, TRANSFER and
    /// WEIGHT; no node-to-node traffic.
    Restricted,
}

/// One loaded certificate, key and set of trusted roots: the rustls
/// configurations of both sides.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
    server_name: ServerName<'static>,
    /// The verifier of admin certificates, if there is an admin CA.
    admin: Option<Arc<Verifier>>,
}

impl TlsConfig {
    /// Loads the PEM files of `files`.
    pub fn from_files(files: &TlsFiles) -> Result<Self, TlsError> {
        let admin = match (&files.admin_ca, &files.ca) {
            (None, _) => None,
            (Some(_), None) => return Err(TlsError::AdminCaWithoutCa),
            (Some(path), Some(_)) => Some(admin_certs_file(path)?),
        };
        let identity = Identity::from_files(&files.cert, &files.key, files.ca.as_deref())?;
        Self::build(identity, admin)
    }

    /// Builds a configuration from PEM texts: the certificate chain
    /// (leaf first), its private key, and the trusted roots (`None`: the
    /// leaf itself).
    pub fn from_pem(cert: &[u8], key: &[u8], ca: Option<&[u8]>) -> Result<Self, TlsError> {
        Self::build(Identity::from_pem(cert, key, ca)?, None)
    }

    /// As [`from_pem`](Self::from_pem) with a CA, plus an admin CA
    /// (one or more PEM certificates): only peers whose certificate
    /// chains to it may change the cluster and talk Raft (see the module
    /// docs). The certificate must itself chain to the admin CA.
    pub fn from_pem_with_admin_ca(
        cert: &[u8],
        key: &[u8],
        ca: &[u8],
        admin_ca: &[u8],
    ) -> Result<Self, TlsError> {
        let admin = admin_certs(admin_ca)?;
        Self::build(Identity::from_pem(cert, key, Some(ca))?, Some(admin))
    }

    /// Builds both sides' configurations (the dialing side is the
    /// client's, from `dqlite_client::tls`) and checks that the node's own
    /// certificate passes them (else no peer would accept it), and, with
    /// an admin CA, that it is an admin's (else no peer would let it join
    /// or talk Raft). The handshake trusts the CA and the admin CA.
    fn build(
        mut identity: Identity,
        admin_ca: Option<Vec<CertificateDer<'static>>>,
    ) -> Result<Self, TlsError> {
        let server_name = identity.first_dns_name()?;
        let admin = match admin_ca {
            Some(roots) => {
                identity.roots.extend(roots.iter().cloned());
                Some(Arc::new(Verifier::new(roots, provider())?))
            }
            None => None,
        };
        let verifier = identity.verifier()?;
        let (leaf, rest, now) = (&identity.chain[0], &identity.chain[1..], UnixTime::now());
        verifier
            .verify_client_cert(leaf, rest, now)
            .and_then(|_| verifier.verify_server_cert(leaf, rest, &server_name, &[], now))
            .map_err(TlsError::Untrusted)?;
        if let Some(admin) = &admin {
            admin
                .verify_client_cert(leaf, rest, now)
                .map_err(TlsError::NotAdmin)?;
        }
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
            admin,
        })
    }

    /// Whether this configuration has an admin CA.
    pub fn has_admin_ca(&self) -> bool {
        self.admin.is_some()
    }

    /// What a peer that presented `chain` (leaf first, as verified by the
    /// handshake) may do: everything without an admin CA; with one, only
    /// if the leaf chains to it (or is one of its certificates).
    pub fn access(&self, chain: &[CertificateDer<'_>]) -> Access {
        let Some(admin) = &self.admin else {
            return Access::Admin;
        };
        match chain.split_first() {
            Some((leaf, rest))
                if admin
                    .verify_client_cert(leaf, rest, UnixTime::now())
                    .is_ok() =>
            {
                Access::Admin
            }
            _ => Access::Restricted,
        }
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
    /// the peer's certificate is verified before this returns, and what
    /// the peer may do is decided from it ([`TlsConfig::access`]).
    pub async fn accept(&self, stream: Stream) -> io::Result<(Stream, Access)> {
        let config = self.current();
        let acceptor = tokio_rustls::TlsAcceptor::from(config.server_config());
        let tls = acceptor.accept(stream).await?;
        let access = config.access(tls.get_ref().1.peer_certificates().unwrap_or_default());
        Ok((
            Stream::Tls(Box::new(tokio_rustls::TlsStream::Server(tls))),
            access,
        ))
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

/// The certificates of an admin CA's PEM text, at least one.
fn admin_certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    const WHAT: &str = "admin CA";
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Pem { what: WHAT, source })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(WHAT));
    }
    Ok(certs)
}

/// The certificates of the admin CA file `path`.
fn admin_certs_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = std::fs::read(path).map_err(|source| TlsError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    admin_certs(&pem).map_err(|e| TlsError::InFile {
        path: path.to_owned(),
        source: Box::new(e),
    })
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

    /// A CA that signs leaves for `dqlite`.
    struct Ca(rcgen::CertifiedIssuer<'static, KeyPair>);

    impl Ca {
        fn new(name: &str) -> Self {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, name);
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            Ca(rcgen::CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap())
        }

        fn pem(&self) -> String {
            self.0.pem()
        }

        /// A leaf for `dqlite` and its key, PEM.
        fn leaf(&self) -> (String, String) {
            let key = KeyPair::generate().unwrap();
            let params = CertificateParams::new(vec!["dqlite".to_owned()]).unwrap();
            let cert = params.signed_by(&key, &self.0).unwrap();
            (cert.pem(), key.serialize_pem())
        }
    }

    #[test]
    fn admin_certificates_are_those_of_the_admin_ca() {
        let (cluster, admin) = (Ca::new("cluster CA"), Ca::new("admin CA"));
        let (node, node_key) = admin.leaf();
        let config = TlsConfig::from_pem_with_admin_ca(
            node.as_bytes(),
            node_key.as_bytes(),
            cluster.pem().as_bytes(),
            admin.pem().as_bytes(),
        )
        .unwrap();
        assert!(config.has_admin_ca());
        assert_eq!(config.access(&[der(&admin.leaf().0)]), Access::Admin);
        assert_eq!(config.access(&[der(&cluster.leaf().0)]), Access::Restricted);
        // A certificate of the admin CA file itself, as the handshake's
        // rule for roots.
        assert_eq!(config.access(&[der(&admin.pem())]), Access::Admin);
        assert_eq!(config.access(&[]), Access::Restricted);
        // The handshake trusts both CAs.
        let verifier =
            Verifier::new(vec![der(&cluster.pem()), der(&admin.pem())], provider()).unwrap();
        let now = UnixTime::now();
        for leaf in [admin.leaf().0, cluster.leaf().0] {
            assert!(verifier.verify_client_cert(&der(&leaf), &[], now).is_ok());
        }
        // Without an admin CA, everyone authenticated is an admin.
        let (plain, plain_key) = cluster.leaf();
        let open = TlsConfig::from_pem(
            plain.as_bytes(),
            plain_key.as_bytes(),
            Some(cluster.pem().as_bytes()),
        )
        .unwrap();
        assert!(!open.has_admin_ca());
        assert_eq!(open.access(&[der(&cluster.leaf().0)]), Access::Admin);
    }

    #[test]
    fn a_node_certificate_outside_the_admin_ca_is_refused_at_load() {
        let (cluster, admin) = (Ca::new("cluster CA"), Ca::new("admin CA"));
        let (node, key) = cluster.leaf();
        let e = TlsConfig::from_pem_with_admin_ca(
            node.as_bytes(),
            key.as_bytes(),
            cluster.pem().as_bytes(),
            admin.pem().as_bytes(),
        )
        .unwrap_err();
        assert!(matches!(e, TlsError::NotAdmin(_)), "{e:?}");
        assert!(e.to_string().contains("not from the admin CA"), "{e}");
        let e = TlsConfig::from_pem_with_admin_ca(
            node.as_bytes(),
            key.as_bytes(),
            cluster.pem().as_bytes(),
            b"garbage",
        )
        .unwrap_err();
        assert!(matches!(e, TlsError::NoCertificate("admin CA")), "{e:?}");
    }

    #[test]
    fn the_admin_ca_needs_a_ca_and_is_reloaded_with_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let (cluster, admin) = (Ca::new("cluster CA"), Ca::new("admin CA"));
        let (node, key) = admin.leaf();
        let path = |name: &str| dir.path().join(name);
        std::fs::write(path("node.crt"), node).unwrap();
        std::fs::write(path("node.key"), key).unwrap();
        std::fs::write(path("ca.crt"), cluster.pem()).unwrap();
        std::fs::write(path("admin.crt"), admin.pem()).unwrap();
        let mut files = TlsFiles {
            cert: path("node.crt"),
            key: path("node.key"),
            ca: None,
            admin_ca: Some(path("admin.crt")),
        };
        let e = Tls::from_files(files.clone()).unwrap_err();
        assert!(matches!(e, TlsError::AdminCaWithoutCa), "{e:?}");
        files.ca = Some(path("ca.crt"));
        let tls = Tls::from_files(files).unwrap();
        let user = [der(&cluster.leaf().0)];
        assert_eq!(tls.current().access(&user), Access::Restricted);
        // The cluster CA becomes an admin CA too: after a reload, its
        // leaves are admins'.
        std::fs::write(path("admin.crt"), admin.pem() + &cluster.pem()).unwrap();
        tls.reload().unwrap();
        assert_eq!(tls.current().access(&user), Access::Admin);
        // An unreadable admin CA keeps the current configuration.
        std::fs::remove_file(path("admin.crt")).unwrap();
        let e = tls.reload().unwrap_err().to_string();
        assert!(e.contains("admin.crt"), "{e}");
        assert_eq!(tls.current().access(&user), Access::Admin);
    }

    /// One handshake of a client with `client_config` with `server`
    /// over loopback TCP, as the client saw it: full or resumed, and the
    /// key exchange group. The server then sends a byte, which the client
    /// reads, so that it also takes in the tickets sent before it.
    async fn handshake(
        server: &Tls,
        client_config: Arc<ClientConfig>,
    ) -> (Option<rustls::HandshakeKind>, Option<rustls::NamedGroup>) {
        let (kind, group, _) = session(server, client_config).await;
        (kind, group)
    }

    /// As [`handshake`], with the access the server gave the client.
    async fn session(
        server: &Tls,
        client_config: Arc<ClientConfig>,
    ) -> (
        Option<rustls::HandshakeKind>,
        Option<rustls::NamedGroup>,
        Access,
    ) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = server.clone();
        let serve = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let (mut stream, access) = server.accept(Stream::Tcp(socket)).await.unwrap();
            stream.write_all(b"x").await.unwrap();
            stream.flush().await.unwrap();
            // Until the client hangs up.
            let _ = stream.read(&mut [0u8; 1]).await;
            access
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
        let access = serve.await.unwrap();
        (seen.0, seen.1, access)
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

    #[tokio::test]
    async fn a_resumed_session_keeps_the_access_of_its_certificate() {
        let (cluster, admin) = (Ca::new("cluster CA"), Ca::new("admin CA"));
        let (node, node_key) = admin.leaf();
        let server = Tls::new(
            TlsConfig::from_pem_with_admin_ca(
                node.as_bytes(),
                node_key.as_bytes(),
                cluster.pem().as_bytes(),
                admin.pem().as_bytes(),
            )
            .unwrap(),
        );
        let both = cluster.pem() + &admin.pem();
        for (ca, want) in [(&cluster, Access::Restricted), (&admin, Access::Admin)] {
            let (leaf, key) = ca.leaf();
            let client =
                TlsConfig::from_pem(leaf.as_bytes(), key.as_bytes(), Some(both.as_bytes()))
                    .unwrap()
                    .client_config();
            let (kind, _, access) = session(&server, client.clone()).await;
            assert_eq!((kind, access), (Some(rustls::HandshakeKind::Full), want));
            let (kind, _, access) = session(&server, client).await;
            assert_eq!((kind, access), (Some(rustls::HandshakeKind::Resumed), want));
        }
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
            admin_ca: None,
        };
        let e = Tls::from_files(files).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/cluster.crt"), "{e}");
    }
}
