//! What a [`Session`](crate::Session) needs to know: the nodes, the
//! database, and the bound on every wait; and the one parser of the
//! `dqlite://` URLs both drivers take ([`Config::from_url`],
//! [`Config::from_url_with`]).
//!
//! # The URL
//!
//! `dqlite://host:port[,host:port…]/database[?key=value&…]`. The database
//! name and every value are percent-decoded (`my%20db`). A node on this
//! host may be a Unix socket: `@name` (an abstract socket) goes in the
//! host list like any address (`dqlite://@node1/app`), a socket file
//! through `node=` (`dqlite:///app?node=unix:/run/dqlite/node1.sock`),
//! since its slashes would end the host list. Keys:
//!
//! | key | meaning | default |
//! |---|---|---|
//! | `node=h3:9001` | one more node to ask for the leader (repeatable; the form to use where a URL parser takes one host only, such as sqlx's `AnyPool`) | — |
//! | `connect_timeout=10s` | how long finding the leader may take, all rounds together | 10 s |
//! | `dial_timeout=2s` | one connect (TLS handshake included) | 2 s |
//! | `request_timeout=60s` | one answer from the server (`0s` for none) | 60 s |
//! | `backoff=100ms` / `backoff_max=1s` | pause between rounds of probing the nodes, doubling | 100 ms / 1 s |
//! | `statement_cache_capacity=N` (alias `cache=N`) | prepared statements kept per connection; applied by the driver, whose default it is | the driver's |
//! | `tls_cert=PATH` | PEM certificate (chain) the client presents; turns TLS on (feature `tls`) | — |
//! | `tls_key=PATH` | its PEM private key; required with `tls_cert` | — |
//! | `tls_ca=PATH` | PEM roots that the servers' certificates must chain to | the certificate itself (go-dqlite's one shared cluster certificate) |
//! | `tls_server_name=NAME` | the name the servers' certificates must be valid for (SNI too) | the first DNS name of `tls_cert` (as go-dqlite's dialer) |
//! | `tls`, `sslmode`, `ssl-mode` | refused (rather than ignored): use the `tls_*` keys | — |
//!
//! Paths are percent-decoded like every value. A crate built without the
//! feature `tls` refuses the `tls_*` keys. The files are read when the URL
//! is parsed.
//!
//! Durations take `ms`, `s` or `m` ([`parse_duration`]). A driver adds keys
//! of its own through the hook of [`Config::from_url_with`] (sqlx-dqlite:
//! `migration_lock_timeout`); any other key is an error.

use std::time::Duration;

use crate::{Error, Result};

/// Default [`Config::connect_timeout`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`Config::dial_timeout`].
pub const DEFAULT_DIAL_TIMEOUT: Duration = Duration::from_secs(2);
/// Default [`Config::request_timeout`].
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Default [`Config::backoff`].
pub const DEFAULT_BACKOFF: Duration = Duration::from_millis(100);
/// Default [`Config::max_response`]: the protocol crate's frame limit
/// (64 MiB).
pub const DEFAULT_MAX_RESPONSE: usize = dqlite_protocol::frame::DEFAULT_MAX_BODY;
/// Default [`Config::backoff_max`].
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Settings of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// The nodes to ask for the leader (any subset of the cluster).
    pub nodes: Vec<String>,
    /// The database to open.
    pub database: String,
    /// How long finding the leader may take, all rounds together.
    pub connect_timeout: Duration,
    /// How long one TCP connect may take.
    pub dial_timeout: Duration,
    /// How long to wait for one answer; `None` waits forever.
    pub request_timeout: Option<Duration>,
    /// First pause between rounds of probing the nodes; it doubles…
    pub backoff: Duration,
    /// …up to this.
    pub backoff_max: Duration,
    /// Largest answer accepted from a node, in bytes (checked before
    /// anything is allocated). Only a DUMP answer, which carries a whole
    /// database, comes near the default.
    pub max_response: usize,
    /// TLS to every node (all or none); `None` speaks plain TCP.
    #[cfg(feature = "tls")]
    pub tls: Option<crate::tls::ClientTls>,
}

impl Config {
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
            max_response: DEFAULT_MAX_RESPONSE,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// Parses a `dqlite://` URL that has only the keys of the [module
    /// docs](self) (`statement_cache_capacity` is refused: it is a driver's).
    pub fn from_url(url: &str) -> Result<Self> {
        Self::from_url_with(url, |_, _| Ok(false))
    }

    /// Parses a `dqlite://` URL (see the [module docs](self)); every key
    /// that is not the client's goes to `driver_key` with its decoded
    /// value, aliases already replaced by their canonical name (`cache`
    /// arrives as `statement_cache_capacity`). The hook answers `Ok(true)`
    /// for a key it took, `Ok(false)` for a key it does not know (an
    /// error), or `Err(why)` for a value it refuses.
    pub fn from_url_with(
        url: &str,
        mut driver_key: impl FnMut(&str, &str) -> std::result::Result<bool, String>,
    ) -> Result<Self> {
        let bad = |why: &str| Error::InvalidConfig(format!("{why} in {url:?}"));
        let rest = url
            .strip_prefix("dqlite://")
            .ok_or_else(|| bad("the URL must start with dqlite://"))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (hosts, database) = path.split_once('/').ok_or_else(|| bad("no /database"))?;
        let database = percent_decode(database).ok_or_else(|| bad("bad percent-encoding"))?;
        if database.is_empty() {
            return Err(bad("empty database name"));
        }
        let mut config = Self::new(database);
        let mut tls = TlsKeys::default();
        for host in hosts.split(',').filter(|h| !h.is_empty()) {
            config.add_node(host);
        }
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| bad("a parameter without ="))?;
            let value = percent_decode(value).ok_or_else(|| bad("bad percent-encoding"))?;
            let duration = || parse_duration(&value).ok_or_else(|| bad(key));
            match key {
                "node" => config.add_node(&value),
                "connect_timeout" => config.connect_timeout = duration()?,
                "dial_timeout" => config.dial_timeout = duration()?,
                "request_timeout" => {
                    let d = duration()?;
                    config.request_timeout = (!d.is_zero()).then_some(d);
                }
                "backoff" => config.backoff = duration()?,
                "backoff_max" => config.backoff_max = duration()?,
                "tls_cert" => tls.cert = Some(value),
                "tls_key" => tls.key = Some(value),
                "tls_ca" => tls.ca = Some(value),
                "tls_server_name" => tls.server_name = Some(value),
                "tls" | "sslmode" | "ssl-mode" => {
                    return Err(bad(&format!(
                        "{key}: TLS is set with tls_cert, tls_key and tls_ca"
                    )));
                }
                other => {
                    let canonical = match other {
                        "cache" => "statement_cache_capacity",
                        other => other,
                    };
                    match driver_key(canonical, &value) {
                        Ok(true) => {}
                        Ok(false) => return Err(bad(&format!("unknown parameter {other:?}"))),
                        Err(why) => return Err(bad(&format!("{other}: {why}"))),
                    }
                }
            }
        }
        if config.nodes.is_empty() {
            return Err(bad("no node address"));
        }
        config.backoff_max = config.backoff_max.max(config.backoff);
        tls.apply(&mut config).map_err(|why| bad(&why))?;
        Ok(config)
    }

    /// Adds a node address unless listed already.
    pub fn add_node(&mut self, address: &str) {
        if !self.nodes.iter().any(|n| n == address) {
            self.nodes.push(address.to_owned());
        }
    }

    /// Checks that there is something to connect to.
    pub fn validate(&self) -> Result<()> {
        if self.nodes.is_empty() {
            return Err(Error::InvalidConfig("no node address given".into()));
        }
        if self.database.is_empty() {
            return Err(Error::InvalidConfig("empty database name".into()));
        }
        Ok(())
    }
}

/// The `tls_*` keys of a URL.
#[derive(Default)]
struct TlsKeys {
    cert: Option<String>,
    key: Option<String>,
    ca: Option<String>,
    server_name: Option<String>,
}

impl TlsKeys {
    #[cfg(feature = "tls")]
    fn apply(self, config: &mut Config) -> std::result::Result<(), String> {
        use crate::tls::ClientTls;
        let (cert, key) = match (self.cert, self.key) {
            (None, None) if self.ca.is_none() && self.server_name.is_none() => return Ok(()),
            (Some(cert), Some(key)) => (cert, key),
            _ => return Err("TLS needs both tls_cert and tls_key".into()),
        };
        let ca = self.ca.as_deref().map(std::path::Path::new);
        let mut tls = ClientTls::from_files(cert, key, ca).map_err(|e| e.to_string())?;
        if let Some(name) = self.server_name {
            tls = tls.with_server_name(&name).map_err(|e| e.to_string())?;
        }
        config.tls = Some(tls);
        Ok(())
    }

    #[cfg(not(feature = "tls"))]
    fn apply(self, _: &mut Config) -> std::result::Result<(), String> {
        if self.cert.is_some()
            || self.key.is_some()
            || self.ca.is_some()
            || self.server_name.is_some()
        {
            return Err("the tls_* keys need the feature `tls`".into());
        }
        Ok(())
    }
}

/// Parses `100ms`, `2s`, `1m` (the form the drivers' URLs use).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => n.checked_mul(60).map(Duration::from_secs),
        _ => None,
    }
}

/// Decodes `%XX` escapes; `None` for a bad escape or bytes that are not
/// UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("3s"), Some(Duration::from_secs(3)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        for bad in ["", "5", "s", "1h", "-1s", "1.5s"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn unix_socket_nodes() {
        let config = Config::from_url(
            "dqlite://@node1,10.0.0.1:9001/app?node=unix:/run/dqlite/node2.sock&node=unix:%2Frun%2Fx.sock",
        )
        .unwrap();
        assert_eq!(
            config.nodes,
            [
                "@node1",
                "10.0.0.1:9001",
                "unix:/run/dqlite/node2.sock",
                "unix:/run/x.sock"
            ]
        );
        assert_eq!(config.database, "app");
        let only_file = Config::from_url("dqlite:///app?node=unix:/run/dqlite/node1.sock").unwrap();
        assert_eq!(only_file.nodes, ["unix:/run/dqlite/node1.sock"]);
    }

    #[test]
    fn urls() {
        let mut driver = Vec::new();
        let config = Config::from_url_with(
            "dqlite://a:1,b:2,a:1/my%20db?connect_timeout=5s&dial_timeout=1s&request_timeout=0s\
             &backoff=50ms&backoff_max=2s&node=c%3A3&node=b:2&cache=3&statement_cache_capacity=4&extra=x",
            |key, value| {
                driver.push((key.to_owned(), value.to_owned()));
                Ok(key != "extra" || value == "x")
            },
        )
        .unwrap();
        assert_eq!(config.nodes, ["a:1", "b:2", "c:3"]);
        assert_eq!(config.database, "my db");
        assert_eq!(config.connect_timeout, Duration::from_secs(5));
        assert_eq!(config.dial_timeout, Duration::from_secs(1));
        assert_eq!(config.request_timeout, None);
        assert_eq!(config.backoff, Duration::from_millis(50));
        assert_eq!(config.backoff_max, Duration::from_secs(2));
        let keys: Vec<(&str, &str)> = driver.iter().map(|(k, v)| (&**k, &**v)).collect();
        assert_eq!(
            keys,
            [
                ("statement_cache_capacity", "3"),
                ("statement_cache_capacity", "4"),
                ("extra", "x")
            ]
        );
        let defaults = Config::from_url("dqlite://a:1/app").unwrap();
        assert_eq!(defaults.request_timeout, Some(DEFAULT_REQUEST_TIMEOUT));
        assert_eq!(defaults.backoff_max, DEFAULT_BACKOFF_MAX);
        for bad in [
            "sqlite://a:1/app",
            "dqlite://a:1",
            "dqlite://a:1/",
            "dqlite:///app",
            "dqlite://a:1/app?x=1",
            "dqlite://a:1/app?cache=1",
            "dqlite://a:1/app?dial_timeout=5",
            "dqlite://a:1/app?connect_timeout",
            "dqlite://a:1/app?tls=true",
            "dqlite://a:1/app?tls_cert=/nonexistent/c.crt",
            "dqlite://a:1/app?tls_key=/nonexistent/c.key",
            "dqlite://a:1/app?tls_cert=/nonexistent/c.crt&tls_key=/nonexistent/c.key",
            "dqlite://a:1/a%zzb",
            "dqlite://a:1/a%ff",
        ] {
            assert!(Config::from_url(bad).is_err(), "{bad}");
        }
        let refused = Config::from_url_with("dqlite://a:1/app?cache=x", |_, _| Err("no".into()));
        assert!(refused.is_err());
    }

    #[test]
    fn validation() {
        assert!(Config::new("app").validate().is_err());
        let mut config = Config::new("");
        config.nodes.push("127.0.0.1:1".into());
        assert!(config.validate().is_err());
        config.database = "app".into();
        assert!(config.validate().is_ok());
    }
}
