//! Connecting: finding the leader as go-dqlite does, opening the database
//! with CLIENT, OPEN and CLUSTER in one write (or not, for DUMP), and
//! dropping a connection that failed.

use std::time::Instant;

use dqlite_protocol::Role;
use dqlite_protocol::request::{Client, Cluster, Open, Request};
use dqlite_protocol::response::Response;

use super::Session;
use crate::wire::{Wire, decode, unexpected};
use crate::{Error, Result};

/// What [`Session::reach_leader`] does with the leader's connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Then {
    /// CLIENT, OPEN and CLUSTER; the session keeps it.
    Open,
    /// Nothing: it is returned as it is.
    Keep,
}

impl Session {
    /// Connects to the leader unless connected.
    pub async fn connect(&mut self) -> Result<()> {
        if self.wire.is_some() {
            return Ok(());
        }
        self.reach_leader(Then::Open).await.map(drop)
    }

    /// A connection to the leader that has not opened the database, for
    /// the requests that name their database themselves (DUMP): opening
    /// would create a database that does not exist.
    pub(super) async fn bare_leader(&mut self) -> Result<Wire> {
        self.reach_leader(Then::Keep)
            .await?
            .ok_or_else(|| Error::Protocol("no connection to the leader".into()))
    }

    /// Finds the leader as go-dqlite does, in rounds with a doubling
    /// pause until [`Config::connect_timeout`](crate::Config::connect_timeout);
    /// then does `then` with the connection (`Some` for [`Then::Keep`]).
    async fn reach_leader(&mut self, then: Then) -> Result<Option<Wire>> {
        let started = Instant::now();
        let deadline = started + self.config.connect_timeout;
        let mut pause = self.config.backoff;
        let mut last_error = String::from("no node was tried");
        loop {
            let mut candidates: Vec<String> = self.leader.iter().cloned().collect();
            for node in &self.nodes {
                if !candidates.contains(node) {
                    candidates.push(node.clone());
                }
            }
            for address in candidates {
                let remaining = deadline.saturating_duration_since(Instant::now());
                if remaining.is_zero() {
                    break;
                }
                match tokio::time::timeout(remaining, self.try_node(&address)).await {
                    Ok(Ok(Some(wire))) if then == Then::Keep => {
                        self.leader = Some(wire.address().to_owned());
                        return Ok(Some(wire));
                    }
                    Ok(Ok(Some(wire))) => {
                        match tokio::time::timeout(remaining, self.open_on(wire)).await {
                            Ok(Ok(())) => return Ok(None),
                            Ok(Err(e)) => {
                                last_error = format!("opening the database on {address}: {e}")
                            }
                            Err(_) => {
                                last_error = format!("opening the database on {address}: timed out")
                            }
                        }
                    }
                    Ok(Ok(None)) => last_error = format!("{address} knows no leader"),
                    Ok(Err(e)) => last_error = format!("{address}: {e}"),
                    Err(_) => last_error = format!("{address}: timed out"),
                }
                tracing::debug!(%address, error = %last_error, "leader probe failed");
            }
            if Instant::now() + pause >= deadline {
                return Err(Error::NoLeader {
                    timeout: self.config.connect_timeout,
                    last_error,
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(self.config.backoff_max);
        }
    }

    /// Asks `address` for the leader; returns a connection to the leader
    /// if `address` is it, or if the node it names confirms.
    pub(super) async fn try_node(&self, address: &str) -> Result<Option<Wire>, String> {
        let mut wire = Wire::connect(address, &self.config)
            .await
            .map_err(|e| e.to_string())?;
        let named = wire.leader().await.map_err(|e| e.to_string())?;
        if named.address.is_empty() {
            return Ok(None);
        }
        if named.address == address {
            return Ok(Some(wire));
        }
        drop(wire);
        let leader = named.address;
        let confirm = async {
            let mut wire = Wire::connect(&leader, &self.config).await?;
            let confirmed = wire.leader().await?;
            Ok::<_, Error>((confirmed.address == leader).then_some(wire))
        };
        confirm
            .await
            .map_err(|e| format!("it names {leader} as the leader: {e}"))
    }

    /// CLIENT, OPEN and CLUSTER in one write; keeps the connection.
    pub(super) async fn open_on(&mut self, mut wire: Wire) -> Result<()> {
        wire.push(&Request::from(Client { id: 0 }))?;
        wire.push(&Request::from(Open {
            name: self.config.database.clone(),
            flags: 0,
            vfs: "volatile".into(),
        }))?;
        wire.push(&Request::from(Cluster {
            format: Cluster::FORMAT_WITH_ROLES,
        }))?;
        wire.flush().await?;
        match decode(&wire.read().await?)? {
            Response::Welcome(_) => {}
            Response::Failure(f) => return Err(Error::failure(f.code, f.message)),
            other => return Err(unexpected("WELCOME", &other)),
        }
        match decode(&wire.read().await?)? {
            Response::Db(_) => {}
            Response::Failure(f) => return Err(Error::failure(f.code, f.message)),
            other => return Err(unexpected("DB", &other)),
        }
        match decode(&wire.read().await?)? {
            Response::Servers(servers) => {
                let mut nodes: Vec<(u8, String)> = servers
                    .nodes
                    .into_iter()
                    .map(|n| {
                        let rank = match n.role {
                            Some(Role::Voter) | None => 0,
                            Some(Role::StandBy) => 1,
                            Some(Role::Spare) => 2,
                        };
                        (rank, n.address)
                    })
                    .collect();
                nodes.sort_by_key(|(rank, _)| *rank);
                let mut list: Vec<String> = nodes.into_iter().map(|(_, a)| a).collect();
                for seed in &self.config.nodes {
                    if !list.contains(seed) {
                        list.push(seed.clone());
                    }
                }
                self.nodes = list;
            }
            Response::Failure(f) => {
                tracing::debug!(code = f.code, message = %f.message, "CLUSTER refused; keeping the node list");
            }
            other => return Err(unexpected("SERVERS", &other)),
        }
        tracing::debug!(leader = %wire.address(), nodes = ?self.nodes, "connected to the leader");
        self.leader = Some(wire.address().to_owned());
        self.wire = Some(wire);
        self.epoch += 1;
        Ok(())
    }

    /// Drops the connection after a failure.
    pub(super) fn disconnect(&mut self, why: &Error) {
        if self.wire.take().is_some() {
            tracing::debug!(error = %why, "connection to the leader dropped");
        }
        if let Some(ticket) = self.stream.take() {
            self.spilled
                .entry(ticket)
                .or_default()
                .push_back(Err(Error::Io(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    format!("connection lost in the middle of a result set: {why}"),
                ))));
        }
        if self.tx.active {
            self.tx.lost = true;
        }
    }
}
