//! The node-to-node hello (`dqlite_server::internals::peer_wire::Hello`):
//! whatever decodes took no more bytes than it had, and encodes back to
//! exactly those bytes after the magic word.
#![no_main]

use dqlite_server::internals::peer_wire::Hello;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(Some((hello, len))) = Hello::decode(data) else {
        return;
    };
    assert!(len <= data.len());
    let encoded = hello.encode().expect("a decoded hello re-encodes");
    assert_eq!(&encoded[8..], &data[..len]);
});
