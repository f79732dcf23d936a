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
//! # Reloading
//!
//! [`Tls`] holds the current configuration behind a lock; [`Tls::reload`]
//! reads the files again and swaps it in only if the new pair loads and
//! checks, so established sessions keep theirs and new connections get
//! the new one.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{WebPkiServerVerifier, verify_server_name};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ParsedCertificate, WebPkiClientVerifier};
use rustls::{
    ClientConfig, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig,
    SignatureScheme,
};
use rustls_pki_types::pem::PemObject;

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

/// Why a TLS configuration cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file cannot be read.
    #[error("cannot read {path}: {source}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// What is wrong with the content of a file.
    #[error("{path}: {source}")]
    InFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: Box<TlsError>,
    },
    /// A PEM text holds no item of the kind expected, or is malformed.
    #[error("no readable {what} in PEM: {source}")]
    Pem {
        /// What was looked for: certificate, key, CA.
        what: &'static str,
        /// Why.
        source: rustls_pki_types::pem::Error,
    },
    /// No certificate where one was needed.
    #[error("no {0} certificate found")]
    NoCertificate(&'static str),
    /// A certificate does not parse as X.509.
    #[error("not a valid X.509 certificate: {0}")]
    BadCertificate(String),
    /// The certificate has no DNS name to dial nodes by.
    #[error(
        "the certificate has no DNS name (subjectAltName DNS:...): nodes and go-dqlite clients name the server by its first one"
    )]
    NoDnsName,
    /// The node's own certificate would not be accepted by its peers.
    #[error("the certificate is not trusted by the configured roots: {0}")]
    Untrusted(rustls::Error),
    /// rustls refused the configuration (a key that does not match the
    /// certificate, an unsupported key type).
    #[error("invalid TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The trusted roots cannot make a verifier.
    #[error("invalid trusted roots: {0}")]
    Roots(#[from] rustls::client::VerifierBuilderError),
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
        let in_file = |path: &Path| {
            let path = path.to_owned();
            move |source| TlsError::InFile {
                path,
                source: Box::new(source),
            }
        };
        let read = |path: &Path| {
            std::fs::read(path).map_err(|e| TlsError::Unreadable {
                path: path.to_owned(),
                source: e,
            })
        };
        let chain = certs("certificate", &read(&files.cert)?).map_err(in_file(&files.cert))?;
        let key = private_key(&read(&files.key)?).map_err(in_file(&files.key))?;
        let roots = match &files.ca {
            Some(ca) => certs("CA", &read(ca)?).map_err(in_file(ca))?,
            None => vec![chain[0].clone()],
        };
        Self::build(chain, key, roots)
    }

    /// Builds a configuration from PEM texts: the certificate chain
    /// (leaf first), its private key, and the trusted roots (`None`: the
    /// leaf itself).
    pub fn from_pem(cert: &[u8], key: &[u8], ca: Option<&[u8]>) -> Result<Self, TlsError> {
        let chain = certs("certificate", cert)?;
        let key = private_key(key)?;
        let roots = match ca {
            Some(ca) => certs("CA", ca)?,
            None => vec![chain[0].clone()],
        };
        Self::build(chain, key, roots)
    }

    /// Builds both sides' configurations and checks that the node's own
    /// certificate passes them (else no peer would accept it).
    fn build(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        roots: Vec<CertificateDer<'static>>,
    ) -> Result<Self, TlsError> {
        let server_name = first_dns_name(&chain[0])?;
        let provider = provider();
        let verifier = Arc::new(Verifier::new(roots, provider.clone())?);
        let versions = [&rustls::version::TLS13, &rustls::version::TLS12];
        let server = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)?
            .with_client_cert_verifier(verifier.clone())
            .with_single_cert(chain.clone(), key.clone_key())?;
        let client = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&versions)?
            .dangerous()
            .with_custom_certificate_verifier(verifier.clone())
            .with_client_auth_cert(chain.clone(), key)?;
        let now = UnixTime::now();
        verifier
            .verify_client_cert(&chain[0], &chain[1..], now)
            .and_then(|_| {
                verifier.verify_server_cert(&chain[0], &chain[1..], &server_name, &[], now)
            })
            .map_err(TlsError::Untrusted)?;
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

/// The cryptography of both sides: rustls' *ring* provider.
fn provider() -> Arc<CryptoProvider> {
    // ring builds without cmake or a C toolchain of its own; rustls
    // deprecates its provider for lacking post-quantum key exchange:
    // peers that offer one (recent Go) agree on X25519 with it instead.
    #[allow(deprecated)]
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificates of a PEM text, at least one.
fn certs(what: &'static str, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Pem { what, source })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(what));
    }
    Ok(certs)
}

/// The private key of a PEM text.
fn private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|source| TlsError::Pem {
        what: "key",
        source,
    })
}

/// The first DNS name among the subject alternative names of `cert`.
fn first_dns_name(cert: &CertificateDer<'_>) -> Result<ServerName<'static>, TlsError> {
    use x509_parser::extensions::GeneralName;
    let (_, parsed) = x509_parser::parse_x509_certificate(cert)
        .map_err(|e| TlsError::BadCertificate(e.to_string()))?;
    let names = parsed
        .subject_alternative_name()
        .map_err(|e| TlsError::BadCertificate(e.to_string()))?;
    let name = names
        .into_iter()
        .flat_map(|ext| ext.value.general_names.iter())
        .find_map(|n| match n {
            GeneralName::DNSName(name) => Some(*name),
            _ => None,
        })
        .ok_or(TlsError::NoDnsName)?;
    ServerName::try_from(name.to_owned()).map_err(|_| TlsError::NoDnsName)
}

/// Whether `cert` is within its validity period at `now`.
fn valid_at(cert: &CertificateDer<'_>, now: UnixTime) -> Result<(), rustls::Error> {
    use rustls::CertificateError;
    let (_, parsed) = x509_parser::parse_x509_certificate(cert)
        .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
    let secs = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let at = x509_parser::time::ASN1Time::from_timestamp(secs)
        .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
    let validity = parsed.validity();
    if at < validity.not_before {
        return Err(rustls::Error::InvalidCertificate(
            CertificateError::NotValidYet,
        ));
    }
    if at > validity.not_after {
        return Err(rustls::Error::InvalidCertificate(CertificateError::Expired));
    }
    Ok(())
}

/// Verifies peers' certificates on both sides: a certificate identical
/// to a trusted root is accepted as it is (Go's crypto/tls accepts a
/// self-signed CA certificate as its own end entity); anything else goes
/// to webpki.
#[derive(Debug)]
struct Verifier {
    roots: Vec<CertificateDer<'static>>,
    clients: Arc<dyn ClientCertVerifier>,
    servers: Arc<WebPkiServerVerifier>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl Verifier {
    fn new(
        roots: Vec<CertificateDer<'static>>,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, TlsError> {
        let mut store = RootCertStore::empty();
        for root in &roots {
            store.add(root.clone())?;
        }
        let store = Arc::new(store);
        let algorithms = provider.signature_verification_algorithms;
        let clients =
            WebPkiClientVerifier::builder_with_provider(store.clone(), provider.clone()).build()?;
        let servers = WebPkiServerVerifier::builder_with_provider(store, provider).build()?;
        Ok(Self {
            roots,
            clients,
            servers,
            algorithms,
        })
    }

    /// Whether `cert` is one of the trusted roots itself.
    fn is_root(&self, cert: &CertificateDer<'_>) -> bool {
        self.roots.iter().any(|r| r.as_ref() == cert.as_ref())
    }
}

/// The handshake-signature methods of both verifier traits: webpki's
/// checks with the provider's algorithms.
macro_rules! handshake_signatures {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.algorithms.supported_schemes()
        }
    };
}

impl ClientCertVerifier for Verifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.clients.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if self.is_root(end_entity) {
            valid_at(end_entity, now)?;
            return Ok(ClientCertVerified::assertion());
        }
        self.clients
            .verify_client_cert(end_entity, intermediates, now)
    }

    handshake_signatures!();
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.is_root(end_entity) {
            valid_at(end_entity, now)?;
            verify_server_name(&ParsedCertificate::try_from(end_entity)?, server_name)?;
            return Ok(ServerCertVerified::assertion());
        }
        self.servers
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    handshake_signatures!();
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

/// Why a TLS handshake failed, in words for the log.
pub fn handshake_failure(error: &io::Error) -> String {
    use rustls::Error as E;
    let rustls = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match rustls {
        Some(E::InvalidMessage(_)) => "not a TLS handshake (a plaintext client?)".to_owned(),
        Some(E::NoCertificatesPresented) => "no client certificate presented".to_owned(),
        Some(E::InvalidCertificate(e)) => format!("certificate refused: {e:?}"),
        Some(e) => e.to_string(),
        None if error.kind() == io::ErrorKind::UnexpectedEof => {
            "closed during the TLS handshake".to_owned()
        }
        None => error.to_string(),
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
