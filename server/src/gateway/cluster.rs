//! [`Cluster`]: what the request handlers ask of the node they serve.
//!
//! The handlers ([`Gateway`](super::Gateway)) and the connection loop
//! (`net`) see a node only through this trait, which `node/handle.rs`
//! implements for [`Node`](crate::Node): the node wires them in and they
//! do not import it back.

use dqlite_protocol::Role;

use crate::error::Result;
use crate::member::{Member, Metadata};
use crate::metrics::Metrics;
use crate::session::Session;

/// The node as dqlite's requests see it: leadership, membership, metadata,
/// databases. Clones are handles to the same node.
pub(crate) trait Cluster: Clone + 'static {
    /// This node's id.
    fn id(&self) -> u64;
    /// This node's metrics (requests, connections, statements).
    fn metrics(&self) -> &std::sync::Arc<Metrics>;
    /// Whether this node leads now, as far as it knows.
    fn is_leader(&self) -> bool;
    /// The leader once no election is under way as far as this node knows
    /// (waiting up to one election timeout for one to end).
    async fn settled_leader(&self) -> Option<u64>;
    /// The leader's id and address as this node knows them.
    fn leader(&self) -> Option<(u64, String)>;
    /// The leader as LEADER names it (only voters name one).
    fn reported_leader(&self) -> Option<(u64, String)>;
    /// The members of the configuration, in the order they were added.
    fn members(&self) -> Vec<Member>;
    /// This node's DESCRIBE metadata.
    fn metadata(&self) -> Metadata;
    /// Sets this node's weight (WEIGHT).
    fn set_weight(&self, weight: u64);
    /// Whether database `db` exists on this node.
    fn has_database(&self, db: &str) -> bool;
    /// Opens a session on database `db` (OPEN).
    async fn session(&self, db: &str) -> Result<Session>;
    /// Adds node `id` at `address` as a spare (ADD).
    async fn add_node(&self, id: u64, address: &str) -> Result<()>;
    /// Gives node `id` the role `role` (ASSIGN).
    async fn assign(&self, id: u64, role: Role) -> Result<()>;
    /// Removes node `id` (REMOVE).
    async fn remove_node(&self, id: u64) -> Result<()>;
    /// Hands leadership to node `id`, or to the best voter (TRANSFER).
    async fn transfer(&self, id: u64) -> Result<()>;
}
