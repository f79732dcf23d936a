//! The cluster's significant changes as this node sees them, one INFO
//! line each, for operators: who leads (an election won, a new leader,
//! leadership lost) and the membership once a change is in the log.
//!
//! Read from Raft's metrics, so every way a change happens (an election,
//! a TRANSFER, a change made by another node) is reported alike. Stable
//! field names: `term`, `leader`, `log_index`, `voters`, `standbys`,
//! `spares` (node ids, comma-separated).

use openraft::async_runtime::WatchReceiver;

use crate::raft::instance::Raft;

/// Who leads, as last reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Leadership {
    leader: Option<u64>,
    term: u64,
}

/// Logs each change of leader and of membership until Raft stops.
pub(crate) async fn watch(raft: Raft, me: u64) {
    let mut metrics = raft.metrics();
    let mut reported = Leadership {
        leader: None,
        term: 0,
    };
    let mut membership_index = None;
    loop {
        // Copy what is needed at once: holding the borrow can block Raft.
        let (now, membership) = {
            let m = metrics.borrow_watched();
            let now = Leadership {
                leader: m.current_leader,
                term: m.current_term,
            };
            (now, m.membership_config.clone())
        };
        // Term 0 is the transient leadership of a node bootstrapping a
        // cluster, which stands for election right after.
        if now.term > 0 && now.leader != reported.leader {
            report_leadership(reported, now, me);
            reported = now;
        }
        let index = membership.log_id().as_ref().map(|l| l.index);
        let config = membership.membership();
        // A joint configuration is a step within one change.
        if index != membership_index && config.get_joint_config().len() == 1 {
            membership_index = index;
            let voter_ids: Vec<u64> = config.voter_ids().collect();
            let mut voters = Vec::new();
            let mut standbys = Vec::new();
            let mut spares = Vec::new();
            for (id, node) in config.nodes() {
                if voter_ids.contains(id) {
                    voters.push(*id);
                } else if node.standby {
                    standbys.push(*id);
                } else {
                    spares.push(*id);
                }
            }
            tracing::info!(
                log_index = index.unwrap_or(0),
                voters = %ids(&voters),
                standbys = %ids(&standbys),
                spares = %ids(&spares),
                "cluster membership"
            );
        }
        if metrics.changed().await.is_err() {
            return;
        }
    }
}

/// Node ids as a comma-separated list (`1,2,3`; empty for none).
fn ids(ids: &[u64]) -> String {
    ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

/// One line for a change from `before` to `now` of who leads.
fn report_leadership(before: Leadership, now: Leadership, me: u64) {
    let term = now.term;
    match now.leader {
        Some(leader) if leader == me => {
            tracing::info!(term, leader, "this node leads: it won the election");
        }
        Some(leader) if before.leader == Some(me) => {
            tracing::info!(
                term,
                leader,
                "this node no longer leads: another one was elected"
            );
        }
        Some(leader) => tracing::info!(term, leader, "new leader"),
        None if before.leader == Some(me) => {
            tracing::info!(term, "this node no longer leads: an election is under way");
        }
        None => tracing::info!(term, "no leader known: an election is under way"),
    }
}
