//! SQL-text requests: EXEC_SQL and QUERY_SQL.

use nom::Parser;

use super::body::Body;
use crate::codes::RequestType;
use crate::error::{DecodeError, EncodeError};
use crate::frame::Header;
use crate::tuple::{Params, Schema};
use crate::wire::{self, BodyWriter};

/// Reads `u64 db_id, text sql, [tuple]`.
fn decode_sql_call(
    kind: RequestType,
    header: Header,
    body: &[u8],
) -> Result<(u64, String, Params), DecodeError> {
    let schema = Schema::from_byte(header.kind, header.schema)?;
    let (rest, (db_id, sql)) = wire::run(body, |i| {
        let (i, fields) = (wire::u64_, wire::string).parse_complete(i)?;
        Ok((i, (i, fields)))
    })?;
    let params = Params::decode(schema, rest).map_err(|reason| DecodeError::Params {
        request: kind,
        db_id,
        stmt_id: None,
        reason: Box::new(reason),
    })?;
    Ok((db_id, sql, params))
}

/// EXEC_SQL (8): runs every statement of `sql`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecSql {
    /// Database id (always 0).
    pub db_id: u64,
    /// SQL text, possibly several statements.
    pub sql: String,
    /// Parameters; their schema is the header's schema byte.
    pub params: Params,
}

impl Body for ExecSql {
    const TYPE: RequestType = RequestType::ExecSql;

    fn schema(&self) -> u8 {
        self.params.schema.byte()
    }

    fn encode_body(&self, w: &mut BodyWriter<'_>) -> Result<(), EncodeError> {
        w.u64(self.db_id);
        w.text(self.sql.as_bytes())?;
        self.params.encode(w)
    }

    fn decode_body(header: Header, body: &[u8]) -> Result<Self, DecodeError> {
        decode_sql_call(Self::TYPE, header, body).map(|(db_id, sql, params)| Self {
            db_id,
            sql,
            params,
        })
    }
}

/// QUERY_SQL (9): runs the first statement of `sql` and streams its rows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QuerySql {
    /// Database id (always 0).
    pub db_id: u64,
    /// SQL text.
    pub sql: String,
    /// Parameters; their schema is the header's schema byte.
    pub params: Params,
}

impl Body for QuerySql {
    const TYPE: RequestType = RequestType::QuerySql;

    fn schema(&self) -> u8 {
        self.params.schema.byte()
    }

    fn encode_body(&self, w: &mut BodyWriter<'_>) -> Result<(), EncodeError> {
        w.u64(self.db_id);
        w.text(self.sql.as_bytes())?;
        self.params.encode(w)
    }

    fn decode_body(header: Header, body: &[u8]) -> Result<Self, DecodeError> {
        decode_sql_call(Self::TYPE, header, body).map(|(db_id, sql, params)| Self {
            db_id,
            sql,
            params,
        })
    }
}
