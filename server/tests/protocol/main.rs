//! The server spoken to in raw bytes, as go-dqlite and the C server speak:
//! the spec's §12 exchanges must come back byte-for-byte (with this node's
//! id and address), and every §13 case where the C server crashes, hangs
//! or garbles must get the clean answer the spec's "Rust" column asks for.
//! Also: a sole voter's first answer (`first_answer`), `--role-management`
//! (`roles`) and the SQL behaviours go-dqlite users rely on (`sql`).
//! Kill -9, disk-fault and load tests are the `faults` suite.

#![allow(clippy::unwrap_used)] // Tests panic on purpose.

mod first_answer;
#[path = "../common/process.rs"]
mod process;
mod roles;
mod sql;
#[path = "../common/util.rs"]
mod util;

use dqlite_protocol::response::{Response, RowsEnd};
use dqlite_protocol::{Value, codes};
use util::{Client, Server, decode, h};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_leader_client_open() {
    let server = Server::start().await;
    let mut c = server.connect().await;
    let reply = c.call("0100000000000000 0000000000000000").await;
    assert_eq!(reply, server.leader_reply());
    assert_eq!(
        c.call("0100000001000000 0000000000000000").await,
        h("0100000002000000 983a000000000000")
    );
    // §12 (b): OPEN "test".
    assert_eq!(
        c.call(
            "0400000003000000 7465737400000000 0000000000000000 766f6c6174696c65 0000000000000000"
        )
        .await,
        h("0100000004000000 0000000000000000")
    );
    // §13 #42: a second OPEN.
    let reply = decode(
        c.call(
            "0400000003000000 7465737400000000 0000000000000000 766f6c6174696c65 0000000000000000",
        )
        .await,
    );
    assert_eq!(
        reply,
        util::failure(5, "a database for this connection is already open")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_examples_c_to_g_byte_for_byte() {
    let server = Server::start().await;
    let mut c = server.connect_open("test").await;
    // (c) EXEC_SQL "CREATE TABLE t(a)".
    let create =
        "0400000008000000 0000000000000000 4352454154452054 41424c4520742861 2900000000000000";
    assert_eq!(
        c.call(create).await,
        h("0200000006000000 0000000000000000 0000000000000000")
    );
    // (f) the same again.
    assert_eq!(
        c.call(create).await,
        h("0400000000000000 0100000000000000 7461626c65207420 616c726561647920 6578697374730000")
    );
    // (d) QUERY_SQL "SELECT ?, ?" with 42 and "hello".
    assert_eq!(
        c.call("0600000009000000 0000000000000000 53454c454354203f 2c203f0000000000 0201030000000000 2a00000000000000 68656c6c6f000000").await,
        h("0700000007000000 0200000000000000 3f00000000000000 3f00000000000000 3100000000000000 2a00000000000000 68656c6c6f000000 ffffffffffffffff")
    );
    // (e) two rows.
    c.exec_sql("CREATE TABLE u(id INTEGER, name TEXT)").await;
    let insert = c
        .exec_sql("INSERT INTO u VALUES(1, 'one'), (2, 'two')")
        .await;
    assert_eq!(
        insert,
        h("0200000006000000 0200000000000000 0200000000000000")
    );
    assert_eq!(
        c.call(
            "0400000009000000 0000000000000000 53454c4543542069 642c206e616d6520 46524f4d20750000"
        )
        .await,
        h(
            "0a00000007000000 0200000000000000 6964000000000000 6e616d6500000000 3100000000000000 0100000000000000 6f6e650000000000 3100000000000000 0200000000000000 74776f0000000000 ffffffffffffffff"
        )
    );
    // (f) syntax error.
    assert_eq!(
        c.exec_sql("SELEC 1").await,
        h(
            "0500000000000000 0100000000000000 6e65617220225345 4c4543223a207379 6e74617820657272 6f72000000000000"
        )
    );
    // (g) prepared statement life cycle.
    assert_eq!(
        c.call(
            "0400000004000000 0000000000000000 494e534552542049 4e544f2074205641 4c554553283f2900"
        )
        .await,
        h("0200000005000000 0000000000000000 0100000000000000")
    );
    assert_eq!(
        c.call("0300000005000000 0000000000000000 0101000000000000 0700000000000000")
            .await,
        h("0200000006000000 0100000000000000 0100000000000000")
    );
    assert_eq!(
        c.call("0100000007000000 0000000000000000").await,
        h("0100000008000000 0000000000000000")
    );
    // §13 #45: FINALIZE of a freed id answers, the node lives on.
    assert_eq!(
        c.call("0100000007000000 0000000000000000").await,
        h(
            "0500000000000000 0c00000000000000 6e6f207374617465 6d656e7420776974 6820746865206769 76656e2069640000"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_example_h_cluster_describe_weight_interrupt() {
    let server = Server::start().await;
    let mut c = server.connect().await;
    let cluster = decode(c.call("0100000010000000 0100000000000000").await);
    let Response::Servers(servers) = cluster else {
        panic!("{cluster:?}")
    };
    assert_eq!(servers.nodes.len(), 1);
    assert_eq!(
        (servers.nodes[0].id, servers.nodes[0].role),
        (1, Some(dqlite_protocol::Role::Voter))
    );
    assert_eq!(servers.nodes[0].address, server.address);
    assert_eq!(
        c.call("0100000012000000 0000000000000000").await,
        h("020000000a000000 0000000000000000 0000000000000000")
    );
    assert_eq!(
        c.call("0100000013000000 0500000000000000").await,
        h("0100000008000000 0000000000000000")
    );
    assert_eq!(
        c.call("0100000012000000 0000000000000000").await,
        h("020000000a000000 0000000000000000 0500000000000000")
    );
    assert_eq!(
        c.call("010000000a000000 0000000000000000").await,
        h("0100000008000000 0000000000000000")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_example_i_special_values() {
    let server = Server::start().await;
    let mut c = server.connect_open("test").await;
    let reply = c
        .call(
            "0c00000009000000 0000000000000000 53454c454354204e 554c4c2c203f2c20 3f2c203f2c203f2c 203f2c203f000000
             0601010202020500 0000000000000080 ffffffffffffff7f 000000000000f87f 000000000000f07f 0000000000000080 0000000000000000",
        )
        .await;
    assert_eq!(
        reply,
        h("1100000007000000 0700000000000000
           4e554c4c00000000 3f00000000000000 3f00000000000000 3f00000000000000 3f00000000000000 3f00000000000000 3f00000000000000
           1551220500000000 0000000000000000 0000000000000080 ffffffffffffff7f 0000000000000000 000000000000f07f 0000000000000080 0000000000000000
           ffffffffffffffff")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dates_and_booleans_are_typed_as_dqlite_does() {
    let server = Server::start().await;
    let mut c = server.connect_open("test").await;
    c.exec_sql("CREATE TABLE tt(d DATETIME, dt DATE, b BOOLEAN, r DATETIME, tb BOOLEAN, tz TIMESTAMP WITH TIME ZONE)").await;
    c.exec_sql("INSERT INTO tt VALUES ('2024-05-06', 1700000000, 7, 1.5, 'yes', 'x'), (NULL, NULL, NULL, NULL, NULL, NULL)").await;
    let rows = c.query_rows("SELECT * FROM tt").await;
    assert_eq!(
        rows,
        [
            vec![
                Value::Iso8601(b"2024-05-06".to_vec()),
                Value::UnixTime(1_700_000_000),
                Value::Boolean(7),
                Value::Float(1.5),
                Value::Text(b"yes".to_vec()),
                Value::Text(b"x".to_vec()),
            ],
            vec![
                Value::Iso8601(vec![]),
                Value::Iso8601(vec![]),
                Value::Boolean(0),
                Value::Iso8601(vec![]),
                Value::Boolean(0),
                Value::Null,
            ],
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_results_stream_in_parts_of_at_least_one_row() {
    let server = Server::start().await;
    let mut c = server.connect_open("test").await;
    c.exec_sql("CREATE TABLE n(x, s)").await;
    c.exec_sql("WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 3000) INSERT INTO n SELECT i, 'row' || i FROM c").await;
    let messages = c.query_messages("SELECT x, s FROM n").await;
    assert!(messages.len() > 10, "{} messages", messages.len());
    let total: usize = messages.iter().map(|m| m.rows.len()).sum();
    assert_eq!(total, 3000);
    for m in &messages[..messages.len() - 1] {
        assert_eq!(m.end, RowsEnd::Part);
        assert!(!m.rows.is_empty());
    }
    assert_eq!(messages.last().unwrap().end, RowsEnd::Done);
    // §13 #20: column names that fill a page still give rows in every batch.
    let alias = "a".repeat(5000);
    let messages = c
        .query_messages(&format!("SELECT x AS {alias} FROM n LIMIT 3"))
        .await;
    assert_eq!(messages.iter().map(|m| m.rows.len()).sum::<usize>(), 3);
    assert!(
        messages
            .iter()
            .all(|m| !m.rows.is_empty() || m.end == RowsEnd::Done)
    );
    // The connection is still in step afterwards.
    assert_eq!(
        c.query_rows("SELECT count(*) FROM n").await,
        [vec![Value::Integer(3000)]]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_server_defects_get_clean_failures() {
    let server = Server::start().await;
    let mut c = server.connect().await;
    // §13 #41: a database request before OPEN.
    assert_eq!(
        decode(c.exec_sql("SELECT 1").await),
        util::failure(12, "no database opened")
    );
    // §13 #47: unknown type and HEARTBEAT get 1005; the connection goes on.
    for kind in ["14", "63", "02"] {
        let reply = decode(
            c.call(&format!("01000000{kind}000000 0000000000000000"))
                .await,
        );
        assert_eq!(
            reply,
            util::failure(codes::DQLITE_PARSE, "unrecognized request type")
        );
    }
    // §13 #53: DESCRIBE format 1 gets exactly one reply.
    assert_eq!(
        decode(c.call("0100000012000000 0100000000000000").await),
        util::failure(15, "bad format version")
    );
    // §13 #54: CLUSTER format 7.
    assert_eq!(
        decode(c.call("0100000010000000 0700000000000000").await),
        util::failure(1005, "unrecognized cluster format")
    );
    // §13 #43: OPEN "" and ":memory:" are refused.
    assert_eq!(
        decode(
            c.call("0300000003000000 0000000000000000 0000000000000000 0000000000000000")
                .await
        ),
        util::failure(14, "unable to open database file")
    );
    c.open("test").await;
    // §13 #27, #21, #30, #33.
    assert_eq!(
        decode(c.query_sql_raw(" ; ").await),
        util::failure(0, "empty statement")
    );
    assert_eq!(
        decode(c.query_sql_raw("SELECT abs(-9223372036854775808)").await),
        util::failure(1, "integer overflow")
    );
    let reply = decode(c.query_sql_raw("CREATE TABLE q(x)").await);
    assert!(
        matches!(reply, Response::Failure(ref f) if f.code == 1),
        "{reply:?}"
    );
    assert!(
        c.query_rows("SELECT name FROM sqlite_master WHERE name = 'q'")
            .await
            .is_empty(),
        "not executed"
    );
    let bad_param = decode(
        c.call(
            "0400000009000000 0000000000000000 53454c454354203f 0000000000000000 0109000000000000",
        )
        .await,
    );
    assert!(
        matches!(bad_param, Response::Failure(ref f) if f.code == codes::DQLITE_PARSE),
        "{bad_param:?}"
    );
    // §13 #29: INSERT … RETURNING through QUERY_SQL is returned and kept.
    c.exec_sql("CREATE TABLE r(id INTEGER PRIMARY KEY, v)")
        .await;
    assert_eq!(
        c.query_rows("INSERT INTO r(v) VALUES ('a') RETURNING id, v")
            .await,
        [vec![Value::Integer(1), Value::Text(b"a".to_vec())]]
    );
    assert_eq!(
        c.query_rows("SELECT count(*) FROM r").await,
        [vec![Value::Integer(1)]]
    );
    // §13 #52: a zero-word header closes the connection.
    c.send("0000000000000000").await;
    assert!(c.closed().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dump_returns_a_database_stock_sqlite_opens() {
    let server = Server::start().await;
    let mut c = server.connect_open("dumped").await;
    c.exec_sql("CREATE TABLE t(x); INSERT INTO t VALUES (1), (2), (3)")
        .await;
    // DUMP "dumped".
    let reply = decode(c.call("010000000f000000 64756d7065640000").await);
    let Response::Files(files) = reply else {
        panic!("{reply:?}")
    };
    assert_eq!(files.files.len(), 2);
    assert_eq!(files.files[1].name, "dumped-wal");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dumped");
    std::fs::write(&path, &files.files[0].data).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    assert_eq!(
        conn.query_row("SELECT sum(x) FROM t", [], |r| r.get::<_, i64>(0))
            .unwrap(),
        6
    );
    // An unknown database (latest dqlite's answer).
    let reply = decode(
        c.call("020000000f000000 6e6f737563686462 0000000000000000")
            .await,
    );
    assert_eq!(reply, util::failure(1002, "database does not exists"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_close_what_exceeds_them() {
    let server = Server::start_with(dqlite_server::net::Limits {
        max_frame: 1024,
        max_connections: 2,
        handshake_timeout: std::time::Duration::from_millis(300),
        ..Default::default()
    })
    .await;
    // An oversized frame closes the connection before its body is read.
    let mut c = server.connect().await;
    c.send("8100000008000000").await;
    assert!(c.closed().await);
    // A silent connection is closed after the handshake timeout.
    let silent = Client::raw(&server.address).await;
    assert!(
        silent
            .closed_within(std::time::Duration::from_secs(3))
            .await
    );
    // At the connection limit, a new connection takes the place of the
    // one idle longest, which is closed.
    // (Each answered once, so that the server saw them in this order.)
    let mut a = server.connect().await;
    a.call("0100000000000000 0000000000000000").await;
    let mut b = server.connect().await;
    b.call("0100000000000000 0000000000000000").await;
    let mut third = server.connect().await;
    assert_eq!(
        third.call("0100000000000000 0000000000000000").await,
        server.leader_reply()
    );
    assert!(a.closed().await);
    // An unknown protocol version closes the connection.
    drop((a, b, third));
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let mut c = Client::raw(&server.address).await;
    c.send("0000000000000001").await;
    assert!(c.closed().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_handshake_gets_the_address_only_leader_answer() {
    let server = Server::start().await;
    let mut c = Client::raw(&server.address).await;
    c.send("e53f4360d74d1086").await;
    let mut expected = bytes::BytesMut::new();
    dqlite_protocol::response::ServerLegacy {
        address: server.address.clone(),
    }
    .encode(&mut expected)
    .unwrap();
    assert_eq!(
        c.call("0100000000000000 0000000000000000").await,
        expected.to_vec()
    );
    // Everything else is the same protocol.
    assert_eq!(
        c.call("0100000001000000 0000000000000000").await,
        h("0100000002000000 983a000000000000")
    );
}
