//! Where and how to connect: the node list, the database, and the bounds
//! on every wait. Built from a `dqlite://` URL or with [`Builder`]'s
//! methods.
//!
//! The URL is parsed by `dqlite_client::Config::from_url_with`, the parser
//! sqlx-dqlite uses too, so both drivers take the same keys:
//!
//! | URL part | meaning | default |
//! |---|---|---|
//! | `dqlite://h1:9001,h2:9001` | the nodes to ask for the leader (any subset of the cluster) | required |
//! | `/dbname` | the database to open (percent-decoded) | required |
//! | `?node=h3:9001` | one more node (repeatable) | — |
//! | `&connect_timeout=10s` | how long finding the leader may take, in all | 10 s |
//! | `&dial_timeout=2s` | one TCP connect | 2 s |
//! | `&request_timeout=60s` | one answer (`0s` for none) | 60 s |
//! | `&backoff=100ms` / `&backoff_max=1s` | pause between rounds of probing | 100 ms / 1 s |
//! | `&statement_cache_capacity=16` (alias `&cache=16`, this crate's older spelling) | prepared statements kept by `prepare_cached` | 16 |
//! | `&tls_cert=PATH&tls_key=PATH` | TLS (feature `tls`): the client's PEM certificate and key | plain TCP |
//! | `&tls_ca=PATH` | PEM roots the nodes' certificates must chain to | the certificate itself |
//! | `&tls_server_name=NAME` | the name the nodes' certificates must carry | the first DNS name of `tls_cert` |
//!
//! Durations take `ms`, `s` or `m`; paths are percent-decoded; the TLS
//! files are read when the URL is parsed. `tls`/`sslmode` are refused
//! (use the `tls_*` keys); other keys are errors.

use std::time::Duration;

use crate::Result;

pub use dqlite_client::config::{
    DEFAULT_BACKOFF, DEFAULT_BACKOFF_MAX, DEFAULT_CONNECT_TIMEOUT, DEFAULT_DIAL_TIMEOUT,
    DEFAULT_REQUEST_TIMEOUT,
};
/// Default [`Builder::statement_cache_capacity`], rusqlite's.
pub const DEFAULT_CACHE_CAPACITY: usize = 16;

/// Settings of a connection; see the [module docs](self) for the URL form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Builder {
    /// The client core's settings (nodes, database, timeouts).
    pub(crate) client: dqlite_client::Config,
    pub(crate) cache_capacity: usize,
}

impl Builder {
    /// Settings for `database`, with no nodes yet and the default bounds.
    pub fn new(database: impl Into<String>) -> Self {
        Self {
            client: dqlite_client::Config::new(database),
            cache_capacity: DEFAULT_CACHE_CAPACITY,
        }
    }

    /// Parses `dqlite://host:port[,host:port…]/database[?key=value&…]`.
    pub fn from_url(url: &str) -> Result<Self> {
        let mut cache_capacity = DEFAULT_CACHE_CAPACITY;
        let client = dqlite_client::Config::from_url_with(url, |key, value| match key {
            "statement_cache_capacity" => {
                cache_capacity = value.parse().map_err(|_| "not a count".to_owned())?;
                Ok(true)
            }
            _ => Ok(false),
        })?;
        Ok(Self {
            client,
            cache_capacity,
        })
    }

    /// Adds a node address (`host:port`) to ask for the leader.
    pub fn node(mut self, address: impl Into<String>) -> Self {
        self.client.add_node(&address.into());
        self
    }

    /// Adds several node addresses.
    pub fn nodes<I, S>(self, addresses: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        addresses.into_iter().fold(self, Self::node)
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

    /// How long to wait for an answer (each message of a result set
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

    /// How many prepared statements `prepare_cached` keeps.
    pub fn statement_cache_capacity(mut self, capacity: usize) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// The database to open.
    pub fn database(&self) -> &str {
        &self.client.database
    }

    /// The client core's settings.
    pub(crate) fn client_config(&self) -> dqlite_client::Config {
        self.client.clone()
    }

    /// Opens a blocking [`Connection`](crate::Connection) (usable on any
    /// thread; see its docs).
    pub fn open(self) -> Result<crate::Connection> {
        crate::Connection::open_with(self)
    }

    /// Opens an [`asynchronous::Connection`](crate::asynchronous::Connection).
    pub async fn open_async(self) -> Result<crate::asynchronous::Connection> {
        crate::asynchronous::Connection::open_with(self).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let b = Builder::from_url(
            "dqlite://a:1,b:2/app?connect_timeout=5s&request_timeout=0s&backoff=50ms&cache=3",
        )
        .unwrap();
        assert_eq!(b.client.nodes, ["a:1", "b:2"]);
        assert_eq!(b.client.database, "app");
        assert_eq!(b.client.connect_timeout, Duration::from_secs(5));
        assert_eq!(b.client.request_timeout, None);
        assert_eq!(b.client.backoff, Duration::from_millis(50));
        assert_eq!(b.cache_capacity, 3);
        // The unified keys: `node=`, percent-decoding, the long cache name.
        let b =
            Builder::from_url("dqlite://a:1/my%20db?node=b:2&statement_cache_capacity=5").unwrap();
        assert_eq!(b.client.nodes, ["a:1", "b:2"]);
        assert_eq!(b.database(), "my db");
        assert_eq!(b.cache_capacity, 5);
        // The client's parser refuses the rest (tested there).
        for bad in ["dqlite://a:1/app?x=1", "dqlite://a:1/app?cache=-1"] {
            assert!(Builder::from_url(bad).is_err(), "{bad}");
        }
    }
}
