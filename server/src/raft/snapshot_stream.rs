//! Snapshots as they travel between nodes: streamed from the leader's
//! pinned durable point, written by the follower into new files as the
//! chunks arrive, and resumed where they stopped after a connection drop.
//!
//! # Stream (format 2)
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic `DQLSNAP2` |
//! | 4 | length `n` of the header, u32 LE |
//! | n | header: postcard list of each database's name, main file length and WAL length |
//! | 4 | CRC-32 of the header, u32 LE |
//! | … | each database in header order: its main file, then its WAL frames |
//!
//! The first chunk is the header alone, later ones at most
//! [`SNAPSHOT_CHUNK`] bytes; every chunk carries its CRC-32. The follower
//! answers each chunk with the offset it wants next: the end of that
//! chunk, or, for a chunk of a transfer it already has part of (same
//! snapshot, same size: the leader's send was cut and started again), the
//! bytes it has, so the leader continues there instead of from the start.
//! The leader holds its durable point ([`Pin`]) while it sends, and for
//! [`RESUME_GRACE`] after a failed send, so the same snapshot is sent
//! again; a newer one makes the follower drop what it has.

use std::io;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::peer_wire::SNAPSHOT_CHUNK;
use super::typ::SnapshotMeta;
use crate::progress::{Progress, Unit, log_progress};
use crate::vfs::{Incoming, Pin, Vfs};

/// How long a leader keeps a durable point after a send of it failed, so
/// that the next attempt resumes it.
pub(crate) const RESUME_GRACE: Duration = Duration::from_secs(60);

const MAGIC: &[u8; 8] = b"DQLSNAP2";

/// Largest header a follower takes (names of a few hundred thousand
/// databases).
const MAX_HEADER: usize = 16 * 1024 * 1024;

/// One database as the header lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entry {
    pub(crate) name: String,
    pub(crate) main_len: u64,
    pub(crate) wal_len: u64,
}

/// The header's bytes.
pub(crate) fn encode_header(entries: &[Entry]) -> io::Result<Vec<u8>> {
    let body = postcard::to_allocvec(entries).map_err(io::Error::other)?;
    let len = u32::try_from(body.len())
        .ok()
        .filter(|&l| l as usize <= MAX_HEADER)
        .ok_or_else(|| io::Error::other("too many databases for one snapshot header"))?;
    let mut out = Vec::with_capacity(16 + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    Ok(out)
}

/// Reads a header that must be exactly `bytes`.
pub(crate) fn decode_header(bytes: &[u8]) -> Result<Vec<Entry>, String> {
    let rest = bytes
        .strip_prefix(MAGIC)
        .ok_or("not a snapshot stream this node reads (bad magic)")?;
    let (len, rest) = rest
        .split_first_chunk::<4>()
        .ok_or("short snapshot header")?;
    let len = u32::from_le_bytes(*len) as usize;
    if len > MAX_HEADER || rest.len() != len + 4 {
        return Err(format!(
            "snapshot header of {len} bytes in a first chunk of {}",
            bytes.len()
        ));
    }
    let (body, crc) = rest.split_at(len);
    if crc32fast::hash(body).to_le_bytes() != crc {
        return Err("snapshot header checksum mismatch".into());
    }
    postcard::from_bytes(body).map_err(|e| format!("unreadable snapshot header: {e}"))
}

/// Where each database's bytes are in the stream.
#[derive(Debug, Clone)]
struct Layout {
    header_len: u64,
    entries: Vec<Entry>,
}

/// A stretch of the stream in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    Header { from: u64, len: u64 },
    Main { db: usize, from: u64, len: u64 },
    Wal { db: usize, from: u64, len: u64 },
}

impl Layout {
    fn total(&self) -> Option<u64> {
        self.entries.iter().try_fold(self.header_len, |sum, e| {
            sum.checked_add(e.main_len)?.checked_add(e.wal_len)
        })
    }

    /// The pieces of `[offset, end)`, in order.
    fn pieces(&self, offset: u64, end: u64) -> Vec<Piece> {
        let mut out = Vec::new();
        let mut at = 0;
        let mut take = |start: u64, len: u64, piece: &dyn Fn(u64, u64) -> Piece| {
            let (lo, hi) = (offset.max(start), end.min(start + len));
            if lo < hi {
                out.push(piece(lo - start, hi - lo));
            }
        };
        take(at, self.header_len, &|from, len| Piece::Header {
            from,
            len,
        });
        at += self.header_len;
        for (db, e) in self.entries.iter().enumerate() {
            take(at, e.main_len, &|from, len| Piece::Main { db, from, len });
            at += e.main_len;
            take(at, e.wal_len, &|from, len| Piece::Wal { db, from, len });
            at += e.wal_len;
        }
        out
    }

    /// Where the chunk starting at `offset` ends: the header alone, then
    /// [`SNAPSHOT_CHUNK`] bytes.
    fn chunk_end(&self, offset: u64, total: u64) -> u64 {
        if offset < self.header_len {
            self.header_len
        } else {
            (offset + SNAPSHOT_CHUNK as u64).min(total)
        }
    }
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// A durable point being sent.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pin: Pin,
    header: Vec<u8>,
    layout: Layout,
    total: u64,
}

impl Outgoing {
    /// Pins durable point `epoch` of `vfs` for sending; an error if it is
    /// no longer the current point.
    pub(crate) async fn open(vfs: Vfs, epoch: u64) -> io::Result<Self> {
        let pin = vfs
            .pin(epoch)
            .map_err(io::Error::other)?
            .await
            .map_err(|_| io::Error::other("the disk thread is gone"))??;
        let entries: Vec<Entry> = pin
            .databases()
            .iter()
            .map(|db| Entry {
                name: db.name.clone(),
                main_len: db.main_len,
                wal_len: db.wal.len() as u64,
            })
            .collect();
        let header = encode_header(&entries)?;
        let layout = Layout {
            header_len: header.len() as u64,
            entries,
        };
        let total = layout
            .total()
            .ok_or_else(|| io::Error::other("snapshot size overflows"))?;
        Ok(Self {
            pin,
            header,
            layout,
            total,
        })
    }

    /// The stream's length.
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// The durable point sent, held as long as this lives.
    pub(crate) fn into_pin(self) -> Pin {
        self.pin
    }

    /// Where the chunk starting at `offset` ends.
    pub(crate) fn chunk_end(&self, offset: u64) -> u64 {
        self.layout.chunk_end(offset, self.total)
    }

    /// Bytes `[offset, end)` of the stream; main files are read on the
    /// disk thread.
    pub(crate) async fn read(&self, offset: u64, end: u64) -> io::Result<Vec<u8>> {
        let pieces = self.layout.pieces(offset, end);
        let ranges = pieces
            .iter()
            .filter_map(|p| match *p {
                Piece::Main { db, from, len } => Some((db, from, to_usize(len))),
                _ => None,
            })
            .collect();
        let mut mains = self
            .pin
            .read_main(ranges)
            .await
            .map_err(|_| io::Error::other("the disk thread is gone"))??
            .into_iter();
        let mut out = Vec::with_capacity(to_usize(end - offset));
        for piece in pieces {
            match piece {
                Piece::Header { from, len } => {
                    out.extend_from_slice(&self.header[to_usize(from)..to_usize(from + len)]);
                }
                Piece::Main { .. } => {
                    out.extend_from_slice(&mains.next().unwrap_or_default());
                }
                Piece::Wal { db, from, len } => {
                    let wal = &self.pin.databases()[db].wal;
                    out.extend_from_slice(&wal[to_usize(from)..to_usize(from + len)]);
                }
            }
        }
        if out.len() as u64 != end - offset {
            return Err(io::Error::other("snapshot read came short"));
        }
        Ok(out)
    }
}

/// What a follower does after a chunk.
#[derive(Debug)]
pub(crate) enum Step {
    /// Wants the bytes from this offset next.
    Next(u64),
    /// Has the whole snapshot, in these files.
    Complete(Box<Incoming>),
}

/// A snapshot a follower is receiving.
#[derive(Debug)]
struct Transfer {
    meta: SnapshotMeta,
    total: u64,
    received: u64,
    layout: Option<Layout>,
    /// Absent only while a write is in flight (or after it was cut).
    incoming: Option<Incoming>,
    progress: Progress,
}

/// The snapshot a follower is receiving, whichever connection brings it.
#[derive(Debug)]
pub(crate) struct Inbox {
    vfs: Vfs,
    transfer: tokio::sync::Mutex<Option<Transfer>>,
}

impl Inbox {
    /// Snapshots for the databases of `vfs`.
    pub(crate) fn new(vfs: Vfs) -> Self {
        Self {
            vfs,
            transfer: tokio::sync::Mutex::new(None),
        }
    }

    /// Takes the chunk `[offset, offset + data.len())` of a snapshot of
    /// `total` bytes described by `meta`, from node `from`.
    pub(crate) async fn chunk(
        &self,
        meta: &SnapshotMeta,
        total: u64,
        offset: u64,
        data: Vec<u8>,
        from: u64,
    ) -> Result<Step, String> {
        let mut slot = self.transfer.lock().await;
        let same = slot.as_ref().is_some_and(|t| {
            t.meta == *meta && t.total == total && (t.incoming.is_some() || t.layout.is_none())
        });
        if !same {
            if let Some(old) = slot.take() {
                tracing::info!(
                    received = old.received,
                    total = old.total,
                    "dropped an incomplete snapshot transfer for a new one"
                );
            }
            if offset != 0 {
                return Ok(Step::Next(0));
            }
            *slot = Some(Transfer {
                meta: meta.clone(),
                total,
                received: 0,
                layout: None,
                incoming: None,
                progress: Progress::new(Unit::Bytes, total),
            });
        }
        let Some(transfer) = slot.as_mut() else {
            return Err("no snapshot transfer".into());
        };
        if offset != transfer.received {
            tracing::info!(
                leader = from,
                offset = transfer.received,
                total,
                asked = offset,
                "resuming a snapshot transfer"
            );
            return Ok(Step::Next(transfer.received));
        }
        let end = offset + data.len() as u64;
        let taken = match transfer.layout.clone() {
            None => self.start(transfer, &data),
            Some(layout) => Self::write(transfer, &layout, offset, data).await,
        };
        if let Err(e) = taken {
            *slot = None;
            return Err(e);
        }
        transfer.received = end;
        if let Some(report) = transfer.progress.step(end) {
            log_progress!(report, "receiving a snapshot", leader = from);
        }
        if end < total {
            return Ok(Step::Next(end));
        }
        let incoming = slot
            .take()
            .and_then(|t| t.incoming)
            .ok_or("snapshot files lost")?;
        Ok(Step::Complete(Box::new(incoming)))
    }

    /// Reads the header (the first chunk) and creates the files.
    fn start(&self, transfer: &mut Transfer, header: &[u8]) -> Result<(), String> {
        let entries = decode_header(header)?;
        let layout = Layout {
            header_len: header.len() as u64,
            entries,
        };
        if layout.total() != Some(transfer.total) {
            return Err(format!(
                "snapshot header does not add up to the announced {} bytes",
                transfer.total
            ));
        }
        let databases: Vec<(String, u64, u64)> = layout
            .entries
            .iter()
            .map(|e| (e.name.clone(), e.main_len, e.wal_len))
            .collect();
        let incoming = self
            .vfs
            .incoming(&databases)
            .map_err(|e| format!("cannot create the snapshot's files: {e}"))?;
        transfer.incoming = Some(incoming);
        transfer.layout = Some(layout);
        Ok(())
    }

    /// Writes a chunk into the files, off the runtime's thread.
    async fn write(
        transfer: &mut Transfer,
        layout: &Layout,
        offset: u64,
        data: Vec<u8>,
    ) -> Result<(), String> {
        let mut incoming = transfer.incoming.take().ok_or("snapshot files lost")?;
        let pieces = layout.pieces(offset, offset + data.len() as u64);
        let (incoming, written) = tokio::task::spawn_blocking(move || {
            let mut at = 0;
            let written = pieces.into_iter().try_for_each(|piece| {
                let (len, result) = match piece {
                    Piece::Header { len, .. } => (len, Ok(())),
                    Piece::Main { db, from, len } => {
                        let bytes = &data[at..at + to_usize(len)];
                        (len, incoming.write_main(db, from, bytes))
                    }
                    Piece::Wal { db, len, .. } => {
                        let bytes = &data[at..at + to_usize(len)];
                        (len, incoming.push_wal(db, bytes))
                    }
                };
                at += to_usize(len);
                result
            });
            (incoming, written)
        })
        .await
        .map_err(|e| format!("snapshot write stopped: {e}"))?;
        transfer.incoming = Some(incoming);
        written.map_err(|e| format!("cannot write the snapshot: {e}"))
    }
}

/// Streams `outgoing` into new files of `vfs` as a follower would
/// receive it (a snapshot handed over inside one process: openraft's
/// tests, a node installing another's).
pub(crate) async fn copy(
    outgoing: &Outgoing,
    vfs: Vfs,
    meta: &SnapshotMeta,
) -> io::Result<Incoming> {
    let inbox = Inbox::new(vfs);
    let total = outgoing.total();
    let mut offset = 0;
    loop {
        let end = outgoing.chunk_end(offset);
        let data = outgoing.read(offset, end).await?;
        match inbox
            .chunk(meta, total, offset, data, 0)
            .await
            .map_err(io::Error::other)?
        {
            Step::Complete(incoming) => return Ok(*incoming),
            Step::Next(next) if next > offset => offset = next,
            Step::Next(next) => {
                return Err(io::Error::other(format!(
                    "snapshot copy went back from {offset} to {next}"
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        Layout {
            header_len: 10,
            entries: vec![
                Entry {
                    name: "a".into(),
                    main_len: 100,
                    wal_len: 5,
                },
                Entry {
                    name: "b".into(),
                    main_len: 0,
                    wal_len: 0,
                },
                Entry {
                    name: "c".into(),
                    main_len: 20,
                    wal_len: 0,
                },
            ],
        }
    }

    #[test]
    fn a_range_of_the_stream_maps_to_its_files() {
        let l = layout();
        assert_eq!(l.total(), Some(135));
        assert_eq!(
            l.pieces(5, 120),
            vec![
                Piece::Header { from: 5, len: 5 },
                Piece::Main {
                    db: 0,
                    from: 0,
                    len: 100
                },
                Piece::Wal {
                    db: 0,
                    from: 0,
                    len: 5
                },
                Piece::Main {
                    db: 2,
                    from: 0,
                    len: 5
                },
            ]
        );
        assert_eq!(
            l.pieces(112, 135),
            vec![
                Piece::Wal {
                    db: 0,
                    from: 2,
                    len: 3
                },
                Piece::Main {
                    db: 2,
                    from: 0,
                    len: 20
                },
            ]
        );
        assert_eq!(
            l.pieces(117, 120),
            vec![Piece::Main {
                db: 2,
                from: 2,
                len: 3
            }]
        );
        assert_eq!(l.chunk_end(0, 135), 10);
        assert_eq!(l.chunk_end(10, 135), 135);
    }

    #[test]
    fn a_header_reads_back_and_damage_is_refused() {
        let entries = layout().entries;
        let bytes = encode_header(&entries).unwrap();
        assert_eq!(decode_header(&bytes).unwrap(), entries);
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            assert!(decode_header(&bad).is_err(), "flip at {i} accepted");
        }
        assert!(decode_header(&bytes[..bytes.len() - 1]).is_err());
        let mut long = bytes.clone();
        long.push(0);
        assert!(decode_header(&long).is_err());
    }
}
