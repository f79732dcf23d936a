//! A database's main file: a file on disk, with the changes not yet
//! written to it kept in memory on top.
//!
//! Every change to the main file — a checkpoint folding committed WAL
//! frames, a snapshot restored, SQLite's own rare writes and truncations —
//! becomes a [`Layer`]: the bytes it writes and the file length after it.
//! A layer joins the file's *overlay* at once, so readers see it from then
//! on, and is queued for the [`Flusher`] thread, which writes it to disk
//! and then drops it from the overlay. The writer of a change therefore
//! never waits for the disk: handing over a layer is a memory move.
//!
//! A read is the file's bytes on disk with every layer still in the
//! overlay applied over them, oldest first (a layer's length cuts off what
//! lies beyond it). Layers are written in the order they were made, one at
//! a time, so the disk always holds a prefix of the changes, and a page
//! being written is still read from its layer until the write is done.
//!
//! Before overwriting what the file held at the last durable point, the
//! flusher saves it in the file's [undo file](super::undo), so that the
//! file as of that point can always be restored (after a crash) or read
//! (for a snapshot).
//!
//! If writing a layer fails, the file stops being written (the error is
//! logged and kept): layers stay in memory, so reads remain correct, and
//! [`MainFile::failure`] reports it.

use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::sums::Sums;
use super::undo::{self, BLOCK, BLOCK_LEN, Undo, read_fully};

/// Bytes written to a main file, not yet on disk.
#[derive(Debug, Default)]
pub(crate) struct Layer {
    /// Byte ranges written, by offset; they do not overlap.
    extents: BTreeMap<u64, Box<[u8]>>,
    /// Length of the longest extent (bounds the overlap search).
    longest: u64,
    /// File length once the layer is written.
    len: u64,
}

impl Layer {
    /// An empty layer leaving the file `len` bytes long.
    pub(crate) fn new(len: u64) -> Self {
        Self {
            len,
            ..Self::default()
        }
    }

    /// Writes `data` at `offset` (replacing what this layer held there:
    /// callers write whole pages of one size, or one extent per layer).
    pub(crate) fn put(&mut self, offset: u64, data: Box<[u8]>) {
        self.longest = self.longest.max(data.len() as u64);
        self.extents.insert(offset, data);
    }

    /// Bytes of data the layer holds.
    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.extents.values().map(|e| e.len()).sum()
    }

    /// Whether writing the layer changes any of `[from, to)` of a file
    /// `disk_len` bytes long (its extents, or a truncation).
    fn touches(&self, from: u64, to: u64, disk_len: u64) -> bool {
        if self.len < to && self.len < disk_len {
            return true;
        }
        let first = from.saturating_sub(self.longest.saturating_sub(1));
        self.extents
            .range(first..to)
            .any(|(&at, data)| at + data.len() as u64 > from)
    }

    /// Copies what the layer holds of `[offset, offset + out.len())`
    /// into `out`, after zeroing what lies beyond the layer's length.
    fn apply(&self, offset: u64, out: &mut [u8]) {
        let end = offset + out.len() as u64;
        if self.len < end {
            let from = usize::try_from(self.len.saturating_sub(offset)).unwrap_or(usize::MAX);
            if from < out.len() {
                out[from..].fill(0);
            }
        }
        let first = offset.saturating_sub(self.longest.saturating_sub(1));
        for (&at, data) in self.extents.range(first..end) {
            let data_end = at + data.len() as u64;
            if data_end <= offset {
                continue;
            }
            let from = at.max(offset);
            let to = data_end.min(end);
            let src = &data[to_usize(from - at)..to_usize(to - at)];
            out[to_usize(from - offset)..to_usize(to - offset)].copy_from_slice(src);
        }
    }
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// What readers see of the file, besides its bytes on disk.
#[derive(Debug, Default)]
struct View {
    /// Layers not yet on disk, oldest first.
    layers: VecDeque<Arc<Layer>>,
    /// Length of the file on disk, as the layers written left it.
    disk_len: u64,
    /// Length readers see (the newest layer's, else `disk_len`).
    len: u64,
    /// Why the file is no longer written, once a write failed.
    failure: Option<String>,
}

/// The file and its view, shared with the flusher.
#[derive(Debug)]
struct Shared {
    path: PathBuf,
    file: File,
    view: Mutex<View>,
    /// Touched by the disk thread only.
    undo: Mutex<Undo>,
    /// The blocks' checksums: updated by the disk thread after it writes
    /// them (while their layer still covers them), read to check every
    /// block read from the disk.
    sums: Mutex<Sums>,
    /// Signalled whenever a layer leaves the overlay.
    flushed: Condvar,
    /// Bytes written since writeback was last started (disk thread).
    unsynced: std::sync::atomic::AtomicU64,
}

/// Bytes written to a file after which the disk thread has the kernel
/// start writing them back, so that the sync of a durable point finds
/// little left to write (one long sync would hold up the Raft log's).
const WRITEBACK_EVERY: u64 = 2 * 1024 * 1024;

impl Shared {
    /// Counts `bytes` written; past [`WRITEBACK_EVERY`], starts the
    /// writeback of the file's dirty pages without waiting for it.
    fn wrote(&self, bytes: u64) {
        use std::sync::atomic::Ordering;
        if self.unsynced.fetch_add(bytes, Ordering::Relaxed) + bytes < WRITEBACK_EVERY {
            return;
        }
        self.unsynced.store(0, Ordering::Relaxed);
        if let Err(e) = crate::fs_util::start_writeback(&self.file) {
            tracing::debug!(path = %self.path.display(), error = %e, "cannot start writeback");
        }
    }

    fn view(&self) -> MutexGuard<'_, View> {
        self.view
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn sums(&self) -> MutexGuard<'_, Sums> {
        self.sums
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn undo(&self) -> MutexGuard<'_, Undo> {
        self.undo
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes `layer`, the oldest in the overlay, then drops it from the
    /// overlay.
    fn flush(&self, layer: &Arc<Layer>) {
        if self.view().failure.is_some() {
            return;
        }
        let disk_len = self.view().disk_len;
        let written = (|| {
            let mut undo = self.undo();
            for (&at, data) in &layer.extents {
                undo.save(&self.file, at, data.len() as u64)?;
            }
            if layer.len < disk_len {
                undo.save(&self.file, layer.len, disk_len - layer.len)?;
            }
            if layer.len > undo.base_len() {
                undo.before_growth()?;
            }
            undo.sync()?;
            drop(undo);
            for (&at, data) in &layer.extents {
                self.file.write_all_at(data, at)?;
                self.wrote(data.len() as u64);
            }
            self.file.set_len(layer.len)?;
            let mut sums = self.sums();
            sums.truncate(layer.len)?;
            // Blocks whose bytes are at hand (the pages of folds) are not
            // read back.
            let mut computed = std::collections::BTreeSet::new();
            for (&at, data) in &layer.extents {
                let len = data.len() as u64;
                if at.is_multiple_of(BLOCK) && len.is_multiple_of(BLOCK) {
                    sums.wrote(at, data)?;
                    computed.extend(at / BLOCK..(at + len) / BLOCK);
                } else {
                    sums.refresh(&self.file, at / BLOCK..(at + len).div_ceil(BLOCK))?;
                }
            }
            if layer.len > disk_len {
                // Zero-filled by the growth, unless written above.
                for block in disk_len / BLOCK..layer.len.div_ceil(BLOCK) {
                    if !computed.contains(&block) {
                        sums.refresh(&self.file, block..block + 1)?;
                    }
                }
            } else if !layer.len.is_multiple_of(BLOCK) {
                // A cut inside a block changes that block.
                sums.refresh(&self.file, layer.len / BLOCK..layer.len / BLOCK + 1)?;
            }
            io::Result::Ok(())
        })();
        let mut view = self.view();
        match written {
            Ok(()) => {
                if view.layers.front().is_some_and(|l| Arc::ptr_eq(l, layer)) {
                    view.layers.pop_front();
                }
                view.disk_len = layer.len;
            }
            Err(e) => {
                tracing::error!(
                    path = %self.path.display(),
                    error = %e,
                    "cannot write a database file; its changes stay in memory"
                );
                view.failure = Some(format!("{}: {e}", self.path.display()));
            }
        }
        drop(view);
        self.flushed.notify_all();
    }
}

/// Work for the disk thread, done in the order it was queued.
enum Job {
    /// Write a layer of a file.
    Layer(Arc<Shared>, Arc<Layer>),
    /// Run something after every job queued before it (a durable point,
    /// reading a snapshot).
    Run(Box<dyn FnOnce() + Send>),
}

/// The disk thread: writes layers to disk, for every database of a VFS,
/// and runs what must see the files between two layers.
#[derive(Debug, Clone)]
pub(crate) struct Flusher {
    jobs: mpsc::Sender<Job>,
}

impl Flusher {
    /// Starts the thread; it ends when every sender is gone.
    pub(crate) fn start() -> io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("db-flush".into())
            .spawn(move || {
                for job in queue {
                    match job {
                        Job::Layer(file, layer) => file.flush(&layer),
                        Job::Run(work) => work(),
                    }
                }
            })?;
        Ok(Self { jobs })
    }

    /// Runs `work` on the disk thread once every job queued so far is
    /// done; false if the thread is gone.
    pub(crate) fn run(&self, work: impl FnOnce() + Send + 'static) -> bool {
        self.jobs.send(Job::Run(Box::new(work))).is_ok()
    }
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Layer(file, _) => write!(f, "Layer({})", file.path.display()),
            Self::Run(_) => f.write_str("Run"),
        }
    }
}

/// One database's main file (cheap to clone: clones share the file).
#[derive(Debug, Clone)]
pub(crate) struct MainFile {
    shared: Arc<Shared>,
    flusher: Flusher,
}

impl MainFile {
    /// Creates (or empties) the file at `path`, for a database that did
    /// not exist at durable point `epoch`.
    pub(crate) fn create(path: &Path, epoch: u64, flusher: Flusher) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|e| named(path, e))?;
        Self::with(path, file, 0, epoch, flusher, &[])
    }

    /// Opens the existing file at `path` as of durable point `epoch`,
    /// after restoring it to that point from its undo file.
    pub(crate) fn open(path: &Path, epoch: u64, flusher: Flusher) -> io::Result<Self> {
        let restored =
            undo::roll_back(path, &undo_path(path), epoch).map_err(|e| named(path, e))?;
        if !restored.is_empty() {
            tracing::info!(path = %path.display(), blocks = restored.len(), "restored a database file to the last durable point");
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| named(path, e))?;
        let len = file.metadata().map_err(|e| named(path, e))?.len();
        let mut recompute = restored;
        if !len.is_multiple_of(BLOCK) {
            recompute.push(len / BLOCK);
        }
        let opened = Self::with(path, file, len, epoch, flusher, &recompute)?;
        // The checksums of the restored blocks are synced by now: the undo
        // file that restored them is no longer needed.
        undo::remove_if_exists(&undo_path(path)).map_err(|e| named(path, e))?;
        crate::fs_util::sync_dir(path.parent().unwrap_or(Path::new(".")))
            .map_err(|e| named(path, e))?;
        Ok(opened)
    }

    /// Stops writing the file, for `why` (its changes stay in memory).
    pub(crate) fn fail(&self, why: &io::Error) {
        tracing::error!(path = %self.shared.path.display(), error = %why, "a database file is no longer written");
        self.shared
            .view()
            .failure
            .get_or_insert_with(|| format!("{}: {why}", self.shared.path.display()));
    }

    /// `Ok` unless writing the file failed: a durable point must not
    /// record a file that lacks changes made before it.
    pub(crate) fn healthy(&self) -> io::Result<()> {
        match &self.shared.view().failure {
            Some(failure) => Err(io::Error::other(format!(
                "a database file could not be written: {failure}"
            ))),
            None => Ok(()),
        }
    }

    fn with(
        path: &Path,
        file: File,
        len: u64,
        epoch: u64,
        flusher: Flusher,
        recompute: &[u64],
    ) -> io::Result<Self> {
        let sums = Sums::open(path, &file, len, recompute).map_err(|e| named(path, e))?;
        Ok(Self {
            shared: Arc::new(Shared {
                path: path.to_owned(),
                file,
                view: Mutex::new(View {
                    disk_len: len,
                    len,
                    ..View::default()
                }),
                undo: Mutex::new(Undo::new(undo_path(path), epoch, len)),
                sums: Mutex::new(sums),
                flushed: Condvar::new(),
                unsynced: std::sync::atomic::AtomicU64::new(0),
            }),
            flusher,
        })
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.shared.path
    }

    // ---- on the disk thread (see `Flusher::run`) ----

    /// Syncs the file: with every layer queued before written, it holds
    /// the state of the durable point being made.
    pub(crate) fn sync(&self) -> io::Result<()> {
        // Data and size (fdatasync): the rest of the metadata is not
        // needed to read the file back.
        self.shared
            .file
            .sync_data()
            .and_then(|()| self.shared.sums().sync())
            .map_err(|e| named(&self.shared.path, e))
    }

    /// Starts a new durable point: what the undo file saved is obsolete.
    pub(crate) fn begin_epoch(&self, epoch: u64) -> io::Result<()> {
        let len = self.shared.view().disk_len;
        self.shared
            .undo()
            .reset(epoch, len)
            .map_err(|e| named(&self.shared.path, e))
    }

    /// The file as of the last durable point (see
    /// [`durable_range`](Self::durable_range)).
    #[cfg(test)]
    pub(crate) fn durable_content(&self) -> io::Result<Vec<u8>> {
        let mut out = vec![0u8; to_usize(self.durable_len())];
        self.durable_range(0, &mut out)?;
        Ok(out)
    }

    /// The file's length at the last durable point.
    pub(crate) fn durable_len(&self) -> u64 {
        self.shared.undo().base_len()
    }

    /// Bytes `[offset, offset + out.len())` of the file as of the last
    /// durable point, which they must lie within: one read of the file,
    /// then the blocks overwritten since taken from the undo file, every
    /// other block checked against its checksum.
    pub(crate) fn durable_range(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        let disk_len = self.shared.view().disk_len;
        let undo = self.shared.undo();
        let sums = self.shared.sums();
        let base_len = undo.base_len();
        let end = offset + out.len() as u64;
        if end > base_len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bytes {offset}..{end} are past the durable length {base_len}"),
            ));
        }
        let first = offset / BLOCK;
        let start = first * BLOCK;
        let aligned_end = end.div_ceil(BLOCK) * BLOCK;
        let mut blocks = vec![0u8; to_usize(aligned_end - start)];
        let on_disk = to_usize(disk_len.min(aligned_end).saturating_sub(start));
        read_fully(&self.shared.file, &mut blocks[..on_disk], start)?;
        for (block, chunk) in (first..).zip(blocks.chunks_mut(BLOCK_LEN)) {
            let len = to_usize((base_len - block * BLOCK).min(BLOCK));
            let chunk = &mut chunk[..len];
            if let Some(original) = undo.original(block)? {
                chunk.copy_from_slice(&original[..len]);
            } else if block * BLOCK + len as u64 > disk_len || !sums.check(block, chunk) {
                return Err(self.damaged(block));
            }
        }
        let skip = to_usize(offset - start);
        out.copy_from_slice(&blocks[skip..skip + out.len()]);
        Ok(())
    }

    // ---- anywhere ----

    /// Another handle on the same file (to wait on it without holding
    /// the database's lock).
    #[cfg(test)]
    pub(crate) fn handle(&self) -> Self {
        self.clone()
    }

    /// Length of the file as readers see it.
    pub(crate) fn len(&self) -> u64 {
        self.shared.view().len
    }

    /// Reads `out.len()` bytes at `offset`; returns false on a short read
    /// (the part past the end is zero-filled, as SQLite requires).
    pub(crate) fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<bool> {
        let view = self.shared.view();
        let end = offset + out.len() as u64;
        let on_disk = to_usize(view.disk_len.min(end).saturating_sub(offset));
        let (disk, rest) = out.split_at_mut(on_disk);
        read_fully(&self.shared.file, disk, offset)?;
        self.check(&view, offset, disk)?;
        rest.fill(0);
        for layer in &view.layers {
            layer.apply(offset, out);
        }
        Ok(end <= view.len)
    }

    /// Checks the blocks of `disk` (read at `offset`) against their
    /// checksums, except those a layer is about to change (the disk thread
    /// may be writing them).
    fn check(&self, view: &View, offset: u64, disk: &[u8]) -> io::Result<()> {
        if disk.is_empty() {
            return Ok(());
        }
        let end = offset + disk.len() as u64;
        let sums = self.shared.sums();
        for block in offset / BLOCK..end.div_ceil(BLOCK) {
            let (from, to) = (block * BLOCK, (block + 1) * BLOCK);
            if view
                .layers
                .iter()
                .any(|l| l.touches(from, to, view.disk_len))
            {
                continue;
            }
            let intact = if from >= offset && to <= end {
                sums.check(block, &disk[to_usize(from - offset)..to_usize(to - offset)])
            } else {
                let mut whole = vec![0u8; BLOCK_LEN];
                read_fully(&self.shared.file, &mut whole, from)?;
                sums.check(block, &whole)
            };
            if !intact {
                return Err(self.damaged(block));
            }
        }
        Ok(())
    }

    /// The error for block `block`, which does not read back as written.
    fn damaged(&self, block: u64) -> io::Error {
        let (from, to) = (block * BLOCK, (block + 1) * BLOCK);
        tracing::error!(
            path = %self.shared.path.display(),
            from,
            to,
            "a database file is damaged: bytes do not read back as written"
        );
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "database file {} is damaged in bytes {from}..{to} (checksum mismatch)",
                self.shared.path.display()
            ),
        )
    }

    /// The bytes of `[offset, offset + len)`, if the file is that long.
    pub(crate) fn read_range(&self, offset: u64, len: usize) -> io::Result<Option<Vec<u8>>> {
        let mut out = vec![0; len];
        Ok(self.read(offset, &mut out)?.then_some(out))
    }

    /// The whole file as readers see it.
    #[cfg(test)]
    pub(crate) fn read_all(&self) -> io::Result<Vec<u8>> {
        let len = to_usize(self.len());
        let mut out = vec![0; len];
        self.read(0, &mut out)?;
        Ok(out)
    }

    /// Adds `layer` over the file and queues it for the disk.
    pub(crate) fn push(&self, layer: Layer) {
        let layer = Arc::new(layer);
        {
            let mut view = self.shared.view();
            view.len = layer.len;
            view.layers.push_back(layer.clone());
        }
        if self
            .flusher
            .jobs
            .send(Job::Layer(self.shared.clone(), layer))
            .is_err()
        {
            // No flusher: the layer stays in memory, and reads see it.
            self.shared
                .view()
                .failure
                .get_or_insert_with(|| "the database flusher thread is gone".into());
        }
    }

    /// Writes `data` at `offset` (SQLite's own writes).
    pub(crate) fn write(&self, offset: u64, data: &[u8]) {
        let mut layer = Layer::new(self.len().max(offset + data.len() as u64));
        layer.put(offset, data.into());
        self.push(layer);
    }

    /// Cuts or extends the file to `len` bytes.
    pub(crate) fn truncate(&self, len: u64) {
        self.push(Layer::new(len));
    }

    /// Bytes of changes held in memory, not yet on disk.
    #[cfg(test)]
    pub(crate) fn unwritten_bytes(&self) -> usize {
        self.shared.view().layers.iter().map(|l| l.bytes()).sum()
    }

    /// Why the file is no longer written, if a write failed.
    pub(crate) fn failure(&self) -> Option<String> {
        self.shared.view().failure.clone()
    }

    /// Waits until every change made so far is on disk (or a write
    /// failed), at most `timeout`; returns whether everything is written.
    #[cfg(test)]
    pub(crate) fn wait_written(&self, timeout: std::time::Duration) -> bool {
        let view = self.shared.view();
        let (view, _) = self
            .shared
            .flushed
            .wait_timeout_while(view, timeout, |v| {
                !v.layers.is_empty() && v.failure.is_none()
            })
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        view.layers.is_empty()
    }
}

/// The undo file of the main file at `path`.
pub(crate) fn undo_path(path: &Path) -> PathBuf {
    path.with_extension("undo")
}

fn named(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn file(dir: &tempfile::TempDir) -> MainFile {
        MainFile::create(&dir.path().join("main"), 0, Flusher::start().unwrap()).unwrap()
    }

    fn page(byte: u8) -> Box<[u8]> {
        vec![byte; 4096].into_boxed_slice()
    }

    #[test]
    fn reads_see_layers_before_and_after_they_reach_the_disk() {
        let dir = tempfile::tempdir().unwrap();
        let main = file(&dir);
        let mut layer = Layer::new(3 * 4096);
        layer.put(0, page(1));
        layer.put(2 * 4096, page(3));
        main.push(layer);
        let mut expected = vec![1u8; 4096];
        expected.extend(vec![0u8; 4096]);
        expected.extend(vec![3u8; 4096]);
        assert_eq!(main.read_all().unwrap(), expected);
        assert!(main.wait_written(Duration::from_secs(10)));
        assert_eq!(main.unwritten_bytes(), 0);
        assert_eq!(main.read_all().unwrap(), expected);
        assert_eq!(std::fs::read(dir.path().join("main")).unwrap(), expected);
    }

    #[test]
    fn newer_layers_win_and_truncation_cuts_older_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let main = file(&dir);
        let mut first = Layer::new(2 * 4096);
        first.put(0, page(1));
        first.put(4096, page(2));
        main.push(first);
        // Cut to one page, then grow again with a new second page.
        main.truncate(4096);
        let mut third = Layer::new(2 * 4096);
        third.put(4096, page(9));
        main.push(third);
        let mut expected = vec![1u8; 4096];
        expected.extend(vec![9u8; 4096]);
        assert_eq!(main.read_all().unwrap(), expected);
        assert!(main.wait_written(Duration::from_secs(10)));
        assert_eq!(main.read_all().unwrap(), expected);
        // Growing without writing shows zeroes, not the old page.
        main.truncate(4096);
        main.truncate(2 * 4096);
        let mut grown = vec![1u8; 4096];
        grown.extend(vec![0u8; 4096]);
        assert_eq!(main.read_all().unwrap(), grown);
        assert!(main.wait_written(Duration::from_secs(10)));
        assert_eq!(main.read_all().unwrap(), grown);
    }

    #[test]
    fn unaligned_reads_and_writes_span_extents_and_the_disk() {
        let dir = tempfile::tempdir().unwrap();
        let main = file(&dir);
        let mut all = Layer::new(200_000);
        all.put(0, vec![7u8; 200_000].into_boxed_slice());
        main.push(all);
        assert!(main.wait_written(Duration::from_secs(10)));
        main.write(65_530, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        let mut out = [0u8; 20];
        assert!(main.read(65_526, &mut out).unwrap());
        assert_eq!(
            out,
            [
                7, 7, 7, 7, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 7, 7, 7, 7
            ]
        );
        // Past the end: short, zero-filled.
        let mut tail = [9u8; 8];
        assert!(!main.read(199_996, &mut tail).unwrap());
        assert_eq!(tail, [7, 7, 7, 7, 0, 0, 0, 0]);
        assert_eq!(main.read_range(199_990, 20).unwrap(), None);
    }

    #[test]
    fn a_flipped_byte_on_disk_is_an_error_naming_the_file_and_the_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("main");
        {
            let main = file(&dir);
            let mut layer = Layer::new(3 * 4096);
            for i in 0..3u8 {
                layer.put(u64::from(i) * 4096, page(i + 1));
            }
            main.push(layer);
            assert!(main.wait_written(Duration::from_secs(10)));
            // A durable point (1) of these three blocks.
            main.sync().unwrap();
            main.begin_epoch(1).unwrap();
        }
        // Reopened intact: every byte reads back.
        let reopen = || MainFile::open(&path, 1, Flusher::start().unwrap()).unwrap();
        assert_eq!(
            reopen().read_range(4096, 4096).unwrap().unwrap(),
            &page(2)[..]
        );
        // One bit flipped in the second block, at rest.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[4096 + 17] ^= 0x04;
        std::fs::write(&path, &bytes).unwrap();
        let main = reopen();
        let e = main.read_range(4096, 4096).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        let message = e.to_string();
        assert!(
            message.contains(&path.display().to_string()) && message.contains("bytes 4096..8192"),
            "{message}"
        );
        // A read of part of the block is checked too; other blocks read.
        assert!(main.read_range(4096 + 100, 10).is_err());
        assert_eq!(main.read_range(0, 4096).unwrap().unwrap(), &page(1)[..]);
        assert_eq!(main.read_range(8192, 4096).unwrap().unwrap(), &page(3)[..]);
        // The durable image for a snapshot refuses it as well.
        assert!(main.durable_content().is_err());
        // Rewritten by a layer, the block is good again.
        let mut fix = Layer::new(3 * 4096);
        fix.put(4096, page(7));
        main.push(fix);
        assert!(main.wait_written(Duration::from_secs(10)));
        assert_eq!(main.read_range(4096, 4096).unwrap().unwrap(), &page(7)[..]);
    }

    #[test]
    fn changes_after_the_durable_point_are_undone_at_reopen_growth_included() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("main");
        {
            let main = file(&dir);
            let mut first = Layer::new(4096);
            first.put(0, page(1));
            main.push(first);
            assert!(main.wait_written(Duration::from_secs(10)));
            main.sync().unwrap();
            main.begin_epoch(5).unwrap();
            // After the point: block 0 overwritten, the file grown; no
            // later point, then the process dies.
            let mut after = Layer::new(3 * 4096);
            after.put(0, page(8));
            after.put(2 * 4096, page(3));
            main.push(after);
            assert!(main.wait_written(Duration::from_secs(10)));
        }
        let reopened = MainFile::open(&path, 5, Flusher::start().unwrap()).unwrap();
        assert_eq!(reopened.len(), 4096);
        assert_eq!(reopened.read_range(0, 4096).unwrap().unwrap(), &page(1)[..]);
        assert!(!undo_path(&path).exists());
    }
}
