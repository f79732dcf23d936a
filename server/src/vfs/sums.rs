//! Block checksums of a main file, so that a damaged file is never served
//! as data: a CRC-32 per 4 KiB block (the last block zero-padded), kept in
//! memory (4 bytes per 4 KiB: 0.1% of the data) and in `N.sum` next to the
//! file, as little-endian u32s.
//!
//! The disk thread updates them after writing blocks and syncs them with
//! the main file at each durable point. Blocks written since the point are
//! all in the undo file (or past the point's length), so after a crash the
//! roll-back restores them and [`Sums::open`] recomputes exactly those;
//! every other entry was synced at the point. Every block read from the
//! disk is checked against its entry (see `MainFile::read`).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::undo::{BLOCK, BLOCK_LEN, read_fully};

/// The checksums of one main file.
#[derive(Debug)]
pub(crate) struct Sums {
    path: PathBuf,
    file: File,
    crcs: Vec<u32>,
}

/// The checksum of a block's content (zero-padded to a whole block).
pub(crate) fn block_crc(content: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(content);
    if content.len() < BLOCK_LEN {
        hasher.update(&vec![0u8; BLOCK_LEN - content.len()]);
    }
    hasher.finalize()
}

/// The checksum file of the main file at `main`.
pub(crate) fn sums_path(main: &Path) -> PathBuf {
    main.with_extension("sum")
}

impl Sums {
    /// The checksums of `main` (`main_len` bytes): read from its checksum
    /// file, with the blocks in `recompute` (restored after a crash)
    /// computed anew from the file. A missing or short checksum file is
    /// computed whole (a file written before checksums, or a new one).
    pub(crate) fn open(
        main_path: &Path,
        main: &File,
        main_len: u64,
        recompute: &[u64],
    ) -> io::Result<Self> {
        let path = sums_path(main_path);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        let blocks = main_len.div_ceil(BLOCK);
        let stored = file.metadata()?.len();
        let mut sums = Self {
            path,
            file,
            crcs: Vec::new(),
        };
        if stored < blocks * 4 {
            if stored > 0 {
                tracing::warn!(
                    path = %sums.path.display(),
                    "checksum file shorter than its database file: computing it again"
                );
            }
            sums.crcs = vec![0; usize::try_from(blocks).unwrap_or(usize::MAX)];
            sums.refresh(main, 0..blocks)?;
        } else {
            let mut bytes = vec![0u8; usize::try_from(blocks * 4).unwrap_or(usize::MAX)];
            sums.file.read_exact_at(&mut bytes, 0)?;
            sums.crcs = bytes
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            for &block in recompute {
                if block < blocks {
                    sums.refresh(main, block..block + 1)?;
                }
            }
        }
        sums.file.set_len(blocks * 4)?;
        // What was computed here must outlive a crash: the caller removes
        // the undo file that would have it computed again.
        sums.file.sync_all()?;
        Ok(sums)
    }

    /// Computes the checksums of `blocks` from `main`'s content and writes
    /// them to the checksum file (not synced).
    pub(crate) fn refresh(&mut self, main: &File, blocks: std::ops::Range<u64>) -> io::Result<()> {
        if blocks.is_empty() {
            return Ok(());
        }
        let needed = usize::try_from(blocks.end).unwrap_or(usize::MAX);
        if self.crcs.len() < needed {
            self.crcs.resize(needed, 0);
        }
        let mut content = vec![0u8; BLOCK_LEN];
        for block in blocks.clone() {
            read_fully(main, &mut content, block * BLOCK)?;
            self.crcs[usize::try_from(block).unwrap_or(usize::MAX)] = block_crc(&content);
        }
        let from = usize::try_from(blocks.start).unwrap_or(usize::MAX);
        let bytes: Vec<u8> = self.crcs[from..needed]
            .iter()
            .flat_map(|c| c.to_le_bytes())
            .collect();
        self.file.write_all_at(&bytes, blocks.start * 4)
    }

    /// Forgets the blocks past a file of `len` bytes.
    pub(crate) fn truncate(&mut self, len: u64) -> io::Result<()> {
        let blocks = len.div_ceil(BLOCK);
        let keep = usize::try_from(blocks).unwrap_or(usize::MAX);
        if keep >= self.crcs.len() {
            return Ok(());
        }
        self.crcs.truncate(keep);
        self.file.set_len(blocks * 4)
    }

    /// Records the checksums of whole blocks written from `data` at
    /// `at` (block-aligned, a whole number of blocks), without reading
    /// them back.
    pub(crate) fn wrote(&mut self, at: u64, data: &[u8]) -> io::Result<()> {
        let first = at / BLOCK;
        let count = data.len() as u64 / BLOCK;
        let needed = usize::try_from(first + count).unwrap_or(usize::MAX);
        if self.crcs.len() < needed {
            self.crcs.resize(needed, 0);
        }
        let from = usize::try_from(first).unwrap_or(usize::MAX);
        for (slot, block) in self.crcs[from..needed]
            .iter_mut()
            .zip(data.chunks_exact(BLOCK_LEN))
        {
            *slot = block_crc(block);
        }
        let bytes: Vec<u8> = self.crcs[from..needed]
            .iter()
            .flat_map(|c| c.to_le_bytes())
            .collect();
        self.file.write_all_at(&bytes, first * 4)
    }

    /// Syncs the checksum file (at a durable point).
    pub(crate) fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// Whether `content` (block `block`, possibly the short last one) is
    /// what was written there.
    pub(crate) fn check(&self, block: u64, content: &[u8]) -> bool {
        usize::try_from(block)
            .ok()
            .and_then(|b| self.crcs.get(b))
            .is_some_and(|&crc| crc == block_crc(content))
    }
}
