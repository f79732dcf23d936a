//! The in-memory state of one database: its main file, its WAL, its
//! shared memory (wal-index) and locks, and the write transactions waiting
//! for Raft. Everything the FFI callbacks do is decided here, in safe Rust.
//!
//! Capture works on the WAL write lock (shm slot 0), and writes pipeline:
//! - when a connection releases it after writing frames that SQLite
//!   committed (the header's `mxFrame` grew), the transaction becomes
//!   *pending*: its frames stay in the WAL, visible to every connection of
//!   this node, and the lock is free, so the next write transaction builds
//!   on top of it (early lock release) while Raft replicates it;
//! - [`Database::publish`] (Raft committed the oldest pending transaction)
//!   moves the committed mark over its frames; [`Database::abort_from`]
//!   (its entry will never commit) drops it and every pending transaction
//!   after it, because those were built on it;
//! - frames written without a commit (rollback) are dropped at release.
//!
//! Whoever sees pending frames must not answer before they commit: each
//! pending transaction carries a [`TxTicket`] channel that says when it
//! committed or was aborted. A connection that held any shm lock when
//! pending frames were dropped (its snapshot may include them) is *fenced*
//! until it ends its transaction, and a connection caught in the middle of
//! a write transaction loses the write lock; the server checks
//! [`Database::take_fenced`] before every use of a connection.
//!
//! This relies on every connection of a database being driven from one
//! thread at a time (the server's SQL lock).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use tokio::sync::watch;

use super::delta;
use super::error::VfsError;
use super::frames::{Frames, PAGE_SIZE, Page};
use super::main_file::{Layer, MainFile};
use super::wal::{self, INDEX_HEADERS, WAL_HEADER};

/// Size of one shared-memory region, fixed by SQLite.
pub(crate) const SHM_REGION: usize = 32 * 1024;
/// Number of shm lock slots.
const SHM_LOCKS: usize = 8;
/// The WAL write lock slot.
const WRITE_LOCK: usize = 0;
/// The checkpointer's lock slot.
const CKPT_LOCK: usize = 1;

/// Identifies one open main-database file handle (one connection).
pub(crate) type FileId = u64;

/// SQLite file lock levels.
pub(crate) mod level {
    pub const NONE: i32 = 0;
    pub const SHARED: i32 = 1;
    pub const RESERVED: i32 = 2;
    pub const PENDING: i32 = 3;
    pub const EXCLUSIVE: i32 = 4;
}

/// A lock request could not be granted now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Busy;

#[derive(Debug, Default)]
struct FileLocks {
    shared: usize,
    reserved: Option<FileId>,
    pending: Option<FileId>,
    exclusive: Option<FileId>,
}

#[derive(Debug, Clone, Copy, Default)]
struct ShmSlot {
    shared: u32,
    exclusive: Option<FileId>,
}

/// The write transaction whose frames are being written now.
#[derive(Debug)]
struct Capture {
    owner: FileId,
    wrote_frames: bool,
}

/// What became of a pending transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxState {
    /// Waiting for Raft.
    Pending,
    /// Committed by Raft: everyone may see it.
    Committed,
    /// Dropped: its entry will never commit, and nothing built on it
    /// survives.
    Aborted,
}

/// A handle on a pending transaction's fate.
#[derive(Debug, Clone)]
pub struct TxTicket {
    /// The transaction's id.
    pub id: u64,
    state: watch::Receiver<TxState>,
}

impl TxTicket {
    /// Waits until the transaction is committed or aborted.
    pub async fn settled(&mut self) -> TxState {
        match self.state.wait_for(|s| *s != TxState::Pending).await {
            Ok(state) => *state,
            // The database went away with the transaction.
            Err(_) => TxState::Aborted,
        }
    }

    /// The transaction's state now.
    pub fn state(&self) -> TxState {
        *self.state.borrow()
    }
}

/// A transaction SQLite committed locally, waiting for Raft.
#[derive(Debug)]
struct Pending {
    tx_id: u64,
    /// Leader term it was written in.
    term: u64,
    /// Frames of the WAL before it.
    after_frame: u32,
    /// Its last frame.
    max_frame: u32,
    state: watch::Sender<TxState>,
}

/// One database.
#[derive(Debug)]
pub(crate) struct Database {
    /// The main file, on disk (see [`MainFile`]).
    pub(crate) main: MainFile,
    pub(crate) wal: Vec<u8>,
    pub(crate) journal: Vec<u8>,
    /// Frames of the WAL that are applied (committed by Raft).
    committed_frames: u32,
    /// Size in pages of the database the main image holds, as every node
    /// agrees on it: 0 for a new database (whatever SQLite wrote there when
    /// it switched the file to WAL mode), then what checkpoints left.
    base_pages: u32,
    /// Page size of the WAL frames, once known.
    page_size: u32,
    /// Shared-memory regions; boxed so their addresses never move.
    shm: Vec<Box<[u64]>>,
    shm_locks: [ShmSlot; SHM_LOCKS],
    /// The shm slots each connection holds (shared or exclusive).
    holders: BTreeMap<FileId, u8>,
    /// Connections whose transaction was cut short (see the module doc).
    fenced: BTreeSet<FileId>,
    locks: FileLocks,
    capture: Option<Capture>,
    /// Local transactions waiting for Raft, oldest first, each built on
    /// the ones before it.
    pending: VecDeque<Pending>,
    /// Leader term new transactions are written in.
    term: u64,
    next_tx_id: u64,
    /// The connection that ran `PRAGMA delete_database` in its write
    /// transaction, until its session takes the request.
    delete_requested: Option<FileId>,
}

/// Why `PRAGMA delete_database` is refused (dqlite's messages).
pub(crate) const DELETE_NEEDS_WRITE_TX: &str =
    "PRAGMA delete_database must be run in a write transaction. Use BEGIN IMMEDIATE to start one.";
/// `PRAGMA delete_database` with a value.
pub(crate) const DELETE_TAKES_NO_VALUE: &str = "PRAGMA delete_database takes no value";
/// `PRAGMA page_size` set to another size than the database's.
pub(crate) const PAGE_SIZE_FIXED: &str = "changing page size is not supported";

impl Database {
    /// An empty database kept in `main`, whose transaction ids start
    /// after `base`.
    pub(crate) fn new(main: MainFile, base: u64) -> Self {
        Self {
            main,
            wal: Vec::new(),
            journal: Vec::new(),
            committed_frames: 0,
            base_pages: 0,
            page_size: 0,
            shm: Vec::new(),
            shm_locks: [ShmSlot::default(); SHM_LOCKS],
            holders: BTreeMap::new(),
            fenced: BTreeSet::new(),
            locks: FileLocks::default(),
            capture: None,
            pending: VecDeque::new(),
            term: 0,
            next_tx_id: base,
            delete_requested: None,
        }
    }

    // ---- pragmas dqlite handles itself (SQLITE_FCNTL_PRAGMA) ----

    /// `PRAGMA delete_database` run by `file`: allowed inside its write
    /// transaction only; the session takes the request afterwards and
    /// empties the database in that transaction.
    pub(crate) fn request_delete(&mut self, file: FileId) -> Result<(), &'static str> {
        if self.shm_locks[WRITE_LOCK].exclusive != Some(file) {
            return Err(DELETE_NEEDS_WRITE_TX);
        }
        self.delete_requested = Some(file);
        Ok(())
    }

    /// Whether `file` asked for its database to be deleted (and clears it).
    pub(crate) fn take_delete_request(&mut self, file: FileId) -> bool {
        if self.delete_requested == Some(file) {
            self.delete_requested = None;
            true
        } else {
            false
        }
    }

    /// `PRAGMA page_size = value`: the page size of a database cannot
    /// change (every node holds the same pages); setting the size it has
    /// (or the default, before the first write) is fine.
    pub(crate) fn check_page_size(&self, value: &str) -> Result<(), &'static str> {
        let current = if self.page_size == 0 {
            PAGE_SIZE
        } else {
            self.page_size
        };
        match value.trim().parse::<u32>() {
            Ok(size) if size == current => Ok(()),
            _ => Err(PAGE_SIZE_FIXED),
        }
    }

    // ---- file locks (xLock / xUnlock / xCheckReservedLock) ----

    /// Raises `file` from level `held` to `want`.
    pub(crate) fn lock(&mut self, file: FileId, held: i32, want: i32) -> Result<(), Busy> {
        let l = &mut self.locks;
        let other = |holder: Option<FileId>| holder.is_some_and(|h| h != file);
        match want {
            level::SHARED if held < level::SHARED => {
                if other(l.pending) || other(l.exclusive) {
                    return Err(Busy);
                }
                l.shared += 1;
            }
            level::RESERVED => {
                if other(l.reserved) {
                    return Err(Busy);
                }
                l.reserved = Some(file);
            }
            level::PENDING | level::EXCLUSIVE => {
                if other(l.exclusive) || other(l.pending) {
                    return Err(Busy);
                }
                l.pending = Some(file);
                if l.shared > 1 {
                    return Err(Busy);
                }
                l.exclusive = Some(file);
            }
            _ => {}
        }
        Ok(())
    }

    /// Lowers `file` from level `held` to `want` (SHARED or NONE).
    pub(crate) fn unlock(&mut self, file: FileId, held: i32, want: i32) {
        let l = &mut self.locks;
        let mine = |holder: &mut Option<FileId>| {
            if *holder == Some(file) {
                *holder = None;
            }
        };
        if want < level::EXCLUSIVE {
            mine(&mut l.exclusive);
            mine(&mut l.pending);
        }
        if want < level::RESERVED {
            mine(&mut l.reserved);
        }
        if want < level::SHARED && held >= level::SHARED {
            l.shared = l.shared.saturating_sub(1);
        }
    }

    /// Whether any connection holds RESERVED or more.
    pub(crate) fn reserved(&self) -> bool {
        self.locks.reserved.is_some() || self.locks.exclusive.is_some()
    }

    // ---- shared memory (xShmMap / xShmLock) ----

    /// Address of region `index`, creating it if `extend`; `None` if it
    /// does not exist and may not be created.
    pub(crate) fn shm_region(&mut self, index: usize, extend: bool) -> Option<*mut u8> {
        if index >= self.shm.len() {
            if !extend {
                return None;
            }
            while self.shm.len() <= index {
                self.shm.push(vec![0u64; SHM_REGION / 8].into_boxed_slice());
            }
        }
        Some(self.shm[index].as_mut_ptr().cast())
    }

    fn index_headers(&self) -> Option<[u8; INDEX_HEADERS]> {
        let region = self.shm.first()?;
        let mut out = [0u8; INDEX_HEADERS];
        for (chunk, word) in out.chunks_exact_mut(8).zip(region.iter()) {
            chunk.copy_from_slice(&word.to_ne_bytes());
        }
        Some(out)
    }

    /// Writes both wal-index header copies the way SQLite's own writer
    /// does: the second copy, a barrier, then the first. A reader on
    /// another thread that catches the two copies differing retries, so a
    /// publish may run while other connections read.
    fn set_index_headers(&mut self, headers: &[u8; INDEX_HEADERS]) {
        fn words(copy: &[u8]) -> impl Iterator<Item = u64> + '_ {
            copy.chunks_exact(8).map(|chunk| {
                let mut bytes = [0u8; 8];
                bytes.copy_from_slice(chunk);
                u64::from_ne_bytes(bytes)
            })
        }
        let Some(region) = self.shm.first_mut() else {
            return;
        };
        let half = INDEX_HEADERS / 16;
        for (word, value) in region[half..2 * half].iter_mut().zip(words(&headers[48..])) {
            *word = value;
        }
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
        for (word, value) in region[..half].iter_mut().zip(words(&headers[..48])) {
            *word = value;
        }
    }

    /// Takes shm lock slots `[offset, offset + n)` for `file`; `held_*` are
    /// the file's current slot masks, updated on success.
    pub(crate) fn shm_lock(
        &mut self,
        file: FileId,
        offset: usize,
        n: usize,
        exclusive: bool,
        held_shared: &mut u8,
        held_exclusive: &mut u8,
    ) -> Result<(), Busy> {
        // SQLite's own checkpointer (the checkpoint lock alone; recovery
        // takes it with the next slot) would copy pending pages into the
        // main file: it waits until nothing is pending.
        if exclusive && offset == CKPT_LOCK && n == 1 && !self.pending.is_empty() {
            return Err(Busy);
        }
        let range = offset..(offset + n).min(SHM_LOCKS);
        for slot in range.clone() {
            let s = self.shm_locks[slot];
            let mine_shared = *held_shared & (1 << slot) != 0;
            let others_shared = s.shared - u32::from(mine_shared);
            if s.exclusive.is_some_and(|owner| owner != file) || (exclusive && others_shared > 0) {
                return Err(Busy);
            }
        }
        for slot in range {
            let bit = 1u8 << slot;
            if exclusive {
                self.shm_locks[slot].exclusive = Some(file);
                *held_exclusive |= bit;
                if slot == WRITE_LOCK {
                    self.capture = Some(Capture {
                        owner: file,
                        wrote_frames: false,
                    });
                }
            } else if *held_shared & bit == 0 {
                self.shm_locks[slot].shared += 1;
                *held_shared |= bit;
            }
        }
        self.note_holder(file, *held_shared | *held_exclusive);
        Ok(())
    }

    /// Releases shm slots `[offset, offset + n)` held by `file`.
    pub(crate) fn shm_unlock(
        &mut self,
        file: FileId,
        offset: usize,
        n: usize,
        held_shared: &mut u8,
        held_exclusive: &mut u8,
    ) {
        for slot in offset..(offset + n).min(SHM_LOCKS) {
            let bit = 1u8 << slot;
            if *held_exclusive & bit != 0 {
                if slot == WRITE_LOCK {
                    self.end_write(file);
                }
                // A lock taken away from a fenced connection may be
                // someone else's by now.
                if self.shm_locks[slot].exclusive == Some(file) {
                    self.shm_locks[slot].exclusive = None;
                }
                *held_exclusive &= !bit;
            }
            if *held_shared & bit != 0 {
                self.shm_locks[slot].shared -= 1;
                *held_shared &= !bit;
            }
        }
        self.note_holder(file, *held_shared | *held_exclusive);
    }

    fn note_holder(&mut self, file: FileId, held: u8) {
        if held == 0 {
            self.holders.remove(&file);
        } else {
            self.holders.insert(file, held);
        }
    }

    /// Called when `file` releases the write lock: a transaction SQLite
    /// committed becomes pending; frames of one it rolled back are dropped.
    fn end_write(&mut self, file: FileId) {
        // A delete request not taken by now dies with its transaction.
        if self.delete_requested == Some(file) {
            self.delete_requested = None;
        }
        let Some(capture) = self.capture.take_if(|c| c.owner == file) else {
            return;
        };
        if !capture.wrote_frames {
            // Recovery, checkpoint or a read-only write lock: nothing new.
            return;
        }
        let last = self.last_frame();
        let new_max = self.index_headers().map_or(0, |h| wal::index_max_frame(&h));
        if new_max > last {
            self.next_tx_id = self.next_tx_id.wrapping_add(1);
            let (state, _) = watch::channel(TxState::Pending);
            self.pending.push_back(Pending {
                tx_id: self.next_tx_id,
                term: self.term,
                after_frame: last,
                max_frame: new_max,
                state,
            });
        } else {
            // Rolled back: forget the frames.
            self.truncate_wal_to(last);
        }
    }

    /// Releases every shm lock of a closing connection; frames of a write
    /// transaction it did not commit are dropped.
    pub(crate) fn shm_release_all(
        &mut self,
        file: FileId,
        held_shared: &mut u8,
        held_exclusive: &mut u8,
    ) {
        if self.capture.take_if(|c| c.owner == file).is_some() {
            self.truncate_wal_to(self.last_frame());
        }
        for slot in 0..SHM_LOCKS {
            let bit = 1u8 << slot;
            if *held_exclusive & bit != 0 && self.shm_locks[slot].exclusive == Some(file) {
                self.shm_locks[slot].exclusive = None;
            }
            if *held_shared & bit != 0 {
                self.shm_locks[slot].shared -= 1;
            }
        }
        *held_shared = 0;
        *held_exclusive = 0;
        self.holders.remove(&file);
        self.fenced.remove(&file);
    }

    /// Whether `file` was fenced (see the module doc); clears the mark.
    /// The caller must end the connection's transaction before using it.
    pub(crate) fn take_fenced(&mut self, file: FileId) -> bool {
        self.fenced.remove(&file)
    }

    // ---- WAL writes (xWrite / xTruncate on the WAL) ----

    /// Writes into the WAL file. Committed and pending frames are
    /// immutable, except that the header may be rewritten while the WAL
    /// holds no frame.
    pub(crate) fn write_wal(&mut self, offset: usize, data: &[u8]) -> Result<(), VfsError> {
        let last = self.last_frame();
        let immutable = wal::frames_end(last, self.page_size);
        let header_only = offset + data.len() <= WAL_HEADER && last == 0;
        if offset < immutable && !header_only {
            return Err(VfsError::CommittedFrameWrite { offset });
        }
        if offset >= WAL_HEADER {
            match &mut self.capture {
                Some(capture) => capture.wrote_frames = true,
                None => return Err(VfsError::WriteWithoutLock),
            }
        }
        write_at(&mut self.wal, offset, data);
        if offset == 0 && data.len() >= WAL_HEADER {
            self.page_size = wal::header_page_size(&self.wal).unwrap_or(self.page_size);
        }
        Ok(())
    }

    /// Truncates the WAL (a checkpoint in TRUNCATE mode empties it; it
    /// never runs while a transaction is pending).
    pub(crate) fn truncate_wal(&mut self, size: usize) {
        if size < self.committed_len()
            && let Some(pages) = self.last_commit_pages(self.committed_frames)
        {
            // SQLite checkpointed every frame into the main file first.
            self.base_pages = pages;
        }
        self.wal.truncate(size);
        if size < self.committed_len() {
            self.committed_frames = if self.page_size == 0 || size < WAL_HEADER {
                0
            } else {
                u32::try_from((size - WAL_HEADER) / wal::frame_size(self.page_size)).unwrap_or(0)
            };
        }
    }

    fn committed_len(&self) -> usize {
        wal::frames_end(self.committed_frames, self.page_size)
    }

    /// The last frame of the WAL that belongs to a committed or pending
    /// transaction.
    fn last_frame(&self) -> u32 {
        self.pending
            .back()
            .map_or(self.committed_frames, |p| p.max_frame)
    }

    /// Cuts the WAL after frame `frames`.
    fn truncate_wal_to(&mut self, frames: u32) {
        let len = wal::frames_end(frames, self.page_size);
        // Keep a header written for a WAL with no frame yet.
        let keep = if len == 0 {
            WAL_HEADER.min(self.wal.len())
        } else {
            len
        };
        self.wal.truncate(keep);
    }

    // ---- replication ----

    /// Sets the leader term new write transactions run in. Pending
    /// transactions of an earlier term are aborted: a leader that passed
    /// its barrier in `term` applied every entry of theirs that reached
    /// the log, so the rest never will.
    pub(crate) fn begin_term(&mut self, term: u64) {
        if term <= self.term {
            return;
        }
        self.term = term;
        if let Some(stale) = self.pending.iter().find(|p| p.term < term).map(|p| p.tx_id) {
            self.abort_from(stale);
        }
    }

    /// A ticket for the newest pending transaction, if any: whoever saw
    /// the WAL as it is now depends on it.
    pub(crate) fn last_tx(&self) -> Option<TxTicket> {
        self.pending.back().map(|p| TxTicket {
            id: p.tx_id,
            state: p.state.subscribe(),
        })
    }

    /// The frames of every pending transaction newer than `after`, oldest
    /// first, for the Raft log. Pages that existed before travel as
    /// changes (see [`delta`]).
    pub(crate) fn frames_after(&self, after: Option<u64>) -> Result<Vec<Frames>, VfsError> {
        let size = wal::frame_size(self.page_size);
        let mut out = Vec::new();
        for p in self
            .pending
            .iter()
            .filter(|p| after.is_none_or(|a| p.tx_id > a))
        {
            let start = wal::frames_end(p.after_frame, self.page_size).max(WAL_HEADER);
            let end = wal::frames_end(p.max_frame, self.page_size);
            let Some(bytes) = self.wal.get(start..end) else {
                continue;
            };
            let mut pages = Vec::with_capacity(bytes.len() / size);
            let mut db_size = 0;
            for (before, frame) in (p.after_frame..).zip(bytes.chunks_exact(size)) {
                let (number, commit) = wal::frame_info(frame);
                db_size = commit;
                let new = &frame[wal::FRAME_HEADER..];
                let base = self.page_version(number, before)?;
                pages.push(Page {
                    number,
                    content: delta::encode(base.as_deref(), new),
                });
            }
            out.push(Frames {
                tx_id: p.tx_id,
                page_size: self.page_size,
                db_size,
                pages,
            });
        }
        Ok(out)
    }

    /// Database size recorded by the last commit frame among the first
    /// `frames` WAL frames.
    fn last_commit_pages(&self, frames: u32) -> Option<u32> {
        let frame = wal::frame_size(self.page_size);
        (1..=frames).rev().find_map(|k| {
            let at = wal::frames_end(k, self.page_size) - frame;
            let (_, commit) = wal::frame_info(self.wal.get(at..at + wal::FRAME_HEADER)?);
            (commit > 0).then_some(commit)
        })
    }

    /// Page `number` as the first `before` WAL frames leave it: its last
    /// frame among them, else the main file's copy; `None` if the page is
    /// beyond the end of the database then (its content is undefined, and
    /// a node that checkpointed may no longer hold it).
    fn page_version(&self, number: u32, before: u32) -> Result<Option<Cow<'_, [u8]>>, VfsError> {
        let size = self.page_size as usize;
        if number == 0 || size == 0 {
            return Ok(None);
        }
        let frame = wal::frame_size(self.page_size);
        let at = |k: u32| wal::frames_end(k, self.page_size) - frame;
        // One backward pass: the newest frame of the page, and the size
        // the newest commit before `before` recorded.
        let mut db_pages = None;
        let mut found = None;
        for k in (1..=before).rev() {
            let Some(header) = self.wal.get(at(k)..at(k) + wal::FRAME_HEADER) else {
                return Ok(None);
            };
            let (page_no, commit) = wal::frame_info(header);
            if found.is_none() && page_no == number {
                found = Some(k);
            }
            if db_pages.is_none() && commit > 0 {
                db_pages = Some(commit);
            }
            if found.is_some() && db_pages.is_some() {
                break;
            }
        }
        if number > db_pages.unwrap_or(self.base_pages) {
            return Ok(None);
        }
        match found {
            Some(k) => Ok(self
                .wal
                .get(at(k) + wal::FRAME_HEADER..at(k) + frame)
                .map(Cow::Borrowed)),
            None => {
                let offset = u64::from(number - 1) * size as u64;
                let page = self.main.read_range(offset, size).map_err(VfsError::io)?;
                Ok(page.map(Cow::Owned))
            }
        }
    }

    /// Whether `tx_id` is the oldest pending transaction (the next one
    /// Raft may commit).
    pub(crate) fn is_next_pending(&self, tx_id: u64) -> bool {
        self.pending.front().is_some_and(|p| p.tx_id == tx_id)
    }

    /// Settles `tx_id`'s ticket as committed (Raft committed its entry;
    /// [`publish`](Self::publish) follows when it is applied). Returns
    /// false if it is not pending.
    pub(crate) fn mark_committed(&mut self, tx_id: u64) -> bool {
        match self.pending.iter().find(|p| p.tx_id == tx_id) {
            Some(p) => {
                p.state.send_replace(TxState::Committed);
                true
            }
            None => false,
        }
    }

    /// Commits the oldest pending transaction, which must be `tx_id`.
    pub(crate) fn publish(&mut self, tx_id: u64) -> Result<(), VfsError> {
        if !self.is_next_pending(tx_id) {
            return Err(VfsError::NoPendingTransaction { tx_id });
        }
        if let Some(pending) = self.pending.pop_front() {
            self.committed_frames = pending.max_frame;
            pending.state.send_replace(TxState::Committed);
        }
        Ok(())
    }

    /// Aborts pending transaction `tx_id` and every one after it (they
    /// were built on it). Returns false, doing nothing, if `tx_id` is not
    /// pending (already committed or aborted).
    pub(crate) fn abort_from(&mut self, tx_id: u64) -> bool {
        let Some(at) = self.pending.iter().position(|p| p.tx_id == tx_id) else {
            return false;
        };
        let keep = self.pending[at].after_frame;
        for aborted in self.pending.drain(at..) {
            aborted.state.send_replace(TxState::Aborted);
        }
        self.evict_writer();
        self.truncate_wal_to(keep);
        // Whoever holds a snapshot may have seen the dropped frames.
        self.fenced.extend(self.holders.keys().copied());
        // Every connection rebuilds the wal-index from the WAL.
        self.set_index_headers(&[0; INDEX_HEADERS]);
        true
    }

    /// Aborts every pending transaction and takes the write lock away
    /// from a connection in the middle of a write transaction: an entry
    /// from another node is about to change the database.
    pub(crate) fn abort_all(&mut self) {
        if let Some(first) = self.pending.front().map(|p| p.tx_id) {
            self.abort_from(first);
        } else if self.capture.is_some() {
            self.evict_writer();
            self.truncate_wal_to(self.last_frame());
            self.set_index_headers(&[0; INDEX_HEADERS]);
        }
    }

    /// Takes the write lock from the connection writing now, if any, and
    /// fences it.
    fn evict_writer(&mut self) {
        if let Some(capture) = self.capture.take() {
            self.fenced.insert(capture.owner);
            if self.shm_locks[WRITE_LOCK].exclusive == Some(capture.owner) {
                self.shm_locks[WRITE_LOCK].exclusive = None;
            }
        }
    }

    /// Appends frames produced elsewhere (by the leader) and makes them
    /// visible: SQLite connections rebuild the wal-index from the WAL on
    /// their next read. Call [`abort_all`](Self::abort_all) first.
    pub(crate) fn append(&mut self, frames: &Frames, salts: (u32, u32)) -> Result<(), VfsError> {
        if !self.pending.is_empty() || self.shm_locks[WRITE_LOCK].exclusive.is_some() {
            return Err(VfsError::Busy);
        }
        let Some(last_index) = frames.pages.len().checked_sub(1) else {
            return Ok(());
        };
        if self.committed_frames > 0 && frames.page_size != self.page_size {
            return Err(VfsError::PageSizeMismatch {
                expected: self.page_size,
                got: frames.page_size,
            });
        }
        if frames.page_size == 0 {
            return Err(VfsError::PageSizeMismatch {
                expected: self.page_size,
                got: 0,
            });
        }
        self.page_size = frames.page_size;
        if self.committed_frames == 0 {
            self.wal.clear();
            self.wal
                .extend_from_slice(&wal::new_header(frames.page_size, salts));
        }
        self.wal.truncate(self.committed_len().max(WAL_HEADER));
        let mut seed = wal::chain_seed(&self.wal, self.committed_frames, self.page_size);
        for (i, (before, page)) in (self.committed_frames..).zip(&frames.pages).enumerate() {
            let base = match self.page_version(page.number, before) {
                Ok(base) => base,
                Err(e) => {
                    self.truncate_wal_to(self.committed_frames);
                    return Err(e);
                }
            };
            let decoded = delta::decode(
                page.number,
                frames.page_size,
                base.as_deref(),
                &page.content,
            );
            drop(base);
            let content = match decoded {
                Ok(content) => content,
                Err(e) => {
                    // Leave the committed WAL as it was.
                    self.truncate_wal_to(self.committed_frames);
                    return Err(e);
                }
            };
            let commit = if i == last_index {
                frames.db_size.max(1)
            } else {
                0
            };
            seed = wal::append_frame(&mut self.wal, seed, page.number, commit, &content);
        }
        let added = u32::try_from(frames.pages.len()).map_err(|_| VfsError::TooManyFrames)?;
        self.committed_frames += added;
        // Zeroed headers make the next reader run WAL recovery.
        self.set_index_headers(&[0; INDEX_HEADERS]);
        Ok(())
    }

    /// Folds the committed WAL frames into the main image, if no
    /// connection holds any shm lock (no transaction reads or writes).
    /// Pending frames stay in the WAL, moved to its start. Returns what it
    /// did, or `None` if it did not. Each connection sees the zeroed
    /// wal-index header on its next read and rebuilds its view.
    pub(crate) fn checkpoint(&mut self) -> Option<Checkpointed> {
        let busy = self.capture.is_some()
            || self
                .shm_locks
                .iter()
                .any(|s| s.shared > 0 || s.exclusive.is_some());
        if busy || self.committed_frames == 0 {
            return None;
        }
        let page_size = u64::from(self.page_size);
        let frame = wal::frame_size(self.page_size);
        let mut db_pages = 0u32;
        let end = self.committed_len();
        // The last version of each page, then the size the last commit
        // recorded; the layer reaches the disk on the flusher's thread.
        let mut pages = BTreeMap::new();
        for at in (WAL_HEADER..end).step_by(frame) {
            let (page_no, commit) = wal::frame_info(&self.wal[at..]);
            pages.insert(page_no, at + wal::FRAME_HEADER..at + frame);
            if commit > 0 {
                db_pages = commit;
            }
        }
        let mut layer = Layer::new(u64::from(db_pages) * page_size);
        for (page_no, range) in pages.range(1..=db_pages) {
            layer.put(
                u64::from(page_no - 1) * page_size,
                self.wal[range.clone()].into(),
            );
        }
        self.main.push(layer);
        self.base_pages = db_pages;
        let folded = self.committed_frames;
        if self.pending.is_empty() {
            self.wal.clear();
        } else {
            // Same header, the pending frames renumbered from 1 with their
            // checksums chained anew.
            let old = std::mem::take(&mut self.wal);
            self.wal.extend_from_slice(&old[..WAL_HEADER]);
            let mut seed = wal::chain_seed(&self.wal, 0, self.page_size);
            for at in (end..old.len()).step_by(frame) {
                let Some(whole) = old.get(at..at + frame) else {
                    break;
                };
                let (page_no, commit) = wal::frame_info(whole);
                seed = wal::append_frame(
                    &mut self.wal,
                    seed,
                    page_no,
                    commit,
                    &whole[wal::FRAME_HEADER..],
                );
            }
            for p in &mut self.pending {
                p.after_frame -= folded;
                p.max_frame -= folded;
            }
        }
        self.committed_frames = 0;
        self.set_index_headers(&[0; INDEX_HEADERS]);
        Some(Checkpointed {
            frames: folded,
            db_bytes: self.main.len(),
        })
    }

    /// The main image as far as every node agrees on it (see
    /// `base_pages`).
    #[cfg(test)]
    pub(crate) fn committed_main(&self) -> Result<Vec<u8>, VfsError> {
        let len = u64::from(self.base_pages) * u64::from(self.page_size);
        let mut main = self.main.read_all().map_err(VfsError::io)?;
        main.truncate(usize::try_from(len).unwrap_or(usize::MAX));
        Ok(main)
    }

    /// Bytes of the main image as far as every node agrees on it.
    pub(crate) fn committed_main_len(&self) -> u64 {
        (u64::from(self.base_pages) * u64::from(self.page_size)).min(self.main.len())
    }

    /// The applied part of the WAL.
    pub(crate) fn committed_wal(&self) -> &[u8] {
        &self.wal[..self.committed_len().min(self.wal.len())]
    }

    /// Switches to `main` (a file holding a durable point's image) with
    /// `wal_bytes` as its committed WAL; connections rebuild their view
    /// on their next read. Call [`abort_all`](Self::abort_all) first.
    pub(crate) fn use_files(&mut self, main: MainFile, wal_bytes: &[u8]) -> Result<(), VfsError> {
        if !self.pending.is_empty() || self.shm_locks[WRITE_LOCK].exclusive.is_some() {
            return Err(VfsError::Busy);
        }
        let frames = match image_frames(wal_bytes)? {
            Some((page_size, frames)) => {
                self.page_size = page_size;
                frames
            }
            None => 0,
        };
        if self.page_size == 0 {
            self.page_size = main_page_size(&main)?.unwrap_or(0);
        }
        let page_size = if self.page_size == 0 {
            PAGE_SIZE
        } else {
            self.page_size
        };
        self.base_pages = u32::try_from(main.len() / u64::from(page_size)).unwrap_or(u32::MAX);
        self.main = main;
        self.wal = wal_bytes.to_vec();
        self.committed_frames = frames;
        // Readers of the old content must start over.
        self.fenced.extend(self.holders.keys().copied());
        self.set_index_headers(&[0; INDEX_HEADERS]);
        Ok(())
    }

    /// Number of applied WAL frames.
    pub(crate) fn committed_frames(&self) -> u32 {
        self.committed_frames
    }
}

/// The page size a main file's header records (`None` for an empty file).
fn main_page_size(main: &MainFile) -> Result<Option<u32>, VfsError> {
    let Some(header) = main.read_range(0, 100).map_err(VfsError::io)? else {
        return Ok(None);
    };
    let size = u32::from(u16::from_be_bytes([header[16], header[17]]));
    Ok(match size {
        0 => None,
        1 => Some(65536),
        size => Some(size),
    })
}

/// The page size and frame count of a snapshot's WAL image (`None` for
/// an empty one); an error if it is not a whole number of frames after a
/// valid header.
pub(crate) fn image_frames(wal_bytes: &[u8]) -> Result<Option<(u32, u32)>, VfsError> {
    match wal::header_page_size(wal_bytes) {
        None if wal_bytes.is_empty() => Ok(None),
        Some(page_size)
            if page_size > 0
                && (wal_bytes.len() - WAL_HEADER).is_multiple_of(wal::frame_size(page_size)) =>
        {
            let frames = u32::try_from((wal_bytes.len() - WAL_HEADER) / wal::frame_size(page_size))
                .map_err(|_| VfsError::BadImage(wal_bytes.len()))?;
            Ok(Some((page_size, frames)))
        }
        _ => Err(VfsError::BadImage(wal_bytes.len())),
    }
}

/// Writes `data` at `offset` of `buf`, zero-filling any gap.
pub(crate) fn write_at(buf: &mut Vec<u8>, offset: usize, data: &[u8]) {
    let end = offset + data.len();
    if buf.len() < end {
        buf.resize(end, 0);
    }
    buf[offset..end].copy_from_slice(data);
}

/// Reads from `buf` at `offset` into `out`; returns false on a short read
/// (the missing tail is zero-filled, as SQLite requires).
pub(crate) fn read_at(buf: &[u8], offset: usize, out: &mut [u8]) -> bool {
    let available = buf.len().saturating_sub(offset).min(out.len());
    if available > 0 {
        out[..available].copy_from_slice(&buf[offset..offset + available]);
    }
    out[available..].fill(0);
    available == out.len()
}

/// What a checkpoint did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpointed {
    /// Committed WAL frames folded into the main image (pages written
    /// back, a page once per frame that held it).
    pub frames: u32,
    /// Size of the main image afterwards, in bytes.
    pub db_bytes: u64,
}
