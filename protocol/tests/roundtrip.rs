//! Property tests: for every message type and every value type, decoding
//! what was encoded gives back the same message, byte-for-byte stable.
//! Plus the sizes the protocol's limits revolve around: empty strings,
//! 0 columns, 255/256/70000 parameters, 1 MiB blobs.

#![allow(clippy::unwrap_used)] // Test helpers panic on purpose.

use bytes::BytesMut;
use dqlite_protocol::request::*;
use dqlite_protocol::response::*;
use dqlite_protocol::*;
use proptest::collection::vec;
use proptest::prelude::*;

/// Text the wire can carry: any bytes but NUL (not necessarily UTF-8).
fn text_bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(1u8..=255, 0..40)
}

/// A UTF-8 string without NUL, including the empty string.
fn string() -> impl Strategy<Value = String> {
    "[^\u{0}]{0,40}"
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<u64>().prop_map(f64::from_bits),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
    ]
}

fn param_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::Integer),
        float().prop_map(Value::Float),
        text_bytes().prop_map(Value::Text),
        vec(any::<u8>(), 0..64).prop_map(Value::Blob),
        Just(Value::Null),
        text_bytes().prop_map(Value::Iso8601),
        any::<u64>().prop_map(Value::Boolean),
    ]
}

fn row_value() -> impl Strategy<Value = Value> {
    prop_oneof![param_value(), any::<i64>().prop_map(Value::UnixTime)]
}

fn params() -> impl Strategy<Value = Params> {
    prop_oneof![
        vec(param_value(), 0..20).prop_map(Params::new),
        vec(param_value(), 0..20).prop_map(|values| Params {
            schema: Schema::V1,
            values
        }),
    ]
}

fn schema() -> impl Strategy<Value = Schema> {
    prop_oneof![Just(Schema::V0), Just(Schema::V1)]
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        Just(Request::Leader(Leader)),
        any::<u64>().prop_map(|id| Client { id }.into()),
        any::<u64>().prop_map(|timestamp| Heartbeat { timestamp }.into()),
        (string(), any::<u64>(), string())
            .prop_map(|(name, flags, vfs)| Open { name, flags, vfs }.into()),
        (any::<u64>(), string(), schema()).prop_map(|(db_id, sql, schema)| Prepare {
            db_id,
            sql,
            schema
        }
        .into()),
        (any::<u32>(), any::<u32>(), params()).prop_map(|(db_id, stmt_id, params)| Exec {
            db_id,
            stmt_id,
            params
        }
        .into()),
        (any::<u32>(), any::<u32>(), params()).prop_map(|(db_id, stmt_id, params)| Query {
            db_id,
            stmt_id,
            params
        }
        .into()),
        (any::<u32>(), any::<u32>())
            .prop_map(|(db_id, stmt_id)| Finalize { db_id, stmt_id }.into()),
        (any::<u64>(), string(), params()).prop_map(|(db_id, sql, params)| ExecSql {
            db_id,
            sql,
            params
        }
        .into()),
        (any::<u64>(), string(), params()).prop_map(|(db_id, sql, params)| QuerySql {
            db_id,
            sql,
            params
        }
        .into()),
        any::<u64>().prop_map(|db_id| Interrupt { db_id }.into()),
        (any::<u64>(), string()).prop_map(|(id, address)| Connect { id, address }.into()),
        (any::<u64>(), string()).prop_map(|(id, address)| Add { id, address }.into()),
        (any::<u64>(), proptest::option::of(any::<u64>())).prop_map(|(id, role)| Assign {
            id,
            role
        }
        .into()),
        any::<u64>().prop_map(|id| Remove { id }.into()),
        string().prop_map(|name| Dump { name }.into()),
        any::<u64>().prop_map(|format| Cluster { format }.into()),
        any::<u64>().prop_map(|id| Transfer { id }.into()),
        any::<u64>().prop_map(|format| Describe { format }.into()),
        any::<u64>().prop_map(|weight| Weight { weight }.into()),
    ]
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Voter), Just(Role::StandBy), Just(Role::Spare)]
}

fn rows() -> impl Strategy<Value = Rows> {
    (0usize..20)
        .prop_flat_map(|width| {
            let row_count = if width == 0 { 0..1 } else { 0..8 };
            (
                vec(string(), width),
                vec(vec(row_value(), width), row_count),
                prop_oneof![Just(RowsEnd::Part), Just(RowsEnd::Done)],
            )
        })
        .prop_map(|(columns, rows, end)| {
            // A PART batch always carries a row.
            let end = if rows.is_empty() { RowsEnd::Done } else { end };
            Rows { columns, rows, end }
        })
}

fn response() -> impl Strategy<Value = (Response, ResponseContext)> {
    let v1 = ResponseContext::default();
    let legacy = ResponseContext {
        version: ProtocolVersion::Legacy,
        ..v1
    };
    let no_roles = ResponseContext {
        servers_with_roles: false,
        ..v1
    };
    prop_oneof![
        (any::<u64>(), string())
            .prop_map(move |(code, message)| (Failure { code, message }.into(), v1)),
        (any::<u64>(), string()).prop_map(move |(id, address)| (Server { id, address }.into(), v1)),
        string().prop_map(move |address| (ServerLegacy { address }.into(), legacy)),
        any::<u64>().prop_map(move |heartbeat_timeout| (Welcome { heartbeat_timeout }.into(), v1)),
        vec((any::<u64>(), string(), role()), 0..6).prop_map(move |nodes| {
            let nodes = nodes
                .into_iter()
                .map(|(id, address, role)| NodeInfo {
                    id,
                    address,
                    role: Some(role),
                })
                .collect();
            (Servers { nodes }.into(), v1)
        }),
        vec((any::<u64>(), string()), 0..6).prop_map(move |nodes| {
            let nodes = nodes
                .into_iter()
                .map(|(id, address)| NodeInfo {
                    id,
                    address,
                    role: None,
                })
                .collect();
            (Servers { nodes }.into(), no_roles)
        }),
        any::<u32>().prop_map(move |id| (Db { id }.into(), v1)),
        (
            any::<u32>(),
            any::<u32>(),
            any::<u64>(),
            proptest::option::of(any::<u64>())
        )
            .prop_map(move |(db_id, stmt_id, params, tail_offset)| {
                (
                    Stmt {
                        db_id,
                        stmt_id,
                        params,
                        tail_offset,
                    }
                    .into(),
                    v1,
                )
            }),
        (any::<u64>(), any::<u64>()).prop_map(move |(last_insert_id, rows_affected)| {
            (
                ExecResult {
                    last_insert_id,
                    rows_affected,
                }
                .into(),
                v1,
            )
        }),
        rows().prop_map(move |rows| (rows.into(), v1)),
        Just((Response::Empty(Empty), v1)),
        vec((string(), vec(any::<u64>(), 0..16)), 0..4).prop_map(move |files| {
            let files = files
                .into_iter()
                .map(|(name, words)| File {
                    name,
                    data: words.iter().flat_map(|w| w.to_le_bytes()).collect(),
                })
                .collect();
            (Files { files }.into(), v1)
        }),
        (any::<u64>(), any::<u64>()).prop_map(move |(failure_domain, weight)| {
            (
                Metadata {
                    failure_domain,
                    weight,
                }
                .into(),
                v1,
            )
        }),
    ]
}

fn encode_request(request: &Request) -> BytesMut {
    let mut buf = BytesMut::new();
    request.encode(&mut buf).expect("encodes");
    buf
}

fn decode_request(bytes: &mut BytesMut) -> Request {
    let frame = FrameLimits::default()
        .split_frame(bytes)
        .expect("valid frame")
        .expect("whole frame");
    assert!(bytes.is_empty(), "nothing left over");
    Request::decode_frame(&frame).expect("decodes")
}

fn round_trip_response(response: &Response, ctx: &ResponseContext) -> Response {
    let mut buf = BytesMut::new();
    response.encode(&mut buf).expect("encodes");
    assert_eq!(buf.len() % 8, 0, "whole words");
    let frame = FrameLimits::default()
        .split_frame(&mut buf)
        .expect("valid frame")
        .expect("whole frame");
    Response::decode_frame(&frame, ctx).expect("decodes")
}

proptest! {
    #[test]
    fn requests_round_trip(request in request()) {
        let mut bytes = encode_request(&request);
        let encoded = bytes.clone();
        prop_assert_eq!(encoded.len() % 8, 0);
        let decoded = decode_request(&mut bytes);
        prop_assert_eq!(&decoded, &request);
        // Re-encoding is byte-for-byte stable.
        prop_assert_eq!(encode_request(&decoded), encoded);
    }

    #[test]
    fn responses_round_trip((response, ctx) in response()) {
        prop_assert_eq!(round_trip_response(&response, &ctx), response);
    }

    #[test]
    fn every_value_type_round_trips_in_rows(values in vec(row_value(), 1..40)) {
        let rows = Rows {
            columns: (0..values.len()).map(|i| format!("c{i}")).collect(),
            rows: vec![values],
            end: RowsEnd::Done,
        };
        let response = Response::from(rows);
        prop_assert_eq!(round_trip_response(&response, &ResponseContext::default()), response);
    }

    #[test]
    fn streamed_rows_equal_owned_rows(rows in rows()) {
        let mut buf = BytesMut::new();
        rows.encode(&mut buf).unwrap();
        let frame = Frame::from_message(&buf, &FrameLimits::default()).unwrap();
        let mut reader = RowsReader::new(&frame.body).unwrap();
        prop_assert_eq!(reader.columns().to_vec(), rows.columns.iter().map(String::as_str).collect::<Vec<_>>());
        let streamed: Vec<Vec<Value>> = (&mut reader)
            .map(|row| row.unwrap().into_iter().map(ValueRef::to_owned).collect())
            .collect();
        prop_assert_eq!(streamed, rows.rows.clone());
        prop_assert_eq!(reader.end(), Some(rows.end));
    }

    #[test]
    fn rows_writer_matches_rows_encoding(rows in rows()) {
        let mut owned = BytesMut::new();
        rows.encode(&mut owned).unwrap();
        let mut streamed = BytesMut::new();
        let mut writer = RowsWriter::begin(&mut streamed, &rows.columns).unwrap();
        for row in &rows.rows {
            writer.push_row(row.iter().map(Value::as_ref)).unwrap();
        }
        writer.finish(rows.end).unwrap();
        prop_assert_eq!(owned, streamed);
    }

    #[test]
    fn frames_reassemble_from_any_split(request in request(), split in any::<prop::sample::Index>()) {
        let bytes = encode_request(&request);
        let at = split.index(bytes.len() + 1);
        let limits = FrameLimits::default();
        let mut buf = BytesMut::from(&bytes[..at]);
        if at < bytes.len() {
            prop_assert_eq!(limits.split_frame(&mut buf).unwrap(), None);
        }
        buf.extend_from_slice(&bytes[at..]);
        let frame = limits.split_frame(&mut buf).unwrap().unwrap();
        prop_assert_eq!(Request::decode_frame(&frame).unwrap(), request);
    }
}

fn exec_sql_with(count: usize) -> Request {
    ExecSql {
        db_id: 0,
        sql: "INSERT INTO t VALUES(?)".into(),
        params: Params::new(
            (0..count)
                .map(|i| Value::Integer(i64::try_from(i).unwrap()))
                .collect(),
        ),
    }
    .into()
}

#[test]
fn parameter_counts_around_the_schema_limits() {
    for (count, schema_byte) in [(0, 0), (1, 0), (255, 0), (256, 1), (70_000, 1)] {
        let request = exec_sql_with(count);
        let mut bytes = encode_request(&request);
        assert_eq!(bytes[5], schema_byte, "{count} parameters");
        assert_eq!(decode_request(&mut bytes), request, "{count} parameters");
    }
}

#[test]
fn empty_strings_everywhere() {
    let request = Request::from(Open {
        name: String::new(),
        flags: 0,
        vfs: String::new(),
    });
    let mut bytes = encode_request(&request);
    assert_eq!(bytes.len(), 8 + 24);
    assert_eq!(decode_request(&mut bytes), request);
    let rows = Response::from(Rows {
        columns: vec![String::new()],
        rows: vec![vec![Value::Text(vec![])], vec![Value::Iso8601(vec![])]],
        end: RowsEnd::Done,
    });
    assert_eq!(
        round_trip_response(&rows, &ResponseContext::default()),
        rows
    );
}

#[test]
fn zero_columns() {
    let rows = Response::from(Rows {
        columns: vec![],
        rows: vec![],
        end: RowsEnd::Done,
    });
    assert_eq!(
        round_trip_response(&rows, &ResponseContext::default()),
        rows
    );
    let mut buf = BytesMut::new();
    let bad = Rows {
        columns: vec![],
        rows: vec![vec![]],
        end: RowsEnd::Done,
    };
    assert_eq!(bad.encode(&mut buf), Err(EncodeError::RowsWithoutColumns));
}

#[test]
fn one_mebibyte_blobs() {
    let blob: Vec<u8> = (0..1024 * 1024)
        .map(|i: u32| u8::try_from(i % 251).unwrap())
        .collect();
    let request = Request::from(ExecSql {
        db_id: 0,
        sql: "INSERT INTO b VALUES(?)".into(),
        params: Params::new(vec![Value::Blob(blob.clone())]),
    });
    let mut bytes = encode_request(&request);
    assert_eq!(decode_request(&mut bytes), request);

    // The C server's answer: the row alone in a message, 1,048,616 bytes of body.
    let rows = Rows {
        columns: vec!["b".into()],
        rows: vec![vec![Value::Blob(blob)]],
        end: RowsEnd::Part,
    };
    let mut buf = BytesMut::new();
    rows.encode(&mut buf).unwrap();
    assert_eq!(buf.len() - 8, 1_048_616);
    let response = Response::from(rows);
    assert_eq!(
        round_trip_response(&response, &ResponseContext::default()),
        response
    );
}

#[test]
fn wide_rows_grow_the_header_by_a_word_per_16_columns() {
    for (columns, header_words) in [(16, 1), (17, 2), (255, 16)] {
        let rows = Rows {
            columns: vec!["c".into(); columns],
            rows: vec![vec![Value::Null; columns]],
            end: RowsEnd::Done,
        };
        let mut buf = BytesMut::new();
        rows.encode(&mut buf).unwrap();
        // header + count + names + row header + values + marker
        let words = 1 + 1 + columns + header_words + columns + 1;
        assert_eq!(buf.len(), words * 8, "{columns} columns");
        let response = Response::from(rows);
        assert_eq!(
            round_trip_response(&response, &ResponseContext::default()),
            response
        );
    }
}
