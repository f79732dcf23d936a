//! Where and how to connect: the node list, the database, and the bounds
//! on every wait. Built from a `dqlite://` URL or with [`Builder`]'s
//! methods.
//!
//! | URL part | meaning | default |
//! |---|---|---|
//! | `dqlite://h1:9001,h2:9001` | the nodes to ask for the leader (any subset of the cluster) | required |
//! | `/dbname` | the database to open | required |
//! | `?connect_timeout=10s` | how long finding the leader may take, in all | 10 s |
//! | `&dial_timeout=2s` | one TCP connect | 2 s |
//! | `&request_timeout=60s` | one answer (`0` for none) | 60 s |
//! | `&backoff=100ms` / `&backoff_max=1s` | pause between rounds of probing | 100 ms / 1 s |
//! | `&cache=16` | prepared statements kept by `prepare_cached` | 16 |
//!
//! Durations take `ms`, `s` or `m`.

use std::time::Duration;

use crate::{Error, Result};

pub use dqlite_client::config::{
    DEFAULT_BACKOFF, DEFAULT_BACKOFF_MAX, DEFAULT_CONNECT_TIMEOUT, DEFAULT_DIAL_TIMEOUT,
    DEFAULT_REQUEST_TIMEOUT,
};
/// Default [`Builder::statement_cache_capacity`], rusqlite's.
pub const DEFAULT_CACHE_CAPACITY: usize = 16;

/// Settings of a connection; see the [module docs](self) for the URL form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Builder {
    pub(crate) nodes: Vec<String>,
    pub(crate) database: String,
    pub(crate) connect_timeout: Duration,
    pub(crate) dial_timeout: Duration,
    pub(crate) request_timeout: Option<Duration>,
    pub(crate) backoff: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) cache_capacity: usize,
}

impl Builder {
    /// Settings for `database`, with no nodes yet and the default bounds.
    pub fn new(database: impl Into<String>) -> Self {
        Self {
            nodes: Vec::new(),
            database: database.into(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            dial_timeout: DEFAULT_DIAL_TIMEOUT,
            request_timeout: Some(DEFAULT_REQUEST_TIMEOUT),
            backoff: DEFAULT_BACKOFF,
            backoff_max: DEFAULT_BACKOFF_MAX,
            cache_capacity: DEFAULT_CACHE_CAPACITY,
        }
    }

    /// Parses `dqlite://host:port[,host:port…]/database[?key=value&…]`.
    pub fn from_url(url: &str) -> Result<Self> {
        let bad = |why: &str| Error::InvalidConfig(format!("{why} in {url:?}"));
        let rest = url
            .strip_prefix("dqlite://")
            .ok_or_else(|| bad("the URL must start with dqlite://"))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (hosts, database) = path.split_once('/').ok_or_else(|| bad("no /database"))?;
        if database.is_empty() {
            return Err(bad("empty database name"));
        }
        let mut builder = Self::new(database);
        for host in hosts.split(',').filter(|h| !h.is_empty()) {
            builder = builder.node(host);
        }
        if builder.nodes.is_empty() {
            return Err(bad("no node address"));
        }
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| bad("a parameter without ="))?;
            match key {
                "connect_timeout" => {
                    builder.connect_timeout = duration(value).ok_or_else(|| bad(key))?
                }
                "dial_timeout" => builder.dial_timeout = duration(value).ok_or_else(|| bad(key))?,
                "request_timeout" => {
                    let d = duration(value).ok_or_else(|| bad(key))?;
                    builder.request_timeout = (!d.is_zero()).then_some(d);
                }
                "backoff" => builder.backoff = duration(value).ok_or_else(|| bad(key))?,
                "backoff_max" => builder.backoff_max = duration(value).ok_or_else(|| bad(key))?,
                "cache" => builder.cache_capacity = value.parse().map_err(|_| bad(key))?,
                _ => return Err(bad(&format!("unknown parameter {key:?}"))),
            }
        }
        Ok(builder)
    }

    /// Adds a node address (`host:port`) to ask for the leader.
    pub fn node(mut self, address: impl Into<String>) -> Self {
        let address = address.into();
        if !self.nodes.contains(&address) {
            self.nodes.push(address);
        }
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
        self.connect_timeout = timeout;
        self
    }

    /// How long one TCP connect may take.
    pub fn dial_timeout(mut self, timeout: Duration) -> Self {
        self.dial_timeout = timeout;
        self
    }

    /// How long to wait for an answer (each message of a result set
    /// counts separately); `None` waits forever.
    pub fn request_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Pause between rounds of probing the nodes: `first`, doubling up to `max`.
    pub fn backoff(mut self, first: Duration, max: Duration) -> Self {
        self.backoff = first;
        self.backoff_max = max.max(first);
        self
    }

    /// How many prepared statements `prepare_cached` keeps.
    pub fn statement_cache_capacity(mut self, capacity: usize) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// The database to open.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// The client core's settings.
    pub(crate) fn client_config(&self) -> dqlite_client::Config {
        dqlite_client::Config {
            nodes: self.nodes.clone(),
            database: self.database.clone(),
            connect_timeout: self.connect_timeout,
            dial_timeout: self.dial_timeout,
            request_timeout: self.request_timeout,
            backoff: self.backoff,
            backoff_max: self.backoff_max,
        }
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

use dqlite_client::parse_duration as duration;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let b = Builder::from_url(
            "dqlite://a:1,b:2/app?connect_timeout=5s&request_timeout=0s&backoff=50ms&cache=3",
        )
        .unwrap();
        assert_eq!(b.nodes, ["a:1", "b:2"]);
        assert_eq!(b.database, "app");
        assert_eq!(b.connect_timeout, Duration::from_secs(5));
        assert_eq!(b.request_timeout, None);
        assert_eq!(b.backoff, Duration::from_millis(50));
        assert_eq!(b.cache_capacity, 3);
        for bad in [
            "sqlite://a:1/app",
            "dqlite://a:1",
            "dqlite://a:1/",
            "dqlite:///app",
            "dqlite://a:1/app?x=1",
            "dqlite://a:1/app?dial_timeout=5",
        ] {
            assert!(Builder::from_url(bad).is_err(), "{bad}");
        }
    }
}
