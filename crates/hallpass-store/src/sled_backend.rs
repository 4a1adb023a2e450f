//! The sled [`Backend`]: one sled tree per [`Table`]. A group that several writers made (or a
//! batch of [`JOURNAL_ALONE_FROM`] keys or more) goes to sled as plain inserts and removes,
//! after it is written to the group journal ([`crate::journal`]), so it lands whole after a
//! crash (a sled transaction would stop every reader of the store while it is applied); one
//! writer's batch goes as one sled transaction.
//! Invariant: an open replays the journal's record (and flushes it) before anything reads the
//! store, so no crash leaves a batch in part.

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use crate::backend::{Backend, Op, ScanIter, Table};
use crate::error::StoreError;
use crate::journal::{self, Found, Journal};

pub struct SledBackend {
    db: sled::Db,
    /// Indexed by [`Table::index`].
    trees: Vec<sled::Tree>,
    /// Also the turn-taking of `apply` and `flush`. `None` for a temporary database, which
    /// does not outlive the process (every batch is then one transaction).
    journal: Option<Mutex<Journal>>,
}

/// One writer's batch of this many keys or more is journaled too, for the lock a transaction
/// would hold while it is applied (an expiry batch of the scheduler, a sync batch). A smaller
/// lone batch is one transaction: alone, its fixed cost is below the journal's extra sync (one
/// client's commit 0.54 ms as a transaction, 0.68 ms journaled), while a group that several
/// writers made means others are busy, whose reads the lock would stop (BENCHMARKS.md, the
/// write path).
pub const JOURNAL_ALONE_FROM: usize = 256;

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
        let (mut journal, found) = Journal::open(path)?;
        let mut backend = Self::from_db(db).map_err(|e| open_err(e.to_string()))?;
        let held_a_record = found != Found::Nothing;
        match found {
            Found::Nothing | Found::Settled => {}
            Found::Torn => tracing::warn!(store = %path.display(), "{JOURNAL_RECORD_TORN}"),
            Found::Group(ops) => {
                // Usually the group landed whole (and the record waits for the next one).
                let missing = backend.missing(&ops)?;
                if missing > 0 {
                    let changes = ops.len();
                    backend.put_each(ops)?;
                    backend.db.flush().map_err(backend_err)?;
                    tracing::warn!(
                        store = %path.display(),
                        missing,
                        changes,
                        "{JOURNAL_GROUP_REPLAYED}"
                    );
                }
            }
        }
        if held_a_record {
            journal
                .clear()
                .map_err(|e| open_err(format!("cannot clear {}: {e}", journal::FILE_NAME)))?;
        }
        backend.journal = Some(Mutex::new(journal));
        Ok(backend)
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

    /// The backend over `db`'s trees, with no journal yet.
    fn from_db(db: sled::Db) -> Result<SledBackend, StoreError> {
        let trees = Table::ALL
            .iter()
            .map(|t| db.open_tree(t.name()).map_err(backend_err))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SledBackend {
            db,
            trees,
            journal: None,
        })
    }

    fn tree(&self, table: Table) -> &sled::Tree {
        &self.trees[table.index()]
    }

    fn journal(&self) -> Option<MutexGuard<'_, Journal>> {
        // A writer that panicked mid-apply left its group in the journal, which is still
        // the record to complete it from: the flag says whether it was flushed.
        self.journal
            .as_ref()
            .map(|j| j.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// How many keys do not yet hold what `ops` leave in them.
    fn missing(&self, ops: &[Op]) -> Result<usize, StoreError> {
        let mut after = std::collections::BTreeMap::new();
        for op in ops {
            match op {
                Op::Put(t, k, v) => after.insert((*t, k), Some(v)),
                Op::Delete(t, k) => after.insert((*t, k), None),
            };
        }
        let mut missing = 0;
        for ((t, k), v) in after {
            let found = self.tree(t).get(k).map_err(backend_err)?;
            if found.as_deref() != v.map(Vec::as_slice) {
                missing += 1;
            }
        }
        Ok(missing)
    }

    /// Each op as its own sled insert or remove, in order.
    fn put_each(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        for op in ops {
            match op {
                Op::Put(t, k, v) => self.tree(t).insert(k, v).map(drop),
                Op::Delete(t, k) => self.tree(t).remove(k).map(drop),
            }
            .map_err(backend_err)?;
        }
        Ok(())
    }

    /// `ops` as one sled transaction over exactly the trees they touch.
    fn transact(&self, ops: &[Op]) -> Result<(), StoreError> {
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
            for op in ops {
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

/// What an open logs when it completes, from the group journal, a group of writes a crash
/// cut short (the crash harness counts these lines).
pub const JOURNAL_GROUP_REPLAYED: &str =
    "completed the last group of writes, cut short by a crash, from the group journal";

/// What an open logs when the journal's record was torn by a crash while it was written.
pub const JOURNAL_RECORD_TORN: &str = "the group journal holds a record torn by a crash; its writes never reached the store, so there is nothing to replay";

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
        self.apply_group(ops, 1)
    }

    fn apply_group(&self, ops: Vec<Op>, batches: usize) -> Result<(), StoreError> {
        if ops.is_empty() {
            return Ok(());
        }
        let mut journal = self.journal();
        let Some(journal) = journal.as_deref_mut() else {
            return self.transact(&ops);
        };
        // Batches reach the disk in order, and a record replaces the one that could have
        // completed the previous batch: so that batch is flushed first (group commit always
        // has, and this costs nothing there).
        journal.flush_previous(|| self.db.flush().map(drop).map_err(backend_err))?;
        let journal_err =
            |e: std::io::Error| StoreError::Backend(format!("cannot write the group journal: {e}"));
        if batches < 2 && ops.len() < JOURNAL_ALONE_FROM {
            // A record left here would be applied again over this group after a crash.
            if journal.armed() {
                journal.clear().map_err(journal_err)?;
            }
            journal.applied();
            return self.transact(&ops);
        }
        journal.record(&ops).map_err(journal_err)?;
        journal.applied();
        self.put_each(ops)?;
        journal.handed_whole();
        Ok(())
    }

    fn flush(&self) -> Result<(), StoreError> {
        let mut journal = self.journal();
        self.db.flush().map_err(backend_err)?;
        if let Some(journal) = journal.as_deref_mut() {
            journal.flushed();
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a panic is the failure report
mod tests {
    use super::*;

    const CACHE: u64 = 1 << 20;

    fn put(k: &str, v: &str) -> Op {
        Op::Put(Table::Grants, k.as_bytes().to_vec(), v.as_bytes().to_vec())
    }

    /// Opens the store at `dir` again (as the next start does) and reads `keys`.
    fn reopened(dir: &Path, keys: &[&str]) -> (SledBackend, Vec<Option<String>>) {
        let b = SledBackend::open(dir, CACHE).unwrap();
        let found = keys.iter().map(|k| read(&b, k)).collect();
        (b, found)
    }

    fn some(values: &[&str]) -> Vec<Option<String>> {
        values.iter().map(|v| Some(v.to_string())).collect()
    }

    fn read(b: &SledBackend, k: &str) -> Option<String> {
        b.get(Table::Grants, k.as_bytes())
            .unwrap()
            .map(|v| String::from_utf8(v).unwrap())
    }

    /// A closed store holding `k1` = `k2` = `a`, written and flushed.
    fn store_with_a_group() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let b = SledBackend::open(dir.path(), CACHE).unwrap();
        b.apply(vec![put("k1", "a"), put("k2", "a")]).unwrap();
        b.flush().unwrap();
        dir
    }

    fn set_journal(dir: &Path, bytes: &[u8]) {
        std::fs::write(dir.join(journal::FILE_NAME), bytes).unwrap();
    }

    fn journal_len(dir: &Path) -> u64 {
        std::fs::metadata(dir.join(journal::FILE_NAME))
            .unwrap()
            .len()
    }

    #[test]
    fn a_group_cut_short_by_a_crash_is_completed_at_the_next_open() {
        let dir = store_with_a_group();
        {
            // What a crash inside `apply` leaves: the group recorded, and only its first write
            // in sled (on disk, as an io thread may have written it before the kill).
            let b = SledBackend::open(dir.path(), CACHE).unwrap();
            let group = vec![put("k1", "b"), Op::Delete(Table::Grants, b"k2".to_vec())];
            b.journal().unwrap().record(&group).unwrap();
            b.put_each(group[..1].to_vec()).unwrap();
            b.db.flush().unwrap();
            assert_eq!(read(&b, "k2").as_deref(), Some("a"), "the group is in part");
        }
        let (b, found) = reopened(dir.path(), &["k1", "k2"]);
        assert_eq!(
            found,
            [Some("b".into()), None],
            "the delete was replayed too"
        );
        assert_eq!(journal_len(dir.path()), 0, "a replayed record is cleared");
        // Later writes are not undone by anything left behind.
        b.apply(vec![put("k2", "c")]).unwrap();
        b.flush().unwrap();
        drop(b);
        assert_eq!(reopened(dir.path(), &["k1", "k2"]).1, some(&["b", "c"]));
    }

    /// A batch of `JOURNAL_ALONE_FROM` puts: `k1` = `value` and filler keys.
    fn big_group(value: &str) -> Vec<Op> {
        let mut ops = vec![put("k1", value)];
        ops.extend((1..JOURNAL_ALONE_FROM).map(|i| put(&format!("f{i:03}"), value)));
        ops
    }

    #[test]
    fn groups_of_several_writers_and_big_batches_are_journaled_and_never_undo_a_later_batch() {
        let dir = tempfile::tempdir().unwrap();
        let b = SledBackend::open(dir.path(), CACHE).unwrap();
        b.apply(vec![put("k1", "small")]).unwrap();
        b.flush().unwrap();
        assert_eq!(
            journal_len(dir.path()),
            0,
            "a lone small batch is a transaction"
        );
        b.apply_group(vec![put("k1", "two"), put("k2", "two")], 2)
            .unwrap();
        b.flush().unwrap();
        assert!(
            journal_len(dir.path()) > 0,
            "two writers' group is journaled"
        );
        b.apply(vec![put("k1", "small")]).unwrap();
        b.flush().unwrap();
        assert_eq!(journal_len(dir.path()), 0, "cleared before the transaction");
        b.apply(big_group("big")).unwrap();
        b.flush().unwrap();
        let recorded = journal_len(dir.path());
        assert!(recorded > 0, "a big batch is journaled");
        // A small batch after it is a transaction, and the record goes first: applied again
        // at the next open, it would undo this batch.
        b.apply(vec![put("k1", "later")]).unwrap();
        b.flush().unwrap();
        assert_eq!(journal_len(dir.path()), 0, "cleared before the transaction");
        drop(b);
        let (b, found) = reopened(dir.path(), &["k1", "f001"]);
        assert_eq!(found, some(&["later", "big"]));
        // The next big batch is journaled again.
        b.apply(big_group("next")).unwrap();
        b.flush().unwrap();
        assert!(journal_len(dir.path()) > recorded, "a longer record");
        drop(b);
        assert_eq!(
            reopened(dir.path(), &["k1", "f002"]).1,
            some(&["next", "next"])
        );
    }

    #[test]
    fn a_flush_marks_the_record_settled_and_an_open_then_reads_nothing_back() {
        let dir = tempfile::tempdir().unwrap();
        let b = SledBackend::open(dir.path(), CACHE).unwrap();
        b.apply_group(vec![put("k1", "two"), put("k2", "two")], 2)
            .unwrap();
        let magic = |dir: &Path| std::fs::read(dir.join(journal::FILE_NAME)).unwrap()[..4].to_vec();
        assert_ne!(magic(dir.path()), journal::SETTLED, "not before the flush");
        b.flush().unwrap();
        assert_eq!(magic(dir.path()), journal::SETTLED);
        drop(b);
        // A settled record is trusted: here its group never reached sled, and the open
        // leaves sled as it is (an unmarked record would be applied, as above).
        let dir = store_with_a_group();
        {
            let b = SledBackend::open(dir.path(), CACHE).unwrap();
            let mut journal = b.journal().unwrap();
            journal.record(&[put("k1", "never applied")]).unwrap();
            journal.applied();
            journal.handed_whole();
            journal.flushed();
        }
        assert_eq!(reopened(dir.path(), &["k1", "k2"]).1, some(&["a", "a"]));
        assert_eq!(journal_len(dir.path()), 0, "a settled record is cleared");
    }

    #[test]
    fn a_record_torn_by_a_crash_replays_nothing_and_the_store_opens() {
        let dir = store_with_a_group();
        // A crash while the next record was written: its group never reached sled.
        let whole = {
            let b = SledBackend::open(dir.path(), CACHE).unwrap();
            b.journal().unwrap().record(&[put("k1", "torn")]).unwrap();
            std::fs::read(dir.path().join(journal::FILE_NAME)).unwrap()
        };
        set_journal(dir.path(), &whole[..whole.len() - 1]);
        assert_eq!(reopened(dir.path(), &["k1", "k2"]).1, some(&["a", "a"]));
    }

    #[test]
    fn a_whole_record_that_does_not_parse_stops_the_open() {
        let dir = store_with_a_group();
        set_journal(dir.path(), &journal::unparsable_record());
        let err = SledBackend::open(dir.path(), CACHE).err().unwrap();
        assert!(
            err.to_string().contains(journal::FILE_NAME),
            "the error names the journal: {err}"
        );
    }
}
