//! The tokio-util codecs on arbitrary streams: the server codec (handshake
//! then request frames) and the client codec (response frames), each frame
//! decoded as the IO crates will.
#![no_main]

use bytes::BytesMut;
use dqlite_protocol::codec::{ClientCodec, ServerCodec, ServerInbound};
use dqlite_protocol::{FrameLimits, Request, Response, ResponseContext};
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let limits = FrameLimits { max_body: 64 * 1024 };
    let mut server = ServerCodec::new(limits);
    let mut buf = BytesMut::from(data);
    while let Ok(Some(item)) = server.decode(&mut buf) {
        if let ServerInbound::Frame(frame) = item {
            let _ = Request::decode_frame(&frame);
        }
    }
    let _ = server.decode_eof(&mut buf);

    let mut client = ClientCodec::new(limits);
    let mut buf = BytesMut::from(data);
    while let Ok(Some(frame)) = client.decode(&mut buf) {
        let _ = Response::decode_frame(&frame, &ResponseContext::default());
    }
    let _ = client.decode_eof(&mut buf);
});
