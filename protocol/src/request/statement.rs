//! Database and statement requests: OPEN, PREPARE, EXEC, QUERY, FINALIZE,
//! INTERRUPT and DUMP.

use super::body::{Body, u64_request};
use crate::codes::RequestType;
use crate::error::{DecodeError, EncodeError};
use crate::frame::Header;
use crate::tuple::{Params, Schema};
use crate::wire::{self, BodyWriter};

/// OPEN (3): opens (creating if needed) a database for this connection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Open {
    /// Database name, used verbatim as its identifier.
    pub name: String,
    /// Open flags; go-dqlite sends 0 and dqlite ignores them.
    pub flags: u64,
    /// VFS name; go-dqlite sends "volatile" and dqlite ignores it.
    pub vfs: String,
}

impl Body for Open {
    const TYPE: RequestType = RequestType::Open;

    fn encode_body(&self, w: &mut BodyWriter<'_>) -> Result<(), EncodeError> {
        w.text(self.name.as_bytes())?;
        w.u64(self.flags);
        w.text(self.vfs.as_bytes())
    }

    fn decode_body(_header: Header, body: &[u8]) -> Result<Self, DecodeError> {
        wire::run(body, (wire::string, wire::u64_, wire::string)).map(|(name, flags, vfs)| Self {
            name,
            flags,
            vfs,
        })
    }
}

/// PREPARE (4): compiles the first statement of `sql`.
///
/// With schema 1 the answer carries the offset of the unparsed tail
/// ([`Stmt::tail_offset`](crate::response::Stmt::tail_offset)).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Prepare {
    /// Database id (always 0).
    pub db_id: u64,
    /// SQL text.
    pub sql: String,
    /// Schema 0, or schema 1 to ask for the tail offset.
    pub schema: Schema,
}

impl Body for Prepare {
    const TYPE: RequestType = RequestType::Prepare;

    fn schema(&self) -> u8 {
        self.schema.byte()
    }

    fn encode_body(&self, w: &mut BodyWriter<'_>) -> Result<(), EncodeError> {
        w.u64(self.db_id);
        w.text(self.sql.as_bytes())
    }

    fn decode_body(header: Header, body: &[u8]) -> Result<Self, DecodeError> {
        let schema = Schema::from_byte(header.kind, header.schema)?;
        wire::run(body, (wire::u64_, wire::string)).map(|(db_id, sql)| Self { db_id, sql, schema })
    }
}

/// Reads `u32 db_id, u32 stmt_id, [tuple]` (EXEC and QUERY).
fn decode_stmt_call(
    kind: RequestType,
    header: Header,
    body: &[u8],
) -> Result<(u32, u32, Params), DecodeError> {
    let schema = Schema::from_byte(header.kind, header.schema)?;
    let (db_id, stmt_id) = wire::run(body, (wire::u32_, wire::u32_))?;
    let params = Params::decode(schema, &body[8..]).map_err(|reason| DecodeError::Params {
        request: kind,
        db_id: u64::from(db_id),
        stmt_id: Some(stmt_id),
        reason: Box::new(reason),
    })?;
    Ok((db_id, stmt_id, params))
}

/// EXEC (5): runs a prepared statement to completion.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Exec {
    /// Database id (always 0).
    pub db_id: u32,
    /// Statement id from PREPARE.
    pub stmt_id: u32,
    /// Parameters; their schema is the header's schema byte.
    pub params: Params,
}

impl Body for Exec {
    const TYPE: RequestType = RequestType::Exec;

    fn schema(&self) -> u8 {
        self.params.schema.byte()
    }

    fn encode_body(&self, w: &mut BodyWriter<'_>) -> Result<(), EncodeError> {
        w.u32(self.db_id);
        w.u32(self.stmt_id);
        self.params.encode(w)
    }

    fn decode_body(header: Header, body: &[u8]) -> Result<Self, DecodeError> {
        decode_stmt_call(Self::TYPE, header, body).map(|(db_id, stmt_id, params)| Self {
            db_id,
            stmt_id,
            params,
        })
    }
}

/// QUERY (6): runs a prepared statement and streams its rows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Query {
    /// Database id (always 0).
    pub db_id: u32,
    /// Statement id from PREPARE.
    pub stmt_id: u32,
    /// Parameters; their schema is the header's schema byte.
    pub params: Params,
}

impl Body for Query {
    const TYPE: RequestType = RequestType::Query;

    fn schema(&self) -> u8 {
        self.params.schema.byte()
    }

    fn encode_body(&self, w: &mut BodyWriter<'_>) -> Result<(), EncodeError> {
        w.u32(self.db_id);
        w.u32(self.stmt_id);
        self.params.encode(w)
    }

    fn decode_body(header: Header, body: &[u8]) -> Result<Self, DecodeError> {
        decode_stmt_call(Self::TYPE, header, body).map(|(db_id, stmt_id, params)| Self {
            db_id,
            stmt_id,
            params,
        })
    }
}

/// FINALIZE (7): frees a prepared statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Finalize {
    /// Database id (always 0).
    pub db_id: u32,
    /// Statement id from PREPARE.
    pub stmt_id: u32,
}

impl Body for Finalize {
    const TYPE: RequestType = RequestType::Finalize;

    fn encode_body(&self, w: &mut BodyWriter<'_>) -> Result<(), EncodeError> {
        w.u32(self.db_id);
        w.u32(self.stmt_id);
        Ok(())
    }

    fn decode_body(_header: Header, body: &[u8]) -> Result<Self, DecodeError> {
        wire::run(body, (wire::u32_, wire::u32_)).map(|(db_id, stmt_id)| Self { db_id, stmt_id })
    }
}

u64_request!(
    /// INTERRUPT (10): stops the result set being streamed; the id is not checked.
    Interrupt, Interrupt, db_id
);

/// DUMP (15): asks for the files of a database.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dump {
    /// Database name.
    pub name: String,
}

impl Body for Dump {
    const TYPE: RequestType = RequestType::Dump;

    fn encode_body(&self, w: &mut BodyWriter<'_>) -> Result<(), EncodeError> {
        w.text(self.name.as_bytes())
    }

    fn decode_body(_header: Header, body: &[u8]) -> Result<Self, DecodeError> {
        wire::run(body, wire::string).map(|name| Self { name })
    }
}
