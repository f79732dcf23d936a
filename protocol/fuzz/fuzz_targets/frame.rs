//! `FrameLimits::split_frame` over an arbitrary stream fed in arbitrary
//! chunks: frames come out whole, nothing is reserved beyond the limit.
#![no_main]

use bytes::BytesMut;
use dqlite_protocol::FrameLimits;
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let limits = FrameLimits { max_body: LIMIT };
    let mut buf = BytesMut::new();
    for piece in stream.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match limits.split_frame(&mut buf) {
                Ok(Some(frame)) => {
                    assert_eq!(frame.body.len() as u64, frame.header.body_len());
                    assert!(frame.body.len() <= LIMIT && !frame.body.is_empty());
                }
                Ok(None) => break,
                Err(_) => return,
            }
            assert!(buf.capacity() <= LIMIT + 8 + stream.len());
        }
    }
});
