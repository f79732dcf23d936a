//! What a [`Session`](crate::Session) needs to know: the nodes, the
//! database, and the bound on every wait. Drivers build it from their own
//! URL forms and builders; [`parse_duration`] reads the durations those URLs
//! carry.

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
/// Default [`Config::backoff_max`].
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Settings of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    fn validation() {
        assert!(Config::new("app").validate().is_err());
        let mut config = Config::new("");
        config.nodes.push("127.0.0.1:1".into());
        assert!(config.validate().is_err());
        config.database = "app".into();
        assert!(config.validate().is_ok());
    }
}
