//! `ProtocolVersion::decode`: any 0..n bytes give a version, "need more" or a typed error.
#![no_main]

use dqlite_protocol::ProtocolVersion;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match ProtocolVersion::decode(data) {
        Ok(Some(version)) => assert_eq!(&version.to_bytes()[..], &data[..8]),
        Ok(None) => assert!(data.len() < 8),
        Err(_) => assert!(data.len() >= 8),
    }
});
