//! Captured exchanges: real traffic between go-dqlite clients (1.11.x and
//! v3) and the C dqlite server (libdqlite 1.11.1), recorded into
//! `tests/fixtures/*.bin` (format and provenance in `fixtures/README.md`).
//!
//! Every message of both directions must decode, with the context a real
//! client has (the request it sent), and re-encode to the recorded bytes.
//! The recorded bytes may hold garbage in padding (go-dqlite's stale tuple
//! header bytes, the C server's blob padding); there the re-encoding must
//! have zeros, and nothing else may differ.

#![allow(clippy::unwrap_used)] // Test helpers panic on purpose.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::BytesMut;
use dqlite_protocol::request::Request;
use dqlite_protocol::response::{Response, RowsEnd};
use dqlite_protocol::{Frame, FrameLimits, ProtocolVersion, ResponseContext, Value};

/// One recorded connection: the client's bytes and the server's bytes.
struct Capture {
    name: String,
    client: Vec<u8>,
    server: Vec<u8>,
}

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "bin"))
        .collect();
    files.sort();
    files
}

/// Records: direction byte ('C' or 'S'), u32 LE length, bytes.
fn load(path: &Path) -> Capture {
    let data = std::fs::read(path).unwrap();
    let (mut client, mut server) = (Vec::new(), Vec::new());
    let mut rest = &data[..];
    while let [direction, a, b, c, d, tail @ ..] = rest {
        let len = usize::try_from(u32::from_le_bytes([*a, *b, *c, *d])).unwrap();
        assert!(
            len <= tail.len(),
            "{}: record runs past the end",
            path.display()
        );
        let (bytes, tail) = tail.split_at(len);
        match direction {
            b'C' => client.extend_from_slice(bytes),
            b'S' => server.extend_from_slice(bytes),
            other => panic!("{}: bad direction byte {other:#x}", path.display()),
        }
        rest = tail;
    }
    assert!(rest.is_empty(), "{}: trailing bytes", path.display());
    Capture {
        name: path.file_name().unwrap().to_string_lossy().into_owned(),
        client,
        server,
    }
}

fn frames(name: &str, stream: &[u8]) -> Vec<(Vec<u8>, Frame)> {
    let limits = FrameLimits {
        max_body: 256 * 1024 * 1024,
    };
    let mut buf = BytesMut::from(stream);
    let mut out = Vec::new();
    while !buf.is_empty() {
        let raw = buf.clone();
        let frame = limits
            .split_frame(&mut buf)
            .unwrap()
            .unwrap_or_else(|| panic!("{name}: stream ends mid-message"));
        out.push((raw[..raw.len() - buf.len()].to_vec(), frame));
    }
    out
}

/// How a re-encoding compares with the recorded bytes.
#[derive(Debug, Default)]
struct Tally {
    identical: usize,
    padding_zeroed: usize,
}

impl Tally {
    fn check(&mut self, what: &str, recorded: &[u8], encoded: &[u8]) {
        assert_eq!(recorded.len(), encoded.len(), "{what}: length differs");
        if recorded == encoded {
            self.identical += 1;
            return;
        }
        for (i, (r, e)) in recorded.iter().zip(encoded).enumerate() {
            assert!(
                r == e || *e == 0,
                "{what}: byte {i} re-encoded as {e:#04x}, recorded {r:#04x}"
            );
        }
        self.padding_zeroed += 1;
    }
}

/// A decoded exchange, for content checks.
struct Exchange {
    requests: Vec<Request>,
    responses: Vec<Response>,
    requests_tally: Tally,
    responses_tally: Tally,
}

fn replay(capture: &Capture) -> Exchange {
    let name = &capture.name;
    let version = ProtocolVersion::decode(&capture.client)
        .unwrap()
        .unwrap_or_else(|| panic!("{name}: no handshake"));
    let requests = frames(name, &capture.client[8..]);
    let responses = frames(name, &capture.server);
    let mut exchange = Exchange {
        requests: Vec::new(),
        responses: Vec::new(),
        requests_tally: Tally::default(),
        responses_tally: Tally::default(),
    };
    let mut answers = responses.iter();
    for (raw, frame) in &requests {
        let request = Request::decode_frame(frame).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut buf = BytesMut::new();
        request.encode(&mut buf).unwrap();
        exchange
            .requests_tally
            .check(&format!("{name}: {request:?}"), raw, &buf);
        let ctx = ResponseContext::for_request(version, &request);
        let streams = matches!(request, Request::Query(_) | Request::QuerySql(_));
        exchange.requests.push(request);
        // A query is answered by ROWS messages up to DONE (or a FAILURE);
        // anything else by exactly one message.
        loop {
            let (raw, frame) = answers
                .next()
                .unwrap_or_else(|| panic!("{name}: request without an answer"));
            let response =
                Response::decode_frame(frame, &ctx).unwrap_or_else(|e| panic!("{name}: {e}"));
            let mut buf = BytesMut::new();
            response.encode(&mut buf).unwrap();
            exchange.responses_tally.check(
                &format!("{name}: response {:?}", response.response_type()),
                raw,
                &buf,
            );
            let more =
                streams && matches!(&response, Response::Rows(rows) if rows.end == RowsEnd::Part);
            exchange.responses.push(response);
            if !more {
                break;
            }
        }
    }
    assert!(
        answers.next().is_none(),
        "{name}: answers without a request"
    );
    exchange
}

#[test]
fn every_captured_message_decodes_and_re_encodes() {
    let files = fixtures();
    assert!(!files.is_empty(), "no fixtures in tests/fixtures");
    let mut totals: BTreeMap<&str, usize> = BTreeMap::new();
    for path in &files {
        let capture = load(path);
        let exchange = replay(&capture);
        assert!(
            !exchange.requests.is_empty(),
            "{}: no requests",
            capture.name
        );
        *totals.entry("files").or_default() += 1;
        *totals.entry("requests").or_default() += exchange.requests.len();
        *totals.entry("responses").or_default() += exchange.responses.len();
        *totals.entry("requests identical").or_default() += exchange.requests_tally.identical;
        *totals.entry("requests with padding zeroed").or_default() +=
            exchange.requests_tally.padding_zeroed;
        *totals.entry("responses identical").or_default() += exchange.responses_tally.identical;
        *totals.entry("responses with padding zeroed").or_default() +=
            exchange.responses_tally.padding_zeroed;
    }
    println!("{totals:#?}");
}

/// All requests and responses of the fixtures whose name starts with `prefix`.
fn exchanges(prefix: &str) -> Vec<Exchange> {
    let found: Vec<Exchange> = fixtures()
        .iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .map(|p| replay(&load(p)))
        .collect();
    assert!(!found.is_empty(), "no fixture named {prefix}*");
    found
}

fn all_rows(exchanges: &[Exchange]) -> Vec<Vec<Value>> {
    exchanges
        .iter()
        .flat_map(|e| &e.responses)
        .filter_map(|r| match r {
            Response::Rows(rows) => Some(rows.rows.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn all_params(exchanges: &[Exchange]) -> Vec<Value> {
    exchanges
        .iter()
        .flat_map(|e| &e.requests)
        .flat_map(|r| match r {
            Request::Exec(x) => x.params.values.clone(),
            Request::Query(x) => x.params.values.clone(),
            Request::ExecSql(x) => x.params.values.clone(),
            Request::QuerySql(x) => x.params.values.clone(),
            _ => Vec::new(),
        })
        .collect()
}

fn failure_codes(exchanges: &[Exchange]) -> Vec<u64> {
    exchanges
        .iter()
        .flat_map(|e| &e.responses)
        .filter_map(|r| match r {
            Response::Failure(f) => Some(f.code),
            _ => None,
        })
        .collect()
}

fn text(s: &str) -> Value {
    Value::Text(s.as_bytes().to_vec())
}

#[test]
fn go_values_reach_the_c_server_and_come_back() {
    for prefix in ["v1-driver-types", "v3-driver"] {
        let found = exchanges(prefix);
        let sent = all_params(&found);
        let received: Vec<Value> = all_rows(&found).into_iter().flatten().collect();
        for value in [
            Value::Integer(i64::MIN),
            Value::Integer(i64::MAX),
            Value::Float(f64::INFINITY),
            Value::Float(f64::NEG_INFINITY),
            text("héllo ✓ 日本"),
            text(""),
            Value::Blob(vec![]),
            Value::Null,
            Value::Boolean(1),
            Value::Boolean(0),
        ] {
            assert!(sent.contains(&value), "{prefix}: {value:?} not sent");
            assert!(
                received.contains(&value),
                "{prefix}: {value:?} not received"
            );
        }
        // -0.0 goes out with its sign, but SQLite stores an integral REAL as
        // an integer on disk, so the table gives back +0.0.
        assert!(
            sent.contains(&Value::Float(-0.0)),
            "{prefix}: -0.0 not sent"
        );
        assert!(
            received.contains(&Value::Float(0.0)),
            "{prefix}: 0.0 not received"
        );
        // go-dqlite sends time.Time as ISO8601 text; DATETIME columns come
        // back typed ISO8601, and a NULL DATETIME as an empty ISO8601.
        assert!(
            sent.iter()
                .any(|v| matches!(v, Value::Iso8601(t) if !t.is_empty()))
        );
        assert!(
            received
                .iter()
                .any(|v| matches!(v, Value::Iso8601(t) if !t.is_empty()))
        );
        assert!(
            received.contains(&Value::Iso8601(vec![])),
            "{prefix}: NULL datetime"
        );
    }
}

#[test]
fn large_results_stream_in_parts_and_interrupt_ends_with_empty() {
    let found = exchanges("v1-large");
    let parts = found
        .iter()
        .flat_map(|e| &e.responses)
        .filter(|r| matches!(r, Response::Rows(rows) if rows.end == RowsEnd::Part))
        .count();
    assert!(parts >= 20, "{parts} PART messages");
    // Two full SELECTs of 3000 rows (the second interrupted, but 1.11.1
    // streams to the end anyway).
    let rows = all_rows(&found).len();
    assert!(rows >= 6000, "{rows} rows");
    let e = &found[0];
    let interrupt = e
        .requests
        .iter()
        .position(|r| matches!(r, Request::Interrupt(_)))
        .expect("an INTERRUPT");
    assert!(matches!(e.requests[interrupt - 1], Request::QuerySql(_)));
    assert!(e.responses.iter().any(|r| matches!(r, Response::Empty(_))));
}

#[test]
fn sql_errors_carry_extended_codes() {
    let codes = failure_codes(&exchanges("v1-errors"));
    for code in [1, 2067, 1299, 25] {
        assert!(codes.contains(&code), "code {code} missing from {codes:?}");
    }
}

#[test]
fn v3_sends_a_schema_one_tuple_above_255_parameters() {
    let found = exchanges("v3-driver");
    let wide = found
        .iter()
        .flat_map(|e| &e.requests)
        .filter(|r| match r {
            Request::QuerySql(q) => {
                q.params.schema == dqlite_protocol::Schema::V1 && q.params.values.len() == 300
            }
            Request::ExecSql(q) => {
                q.params.schema == dqlite_protocol::Schema::V1 && q.params.values.len() == 300
            }
            _ => false,
        })
        .count();
    assert_eq!(wide, 2);
    // libdqlite 1.11.1 does not understand schema 1 and answers DQLITE_PARSE.
    let parse_failures = failure_codes(&found)
        .into_iter()
        .filter(|&c| c == dqlite_protocol::codes::DQLITE_PARSE)
        .count();
    assert_eq!(parse_failures, 2);
}

#[test]
fn client_api_cluster_dump_and_metadata() {
    let found = exchanges("v1-client");
    let responses: Vec<&Response> = found.iter().flat_map(|e| &e.responses).collect();
    let servers = responses
        .iter()
        .find_map(|r| match r {
            Response::Servers(s) => Some(s),
            _ => None,
        })
        .expect("SERVERS");
    assert_eq!(servers.nodes.len(), 1);
    assert_eq!(servers.nodes[0].role, Some(dqlite_protocol::Role::Voter));
    assert!(
        responses
            .iter()
            .any(|r| matches!(r, Response::Metadata(m) if m.weight == 7))
    );
    let files = responses
        .iter()
        .find_map(|r| match r {
            Response::Files(f) => Some(f),
            _ => None,
        })
        .expect("FILES");
    let names: Vec<&str> = files.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["capture_tiny", "capture_tiny-wal"]);
    // An SQLite database header and a WAL header.
    assert!(files.files[0].data.starts_with(b"SQLite format 3\0"));
    assert_eq!(files.files[1].data[..4], [0x37, 0x7f, 0x06, 0x82]);
}
