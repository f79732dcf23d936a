//! Outbound node-to-node RPCs.
//!
//! A single-voter node never sends any: openraft only dials peers that are
//! in the membership. Until the node-to-node transport exists (multi-node
//! clusters, project issue 4), every RPC to a peer reports the peer as
//! unreachable with that explanation, which openraft handles as a network
//! failure (retry with backoff) rather than a crash.

use std::future::Future;

use openraft::error::{RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, v2::RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::{BasicNode, OptionalSend};

use super::state_machine::{Snapshot, SnapshotData};
use super::typ::{TypeConfig, Vote};

const NO_TRANSPORT: &str =
    "no node-to-node transport in this build: only single-voter clusters are supported";

/// Creates [`Peer`] clients.
#[derive(Debug, Clone, Default)]
pub struct Network;

/// A client for one peer.
#[derive(Debug, Clone)]
pub struct Peer {
    target: u64,
}

impl Peer {
    fn unreachable(&self) -> Unreachable<TypeConfig> {
        let error = std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            format!("node {}: {NO_TRANSPORT}", self.target),
        );
        Unreachable::new(&error)
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: u64, _node: &BasicNode) -> Self::Network {
        Peer { target }
    }
}

impl RaftNetworkV2<TypeConfig> for Peer {
    type SnapshotData = SnapshotData;

    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        Err(RPCError::Unreachable(self.unreachable()))
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        Err(RPCError::Unreachable(self.unreachable()))
    }

    async fn full_snapshot(
        &mut self,
        _vote: Vote,
        _snapshot: Snapshot,
        _cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        Err(StreamingError::Unreachable(self.unreachable()))
    }
}
