//! Page changes: a page as the byte ranges that differ from its previous
//! version ([`PageContent::Changes`]), with CRC-32s of both versions so a
//! node whose previous version differs finds out instead of diverging.

use super::error::VfsError;
use super::frames::{PageContent, Run};

/// Equal stretches shorter than this are sent along rather than opening a
/// new run (a run costs a few bytes of framing).
const MERGE_GAP: usize = 8;

/// `new` as changes to `base` when that is much smaller than the page,
/// else whole.
pub(crate) fn encode(base: Option<&[u8]>, new: &[u8]) -> PageContent {
    let Some(base) = base.filter(|b| b.len() == new.len()) else {
        return PageContent::Full(new.to_vec());
    };
    let ranges = changed_ranges(base, new);
    let cost: usize = ranges.iter().map(|r| r.len() + 4).sum();
    if cost > new.len() / 2 {
        return PageContent::Full(new.to_vec());
    }
    PageContent::Changes {
        base_crc: crc32fast::hash(base),
        crc: crc32fast::hash(new),
        runs: ranges
            .into_iter()
            .map(|r| Run {
                offset: u32::try_from(r.start).unwrap_or(u32::MAX),
                bytes: new[r].to_vec(),
            })
            .collect(),
    }
}

/// The page `content` describes, given the page's previous version.
pub(crate) fn decode(
    page_no: u32,
    page_size: u32,
    base: Option<&[u8]>,
    content: &PageContent,
) -> Result<Vec<u8>, VfsError> {
    let size = page_size as usize;
    let mismatch = || VfsError::PageMismatch { page: page_no };
    match content {
        PageContent::Full(bytes) if bytes.len() == size => Ok(bytes.clone()),
        PageContent::Full(bytes) => Err(VfsError::PageSizeMismatch {
            expected: page_size,
            got: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
        }),
        PageContent::Changes {
            base_crc,
            crc,
            runs,
        } => {
            let base = base.filter(|b| b.len() == size).ok_or_else(mismatch)?;
            if crc32fast::hash(base) != *base_crc {
                return Err(mismatch());
            }
            let mut page = base.to_vec();
            for run in runs {
                let start = run.offset as usize;
                let target = start
                    .checked_add(run.bytes.len())
                    .and_then(|end| page.get_mut(start..end))
                    .ok_or_else(mismatch)?;
                target.copy_from_slice(&run.bytes);
            }
            if crc32fast::hash(&page) != *crc {
                return Err(mismatch());
            }
            Ok(page)
        }
    }
}

/// The ranges where `new` differs from `base` (same length), with short
/// equal gaps merged.
fn changed_ranges(base: &[u8], new: &[u8]) -> Vec<std::ops::Range<usize>> {
    let n = new.len();
    let mut out: Vec<std::ops::Range<usize>> = Vec::new();
    let mut i = 0;
    while i < n {
        while i + 8 <= n && base[i..i + 8] == new[i..i + 8] {
            i += 8;
        }
        while i < n && base[i] == new[i] {
            i += 1;
        }
        if i == n {
            break;
        }
        let start = i;
        while i < n && base[i] != new[i] {
            i += 1;
        }
        match out.last_mut() {
            Some(last) if start - last.end < MERGE_GAP => last.end = i,
            _ => out.push(start..i),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_small_change_travels_as_a_run() {
        let base = vec![7u8; 4096];
        let mut new = base.clone();
        new[100..110].fill(1);
        new[112] = 2; // merged with the run before
        new[4000] = 3;
        let content = encode(Some(&base), &new);
        let PageContent::Changes { runs, .. } = &content else {
            panic!("{content:?}");
        };
        let spans: Vec<_> = runs.iter().map(|r| (r.offset, r.bytes.len())).collect();
        assert_eq!(spans, [(100, 13), (4000, 1)]);
        assert_eq!(decode(1, 4096, Some(&base), &content).unwrap(), new);
    }

    #[test]
    fn pages_without_a_usable_base_travel_whole() {
        let new = vec![1u8; 4096];
        assert_eq!(encode(None, &new), PageContent::Full(new.clone()));
        assert_eq!(
            encode(Some(&vec![0u8; 4096]), &new),
            PageContent::Full(new.clone())
        );
    }

    #[test]
    fn a_different_base_is_refused() {
        let base = vec![0u8; 4096];
        let mut new = base.clone();
        new[5] = 1;
        let content = encode(Some(&base), &new);
        let mut other = base.clone();
        other[9] = 9;
        assert!(matches!(
            decode(3, 4096, Some(&other), &content),
            Err(VfsError::PageMismatch { page: 3 })
        ));
        assert!(decode(3, 4096, None, &content).is_err());
    }

    proptest! {
        #[test]
        fn changes_reproduce_the_page(
            base in proptest::collection::vec(any::<u8>(), 512),
            edits in proptest::collection::vec((0usize..512, any::<u8>()), 0..40),
        ) {
            let mut new = base.clone();
            for (at, byte) in edits {
                new[at] = byte;
            }
            let content = encode(Some(&base), &new);
            prop_assert_eq!(decode(1, 512, Some(&base), &content).unwrap(), new);
        }
    }
}
