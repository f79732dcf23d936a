//! What a node reports about the cluster and about itself: the members of
//! the configuration ([`Member`], as CLUSTER lists them), DESCRIBE's
//! [`Metadata`], and how many voters and stand-bys it aims for
//! ([`RoleTargets`]). A leaf: the node fills them in, the request handlers
//! answer with them.

use dqlite_protocol::Role;

/// Node-local metadata reported by DESCRIBE (kept in memory, as dqlite does).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Metadata {
    /// Failure domain.
    pub failure_domain: u64,
    /// Weight, set by WEIGHT.
    pub weight: u64,
}

/// A member of the cluster configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Node id.
    pub id: u64,
    /// Node address.
    pub address: String,
    /// Its dqlite role.
    pub role: Role,
}

impl Member {
    /// Whether it votes.
    pub fn is_voter(&self) -> bool {
        self.role == Role::Voter
    }
}

/// Voters a cluster grows to before new nodes become stand-bys (dqlite's
/// default).
pub const WANTED_VOTERS: usize = 3;
/// Stand-bys a cluster grows to before new nodes stay spares.
pub const WANTED_STANDBYS: usize = 3;

/// How many voters and stand-bys a cluster aims for: what joining nodes
/// and the role manager
/// ([`NodeBuilder::manage_roles`](crate::NodeBuilder::manage_roles)) fill
/// up to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleTargets {
    /// Voters wanted.
    pub voters: usize,
    /// Stand-bys wanted.
    pub standbys: usize,
}

impl Default for RoleTargets {
    fn default() -> Self {
        RoleTargets {
            voters: WANTED_VOTERS,
            standbys: WANTED_STANDBYS,
        }
    }
}
