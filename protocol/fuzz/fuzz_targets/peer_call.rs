//! Node-to-node calls built field by field from the input (so that every
//! input is a well-formed call, and the fuzzer explores the values:
//! terms, indexes, node ids, entry runs, snapshot offsets), judged by the
//! admission checks of a node (id 1, members 1 to 3, term 5) as if node
//! `from` sent them. Nothing may panic, and a call let through must
//! satisfy what admission promises (see `peer_common.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "peer_common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let mut input = common::Input(data);
    let from = input.pick(&[1, 2, 3, 4, 0, u64::MAX]);
    let request = common::call(&mut input);
    common::judge(from, &request);
});
