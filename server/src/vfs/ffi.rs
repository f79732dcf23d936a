//! The SQLite VFS and file callbacks. Each callback turns raw pointers into
//! references, locks the database and delegates to [`Database`]; no
//! decision is made here. Callbacks never panic (a poisoned mutex becomes an
//! I/O error code).

#![allow(unsafe_code)]

use std::collections::HashMap;
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::ffi;

use super::main_file::{Flusher, MainFile};
use super::state::{Busy, Database, FileId, SHM_REGION, level, read_at, write_at};

/// Everything a registered VFS owns; lives for the rest of the process
/// (SQLite keeps a pointer to it).
pub(crate) struct VfsState {
    pub(crate) name: CString,
    default: *mut ffi::sqlite3_vfs,
    pub(crate) databases: Mutex<HashMap<String, Arc<Mutex<Database>>>>,
    next_file: AtomicU64,
    /// Where the databases' main files are (`N.db`, numbered in the
    /// order the databases were created).
    pub(crate) dir: std::path::PathBuf,
    /// Number of the next database file.
    next_db_file: AtomicU64,
    /// Writes main-file changes to disk.
    pub(crate) flusher: Flusher,
    /// Bytes of page cache each connection keeps (`PRAGMA cache_size`).
    pub(crate) cache_bytes: AtomicU64,
    /// The last durable point and its files.
    pub(crate) durable: Arc<Mutex<super::files::DurableState>>,
    /// First transaction id of databases created by this process: ids
    /// never repeat across restarts, so a log entry from an earlier run
    /// cannot be mistaken for a pending transaction of this one.
    tx_id_base: u64,
}

// SAFETY: `default` points to SQLite's built-in VFS, which is immutable and
// lives for the whole process; everything else is Sync.
unsafe impl Send for VfsState {}
// SAFETY: see above.
unsafe impl Sync for VfsState {}

impl VfsState {
    pub(crate) fn database(&self, name: &str, create: bool) -> Option<Arc<Mutex<Database>>> {
        let mut dbs = self.databases.lock().ok()?;
        if let Some(db) = dbs.get(name) {
            return Some(db.clone());
        }
        if !create {
            return None;
        }
        let number = self.take_file_number();
        let path = super::files::main_path(&self.dir, number);
        let main = match MainFile::create(&path, 0, self.flusher.clone()) {
            Ok(main) => main,
            Err(e) => {
                tracing::error!(database = name, error = %e, "cannot create a database file");
                return None;
            }
        };
        let db = Arc::new(Mutex::new(Database::new(main, self.tx_id_base)));
        dbs.insert(name.to_owned(), db.clone());
        Some(db)
    }

    /// Database `name`, created with `main` as its file if it does not
    /// exist (the caller then gives it its content).
    pub(crate) fn insert_database(&self, name: &str, main: MainFile) -> Arc<Mutex<Database>> {
        let mut dbs = self
            .databases
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        dbs.entry(name.to_owned())
            .or_insert_with(|| Arc::new(Mutex::new(Database::new(main, self.tx_id_base))))
            .clone()
    }

    /// A number for a new database file.
    pub(crate) fn take_file_number(&self) -> u64 {
        self.next_db_file.fetch_add(1, Ordering::Relaxed)
    }

    /// Numbers new database files from `next` on.
    pub(crate) fn set_next_file(&self, next: u64) {
        self.next_db_file.fetch_max(next, Ordering::Relaxed);
    }
}

/// Registers a VFS under `name`, keeping its databases' main files in
/// `dir`; the returned state is leaked on purpose.
pub(crate) fn register(
    name: &str,
    dir: &std::path::Path,
    flusher: Flusher,
) -> Result<&'static VfsState, c_int> {
    let name = CString::new(name).map_err(|_| ffi::SQLITE_MISUSE)?;
    // SAFETY: a null name asks for the default VFS; it is never freed.
    let default = unsafe { ffi::sqlite3_vfs_find(std::ptr::null()) };
    if default.is_null() {
        return Err(ffi::SQLITE_ERROR);
    }
    let state: &'static VfsState = Box::leak(Box::new(VfsState {
        name,
        default,
        databases: Mutex::new(HashMap::new()),
        next_file: AtomicU64::new(1),
        dir: dir.to_owned(),
        next_db_file: AtomicU64::new(1),
        flusher,
        cache_bytes: AtomicU64::new(2 * 1024 * 1024),
        durable: Arc::default(),
        tx_id_base: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX / 2))
            .unwrap_or(0),
    }));
    let vfs = Box::leak(Box::new(ffi::sqlite3_vfs {
        iVersion: 2,
        szOsFile: c_int::try_from(std::mem::size_of::<File>()).map_err(|_| ffi::SQLITE_ERROR)?,
        mxPathname: 512,
        pNext: std::ptr::null_mut(),
        zName: state.name.as_ptr(),
        pAppData: std::ptr::from_ref(state).cast_mut().cast(),
        xOpen: Some(x_open),
        xDelete: Some(x_delete),
        xAccess: Some(x_access),
        xFullPathname: Some(x_full_pathname),
        xDlOpen: None,
        xDlError: None,
        xDlSym: None,
        xDlClose: None,
        xRandomness: Some(x_randomness),
        xSleep: Some(x_sleep),
        xCurrentTime: Some(x_current_time),
        xGetLastError: Some(x_get_last_error),
        xCurrentTimeInt64: Some(x_current_time_int64),
        xSetSystemCall: None,
        xGetSystemCall: None,
        xNextSystemCall: None,
    }));
    // SAFETY: `vfs` is a valid, leaked (so never freed) VFS object.
    let rc = unsafe { ffi::sqlite3_vfs_register(vfs, 0) };
    if rc == ffi::SQLITE_OK {
        Ok(state)
    } else {
        Err(rc)
    }
}

/// An open file: SQLite's base struct first, then ours.
#[repr(C)]
struct File {
    base: ffi::sqlite3_file,
    kind: Kind,
}

enum Kind {
    Main {
        db: Arc<Mutex<Database>>,
        id: FileId,
        level: i32,
        shm_shared: u8,
        shm_exclusive: u8,
    },
    Wal(Arc<Mutex<Database>>),
    Journal(Arc<Mutex<Database>>),
    Temp(Vec<u8>),
}

static IO_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 2,
    xClose: Some(x_close),
    xRead: Some(x_read),
    xWrite: Some(x_write),
    xTruncate: Some(x_truncate),
    xSync: Some(x_sync),
    xFileSize: Some(x_file_size),
    xLock: Some(x_lock),
    xUnlock: Some(x_unlock),
    xCheckReservedLock: Some(x_check_reserved_lock),
    xFileControl: Some(x_file_control),
    xSectorSize: Some(x_sector_size),
    xDeviceCharacteristics: Some(x_device_characteristics),
    xShmMap: Some(x_shm_map),
    xShmLock: Some(x_shm_lock),
    xShmBarrier: Some(x_shm_barrier),
    xShmUnmap: Some(x_shm_unmap),
    xFetch: None,
    xUnfetch: None,
};

fn lock(db: &Mutex<Database>) -> Result<MutexGuard<'_, Database>, c_int> {
    db.lock().map_err(|_| ffi::SQLITE_IOERR)
}

fn code(result: Result<(), c_int>) -> c_int {
    result.err().unwrap_or(ffi::SQLITE_OK)
}

/// # Safety
/// `file` must be a file this VFS opened and not yet closed.
unsafe fn file<'a>(file: *mut ffi::sqlite3_file) -> &'a mut File {
    // SAFETY: guaranteed by the caller; `File` starts with `sqlite3_file`.
    unsafe { &mut *file.cast::<File>() }
}

/// # Safety
/// `vfs` must be a VFS registered by [`register`].
unsafe fn state<'a>(vfs: *mut ffi::sqlite3_vfs) -> &'a VfsState {
    // SAFETY: `pAppData` was set to a leaked `VfsState` in `register`.
    unsafe { &*(*vfs).pAppData.cast::<VfsState>() }
}

/// # Safety
/// `name` must be null or a NUL-terminated string.
unsafe fn name<'a>(name: *const c_char) -> Option<&'a str> {
    if name.is_null() {
        return None;
    }
    // SAFETY: guaranteed by the caller.
    unsafe { CStr::from_ptr(name) }.to_str().ok()
}

fn offset(offset: i64) -> Result<usize, c_int> {
    usize::try_from(offset).map_err(|_| ffi::SQLITE_IOERR)
}

fn len(amount: c_int) -> Result<usize, c_int> {
    usize::try_from(amount).map_err(|_| ffi::SQLITE_IOERR)
}

unsafe extern "C" fn x_open(
    vfs: *mut ffi::sqlite3_vfs,
    z_name: *const c_char,
    out: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    // SAFETY: SQLite passes our VFS and a valid (possibly null) name.
    let (state, name) = unsafe { (state(vfs), name(z_name)) };
    let create = flags & ffi::SQLITE_OPEN_CREATE != 0;
    let kind = if flags & ffi::SQLITE_OPEN_MAIN_DB != 0 {
        let Some(db) = name.and_then(|n| state.database(n, create)) else {
            return ffi::SQLITE_CANTOPEN;
        };
        Kind::Main {
            db,
            id: state.next_file.fetch_add(1, Ordering::Relaxed),
            level: level::NONE,
            shm_shared: 0,
            shm_exclusive: 0,
        }
    } else if flags & ffi::SQLITE_OPEN_WAL != 0 {
        match name
            .and_then(|n| n.strip_suffix("-wal"))
            .and_then(|n| state.database(n, false))
        {
            Some(db) => Kind::Wal(db),
            None => return ffi::SQLITE_CANTOPEN,
        }
    } else if flags & ffi::SQLITE_OPEN_MAIN_JOURNAL != 0 {
        match name
            .and_then(|n| n.strip_suffix("-journal"))
            .and_then(|n| state.database(n, false))
        {
            Some(db) => Kind::Journal(db),
            None => return ffi::SQLITE_CANTOPEN,
        }
    } else {
        // Temporary databases, statement and sub-journals: private memory.
        Kind::Temp(Vec::new())
    };
    // SAFETY: SQLite hands us `szOsFile` bytes, enough for a `File`.
    unsafe {
        out.cast::<File>().write(File {
            base: ffi::sqlite3_file {
                pMethods: &raw const IO_METHODS,
            },
            kind,
        });
        if !out_flags.is_null() {
            *out_flags = flags;
        }
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_close(f: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: SQLite closes each file it opened exactly once.
    let f = unsafe { file(f) };
    if let Kind::Main {
        db,
        id,
        level,
        shm_shared,
        shm_exclusive,
    } = &mut f.kind
        && let Ok(mut db) = db.lock()
    {
        db.shm_release_all(*id, shm_shared, shm_exclusive);
        db.unlock(*id, *level, level::NONE);
    }
    // SAFETY: the file was initialised by `x_open` and is not used again.
    unsafe { std::ptr::drop_in_place(&raw mut f.kind) };
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_read(
    f: *mut ffi::sqlite3_file,
    buf: *mut c_void,
    amount: c_int,
    at: i64,
) -> c_int {
    let (Ok(n), Ok(at)) = (len(amount), offset(at)) else {
        return ffi::SQLITE_IOERR_READ;
    };
    // SAFETY: SQLite passes an open file and a buffer of `amount` bytes.
    let (f, out) = unsafe { (file(f), std::slice::from_raw_parts_mut(buf.cast::<u8>(), n)) };
    let whole = match &f.kind {
        Kind::Main { db, .. } => lock(db).and_then(|db| {
            db.main.read(at as u64, out).map_err(|e| {
                if e.kind() == std::io::ErrorKind::InvalidData {
                    // Damage, already logged with the file and the bytes.
                    ffi::SQLITE_CORRUPT
                } else {
                    tracing::error!(error = %e, "cannot read a database file");
                    ffi::SQLITE_IOERR_READ
                }
            })
        }),
        Kind::Wal(db) => lock(db).map(|db| read_at(&db.wal, at, out)),
        Kind::Journal(db) => lock(db).map(|db| read_at(&db.journal, at, out)),
        Kind::Temp(data) => Ok(read_at(data, at, out)),
    };
    match whole {
        Ok(true) => ffi::SQLITE_OK,
        Ok(false) => ffi::SQLITE_IOERR_SHORT_READ,
        Err(ffi::SQLITE_CORRUPT) => ffi::SQLITE_CORRUPT,
        Err(_) => ffi::SQLITE_IOERR_READ,
    }
}

unsafe extern "C" fn x_write(
    f: *mut ffi::sqlite3_file,
    buf: *const c_void,
    amount: c_int,
    at: i64,
) -> c_int {
    let (Ok(n), Ok(at)) = (len(amount), offset(at)) else {
        return ffi::SQLITE_IOERR_WRITE;
    };
    // SAFETY: SQLite passes an open file and a buffer of `amount` bytes.
    let (f, data) = unsafe { (file(f), std::slice::from_raw_parts(buf.cast::<u8>(), n)) };
    let result = match &mut f.kind {
        Kind::Main { db, .. } => lock(db).map(|db| db.main.write(at as u64, data)),
        Kind::Wal(db) => lock(db).and_then(|mut db| {
            db.write_wal(at, data).map_err(|e| {
                tracing::error!(error = %e, "refused WAL write");
                ffi::SQLITE_IOERR_WRITE
            })
        }),
        Kind::Journal(db) => lock(db).map(|mut db| write_at(&mut db.journal, at, data)),
        Kind::Temp(buf) => {
            write_at(buf, at, data);
            Ok(())
        }
    };
    code(result.map_err(|_| ffi::SQLITE_IOERR_WRITE))
}

unsafe extern "C" fn x_truncate(f: *mut ffi::sqlite3_file, size: i64) -> c_int {
    let Ok(size) = offset(size) else {
        return ffi::SQLITE_IOERR_TRUNCATE;
    };
    // SAFETY: SQLite passes an open file.
    let f = unsafe { file(f) };
    let result = match &mut f.kind {
        Kind::Main { db, .. } => lock(db).map(|db| db.main.truncate(size as u64)),
        Kind::Wal(db) => lock(db).map(|mut db| db.truncate_wal(size)),
        Kind::Journal(db) => lock(db).map(|mut db| db.journal.truncate(size)),
        Kind::Temp(buf) => {
            buf.truncate(size);
            Ok(())
        }
    };
    code(result.map_err(|_| ffi::SQLITE_IOERR_TRUNCATE))
}

unsafe extern "C" fn x_sync(_f: *mut ffi::sqlite3_file, _flags: c_int) -> c_int {
    // Memory needs no sync: durability comes from the Raft log.
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_file_size(f: *mut ffi::sqlite3_file, out: *mut i64) -> c_int {
    // SAFETY: SQLite passes an open file and a valid output pointer.
    let f = unsafe { file(f) };
    let size = match &f.kind {
        Kind::Main { db, .. } => {
            lock(db).map(|db| usize::try_from(db.main.len()).unwrap_or(usize::MAX))
        }
        Kind::Wal(db) => lock(db).map(|db| db.wal.len()),
        Kind::Journal(db) => lock(db).map(|db| db.journal.len()),
        Kind::Temp(buf) => Ok(buf.len()),
    };
    match size.map(i64::try_from) {
        Ok(Ok(size)) => {
            // SAFETY: see above.
            unsafe { *out = size };
            ffi::SQLITE_OK
        }
        _ => ffi::SQLITE_IOERR_FSTAT,
    }
}

unsafe extern "C" fn x_lock(f: *mut ffi::sqlite3_file, want: c_int) -> c_int {
    // SAFETY: SQLite passes an open file.
    let f = unsafe { file(f) };
    let Kind::Main { db, id, level, .. } = &mut f.kind else {
        return ffi::SQLITE_OK;
    };
    if *level >= want {
        return ffi::SQLITE_OK;
    }
    match lock(db).map(|mut db| db.lock(*id, *level, want)) {
        Ok(Ok(())) => {
            *level = want;
            ffi::SQLITE_OK
        }
        Ok(Err(Busy)) => ffi::SQLITE_BUSY,
        Err(_) => ffi::SQLITE_IOERR_LOCK,
    }
}

unsafe extern "C" fn x_unlock(f: *mut ffi::sqlite3_file, want: c_int) -> c_int {
    // SAFETY: SQLite passes an open file.
    let f = unsafe { file(f) };
    let Kind::Main { db, id, level, .. } = &mut f.kind else {
        return ffi::SQLITE_OK;
    };
    if *level <= want {
        return ffi::SQLITE_OK;
    }
    match lock(db) {
        Ok(mut db) => {
            db.unlock(*id, *level, want);
            *level = want;
            ffi::SQLITE_OK
        }
        Err(_) => ffi::SQLITE_IOERR_UNLOCK,
    }
}

unsafe extern "C" fn x_check_reserved_lock(f: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    // SAFETY: SQLite passes an open file and a valid output pointer.
    let f = unsafe { file(f) };
    let reserved = match &f.kind {
        Kind::Main { db, .. } => lock(db).map(|db| db.reserved()),
        _ => Ok(false),
    };
    match reserved {
        Ok(reserved) => {
            // SAFETY: see above.
            unsafe { *out = c_int::from(reserved) };
            ffi::SQLITE_OK
        }
        Err(_) => ffi::SQLITE_IOERR_CHECKRESERVEDLOCK,
    }
}

unsafe extern "C" fn x_file_control(
    f: *mut ffi::sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    if op == ffi::SQLITE_FCNTL_PERSIST_WAL {
        // The WAL is never deleted: it is the database's newest state.
        // SAFETY: SQLite passes an int for this opcode.
        unsafe { *arg.cast::<c_int>() = 1 };
        return ffi::SQLITE_OK;
    }
    if op == ffi::SQLITE_FCNTL_PRAGMA {
        // SAFETY: SQLite passes an open file and, for this opcode, an
        // array of three strings: the error message out, the pragma's
        // name, and its value (or null).
        return unsafe { pragma(file(f), arg.cast::<*mut c_char>()) };
    }
    ffi::SQLITE_NOTFOUND
}

/// The pragmas dqlite handles itself, as it does: `delete_database`
/// (inside a write transaction; see `session`) and `page_size` (fixed).
/// Every other pragma is SQLite's (`SQLITE_NOTFOUND`).
///
/// # Safety
///
/// `args` points to SQLite's three `SQLITE_FCNTL_PRAGMA` strings.
unsafe fn pragma(f: &mut File, args: *mut *mut c_char) -> c_int {
    let Kind::Main { db, id, .. } = &f.kind else {
        return ffi::SQLITE_NOTFOUND;
    };
    // SAFETY: SQLite's array holds three pointers; name is non-null.
    let (name, value) = unsafe {
        let name = CStr::from_ptr(*args.add(1));
        let value = *args.add(2);
        let value = (!value.is_null()).then(|| CStr::from_ptr(value));
        (name, value)
    };
    let Ok(mut db) = lock(db) else {
        return ffi::SQLITE_IOERR;
    };
    let refused = if name.to_bytes().eq_ignore_ascii_case(b"delete_database") {
        match value {
            Some(_) => Err((ffi::SQLITE_ERROR, super::state::DELETE_TAKES_NO_VALUE)),
            None => db.request_delete(*id).map_err(|m| (ffi::SQLITE_ERROR, m)),
        }
    } else if name.to_bytes().eq_ignore_ascii_case(b"page_size") {
        match value.map(CStr::to_string_lossy) {
            // Reading the size is SQLite's.
            None => return ffi::SQLITE_NOTFOUND,
            Some(value) => match db.check_page_size(&value) {
                // Setting the size it has changes nothing: SQLite's.
                Ok(()) => return ffi::SQLITE_NOTFOUND,
                Err(m) => Err((ffi::SQLITE_IOERR, m)),
            },
        }
    } else {
        return ffi::SQLITE_NOTFOUND;
    };
    match refused {
        Ok(()) => ffi::SQLITE_OK,
        Err((code, message)) => {
            // SAFETY: SQLite frees the message with sqlite3_free.
            unsafe { *args = sqlite_string(message) };
            code
        }
    }
}

/// `message` in memory from `sqlite3_malloc` (null if that fails).
fn sqlite_string(message: &str) -> *mut c_char {
    let Ok(len) = c_int::try_from(message.len() + 1) else {
        return std::ptr::null_mut();
    };
    // SAFETY: a fresh allocation of `len` bytes, filled with the message
    // and its NUL.
    unsafe {
        let out = ffi::sqlite3_malloc(len).cast::<u8>();
        if !out.is_null() {
            std::ptr::copy_nonoverlapping(message.as_ptr(), out, message.len());
            *out.add(message.len()) = 0;
        }
        out.cast()
    }
}

unsafe extern "C" fn x_sector_size(_f: *mut ffi::sqlite3_file) -> c_int {
    0
}

unsafe extern "C" fn x_device_characteristics(_f: *mut ffi::sqlite3_file) -> c_int {
    0
}

unsafe extern "C" fn x_shm_map(
    f: *mut ffi::sqlite3_file,
    region: c_int,
    size: c_int,
    extend: c_int,
    out: *mut *mut c_void,
) -> c_int {
    // SAFETY: SQLite passes an open file and a valid output pointer.
    let f = unsafe { file(f) };
    let (Kind::Main { db, .. }, Ok(region), Ok(SHM_REGION)) =
        (&f.kind, usize::try_from(region), len(size))
    else {
        return ffi::SQLITE_IOERR_SHMMAP;
    };
    match lock(db) {
        Ok(mut db) => {
            let ptr = db
                .shm_region(region, extend != 0)
                .unwrap_or(std::ptr::null_mut());
            // SAFETY: see above; the region outlives the connection.
            unsafe { *out = ptr.cast() };
            ffi::SQLITE_OK
        }
        Err(_) => ffi::SQLITE_IOERR_SHMMAP,
    }
}

unsafe extern "C" fn x_shm_lock(
    f: *mut ffi::sqlite3_file,
    at: c_int,
    n: c_int,
    flags: c_int,
) -> c_int {
    // SAFETY: SQLite passes an open file.
    let f = unsafe { file(f) };
    let (
        Kind::Main {
            db,
            id,
            shm_shared,
            shm_exclusive,
            ..
        },
        Ok(at),
        Ok(n),
    ) = (&mut f.kind, usize::try_from(at), usize::try_from(n))
    else {
        return ffi::SQLITE_IOERR_SHMLOCK;
    };
    let Ok(mut db) = lock(db) else {
        return ffi::SQLITE_IOERR_SHMLOCK;
    };
    if flags & ffi::SQLITE_SHM_UNLOCK != 0 {
        db.shm_unlock(*id, at, n, shm_shared, shm_exclusive);
        return ffi::SQLITE_OK;
    }
    let exclusive = flags & ffi::SQLITE_SHM_EXCLUSIVE != 0;
    match db.shm_lock(*id, at, n, exclusive, shm_shared, shm_exclusive) {
        Ok(()) => ffi::SQLITE_OK,
        Err(Busy) => ffi::SQLITE_BUSY,
    }
}

unsafe extern "C" fn x_shm_barrier(_f: *mut ffi::sqlite3_file) {
    std::sync::atomic::fence(Ordering::SeqCst);
}

unsafe extern "C" fn x_shm_unmap(f: *mut ffi::sqlite3_file, _delete: c_int) -> c_int {
    // SAFETY: SQLite passes an open file.
    let f = unsafe { file(f) };
    if let Kind::Main {
        db,
        id,
        shm_shared,
        shm_exclusive,
        ..
    } = &mut f.kind
        && let Ok(mut db) = lock(db)
    {
        db.shm_release_all(*id, shm_shared, shm_exclusive);
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_delete(
    vfs: *mut ffi::sqlite3_vfs,
    z_name: *const c_char,
    _sync: c_int,
) -> c_int {
    // SAFETY: SQLite passes our VFS and a valid name.
    let (state, name) = unsafe { (state(vfs), name(z_name)) };
    let Some(name) = name else {
        return ffi::SQLITE_IOERR_DELETE;
    };
    if let Some(db) = name
        .strip_suffix("-journal")
        .and_then(|n| state.database(n, false))
        && let Ok(mut db) = db.lock()
    {
        db.journal.clear();
    }
    // The WAL and the main file are never deleted by SQLite under our
    // settings (persistent WAL, no checkpoint on close).
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_access(
    vfs: *mut ffi::sqlite3_vfs,
    z_name: *const c_char,
    _flags: c_int,
    out: *mut c_int,
) -> c_int {
    // SAFETY: SQLite passes our VFS, a valid name and output pointer.
    let (state, name) = unsafe { (state(vfs), name(z_name)) };
    let exists = name.is_some_and(|name| {
        let non_empty = |base: &str, pick: fn(&Database) -> bool| {
            state
                .database(base, false)
                .and_then(|db| db.lock().ok().map(|db| pick(&db)))
                .unwrap_or(false)
        };
        if let Some(base) = name.strip_suffix("-wal") {
            non_empty(base, |db| !db.wal.is_empty())
        } else if let Some(base) = name.strip_suffix("-journal") {
            non_empty(base, |db| !db.journal.is_empty())
        } else {
            state.database(name, false).is_some()
        }
    });
    // SAFETY: see above.
    unsafe { *out = c_int::from(exists) };
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_full_pathname(
    _vfs: *mut ffi::sqlite3_vfs,
    z_name: *const c_char,
    n_out: c_int,
    z_out: *mut c_char,
) -> c_int {
    // SAFETY: SQLite passes a valid name and an output buffer of `n_out` bytes.
    let bytes = unsafe { CStr::from_ptr(z_name) }.to_bytes_with_nul();
    match usize::try_from(n_out) {
        Ok(n) if bytes.len() <= n => {
            // SAFETY: the buffer holds at least `bytes.len()` bytes.
            unsafe {
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), z_out.cast::<u8>(), bytes.len())
            };
            ffi::SQLITE_OK
        }
        _ => ffi::SQLITE_CANTOPEN,
    }
}

unsafe extern "C" fn x_randomness(vfs: *mut ffi::sqlite3_vfs, n: c_int, out: *mut c_char) -> c_int {
    // SAFETY: delegates to the default VFS, which has every method.
    unsafe {
        let default = state(vfs).default;
        (*default).xRandomness.map_or(0, |f| f(default, n, out))
    }
}

unsafe extern "C" fn x_sleep(vfs: *mut ffi::sqlite3_vfs, micros: c_int) -> c_int {
    // SAFETY: as above.
    unsafe {
        let default = state(vfs).default;
        (*default).xSleep.map_or(0, |f| f(default, micros))
    }
}

unsafe extern "C" fn x_current_time(vfs: *mut ffi::sqlite3_vfs, out: *mut f64) -> c_int {
    // SAFETY: as above.
    unsafe {
        let default = state(vfs).default;
        (*default)
            .xCurrentTime
            .map_or(ffi::SQLITE_ERROR, |f| f(default, out))
    }
}

unsafe extern "C" fn x_current_time_int64(vfs: *mut ffi::sqlite3_vfs, out: *mut i64) -> c_int {
    // SAFETY: as above.
    unsafe {
        let default = state(vfs).default;
        (*default)
            .xCurrentTimeInt64
            .map_or(ffi::SQLITE_ERROR, |f| f(default, out))
    }
}

unsafe extern "C" fn x_get_last_error(
    _vfs: *mut ffi::sqlite3_vfs,
    _n: c_int,
    _out: *mut c_char,
) -> c_int {
    0
}

/// The id of `conn`'s main database file handle, if this VFS opened it.
pub(super) fn main_file_id(conn: &rusqlite::Connection) -> Option<FileId> {
    let mut ptr: *mut ffi::sqlite3_file = std::ptr::null_mut();
    // SAFETY: `conn` is an open connection; FILE_POINTER writes the main
    // database's `sqlite3_file` pointer into `ptr`.
    let rc = unsafe {
        ffi::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            ffi::SQLITE_FCNTL_FILE_POINTER,
            (&raw mut ptr).cast(),
        )
    };
    if rc != ffi::SQLITE_OK || ptr.is_null() {
        return None;
    }
    // SAFETY: `ptr` is the connection's open main file; only files whose
    // methods are ours are `File`s.
    unsafe {
        if !std::ptr::eq((*ptr).pMethods, &raw const IO_METHODS) {
            return None;
        }
        match &file(ptr).kind {
            Kind::Main { id, .. } => Some(*id),
            _ => None,
        }
    }
}
