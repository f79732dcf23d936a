//! Joining a cluster by address, as go-dqlite's `app` package does for a
//! new node: ask any member for the leader, ADD this node there, then ask
//! for the role the cluster lacks most. Everything goes through the dqlite
//! client protocol, so the members may be C nodes as well as ours.

use std::time::Duration;

use crate::transport::Stream;
use bytes::BytesMut;
use dqlite_protocol::request::{Add, Assign, Cluster, Leader, Request};
use dqlite_protocol::response::{Response, ResponseContext};
use dqlite_protocol::{FrameLimits, ProtocolVersion, Role, codes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::handle::Node;
use crate::error::{Error, Result};

/// What a leader answers ASSIGN with when the node has that role already
/// (dqlite's `RAFT_BADROLE` message, which ours repeats).
const ROLE_UNCHANGED: &str = "server role is not valid";

/// How long one exchange with a member may take.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(5);

/// A client connection to a member.
pub(super) struct Client {
    stream: Stream,
    /// Bytes read and not yet framed.
    buf: BytesMut,
}

impl Client {
    pub(super) async fn connect(node: &Node, address: &str) -> std::io::Result<Self> {
        let mut stream = node.dialer().dial(address).await?;
        stream.write_all(&ProtocolVersion::V1.to_bytes()).await?;
        Ok(Self {
            stream,
            buf: BytesMut::new(),
        })
    }

    pub(super) async fn call(&mut self, request: impl Into<Request>) -> std::io::Result<Response> {
        let request = request.into();
        let invalid = |e: &dyn std::fmt::Display| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
        };
        let mut out = BytesMut::new();
        request.encode(&mut out).map_err(|e| invalid(&e))?;
        self.stream.write_all(&out).await?;
        // The protocol crate checks the header (an oversized answer is
        // refused before anything is allocated for it) and frames the body.
        let limits = FrameLimits::default();
        let frame = loop {
            if let Some(frame) = limits.split_frame(&mut self.buf).map_err(|e| invalid(&e))? {
                break frame;
            }
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        };
        Response::decode_frame(&frame, &ResponseContext::default()).map_err(|e| invalid(&e))
    }
}

/// Failures that a later round may not meet: the leader changed, or
/// another configuration change (another node joining) was under way.
fn retryable(code: u64) -> bool {
    matches!(
        code,
        codes::NOT_LEADER | codes::LEADERSHIP_LOST | codes::SQLITE_BUSY
    )
}

/// How one round of [`Node::join`] through one peer ended.
enum Round {
    Joined,
    /// No leader known there, or it changed meanwhile: try again later,
    /// also through these voters the peer knows of.
    Retry(Vec<String>),
}

/// One round of [`Node::join`] through `peer`.
async fn join_once(node: &Node, peer: &str) -> Result<Round> {
    let exchange = async {
        let mut client = Client::connect(node, peer).await?;
        let Response::Server(leader) = client.call(Leader).await? else {
            return Ok(Round::Retry(Vec::new()));
        };
        if leader.address.is_empty() {
            // A stand-by or spare does not name the leader; it knows the
            // voters, though.
            let voters = match client.call(Cluster { format: 1 }).await? {
                Response::Servers(servers) => servers
                    .nodes
                    .into_iter()
                    .filter(|n| n.role == Some(Role::Voter))
                    .map(|n| n.address)
                    .collect(),
                _ => Vec::new(),
            };
            return Ok(Round::Retry(voters));
        }
        let mut leader = Client::connect(node, &leader.address).await?;
        let added = leader
            .call(Add {
                id: node.id(),
                address: node.address().to_owned(),
            })
            .await?;
        match added {
            Response::Empty(_) => {}
            // A restart of a node that joined before.
            Response::Failure(f) if f.message == "server ID already in use" => {}
            // Not leader any more, or another node joining right now.
            Response::Failure(f) if retryable(f.code) => return Ok(Round::Retry(Vec::new())),
            Response::Failure(f) => return Err(Error::Refused(f.message)),
            other => return Err(Error::Refused(format!("unexpected answer {other:?}"))),
        }
        let Response::Servers(servers) = leader.call(Cluster { format: 1 }).await? else {
            return Ok(Round::Retry(Vec::new()));
        };
        let count = |role| {
            servers
                .nodes
                .iter()
                .filter(|n| n.id != node.id() && n.role == Some(role))
                .count()
        };
        let mine = servers
            .nodes
            .iter()
            .find(|n| n.id == node.id())
            .and_then(|n| n.role);
        let targets = node.targets();
        let wanted = if count(Role::Voter) < targets.voters {
            Role::Voter
        } else if count(Role::StandBy) < targets.standbys {
            Role::StandBy
        } else {
            Role::Spare
        };
        if mine == Some(wanted) || mine == Some(Role::Voter) {
            return Ok(Round::Joined);
        }
        match leader
            .call(Assign {
                id: node.id(),
                role: Some(wanted.code()),
            })
            .await?
        {
            Response::Empty(_) => Ok(Round::Joined),
            Response::Failure(f) if retryable(f.code) => Ok(Round::Retry(Vec::new())),
            // The role asked for is always a valid one, so this answer
            // means the node has it already: a leader that manages roles
            // gave it between CLUSTER and ASSIGN. The next round sees the
            // role and ends.
            Response::Failure(f) if f.message == ROLE_UNCHANGED => Ok(Round::Retry(Vec::new())),
            Response::Failure(f) => Err(Error::Refused(f.message)),
            other => Err(Error::Refused(format!("unexpected answer {other:?}"))),
        }
    };
    match tokio::time::timeout(EXCHANGE_TIMEOUT, exchange).await {
        Ok(result) => result,
        Err(_) => Ok(Round::Retry(Vec::new())),
    }
}

impl Node {
    /// Makes this node a member of the cluster `peers` belong to: finds
    /// the leader through them, ADDs this node (a node that already is a
    /// member goes on), then takes the role the cluster lacks most: voter
    /// while it has fewer than [`WANTED_VOTERS`](crate::WANTED_VOTERS), else
    /// stand-by while it has fewer than
    /// [`WANTED_STANDBYS`](crate::WANTED_STANDBYS), else it stays a spare. Peers
    /// (and the voters they name) are tried in turn, again and again, for
    /// up to `timeout`; a refusal (say, the address is taken) ends at once.
    ///
    /// Joining is for a node that belongs to no cluster yet. A node whose
    /// log or snapshot already holds a configuration (a restart of a
    /// member) does not join again, whatever `peers` says: it logs that
    /// they were ignored and returns at once, so that a member restarted
    /// with its original `--join` starts even while the node it named is
    /// down.
    pub async fn join(&self, peers: &[String], timeout: Duration) -> Result<()> {
        if !self.members().is_empty() {
            tracing::info!(
                peers = %peers.join(","),
                role = ?self.role(),
                "this node already belongs to a cluster: the peers to join are ignored"
            );
            return Ok(());
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let mut pause = Duration::from_millis(100);
        let mut last = String::from("no peer given");
        let mut candidates: Vec<String> = peers.to_vec();
        loop {
            let mut i = 0;
            while let Some(peer) = candidates.get(i).cloned() {
                i += 1;
                match join_once(self, &peer).await {
                    Ok(Round::Joined) => {
                        tracing::info!(%peer, "joined the cluster");
                        return Ok(());
                    }
                    Ok(Round::Retry(voters)) => {
                        last = format!("{peer}: no leader yet");
                        for voter in voters {
                            if !candidates.contains(&voter) && voter != self.address() {
                                candidates.push(voter);
                            }
                        }
                    }
                    Err(Error::Storage(e)) => last = format!("{peer}: {e}"),
                    Err(e) => return Err(e),
                }
            }
            if tokio::time::Instant::now() + pause > deadline {
                return Err(Error::Refused(format!(
                    "could not join the cluster: {last}"
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }
}
