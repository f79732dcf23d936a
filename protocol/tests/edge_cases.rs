//! Spec §2, §7.12 and §13 cases that the codec decides on its own: what
//! decodes, what is a typed error, and what a server gets to answer with.

#![allow(clippy::unwrap_used)] // Test helpers panic on purpose.

use dqlite_protocol::request::*;
use dqlite_protocol::*;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.split_whitespace().collect::<String>()).expect("valid hex")
}

fn decode(hex: &str) -> Result<Request, DecodeError> {
    let bytes = h(hex);
    let frame = Frame::from_message(&bytes, &FrameLimits::default())?;
    Request::decode_frame(&frame)
}

#[test]
fn header_schema_and_extra_bytes_are_ignored_on_schema_zero_requests() {
    // §13 #49: LEADER with schema 5 and extra 0x1234.
    assert_eq!(
        decode("0100000000053412 0000000000000000"),
        Ok(Request::Leader(Leader))
    );
}

#[test]
fn trailing_words_are_ignored() {
    // §13 #50: LEADER with three words of body.
    assert_eq!(
        decode("0300000000000000 0000000000000000 0000000000000000 0000000000000000"),
        Ok(Request::Leader(Leader))
    );
}

#[test]
fn truncated_fields_are_errors() {
    // §13 #51: text without NUL (OPEN "testtest" filling the body).
    assert_eq!(
        decode("0100000003000000 7465737474657374"),
        Err(DecodeError::UnterminatedText)
    );
    // OPEN missing its vfs.
    assert_eq!(
        decode("0200000003000000 7465737400000000 0000000000000000"),
        Err(DecodeError::UnterminatedText)
    );
    // FINALIZE fits in one word; EXEC_SQL needs more than a db id.
    assert_eq!(
        decode("0100000008000000 0000000000000000"),
        Err(DecodeError::UnterminatedText)
    );
    // CONNECT with an 8-byte zero body (observed: connection closed).
    assert_eq!(
        decode("010000000b000000 0000000000000000"),
        Err(DecodeError::UnterminatedText)
    );
}

#[test]
fn zero_word_header_is_an_error() {
    // §13 #52.
    assert_eq!(decode("0000000000000000"), Err(DecodeError::EmptyFrame));
}

#[test]
fn unknown_types_and_heartbeat() {
    // §13 #47: unknown types are reported (the server answers 1005 and goes on).
    assert_eq!(
        decode("0100000014000000 0000000000000000"),
        Err(DecodeError::UnknownRequestType(20))
    );
    assert_eq!(
        decode("0100000063000000 0000000000000000"),
        Err(DecodeError::UnknownRequestType(99))
    );
    // HEARTBEAT and CONNECT are recognised, so they can be refused by type.
    assert_eq!(
        decode("0100000002000000 2a00000000000000"),
        Ok(Request::Heartbeat(Heartbeat { timestamp: 42 }))
    );
    assert_eq!(
        decode("020000000b000000 0700000000000000 6162000000000000"),
        Ok(Request::Connect(Connect {
            id: 7,
            address: "ab".into()
        }))
    );
}

#[test]
fn invalid_parameter_types_keep_the_request_context() {
    // §13 #33: codes 0, 7, 9 (UNIXTIME) and 12 in a tuple.
    for code in [0u8, 7, 9, 12] {
        let hex =
            format!("0300000005000000 0000000003000000 01{code:02x}000000000000 0100000000000000");
        assert_eq!(
            decode(&hex),
            Err(DecodeError::Params {
                request: RequestType::Exec,
                db_id: 0,
                stmt_id: Some(3),
                reason: Box::new(DecodeError::InvalidParamType(code)),
            })
        );
    }
    // §13 #34: count larger than the values present, on EXEC_SQL.
    assert_eq!(
        decode(
            "0400000008000000 0100000000000000 53454c454354203f 0000000000000000 0201010000000000"
        ),
        Err(DecodeError::Params {
            request: RequestType::ExecSql,
            db_id: 1,
            stmt_id: None,
            reason: Box::new(DecodeError::Truncated),
        })
    );
}

#[test]
fn schema_byte_selects_the_tuple_layout() {
    // §13 #36: schema 1 with a schema-0 tuple is read as schema 1 (count
    // 0x00000101 with 2 bytes of types would need far more values).
    assert!(matches!(
        decode("0300000006010000 0000000000000000 0101000000000000 2900000000000000"),
        Err(DecodeError::Params { .. })
    ));
    // Schema > 1 on a request that has schemas.
    for kind in ["04", "05", "06", "08", "09"] {
        let hex = format!("02000000{kind}020000 0000000000000000 0000000000000000");
        assert_eq!(
            decode(&hex),
            Err(DecodeError::UnsupportedSchema {
                kind: u8::from_str_radix(kind, 16).unwrap(),
                schema: 2
            })
        );
    }
    // §13 #35: 300 parameters in a schema-1 tuple.
    let values: Vec<Value> = (0..300).map(Value::Integer).collect();
    let query = Request::from(QuerySql {
        db_id: 0,
        sql: "SELECT ?".into(),
        params: Params::new(values),
    });
    let mut buf = bytes::BytesMut::new();
    query.encode(&mut buf).unwrap();
    assert_eq!(buf[5], 1, "schema byte");
    assert_eq!(&buf[32..36], &300u32.to_le_bytes());
    let frame = Frame::from_message(&buf, &FrameLimits::default()).unwrap();
    assert_eq!(Request::decode_frame(&frame).unwrap(), query);
}

#[test]
fn prepare_schema_one_and_stmt_with_offset() {
    assert_eq!(
        decode("0300000004010000 0000000000000000 53454c4543542031 0000000000000000"),
        Ok(Request::Prepare(Prepare {
            db_id: 0,
            sql: "SELECT 1".into(),
            schema: Schema::V1
        }))
    );
    let stmt = response::Stmt {
        db_id: 0,
        stmt_id: 2,
        params: 0,
        tail_offset: Some(8),
    };
    let mut buf = bytes::BytesMut::new();
    stmt.encode(&mut buf).unwrap();
    assert_eq!(
        buf.to_vec(),
        h("0300000005010000 0000000002000000 0000000000000000 0800000000000000")
    );
    let frame = Frame::from_message(&buf, &FrameLimits::default()).unwrap();
    assert_eq!(
        Response::decode_frame(&frame, &ResponseContext::default()),
        Ok(Response::Stmt(stmt))
    );
}

#[test]
fn raw_fields_the_server_must_judge() {
    // §13 #53, #54, #72: formats and roles are kept raw for the server.
    assert_eq!(
        decode("0100000012000000 0100000000000000"),
        Ok(Request::Describe(Describe { format: 1 }))
    );
    assert_eq!(
        decode("0100000010000000 0700000000000000"),
        Ok(Request::Cluster(Cluster { format: 7 }))
    );
    assert_eq!(
        decode("020000000d000000 0500000000000000 0700000000000000"),
        Ok(Request::Assign(Assign {
            id: 5,
            role: Some(7)
        }))
    );
    // Legacy PROMOTE: ASSIGN without a role word.
    assert_eq!(
        decode("010000000d000000 0500000000000000"),
        Ok(Request::Assign(Assign { id: 5, role: None }))
    );
    assert_eq!(Role::from_code(7), None);
}

#[test]
fn embedded_nul_cannot_be_encoded() {
    // §13 #12: the wire cannot carry it, so the encoder refuses instead of
    // truncating.
    let mut buf = bytes::BytesMut::from(&b"prefix"[..]);
    let request = Request::from(ExecSql {
        db_id: 0,
        sql: "SELECT ?".into(),
        params: Params::new(vec![Value::from("ab\0cd")]),
    });
    assert_eq!(request.encode(&mut buf), Err(EncodeError::InteriorNul));
    assert_eq!(&buf[..], b"prefix", "buffer restored");
}

#[test]
fn invalid_row_types_are_errors() {
    // A row header nibble of 6 (not a row type) in a one-column result.
    let body =
        h("0100000000000000 6100000000000000 0600000000000000 0000000000000000 ffffffffffffffff");
    let mut reader = response::RowsReader::new(&body).unwrap();
    assert_eq!(reader.next(), Some(Err(DecodeError::InvalidValueType(6))));
    assert_eq!(reader.next(), None);
    assert_eq!(reader.end(), None);
}

#[test]
fn rows_without_marker_are_errors() {
    let body = h("0100000000000000 6100000000000000 0100000000000000 0700000000000000");
    let frame_bytes = [h("0400000007000000"), body].concat();
    let frame = Frame::from_message(&frame_bytes, &FrameLimits::default()).unwrap();
    assert_eq!(
        Response::decode_frame(&frame, &ResponseContext::default()),
        Err(DecodeError::MissingRowsEnd)
    );
}

#[test]
fn servers_with_invalid_role() {
    let bytes =
        h("0400000003000000 0100000000000000 0100000000000000 6100000000000000 0900000000000000");
    let frame = Frame::from_message(&bytes, &FrameLimits::default()).unwrap();
    assert_eq!(
        Response::decode_frame(&frame, &ResponseContext::default()),
        Err(DecodeError::InvalidRole(9))
    );
}
