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
        assert!(len <= tail.len(), "{}: record runs past the end", path.display());
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
            let response = Response::decode_frame(frame, &ctx).unwrap_or_else(|e| panic!("{name}: {e}"));
            let mut buf = BytesMut::new();
            response.encode(&mut buf).unwrap();
            exchange
                .responses_tally
                .check(&format!("{name}: response {:?}", response.response_type()), raw, &buf);
            let more = streams && matches!(&response, Response::Rows(rows) if rows.end == RowsEnd::Part);
            exchange.responses.push(response);
            if !more {
                break;
            }
        }
    }
    assert!(answers.next().is_none(), "{name}: answers without a request");
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
        assert!(!exchange.requests.is_empty(), "{}: no requests", capture.name);
        *totals.entry("files").or_default() += 1;
        *totals.entry("requests").or_default() += exchange.requests.len();
        *totals.entry("responses").or_default() += exchange.responses.len();
        *totals.entry("requests identical").or_default() += exchange.requests_tally.identical;
        *totals.entry("requests with padding zeroed").or_default() += exchange.requests_tally.padding_zeroed;
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
