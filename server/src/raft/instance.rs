//! The node's Raft instance type: our types ([`super::typ`]) over our state
//! machine. Apart from both, so that neither imports the other.

use super::state_machine::StateMachine;
use super::typ::TypeConfig;

/// The node's Raft instance.
pub(crate) type Raft = openraft::Raft<TypeConfig, StateMachine>;
