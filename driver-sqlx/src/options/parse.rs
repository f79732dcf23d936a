//! The URL form of [`DqliteConnectOptions`].

use std::str::FromStr;

use dqlite_client::parse_duration;
use sqlx_core::error::Error;
use sqlx_core::percent_encoding::percent_decode_str;

use super::DqliteConnectOptions;

fn bad(url: &str, why: impl std::fmt::Display) -> Error {
    Error::Configuration(format!("{why} in {url:?}").into())
}

impl FromStr for DqliteConnectOptions {
    type Err = Error;

    /// Parses `dqlite://host:port[,host:port…]/database[?key=value&…]`.
    fn from_str(url: &str) -> Result<Self, Error> {
        let rest = url
            .strip_prefix("dqlite://")
            .ok_or_else(|| bad(url, "the URL must start with dqlite://"))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (hosts, database) = path
            .split_once('/')
            .ok_or_else(|| bad(url, "no /database"))?;
        let database = percent_decode_str(database)
            .decode_utf8()
            .map_err(|e| bad(url, e))?;
        if database.is_empty() {
            return Err(bad(url, "empty database name"));
        }
        let mut options = Self::new()
            .database(database.into_owned())
            .nodes(hosts.split(',').filter(|h| !h.is_empty()));
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| bad(url, "a parameter without ="))?;
            let value = percent_decode_str(value)
                .decode_utf8()
                .map_err(|e| bad(url, e))?;
            let duration = || parse_duration(&value).ok_or_else(|| bad(url, key));
            options = match key {
                "node" => options.node(value.into_owned()),
                "connect_timeout" => options.connect_timeout(duration()?),
                "dial_timeout" => options.dial_timeout(duration()?),
                "request_timeout" => {
                    let d = duration()?;
                    options.request_timeout((!d.is_zero()).then_some(d))
                }
                "backoff" => {
                    let max = options.client.backoff_max;
                    options.backoff(duration()?, max)
                }
                "backoff_max" => {
                    options.client.backoff_max = duration()?;
                    options
                }
                "statement_cache_capacity" => {
                    options.statement_cache_capacity(value.parse().map_err(|_| bad(url, key))?)
                }
                "migration_lock_timeout" => options.migration_lock_timeout(duration()?),
                "tls" | "sslmode" | "ssl-mode" => {
                    return Err(bad(url, "TLS is not supported yet"));
                }
                other => return Err(bad(url, format!("unknown parameter {other:?}"))),
            };
        }
        if options.client.nodes.is_empty() {
            return Err(bad(url, "no node address"));
        }
        Ok(options)
    }
}

/// The URL for `options`: the first node as host, the others as `node=`.
pub(super) fn to_url(options: &DqliteConnectOptions) -> String {
    let client = &options.client;
    let mut nodes = client.nodes.iter();
    let mut url = format!(
        "dqlite://{}/{}?connect_timeout={}ms&dial_timeout={}ms&request_timeout={}ms&backoff={}ms&backoff_max={}ms&statement_cache_capacity={}&migration_lock_timeout={}ms",
        nodes.next().map_or("", String::as_str),
        client.database,
        client.connect_timeout.as_millis(),
        client.dial_timeout.as_millis(),
        client.request_timeout.map_or(0, |d| d.as_millis()),
        client.backoff.as_millis(),
        client.backoff_max.as_millis(),
        options.statement_cache_capacity,
        options.migration_lock_timeout.as_millis(),
    );
    for node in nodes {
        url.push_str("&node=");
        url.push_str(node);
    }
    url
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sqlx_core::connection::ConnectOptions;

    use super::*;

    #[test]
    fn urls_with_a_node_list_and_parameters() {
        let o: DqliteConnectOptions = "dqlite://a:1,b:2/app?connect_timeout=5s&request_timeout=0s&backoff=50ms&backoff_max=2s&statement_cache_capacity=3&node=c:3&migration_lock_timeout=1m"
            .parse()
            .unwrap();
        assert_eq!(o.get_nodes(), ["a:1", "b:2", "c:3"]);
        assert_eq!(o.get_database(), "app");
        assert_eq!(o.client.connect_timeout, Duration::from_secs(5));
        assert_eq!(o.client.request_timeout, None);
        assert_eq!(o.client.backoff, Duration::from_millis(50));
        assert_eq!(o.client.backoff_max, Duration::from_secs(2));
        assert_eq!(o.statement_cache_capacity, 3);
        assert_eq!(o.migration_lock_timeout, Duration::from_secs(60));
    }

    #[test]
    fn bad_urls_are_refused() {
        for bad in [
            "sqlite://a:1/app",
            "dqlite://a:1",
            "dqlite://a:1/",
            "dqlite:///app",
            "dqlite://a:1/app?x=1",
            "dqlite://a:1/app?dial_timeout=5",
            "dqlite://a:1/app?tls=true",
            "dqlite://a:1/app?statement_cache_capacity=-1",
        ] {
            assert!(bad.parse::<DqliteConnectOptions>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_url_round_trips_through_the_url_crate() {
        let o: DqliteConnectOptions =
            "dqlite://127.0.0.1:9001,127.0.0.1:9002/my%20db?request_timeout=7s"
                .parse()
                .unwrap();
        assert_eq!(o.get_database(), "my db");
        let url = o.to_url_lossy();
        let back = DqliteConnectOptions::from_url(&url).unwrap();
        assert_eq!(back.get_nodes(), o.get_nodes());
        assert_eq!(back.client, o.client);
    }
}
