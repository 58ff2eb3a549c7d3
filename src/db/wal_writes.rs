//! One write call per commit to SQLite's write-ahead log.
//!
//! SQLite writes each WAL frame with two `pwrite`s (the 24-byte frame
//! header, then the page), so a door batch's ~55 frames took ~110 write
//! calls, and those calls were 15 % of the door writer's samples in a
//! door rush (BENCHMARKS.md history 31). This module
//! registers a VFS, the default for every SQLite connection Rollcall opens,
//! that is SQLite's own `unix` VFS except for WAL files: their writes are
//! gathered while they append to each other and reach the file in one
//! write when the transaction's commit frame is complete.
//!
//! What makes it safe: the file's bytes are exactly what SQLite wrote, in
//! its order, whenever anything can look at them. The gathered bytes are
//! written before any read, sync, size, truncate, file control or close of
//! the WAL, before a write anywhere but at their end, and before the write
//! of the commit frame's page returns. Other connections only read frames
//! that a commit has published in the WAL index, which SQLite updates after
//! that write (and, with `synchronous = FULL`, after the sync) returns, so
//! they never see a frame that is not in the file. If a write fails, the
//! error goes to SQLite from the call that made it (a commit fails, as it
//! would with a failed `pwrite`), and the gathered bytes are dropped. A
//! crash loses only bytes of a transaction that had not committed.

use libsqlite3_sys as ffi;
use std::ffi::{c_char, c_int, c_void};
use std::sync::OnceLock;

/// A WAL frame starts with a header of this size; bytes 4..8 are the
/// database size after a commit, zero on other frames (the file format:
/// <https://sqlite.org/fileformat2.html#walformat>).
const FRAME_HEADER: usize = 24;

/// Gathered bytes are written out at this size even mid-transaction, so a
/// large import holds at most this much in memory.
const MOST_GATHERED: usize = 4 << 20;

/// The unix VFS writes at most 128 KiB - 1 bytes a call: it masks the
/// length with 0x1ffff, so 128 KiB exactly would write nothing and report
/// a full disk. Gathered bytes go to it in pieces of this size.
const LARGEST_WRITE: usize = 124 << 10;

/// Makes Rollcall's VFS SQLite's default. Call before opening a SQLite
/// connection; later calls do nothing. Fails only if SQLite has no default
/// VFS or refuses the registration.
pub fn install() -> Result<(), String> {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    INSTALLED.get_or_init(register).clone()
}

fn register() -> Result<(), String> {
    // SAFETY: sqlite3_vfs_find(NULL) initialises SQLite and returns its
    // default VFS, which lives as long as the process.
    let unix = unsafe { ffi::sqlite3_vfs_find(std::ptr::null()) };
    if unix.is_null() {
        return Err("SQLite has no default VFS".into());
    }
    // SAFETY: `unix` is a valid VFS (above).
    let mut vfs = unsafe { *unix };
    let Ok(unix_file_size) = usize::try_from(vfs.szOsFile) else {
        return Err("SQLite's default VFS reports a negative file size".into());
    };
    let Ok(file_size) = c_int::try_from(INNER_OFFSET + unix_file_size) else {
        return Err("SQLite's default VFS reports too large a file size".into());
    };
    vfs.szOsFile = file_size;
    vfs.zName = c"rollcall".as_ptr();
    vfs.pNext = std::ptr::null_mut();
    vfs.pAppData = unix.cast();
    vfs.xOpen = Some(open);
    // The unix VFS's other methods ignore the VFS they are called through
    // (they take it as `NotUsed`), so they serve this one as they are.
    let vfs: &'static mut ffi::sqlite3_vfs = Box::leak(Box::new(vfs));
    // SAFETY: `vfs` is a complete VFS that lives as long as the process.
    let rc = unsafe { ffi::sqlite3_vfs_register(vfs, 1) };
    if rc == ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(format!("SQLite refused the VFS (error {rc})"))
    }
}

/// What SQLite sees of a WAL file opened through this VFS. `base` must come
/// first: SQLite reads the methods from it. The unix VFS's own file follows
/// at `INNER_OFFSET`.
#[repr(C)]
struct WalFile {
    base: ffi::sqlite3_file,
    gathered: Vec<u8>,
    /// Where `gathered` goes in the file.
    at: i64,
    /// The last gathered write was a commit frame's header: its page
    /// completes the commit.
    commit_page_next: bool,
}

const INNER_OFFSET: usize = std::mem::size_of::<WalFile>().next_multiple_of(8);

/// The unix VFS's file behind one of ours.
///
/// # Safety
/// `file` must point to a `szOsFile`-sized allocation SQLite gave this VFS.
unsafe fn inner(file: *mut ffi::sqlite3_file) -> *mut ffi::sqlite3_file {
    // SAFETY: the allocation holds INNER_OFFSET bytes plus a unix file.
    unsafe { file.cast::<u8>().add(INNER_OFFSET).cast() }
}

/// The unix VFS behind ours (its `pAppData`).
///
/// # Safety
/// `vfs` must be the VFS `register` made.
unsafe fn unix_vfs(vfs: *mut ffi::sqlite3_vfs) -> *mut ffi::sqlite3_vfs {
    // SAFETY: per the contract above.
    unsafe { (*vfs).pAppData.cast() }
}

unsafe extern "C" fn open(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    // SAFETY: SQLite calls this with our VFS and a szOsFile-sized `file`.
    unsafe {
        let unix = unix_vfs(vfs);
        let Some(unix_open) = (*unix).xOpen else {
            return ffi::SQLITE_CANTOPEN;
        };
        if flags & ffi::SQLITE_OPEN_WAL == 0 {
            // Not a WAL: the unix file takes the whole slot, untouched.
            return unix_open(unix, name, file, flags, out_flags);
        }
        let unix_file = inner(file);
        (*unix_file).pMethods = std::ptr::null();
        let rc = unix_open(unix, name, unix_file, flags, out_flags);
        if rc != ffi::SQLITE_OK {
            if let Some(close) = (*unix_file).pMethods.as_ref().and_then(|m| m.xClose) {
                close(unix_file);
            }
            (*file).pMethods = std::ptr::null();
            return rc;
        }
        file.cast::<WalFile>().write(WalFile {
            base: ffi::sqlite3_file {
                pMethods: &WAL_METHODS,
            },
            gathered: Vec::new(),
            at: 0,
            commit_page_next: false,
        });
        ffi::SQLITE_OK
    }
}

/// Writes out what is gathered. On failure the bytes are dropped: SQLite
/// has the error and will write those frames again if it wants them.
///
/// # Safety
/// `file` must be a WAL file this VFS opened.
unsafe fn write_gathered(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: per the contract above, `file` is a live WalFile.
    unsafe {
        let wal = &mut *file.cast::<WalFile>();
        wal.commit_page_next = false;
        if wal.gathered.is_empty() {
            return ffi::SQLITE_OK;
        }
        let unix_file = inner(file);
        let Some(write) = (*(*unix_file).pMethods).xWrite else {
            wal.gathered.clear();
            return ffi::SQLITE_IOERR_WRITE;
        };
        let mut rc = ffi::SQLITE_OK;
        let mut at = wal.at;
        for piece in wal.gathered.chunks(LARGEST_WRITE) {
            // LARGEST_WRITE fits in a c_int.
            let length = piece.len() as c_int;
            rc = write(unix_file, piece.as_ptr().cast(), length, at);
            if rc != ffi::SQLITE_OK {
                break;
            }
            at += i64::from(length);
        }
        wal.gathered.clear();
        rc
    }
}

unsafe extern "C" fn wal_write(
    file: *mut ffi::sqlite3_file,
    data: *const c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    // SAFETY: SQLite passes a WAL file we opened and `amount` readable bytes.
    unsafe {
        let Ok(length) = usize::try_from(amount) else {
            return ffi::SQLITE_IOERR_WRITE;
        };
        if length == 0 {
            return ffi::SQLITE_OK;
        }
        let bytes = std::slice::from_raw_parts(data.cast::<u8>(), length);
        let wal = &mut *file.cast::<WalFile>();
        // Taken before a flush below clears it: this write is the page
        // that completes a commit frame wherever it lands.
        let completes_commit = wal.commit_page_next && length != FRAME_HEADER;
        let end = wal.at + wal.gathered.len() as i64;
        if !wal.gathered.is_empty() && offset != end {
            let rc = write_gathered(file);
            if rc != ffi::SQLITE_OK {
                return rc;
            }
        }
        let wal = &mut *file.cast::<WalFile>();
        if wal.gathered.is_empty() {
            wal.at = offset;
        }
        wal.gathered.extend_from_slice(bytes);
        if length == FRAME_HEADER {
            wal.commit_page_next = bytes[4..8] != [0; 4];
            return ffi::SQLITE_OK;
        }
        if completes_commit || wal.gathered.len() >= MOST_GATHERED {
            return write_gathered(file);
        }
        ffi::SQLITE_OK
    }
}

/// The unix file's method `$method`, called with `$args` after the
/// gathered bytes are written (or, for `$method` that can't see the file's
/// contents, at once).
macro_rules! forward {
    (after_writing, $file:ident, $method:ident, $missing:expr $(, $arg:ident)*) => {{
        // SAFETY: SQLite passes a WAL file this VFS opened.
        let rc = unsafe { write_gathered($file) };
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        forward!(now, $file, $method, $missing $(, $arg)*)
    }};
    (now, $file:ident, $method:ident, $missing:expr $(, $arg:ident)*) => {{
        // SAFETY: SQLite passes a WAL file this VFS opened; its unix file
        // was opened by the unix VFS and has that VFS's methods.
        unsafe {
            let unix_file = inner($file);
            match (*(*unix_file).pMethods).$method {
                Some(method) => method(unix_file $(, $arg)*),
                None => $missing,
            }
        }
    }};
}

unsafe extern "C" fn wal_close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: SQLite closes each file once; after this the slot is dead.
    let written = unsafe { write_gathered(file) };
    let closed = forward!(now, file, xClose, ffi::SQLITE_OK);
    // SAFETY: the WalFile was written in `open` and is dropped only here.
    unsafe { std::ptr::drop_in_place(file.cast::<WalFile>()) };
    if written != ffi::SQLITE_OK {
        written
    } else {
        closed
    }
}

unsafe extern "C" fn wal_read(
    file: *mut ffi::sqlite3_file,
    data: *mut c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    forward!(
        after_writing,
        file,
        xRead,
        ffi::SQLITE_IOERR_READ,
        data,
        amount,
        offset
    )
}

unsafe extern "C" fn wal_truncate(file: *mut ffi::sqlite3_file, size: i64) -> c_int {
    forward!(
        after_writing,
        file,
        xTruncate,
        ffi::SQLITE_IOERR_TRUNCATE,
        size
    )
}

unsafe extern "C" fn wal_sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    forward!(after_writing, file, xSync, ffi::SQLITE_IOERR_FSYNC, flags)
}

unsafe extern "C" fn wal_file_size(file: *mut ffi::sqlite3_file, size: *mut i64) -> c_int {
    forward!(
        after_writing,
        file,
        xFileSize,
        ffi::SQLITE_IOERR_FSTAT,
        size
    )
}

unsafe extern "C" fn wal_lock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    forward!(now, file, xLock, ffi::SQLITE_OK, level)
}

unsafe extern "C" fn wal_unlock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    forward!(now, file, xUnlock, ffi::SQLITE_OK, level)
}

unsafe extern "C" fn wal_check_reserved_lock(
    file: *mut ffi::sqlite3_file,
    out: *mut c_int,
) -> c_int {
    forward!(now, file, xCheckReservedLock, ffi::SQLITE_OK, out)
}

unsafe extern "C" fn wal_file_control(
    file: *mut ffi::sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    forward!(
        after_writing,
        file,
        xFileControl,
        ffi::SQLITE_NOTFOUND,
        op,
        arg
    )
}

unsafe extern "C" fn wal_sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    forward!(now, file, xSectorSize, 4096)
}

unsafe extern "C" fn wal_device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    forward!(now, file, xDeviceCharacteristics, 0)
}

unsafe extern "C" fn wal_shm_map(
    file: *mut ffi::sqlite3_file,
    page: c_int,
    page_size: c_int,
    extend: c_int,
    out: *mut *mut c_void,
) -> c_int {
    forward!(
        now,
        file,
        xShmMap,
        ffi::SQLITE_IOERR_SHMMAP,
        page,
        page_size,
        extend,
        out
    )
}

unsafe extern "C" fn wal_shm_lock(
    file: *mut ffi::sqlite3_file,
    offset: c_int,
    n: c_int,
    flags: c_int,
) -> c_int {
    forward!(
        now,
        file,
        xShmLock,
        ffi::SQLITE_IOERR_SHMLOCK,
        offset,
        n,
        flags
    )
}

unsafe extern "C" fn wal_shm_barrier(file: *mut ffi::sqlite3_file) {
    forward!(now, file, xShmBarrier, ())
}

unsafe extern "C" fn wal_shm_unmap(file: *mut ffi::sqlite3_file, delete: c_int) -> c_int {
    forward!(now, file, xShmUnmap, ffi::SQLITE_OK, delete)
}

unsafe extern "C" fn wal_fetch(
    file: *mut ffi::sqlite3_file,
    offset: i64,
    amount: c_int,
    out: *mut *mut c_void,
) -> c_int {
    // SQLite never maps a WAL; if it asks, the unix file answers (its
    // answer for a WAL is "no mapping").
    forward!(
        after_writing,
        file,
        xFetch,
        ffi::SQLITE_IOERR_MMAP,
        offset,
        amount,
        out
    )
}

unsafe extern "C" fn wal_unfetch(
    file: *mut ffi::sqlite3_file,
    offset: i64,
    page: *mut c_void,
) -> c_int {
    forward!(now, file, xUnfetch, ffi::SQLITE_OK, offset, page)
}

static WAL_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(wal_close),
    xRead: Some(wal_read),
    xWrite: Some(wal_write),
    xTruncate: Some(wal_truncate),
    xSync: Some(wal_sync),
    xFileSize: Some(wal_file_size),
    xLock: Some(wal_lock),
    xUnlock: Some(wal_unlock),
    xCheckReservedLock: Some(wal_check_reserved_lock),
    xFileControl: Some(wal_file_control),
    xSectorSize: Some(wal_sector_size),
    xDeviceCharacteristics: Some(wal_device_characteristics),
    xShmMap: Some(wal_shm_map),
    xShmLock: Some(wal_shm_lock),
    xShmBarrier: Some(wal_shm_barrier),
    xShmUnmap: Some(wal_shm_unmap),
    xFetch: Some(wal_fetch),
    xUnfetch: Some(wal_unfetch),
};

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;
    use diesel::dsl::sql;
    use diesel::prelude::*;
    use diesel::sql_types::{BigInt, Text};
    use std::path::Path;

    fn open(path: &Path) -> SqliteConnection {
        super::install().unwrap();
        let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
        conn.batch_execute("PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL")
            .unwrap();
        conn
    }

    fn count(conn: &mut SqliteConnection, query: &str) -> i64 {
        diesel::select(sql::<BigInt>(query))
            .get_result(conn)
            .unwrap()
    }

    /// Whether each frame of the WAL file as it is on disk, from the start
    /// up to the first frame of an older generation, is a commit frame.
    fn commits_on_disk(wal: &Path) -> Vec<bool> {
        let bytes = std::fs::read(wal).unwrap();
        let page = u32::from_be_bytes(bytes[8..12].try_into().unwrap()) as usize;
        let salt = &bytes[16..24];
        bytes[32..]
            .chunks_exact(super::FRAME_HEADER + page)
            .take_while(|frame| &frame[8..16] == salt)
            .map(|frame| frame[4..8] != [0; 4])
            .collect()
    }

    /// With no sync at commit, nothing but the commit itself writes out
    /// the gathered frames: a second connection, reading the WAL through
    /// its own file handle, must find every row the moment COMMIT returns.
    #[test]
    fn a_commit_is_in_the_file_when_it_returns_even_without_a_sync() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.db");
        let mut writer = open(&path);
        let mut reader = open(&path);
        writer
            .batch_execute(
                "PRAGMA synchronous = OFF; \
                 CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);",
            )
            .unwrap();
        for round in 1..=3 {
            writer
                .batch_execute(
                    "BEGIN; \
                     WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100) \
                     INSERT INTO notes (body) SELECT printf('%0500d', i) FROM n; \
                     COMMIT;",
                )
                .unwrap();
            let commits = commits_on_disk(&dir.path().join("notes.db-wal"));
            assert!(commits.len() > 10, "a hundred 500-byte rows fill pages");
            assert_eq!(commits.last(), Some(&true), "the file ends with the commit");
            assert_eq!(
                count(&mut reader, "(SELECT COUNT(*) FROM notes)"),
                100 * round
            );
        }
    }

    /// A transaction larger than what is gathered at once, and larger
    /// than the page cache (so SQLite writes pages to the WAL mid-way and
    /// rewrites and reads them back), then an update, a rollback and a
    /// checkpoint: every row reads back right after reopening.
    #[test]
    fn large_transactions_read_back_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("large.db");
        {
            let mut conn = open(&path);
            conn.batch_execute(
                "PRAGMA synchronous = FULL; PRAGMA cache_size = -1024; \
                 CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL); \
                 CREATE INDEX notes_body ON notes (body); \
                 BEGIN; \
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) \
                 INSERT INTO notes (body) SELECT printf('%02000d', i * 7919 % 3001) FROM n; \
                 UPDATE notes SET body = 'first ' || body WHERE id % 2 = 0; \
                 COMMIT; \
                 BEGIN; UPDATE notes SET body = 'lost'; ROLLBACK; \
                 UPDATE notes SET body = 'again ' || body WHERE id % 3 = 0;",
            )
            .unwrap();
            assert!(
                std::fs::metadata(dir.path().join("large.db-wal"))
                    .unwrap()
                    .len()
                    > super::MOST_GATHERED as u64,
                "the transaction outgrew what is gathered"
            );
            conn.batch_execute("PRAGMA wal_checkpoint(TRUNCATE)")
                .unwrap();
        }
        let mut conn = open(&path);
        assert_eq!(count(&mut conn, "(SELECT COUNT(*) FROM notes)"), 3000);
        // Even ids were changed in the first transaction, multiples of
        // three in the last: 1,500 and 1,000, 500 of them both.
        assert_eq!(
            count(
                &mut conn,
                "(SELECT COUNT(*) FROM notes WHERE body LIKE 'first %')"
            ),
            1000
        );
        assert_eq!(
            count(
                &mut conn,
                "(SELECT COUNT(*) FROM notes WHERE body LIKE 'again first %')"
            ),
            500
        );
        assert_eq!(
            count(
                &mut conn,
                "(SELECT COUNT(*) FROM notes WHERE body LIKE 'again %')"
            ),
            1000
        );
        assert_eq!(
            count(
                &mut conn,
                "(SELECT COUNT(*) FROM notes WHERE body = 'lost')"
            ),
            0
        );
        let check: String = diesel::select(sql::<Text>("(SELECT * FROM pragma_integrity_check)"))
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(check, "ok");
    }
}
