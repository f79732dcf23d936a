//! Compatibility tests: real go-dqlite clients (1.11.x and v3) and the C
//! dqlite server driven against this workspace's server and codec.
//!
//! **Status:** the harness arrives with the server (project issue 3). The
//! codec's compatibility with real go-dqlite/C-server traffic is tested now
//! in `protocol/tests/captured.rs`, against exchanges recorded from them.
