//! Checksummed images: every byte a node reads back from a snapshot
//! (from its disk or from the leader) is checked before it is used.
//!
//! A *sealed* image is its content followed by a trailer:
//!
//! | bytes | trailer field |
//! |---|---|
//! | 4 × n | CRC-32 of each [`BLOCK`]-byte block of the content (the last may be shorter), u32 LE |
//! | 8 | content length, u64 LE |
//! | 4 | block size, u32 LE |
//! | 8 | magic `DQLSEAL1` |
//! | 4 | CRC-32 of the trailer before this field, u32 LE |
//!
//! The trailer goes at the end so that sealing appends to the encoded
//! content instead of copying it. [`unseal`] checks the trailer, then
//! every block, and names the first damaged byte range; a truncated image
//! loses its trailer and is refused as such.

use std::fmt;

/// Bytes covered by one checksum.
pub const BLOCK: usize = 64 * 1024;
const MAGIC: &[u8; 8] = b"DQLSEAL1";
/// Length, block size, magic and the trailer's own CRC.
const FIXED: usize = 8 + 4 + 8 + 4;

/// Where and why a sealed image does not read back as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// First byte of the damaged range, from the start of the image.
    pub offset: u64,
    /// Bytes in the range.
    pub len: u64,
    /// What is wrong.
    pub reason: &'static str,
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at bytes {}..{}",
            self.reason,
            self.offset,
            self.offset.saturating_add(self.len)
        )
    }
}

impl std::error::Error for Damage {}

fn checksums(content: &[u8]) -> impl Iterator<Item = u32> + '_ {
    content.chunks(BLOCK).map(crc32fast::hash)
}

/// Seals `content` in place: appends its trailer.
pub fn seal(mut content: Vec<u8>) -> Vec<u8> {
    let len = content.len();
    let sums: Vec<u32> = checksums(&content).collect();
    let trailer_start = content.len();
    content.reserve(sums.len() * 4 + FIXED);
    for sum in sums {
        content.extend_from_slice(&sum.to_le_bytes());
    }
    content.extend_from_slice(&(len as u64).to_le_bytes());
    content.extend_from_slice(&u32::try_from(BLOCK).unwrap_or(u32::MAX).to_le_bytes());
    content.extend_from_slice(MAGIC);
    let crc = crc32fast::hash(&content[trailer_start..]);
    content.extend_from_slice(&crc.to_le_bytes());
    content
}

/// The content of a sealed image, once every checksum matched.
pub fn unseal(image: &[u8]) -> Result<&[u8], Damage> {
    let total = image.len() as u64;
    let missing = |reason| Damage {
        offset: 0,
        len: total,
        reason,
    };
    let Some(fixed_at) = image.len().checked_sub(FIXED) else {
        return Err(missing("too short to hold a checksum trailer"));
    };
    let fixed = &image[fixed_at..];
    let word8 = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
    let word4 = |b: &[u8]| u32::from_le_bytes(b.try_into().unwrap_or([0; 4]));
    if &fixed[12..20] != MAGIC {
        return Err(missing(
            "no checksum trailer (truncated, or not a snapshot)",
        ));
    }
    let len = usize::try_from(word8(&fixed[0..8])).unwrap_or(usize::MAX);
    let block = usize::try_from(word4(&fixed[8..12])).unwrap_or(0);
    let blocks = if block == 0 {
        None
    } else {
        Some(len.div_ceil(block))
    };
    // The checksums run from the end of the content to the fixed part.
    let sums_end = blocks
        .and_then(|b| b.checked_mul(4))
        .and_then(|b| len.checked_add(b))
        .filter(|&at| at == fixed_at);
    let Some(sums_end) = sums_end else {
        return Err(Damage {
            offset: fixed_at as u64,
            len: FIXED as u64,
            reason: "the checksum trailer does not match the image's length",
        });
    };
    if crc32fast::hash(&image[len..image.len() - 4]) != word4(&fixed[20..24]) {
        return Err(Damage {
            offset: len as u64,
            len: (image.len() - len) as u64,
            reason: "checksum trailer mismatch",
        });
    }
    let content = &image[..len];
    let sums = image[len..sums_end].chunks_exact(4).map(word4);
    for (i, (sum, expected)) in checksums(content).zip(sums).enumerate() {
        if sum != expected {
            let offset = i * block;
            return Err(Damage {
                offset: offset as u64,
                len: (block.min(len - offset)) as u64,
                reason: "checksum mismatch",
            });
        }
    }
    Ok(content)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(len: usize) -> Vec<u8> {
        (0..len).map(|i| u8::try_from(i % 253).unwrap()).collect()
    }

    #[test]
    fn sealed_images_read_back() {
        for len in [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 17] {
            let sealed = seal(content(len));
            assert_eq!(unseal(&sealed), Ok(&content(len)[..]), "{len}");
        }
    }

    #[test]
    fn every_flipped_byte_is_found_and_placed() {
        let sealed = seal(content(2 * BLOCK + 100));
        // Every byte of a small image, and a sample of a large one.
        let small = seal(content(300));
        for at in 0..small.len() {
            let mut bad = small.clone();
            bad[at] ^= 0x40;
            assert!(unseal(&bad).is_err(), "flip at {at} went unnoticed");
        }
        for at in (0..sealed.len()).step_by(997) {
            let mut bad = sealed.clone();
            bad[at] ^= 1;
            let damage = unseal(&bad).expect_err("a flipped byte is found");
            if at < 2 * BLOCK + 100 {
                assert_eq!(damage.offset, (at / BLOCK * BLOCK) as u64, "{at}");
                assert!(damage.to_string().contains("checksum mismatch at bytes"));
            }
        }
    }

    #[test]
    fn truncated_and_foreign_images_are_refused() {
        let sealed = seal(content(BLOCK + 5));
        for cut in [0, 1, FIXED, sealed.len() / 2, sealed.len() - 1] {
            assert!(unseal(&sealed[..cut]).is_err(), "{cut}");
        }
        assert!(unseal(&content(5000)).is_err());
        let mut longer = sealed.clone();
        longer.insert(10, 0);
        assert!(unseal(&longer).is_err());
    }
}
