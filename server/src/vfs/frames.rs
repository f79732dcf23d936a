//! What the VFS captures of a committed write transaction: its pages, in
//! WAL order, each whole or as changes to its previous version.

/// Page size of every database: fixed so that frames from one node apply
/// on any other.
pub const PAGE_SIZE: u32 = 4096;

/// The pages a committed write transaction changed, in WAL order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Frames {
    /// Identifies the pending transaction on the node that produced it.
    pub tx_id: u64,
    /// Size of every page.
    pub page_size: u32,
    /// Database size in pages after the transaction.
    pub db_size: u32,
    /// Each frame's page, in WAL order.
    pub pages: Vec<Page>,
}

/// One frame's page: its number and its new content.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Page {
    /// Page number (1-based).
    pub number: u32,
    /// The content, whole or as changes.
    pub content: PageContent,
}

/// A page's new content.
///
/// Most writes change a small part of each page they touch (a cell and a
/// few pointers), so a page that existed before the transaction travels
/// as the byte ranges that differ from its previous version, which every
/// node holds identically. Both versions' CRC-32s go along: a node whose
/// previous version differs refuses the entry instead of diverging.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PageContent {
    /// The whole page.
    Full(#[serde(with = "serde_bytes")] Vec<u8>),
    /// Changes to the page's previous version.
    Changes {
        /// CRC-32 of the previous version.
        base_crc: u32,
        /// CRC-32 of the new version.
        crc: u32,
        /// The ranges that differ, in order, not overlapping.
        runs: Vec<Run>,
    },
}

/// New bytes at an offset of a page.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Run {
    /// Byte offset in the page.
    pub offset: u32,
    /// The new bytes.
    #[serde(with = "serde_bytes")]
    pub bytes: Vec<u8>,
}

impl Frames {
    /// Roughly the bytes the frames take (in memory or in the log).
    pub fn size(&self) -> usize {
        self.pages
            .iter()
            .map(|p| match &p.content {
                PageContent::Full(bytes) => bytes.len() + 8,
                PageContent::Changes { runs, .. } => {
                    16 + runs.iter().map(|r| r.bytes.len() + 8).sum::<usize>()
                }
            })
            .sum()
    }
}
