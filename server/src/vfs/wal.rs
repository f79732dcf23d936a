//! The SQLite WAL file format: header, frame headers and checksums, and
//! the wal-index header kept in shared memory. Pure functions, no I/O.

/// Size of the WAL file header.
pub(crate) const WAL_HEADER: usize = 32;
/// Size of a frame header.
pub(crate) const FRAME_HEADER: usize = 24;
/// WAL magic with checksums computed over little-endian words.
const MAGIC_LE: u32 = 0x377f_0682;
/// WAL format version written by SQLite.
const VERSION: u32 = 3_007_000;
/// Size of the two copies of the wal-index header at the start of shm.
pub(crate) const INDEX_HEADERS: usize = 96;

fn be32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Byte size of one frame for a page size.
pub(crate) fn frame_size(page_size: u32) -> usize {
    FRAME_HEADER + page_size as usize
}

/// Byte offset of the end of frame `n` (1-based; 0 means no frames).
pub(crate) fn frames_end(frames: u32, page_size: u32) -> usize {
    if frames == 0 {
        0
    } else {
        WAL_HEADER + frames as usize * frame_size(page_size)
    }
}

/// Page size recorded in a WAL header.
pub(crate) fn header_page_size(wal: &[u8]) -> Option<u32> {
    (wal.len() >= WAL_HEADER).then(|| be32(wal, 8))
}

/// SQLite's WAL checksum over `data` (a multiple of 8 bytes), continuing
/// from `seed`, for little-endian checksum words.
pub(crate) fn checksum(seed: (u32, u32), data: &[u8]) -> (u32, u32) {
    let (mut s1, mut s2) = seed;
    for pair in data.chunks_exact(8) {
        let x0 = u32::from_le_bytes([pair[0], pair[1], pair[2], pair[3]]);
        let x1 = u32::from_le_bytes([pair[4], pair[5], pair[6], pair[7]]);
        s1 = s1.wrapping_add(x0).wrapping_add(s2);
        s2 = s2.wrapping_add(x1).wrapping_add(s1);
    }
    (s1, s2)
}

/// A fresh WAL header for `page_size` with the given salts.
pub(crate) fn new_header(page_size: u32, salts: (u32, u32)) -> [u8; WAL_HEADER] {
    let mut h = [0u8; WAL_HEADER];
    h[0..4].copy_from_slice(&MAGIC_LE.to_be_bytes());
    h[4..8].copy_from_slice(&VERSION.to_be_bytes());
    h[8..12].copy_from_slice(&page_size.to_be_bytes());
    h[16..20].copy_from_slice(&salts.0.to_be_bytes());
    h[20..24].copy_from_slice(&salts.1.to_be_bytes());
    let (c1, c2) = checksum((0, 0), &h[..24]);
    h[24..28].copy_from_slice(&c1.to_be_bytes());
    h[28..32].copy_from_slice(&c2.to_be_bytes());
    h
}

/// The checksum a frame appended after `frames` existing frames chains
/// from: the previous frame's, or the WAL header's.
pub(crate) fn chain_seed(wal: &[u8], frames: u32, page_size: u32) -> (u32, u32) {
    let at = if frames == 0 {
        24
    } else {
        frames_end(frames, page_size) - frame_size(page_size) + 16
    };
    (be32(wal, at), be32(wal, at + 4))
}

/// Appends one frame (header and page) to `wal`, chaining its checksum
/// from `seed`; returns the frame's checksum.
pub(crate) fn append_frame(
    wal: &mut Vec<u8>,
    seed: (u32, u32),
    page_no: u32,
    commit_size: u32,
    page: &[u8],
) -> (u32, u32) {
    let mut header = [0u8; FRAME_HEADER];
    header[0..4].copy_from_slice(&page_no.to_be_bytes());
    header[4..8].copy_from_slice(&commit_size.to_be_bytes());
    header[8..16].copy_from_slice(&wal[16..24]);
    let sum = checksum(checksum(seed, &header[..8]), page);
    header[16..20].copy_from_slice(&sum.0.to_be_bytes());
    header[20..24].copy_from_slice(&sum.1.to_be_bytes());
    wal.extend_from_slice(&header);
    wal.extend_from_slice(page);
    sum
}

/// Page number and commit size (non-zero on a commit frame) of a frame header.
pub(crate) fn frame_info(frame: &[u8]) -> (u32, u32) {
    (be32(frame, 0), be32(frame, 4))
}

/// `mxFrame` (last valid frame) of the first wal-index header copy, which
/// SQLite keeps in native byte order.
pub(crate) fn index_max_frame(headers: &[u8]) -> u32 {
    u32::from_ne_bytes([headers[16], headers[17], headers[18], headers[19]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_chain_their_checksums() {
        let mut wal = new_header(512, (1, 2)).to_vec();
        let seed = chain_seed(&wal, 0, 512);
        let first = append_frame(&mut wal, seed, 1, 0, &[7; 512]);
        assert_eq!(chain_seed(&wal, 1, 512), first);
        let second = append_frame(&mut wal, first, 2, 2, &[9; 512]);
        assert_eq!(chain_seed(&wal, 2, 512), second);
        assert_eq!(wal.len(), frames_end(2, 512));
        assert_eq!(frame_info(&wal[frames_end(1, 512)..]), (2, 2));
        assert_eq!(header_page_size(&wal), Some(512));
    }
}
