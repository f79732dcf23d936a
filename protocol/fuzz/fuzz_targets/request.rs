//! `Request::decode`: the first two bytes pick the type and schema, the
//! rest (cut to whole words) is the body. Whatever decodes must re-encode
//! and decode to the same request.
#![no_main]

use bytes::BytesMut;
use dqlite_protocol::{Header, Request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [kind, schema, body @ ..] = data else {
        return;
    };
    let body = &body[..body.len() / 8 * 8];
    let Ok(words) = u32::try_from(body.len() / 8) else {
        return;
    };
    let header = Header {
        words,
        kind: kind % 24,
        schema: schema % 3,
        extra: 0,
    };
    let Ok(request) = Request::decode(header, body) else {
        return;
    };
    let mut buf = BytesMut::new();
    request.encode(&mut buf).expect("a decoded request re-encodes");
    let frame = dqlite_protocol::Frame::from_message(&buf, &Default::default()).expect("whole frame");
    assert_eq!(Request::decode_frame(&frame).expect("re-decodes"), request);
});
