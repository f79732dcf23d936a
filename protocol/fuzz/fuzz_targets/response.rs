//! `Response::decode` under every context: whatever decodes re-encodes
//! (except the two shapes a correct server never sends) and decodes to the
//! same response.
#![no_main]

use bytes::BytesMut;
use dqlite_protocol::{EncodeError, Header, ProtocolVersion, Response, ResponseContext};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [kind, schema, flags, body @ ..] = data else {
        return;
    };
    let body = &body[..body.len() / 8 * 8];
    let Ok(words) = u32::try_from(body.len() / 8) else {
        return;
    };
    let header = Header {
        words,
        kind: kind % 12,
        schema: schema % 3,
        extra: 0,
    };
    let ctx = ResponseContext {
        version: if flags & 1 == 0 { ProtocolVersion::V1 } else { ProtocolVersion::Legacy },
        servers_with_roles: flags & 2 == 0,
    };
    let Ok(response) = Response::decode(header, body, &ctx) else {
        return;
    };
    let mut buf = BytesMut::new();
    match response.encode(&mut buf) {
        Ok(()) => {}
        // Readable but refused on output: zero-row PART, unaligned files.
        Err(EncodeError::EmptyPart | EncodeError::UnalignedFile { .. }) => return,
        Err(e) => panic!("decoded response does not re-encode: {e}"),
    }
    let frame = dqlite_protocol::Frame::from_message(&buf, &Default::default()).expect("whole frame");
    assert_eq!(Response::decode_frame(&frame, &ctx).expect("re-decodes"), response);
});
