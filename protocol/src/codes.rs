//! Codes of the protocol shared by servers and clients: message types
//! (request types §5, response types §6), failure codes (§7.10) and node
//! roles (§8.2).

/// SQLITE_ERROR: generic SQL error, and dqlite's catch-all.
pub const SQLITE_ERROR: u64 = 1;
/// SQLITE_ABORT: statement aborted (node shutting down).
pub const SQLITE_ABORT: u64 = 4;
/// SQLITE_BUSY: database locked, database already open, configuration change in progress.
pub const SQLITE_BUSY: u64 = 5;
/// SQLITE_IOERR: replication failure.
pub const SQLITE_IOERR: u64 = 10;
/// SQLITE_NOTFOUND: no database opened, no statement with the given id.
pub const SQLITE_NOTFOUND: u64 = 12;
/// SQLITE_CANTOPEN: the database cannot be opened.
pub const SQLITE_CANTOPEN: u64 = 14;
/// SQLITE_PROTOCOL: DESCRIBE with a bad format.
pub const SQLITE_PROTOCOL: u64 = 15;
/// SQLITE_AUTH: not authorized. Never sent by the C server; this
/// project's server answers it to an ADD, ASSIGN, REMOVE, TRANSFER or
/// WEIGHT from a peer whose certificate is not from the admin CA
/// (`--tls-admin-ca`).
pub const SQLITE_AUTH: u64 = 23;
/// SQLITE_RANGE: too many parameters.
pub const SQLITE_RANGE: u64 = 25;
/// SQLITE_ROW: a statement run by EXEC produced a row.
pub const SQLITE_ROW: u64 = 100;
/// SQLITE_IOERR_NOT_LEADER (`10 | 40 << 8`): this node is not the leader.
pub const NOT_LEADER: u64 = 10250;
/// SQLITE_IOERR_LEADERSHIP_LOST (`10 | 41 << 8`): leadership was lost mid-request.
pub const LEADERSHIP_LOST: u64 = 10506;
/// Legacy "not leader" code (`10 | 32 << 8`), still recognised by go-dqlite.
pub const LEGACY_NOT_LEADER: u64 = 8202;
/// Legacy "leadership lost" code (`10 | 33 << 8`), still recognised by go-dqlite.
pub const LEGACY_LEADERSHIP_LOST: u64 = 8458;
/// DQLITE_PROTO: defined by dqlite, never seen on the wire.
pub const DQLITE_PROTO: u64 = 1001;
/// DQLITE_NOTFOUND: DUMP of an unknown database (latest dqlite).
pub const DQLITE_NOTFOUND: u64 = 1002;
/// DQLITE_PARSE: malformed parameters, unknown request type or format.
pub const DQLITE_PARSE: u64 = 1005;

/// Heartbeat timeout the C server announces in WELCOME, in milliseconds.
pub const DEFAULT_HEARTBEAT_TIMEOUT_MS: u64 = 15_000;

/// Whether a failure code means "find the leader and reconnect": not
/// leader or leadership lost, current or legacy. go-dqlite's driver turns
/// these into a bad-connection error that makes `database/sql` retry.
pub fn is_leadership_error(code: u64) -> bool {
    matches!(
        code,
        NOT_LEADER | LEADERSHIP_LOST | LEGACY_NOT_LEADER | LEGACY_LEADERSHIP_LOST
    )
}

/// A node's role in the cluster, with dqlite's wire codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Replicates the log, votes, can lead (0).
    Voter,
    /// Replicates the log without voting (1).
    StandBy,
    /// Member that receives nothing (2).
    Spare,
}

impl Role {
    /// The role for a wire code, if it is one of 0, 1, 2.
    pub fn from_code(code: u64) -> Option<Self> {
        match code {
            0 => Some(Self::Voter),
            1 => Some(Self::StandBy),
            2 => Some(Self::Spare),
            _ => None,
        }
    }

    /// The wire code.
    pub fn code(self) -> u64 {
        match self {
            Self::Voter => 0,
            Self::StandBy => 1,
            Self::Spare => 2,
        }
    }
}

/// A request type code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum RequestType {
    /// 0: who is the leader?
    Leader = 0,
    /// 1: register a client.
    Client = 1,
    /// 2: heartbeat (never implemented by dqlite).
    Heartbeat = 2,
    /// 3: open a database.
    Open = 3,
    /// 4: prepare a statement.
    Prepare = 4,
    /// 5: execute a prepared statement.
    Exec = 5,
    /// 6: query with a prepared statement.
    Query = 6,
    /// 7: finalize a prepared statement.
    Finalize = 7,
    /// 8: execute SQL text.
    ExecSql = 8,
    /// 9: query with SQL text.
    QuerySql = 9,
    /// 10: interrupt a streaming query.
    Interrupt = 10,
    /// 11: node-to-node connection (internal).
    Connect = 11,
    /// 12: add a node.
    Add = 12,
    /// 13: assign a role (legacy PROMOTE shares the code).
    Assign = 13,
    /// 14: remove a node.
    Remove = 14,
    /// 15: dump a database.
    Dump = 15,
    /// 16: list the cluster.
    Cluster = 16,
    /// 17: transfer leadership.
    Transfer = 17,
    /// 18: describe this node.
    Describe = 18,
    /// 19: set this node's weight.
    Weight = 19,
}

impl RequestType {
    /// The type for a code, if the protocol defines one.
    pub fn from_code(code: u8) -> Option<Self> {
        use RequestType::*;
        Some(match code {
            0 => Leader,
            1 => Client,
            2 => Heartbeat,
            3 => Open,
            4 => Prepare,
            5 => Exec,
            6 => Query,
            7 => Finalize,
            8 => ExecSql,
            9 => QuerySql,
            10 => Interrupt,
            11 => Connect,
            12 => Add,
            13 => Assign,
            14 => Remove,
            15 => Dump,
            16 => Cluster,
            17 => Transfer,
            18 => Describe,
            19 => Weight,
            _ => return None,
        })
    }

    /// The wire code.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// A response type code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum ResponseType {
    /// 0: the request failed.
    Failure = 0,
    /// 1: a node (the leader).
    Server = 1,
    /// 2: answer to CLIENT.
    Welcome = 2,
    /// 3: the cluster's nodes.
    Servers = 3,
    /// 4: an opened database.
    Db = 4,
    /// 5: a prepared statement.
    Stmt = 5,
    /// 6: outcome of EXEC/EXEC_SQL.
    Result = 6,
    /// 7: a batch of rows.
    Rows = 7,
    /// 8: nothing to say.
    Empty = 8,
    /// 9: database files.
    Files = 9,
    /// 10: node metadata.
    Metadata = 10,
}

impl ResponseType {
    /// The type for a code, if the protocol defines one.
    pub fn from_code(code: u8) -> Option<Self> {
        use ResponseType::*;
        Some(match code {
            0 => Failure,
            1 => Server,
            2 => Welcome,
            3 => Servers,
            4 => Db,
            5 => Stmt,
            6 => Result,
            7 => Rows,
            8 => Empty,
            9 => Files,
            10 => Metadata,
            _ => return None,
        })
    }

    /// The wire code.
    pub fn code(self) -> u8 {
        self as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leadership_codes_match_their_formulas() {
        assert_eq!(NOT_LEADER, SQLITE_IOERR | (40 << 8));
        assert_eq!(LEADERSHIP_LOST, SQLITE_IOERR | (41 << 8));
        assert_eq!(LEGACY_NOT_LEADER, SQLITE_IOERR | (32 << 8));
        assert_eq!(LEGACY_LEADERSHIP_LOST, SQLITE_IOERR | (33 << 8));
        assert!(is_leadership_error(NOT_LEADER));
        assert!(!is_leadership_error(SQLITE_BUSY));
    }

    #[test]
    fn roles() {
        for role in [Role::Voter, Role::StandBy, Role::Spare] {
            assert_eq!(Role::from_code(role.code()), Some(role));
        }
        assert_eq!(Role::from_code(7), None);
    }

    #[test]
    fn request_type_codes_round_trip() {
        for code in 0..=255u8 {
            match RequestType::from_code(code) {
                Some(kind) => assert_eq!(kind.code(), code),
                None => assert!(code > 19),
            }
        }
    }

    #[test]
    fn response_type_codes_round_trip() {
        for code in 0..=255u8 {
            match ResponseType::from_code(code) {
                Some(kind) => assert_eq!(kind.code(), code),
                None => assert!(code > 10),
            }
        }
    }
}
