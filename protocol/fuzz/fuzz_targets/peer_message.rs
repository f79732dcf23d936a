//! Node-to-node messages as a node reads them: bytes cut into frames
//! (a 2-byte length each, here), put together by the `Assembler`, decoded
//! as a call, and judged by the admission checks of a node (id 1,
//! members 1 to 3, term 5) as if node 2 had sent it. Nothing may panic,
//! and a call that is let through must satisfy what admission promises
//! (see `peer_common.rs`).
#![no_main]

use dqlite_server::internals::peer_wire::{self, Assembler, PeerRequest};
use libfuzzer_sys::fuzz_target;

#[path = "peer_common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let mut assembler = Assembler::with_limit(1 << 20);
    let mut rest = data;
    while let Some((len, tail)) = rest.split_first_chunk::<2>() {
        let len = usize::from(u16::from_le_bytes(*len)).min(tail.len());
        let (frame, tail) = tail.split_at(len);
        rest = tail;
        match assembler.push(frame) {
            Ok(Some(message)) => {
                if let Ok(request) = peer_wire::decode::<PeerRequest>(&message) {
                    common::judge(2, &request);
                }
            }
            Ok(None) => {}
            Err(_) => return,
        }
    }
});
