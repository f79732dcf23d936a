//! `dqlite_generate_node_id`: the C library's recipe, so that ids drawn by
//! either library look alike.

/// The id the C library derives from `address` at `nanos` nanoseconds of
/// the real-time clock: the last 8 bytes of the SHA-1 of the address
/// followed by `nanos` (both in host byte order, little endian here), read
/// as a little-endian number.
pub fn node_id(address: &[u8], nanos: u64) -> u64 {
    let mut sha = sha1_smol::Sha1::new();
    sha.update(address);
    sha.update(&nanos.to_le_bytes());
    let digest = sha.digest().bytes();
    let mut tail = [0u8; 8];
    tail.copy_from_slice(&digest[12..20]);
    u64::from_le_bytes(tail)
}

/// Nanoseconds of the real-time clock, as `CLOCK_REALTIME` gives them.
pub fn now_nanos() -> u64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_one_at_time_zero_is_the_bootstrap_id() {
        // go-dqlite's app gives the first node of a cluster this id; it is
        // what the C recipe yields for address "1" at time 0.
        assert_eq!(node_id(b"1", 0), dqlite_server::BOOTSTRAP_ID);
    }

    #[test]
    fn ids_differ_by_address_and_time() {
        let a = node_id(b"127.0.0.1:9001", 1_000);
        assert_ne!(a, node_id(b"127.0.0.1:9002", 1_000));
        assert_ne!(a, node_id(b"127.0.0.1:9001", 1_001));
        assert_eq!(a, node_id(b"127.0.0.1:9001", 1_000));
    }
}
