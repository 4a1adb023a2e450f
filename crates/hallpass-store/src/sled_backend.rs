//! The sled [`Backend`]: one sled tree per [`Table`]. Invariant: every batch is one sled
//! multi-tree transaction over exactly the trees it touches, so it lands whole or not at all.

use std::path::Path;

use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use crate::backend::{Backend, Op, ScanIter, Table};
use crate::error::StoreError;

pub struct SledBackend {
    db: sled::Db,
    /// Indexed by [`Table::index`].
    trees: Vec<sled::Tree>,
}

fn backend_err(e: sled::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl SledBackend {
    /// Opens (or creates) the database directory at `path` with a page cache of `cache_bytes`.
    pub fn open(path: &Path, cache_bytes: u64) -> Result<SledBackend, StoreError> {
        let open_err = |why: String| StoreError::Open {
            path: path.to_path_buf(),
            why,
        };
        let db = open_when_unlocked(|| {
            // Skipped while another handle holds the lock; sled then reports it.
            remove_unfinished_snapshots(path).map_err(|e| {
                sled::Error::Io(std::io::Error::new(
                    e.kind(),
                    format!("cannot remove an unfinished sled snapshot: {e}"),
                ))
            })?;
            sled::Config::new()
                .path(path)
                .cache_capacity(cache_bytes)
                .mode(sled::Mode::HighThroughput)
                .open()
        })
        .map_err(open_err)?;
        // sled's recovery has just dropped its copy of the whole page table (75 MiB at 1M
        // grants); without this it stays resident for the life of the process.
        hallpass_alloc::release_free_memory();
        Self::from_db(db).map_err(|e| open_err(e.to_string()))
    }

    /// A database in temporary storage, removed when dropped. For tests.
    pub fn temporary() -> Result<SledBackend, StoreError> {
        let db = sled::Config::new()
            .temporary(true)
            .open()
            .map_err(|e| StoreError::Open {
                path: "(temporary)".into(),
                why: e.to_string(),
            })?;
        Self::from_db(db)
    }

    fn from_db(db: sled::Db) -> Result<SledBackend, StoreError> {
        let trees = Table::ALL
            .iter()
            .map(|t| db.open_tree(t.name()).map_err(backend_err))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SledBackend { db, trees })
    }

    fn tree(&self, table: Table) -> &sled::Tree {
        &self.trees[table.index()]
    }
}

/// How long an open (or [`lock_closed`]) waits for sled's file lock.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Runs `open` until it fails on something other than sled's file lock, for up to 3 s. sled
/// releases the lock from a background thread shortly after the last handle to a database is
/// dropped, so a database reopened in the same process may briefly find it held; a lock held
/// by another process outlasts the wait, and the error then says so.
pub(crate) fn open_when_unlocked(
    mut open: impl FnMut() -> sled::Result<sled::Db>,
) -> Result<sled::Db, String> {
    retry_while_locked(|| {
        open().map_err(|e| {
            let why = e.to_string();
            (why.contains("lock"), why)
        })
    })
    .map_err(|(locked, why)| match locked {
        true => format!("{why} (is another hallpassd using it?)"),
        false => why,
    })
}

/// sled's own lock on the closed store at `path`, once every handle on it is gone (waiting up
/// to 3 s, as an open does): while the returned file is open nothing can open the store, so
/// its files can be copied whole.
pub fn lock_closed(path: &Path) -> Result<std::fs::File, StoreError> {
    retry_while_locked(|| match try_lock_db(path) {
        Ok(Some(db)) => Ok(db),
        Ok(None) => Err((true, "sled's lock is held by an open handle".to_string())),
        Err(e) => Err((false, e.to_string())),
    })
    .map_err(|(_, why)| StoreError::Open {
        path: path.to_path_buf(),
        why,
    })
}

/// Runs `attempt` until it succeeds or fails with `(false, why)` (not on sled's lock), for up
/// to [`LOCK_WAIT`]; the last failure is returned.
fn retry_while_locked<T>(
    mut attempt: impl FnMut() -> Result<T, (bool, String)>,
) -> Result<T, (bool, String)> {
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match attempt() {
            Err((true, _)) if std::time::Instant::now() < deadline => {}
            done => return done,
        }
        std::thread::park_timeout(std::time::Duration::from_millis(20));
    }
}

/// sled's lock file (`db`) in the store at `path`, locked by this process; `None` while
/// another handle holds it. A store with no `db` file yet is reported as an error.
fn try_lock_db(path: &Path) -> std::io::Result<Option<std::fs::File>> {
    let db = std::fs::File::open(path.join("db"))?;
    match db.try_lock() {
        Ok(()) => Ok(Some(db)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// What the store logs for each unfinished sled snapshot it removes (the crash harness counts
/// these lines).
pub const UNFINISHED_SNAPSHOT_REMOVED: &str = "removed an unfinished sled snapshot left by a crash; sled recovers from the previous one and its log";

/// sled 0.34 writes each snapshot of its page table to `snap.<lsn>.generating`, syncs it and
/// renames it to `snap.<lsn>`, but when it opens it reads the newest `snap.*` file, unfinished
/// ones included, and refuses the database if that file's checksum fails. sled writes a
/// snapshot at every open, so a SIGKILL during start-up (or during a background snapshot)
/// leaves a truncated `.generating` file that turns every later open into "Read corrupted
/// data". An unfinished snapshot holds nothing the log does not: the previous snapshot stays
/// until the new one is renamed, and sled recovers from it plus the log, exactly as if the kill
/// had come before the write began. So such files are removed, but only while this process
/// holds sled's own lock on the `db` file, so the snapshot a running daemon is writing is never
/// touched. Returns how many were removed.
fn remove_unfinished_snapshots(path: &Path) -> std::io::Result<usize> {
    let _db = match try_lock_db(path) {
        Ok(Some(db)) => db,
        Ok(None) => return Ok(0),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            std::fs::remove_file(entry.path())?;
            tracing::warn!(store = %path.display(), file = %name, "{UNFINISHED_SNAPSHOT_REMOVED}");
            removed += 1;
        }
    }
    // Dropping `_db` releases the lock, for sled to take.
    Ok(removed)
}

impl Backend for SledBackend {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.tree(table)
            .get(key)
            .map(|v| v.map(|v| v.to_vec()))
            .map_err(backend_err)
    }

    fn scan(&self, table: Table, from: &[u8], to: Option<&[u8]>, reverse: bool) -> ScanIter<'_> {
        let tree = self.tree(table);
        let iter = match to {
            Some(to) if to <= from => return Box::new(std::iter::empty()),
            Some(to) => tree.range(from.to_vec()..to.to_vec()),
            None => tree.range(from.to_vec()..),
        };
        let map = |r: sled::Result<(sled::IVec, sled::IVec)>| {
            r.map(|(k, v)| (k.to_vec(), v.to_vec()))
                .map_err(backend_err)
        };
        if reverse {
            Box::new(iter.rev().map(map))
        } else {
            Box::new(iter.map(map))
        }
    }

    fn apply(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        if ops.is_empty() {
            return Ok(());
        }
        // The trees this batch touches, and each op's position among them.
        let mut touched: Vec<Table> = ops
            .iter()
            .map(|op| match op {
                Op::Put(t, ..) | Op::Delete(t, _) => *t,
            })
            .collect();
        touched.sort();
        touched.dedup();
        let trees: Vec<sled::Tree> = touched.iter().map(|t| self.tree(*t).clone()).collect();
        let slot = |t: Table| {
            touched
                .binary_search(&t)
                .expect("invariant: every op's table is in `touched`")
        };
        let result: Result<(), TransactionError<()>> = trees.as_slice().transaction(|tx| {
            for op in &ops {
                match op {
                    Op::Put(t, k, v) => {
                        tx[slot(*t)].insert(k.as_slice(), v.as_slice())?;
                    }
                    Op::Delete(t, k) => {
                        tx[slot(*t)].remove(k.as_slice())?;
                    }
                }
            }
            Ok::<(), ConflictableTransactionError<()>>(())
        });
        match result {
            Ok(()) => Ok(()),
            Err(TransactionError::Storage(e)) => Err(backend_err(e)),
            Err(TransactionError::Abort(())) => Err(StoreError::Backend(
                "sled aborted a transaction the store never aborts".into(),
            )),
        }
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map(|_| ()).map_err(backend_err)
    }
}
