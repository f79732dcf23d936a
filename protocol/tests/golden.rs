//! Golden tests: every hex example of the spec's §12 (observed against
//! libdqlite 1.11.1 and go-dqlite 1.11.5) decodes to the expected values and
//! re-encodes byte-for-byte. Where the observed bytes hold garbage in
//! padding (go-dqlite's tuple headers, the C server's blob padding), the
//! re-encoding is compared with the same bytes with that padding zeroed.

#![allow(clippy::unwrap_used)] // Test helpers panic on purpose.

use bytes::BytesMut;
use dqlite_protocol::request::*;
use dqlite_protocol::response::*;
use dqlite_protocol::*;

/// Bytes from spec-style hex (whitespace ignored).
fn h(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    hex::decode(s).expect("valid hex")
}

fn frame(bytes: &[u8]) -> Frame {
    Frame::from_message(bytes, &FrameLimits::default()).expect("one whole message")
}

fn encode_request(request: &Request) -> Vec<u8> {
    let mut buf = BytesMut::new();
    request.encode(&mut buf).expect("encodes");
    buf.to_vec()
}

fn encode_response(response: &Response) -> Vec<u8> {
    let mut buf = BytesMut::new();
    response.encode(&mut buf).expect("encodes");
    buf.to_vec()
}

/// The observed request decodes to `expected`, and `expected` encodes to
/// the observed bytes.
fn request(hex: &str, expected: impl Into<Request>) {
    let bytes = h(hex);
    let expected = expected.into();
    assert_eq!(
        Request::decode_frame(&frame(&bytes)).unwrap(),
        expected,
        "decoding {hex}"
    );
    assert_eq!(encode_request(&expected), bytes, "encoding {expected:?}");
}

fn response_in(ctx: ResponseContext, hex: &str, expected: impl Into<Response>) {
    let bytes = h(hex);
    let expected = expected.into();
    assert_eq!(
        Response::decode_frame(&frame(&bytes), &ctx).unwrap(),
        expected,
        "decoding {hex}"
    );
    assert_eq!(encode_response(&expected), bytes, "encoding {expected:?}");
}

fn response(hex: &str, expected: impl Into<Response>) {
    response_in(ResponseContext::default(), hex, expected);
}

fn text(s: &str) -> Value {
    Value::Text(s.as_bytes().to_vec())
}

const NODE_ID: u64 = 0x2dc1_7185_8c31_55be;

#[test]
fn a_handshake_leader_client() {
    assert_eq!(
        ProtocolVersion::decode(&h("0100000000000000")),
        Ok(Some(ProtocolVersion::V1))
    );
    assert_eq!(
        ProtocolVersion::V1.to_bytes().to_vec(),
        h("0100000000000000")
    );
    request("0100000000000000 0000000000000000", Leader);
    response(
        "0300000001000000 be55318c8571c12d 3132372e302e302e 313a393331330000",
        Server {
            id: NODE_ID,
            address: "127.0.0.1:9313".into(),
        },
    );
    request("0100000001000000 0000000000000000", Client { id: 0 });
    response("0100000002000000 983a000000000000", Welcome::default());
    assert_eq!(Welcome::default().heartbeat_timeout, 15_000);
}

#[test]
fn a_legacy_handshake_and_leader() {
    assert_eq!(
        ProtocolVersion::decode(&h("e53f4360d74d1086")),
        Ok(Some(ProtocolVersion::Legacy))
    );
    let legacy = ResponseContext {
        version: ProtocolVersion::Legacy,
        ..ResponseContext::default()
    };
    response_in(
        legacy,
        "0200000001000000 3132372e302e302e 313a393331310000",
        ServerLegacy {
            address: "127.0.0.1:9311".into(),
        },
    );
}

#[test]
fn unknown_leader() {
    response(
        "0200000001000000 0000000000000000 0000000000000000",
        Server::default(),
    );
}

#[test]
fn b_open() {
    request(
        "0400000003000000 7465737400000000 0000000000000000 766f6c6174696c65 0000000000000000",
        Open {
            name: "test".into(),
            flags: 0,
            vfs: "volatile".into(),
        },
    );
    response("0100000004000000 0000000000000000", Db { id: 0 });
}

#[test]
fn c_exec_sql_without_parameters() {
    request(
        "0400000008000000 0000000000000000 4352454154452054 41424c4520742861 2900000000000000",
        ExecSql {
            db_id: 0,
            sql: "CREATE TABLE t(a)".into(),
            params: Params::default(),
        },
    );
    response(
        "0200000006000000 0000000000000000 0000000000000000",
        ExecResult::default(),
    );
}

#[test]
fn d_query_sql_with_parameters() {
    request(
        "0600000009000000 0000000000000000 53454c454354203f 2c203f0000000000
         0201030000000000 2a00000000000000 68656c6c6f000000",
        QuerySql {
            db_id: 0,
            sql: "SELECT ?, ?".into(),
            params: Params::new(vec![Value::Integer(42), text("hello")]),
        },
    );
    response(
        "0700000007000000 0200000000000000 3f00000000000000 3f00000000000000
         3100000000000000 2a00000000000000 68656c6c6f000000 ffffffffffffffff",
        Rows {
            columns: vec!["?".into(), "?".into()],
            rows: vec![vec![Value::Integer(42), text("hello")]],
            end: RowsEnd::Done,
        },
    );
}

#[test]
fn e_two_rows_and_done() {
    response(
        "0200000006000000 0200000000000000 0200000000000000",
        ExecResult {
            last_insert_id: 2,
            rows_affected: 2,
        },
    );
    request(
        "0400000009000000 0000000000000000 53454c4543542069 642c206e616d6520 46524f4d20750000",
        QuerySql {
            db_id: 0,
            sql: "SELECT id, name FROM u".into(),
            params: Params::default(),
        },
    );
    response(
        "0a00000007000000 0200000000000000 6964000000000000 6e616d6500000000
         3100000000000000 0100000000000000 6f6e650000000000
         3100000000000000 0200000000000000 74776f0000000000 ffffffffffffffff",
        Rows {
            columns: vec!["id".into(), "name".into()],
            rows: vec![
                vec![Value::Integer(1), text("one")],
                vec![Value::Integer(2), text("two")],
            ],
            end: RowsEnd::Done,
        },
    );
}

#[test]
fn e_first_part_of_a_thousand_rows() {
    // 1000 single-integer rows: the C server's first batch holds 255 rows
    // (513 words: count, "x", 255 × (header + int64), PART).
    let rows = Rows {
        columns: vec!["x".into()],
        rows: (1..=255).map(|i| vec![Value::Integer(i)]).collect(),
        end: RowsEnd::Part,
    };
    let bytes = encode_response(&rows.clone().into());
    assert_eq!(&bytes[..8], &h("0102000007000000")[..]);
    assert_eq!(&bytes[bytes.len() - 8..], &h("eeeeeeeeeeeeeeee")[..]);
    assert_eq!(
        Response::decode_frame(&frame(&bytes), &ResponseContext::default()).unwrap(),
        Response::Rows(rows)
    );
}

#[test]
fn f_failures() {
    // The answer to example (c)'s CREATE TABLE sent a second time.
    response(
        "0400000000000000 0100000000000000 7461626c65207420 616c726561647920 6578697374730000",
        Failure::new(1, "table t already exists"),
    );
    response(
        "0300000000000000 0a28000000000000 6e6f74206c656164 6572000000000000",
        Failure::new(codes::NOT_LEADER, "not leader"),
    );
    response(
        "0500000000000000 0c00000000000000 6e6f207374617465 6d656e7420776974 6820746865206769 76656e2069640000",
        Failure::new(codes::SQLITE_NOTFOUND, "no statement with the given id"),
    );
    response(
        "0500000000000000 0100000000000000 6e65617220225345 4c4543223a207379 6e74617820657272 6f72000000000000",
        Failure::new(1, "near \"SELEC\": syntax error"),
    );
}

#[test]
fn g_prepared_statement_life_cycle() {
    request(
        "0400000004000000 0000000000000000 494e534552542049 4e544f2074205641 4c554553283f2900",
        Prepare {
            db_id: 0,
            sql: "INSERT INTO t VALUES(?)".into(),
            schema: Schema::V0,
        },
    );
    response(
        "0200000005000000 0000000000000000 0100000000000000",
        Stmt {
            db_id: 0,
            stmt_id: 0,
            params: 1,
            tail_offset: None,
        },
    );
    request(
        "0300000005000000 0000000000000000 0101000000000000 0700000000000000",
        Exec {
            db_id: 0,
            stmt_id: 0,
            params: Params::new(vec![Value::Integer(7)]),
        },
    );
    response(
        "0200000006000000 0100000000000000 0100000000000000",
        ExecResult {
            last_insert_id: 1,
            rows_affected: 1,
        },
    );
    request(
        "0100000007000000 0000000000000000",
        Finalize {
            db_id: 0,
            stmt_id: 0,
        },
    );
    response("0100000008000000 0000000000000000", Empty);
}

#[test]
fn h_cluster_describe_weight_interrupt() {
    request("0100000010000000 0100000000000000", Cluster { format: 1 });
    response(
        "0500000003000000 0100000000000000 be55318c8571c12d 3132372e302e302e 313a393331330000 0000000000000000",
        Servers {
            nodes: vec![NodeInfo {
                id: NODE_ID,
                address: "127.0.0.1:9313".into(),
                role: Some(Role::Voter),
            }],
        },
    );
    request("0100000010000000 0000000000000000", Cluster { format: 0 });
    let format0 = ResponseContext::for_request(ProtocolVersion::V1, &Cluster { format: 0 }.into());
    response_in(
        format0,
        "0400000003000000 0100000000000000 be55318c8571c12d 3132372e302e302e 313a393331330000",
        Servers {
            nodes: vec![NodeInfo {
                id: NODE_ID,
                address: "127.0.0.1:9313".into(),
                role: None,
            }],
        },
    );
    request("0100000012000000 0000000000000000", Describe { format: 0 });
    response(
        "020000000a000000 0000000000000000 0000000000000000",
        Metadata::default(),
    );
    request("0100000013000000 0500000000000000", Weight { weight: 5 });
    response("0100000008000000 0000000000000000", Empty);
    request("010000000a000000 0000000000000000", Interrupt { db_id: 0 });
    response(
        "020000000a000000 0000000000000000 0500000000000000",
        Metadata {
            failure_domain: 0,
            weight: 5,
        },
    );
}

#[test]
fn i_special_values() {
    let names = std::iter::once("NULL")
        .chain(["?"; 6])
        .map(String::from)
        .collect();
    response(
        "1100000007000000 0700000000000000
         4e554c4c00000000 3f00000000000000 3f00000000000000 3f00000000000000
         3f00000000000000 3f00000000000000 3f00000000000000
         1551220500000000
         0000000000000000 0000000000000080 ffffffffffffff7f 0000000000000000
         000000000000f07f 0000000000000080 0000000000000000
         ffffffffffffffff",
        Rows {
            columns: names,
            rows: vec![vec![
                Value::Null,
                Value::Integer(i64::MIN),
                Value::Integer(i64::MAX),
                Value::Null,
                Value::Float(f64::INFINITY),
                Value::Float(-0.0),
                Value::Null,
            ]],
            end: RowsEnd::Done,
        },
    );
    // The request's tuple header for (int min, int max, NaN, +inf, -0.0, NULL).
    let params = Params::new(vec![
        Value::Integer(i64::MIN),
        Value::Integer(i64::MAX),
        Value::Float(f64::NAN),
        Value::Float(f64::INFINITY),
        Value::Float(-0.0),
        Value::Null,
    ]);
    let query = QuerySql {
        db_id: 0,
        sql: "SELECT NULL, ?, ?, ?, ?, ?, ?".into(),
        params,
    };
    let bytes = encode_request(&query.clone().into());
    // header, db id, 4 words of SQL, then the tuple header.
    assert_eq!(&bytes[48..56], &h("0601010202020500")[..]);
    assert_eq!(
        Request::decode_frame(&frame(&bytes)).unwrap(),
        Request::QuerySql(query)
    );
}

#[test]
fn j_date_and_boolean_typing() {
    let names = ["d", "dt", "ts", "b", "lc", "tz"];
    let row1 = "9aba3a0000000000
        323032342d30312d 30322030333a3034 3a30352e31323334 35363738392b3030 3a30300000000000
        00f1536500000000 0000000000000000 0100000000000000
        323032342d30352d 3036000000000000
        323032342d30352d 30362030373a3038 3a30390000000000";
    let row2 = "aaba5a0000000000 0000000000000000 0000000000000000 0000000000000000
        0000000000000000 0000000000000000 0000000000000000";
    let mut body = h("0600000000000000");
    for name in names {
        body.extend_from_slice(name.as_bytes());
        body.resize(
            body.len()
                .next_multiple_of(8)
                .max(body.len() + 1)
                .next_multiple_of(8),
            0,
        );
    }
    body.extend(h(row1));
    body.extend(h(row2));
    body.extend(h("ffffffffffffffff"));
    let iso = |s: &str| Value::Iso8601(s.as_bytes().to_vec());
    let expected = Rows {
        columns: names.map(String::from).to_vec(),
        rows: vec![
            vec![
                iso("2024-01-02 03:04:05.123456789+00:00"),
                Value::UnixTime(1_700_000_000),
                iso(""),
                Value::Boolean(1),
                iso("2024-05-06"),
                text("2024-05-06 07:08:09"),
            ],
            vec![
                iso(""),
                iso(""),
                iso(""),
                Value::Boolean(0),
                iso(""),
                Value::Null,
            ],
        ],
        end: RowsEnd::Done,
    };
    let mut message = h("0000000007000000");
    message[..4].copy_from_slice(&u32::try_from(body.len() / 8).unwrap().to_le_bytes());
    message.extend_from_slice(&body);
    assert_eq!(
        Response::decode_frame(&frame(&message), &ResponseContext::default()).unwrap(),
        Response::Rows(expected.clone())
    );
    assert_eq!(encode_response(&expected.into()), message);
}

#[test]
fn k_blob_padding_garbage_is_ignored_and_zeroed() {
    let observed_row = "4404000000000000 0300000000000000 0102030000000000
        0200000000000000 00ff32342d30312d 0000000000000000";
    let zeroed_row = "4404000000000000 0300000000000000 0102030000000000
        0200000000000000 00ff000000000000 0000000000000000";
    let head =
        "0300000000000000 3f00000000000000 7827303066662700 7a65726f626c6f62 2830290000000000";
    let message = |row: &str| {
        let mut m = h("0c00000007000000");
        m.extend(h(head));
        m.extend(h(row));
        m.extend(h("ffffffffffffffff"));
        m
    };
    let expected = Rows {
        columns: vec!["?".into(), "x'00ff'".into(), "zeroblob(0)".into()],
        rows: vec![vec![
            Value::Blob(vec![1, 2, 3]),
            Value::Blob(vec![0x00, 0xff]),
            Value::Blob(vec![]),
        ]],
        end: RowsEnd::Done,
    };
    assert_eq!(
        Response::decode_frame(&frame(&message(observed_row)), &ResponseContext::default())
            .unwrap(),
        Response::Rows(expected.clone())
    );
    assert_eq!(encode_response(&expected.into()), message(zeroed_row));
}

#[test]
fn l_what_go_dqlite_sends() {
    let observed = "1200000008000000 0000000000000000
        494e534552542049 4e544f2067205641 4c554553283f2c3f 2c3f2c3f2c3f2c3f 2c3f290000000000
        0701020304050a0b
        ffffffffffffffff 000000000000f83f 68c3a96c6c6f0000 0200000000000000 0102000000000000
        0000000000000000 323032342d30312d 30322030333a3034 3a30352e352b3031 3a30300000000000
        0100000000000000";
    request(
        observed,
        ExecSql {
            db_id: 0,
            sql: "INSERT INTO g VALUES(?,?,?,?,?,?,?)".into(),
            params: Params::new(vec![
                Value::Integer(-1),
                Value::Float(1.5),
                text("héllo"),
                Value::Blob(vec![1, 2]),
                Value::Null,
                Value::Iso8601(b"2024-01-02 03:04:05.5+01:00".to_vec()),
                Value::Boolean(1),
            ]),
        },
    );

    // Prepared `SELECT ? + 1` run with 41: six stale bytes in the tuple header.
    let observed = h("0300000006000000 0000000000000000 01014c454354203f 2900000000000000");
    let expected = Request::Query(Query {
        db_id: 0,
        stmt_id: 0,
        params: Params::new(vec![Value::Integer(41)]),
    });
    assert_eq!(Request::decode_frame(&frame(&observed)).unwrap(), expected);
    assert_eq!(
        encode_request(&expected),
        h("0300000006000000 0000000000000000 0101000000000000 2900000000000000")
    );
    request("010000000a000000 0000000000000000", Interrupt { db_id: 0 });
}

#[test]
fn empty_result_set() {
    // §13 case 1.
    response(
        "0400000007000000 0200000000000000 6964000000000000 6e616d6500000000 ffffffffffffffff",
        Rows {
            columns: vec!["id".into(), "name".into()],
            rows: vec![],
            end: RowsEnd::Done,
        },
    );
}

#[test]
fn dump_of_unknown_database() {
    // §9: 1.11.1 answers two empty files.
    request(
        "020000000f000000 6e6f737563686462 0000000000000000",
        Dump {
            name: "nosuchdb".into(),
        },
    );
    response(
        "0700000009000000 0200000000000000 6e6f737563686462 0000000000000000 0000000000000000
         6e6f737563686462 2d77616c00000000 0000000000000000",
        Files {
            files: vec![
                File {
                    name: "nosuchdb".into(),
                    data: vec![],
                },
                File {
                    name: "nosuchdb-wal".into(),
                    data: vec![],
                },
            ],
        },
    );
}

#[test]
fn schema_one_tuple_header() {
    // §4.3: schema 1 header for 2 integers.
    request(
        "0600000009010000 0000000000000000 53454c454354203f 0000000000000000
         0200000001010000 0100000000000000 0200000000000000",
        QuerySql {
            db_id: 0,
            sql: "SELECT ?".into(),
            params: Params {
                schema: Schema::V1,
                values: vec![Value::Integer(1), Value::Integer(2)],
            },
        },
    );
}
