//! Group apply: a [`Backend`] wrapper that holds each applied batch in memory and hands
//! everything pending to the wrapped backend as ONE batch when it is flushed, so the flusher
//! thread pays the wrapped backend's per-batch cost (for sled, a transaction that rolls its log
//! buffers twice, or a journal record and its sync) once per group commit instead of once per
//! write. Because every read consults the pending set first, no reader sees a group half
//! applied to the wrapped backend, which then need not apply it atomically for readers.
//!
//! Invariants:
//! - reads see every applied batch at once: a get or scan consults the pending writes (newest
//!   first) before the wrapped backend, and a batch joins the pending set under one lock;
//! - a batch is never split: the flush takes the whole pending set, so each group the wrapped
//!   backend applies is a union of whole batches, in apply order (a later write to a key wins);
//! - what a flush took stays readable (and pending) until the wrapped backend has applied AND
//!   flushed it; if either fails it stays under the newer pending writes, to be applied again
//!   (the same values) by the next flush;
//! - so a key that is not pending holds, in the wrapped backend, a value that is on disk:
//!   [`GroupApply::settled`] tells a reader whether what it just read needs a flush yet;
//! - the pending set is bounded: a batch that finds [`PENDING_MAX`] keys or more waiting for
//!   the flusher waits until the flusher takes them, so a writer that does not wait for the
//!   disk (a bulk load) cannot outrun it and pile up its whole load in one group, in memory and
//!   in the journal record that group becomes.
//!
//! Nothing changes for durability: a write was never durable before a flush, and it is still
//! made durable by the flush that group commit already runs.

use std::collections::BTreeMap;
use std::iter::Peekable;
use std::ops::Bound;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::backend::{Backend, Op, ScanIter, Table};
use crate::error::StoreError;

/// How many keys may wait for the flusher before a new batch waits with them (it then waits
/// for one flush to take them; a batch is never split, so one bigger than this still goes in
/// whole). Writers that wait for the disk never come near it: a group of 256 writers is about
/// 8k keys. A bulk load of 5,000 grants per batch reaches it, and its groups stay at about 85k
/// keys, 10 MB (BENCHMARKS.md, the write path).
pub const PENDING_MAX: usize = 65_536;

/// How long a batch waits for room before it is refused: a flush of a bounded group takes well
/// under a second, so this only ends a wait for a flusher that stopped (a panic, a hung disk),
/// which would otherwise hold the store's writer lock, and with it every writer, for good.
const ROOM_WAIT_MAX: Duration = Duration::from_secs(30);

/// Staged writes: `Some(value)` puts, `None` deletes.
type Writes = BTreeMap<(Table, Vec<u8>), Option<Vec<u8>>>;

/// One table's pending writes in a scan's range: key, and the value or `None` for a delete.
type Staged = Vec<(Vec<u8>, Option<Vec<u8>>)>;

#[derive(Default)]
struct Pending {
    /// Applied since the last flush took the pending set.
    newest: Writes,
    /// Taken by the flush in progress, not yet applied and flushed by the wrapped backend.
    taken: Arc<Writes>,
    /// How many batches were merged into `newest`, and into `taken`.
    newest_batches: usize,
    taken_batches: usize,
    /// Writers waiting in [`GroupApply::apply`] for the flusher to take `newest`.
    waiting: usize,
}

impl Pending {
    fn get(&self, table: Table, key: &[u8]) -> Option<Option<Vec<u8>>> {
        let k = (table, key.to_vec());
        self.newest.get(&k).or_else(|| self.taken.get(&k)).cloned()
    }

    fn holds(&self, table: Table, key: &[u8]) -> bool {
        let k = (table, key.to_vec());
        self.newest.contains_key(&k) || self.taken.contains_key(&k)
    }

    /// The pending writes in `table` within `[from, to)`, newest winning, in key order.
    fn range(&self, table: Table, from: &[u8], to: Option<&[u8]>) -> Staged {
        let lower = Bound::Included((table, from.to_vec()));
        let upper = match to {
            Some(to) => Bound::Excluded((table, to.to_vec())),
            None => match Table::ALL.get(table.index() + 1) {
                Some(next) => Bound::Excluded((*next, Vec::new())),
                None => Bound::Unbounded,
            },
        };
        let mut merged: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
        for writes in [&*self.taken, &self.newest] {
            for ((_, k), v) in writes.range((lower.clone(), upper.clone())) {
                merged.insert(k.clone(), v.clone());
            }
        }
        merged.into_iter().collect()
    }
}

pub struct GroupApply {
    inner: Arc<dyn Backend>,
    pending: Mutex<Pending>,
    /// Signalled when a flush takes `newest`: a writer waiting for room goes on.
    room: Condvar,
    /// Keys in `newest` from which a new batch waits ([`PENDING_MAX`]), and for how long at
    /// most ([`ROOM_WAIT_MAX`]).
    max_pending: usize,
    max_wait: Duration,
    /// Held for the whole of a flush: one group in flight at a time.
    flushing: Mutex<()>,
}

impl GroupApply {
    pub fn new(inner: Arc<dyn Backend>) -> GroupApply {
        GroupApply::with_bounds(inner, PENDING_MAX, ROOM_WAIT_MAX)
    }

    /// With bounds other than [`PENDING_MAX`] and [`ROOM_WAIT_MAX`] (tests).
    fn with_bounds(inner: Arc<dyn Backend>, max_pending: usize, max_wait: Duration) -> GroupApply {
        GroupApply {
            inner,
            pending: Mutex::new(Pending::default()),
            room: Condvar::new(),
            max_pending,
            max_wait,
            flushing: Mutex::new(()),
        }
    }

    fn pending(&self) -> MutexGuard<'_, Pending> {
        // Every critical section leaves `Pending` whole, so a poisoned lock holds valid data.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the pending set for the wrapped backend, leaving it readable as `taken`, with
    /// the number of batches merged into it.
    fn take(&self) -> (Arc<Writes>, usize) {
        let mut p = self.pending();
        let newest = std::mem::take(&mut p.newest);
        let mut batches = std::mem::take(&mut p.newest_batches);
        if !p.taken.is_empty() {
            // A failed apply left this; the newer writes win over it.
            let mut older = (*p.taken).clone();
            older.extend(newest);
            p.taken = Arc::new(older);
            batches += p.taken_batches;
        } else {
            p.taken = Arc::new(newest);
        }
        p.taken_batches = batches;
        self.room.notify_all();
        (Arc::clone(&p.taken), batches)
    }

    /// Whether `key`'s current value in `table` is on disk: no write to it is pending. Asked
    /// after a read, `true` means the value read is durable (a write that landed after the read
    /// makes this `false`, which only errs on the side of waiting).
    pub fn settled(&self, table: Table, key: &[u8]) -> bool {
        !self.pending().holds(table, key)
    }
}

impl Backend for GroupApply {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        // The lock is released before the wrapped backend is read.
        let staged = self.pending().get(table, key);
        match staged {
            Some(staged) => Ok(staged),
            None => self.inner.get(table, key),
        }
    }

    fn scan(&self, table: Table, from: &[u8], to: Option<&[u8]>, reverse: bool) -> ScanIter<'_> {
        if to.is_some_and(|to| to <= from) {
            return Box::new(std::iter::empty());
        }
        let mut staged = self.pending().range(table, from, to);
        // Read the wrapped backend after the pending writes: a write the flush applies in
        // between is then in both, and the pending copy (the same value) wins.
        let base = self.inner.scan(table, from, to, reverse);
        if staged.is_empty() {
            return base;
        }
        if reverse {
            staged.reverse();
        }
        Box::new(Merge {
            staged: staged.into_iter().peekable(),
            base: base.peekable(),
            reverse,
        })
    }

    /// Waits first while [`PENDING_MAX`] keys wait for the flusher. Every batch in `newest`
    /// was counted for the flusher when its write returned, so the flusher has a flush to make
    /// and takes them: a failed flush takes them too (they then stay pending as `taken`). A
    /// flusher that takes nothing for [`ROOM_WAIT_MAX`] has stopped: the batch is refused.
    fn apply(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        let mut p = self.pending();
        let deadline = Instant::now() + self.max_wait;
        while p.newest.len() >= self.max_pending {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(StoreError::Flush(format!(
                    "{} changes have waited {} s for the store's flusher, which took none: the \
                     disk is stalled or the flusher stopped; this write was not applied",
                    p.newest.len(),
                    self.max_wait.as_secs_f64()
                )));
            }
            p.waiting += 1;
            p = self
                .room
                .wait_timeout(p, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            p.waiting -= 1;
        }
        for op in ops {
            match op {
                Op::Put(t, k, v) => p.newest.insert((t, k), Some(v)),
                Op::Delete(t, k) => p.newest.insert((t, k), None),
            };
        }
        p.newest_batches += 1;
        Ok(())
    }

    fn flush(&self) -> Result<(), StoreError> {
        let _one = self.flushing.lock().unwrap_or_else(PoisonError::into_inner);
        let (group, batches) = self.take();
        if !group.is_empty() {
            let ops = group
                .iter()
                .map(|((t, k), v)| match v {
                    Some(v) => Op::Put(*t, k.clone(), v.clone()),
                    None => Op::Delete(*t, k.clone()),
                })
                .collect();
            // On failure `taken` stays pending, under anything newer, for the next flush.
            self.inner.apply_group(ops, batches)?;
        }
        self.inner.flush()?;
        // Only now is the group on disk; until here a reader of its keys is told to wait.
        if !group.is_empty() {
            let mut p = self.pending();
            p.taken = Arc::default();
            p.taken_batches = 0;
        }
        Ok(())
    }
}

/// A scan of the wrapped backend with the pending writes laid over it.
struct Merge<'a> {
    staged: Peekable<<Staged as IntoIterator>::IntoIter>,
    base: Peekable<ScanIter<'a>>,
    reverse: bool,
}

impl Iterator for Merge<'_> {
    type Item = Result<(Vec<u8>, Vec<u8>), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let take_staged = match (self.staged.peek(), self.base.peek()) {
                (None, None) => return None,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                // An error from the wrapped backend comes out at once.
                (Some(_), Some(Err(_))) => false,
                (Some((sk, _)), Some(Ok((bk, _)))) => {
                    if sk == bk {
                        // The pending write replaces (or deletes) the stored value.
                        self.base.next();
                        true
                    } else {
                        (sk < bk) != self.reverse
                    }
                }
            };
            if !take_staged {
                return self.base.next();
            }
            match self.staged.next() {
                Some((k, Some(v))) => return Some(Ok((k, v))),
                Some((_, None)) => continue,
                None => return None,
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a panic is the failure report
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use proptest::prelude::*;

    use super::*;
    use crate::mem_backend::MemBackend;

    const TABLES: [Table; 3] = [Table::Users, Table::Grants, Table::LinkSubmissions];

    #[derive(Clone, Debug)]
    enum Step {
        Put(usize, u8, u8),
        Delete(usize, u8),
        /// Several ops applied as one batch.
        Batch(Vec<(usize, u8, Option<u8>)>),
        Flush,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (0..3usize, 0..16u8, any::<u8>()).prop_map(|(t, k, v)| Step::Put(t, k, v)),
            2 => (0..3usize, 0..16u8).prop_map(|(t, k)| Step::Delete(t, k)),
            2 => proptest::collection::vec(
                (0..3usize, 0..16u8, proptest::option::of(any::<u8>())),
                1..5
            )
            .prop_map(Step::Batch),
            1 => Just(Step::Flush),
        ]
    }

    fn op(t: usize, k: u8, v: Option<u8>) -> Op {
        match v {
            Some(v) => Op::Put(TABLES[t], vec![k], vec![v]),
            None => Op::Delete(TABLES[t], vec![k]),
        }
    }

    fn scan_all(b: &dyn Backend, t: Table, from: u8, to: Option<u8>, rev: bool) -> Vec<(u8, u8)> {
        let to = to.map(|t| vec![t]);
        b.scan(t, &[from], to.as_deref(), rev)
            .map(|r| {
                let (k, v) = r.unwrap();
                (k[0], v[0])
            })
            .collect()
    }

    proptest! {
        /// Whatever mix of batches and flushes, every get and scan (either way, any bounds)
        /// reads as a backend that applied each batch at once, before and after a last flush.
        #[test]
        fn reads_match_a_backend_that_applies_at_once(
            steps in proptest::collection::vec(step(), 0..60),
            from in 0..16u8,
            to in proptest::option::of(0..17u8),
        ) {
            let direct = MemBackend::new();
            let stored = Arc::new(MemBackend::new());
            let grouped = GroupApply::new(stored.clone());
            for s in &steps {
                let ops = match s {
                    Step::Put(t, k, v) => vec![op(*t, *k, Some(*v))],
                    Step::Delete(t, k) => vec![op(*t, *k, None)],
                    Step::Batch(ops) => ops.iter().map(|&(t, k, v)| op(t, k, v)).collect(),
                    Step::Flush => {
                        grouped.flush().unwrap();
                        continue;
                    }
                };
                direct.apply(ops.clone()).unwrap();
                grouped.apply(ops).unwrap();
            }
            for round in 0..2 {
                for t in TABLES {
                    for k in 0..16u8 {
                        prop_assert_eq!(grouped.get(t, &[k]).unwrap(), direct.get(t, &[k]).unwrap());
                    }
                    for rev in [false, true] {
                        prop_assert_eq!(
                            scan_all(&grouped, t, from, to, rev),
                            scan_all(&direct, t, from, to, rev),
                            "table {:?} reverse {} round {}", t, rev, round
                        );
                    }
                }
                grouped.flush().unwrap();
            }
            // After the last flush the wrapped backend holds everything by itself.
            for t in TABLES {
                prop_assert_eq!(scan_all(&*stored, t, 0, None, false), scan_all(&direct, t, 0, None, false));
            }
        }
    }

    #[test]
    fn a_batch_reaches_the_wrapped_backend_only_at_the_flush_and_as_one() {
        let stored = Arc::new(MemBackend::new());
        let grouped = GroupApply::new(stored.clone());
        grouped
            .apply(vec![Op::Put(Table::Users, b"a".to_vec(), b"1".to_vec())])
            .unwrap();
        grouped
            .apply(vec![
                Op::Put(Table::Users, b"b".to_vec(), b"2".to_vec()),
                Op::Delete(Table::Users, b"a".to_vec()),
            ])
            .unwrap();
        assert_eq!(stored.get(Table::Users, b"b").unwrap(), None);
        assert_eq!(grouped.get(Table::Users, b"a").unwrap(), None);
        assert_eq!(
            grouped.get(Table::Users, b"b").unwrap(),
            Some(b"2".to_vec())
        );
        grouped.flush().unwrap();
        assert_eq!(stored.get(Table::Users, b"a").unwrap(), None);
        assert_eq!(stored.get(Table::Users, b"b").unwrap(), Some(b"2".to_vec()));
    }

    #[test]
    fn a_batch_that_finds_the_pending_set_full_waits_for_a_flush_to_take_it() {
        let stored = Arc::new(MemBackend::new());
        let grouped = Arc::new(GroupApply::with_bounds(
            stored.clone(),
            2,
            Duration::from_secs(60),
        ));
        let put = |k: &[u8]| Op::Put(Table::Grants, k.to_vec(), b"v".to_vec());
        grouped.apply(vec![put(b"a")]).unwrap();
        // Below the bound: goes in at once, and may take the set past it (never split).
        grouped.apply(vec![put(b"b"), put(b"c")]).unwrap();
        let writer = {
            let grouped = grouped.clone();
            std::thread::spawn(move || grouped.apply(vec![put(b"d")]))
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while grouped.pending().waiting == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the writer never waited"
            );
            std::thread::yield_now();
        }
        assert_eq!(grouped.get(Table::Grants, b"d").unwrap(), None);
        grouped.flush().unwrap();
        writer.join().unwrap().unwrap();
        // The flush took the three keys before the waiting batch went in.
        assert_eq!(
            stored.get(Table::Grants, b"c").unwrap(),
            Some(b"v".to_vec())
        );
        assert_eq!(stored.get(Table::Grants, b"d").unwrap(), None);
        assert_eq!(
            grouped.get(Table::Grants, b"d").unwrap(),
            Some(b"v".to_vec())
        );
        assert_eq!(grouped.pending().waiting, 0);
    }

    #[test]
    fn a_batch_waiting_for_a_flusher_that_takes_nothing_is_refused_and_applies_nothing() {
        let stored = Arc::new(MemBackend::new());
        let grouped = GroupApply::with_bounds(stored, 1, Duration::from_millis(50));
        let put = |k: &[u8]| Op::Put(Table::Grants, k.to_vec(), b"v".to_vec());
        grouped.apply(vec![put(b"a")]).unwrap();
        let err = grouped.apply(vec![put(b"b")]).unwrap_err();
        assert!(matches!(err, StoreError::Flush(_)), "{err}");
        assert!(err.to_string().contains("was not applied"), "{err}");
        assert_eq!(grouped.get(Table::Grants, b"b").unwrap(), None);
        assert_eq!(grouped.pending().waiting, 0);
        // Once a flush takes the set, writes go in again.
        grouped.flush().unwrap();
        grouped.apply(vec![put(b"b")]).unwrap();
    }

    /// Fails its next apply, or its next flush, while armed; records each group's batch count.
    struct Failing {
        inner: MemBackend,
        fail: AtomicBool,
        fail_flush: AtomicBool,
        batches: Mutex<Vec<usize>>,
    }

    impl Failing {
        fn new(fail_apply: bool, fail_flush: bool) -> Failing {
            Failing {
                inner: MemBackend::new(),
                fail: AtomicBool::new(fail_apply),
                fail_flush: AtomicBool::new(fail_flush),
                batches: Mutex::default(),
            }
        }
    }

    impl Backend for Failing {
        fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
            self.inner.get(table, key)
        }
        fn scan(&self, t: Table, from: &[u8], to: Option<&[u8]>, rev: bool) -> ScanIter<'_> {
            self.inner.scan(t, from, to, rev)
        }
        fn apply(&self, ops: Vec<Op>) -> Result<(), StoreError> {
            if self.fail.swap(false, Ordering::SeqCst) {
                return Err(StoreError::Backend("no space left on device".into()));
            }
            self.inner.apply(ops)
        }
        fn apply_group(&self, ops: Vec<Op>, batches: usize) -> Result<(), StoreError> {
            self.batches.lock().unwrap().push(batches);
            self.apply(ops)
        }
        fn flush(&self) -> Result<(), StoreError> {
            if self.fail_flush.swap(false, Ordering::SeqCst) {
                return Err(StoreError::Flush("input/output error".into()));
            }
            self.inner.flush()
        }
    }

    #[test]
    fn a_group_the_wrapped_backend_refused_stays_readable_and_goes_in_with_the_next_flush() {
        let stored = Arc::new(Failing::new(true, false));
        let grouped = GroupApply::new(stored.clone());
        let put = |k: &[u8], v: &[u8]| Op::Put(Table::Grants, k.to_vec(), v.to_vec());
        grouped
            .apply(vec![put(b"a", b"old"), put(b"b", b"1")])
            .unwrap();
        let err = grouped.flush().unwrap_err();
        assert!(err.to_string().contains("no space left"), "{err}");
        // Still readable, and a newer write wins over the refused group.
        assert_eq!(
            grouped.get(Table::Grants, b"a").unwrap(),
            Some(b"old".to_vec())
        );
        grouped.apply(vec![put(b"a", b"new")]).unwrap();
        grouped.flush().unwrap();
        assert_eq!(
            stored.get(Table::Grants, b"a").unwrap(),
            Some(b"new".to_vec())
        );
        assert_eq!(
            stored.get(Table::Grants, b"b").unwrap(),
            Some(b"1".to_vec())
        );
        assert_eq!(
            *stored.batches.lock().unwrap(),
            [1, 2],
            "the group applied again counts the refused batch and the newer one"
        );
        grouped.apply(vec![put(b"c", b"1")]).unwrap();
        grouped.apply(vec![put(b"d", b"1")]).unwrap();
        grouped.flush().unwrap();
        assert_eq!(*stored.batches.lock().unwrap(), [1, 2, 2]);
    }

    #[test]
    fn a_key_is_settled_only_once_the_group_that_wrote_it_is_flushed() {
        let stored = Arc::new(Failing::new(false, true));
        let grouped = GroupApply::new(stored.clone());
        let a = |g: &GroupApply| g.settled(Table::Grants, b"a");
        assert!(a(&grouped), "nothing was ever written to it");
        grouped
            .apply(vec![Op::Put(Table::Grants, b"a".to_vec(), b"1".to_vec())])
            .unwrap();
        assert!(!a(&grouped));
        // The wrapped backend applied the group but did not get it to disk.
        let err = grouped.flush().unwrap_err();
        assert!(err.to_string().contains("input/output"), "{err}");
        assert_eq!(
            stored.get(Table::Grants, b"a").unwrap(),
            Some(b"1".to_vec())
        );
        assert!(!a(&grouped), "applied but not flushed is not settled");
        grouped.flush().unwrap();
        assert!(a(&grouped));
        assert_eq!(
            grouped.get(Table::Grants, b"a").unwrap(),
            Some(b"1".to_vec())
        );
        assert!(grouped.settled(Table::Users, b"a"), "another table's key");
    }
}
