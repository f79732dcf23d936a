//! The URL form of [`DqliteConnectOptions`].

use std::str::FromStr;

use dqlite_client::parse_duration;
use sqlx_core::error::Error;

use super::{
    DEFAULT_MIGRATION_LOCK_TIMEOUT, DEFAULT_STATEMENT_CACHE_CAPACITY, DqliteConnectOptions,
};

impl FromStr for DqliteConnectOptions {
    type Err = Error;

    /// Parses `dqlite://host:port[,host:port…]/database[?key=value&…]`
    /// with `dqlite_client::Config::from_url_with` (the keys both drivers
    /// share) plus this driver's `migration_lock_timeout`.
    fn from_str(url: &str) -> Result<Self, Error> {
        let mut statement_cache_capacity = DEFAULT_STATEMENT_CACHE_CAPACITY;
        let mut migration_lock_timeout = DEFAULT_MIGRATION_LOCK_TIMEOUT;
        let client = dqlite_client::Config::from_url_with(url, |key, value| match key {
            "statement_cache_capacity" => {
                statement_cache_capacity = value.parse().map_err(|_| "not a count".to_owned())?;
                Ok(true)
            }
            "migration_lock_timeout" => {
                migration_lock_timeout =
                    parse_duration(value).ok_or_else(|| "not a duration".to_owned())?;
                Ok(true)
            }
            _ => Ok(false),
        })
        .map_err(|e| Error::Configuration(e.to_string().into()))?;
        Ok(Self {
            client,
            statement_cache_capacity,
            migration_lock_timeout,
            ..Self::new()
        })
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
        // dqlite-rusqlite's spelling of the cache size works here too.
        let o: DqliteConnectOptions = "dqlite://a:1/app?cache=7".parse().unwrap();
        assert_eq!(o.statement_cache_capacity, 7);
    }

    #[test]
    fn bad_urls_are_refused() {
        // The client's parser refuses the rest (tested there).
        for bad in [
            "dqlite://a:1/app?x=1",
            "dqlite://a:1/app?tls=true",
            "dqlite://a:1/app?statement_cache_capacity=-1",
            "dqlite://a:1/app?migration_lock_timeout=soon",
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
