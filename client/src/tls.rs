//! TLS for the client side (feature `tls`), and the pieces the server
//! shares with it: PEM loading, the verifier, the *ring* provider.
//!
//! A cluster secured as go-dqlite's `app.SimpleTLSConfig` does it shares
//! one self-signed certificate between every node and client; a cluster
//! with a CA gives each its own leaf. [`ClientTls`] holds what a session
//! needs: a rustls [`ClientConfig`] and the name to give the server
//! (SNI and verification). Built from PEM ([`ClientTls::from_files`],
//! [`ClientTls::from_pem`]) it presents the certificate and trusts the CA,
//! or without a CA the certificate itself; the server name is the first
//! DNS name of the client's own certificate, as go-dqlite's dialer does,
//! unless [`ClientTls::with_server_name`] gives another. A ready
//! `ClientConfig` ([`ClientTls::from_config`]) needs the name given.
//!
//! # A certificate that is its own root
//!
//! The shared cluster certificate is usually `CA:TRUE`, which webpki
//! refuses as an end entity. [`Verifier`] accepts a presented certificate
//! identical to one of the trusted roots (if valid now, and for a server,
//! valid for the name), and hands every other to rustls' webpki
//! verifiers; handshake signatures are always checked with the provider's
//! algorithms. The server (`dqlite-server`) uses this same verifier for
//! the certificates of its clients and peers.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use rustls;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{WebPkiServerVerifier, verify_server_name};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ParsedCertificate, WebPkiClientVerifier};
use rustls::{
    ClientConfig, DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme,
};

/// Why a TLS configuration cannot be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
        source: rustls::pki_types::pem::Error,
    },
    /// No certificate where one was needed.
    #[error("no {0} certificate found")]
    NoCertificate(&'static str),
    /// A certificate does not parse as X.509.
    #[error("not a valid X.509 certificate: {0}")]
    BadCertificate(String),
    /// The certificate has no DNS name to name the server by.
    #[error(
        "the certificate has no DNS name (subjectAltName DNS:...): nodes and go-dqlite clients name the server by its first one"
    )]
    NoDnsName,
    /// A server name that is not a valid DNS name or IP address.
    #[error("invalid server name {0:?}")]
    BadServerName(String),
    /// The own certificate would not be accepted by the peers.
    #[error("the certificate is not trusted by the configured roots: {0}")]
    Untrusted(rustls::Error),
    /// An admin CA was given without a CA: the only other trusted
    /// certificate would be the node's own, and every peer an admin.
    #[error(
        "an admin CA needs a CA (--tls-ca) as well: without one, every trusted certificate would be an admin's"
    )]
    AdminCaWithoutCa,
    /// The node's own certificate does not chain to the admin CA: other
    /// nodes with the same admin CA would refuse its node-to-node traffic
    /// and its `--join`.
    #[error(
        "the certificate is not from the admin CA (nodes must hold admin certificates: other nodes would refuse its Raft traffic and its join): {0}"
    )]
    NotAdmin(rustls::Error),
    /// rustls refused the configuration (a key that does not match the
    /// certificate, an unsupported key type).
    #[error("invalid TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The trusted roots cannot make a verifier.
    #[error("invalid trusted roots: {0}")]
    Roots(#[from] rustls::client::VerifierBuilderError),
}

/// A certificate chain (leaf first), its key, and the trusted roots, as
/// read from PEM.
#[derive(Debug)]
pub struct Identity {
    /// The certificate chain, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key.
    pub key: PrivateKeyDer<'static>,
    /// The trusted roots: the CA's certificates, or the leaf itself.
    pub roots: Vec<CertificateDer<'static>>,
}

impl Identity {
    /// Reads PEM files: the certificate (chain), its key (PKCS#8, PKCS#1
    /// or SEC1), and the CA (`None`: trust the certificate itself).
    pub fn from_files(cert: &Path, key: &Path, ca: Option<&Path>) -> Result<Self, TlsError> {
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
        let chain = certs("certificate", &read(cert)?).map_err(in_file(cert))?;
        let key = private_key(&read(key)?).map_err(in_file(key))?;
        let roots = match ca {
            Some(ca) => certs("CA", &read(ca)?).map_err(in_file(ca))?,
            None => vec![chain[0].clone()],
        };
        Ok(Self { chain, key, roots })
    }

    /// Reads PEM texts, as [`from_files`](Self::from_files).
    pub fn from_pem(cert: &[u8], key: &[u8], ca: Option<&[u8]>) -> Result<Self, TlsError> {
        let chain = certs("certificate", cert)?;
        let key = private_key(key)?;
        let roots = match ca {
            Some(ca) => certs("CA", ca)?,
            None => vec![chain[0].clone()],
        };
        Ok(Self { chain, key, roots })
    }

    /// The first DNS name of the leaf.
    pub fn first_dns_name(&self) -> Result<ServerName<'static>, TlsError> {
        first_dns_name(&self.chain[0])
    }

    /// The verifier of peers' certificates against the roots.
    pub fn verifier(&self) -> Result<Arc<Verifier>, TlsError> {
        Ok(Arc::new(Verifier::new(self.roots.clone(), provider())?))
    }

    /// The dialing side's configuration: presents the chain, verifies the
    /// server with `verifier`.
    pub fn client_config(&self, verifier: Arc<Verifier>) -> Result<ClientConfig, TlsError> {
        Ok(ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(VERSIONS)?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_auth_cert(self.chain.clone(), self.key.clone_key())?)
    }
}

/// TLS 1.3 and 1.2, both sides.
pub const VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// What a session needs to speak TLS: the rustls configuration and the
/// name to give the server.
#[derive(Debug, Clone)]
pub struct ClientTls {
    config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
}

impl PartialEq for ClientTls {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.config, &other.config) && self.server_name == other.server_name
    }
}

impl Eq for ClientTls {}

impl ClientTls {
    /// Loads PEM files: the client's certificate, its key, and the CA
    /// (`None`: trust the certificate itself, the shared cluster
    /// certificate). The server is named by the certificate's first DNS
    /// name.
    pub fn from_files(
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
        ca: Option<&Path>,
    ) -> Result<Self, TlsError> {
        Self::from_identity(&Identity::from_files(cert.as_ref(), key.as_ref(), ca)?)
    }

    /// As [`from_files`](Self::from_files), from PEM texts.
    pub fn from_pem(cert: &[u8], key: &[u8], ca: Option<&[u8]>) -> Result<Self, TlsError> {
        Self::from_identity(&Identity::from_pem(cert, key, ca)?)
    }

    fn from_identity(identity: &Identity) -> Result<Self, TlsError> {
        let name = identity.first_dns_name()?;
        let config = identity.client_config(identity.verifier()?)?;
        Ok(Self {
            config: Arc::new(config),
            server_name: name,
        })
    }

    /// A ready rustls configuration; `server_name` (a DNS name or an IP
    /// address) is what the servers' certificates must be valid for.
    pub fn from_config(config: Arc<ClientConfig>, server_name: &str) -> Result<Self, TlsError> {
        Ok(Self {
            config,
            server_name: parse_name(server_name)?,
        })
    }

    /// Names the server `name` instead.
    pub fn with_server_name(mut self, name: &str) -> Result<Self, TlsError> {
        self.server_name = parse_name(name)?;
        Ok(self)
    }

    /// The name given to the server.
    pub fn server_name(&self) -> String {
        self.server_name.to_str().into_owned()
    }

    /// The rustls configuration.
    pub fn config(&self) -> Arc<ClientConfig> {
        self.config.clone()
    }

    /// Runs the handshake over `stream` (TCP or Unix: the server is
    /// named by [`server_name`](Self::server_name), not by its address).
    pub(crate) async fn connect<S>(
        &self,
        stream: S,
    ) -> io::Result<tokio_rustls::client::TlsStream<S>>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        tokio_rustls::TlsConnector::from(self.config.clone())
            .connect(self.server_name.clone(), stream)
            .await
    }
}

fn parse_name(name: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(name.to_owned()).map_err(|_| TlsError::BadServerName(name.to_owned()))
}

/// Why a handshake failed, in words: the certificate refused, the peer
/// closing, or a plaintext peer.
pub fn handshake_failure(error: &io::Error) -> String {
    use rustls::Error as E;
    let rustls = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match rustls {
        Some(E::InvalidMessage(_)) => "not a TLS handshake (a plaintext peer?)".to_owned(),
        Some(E::NoCertificatesPresented) => "no client certificate presented".to_owned(),
        Some(E::InvalidCertificate(e)) => {
            let what = format!("{e:?}");
            // webpki's words for a certificate outside the trusted set
            // (a self-signed one of another cluster is `CaUsedAsEndEntity`).
            let hint = if what.contains("UnknownIssuer") || what.contains("CaUsedAsEndEntity") {
                " (neither one of the trusted certificates nor signed by a trusted CA)"
            } else {
                ""
            };
            format!("certificate refused: {what}{hint}")
        }
        Some(e) => e.to_string(),
        None if error.kind() == io::ErrorKind::UnexpectedEof => {
            "closed during the TLS handshake".to_owned()
        }
        None => error.to_string(),
    }
}

/// The cryptography of both sides: rustls' *ring* provider, with X25519
/// as the preferred key exchange.
///
/// The provider's own order puts P-384 first, so two rustls peers (a Rust
/// driver and a node, or two nodes) would agree on it; ring's P-384 is
/// about ten times slower than its X25519, which made a handshake cost
/// about 1.5 ms of CPU instead of about 0.2 (`connect_cost` example).
/// X25519 is also what Go clients send a key share for; P-256 and P-384
/// stay supported for peers that offer nothing else.
pub fn provider() -> Arc<CryptoProvider> {
    // ring builds without cmake or a C toolchain of its own; rustls
    // deprecates its provider for lacking post-quantum key exchange:
    // peers that offer one (recent Go) agree on X25519 with it instead.
    #[allow(deprecated)]
    let mut provider = rustls::crypto::ring::default_provider();
    provider.kx_groups = KX_GROUPS.to_vec();
    Arc::new(provider)
}

/// The key exchange groups, in order of preference: the client sends a
/// key share for the first, the server picks the first the client offers.
#[allow(deprecated)]
const KX_GROUPS: &[&dyn rustls::crypto::SupportedKxGroup] = &[
    rustls::crypto::ring::kx_group::X25519,
    rustls::crypto::ring::kx_group::SECP256R1,
    rustls::crypto::ring::kx_group::SECP384R1,
];

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
pub struct Verifier {
    roots: Vec<CertificateDer<'static>>,
    clients: Arc<dyn ClientCertVerifier>,
    servers: Arc<WebPkiServerVerifier>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl Verifier {
    /// A verifier trusting `roots`, with `provider`'s algorithms.
    pub fn new(
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};

    fn self_signed(names: &[&str]) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        (params.self_signed(&key).unwrap().pem(), key.serialize_pem())
    }

    #[test]
    fn the_server_is_named_by_the_first_dns_name_unless_told() {
        let (cert, key) = self_signed(&["cluster", "other"]);
        let tls = ClientTls::from_pem(cert.as_bytes(), key.as_bytes(), None).unwrap();
        assert_eq!(tls.server_name(), "cluster");
        let renamed = tls.clone().with_server_name("10.0.0.1").unwrap();
        assert_eq!(renamed.server_name(), "10.0.0.1");
        assert_ne!(renamed, tls);
        assert!(matches!(
            tls.clone().with_server_name("not a name"),
            Err(TlsError::BadServerName(_))
        ));
        let ready = ClientTls::from_config(tls.config(), "cluster").unwrap();
        assert_eq!(ready, tls);
    }

    #[test]
    fn what_cannot_make_a_client_is_refused() {
        let (nameless, nameless_key) = self_signed(&[]);
        let e = ClientTls::from_pem(nameless.as_bytes(), nameless_key.as_bytes(), None);
        assert!(matches!(e, Err(TlsError::NoDnsName)), "{e:?}");
        let (cert, _) = self_signed(&["cluster"]);
        let (_, other_key) = self_signed(&["cluster"]);
        let e = ClientTls::from_pem(cert.as_bytes(), other_key.as_bytes(), None);
        assert!(matches!(e, Err(TlsError::Rustls(_))), "{e:?}");
        let e = ClientTls::from_files("/nonexistent/c.crt", "/nonexistent/c.key", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/c.crt"), "{e}");
    }
}
