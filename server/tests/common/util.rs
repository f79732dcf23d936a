//! An in-process node serving on 127.0.0.1:0, and a raw-bytes client.
//! Shared by several test crates, each using part of it.
#![allow(dead_code)]

use std::time::Duration;

use bytes::BytesMut;
use dqlite_protocol::request::{ExecSql, Open, QuerySql, Request};
use dqlite_protocol::response::{Failure, Response, Rows, RowsEnd, Server as ServerReply};
use dqlite_protocol::{Frame, FrameLimits, Params, ResponseContext, Value};
use dqlite_server::Node;
use dqlite_server::net::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Every wait in these tests is bounded by this.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Bytes from spec-style hex.
pub fn h(s: &str) -> Vec<u8> {
    hex::decode(s.split_whitespace().collect::<String>()).expect("valid hex")
}

/// Decodes one whole reply message.
pub fn decode(message: Vec<u8>) -> Response {
    let frame = Frame::from_message(&message, &FrameLimits::default()).unwrap();
    Response::decode_frame(&frame, &ResponseContext::default()).unwrap()
}

pub fn failure(code: u64, message: &str) -> Response {
    Response::Failure(Failure::new(code, message))
}

pub struct Server {
    pub address: String,
    _node: Node,
    _dir: tempfile::TempDir,
}

impl Server {
    pub async fn start() -> Self {
        Self::start_with(Limits::default()).await
    }

    pub async fn start_with(limits: Limits) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let node = Node::builder(1, address.clone(), dir.path())
            .serve(listener, limits)
            .start()
            .await
            .unwrap();
        Self {
            address,
            _node: node,
            _dir: dir,
        }
    }

    /// The SERVER answer naming this node as leader.
    pub fn leader_reply(&self) -> Vec<u8> {
        let mut buf = BytesMut::new();
        ServerReply {
            id: 1,
            address: self.address.clone(),
        }
        .encode(&mut buf)
        .unwrap();
        buf.to_vec()
    }

    /// A connection after the version-1 handshake.
    pub async fn connect(&self) -> Client {
        let mut c = Client::raw(&self.address).await;
        c.send("0100000000000000").await;
        c
    }

    /// A connection with database `db` open.
    pub async fn connect_open(&self, db: &str) -> Client {
        let mut c = self.connect().await;
        c.open(db).await;
        c
    }
}

pub struct Client {
    stream: TcpStream,
}

impl Client {
    pub async fn raw(address: &str) -> Self {
        let stream = tokio::time::timeout(TIMEOUT, TcpStream::connect(address))
            .await
            .unwrap()
            .unwrap();
        Self { stream }
    }

    pub async fn send(&mut self, hex: &str) {
        self.send_bytes(&h(hex)).await;
    }

    async fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    pub async fn send_request(&mut self, request: impl Into<Request>) {
        let mut buf = BytesMut::new();
        request.into().encode(&mut buf).unwrap();
        self.send_bytes(&buf).await;
    }

    /// Reads one whole message (header and body).
    pub async fn read_message(&mut self) -> Vec<u8> {
        tokio::time::timeout(TIMEOUT, async {
            let mut header = [0u8; 8];
            self.stream.read_exact(&mut header).await.unwrap();
            let words = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
            let mut message = header.to_vec();
            message.resize(8 + usize::try_from(words).unwrap() * 8, 0);
            self.stream.read_exact(&mut message[8..]).await.unwrap();
            message
        })
        .await
        .expect("a reply within the timeout")
    }

    /// Sends `request` and decodes the reply.
    pub async fn request(&mut self, request: impl Into<Request>) -> Response {
        self.send_request(request).await;
        decode(self.read_message().await)
    }

    /// Sends a request given in hex and returns the reply's bytes.
    pub async fn call(&mut self, hex: &str) -> Vec<u8> {
        self.send(hex).await;
        self.read_message().await
    }

    pub async fn open(&mut self, db: &str) {
        self.send_request(Open {
            name: db.into(),
            flags: 0,
            vfs: "volatile".into(),
        })
        .await;
        let reply = self.read_message().await;
        assert!(matches!(decode(reply), Response::Db(_)));
    }

    pub async fn exec_sql(&mut self, sql: &str) -> Vec<u8> {
        self.send_request(ExecSql {
            db_id: 0,
            sql: sql.into(),
            params: Params::default(),
        })
        .await;
        self.read_message().await
    }

    /// Sends QUERY_SQL and returns the first reply message.
    pub async fn query_sql_raw(&mut self, sql: &str) -> Vec<u8> {
        self.send_request(QuerySql {
            db_id: 0,
            sql: sql.into(),
            params: Params::default(),
        })
        .await;
        self.read_message().await
    }

    /// Every ROWS message of a query, up to DONE.
    pub async fn query_messages(&mut self, sql: &str) -> Vec<Rows> {
        let mut message = self.query_sql_raw(sql).await;
        let mut all = Vec::new();
        loop {
            match decode(message) {
                Response::Rows(rows) => {
                    let done = rows.end == RowsEnd::Done;
                    all.push(rows);
                    if done {
                        return all;
                    }
                }
                other => panic!("expected ROWS, got {other:?}"),
            }
            message = self.read_message().await;
        }
    }

    pub async fn query_rows(&mut self, sql: &str) -> Vec<Vec<Value>> {
        self.query_messages(sql)
            .await
            .into_iter()
            .flat_map(|m| m.rows)
            .collect()
    }

    /// Whether the server closes the connection (within the timeout).
    pub async fn closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(
            tokio::time::timeout(TIMEOUT, self.stream.read(&mut byte)).await,
            Ok(Ok(0) | Err(_))
        )
    }

    pub async fn closed_within(mut self, limit: Duration) -> bool {
        let mut byte = [0u8; 1];
        matches!(
            tokio::time::timeout(limit, self.stream.read(&mut byte)).await,
            Ok(Ok(0) | Err(_))
        )
    }
}
