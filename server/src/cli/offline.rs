//! The `describe` and `recover` subcommands of `dqlite-server`: offline
//! operations on a stopped node's data directory (see
//! `dqlite_server::offline`), the counterparts of dqlite's
//! `dqlite_node_describe_last_entry` and `dqlite_node_recover_ext`.

use std::path::PathBuf;

use anyhow::Context;
use dqlite_protocol::Role;
use dqlite_server::offline::{self, RecoverMember};

/// Operations on a stopped node's data directory.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Prints what a stopped node's data directory holds: the index and
    /// term of its last log entry, its identity, and the cluster
    /// configuration it would start with.
    ///
    /// To recover a cluster that lost its quorum, run it on every
    /// survivor and pick the one with the greatest term, then the
    /// greatest index, for `dqlite-server recover`. Indexes count from 0
    /// (the first configuration is entry 0). Nothing in the directory
    /// changes; a directory whose node runs (it holds DIR/dqlite-lock) is
    /// refused.
    ///
    /// Output, one `key: value` per line: `index`, `term`, `id` and
    /// `address` (from the identity file), `configuration-index`, and
    /// one `member: ID ADDRESS ROLE` line per member.
    Describe {
        /// The node's data directory.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
    /// Forces the cluster configuration of a stopped node's data
    /// directory, for a cluster that lost its quorum (dqlite's
    /// `dqlite_node_recover_ext`).
    ///
    /// Appends one configuration entry, in a term above every term the
    /// log has seen, to the log in --dir; the node starts with it. The
    /// procedure: stop every node; run `dqlite-server describe` on each
    /// survivor and pick the one with the greatest (term, index); run
    /// `recover` on its directory with the new members; copy that
    /// directory to every other member of the new configuration and
    /// write each copy's `node` file (its id and address, one per line);
    /// start them all. Entries the other nodes held beyond the survivor's
    /// log are lost. If this directory's node is given another address,
    /// its `node` file takes the new one. Refused while the directory's
    /// node runs (it holds DIR/dqlite-lock).
    Recover {
        /// The data directory of the survivor.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// A member of the new configuration: its id, its address and its
        /// role (voter, stand-by or spare; default voter), separated by
        /// commas. Give the flag once per member; at least one voter.
        #[arg(
            long = "member",
            required = true,
            value_name = "ID,ADDRESS[,ROLE]",
            value_parser = parse_member
        )]
        members: Vec<RecoverMember>,
    },
}

/// Runs `command`, printing its result on stdout.
pub fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Describe { dir } => {
            let described = offline::describe(&dir)
                .with_context(|| format!("cannot describe {}", dir.display()))?;
            let (index, term) = described.last_entry;
            println!("index: {index}");
            println!("term: {term}");
            match &described.identity {
                Some((id, address)) => {
                    println!("id: {id}");
                    println!("address: {address}");
                }
                None => println!("id: none (no identity file)"),
            }
            match &described.configuration {
                Some((index, members)) => {
                    println!("configuration-index: {index}");
                    for m in members {
                        println!("member: {} {} {}", m.id, m.address, role_name(m.role));
                    }
                }
                None => println!("configuration-index: none (the node belongs to no cluster)"),
            }
        }
        Command::Recover { dir, members } => {
            offline::recover(&dir, &members)
                .with_context(|| format!("cannot recover {}", dir.display()))?;
            let (index, term) = offline::last_entry(&dir)
                .with_context(|| format!("cannot read back {}", dir.display()))?;
            println!(
                "recovered {}: configuration of {} members forced at index {index}, term {term}",
                dir.display(),
                members.len()
            );
        }
    }
    Ok(())
}

/// `ID,ADDRESS[,ROLE]` as a member.
fn parse_member(text: &str) -> Result<RecoverMember, String> {
    let mut parts = text.split(',');
    let (Some(id), Some(address)) = (parts.next(), parts.next()) else {
        return Err("expected ID,ADDRESS[,ROLE], e.g. 1,10.0.0.5:9001,voter".into());
    };
    let id: u64 = id
        .trim()
        .parse()
        .map_err(|_| format!("{id:?} is not a node id"))?;
    let address = address.trim();
    if address.is_empty() {
        return Err("the address is empty".into());
    }
    let role = match parts.next().map(str::trim) {
        None | Some("voter") => Role::Voter,
        Some("stand-by" | "standby") => Role::StandBy,
        Some("spare") => Role::Spare,
        Some(other) => {
            return Err(format!(
                "{other:?} is not a role (voter, stand-by or spare)"
            ));
        }
    };
    if parts.next().is_some() {
        return Err("expected ID,ADDRESS[,ROLE]: too many commas".into());
    }
    Ok(RecoverMember {
        id,
        address: address.to_owned(),
        role,
    })
}

/// The role as `describe` prints it (as `--member` takes it).
fn role_name(role: Role) -> &'static str {
    match role {
        Role::Voter => "voter",
        Role::StandBy => "stand-by",
        Role::Spare => "spare",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_parse_with_a_default_role() {
        let m = parse_member("2,10.0.0.5:9001").unwrap();
        assert_eq!(
            (m.id, m.address.as_str(), m.role),
            (2, "10.0.0.5:9001", Role::Voter)
        );
        assert_eq!(parse_member("3,h:1,stand-by").unwrap().role, Role::StandBy);
        assert_eq!(parse_member("3,h:1,spare").unwrap().role, Role::Spare);
        assert!(parse_member("x,h:1").is_err());
        assert!(parse_member("1").is_err());
        assert!(parse_member("1,h:1,boss").is_err());
        assert!(parse_member("1,h:1,voter,extra").is_err());
    }
}
