//! [`DqliteConnectOptions`]: where and how to connect, as a builder or a
//! URL.
//!
//! The URL is parsed by `dqlite_client::Config::from_url_with`, the parser
//! dqlite-rusqlite uses too, so both drivers take the same keys:
//!
//! | URL part | meaning | default |
//! |---|---|---|
//! | `dqlite://h1:9001,h2:9001` | nodes to ask for the leader (any subset of the cluster) | required |
//! | `/dbname` | the database to open (created on first use; percent-decoded) | required |
//! | `?node=h3:9001` | one more node (repeatable; the form to use where a parser takes one host only, such as `AnyPool`) | — |
//! | `&connect_timeout=10s` | how long finding the leader may take, all rounds together | 10 s |
//! | `&dial_timeout=2s` | one TCP connect | 2 s |
//! | `&request_timeout=60s` | one answer from the server (`0s` for none) | 60 s |
//! | `&backoff=100ms` / `&backoff_max=1s` | pause between rounds of probing the nodes, doubling | 100 ms / 1 s |
//! | `&statement_cache_capacity=100` (alias `&cache=100`, dqlite-rusqlite's older spelling) | prepared statements kept per connection | 100 |
//! | `&migration_lock_timeout=5m` | how long `Migrator::run` waits for another migrator's lock (this driver's key) | 5 min |
//! | `&tls_cert=PATH&tls_key=PATH` | TLS (feature `tls`): the client's PEM certificate and key | plain TCP |
//! | `&tls_ca=PATH` | PEM roots the nodes' certificates must chain to | the certificate itself |
//! | `&tls_server_name=NAME` | the name the nodes' certificates must carry | the first DNS name of `tls_cert` |
//!
//! Durations take `ms`, `s` or `m`; paths are percent-decoded; the TLS
//! files are read when the URL is parsed. A `tls` or `sslmode` parameter
//! is refused rather than ignored (use the `tls_*` keys).

mod parse;

use std::time::Duration;

use log::LevelFilter;
use sqlx_core::Url;
use sqlx_core::connection::{ConnectOptions, LogSettings};
use sqlx_core::error::Error;

use crate::DqliteConnection;

/// Default [`DqliteConnectOptions::statement_cache_capacity`] (sqlx's).
pub const DEFAULT_STATEMENT_CACHE_CAPACITY: usize = 100;
/// Default [`DqliteConnectOptions::migration_lock_timeout`].
pub const DEFAULT_MIGRATION_LOCK_TIMEOUT: Duration = Duration::from_secs(300);

/// Settings of a connection to a dqlite cluster; see the
/// [module docs](self) for the URL form.
///
/// ```
/// use std::time::Duration;
/// use sqlx_dqlite::DqliteConnectOptions;
///
/// let by_url: DqliteConnectOptions =
///     "dqlite://10.0.0.1:9001,10.0.0.2:9001/app?connect_timeout=5s".parse()?;
/// let built = DqliteConnectOptions::new()
///     .node("10.0.0.1:9001")
///     .node("10.0.0.2:9001")
///     .database("app")
///     .connect_timeout(Duration::from_secs(5));
/// assert_eq!(by_url.get_nodes(), built.get_nodes());
/// assert_eq!(by_url.get_database(), "app");
/// # Ok::<(), sqlx::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct DqliteConnectOptions {
    pub(crate) client: dqlite_client::Config,
    pub(crate) statement_cache_capacity: usize,
    pub(crate) migration_lock_timeout: Duration,
    pub(crate) log_settings: LogSettings,
}

impl Default for DqliteConnectOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl DqliteConnectOptions {
    /// No nodes, no database yet, default bounds.
    pub fn new() -> Self {
        Self {
            client: dqlite_client::Config::new(""),
            statement_cache_capacity: DEFAULT_STATEMENT_CACHE_CAPACITY,
            migration_lock_timeout: DEFAULT_MIGRATION_LOCK_TIMEOUT,
            log_settings: LogSettings::default(),
        }
    }

    /// Adds a node (`host:port`) to ask for the leader.
    pub fn node(mut self, address: impl Into<String>) -> Self {
        let address = address.into();
        if !self.client.nodes.contains(&address) {
            self.client.nodes.push(address);
        }
        self
    }

    /// Adds several nodes.
    pub fn nodes<I, S>(self, addresses: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        addresses.into_iter().fold(self, Self::node)
    }

    /// The database to open; dqlite creates it on first use.
    pub fn database(mut self, name: impl Into<String>) -> Self {
        self.client.database = name.into();
        self
    }

    /// How long finding the leader may take, all rounds together.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.client.connect_timeout = timeout;
        self
    }

    /// How long one TCP connect may take.
    pub fn dial_timeout(mut self, timeout: Duration) -> Self {
        self.client.dial_timeout = timeout;
        self
    }

    /// How long to wait for one answer (each message of a result set
    /// counts separately); `None` waits forever.
    pub fn request_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.client.request_timeout = timeout;
        self
    }

    /// Pause between rounds of probing the nodes: `first`, doubling up to `max`.
    pub fn backoff(mut self, first: Duration, max: Duration) -> Self {
        self.client.backoff = first;
        self.client.backoff_max = max.max(first);
        self
    }

    /// Speaks TLS to every node (feature `tls`): build `tls` from PEM
    /// files ([`ClientTls::from_files`](dqlite_client::tls::ClientTls::from_files):
    /// certificate, key, optional CA) or from a ready
    /// `rustls::ClientConfig` ([`ClientTls::from_config`](dqlite_client::tls::ClientTls::from_config)).
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: dqlite_client::tls::ClientTls) -> Self {
        self.client.tls = Some(tls);
        self
    }

    /// How many prepared statements each connection keeps (0 prepares
    /// nothing: every query is sent with its SQL).
    pub fn statement_cache_capacity(mut self, capacity: usize) -> Self {
        self.statement_cache_capacity = capacity;
        self
    }

    /// How long a migrator waits for the cluster-wide migration lock held
    /// by another one before giving up.
    pub fn migration_lock_timeout(mut self, timeout: Duration) -> Self {
        self.migration_lock_timeout = timeout;
        self
    }

    /// The nodes asked for the leader.
    pub fn get_nodes(&self) -> &[String] {
        &self.client.nodes
    }

    /// The database.
    pub fn get_database(&self) -> &str {
        &self.client.database
    }
}

impl ConnectOptions for DqliteConnectOptions {
    type Connection = DqliteConnection;

    fn from_url(url: &Url) -> Result<Self, Error> {
        url.as_str().parse()
    }

    fn to_url_lossy(&self) -> Url {
        // A node that is not a valid URL host leaves only the scheme.
        Url::parse(&parse::to_url(self))
            .or_else(|_| Url::parse("dqlite:"))
            .expect("a bare scheme is a valid URL")
    }

    fn connect(&self) -> impl Future<Output = Result<DqliteConnection, Error>> + Send + '_ {
        DqliteConnection::establish(self)
    }

    fn log_statements(mut self, level: LevelFilter) -> Self {
        self.log_settings.log_statements(level);
        self
    }

    fn log_slow_statements(mut self, level: LevelFilter, duration: Duration) -> Self {
        self.log_settings.log_slow_statements(level, duration);
        self
    }
}
