//! Fixed-size responses: WELCOME, DB, STMT, RESULT, EMPTY, METADATA.

use super::body::{Body, ResponseContext};
use crate::codes::ResponseType;
use crate::error::{DecodeError, EncodeError};
use crate::frame::Header;
use crate::tuple::Schema;
use crate::wire::{self, BodyWriter};

/// WELCOME (2): answer to CLIENT. The value is informational only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Welcome {
    /// Heartbeat timeout in milliseconds.
    pub heartbeat_timeout: u64,
}

impl Default for Welcome {
    /// The C server's value, 15 000 ms.
    fn default() -> Self {
        Self {
            heartbeat_timeout: crate::codes::DEFAULT_HEARTBEAT_TIMEOUT_MS,
        }
    }
}

impl Body for Welcome {
    const TYPE: ResponseType = ResponseType::Welcome;

    fn encode_body(&self, w: &mut BodyWriter<'_>) -> Result<(), EncodeError> {
        w.u64(self.heartbeat_timeout);
        Ok(())
    }

    fn decode_body(
        _header: Header,
        body: &[u8],
        _ctx: &ResponseContext,
    ) -> Result<Self, DecodeError> {
        wire::run(body, wire::u64_).map(|heartbeat_timeout| Self { heartbeat_timeout })
    }
}

/// DB (4): the id of the database OPEN opened (always 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Db {
    /// Database id.
    pub id: u32,
}

impl Body for Db {
    const TYPE: ResponseType = ResponseType::Db;

    fn encode_body(&self, w: &mut BodyWriter<'_>) -> Result<(), EncodeError> {
        w.u32(self.id);
        w.u32(0);
        Ok(())
    }

    fn decode_body(
        _header: Header,
        body: &[u8],
        _ctx: &ResponseContext,
    ) -> Result<Self, DecodeError> {
        wire::run(body, (wire::u32_, wire::u32_)).map(|(id, _)| Self { id })
    }
}

/// STMT (5): a prepared statement. Schema 1 (STMT_WITH_OFFSET) adds the
/// tail offset and is sent only to a PREPARE with schema 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stmt {
    /// Database id (echo).
    pub db_id: u32,
    /// Statement id.
    pub stmt_id: u32,
    /// Number of the highest SQL parameter.
    pub params: u64,
    /// Bytes of SQL consumed by the first statement (schema 1 only).
    pub tail_offset: Option<u64>,
}

impl Body for Stmt {
    const TYPE: ResponseType = ResponseType::Stmt;

    fn schema(&self) -> u8 {
        match self.tail_offset {
            Some(_) => Schema::V1.byte(),
            None => Schema::V0.byte(),
        }
    }

    fn encode_body(&self, w: &mut BodyWriter<'_>) -> Result<(), EncodeError> {
        w.u32(self.db_id);
        w.u32(self.stmt_id);
        w.u64(self.params);
        if let Some(offset) = self.tail_offset {
            w.u64(offset);
        }
        Ok(())
    }

    fn decode_body(
        header: Header,
        body: &[u8],
        _ctx: &ResponseContext,
    ) -> Result<Self, DecodeError> {
        let schema = Schema::from_byte(header.kind, header.schema)?;
        let (db_id, stmt_id, params) = wire::run(body, (wire::u32_, wire::u32_, wire::u64_))?;
        let tail_offset = match schema {
            Schema::V0 => None,
            Schema::V1 => Some(wire::run(&body[16..], wire::u64_)?),
        };
        Ok(Self {
            db_id,
            stmt_id,
            params,
            tail_offset,
        })
    }
}

/// RESULT (6): the connection's counters after EXEC/EXEC_SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExecResult {
    /// `sqlite3_last_insert_rowid`.
    pub last_insert_id: u64,
    /// `sqlite3_changes`.
    pub rows_affected: u64,
}

impl Body for ExecResult {
    const TYPE: ResponseType = ResponseType::Result;

    fn encode_body(&self, w: &mut BodyWriter<'_>) -> Result<(), EncodeError> {
        w.u64(self.last_insert_id);
        w.u64(self.rows_affected);
        Ok(())
    }

    fn decode_body(
        _header: Header,
        body: &[u8],
        _ctx: &ResponseContext,
    ) -> Result<Self, DecodeError> {
        wire::run(body, (wire::u64_, wire::u64_)).map(|(last_insert_id, rows_affected)| Self {
            last_insert_id,
            rows_affected,
        })
    }
}

/// EMPTY (8): success with nothing to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Empty;

impl Body for Empty {
    const TYPE: ResponseType = ResponseType::Empty;

    fn encode_body(&self, w: &mut BodyWriter<'_>) -> Result<(), EncodeError> {
        w.u64(0);
        Ok(())
    }

    fn decode_body(
        _header: Header,
        body: &[u8],
        _ctx: &ResponseContext,
    ) -> Result<Self, DecodeError> {
        wire::run(body, wire::u64_).map(|_| Self)
    }
}

/// METADATA (10): this node's failure domain and weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Metadata {
    /// Failure domain.
    pub failure_domain: u64,
    /// Weight.
    pub weight: u64,
}

impl Body for Metadata {
    const TYPE: ResponseType = ResponseType::Metadata;

    fn encode_body(&self, w: &mut BodyWriter<'_>) -> Result<(), EncodeError> {
        w.u64(self.failure_domain);
        w.u64(self.weight);
        Ok(())
    }

    fn decode_body(
        _header: Header,
        body: &[u8],
        _ctx: &ResponseContext,
    ) -> Result<Self, DecodeError> {
        wire::run(body, (wire::u64_, wire::u64_)).map(|(failure_domain, weight)| Self {
            failure_domain,
            weight,
        })
    }
}
