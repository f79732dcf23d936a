//! Differential tests: the same raw request bytes go to our server and to
//! the real C server (libdqlite 1.11.1 behind Debian's `dqlite-demo`), and
//! the reply bytes must be identical.
//!
//! Each `#[test]` is one family of exchanges. It starts a fresh C node
//! (`dqlite-demo` on free `127.0.0.1` ports, killed by its pid when the test
//! ends) and a fresh in-process node of ours, opens connection pairs (one
//! connection to each server, version-1 handshake) and, per exchange,
//! writes the same bytes to both and reads each whole reply: one message,
//! or every ROWS message up to DONE. Replies are compared byte for byte;
//! SERVER and SERVERS (node identity) are compared after the C node's id
//! and address are replaced by ours. A mismatch fails the test with a hex
//! dump of both replies and the first differing offset; every mismatch of
//! a test is collected before it fails.
//!
//! Where our server deliberately answers differently (the README's
//! "Deliberate differences from the C server", and the areas where 1.11.1
//! and latest dqlite differ, `docs/wire-protocol.md` §11.1), no bytes are
//! compared: our reply is checked against our documented answer, and, when
//! the request is safe for the C server, its reply against the 1.11.1
//! answer the spec records. Requests that crash or stall 1.11.1 (§13:
//! FINALIZE of a freed id below a live one, DESCRIBE format 1, `words = 0`,
//! REAL in DATETIME / TEXT in BOOLEAN columns, OPEN `""` then a write,
//! INSERT … RETURNING, column names of 4 KiB, a step error mid-query,
//! unknown request types, HEARTBEAT) are never sent to it.
//!
//! A new difference that is not deliberate gets its own test, spelled out,
//! and is fixed in the server; the tests of section 7 began that way
//! (batching, NUL in result text, EXEC_SQL of a row-producing statement).
//!
//! Each test prints `differential: N exchanges compared, M identical`
//! (visible with `--nocapture`).
//!
//! Knobs (environment variables; details in the crate documentation):
//!
//! - `CI` (default unset): a missing `dqlite-demo` fails instead of skipping.
//! - `DQLITE_COMPAT_DEMO` (default `/usr/bin/dqlite-demo`): the C server.
//! - `DQLITE_COMPAT_TIMEOUT_SECS` (default 30 here): limit for connecting,
//!   for one write and for one whole reply.
//! - `DQLITE_COMPAT_LOG` (default unset): `tracing` filter for our logs.

#![allow(clippy::unwrap_used)] // Tests panic on purpose.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use dqlite_compat_tests::{C_NODE_ID, CServer, DEFAULT_DEMO, Server, env_secs, require_tool};
use dqlite_protocol::request::{
    Dump, Exec, ExecSql, Finalize, Open, Prepare, Query, QuerySql, Request,
};
use dqlite_protocol::response::{Response, RowsEnd};
use dqlite_protocol::{
    Frame, FrameLimits, Params, ProtocolVersion, ResponseContext, Schema, Value,
};

/// Default limit for one reply (`DQLITE_COMPAT_TIMEOUT_SECS` overrides it).
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------

/// Bytes from spec-style hex (whitespace ignored).
fn h(s: &str) -> Vec<u8> {
    hex::decode(s.split_whitespace().collect::<String>()).expect("valid hex")
}

fn encode(request: impl Into<Request>) -> Vec<u8> {
    let mut buf = BytesMut::new();
    request.into().encode(&mut buf).expect("encodable request");
    buf.to_vec()
}

/// A request whose body is one u64 (LEADER, CLIENT, INTERRUPT, CLUSTER,
/// DESCRIBE, WEIGHT, …).
fn word(kind: u8, value: u64) -> Vec<u8> {
    let mut m = vec![1, 0, 0, 0, kind, 0, 0, 0];
    m.extend_from_slice(&value.to_le_bytes());
    m
}

const LEADER: u8 = 0;
const CLIENT: u8 = 1;
const INTERRUPT: u8 = 10;
const CLUSTER: u8 = 16;
const DESCRIBE: u8 = 18;
const WEIGHT: u8 = 19;

fn open(name: &str) -> Vec<u8> {
    encode(Open {
        name: name.into(),
        flags: 0,
        vfs: "volatile".into(),
    })
}

fn exec_sql(sql: &str, values: Vec<Value>) -> Vec<u8> {
    encode(ExecSql {
        db_id: 0,
        sql: sql.into(),
        params: Params::new(values),
    })
}

fn query_sql(sql: &str, values: Vec<Value>) -> Vec<u8> {
    encode(QuerySql {
        db_id: 0,
        sql: sql.into(),
        params: Params::new(values),
    })
}

fn prepare(sql: &str) -> Vec<u8> {
    encode(Prepare {
        db_id: 0,
        sql: sql.into(),
        schema: Schema::V0,
    })
}

fn exec(stmt_id: u32, values: Vec<Value>) -> Vec<u8> {
    encode(Exec {
        db_id: 0,
        stmt_id,
        params: Params::new(values),
    })
}

fn query(stmt_id: u32, values: Vec<Value>) -> Vec<u8> {
    encode(Query {
        db_id: 0,
        stmt_id,
        params: Params::new(values),
    })
}

fn finalize(stmt_id: u32) -> Vec<u8> {
    encode(Finalize { db_id: 0, stmt_id })
}

fn text(s: &str) -> Value {
    Value::Text(s.as_bytes().to_vec())
}

// ---------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------

/// A whole reply: one message, or every ROWS message up to DONE.
type Reply = Vec<Vec<u8>>;

/// A check of a whole reply, for deliberate differences.
type Check = dyn Fn(&[Vec<u8>]) -> Result<(), String>;

const PART: [u8; 8] = [0xee; 8];

fn kind(message: &[u8]) -> u8 {
    message[4]
}

fn decode(message: &[u8], ctx: &ResponseContext) -> Result<Response, String> {
    let frame = Frame::from_message(message, &FrameLimits::default()).map_err(|e| e.to_string())?;
    Response::decode_frame(&frame, ctx).map_err(|e| e.to_string())
}

fn reencode(response: &Response) -> Vec<u8> {
    let mut buf = BytesMut::new();
    response.encode(&mut buf).expect("encodable response");
    buf.to_vec()
}

/// The message of a FAILURE, encoded as the server would.
fn failure(code: u64, message: &str) -> Vec<u8> {
    reencode(&Response::Failure(dqlite_protocol::response::Failure::new(
        code, message,
    )))
}

/// RESULT(last_insert_id, rows_affected).
fn result(last_insert_id: u64, rows_affected: u64) -> Vec<u8> {
    let mut m = h("0200000006000000");
    m.extend_from_slice(&last_insert_id.to_le_bytes());
    m.extend_from_slice(&rows_affected.to_le_bytes());
    m
}

/// One line per message: size, type and, for ROWS, rows and end marker.
fn describe(reply: &[Vec<u8>]) -> String {
    let mut out = String::new();
    for (i, m) in reply.iter().enumerate() {
        let _ = write!(out, "    #{i}: {} bytes, type {}", m.len(), kind(m));
        match decode(m, &ResponseContext::default()) {
            Ok(Response::Rows(rows)) => {
                let _ = write!(out, " ROWS, {} rows, {:?}", rows.rows.len(), rows.end);
            }
            Ok(Response::Failure(f)) => {
                let _ = write!(out, " FAILURE({}, {:?})", f.code, f.message);
            }
            Ok(other) => {
                let _ = write!(out, " {other:?}");
            }
            Err(e) => {
                let _ = write!(out, " (does not decode: {e})");
            }
        }
        out.push('\n');
    }
    out
}

/// Hex of `bytes[from..to]`, four words a line, each line with its offset.
fn hex_lines(bytes: &[u8], from: usize, to: usize) -> String {
    let mut out = String::new();
    let to = to.min(bytes.len());
    let mut line = from;
    while line < to {
        let _ = write!(out, "      {line:06x}:");
        for word in (line..(line + 32).min(to)).step_by(8) {
            let _ = write!(out, " {}", hex::encode(&bytes[word..(word + 8).min(to)]));
        }
        out.push('\n');
        line += 32;
    }
    if to < bytes.len() {
        let _ = writeln!(out, "      … ({} more bytes)", bytes.len() - to);
    }
    out
}

/// A readable diff of two messages: the first differing offset and both
/// hex dumps (whole, or a window around the difference for long ones).
fn message_diff(c: &[u8], ours: &[u8]) -> String {
    let first = c
        .iter()
        .zip(ours)
        .position(|(a, b)| a != b)
        .unwrap_or(c.len().min(ours.len()));
    let (from, to) = if c.len().max(ours.len()) <= 512 {
        (0, usize::MAX)
    } else {
        let from = (first / 32 * 32).saturating_sub(64);
        (from, from + 256)
    };
    format!(
        "    first differing offset: {first} (0x{first:x}, word {}, byte {} of it); C {} bytes, ours {} bytes\n    C server:\n{}    ours:\n{}",
        first / 8,
        first % 8,
        c.len(),
        ours.len(),
        hex_lines(c, from, to),
        hex_lines(ours, from, to)
    )
}

/// `None` if equal, else the diff of the first differing message.
fn reply_diff(c: &[Vec<u8>], ours: &[Vec<u8>]) -> Option<String> {
    if c == ours {
        return None;
    }
    let mut out = String::new();
    if c.len() != ours.len() {
        let _ = writeln!(
            out,
            "    C sent {} messages, ours {} (batching or reply shape differs)",
            c.len(),
            ours.len()
        );
    }
    if c.len() > 1 || ours.len() > 1 {
        let _ = write!(out, "    C messages:\n{}", describe(c));
        let _ = write!(out, "    our messages:\n{}", describe(ours));
    }
    let empty = Vec::new();
    let i = (0..c.len().max(ours.len()))
        .find(|&i| c.get(i) != ours.get(i))
        .unwrap_or(0);
    let _ = writeln!(out, "    message #{i}:");
    out.push_str(&message_diff(
        c.get(i).unwrap_or(&empty),
        ours.get(i).unwrap_or(&empty),
    ));
    Some(out)
}

// ---------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------

/// One raw connection; every read and write is bounded by the timeout.
struct Conn {
    side: &'static str,
    stream: TcpStream,
    timeout: Duration,
}

impl Conn {
    /// Connects without sending anything.
    fn raw(side: &'static str, address: &str, timeout: Duration) -> Self {
        let addr = address.parse().expect("a socket address");
        let stream = TcpStream::connect_timeout(&addr, timeout)
            .unwrap_or_else(|e| panic!("{side}: connect {address}: {e}"));
        stream.set_read_timeout(Some(timeout)).unwrap();
        stream.set_write_timeout(Some(timeout)).unwrap();
        stream.set_nodelay(true).unwrap();
        Self {
            side,
            stream,
            timeout,
        }
    }

    /// Connects and sends the version-1 handshake.
    fn v1(side: &'static str, address: &str, timeout: Duration) -> Self {
        let mut c = Self::raw(side, address, timeout);
        c.send(&1u64.to_le_bytes()).unwrap();
        c
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.stream
            .write_all(bytes)
            .map_err(|e| format!("{}: write: {e}", self.side))
    }

    fn read_message(&mut self) -> Result<Vec<u8>, String> {
        let mut message = vec![0u8; 8];
        self.stream
            .read_exact(&mut message)
            .map_err(|e| format!("{}: reading a reply header: {e}", self.side))?;
        let words = u32::from_le_bytes([message[0], message[1], message[2], message[3]]);
        let body = usize::try_from(words).unwrap() * 8;
        message.resize(8 + body, 0);
        self.stream
            .read_exact(&mut message[8..])
            .map_err(|e| format!("{}: reading a {body}-byte reply body: {e}", self.side))?;
        Ok(message)
    }

    /// One whole reply: a message, and if it is a ROWS message ending in
    /// PART, the following messages up to the one that does not.
    fn read_reply(&mut self) -> Result<Reply, String> {
        let deadline = Instant::now() + self.timeout;
        let mut reply = Vec::new();
        loop {
            let m = self.read_message()?;
            let more = kind(&m) == 7 && m.len() >= 24 && m[m.len() - 8..] == PART;
            reply.push(m);
            if !more {
                return Ok(reply);
            }
            if Instant::now() > deadline || reply.len() > 100_000 {
                return Err(format!(
                    "{}: no DONE after {} ROWS messages",
                    self.side,
                    reply.len()
                ));
            }
        }
    }

    /// Everything the server sends until it closes the connection, or
    /// `None` if it keeps it open past the timeout.
    fn read_until_closed(&mut self) -> Option<Vec<u8>> {
        let mut all = Vec::new();
        match self.stream.read_to_end(&mut all) {
            Ok(_) => Some(all),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Some(all),
            Err(_) => None,
        }
    }
}

/// A connection to each server.
struct Pair {
    c: Conn,
    ours: Conn,
}

// ---------------------------------------------------------------------------
// The comparison harness
// ---------------------------------------------------------------------------

/// How replies are compared.
#[derive(Clone, Copy)]
enum Norm {
    /// Byte for byte.
    Exact,
    /// SERVER / SERVERS: the C node's id and address replaced by ours.
    Node(ResponseContext),
}

const ROLES: ResponseContext = ResponseContext {
    version: ProtocolVersion::V1,
    servers_with_roles: true,
};
const NO_ROLES: ResponseContext = ResponseContext {
    version: ProtocolVersion::V1,
    servers_with_roles: false,
};
const LEGACY: ResponseContext = ResponseContext {
    version: ProtocolVersion::Legacy,
    servers_with_roles: true,
};

/// Both servers of one test, and the tally of its exchanges.
struct Diff {
    test: &'static str,
    started: Instant,
    timeout: Duration,
    // Field order is drop order: our server stops, then the C node is killed.
    ours: Server,
    c: CServer,
    compared: usize,
    identical: usize,
    messages: usize,
    deliberate: usize,
    failures: Vec<String>,
}

impl Diff {
    /// Starts both servers, or returns `None` (after printing why) when
    /// `dqlite-demo` is missing and `CI` is not set.
    fn start(test: &'static str) -> Option<Self> {
        let demo = require_tool(
            "the C server (dqlite-demo)",
            "DQLITE_COMPAT_DEMO",
            DEFAULT_DEMO,
        )?;
        let started = Instant::now();
        let c = CServer::start(&demo);
        assert_eq!(c.id(), C_NODE_ID, "dqlite-demo's bootstrap node id");
        let ours = Server::start_in_process();
        Some(Self {
            test,
            started,
            timeout: env_secs("DQLITE_COMPAT_TIMEOUT_SECS", REPLY_TIMEOUT),
            ours,
            c,
            compared: 0,
            identical: 0,
            messages: 0,
            deliberate: 0,
            failures: Vec::new(),
        })
    }

    /// A fresh connection to each server, after the version-1 handshake.
    fn pair(&self) -> Pair {
        Pair {
            c: Conn::v1("C server", self.c.address(), self.timeout),
            ours: Conn::v1("our server", self.ours.address(), self.timeout),
        }
    }

    /// A fresh pair with database `db` open (replies compared).
    fn pair_open(&mut self, db: &str) -> Pair {
        let mut p = self.pair();
        self.same(&mut p, &format!("OPEN {db:?}"), &open(db));
        p
    }

    /// Panics with context when a side does not answer (the C node's log
    /// is included if it died).
    fn io<T>(&mut self, what: &str, r: Result<T, String>) -> T {
        r.unwrap_or_else(|e| {
            let c_state = if self.c.is_running() {
                "the C server is still running".to_owned()
            } else {
                format!("the C server DIED; its log:\n{}", self.c.log_text())
            };
            panic!(
                "[{}] {what}: {e} ({c_state})\nearlier mismatches:\n{}",
                self.test,
                self.failures.join("\n")
            )
        })
    }

    /// Sends `request` to both and returns both replies.
    fn both(&mut self, p: &mut Pair, what: &str, request: &[u8]) -> (Reply, Reply) {
        let sent = p.c.send(request);
        self.io(what, sent);
        let sent = p.ours.send(request);
        self.io(what, sent);
        let c = p.c.read_reply();
        let c = self.io(what, c);
        let ours = p.ours.read_reply();
        let ours = self.io(what, ours);
        (c, ours)
    }

    /// One compared exchange: both replies must be identical. Returns the
    /// C server's reply.
    fn same(&mut self, p: &mut Pair, what: &str, request: &[u8]) -> Reply {
        self.same_norm(p, what, request, Norm::Exact)
    }

    /// Like [`Diff::same`] for SERVER / SERVERS replies.
    fn same_node(&mut self, p: &mut Pair, what: &str, request: &[u8], ctx: ResponseContext) {
        self.same_norm(p, what, request, Norm::Node(ctx));
    }

    fn same_norm(&mut self, p: &mut Pair, what: &str, request: &[u8], norm: Norm) -> Reply {
        let (c, ours) = self.both(p, what, request);
        self.compare(what, request, &c, &ours, norm);
        c
    }

    /// Several requests written in one go (pipelined); `replies` whole
    /// replies read back from each side and compared as one exchange.
    fn same_pipelined(&mut self, p: &mut Pair, what: &str, requests: &[u8], replies: usize) {
        let sent = p.c.send(requests);
        self.io(what, sent);
        let sent = p.ours.send(requests);
        self.io(what, sent);
        let (mut c, mut ours) = (Vec::new(), Vec::new());
        for _ in 0..replies {
            let r = p.c.read_reply();
            c.extend(self.io(what, r));
            let r = p.ours.read_reply();
            ours.extend(self.io(what, r));
        }
        self.compare(what, requests, &c, &ours, Norm::Exact);
    }

    fn compare(&mut self, what: &str, request: &[u8], c: &[Vec<u8>], ours: &[Vec<u8>], norm: Norm) {
        self.compared += 1;
        self.messages += c.len().max(ours.len());
        let c = match norm {
            Norm::Exact => c.to_vec(),
            Norm::Node(ctx) => match self.normalise(c, ctx) {
                Ok(c) => c,
                Err(e) => {
                    self.failures.push(format!("MISMATCH in {what}: {e}"));
                    return;
                }
            },
        };
        match reply_diff(&c, ours) {
            None => self.identical += 1,
            Some(diff) => {
                let shown = request.len().min(512);
                let suffix = if request.len() > shown { " …" } else { "" };
                self.failures.push(format!(
                    "MISMATCH in {what}{}\n    request ({} bytes): {}{suffix}\n{diff}",
                    match norm {
                        Norm::Exact => "",
                        Norm::Node(_) => " (C node id/address replaced by ours)",
                    },
                    request.len(),
                    hex::encode(&request[..shown]),
                ));
            }
        }
    }

    /// The C reply with the C node's id and address replaced by ours.
    fn normalise(&self, c: &[Vec<u8>], ctx: ResponseContext) -> Result<Reply, String> {
        let (c_id, c_address) = (self.c.id(), self.c.address().to_owned());
        let (our_id, our_address) = (1, self.ours.address().to_owned());
        let swap_id = |id: u64| if id == c_id { our_id } else { id };
        let swap_address = |a: String| {
            if a == c_address {
                our_address.clone()
            } else {
                a
            }
        };
        c.iter()
            .map(|m| {
                let response = decode(m, &ctx).map_err(|e| {
                    format!(
                        "the C reply does not decode ({e}):\n{}",
                        hex_lines(m, 0, 512)
                    )
                })?;
                if reencode(&response) != *m {
                    return Err(format!(
                        "the C reply does not re-encode to the same bytes:\n{}",
                        hex_lines(m, 0, 512)
                    ));
                }
                let swapped = match response {
                    Response::Server(mut s) => {
                        s.id = swap_id(s.id);
                        s.address = swap_address(s.address);
                        Response::Server(s)
                    }
                    Response::ServerLegacy(mut s) => {
                        s.address = swap_address(s.address);
                        Response::ServerLegacy(s)
                    }
                    Response::Servers(mut s) => {
                        for n in &mut s.nodes {
                            n.id = swap_id(n.id);
                            n.address = swap_address(std::mem::take(&mut n.address));
                        }
                        Response::Servers(s)
                    }
                    other => other,
                };
                Ok(reencode(&swapped))
            })
            .collect()
    }

    /// A deliberate difference: `request` goes to our server, whose reply
    /// must pass `ours_ok`; if `c_ok` is given, the request also goes to
    /// the C server, whose reply must pass it (the 1.11.1 answer the spec
    /// records). No bytes are compared between the two.
    fn deliberate(
        &mut self,
        p: &mut Pair,
        what: &str,
        request: &[u8],
        ours_ok: impl Fn(&[Vec<u8>]) -> Result<(), String>,
        c_ok: Option<&Check>,
    ) {
        self.deliberate += 1;
        if let Some(c_ok) = c_ok {
            let sent = p.c.send(request);
            self.io(what, sent);
            let c = p.c.read_reply();
            let c = self.io(what, c);
            if let Err(e) = c_ok(&c) {
                self.failures.push(format!(
                    "C SERVER DOES NOT ANSWER AS THE SPEC RECORDS in {what} (deliberate difference): {e}\n    C reply:\n{}{}",
                    describe(&c),
                    hex_lines(&c[0], 0, 512)
                ));
            }
        }
        let sent = p.ours.send(request);
        self.io(what, sent);
        let ours = p.ours.read_reply();
        let ours = self.io(what, ours);
        if let Err(e) = ours_ok(&ours) {
            self.failures.push(format!(
                "OUR DOCUMENTED ANSWER NOT GIVEN in {what} (deliberate difference): {e}\n    our reply:\n{}{}",
                describe(&ours),
                hex_lines(&ours[0], 0, 512)
            ));
        }
    }

    /// Both servers must close a connection that sent `handshake` (and
    /// possibly more), without sending anything.
    fn same_close(&mut self, what: &str, bytes: &[u8]) {
        let mut c = Conn::raw("C server", self.c.address(), self.timeout);
        let mut ours = Conn::raw("our server", self.ours.address(), self.timeout);
        let _ = c.send(bytes);
        let _ = ours.send(bytes);
        let outcome = |r: Option<Vec<u8>>| match r {
            Some(b) if b.is_empty() => "closed without sending anything".to_owned(),
            Some(b) => format!("sent {} and closed", hex::encode(b)),
            None => "kept the connection open".to_owned(),
        };
        let c = outcome(c.read_until_closed());
        let ours = outcome(ours.read_until_closed());
        self.compared += 1;
        if c == ours {
            self.identical += 1;
        } else {
            self.failures.push(format!(
                "MISMATCH in {what}: request {}\n    C server: {c}\n    ours: {ours}",
                hex::encode(bytes)
            ));
        }
    }

    /// Prints the tally and fails with every mismatch.
    fn finish(mut self) {
        let alive = self.c.is_running();
        println!(
            "differential: {} exchanges compared, {} identical ({} [{}]: {} reply messages, {} deliberate differences checked, {:.1?})",
            self.compared,
            self.identical,
            self.test,
            if alive {
                "C server alive"
            } else {
                "C SERVER DIED"
            },
            self.messages,
            self.deliberate,
            self.started.elapsed()
        );
        assert!(
            alive,
            "[{}] the C server died; its log:\n{}",
            self.test,
            self.c.log_text()
        );
        let failures = std::mem::take(&mut self.failures);
        assert!(
            failures.is_empty(),
            "[{}] {} of {} compared exchanges differ, {} problems in all:\n\n{}",
            self.test,
            self.compared - self.identical,
            self.compared,
            failures.len(),
            failures.join("\n\n")
        );
    }
}

// ---------------------------------------------------------------------------
// Checks for deliberate differences
// ---------------------------------------------------------------------------

/// The reply is exactly `expected` (one message).
fn is(expected: Vec<u8>) -> impl Fn(&[Vec<u8>]) -> Result<(), String> {
    move |reply| {
        if reply.len() == 1 && reply[0] == expected {
            Ok(())
        } else {
            Err(format!("expected\n{}", hex_lines(&expected, 0, 512)))
        }
    }
}

/// The reply is a FAILURE with `code` and a message starting with `prefix`.
fn fails(code: u64, prefix: &'static str) -> impl Fn(&[Vec<u8>]) -> Result<(), String> {
    move |reply| match decode(&reply[0], &ResponseContext::default()) {
        Ok(Response::Failure(f))
            if reply.len() == 1 && f.code == code && f.message.starts_with(prefix) =>
        {
            Ok(())
        }
        other => Err(format!(
            "expected FAILURE({code}, {prefix:?}…), got {other:?}"
        )),
    }
}

/// The reply passes `a` or `b`.
fn either(
    a: impl Fn(&[Vec<u8>]) -> Result<(), String>,
    b: impl Fn(&[Vec<u8>]) -> Result<(), String>,
) -> impl Fn(&[Vec<u8>]) -> Result<(), String> {
    move |reply| a(reply).or_else(|ea| b(reply).map_err(|eb| format!("{ea}; or {eb}")))
}

/// The reply is a whole ROWS result with exactly these rows.
fn rows(expected: Vec<Vec<Value>>) -> impl Fn(&[Vec<u8>]) -> Result<(), String> {
    move |reply| {
        let mut all = Vec::new();
        for (i, m) in reply.iter().enumerate() {
            match decode(m, &ResponseContext::default()) {
                Ok(Response::Rows(r)) => {
                    let last = i + 1 == reply.len();
                    if (r.end == RowsEnd::Done) != last {
                        return Err(format!("message #{i} ends with {:?}", r.end));
                    }
                    all.extend(r.rows);
                }
                other => return Err(format!("expected ROWS, got {other:?}")),
            }
        }
        if all == expected {
            Ok(())
        } else {
            Err(format!("expected rows {expected:?}, got {all:?}"))
        }
    }
}

// ---------------------------------------------------------------------------
// 1. Connection and node requests
// ---------------------------------------------------------------------------

/// LEADER, CLIENT, OPEN (twice), DESCRIBE, WEIGHT, INTERRUPT, CLUSTER,
/// the handshake variants and the request-framing leniencies.
#[test]
fn connection_and_node_requests() {
    let Some(mut d) = Diff::start("connection_and_node_requests") else {
        return;
    };
    let mut p = d.pair();
    d.same_node(&mut p, "LEADER", &word(LEADER, 0), ROLES);
    d.same(&mut p, "CLIENT id 0 (WELCOME)", &word(CLIENT, 0));
    d.same(&mut p, "CLIENT id 77", &word(CLIENT, 77));
    d.same(
        &mut p,
        "OPEN \"diff\" (spec §12 (b) bytes)",
        &h("0400000003000000 6469666600000000 0000000000000000 766f6c6174696c65 0000000000000000"),
    );
    d.same(&mut p, "second OPEN, same name (FAILURE 5)", &open("diff"));
    d.same(
        &mut p,
        "second OPEN, other name (FAILURE 5)",
        &open("other"),
    );
    d.same(&mut p, "DESCRIBE 0", &word(DESCRIBE, 0));
    d.same(&mut p, "WEIGHT 5", &word(WEIGHT, 5));
    d.same(&mut p, "DESCRIBE 0 after WEIGHT 5", &word(DESCRIBE, 0));
    d.same(&mut p, "INTERRUPT db 0, idle", &word(INTERRUPT, 0));
    d.same(&mut p, "INTERRUPT db 77, idle", &word(INTERRUPT, 77));
    d.same_node(&mut p, "CLUSTER format 1", &word(CLUSTER, 1), ROLES);
    d.same_node(&mut p, "CLUSTER format 0", &word(CLUSTER, 0), NO_ROLES);
    d.same_node(
        &mut p,
        "LEADER again on the same connection",
        &word(LEADER, 0),
        ROLES,
    );
    // §13 #50: trailing words after the body are ignored.
    d.same_node(
        &mut p,
        "LEADER with 3 body words",
        &h("0300000000000000 0000000000000000 1111111111111111 2222222222222222"),
        ROLES,
    );
    d.same(
        &mut p,
        "DESCRIBE with 2 body words",
        &h("0200000012000000 0000000000000000 0900000000000000"),
    );
    // §13 #49: header schema and extra bytes on a request without tuple.
    d.same_node(
        &mut p,
        "LEADER with schema 5 and extra 0x1234",
        &h("0100000000053412 0000000000000000"),
        ROLES,
    );
    // Pipelined requests are answered in order (§13 #55).
    let mut pipelined = word(CLIENT, 0);
    pipelined.extend(word(DESCRIBE, 0));
    pipelined.extend(word(INTERRUPT, 0));
    d.same_pipelined(
        &mut p,
        "CLIENT + DESCRIBE + INTERRUPT in one write",
        &pipelined,
        3,
    );

    // OPEN ignores flags and vfs (§5.2); CLIENT is not required first.
    let mut p = d.pair();
    d.same(
        &mut p,
        "OPEN flags 0xffff vfs \"nosuchvfs\" without CLIENT",
        &encode(Open {
            name: "diff2".into(),
            flags: 0xffff,
            vfs: "nosuchvfs".into(),
        }),
    );
    d.same(
        &mut p,
        "EXEC_SQL on it",
        &exec_sql("CREATE TABLE x(a)", vec![]),
    );
    // OPEN of a name with a slash.
    let mut p = d.pair();
    d.same(&mut p, "OPEN \"weird/name\"", &open("weird/name"));

    // Legacy handshake: LEADER answers with the address only.
    let mut p = Pair {
        c: Conn::raw("C server", d.c.address(), d.timeout),
        ours: Conn::raw("our server", d.ours.address(), d.timeout),
    };
    p.c.send(&h("e53f4360d74d1086")).unwrap();
    p.ours.send(&h("e53f4360d74d1086")).unwrap();
    d.same_node(
        &mut p,
        "LEADER under the legacy handshake",
        &word(LEADER, 0),
        LEGACY,
    );
    d.same(
        &mut p,
        "CLIENT under the legacy handshake",
        &word(CLIENT, 0),
    );

    // §13 #48: unknown protocol versions close the connection silently.
    d.same_close("handshake version 0", &h("0000000000000000"));
    d.same_close("handshake version 2", &h("0200000000000000"));
    d.same_close(
        "handshake version 1 big-endian, then LEADER",
        &h("0000000000000001 0100000000000000 0000000000000000"),
    );
    // §13 #51: a body whose text has no NUL closes the connection.
    d.same_close(
        "OPEN whose name has no NUL",
        &h("0100000000000000 0100000003000000 6162636465666768"),
    );

    // Deliberate differences (spec §11.1, README).
    let mut p = d.pair();
    // §13 #54: CLUSTER format 7.
    let c_cluster_7: &Check = &|reply| {
        // 1.11.1 answers it as format 1: n=1, then id, address, role.
        match decode(&reply[0], &ROLES) {
            Ok(Response::Servers(s)) if s.nodes.len() == 1 && s.nodes[0].role.is_some() => Ok(()),
            other => Err(format!("expected SERVERS with a role, got {other:?}")),
        }
    };
    d.deliberate(
        &mut p,
        "CLUSTER format 7",
        &word(CLUSTER, 7),
        is(failure(1005, "unrecognized cluster format")),
        Some(c_cluster_7),
    );
    // §9 / §13 #76: DUMP of an unknown database.
    let dump_unknown = encode(Dump {
        name: "nosuchdb".into(),
    });
    d.deliberate(
        &mut p,
        "DUMP of an unknown database",
        &dump_unknown,
        is(failure(1002, "database does not exists")),
        Some(&is(h(
            "0700000009000000 0200000000000000 6e6f737563686462 0000000000000000 0000000000000000 6e6f737563686462 2d77616c00000000 0000000000000000",
        ))),
    );
    // DUMP of a database: 1.11.1 splits at the header's page count, ours
    // returns the whole image and an empty WAL.
    let mut q = d.pair_open("dumped");
    d.same(
        &mut q,
        "CREATE TABLE in the dumped database",
        &exec_sql("CREATE TABLE t(x)", vec![]),
    );
    d.same(
        &mut q,
        "INSERT into the dumped database",
        &exec_sql("INSERT INTO t VALUES (1), (2), (3)", vec![]),
    );
    let dump_check = |wal_empty: bool| {
        move |reply: &[Vec<u8>]| match decode(&reply[0], &ResponseContext::default()) {
            Ok(Response::Files(f))
                if f.files.len() == 2
                    && f.files[0].name == "dumped"
                    && f.files[1].name == "dumped-wal"
                    && f.files[0].data.starts_with(b"SQLite format 3\0")
                    && f.files[1].data.is_empty() == wal_empty =>
            {
                Ok(())
            }
            other => Err(format!(
                "expected FILES dumped (SQLite image) + dumped-wal (empty: {wal_empty}), got {}",
                match other {
                    Ok(Response::Files(f)) => format!(
                        "{:?}",
                        f.files
                            .iter()
                            .map(|f| (f.name.clone(), f.data.len()))
                            .collect::<Vec<_>>()
                    ),
                    other => format!("{other:?}"),
                }
            )),
        }
    };
    d.deliberate(
        &mut p,
        "DUMP \"dumped\"",
        &encode(Dump {
            name: "dumped".into(),
        }),
        dump_check(true),
        Some(&dump_check(false)),
    );
    d.same_node(
        &mut p,
        "LEADER after the deliberate cases",
        &word(LEADER, 0),
        ROLES,
    );
    d.finish();
}

// ---------------------------------------------------------------------------
// 2. The spec's §12 SQL examples, values and typing
// ---------------------------------------------------------------------------

/// Spec §12 (c)–(j): DDL, a repeated CREATE, parameters, rows, a syntax
/// error, the prepared-statement life cycle, special values, date and
/// boolean typing (only the cases that do not crash 1.11.1), and a few
/// more value encodings.
#[test]
fn spec_sql_examples() {
    let Some(mut d) = Diff::start("spec_sql_examples") else {
        return;
    };
    let mut p = d.pair();
    d.same(
        &mut p,
        "LEADER-less OPEN \"test\" (§12 (b))",
        &h("0400000003000000 7465737400000000 0000000000000000 766f6c6174696c65 0000000000000000"),
    );
    // (c) and (f).
    let create =
        h("0400000008000000 0000000000000000 4352454154452054 41424c4520742861 2900000000000000");
    d.same(&mut p, "(c) EXEC_SQL CREATE TABLE t(a)", &create);
    d.same(&mut p, "(f) the same CREATE again", &create);
    // (d).
    d.same(&mut p, "(d) QUERY_SQL SELECT ?, ? with 42, \"hello\"", &h(
        "0600000009000000 0000000000000000 53454c454354203f 2c203f0000000000 0201030000000000 2a00000000000000 68656c6c6f000000",
    ));
    // (e).
    d.same(
        &mut p,
        "(e) CREATE TABLE u",
        &exec_sql("CREATE TABLE u(id INTEGER, name TEXT)", vec![]),
    );
    d.same(
        &mut p,
        "(e) INSERT 2 rows",
        &exec_sql("INSERT INTO u VALUES(1, 'one'), (2, 'two')", vec![]),
    );
    d.same(
        &mut p,
        "(e) QUERY_SQL SELECT id, name FROM u",
        &h("0400000009000000 0000000000000000 53454c4543542069 642c206e616d6520 46524f4d20750000"),
    );
    // (f) syntax errors.
    d.same(&mut p, "(f) EXEC_SQL SELEC 1", &exec_sql("SELEC 1", vec![]));
    d.same(
        &mut p,
        "(f) QUERY_SQL SELEC 1",
        &query_sql("SELEC 1", vec![]),
    );
    d.same(&mut p, "(f) PREPARE SELEC 1", &prepare("SELEC 1"));
    // (g) prepared statement life cycle.
    d.same(
        &mut p,
        "(g) PREPARE INSERT INTO t VALUES(?)",
        &h("0400000004000000 0000000000000000 494e534552542049 4e544f2074205641 4c554553283f2900"),
    );
    d.same(
        &mut p,
        "(g) EXEC stmt 0 with 7",
        &h("0300000005000000 0000000000000000 0101000000000000 0700000000000000"),
    );
    d.same(
        &mut p,
        "EXEC stmt 0 with 8",
        &exec(0, vec![Value::Integer(8)]),
    );
    d.same(
        &mut p,
        "EXEC stmt 0 with text",
        &exec(0, vec![text("nine")]),
    );
    d.same(
        &mut p,
        "(g) FINALIZE stmt 0",
        &h("0100000007000000 0000000000000000"),
    );
    // More of the life cycle: queries, parameter counts, id reuse (§13 #46).
    d.same(
        &mut p,
        "PREPARE SELECT a FROM t WHERE a > ? (id 0)",
        &prepare("SELECT a FROM t WHERE a > ?"),
    );
    d.same(
        &mut p,
        "PREPARE SELECT ?1, ?3, :name (id 1)",
        &prepare("SELECT ?1, ?3, :name"),
    );
    d.same(
        &mut p,
        "PREPARE SELECT count(*) FROM t (id 2)",
        &prepare("SELECT count(*) FROM t"),
    );
    d.same(
        &mut p,
        "QUERY stmt 0 with 0",
        &query(0, vec![Value::Integer(0)]),
    );
    d.same(
        &mut p,
        "QUERY stmt 0 with 7",
        &query(0, vec![Value::Integer(7)]),
    );
    d.same(
        &mut p,
        "QUERY stmt 1 with 4 values",
        &query(
            1,
            vec![
                Value::Integer(1),
                Value::Integer(2),
                Value::Integer(3),
                text("four"),
            ],
        ),
    );
    d.same(&mut p, "QUERY stmt 2 without tuple", &query(2, vec![]));
    d.same(&mut p, "FINALIZE stmt 2 (topmost)", &finalize(2));
    d.same(&mut p, "FINALIZE stmt 0", &finalize(0));
    d.same(&mut p, "PREPARE reuses id 0", &prepare("SELECT 1"));
    d.same(&mut p, "PREPARE reuses id 2", &prepare("SELECT 2"));
    d.same(&mut p, "QUERY new stmt 2", &query(2, vec![]));
    d.same(&mut p, "FINALIZE stmt 0 again (live)", &finalize(0));
    d.same(&mut p, "FINALIZE stmt 1", &finalize(1));
    d.same(&mut p, "FINALIZE stmt 2", &finalize(2));

    // (i) special values, spec bytes.
    d.same(&mut p, "(i) SELECT NULL, ?×6 with int min/max, NaN, +inf, -0.0, NULL", &h(
        "0c00000009000000 0000000000000000 53454c454354204e 554c4c2c203f2c20 3f2c203f2c203f2c 203f2c203f000000
         0601010202020500 0000000000000080 ffffffffffffff7f 000000000000f87f 000000000000f07f 0000000000000080 0000000000000000",
    ));
    d.same(
        &mut p,
        "SELECT ?×8: -inf, 1.5, 0.1, subnormal, unicode, empty text, 8-byte blob, empty blob",
        &query_sql(
            "SELECT ?, ?, ?, ?, ?, ?, ?, ?",
            vec![
                Value::Float(f64::NEG_INFINITY),
                Value::Float(1.5),
                Value::Float(0.1),
                Value::Float(f64::from_bits(1)),
                text("héllo ✓ 日本"),
                text(""),
                Value::Blob(b"12345678".to_vec()),
                Value::Blob(Vec::new()),
            ],
        ),
    );
    d.same(
        &mut p,
        "SELECT length(?), typeof(?), ? || ?",
        &query_sql(
            "SELECT length(?1), typeof(?2), ?3 || ?4",
            vec![
                text("héllo ✓ 日本"),
                Value::Blob(b"ab".to_vec()),
                text("volatile"),
                text(""),
            ],
        ),
    );
    // §13 #12: text with an embedded NUL, as a parameter and as a result.
    d.same(&mut p, "QUERY_SQL SELECT ?, length(?1) with \"ab\\0cd\"", &h(
        "0600000009000000 0000000000000000 53454c454354203f 2c206c656e677468 283f312900000000 0103000000000000 6162006364000000",
    ));
    // Booleans and ISO8601 as parameters.
    d.same(
        &mut p,
        "SELECT ?, ?, ?, typeof(?) with BOOLEAN 0, BOOLEAN 7, ISO8601, ISO8601",
        &query_sql(
            "SELECT ?, ?, ?, typeof(?4)",
            vec![
                Value::Boolean(0),
                Value::Boolean(7),
                Value::Iso8601(b"2024-01-02 03:04:05.5+01:00".to_vec()),
                Value::Iso8601(b"x".to_vec()),
            ],
        ),
    );
    // Fewer values than placeholders on a fresh statement: NULL (§4.3).
    d.same(
        &mut p,
        "SELECT ?, ? with one value",
        &query_sql("SELECT ?, ?", vec![Value::Integer(1)]),
    );
    d.same(
        &mut p,
        "SELECT ?2 with two values",
        &query_sql("SELECT ?2", vec![Value::Integer(1), Value::Integer(2)]),
    );
    // §13 #17/#18: 17 columns (2-word row header), 255 parameters.
    let cols: Vec<String> = (0..17).map(|i| i.to_string()).collect();
    d.same(
        &mut p,
        "SELECT 17 columns",
        &query_sql(&format!("SELECT {}", cols.join(", ")), vec![]),
    );
    let marks = vec!["?"; 200].join(", ");
    d.same(
        &mut p,
        "SELECT 200 parameters (200 columns, 1 row, under 4 KiB)",
        &query_sql(
            &format!("SELECT {marks}"),
            (0..200).map(Value::Integer).collect(),
        ),
    );
    d.same(
        &mut p,
        "SELECT of mixed column types over rows",
        &query_sql(
            "SELECT * FROM (VALUES (1, 'a', 1.5, NULL, x'0102030405060708'), (NULL, 2, 'b', 2.5, 7)) ",
            vec![],
        ),
    );

    // (j) date and boolean typing, without REAL/BLOB in DATETIME or
    // TEXT/REAL/BLOB in BOOLEAN columns (those crash 1.11.1).
    d.same(
        &mut p,
        "(j) CREATE TABLE tt",
        &exec_sql(
            "CREATE TABLE tt(d DATETIME, dt DATE, ts TIMESTAMP, b BOOLEAN, lc datetime, tz TIMESTAMP WITH TIME ZONE)",
            vec![],
        ),
    );
    d.same(
        &mut p,
        "(j) INSERT typed row with ISO8601, int, NULL, BOOLEAN true, texts",
        &exec_sql(
            "INSERT INTO tt VALUES(?, ?, ?, ?, ?, ?)",
            vec![
                Value::Iso8601(b"2024-01-02 03:04:05.123456789+00:00".to_vec()),
                Value::Integer(1_700_000_000),
                Value::Null,
                Value::Boolean(1),
                text("2024-05-06"),
                text("2024-05-06 07:08:09"),
            ],
        ),
    );
    d.same(
        &mut p,
        "(j) INSERT all-NULL row",
        &exec_sql(
            "INSERT INTO tt VALUES(NULL, NULL, NULL, NULL, NULL, NULL)",
            vec![],
        ),
    );
    d.same(
        &mut p,
        "(j) INSERT ints in date columns, 7 in BOOLEAN",
        &exec_sql(
            "INSERT INTO tt VALUES(-1, 0, 253402300799, 7, 'x', 1.5)",
            vec![],
        ),
    );
    d.same(
        &mut p,
        "(j) SELECT * FROM tt",
        &query_sql("SELECT * FROM tt", vec![]),
    );
    d.same(
        &mut p,
        "(j) expressions lose the declared type, subqueries keep it",
        &query_sql(
            "SELECT d || '', (SELECT d FROM tt LIMIT 1), b + 0, (SELECT b FROM tt LIMIT 1), CAST(dt AS INTEGER) FROM tt",
            vec![],
        ),
    );
    d.same(
        &mut p,
        "(j) CREATE VIEW",
        &exec_sql("CREATE VIEW vv AS SELECT d, b FROM tt", vec![]),
    );
    d.same(
        &mut p,
        "(j) SELECT through a view",
        &query_sql("SELECT * FROM vv", vec![]),
    );
    d.same(
        &mut p,
        "(j) a prepared QUERY of typed columns",
        &prepare("SELECT ts, b FROM tt WHERE rowid = ?"),
    );
    for row in 1..=3 {
        d.same(
            &mut p,
            &format!("(j) QUERY typed row {row}"),
            &query(0, vec![Value::Integer(row)]),
        );
    }
    d.same(&mut p, "(j) FINALIZE", &finalize(0));
    d.finish();
}

// ---------------------------------------------------------------------------
// 3. Error replies
// ---------------------------------------------------------------------------

/// FAILURE replies with exact bytes: no database, unknown statement ids,
/// constraint violations, missing tables, empty statements, transaction
/// errors, parameter range errors and a locked database.
#[test]
fn error_replies() {
    let Some(mut d) = Diff::start("error_replies") else {
        return;
    };
    // §13 #41: database requests before OPEN.
    let mut p = d.pair();
    d.same(&mut p, "PREPARE before OPEN", &prepare("SELECT 1"));
    d.same(
        &mut p,
        "EXEC_SQL before OPEN",
        &exec_sql("CREATE TABLE a(x)", vec![]),
    );
    d.same(
        &mut p,
        "QUERY_SQL before OPEN",
        &query_sql("SELECT 1", vec![]),
    );
    d.same(
        &mut p,
        "QUERY_SQL with a parameter before OPEN",
        &query_sql("SELECT ?", vec![Value::Integer(1)]),
    );
    d.same(&mut p, "EXEC stmt 0 before OPEN", &exec(0, vec![]));
    d.same(
        &mut p,
        "QUERY stmt 0 before OPEN",
        &query(0, vec![Value::Integer(1)]),
    );
    d.same(&mut p, "FINALIZE stmt 0 before OPEN", &finalize(0));
    d.same(&mut p, "OPEN \"errors\"", &open("errors"));
    d.same(
        &mut p,
        "PREPARE on db 1",
        &encode(Prepare {
            db_id: 1,
            sql: "SELECT 1".into(),
            schema: Schema::V0,
        }),
    );
    d.same(
        &mut p,
        "EXEC_SQL on db 1",
        &encode(ExecSql {
            db_id: 1,
            sql: "SELECT 1".into(),
            params: Params::default(),
        }),
    );
    d.same(
        &mut p,
        "QUERY_SQL on db 1",
        &encode(QuerySql {
            db_id: 1,
            sql: "SELECT 1".into(),
            params: Params::default(),
        }),
    );
    d.same(
        &mut p,
        "QUERY on db 1",
        &encode(Query {
            db_id: 1,
            stmt_id: 0,
            params: Params::default(),
        }),
    );
    d.same(
        &mut p,
        "FINALIZE on db 1",
        &encode(Finalize {
            db_id: 1,
            stmt_id: 0,
        }),
    );
    // §13 #44: statement ids never allocated (no statement exists, so
    // these are above the C registry's slot count and safe).
    d.same(
        &mut p,
        "FINALIZE stmt 5, never allocated (§12 (f) bytes)",
        &h("0100000007000000 0000000005000000"),
    );
    d.same(
        &mut p,
        "EXEC stmt 5, never allocated",
        &exec(5, vec![Value::Integer(1)]),
    );
    d.same(&mut p, "QUERY stmt 5, never allocated", &query(5, vec![]));

    // §13 #40: constraint violations, extended codes.
    d.same(
        &mut p,
        "CREATE TABLE uq",
        &exec_sql("CREATE TABLE uq(x UNIQUE)", vec![]),
    );
    d.same(
        &mut p,
        "INSERT 1 into uq",
        &exec_sql("INSERT INTO uq VALUES(1)", vec![]),
    );
    d.same(
        &mut p,
        "INSERT 1 into uq again (UNIQUE 2067)",
        &exec_sql("INSERT INTO uq VALUES(1)", vec![]),
    );
    d.same(
        &mut p,
        "PREPARE INSERT INTO uq VALUES(?)",
        &prepare("INSERT INTO uq VALUES(?)"),
    );
    d.same(
        &mut p,
        "EXEC it with 1 (UNIQUE 2067 from a prepared statement)",
        &exec(0, vec![Value::Integer(1)]),
    );
    d.same(&mut p, "EXEC it with 2", &exec(0, vec![Value::Integer(2)]));
    d.same(&mut p, "FINALIZE it", &finalize(0));
    d.same(
        &mut p,
        "CREATE TABLE pk",
        &exec_sql("CREATE TABLE pk(id INTEGER PRIMARY KEY)", vec![]),
    );
    d.same(
        &mut p,
        "duplicate INTEGER PRIMARY KEY (1555)",
        &exec_sql("INSERT INTO pk VALUES(1); INSERT INTO pk VALUES(1)", vec![]),
    );
    d.same(
        &mut p,
        "CREATE TABLE nn",
        &exec_sql("CREATE TABLE nn(x NOT NULL)", vec![]),
    );
    d.same(
        &mut p,
        "INSERT NULL into NOT NULL (1299)",
        &exec_sql("INSERT INTO nn VALUES(?)", vec![Value::Null]),
    );
    d.same(
        &mut p,
        "CREATE TABLE ck",
        &exec_sql("CREATE TABLE ck(x CHECK (x > 0))", vec![]),
    );
    d.same(
        &mut p,
        "CHECK violation (275)",
        &exec_sql("INSERT INTO ck VALUES(0)", vec![]),
    );
    d.same(
        &mut p,
        "CREATE TABLE parent, child",
        &exec_sql(
            "CREATE TABLE parent(id INTEGER PRIMARY KEY); CREATE TABLE child(p INTEGER REFERENCES parent(id))",
            vec![],
        ),
    );
    d.same(
        &mut p,
        "INSERT child of a missing parent (FOREIGN KEY 787)",
        &exec_sql("INSERT INTO child VALUES(9)", vec![]),
    );
    d.same(
        &mut p,
        "INSERT parent 1, child 1",
        &exec_sql(
            "INSERT INTO parent VALUES(1); INSERT INTO child VALUES(1)",
            vec![],
        ),
    );
    d.same(
        &mut p,
        "DELETE a referenced parent (787)",
        &exec_sql("DELETE FROM parent", vec![]),
    );
    d.same(
        &mut p,
        "PRAGMA foreign_keys",
        &query_sql("PRAGMA foreign_keys", vec![]),
    );

    // Missing objects.
    d.same(
        &mut p,
        "QUERY_SQL from a missing table",
        &query_sql("SELECT * FROM nosuch", vec![]),
    );
    d.same(
        &mut p,
        "EXEC_SQL into a missing table",
        &exec_sql("INSERT INTO nosuch VALUES(1)", vec![]),
    );
    d.same(
        &mut p,
        "PREPARE from a missing table",
        &prepare("SELECT * FROM nosuch"),
    );
    d.same(
        &mut p,
        "QUERY_SQL of a missing column",
        &query_sql("SELECT nocol FROM uq", vec![]),
    );
    d.same(
        &mut p,
        "QUERY_SQL of a missing function",
        &query_sql("SELECT nofunc(1)", vec![]),
    );
    d.same(
        &mut p,
        "EXEC_SQL with an incomplete statement",
        &exec_sql("SELECT (1", vec![]),
    );

    // §13 #27: empty statements (code 0).
    d.same(&mut p, "PREPARE \"\"", &prepare(""));
    d.same(&mut p, "PREPARE \" ; \"", &prepare(" ; "));
    d.same(&mut p, "PREPARE \"-- comment\"", &prepare("-- comment"));
    d.same(&mut p, "QUERY_SQL \"\"", &query_sql("", vec![]));
    d.same(&mut p, "QUERY_SQL \" ; \"", &query_sql(" ; ", vec![]));

    // §13 #63: transaction errors.
    d.same(
        &mut p,
        "COMMIT without a transaction",
        &exec_sql("COMMIT", vec![]),
    );
    d.same(
        &mut p,
        "ROLLBACK without a transaction",
        &exec_sql("ROLLBACK", vec![]),
    );
    d.same(&mut p, "BEGIN", &exec_sql("BEGIN", vec![]));
    d.same(
        &mut p,
        "BEGIN inside a transaction",
        &exec_sql("BEGIN", vec![]),
    );
    d.same(
        &mut p,
        "INSERT inside the transaction",
        &exec_sql("INSERT INTO uq VALUES(3)", vec![]),
    );
    d.same(&mut p, "ROLLBACK", &exec_sql("ROLLBACK", vec![]));
    d.same(
        &mut p,
        "the rolled-back row is gone",
        &query_sql("SELECT count(*) FROM uq", vec![]),
    );

    // §13 #31: more values than placeholders (1.11.1 and ours: code 25).
    d.same(
        &mut p,
        "QUERY_SQL SELECT ? with 2 values (25)",
        &query_sql("SELECT ?", vec![Value::Integer(1), Value::Integer(2)]),
    );
    d.same(
        &mut p,
        "QUERY_SQL SELECT 1 with a value (25)",
        &query_sql("SELECT 1", vec![Value::Integer(1)]),
    );
    d.same(&mut p, "PREPARE SELECT ? (id 0)", &prepare("SELECT ?"));
    d.same(
        &mut p,
        "QUERY stmt 0 with 2 values (25)",
        &query(0, vec![Value::Integer(1), Value::Integer(2)]),
    );
    d.same(
        &mut p,
        "PREPARE INSERT INTO uq VALUES(?) (id 1)",
        &prepare("INSERT INTO uq VALUES(?)"),
    );
    d.same(
        &mut p,
        "EXEC stmt 1 with 2 values (25, \"bind parameters\")",
        &exec(1, vec![Value::Integer(1), Value::Integer(2)]),
    );
    d.same(&mut p, "FINALIZE 1", &finalize(1));
    d.same(&mut p, "FINALIZE 0", &finalize(0));

    // §13 #61/#62: a second writer while a transaction holds the lock.
    let mut a = d.pair_open("locked");
    let mut b = d.pair_open("locked");
    d.same(
        &mut a,
        "A: CREATE TABLE l",
        &exec_sql("CREATE TABLE l(x)", vec![]),
    );
    d.same(&mut a, "A: BEGIN", &exec_sql("BEGIN", vec![]));
    d.same(
        &mut a,
        "A: INSERT",
        &exec_sql("INSERT INTO l VALUES(1)", vec![]),
    );
    d.same(
        &mut b,
        "B: INSERT while A holds the write lock (5)",
        &exec_sql("INSERT INTO l VALUES(2)", vec![]),
    );
    d.same(
        &mut b,
        "B: BEGIN; INSERT while A holds the write lock",
        &exec_sql("BEGIN; INSERT INTO l VALUES(2)", vec![]),
    );
    d.same(&mut b, "B: ROLLBACK", &exec_sql("ROLLBACK", vec![]));
    d.same(
        &mut b,
        "B: reads committed state only",
        &query_sql("SELECT count(*) FROM l", vec![]),
    );
    d.same(&mut a, "A: COMMIT", &exec_sql("COMMIT", vec![]));
    d.same(
        &mut b,
        "B: sees the commit",
        &query_sql("SELECT count(*) FROM l", vec![]),
    );
    d.finish();
}

// ---------------------------------------------------------------------------
// 4. Large results and batching
// ---------------------------------------------------------------------------

/// Multi-message results compared message by message: 1.11.1 ends a batch
/// with PART once the message has reached 4096 bytes, checked before
/// stepping to the next row (spec §7.7); ours aims for the same rule.
#[test]
fn large_results() {
    let Some(mut d) = Diff::start("large_results") else {
        return;
    };
    let mut p = d.pair_open("large");
    d.same(
        &mut p,
        "CREATE TABLE big",
        &exec_sql("CREATE TABLE big(n INTEGER, s TEXT)", vec![]),
    );
    d.same(
        &mut p,
        "INSERT 3000 rows (n, 'rowN')",
        &exec_sql(
            "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 3000) INSERT INTO big SELECT i, 'row' || i FROM c",
            vec![],
        ),
    );
    let reply = d.same(
        &mut p,
        "SELECT n, s FROM big (3000 rows)",
        &query_sql("SELECT n, s FROM big", vec![]),
    );
    println!("C server, 3000 rows (n, 'rowN'):\n{}", summarise(&reply));
    let reply = d.same(
        &mut p,
        "SELECT n FROM big LIMIT 1000 (1000 single-integer rows)",
        &query_sql("SELECT n AS x FROM big LIMIT 1000", vec![]),
    );
    println!("C server, 1000 single-integer rows:\n{}", summarise(&reply));
    d.same(
        &mut p,
        "SELECT n, s FROM big WHERE n > 5000 (empty result)",
        &query_sql("SELECT n, s FROM big WHERE n > 5000", vec![]),
    );
    d.same(
        &mut p,
        "SELECT of one batch plus one row",
        &query_sql("SELECT n, s FROM big LIMIT 171", vec![]),
    );
    // The same result through a prepared statement (QUERY), twice.
    d.same(
        &mut p,
        "PREPARE SELECT n, s FROM big WHERE n > ?",
        &prepare("SELECT n, s FROM big WHERE n > ?"),
    );
    d.same(
        &mut p,
        "QUERY it with 100",
        &query(0, vec![Value::Integer(100)]),
    );
    d.same(
        &mut p,
        "QUERY it with 2900",
        &query(0, vec![Value::Integer(2900)]),
    );
    d.same(&mut p, "FINALIZE it", &finalize(0));
    // Rows of varying width.
    d.same(
        &mut p,
        "SELECT rows of growing text (varying widths)",
        &query_sql(
            "SELECT n, substr(hex(zeroblob(n)), 1, n) FROM big LIMIT 400",
            vec![],
        ),
    );
    // §13 #55/#56: a request pipelined behind a streaming result.
    let mut pipelined = query_sql("SELECT n, s FROM big", vec![]);
    pipelined.extend(word(CLIENT, 0));
    pipelined.extend(query_sql("SELECT count(*) FROM big", vec![]));
    d.same_pipelined(
        &mut p,
        "QUERY_SQL 3000 rows + CLIENT + QUERY_SQL in one write",
        &pipelined,
        3,
    );
    // §13 #58 with nothing to cut: INTERRUPT after a finished result.
    d.same(&mut p, "INTERRUPT after DONE", &word(INTERRUPT, 0));
    d.finish();
}

/// One line per message of a result: bytes, rows, end marker.
fn summarise(reply: &[Vec<u8>]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < reply.len() {
        // Runs of identical shapes are folded into one line.
        let shape = |m: &Vec<u8>| {
            let rows = match decode(m, &ResponseContext::default()) {
                Ok(Response::Rows(r)) => format!("{} rows, {:?}", r.rows.len(), r.end),
                Ok(other) => format!("{other:?}"),
                Err(e) => e,
            };
            format!("{} bytes, {rows}", m.len())
        };
        let first = shape(&reply[i]);
        let mut j = i + 1;
        while j < reply.len() && shape(&reply[j]) == first {
            j += 1;
        }
        let _ = writeln!(out, "    {} × {first}", j - i);
        i = j;
    }
    out
}

// ---------------------------------------------------------------------------
// 5. RESULT counters
// ---------------------------------------------------------------------------

/// RESULT's last_insert_id and rows_affected after single and multi-row
/// inserts, several statements in one EXEC_SQL, updates, deletes, DDL,
/// BEGIN/COMMIT, statement-free texts and prepared EXECs.
#[test]
fn result_counters() {
    let Some(mut d) = Diff::start("result_counters") else {
        return;
    };
    let mut p = d.pair_open("counters");
    d.same(
        &mut p,
        "CREATE TABLE m (counters 0, 0)",
        &exec_sql("CREATE TABLE m(x)", vec![]),
    );
    d.same(
        &mut p,
        "INSERT 1 row",
        &exec_sql("INSERT INTO m VALUES(1)", vec![]),
    );
    d.same(
        &mut p,
        "INSERT 3 rows",
        &exec_sql("INSERT INTO m VALUES(1), (2), (3)", vec![]),
    );
    d.same(
        &mut p,
        "INSERT (10); INSERT (11),(12) in one EXEC_SQL (§7.5)",
        &exec_sql(
            "INSERT INTO m VALUES(10); INSERT INTO m VALUES(11),(12)",
            vec![],
        ),
    );
    d.same(
        &mut p,
        "three statements, the last an UPDATE",
        &exec_sql(
            "INSERT INTO m VALUES(20); INSERT INTO m VALUES(21); UPDATE m SET x = x + 1 WHERE x > 19",
            vec![],
        ),
    );
    d.same(
        &mut p,
        "UPDATE all rows",
        &exec_sql("UPDATE m SET x = x * 2", vec![]),
    );
    d.same(
        &mut p,
        "DELETE nothing",
        &exec_sql("DELETE FROM m WHERE x > 1000", vec![]),
    );
    d.same(
        &mut p,
        "DELETE two rows",
        &exec_sql("DELETE FROM m WHERE x = 2", vec![]),
    );
    d.same(
        &mut p,
        "CREATE TABLE keeps the counters",
        &exec_sql("CREATE TABLE m2(y)", vec![]),
    );
    d.same(
        &mut p,
        "BEGIN keeps the counters",
        &exec_sql("BEGIN", vec![]),
    );
    d.same(
        &mut p,
        "INSERT inside a transaction",
        &exec_sql("INSERT INTO m2 VALUES(1), (2)", vec![]),
    );
    d.same(
        &mut p,
        "COMMIT keeps the counters",
        &exec_sql("COMMIT", vec![]),
    );
    d.same(
        &mut p,
        "SELECT 1 WHERE 0 keeps the counters",
        &exec_sql("SELECT 1 WHERE 0", vec![]),
    );
    d.same(
        &mut p,
        "INSERT with an explicit rowid",
        &exec_sql("INSERT INTO m(rowid, x) VALUES(1000000, 0)", vec![]),
    );
    d.same(
        &mut p,
        "INSERT with a negative rowid (last_insert_id as u64)",
        &exec_sql("INSERT INTO m(rowid, x) VALUES(-5, 0)", vec![]),
    );
    d.same(
        &mut p,
        "INSERT with parameters",
        &exec_sql(
            "INSERT INTO m VALUES(?), (?)",
            vec![Value::Integer(7), text("t")],
        ),
    );
    // §13 #24: a failing later statement (the earlier one applied).
    d.same(
        &mut p,
        "INSERT (20); INSERT NULL into NOT NULL",
        &exec_sql(
            "CREATE TABLE nn(x NOT NULL); INSERT INTO m VALUES(21); INSERT INTO nn VALUES(NULL)",
            vec![],
        ),
    );
    d.same(
        &mut p,
        "the earlier statements were applied",
        &query_sql("SELECT count(*) FROM m WHERE x IN (20, 21)", vec![]),
    );
    // Each statement runs before the next is compiled: later statements
    // may use what earlier ones created, and a later error leaves the
    // earlier statements applied.
    d.same(
        &mut p,
        "CREATE TABLE o(x); INSERT INTO o VALUES (1), (2), (3)",
        &exec_sql(
            "CREATE TABLE o(x); INSERT INTO o VALUES (1), (2), (3)",
            vec![],
        ),
    );
    d.same(
        &mut p,
        "INSERT (20); SELEC garbage",
        &exec_sql("INSERT INTO o VALUES(20); SELEC garbage", vec![]),
    );
    d.same(
        &mut p,
        "INSERT (21); INSERT INTO nosuch",
        &exec_sql(
            "INSERT INTO o VALUES(21); INSERT INTO nosuch VALUES(1)",
            vec![],
        ),
    );
    d.same(
        &mut p,
        "CREATE TABLE o2(x); INSERT INTO o2 SELECT * FROM o; DROP TABLE o",
        &exec_sql(
            "CREATE TABLE o2(x); INSERT INTO o2 SELECT * FROM o; DROP TABLE o",
            vec![],
        ),
    );
    d.same(
        &mut p,
        "the earlier statements were applied",
        &query_sql("SELECT group_concat(x) FROM o2", vec![]),
    );
    // §13 #26: texts without any statement answer RESULT(0, 0).
    d.same(&mut p, "EXEC_SQL \"\"", &exec_sql("", vec![]));
    d.same(&mut p, "EXEC_SQL \"  ;  \"", &exec_sql("  ;  ", vec![]));
    d.same(&mut p, "EXEC_SQL \"-- c\"", &exec_sql("-- c", vec![]));
    d.same(&mut p, "EXEC_SQL \";;\"", &exec_sql(";;", vec![]));
    // A trailing comment without `;` still gives the counters.
    d.same(
        &mut p,
        "INSERT with a trailing comment and no ;",
        &exec_sql("INSERT INTO m VALUES(30) -- c", vec![]),
    );
    d.same(
        &mut p,
        "INSERT with a final ; and nothing after",
        &exec_sql("INSERT INTO m VALUES(31);", vec![]),
    );
    // Prepared EXEC.
    d.same(
        &mut p,
        "PREPARE INSERT INTO m VALUES(?)",
        &prepare("INSERT INTO m VALUES(?)"),
    );
    d.same(&mut p, "EXEC it", &exec(0, vec![Value::Integer(40)]));
    d.same(&mut p, "EXEC it again", &exec(0, vec![Value::Integer(41)]));
    d.same(
        &mut p,
        "PREPARE UPDATE m SET x = ? WHERE x > 39",
        &prepare("UPDATE m SET x = ? WHERE x > 39"),
    );
    d.same(
        &mut p,
        "EXEC the UPDATE",
        &exec(1, vec![Value::Integer(50)]),
    );
    d.same(
        &mut p,
        "PREPARE DELETE FROM m WHERE x = 50",
        &prepare("DELETE FROM m WHERE x = 50"),
    );
    d.same(&mut p, "EXEC the DELETE without tuple", &exec(2, vec![]));
    d.same(&mut p, "FINALIZE 2", &finalize(2));
    d.same(&mut p, "FINALIZE 1", &finalize(1));
    d.same(&mut p, "FINALIZE 0", &finalize(0));
    // Counters are per connection.
    let mut q = d.pair_open("counters");
    d.same(
        &mut q,
        "a second connection's first EXEC_SQL",
        &exec_sql("CREATE TABLE m3(z)", vec![]),
    );
    d.same(
        &mut q,
        "its first INSERT",
        &exec_sql("INSERT INTO m3 VALUES(1)", vec![]),
    );
    d.same(
        &mut p,
        "the first connection's counters after that",
        &exec_sql("SELECT 1 WHERE 0", vec![]),
    );
    d.same(
        &mut p,
        "final content",
        &query_sql("SELECT rowid, x FROM m ORDER BY rowid", vec![]),
    );
    // Last: after the largest rowid, SQLite picks new rowids at random.
    d.same(
        &mut p,
        "INSERT with the largest rowid",
        &exec_sql(
            "INSERT INTO m(rowid, x) VALUES(9223372036854775807, 0)",
            vec![],
        ),
    );
    d.finish();
}

// ---------------------------------------------------------------------------
// 6. Deliberate differences
// ---------------------------------------------------------------------------

/// Where our server answers differently on purpose (README "Deliberate
/// differences from the C server", spec §11.1 and §13 "Rust" column): our
/// documented answer is asserted and, when safe, the C server's recorded
/// 1.11.1 answer too. No bytes are compared. Requests that crash or stall
/// the C server go to ours only.
#[test]
fn deliberate_differences() {
    let Some(mut d) = Diff::start("deliberate_differences") else {
        return;
    };
    let mut p = d.pair_open("deliberate");
    d.same(
        &mut p,
        "CREATE TABLE t",
        &exec_sql("CREATE TABLE t(a)", vec![]),
    );
    let c_not_an_error: &Check = &fails(1, "not an error");
    // §13 #30: QUERY_SQL of statements without result columns.
    d.deliberate(
        &mut p,
        "QUERY_SQL CREATE TABLE q(x)",
        &query_sql("CREATE TABLE q(x)", vec![]),
        is(failure(
            1,
            "statement has no result columns: send it with EXEC",
        )),
        Some(c_not_an_error),
    );
    d.deliberate(
        &mut p,
        "QUERY_SQL INSERT",
        &query_sql("INSERT INTO t VALUES(1)", vec![]),
        is(failure(
            1,
            "statement has no result columns: send it with EXEC",
        )),
        Some(c_not_an_error),
    );
    d.same(
        &mut p,
        "neither was executed",
        &query_sql("SELECT (SELECT count(*) FROM sqlite_master WHERE name = 'q'), (SELECT count(*) FROM t)", vec![]),
    );
    // §13 #22/#23: non-empty statement tails (latest rejects them).
    d.deliberate(
        &mut p,
        "QUERY_SQL SELECT 1; SELECT 2",
        &query_sql("SELECT 1; SELECT 2", vec![]),
        is(failure(1, "nonempty statement tail")),
        Some(&rows(vec![vec![Value::Integer(1)]])),
    );
    // A tail that does not compile counts as a statement (latest: it
    // is not empty once compiled).
    d.deliberate(
        &mut p,
        "QUERY_SQL SELECT 1; garbage trailing",
        &query_sql("SELECT 1; garbage trailing", vec![]),
        is(failure(1, "nonempty statement tail")),
        Some(&rows(vec![vec![Value::Integer(1)]])),
    );
    // Whitespace and comments after the statement are no tail.
    d.same(
        &mut p,
        "QUERY_SQL SELECT 1; -- c",
        &query_sql("SELECT 1; -- c", vec![]),
    );
    d.same(
        &mut p,
        "QUERY_SQL SELECT 1 ;  ",
        &query_sql("SELECT 1 ;  ", vec![]),
    );
    // PREPARE with a tail: on the C server it allocates id 0, which we
    // then finalize there only.
    d.deliberate(
        &mut p,
        "PREPARE SELECT 1; SELECT 2",
        &prepare("SELECT 1; SELECT 2"),
        is(failure(1, "nonempty statement tail")),
        Some(&is(h("0200000005000000 0000000000000000 0000000000000000"))),
    );
    d.deliberate(
        &mut p,
        "FINALIZE it (C only)",
        &finalize(0),
        is(failure(12, "no statement with the given id")),
        Some(&is(h("0100000008000000 0000000000000000"))),
    );
    d.deliberate(
        &mut p,
        "PREPARE SELECT 1; garbage trailing",
        &prepare("SELECT 1; garbage trailing"),
        is(failure(1, "nonempty statement tail")),
        Some(&is(h("0200000005000000 0000000000000000 0000000000000000"))),
    );
    d.deliberate(
        &mut p,
        "FINALIZE it (C only)",
        &finalize(0),
        is(failure(12, "no statement with the given id")),
        Some(&is(h("0100000008000000 0000000000000000"))),
    );
    // §13 #28/#39: a row-producing statement through EXEC / EXEC_SQL.
    let c_another_row: &Check = &fails(100, "another row available");
    d.same(&mut p, "PREPARE SELECT 1", &prepare("SELECT 1"));
    d.deliberate(
        &mut p,
        "EXEC of a prepared SELECT",
        &exec(0, vec![]),
        is(failure(
            1,
            "rows yielded when none expected for EXEC request",
        )),
        Some(c_another_row),
    );
    d.same(&mut p, "FINALIZE the SELECT", &finalize(0));
    // §13 #38: QUERY of a prepared INSERT.
    d.same(
        &mut p,
        "PREPARE INSERT INTO t VALUES(5)",
        &prepare("INSERT INTO t VALUES(5)"),
    );
    d.deliberate(
        &mut p,
        "QUERY of a prepared INSERT",
        &query(0, vec![]),
        is(failure(
            1,
            "statement has no result columns: send it with EXEC",
        )),
        Some(c_not_an_error),
    );
    d.same(&mut p, "FINALIZE the INSERT", &finalize(0));
    d.same(
        &mut p,
        "the INSERT was not executed",
        &query_sql("SELECT count(*) FROM t", vec![]),
    );
    // §13 #32/#37: a prepared statement re-executed without a tuple: 1.11.1
    // keeps the previous bindings, ours (as latest) binds NULL.
    d.same(&mut p, "PREPARE SELECT ?, ?", &prepare("SELECT ?, ?"));
    d.same(
        &mut p,
        "QUERY it with (1, 2)",
        &query(0, vec![Value::Integer(1), Value::Integer(2)]),
    );
    d.deliberate(
        &mut p,
        "QUERY it with (3) only",
        &query(0, vec![Value::Integer(3)]),
        rows(vec![vec![Value::Integer(3), Value::Null]]),
        Some(&rows(vec![vec![Value::Integer(3), Value::Integer(2)]])),
    );
    d.same(&mut p, "FINALIZE it", &finalize(0));
    // §13 #25: EXEC_SQL parameters over two statements (latest binds them
    // in order; 1.11.1 fails and runs nothing). Own connections: the
    // databases differ afterwards.
    let mut q = d.pair_open("spread");
    d.same(
        &mut q,
        "CREATE TABLE s",
        &exec_sql("CREATE TABLE s(x)", vec![]),
    );
    d.deliberate(
        &mut q,
        "EXEC_SQL INSERT ?; INSERT ? with 2 values",
        &exec_sql(
            "INSERT INTO s VALUES(?); INSERT INTO s VALUES(?)",
            vec![Value::Integer(10), Value::Integer(11)],
        ),
        is(result(2, 1)),
        Some(&is(failure(25, "column index out of range"))),
    );
    // §13 #26: blank text after the last `;`: 1.11.1 answers RESULT(0, 0).
    let mut q = d.pair_open("blank");
    d.same(
        &mut q,
        "CREATE TABLE m",
        &exec_sql("CREATE TABLE m(x)", vec![]),
    );
    d.deliberate(
        &mut q,
        "EXEC_SQL INSERT INTO m VALUES(1); (trailing space)",
        &exec_sql("INSERT INTO m VALUES(1); ", vec![]),
        is(result(1, 1)),
        Some(&is(result(0, 0))),
    );
    // §13 #33: a parameter type code 0 / UNIXTIME.
    let c_parse: &Check = &|reply| match decode(&reply[0], &ResponseContext::default()) {
        Ok(Response::Failure(f)) if f.code == 1005 => Ok(()),
        other => Err(format!("expected FAILURE(1005, …), got {other:?}")),
    };
    d.deliberate(
        &mut p,
        "QUERY_SQL SELECT ? with a type-0 parameter",
        &h("0400000009000000 0000000000000000 53454c454354203f 0000000000000000 0100000000000000"),
        fails(1005, "invalid parameters: "),
        Some(c_parse),
    );
    d.deliberate(
        &mut p,
        "QUERY_SQL SELECT ? with a UNIXTIME parameter",
        &h("0500000009000000 0000000000000000 53454c454354203f 0000000000000000 0109000000000000 0100000000000000"),
        fails(1005, "invalid parameters: "),
        Some(c_parse),
    );
    // §11.1: a schema-1 tuple of 300 parameters (1.11.1: FAILURE 1005).
    let marks = vec!["?"; 300].join(", ");
    let sum = format!("SELECT {}", marks.replace(", ", " + "));
    d.deliberate(
        &mut p,
        "QUERY_SQL with a schema-1 tuple of 300 parameters",
        &query_sql(&sum, (1..=300).map(Value::Integer).collect()),
        rows(vec![vec![Value::Integer(45150)]]),
        Some(c_parse),
    );
    // §13 #16: blob padding in rows (1.11.1 leaves stale bytes).
    let blob_reply = |zero_padding: bool| {
        move |reply: &[Vec<u8>]| {
            // Header, column count, name "x'00ff'", row header, length,
            // then the 2 blob bytes and 6 padding bytes, then DONE.
            let m = &reply[0];
            let fixed = h(
                "0600000007000000 0100000000000000 7827303066662700 0400000000000000 0200000000000000",
            );
            if reply.len() != 1
                || m.len() != 56
                || m[..40] != fixed[..]
                || m[40..42] != [0x00, 0xff]
                || m[48..] != [0xff; 8]
            {
                return Err("not the expected ROWS layout".to_owned());
            }
            if zero_padding && m[42..48] != [0; 6] {
                return Err("padding is not zero".to_owned());
            }
            Ok(())
        }
    };
    d.deliberate(
        &mut p,
        "SELECT x'00ff' (padding zero in ours)",
        &query_sql("SELECT x'00ff'", vec![]),
        blob_reply(true),
        Some(&blob_reply(false)),
    );
    d.same_node(
        &mut p,
        "LEADER: the C connection is still in step",
        &word(LEADER, 0),
        ROLES,
    );

    // Ours only: these crash or stall 1.11.1 (§13).
    let mut p = d.pair_open("crashers");
    d.same(
        &mut p,
        "CREATE TABLE tt",
        &exec_sql(
            "CREATE TABLE tt(d DATETIME, b BOOLEAN); CREATE TABLE r(id INTEGER PRIMARY KEY, v)",
            vec![],
        ),
    );
    for (what, request, expected) in [
        (
            "HEARTBEAT (#47)",
            word(2, 0),
            failure(1005, "unrecognized request type"),
        ),
        (
            "request type 20 (#47)",
            word(20, 0),
            failure(1005, "unrecognized request type"),
        ),
        (
            "request type 99 (#47)",
            word(99, 0),
            failure(1005, "unrecognized request type"),
        ),
        (
            "DESCRIBE format 1 (#53)",
            word(DESCRIBE, 1),
            failure(15, "bad format version"),
        ),
        (
            "INSERT REAL/TEXT into DATETIME/BOOLEAN",
            exec_sql("INSERT INTO tt VALUES(1.5, 'yes'), (x'01', 2.5)", vec![]),
            result(2, 2),
        ),
    ] {
        d.deliberate(&mut p, what, &request, is(expected), None);
    }
    // §13 #6: REAL in DATETIME, TEXT/REAL in BOOLEAN, BLOB in DATETIME.
    d.deliberate(
        &mut p,
        "SELECT REAL/BLOB from DATETIME, TEXT/REAL from BOOLEAN (#6)",
        &query_sql("SELECT d, b FROM tt", vec![]),
        rows(vec![
            vec![Value::Float(1.5), text("yes")],
            vec![Value::Blob(vec![1]), Value::Float(2.5)],
        ]),
        None,
    );
    // §13 #45: FINALIZE twice below a live id.
    d.deliberate(
        &mut p,
        "PREPARE SELECT 1 (id 0)",
        &prepare("SELECT 1"),
        is(h("0200000005000000 0000000000000000 0000000000000000")),
        None,
    );
    d.deliberate(
        &mut p,
        "PREPARE SELECT 2 (id 1)",
        &prepare("SELECT 2"),
        is(h("0200000005000000 0000000001000000 0000000000000000")),
        None,
    );
    d.deliberate(
        &mut p,
        "FINALIZE 0",
        &finalize(0),
        is(h("0100000008000000 0000000000000000")),
        None,
    );
    for (what, request) in [
        ("FINALIZE 0 again (#45)", finalize(0)),
        ("EXEC 0 (#45)", exec(0, vec![])),
        ("QUERY 0 (#45)", query(0, vec![])),
    ] {
        d.deliberate(
            &mut p,
            what,
            &request,
            is(failure(12, "no statement with the given id")),
            None,
        );
    }
    // §13 #21: a step error mid-query.
    d.deliberate(
        &mut p,
        "SELECT abs(-9223372036854775808) (#21)",
        &query_sql("SELECT abs(-9223372036854775808)", vec![]),
        is(failure(1, "integer overflow")),
        None,
    );
    // §13 #29: INSERT … RETURNING through QUERY_SQL is executed and kept.
    d.deliberate(
        &mut p,
        "QUERY_SQL INSERT … RETURNING (#29)",
        &query_sql("INSERT INTO r(v) VALUES ('a') RETURNING id, v", vec![]),
        rows(vec![vec![Value::Integer(1), text("a")]]),
        None,
    );
    // §13 #20: column names filling a batch still give a row per message.
    let alias = "a".repeat(5000);
    d.deliberate(
        &mut p,
        "SELECT 3 rows with a 5000-character alias (#20)",
        &query_sql(&format!("SELECT id AS {alias} FROM r UNION ALL SELECT 2 UNION ALL SELECT 3"), vec![]),
        |reply: &[Vec<u8>]| {
            rows(vec![vec![Value::Integer(1)], vec![Value::Integer(2)], vec![Value::Integer(3)]])(reply)?;
            let empty_part = reply.iter().any(|m| {
                matches!(decode(m, &ResponseContext::default()), Ok(Response::Rows(r)) if r.rows.is_empty() && r.end == RowsEnd::Part)
            });
            if empty_part { Err("a PART message without rows".into()) } else { Ok(()) }
        },
        None,
    );
    // §13 #43: OPEN "" and ":memory:".
    let mut q = d.pair();
    d.deliberate(
        &mut q,
        "OPEN \"\" (#43)",
        &open(""),
        is(failure(14, "unable to open database file")),
        None,
    );
    d.deliberate(
        &mut q,
        "OPEN \":memory:\" (#43)",
        &open(":memory:"),
        is(failure(14, "unable to open database file")),
        None,
    );
    // §13 #52: a zero-word header closes the connection.
    let sent = q.ours.send(&h("0000000000000000"));
    d.io("words = 0", sent);
    d.deliberate += 1;
    if q.ours.read_until_closed() != Some(Vec::new()) {
        d.failures.push("OUR DOCUMENTED ANSWER NOT GIVEN in words = 0 (#52): the connection was not closed silently".into());
    }
    d.finish();
}

// ---------------------------------------------------------------------------
// 7. Differences these tests found, fixed in the server: now regressions
// ---------------------------------------------------------------------------

/// Spec §7.7: the C server checks the message size *before* stepping to the
/// next row, so when the row that brings a message to 4096 bytes is the
/// last one it still ends that message with PART and sends a final
/// `[0 rows, DONE]` message.
#[test]
fn batching_when_the_last_row_fills_a_message() {
    let Some(mut d) = Diff::start("batching_when_the_last_row_fills_a_message") else {
        return;
    };
    let mut p = d.pair_open("batching");
    d.same(
        &mut p,
        "CREATE TABLE big",
        &exec_sql("CREATE TABLE big(n INTEGER, s TEXT)", vec![]),
    );
    d.same(
        &mut p,
        "INSERT 340 rows",
        &exec_sql(
            "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 340) INSERT INTO big SELECT i, 'row' || i FROM c",
            vec![],
        ),
    );
    d.same(
        &mut p,
        "SELECT of exactly one batch's worth of rows (170)",
        &query_sql("SELECT n, s FROM big LIMIT 170", vec![]),
    );
    d.same(
        &mut p,
        "SELECT of exactly two batches' worth of rows (340)",
        &query_sql("SELECT n, s FROM big", vec![]),
    );
    // §13 #14: one row larger than a batch goes alone, then [0 rows, DONE].
    d.same(
        &mut p,
        "CREATE TABLE blobs",
        &exec_sql("CREATE TABLE blobs(b BLOB)", vec![]),
    );
    d.same(
        &mut p,
        "INSERT two 1 MiB blobs",
        &exec_sql(
            "INSERT INTO blobs VALUES (zeroblob(1048576)), (zeroblob(1048576))",
            vec![],
        ),
    );
    d.same(
        &mut p,
        "SELECT one 1 MiB blob",
        &query_sql("SELECT b FROM blobs LIMIT 1", vec![]),
    );
    d.same(
        &mut p,
        "SELECT two 1 MiB blobs",
        &query_sql("SELECT b FROM blobs", vec![]),
    );
    d.same(
        &mut p,
        "SELECT a 1 MiB blob parameter",
        &query_sql("SELECT ?", vec![Value::Blob(vec![0xa5; 1 << 20])]),
    );
    // §13 #17: 255 parameters, 255 result columns, one row.
    let marks = vec!["?"; 255].join(", ");
    d.same(
        &mut p,
        "SELECT 255 parameters (255 columns, 1 row)",
        &query_sql(
            &format!("SELECT {marks}"),
            (0..255).map(Value::Integer).collect(),
        ),
    );
    d.finish();
}

/// Spec §13 #12: a result text with an embedded NUL is truncated at the
/// NUL (the wire cannot carry it).
#[test]
fn result_text_with_nul_is_truncated() {
    let Some(mut d) = Diff::start("result_text_with_nul_is_truncated") else {
        return;
    };
    let mut p = d.pair_open("nul");
    d.same(
        &mut p,
        "SELECT 'ab'||char(0)||'cd'",
        &query_sql("SELECT 'ab'||char(0)||'cd'", vec![]),
    );
    d.same(
        &mut p,
        "CREATE TABLE n, INSERT a text with NUL",
        &exec_sql("CREATE TABLE n(t TEXT)", vec![]),
    );
    d.same(
        &mut p,
        "INSERT a text with NUL",
        &exec_sql(
            "INSERT INTO n VALUES ('x'||char(0)||'y'), ('plain')",
            vec![],
        ),
    );
    d.same(&mut p, "SELECT it", &query_sql("SELECT t FROM n", vec![]));
    d.finish();
}

/// Spec §7.5 / §13 #28: EXEC_SQL of a statement that yields a row fails:
/// 1.11.1 with FAILURE(100, "another row available"), latest with
/// FAILURE(1, "rows yielded when none expected for EXEC request"); the spec
/// recommends either.
#[test]
fn exec_sql_of_a_row_producing_statement() {
    let Some(mut d) = Diff::start("exec_sql_of_a_row_producing_statement") else {
        return;
    };
    let mut p = d.pair_open("rows_in_exec");
    // §13 #28: EXEC_SQL of a row-producing statement (1.11.1: code 100;
    // latest: code 1; the spec recommends either).
    d.deliberate(
        &mut p,
        "EXEC_SQL SELECT 1",
        &exec_sql("SELECT 1", vec![]),
        either(
            fails(100, "another row available"),
            fails(1, "rows yielded when none expected for EXEC request"),
        ),
        Some(&fails(100, "another row available")),
    );
    d.same(
        &mut p,
        "SELECT 1 WHERE 0 yields no row and succeeds",
        &exec_sql("SELECT 1 WHERE 0", vec![]),
    );
    d.finish();
}
