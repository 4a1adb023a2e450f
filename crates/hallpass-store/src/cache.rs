//! Decoded records for the reads nearly every RPC makes: the caller (found by OS uid), the
//! holder each view names, the flow each request goes through. Decoding a user's JSON was a sixth of the
//! daemon's time serving `get_grant`, and a flow's a fifteenth of a `submit_request`
//! (BENCHMARKS.md, reads and writes).
//!
//! Invariant: an entry is served only while no write has touched its table since it was read.
//! [`Store::write`](crate::Store::write) calls [`Cache::invalidate`] after such a write's
//! changes became readable and before it returns, so a read that starts after a write returned
//! never sees what the write replaced. Every entry is dropped at once when that happens (these
//! records change rarely next to how often they are read), and when the cache is full.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::error::StoreError;

/// Records kept at most per cache; a directory of 100k people is not cached whole, its
/// callers are.
const CAPACITY: usize = 4096;

pub(crate) struct Cache<K, V> {
    /// Bumped by every write that touched the table.
    generation: AtomicU64,
    entries: Mutex<Entries<K, V>>,
}

struct Entries<K, V> {
    /// The generation every entry was read at (or after).
    generation: u64,
    map: HashMap<K, V>,
}

impl<K: Hash + Eq, V: Clone> Cache<K, V> {
    pub(crate) fn new() -> Cache<K, V> {
        Cache {
            generation: AtomicU64::new(0),
            entries: Mutex::new(Entries {
                generation: 0,
                map: HashMap::new(),
            }),
        }
    }

    /// Forgets everything read so far: a write that touched the table has become readable.
    pub(crate) fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The record under `key`, from the cache or else from `load` (and then kept if found).
    pub(crate) fn get(
        &self,
        key: K,
        load: impl FnOnce() -> Result<Option<V>, StoreError>,
    ) -> Result<Option<V>, StoreError> {
        let generation = self.generation.load(Ordering::SeqCst);
        if let Some(v) = self.current(generation).map.get(&key) {
            return Ok(Some(v.clone()));
        }
        let found = load()?;
        if let Some(v) = &found {
            let mut entries = self.current(generation);
            // Not kept if a write touched the table since `load` began: it may predate it.
            if entries.generation == generation
                && self.generation.load(Ordering::SeqCst) == generation
            {
                if entries.map.len() >= CAPACITY {
                    entries.map.clear();
                }
                entries.map.insert(key, v.clone());
            }
        }
        Ok(found)
    }

    /// The entries, emptied first if a write touched the table since they were read. Entries
    /// read at a later generation than `generation` are served too: they are newer still.
    fn current(&self, generation: u64) -> MutexGuard<'_, Entries<K, V>> {
        // Inserts are whole, so the map is consistent after any panic: a poisoned lock is used.
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.generation < generation {
            entries.generation = generation;
            entries.map.clear();
        }
        entries
    }
}
