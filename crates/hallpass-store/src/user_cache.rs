//! Decoded users for the reads nearly every RPC makes: the caller by OS uid, and the holder each
//! view names. Decoding a user's JSON was a sixth of the daemon's time serving `get_grant`
//! (BENCHMARKS.md, reads).
//!
//! Invariant: an entry is served only while no write has touched the Users table since it was
//! read. [`Store::write`](crate::Store::write) calls [`UserCache::invalidate`] after such a
//! write's changes became readable and before it returns, so a read that starts after a write
//! returned never sees what the write replaced. Every entry is dropped at once when that
//! happens (users change rarely next to how often they are read), and when the cache is full.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use hallpass_core::UserId;
use hallpass_core::user::User;

use crate::error::StoreError;

/// Users kept at most; a directory of 100k people is not cached whole, its callers are.
const CAPACITY: usize = 4096;

pub(crate) struct UserCache {
    /// Bumped by every write that touched Users.
    generation: AtomicU64,
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    /// The generation every entry was read at (or after).
    generation: u64,
    by_id: HashMap<UserId, User>,
    by_uid: HashMap<u32, UserId>,
}

impl UserCache {
    pub(crate) fn new() -> UserCache {
        UserCache {
            generation: AtomicU64::new(0),
            entries: Mutex::new(Entries::default()),
        }
    }

    /// Forgets everything read so far: a write that touched Users has become readable.
    pub(crate) fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The user `id`, from the cache or else from `load` (and then kept).
    pub(crate) fn user(
        &self,
        id: UserId,
        load: impl FnOnce() -> Result<Option<User>, StoreError>,
    ) -> Result<Option<User>, StoreError> {
        let generation = self.generation.load(Ordering::SeqCst);
        if let Some(u) = self.current(generation).by_id.get(&id) {
            return Ok(Some(u.clone()));
        }
        let found = load()?;
        if let Some(u) = &found {
            self.keep(generation, u, None);
        }
        Ok(found)
    }

    /// The user bound to OS user `uid`, from the cache or else from `load` (and then kept).
    pub(crate) fn user_by_uid(
        &self,
        uid: u32,
        load: impl FnOnce() -> Result<Option<User>, StoreError>,
    ) -> Result<Option<User>, StoreError> {
        let generation = self.generation.load(Ordering::SeqCst);
        {
            let entries = self.current(generation);
            if let Some(u) = entries
                .by_uid
                .get(&uid)
                .and_then(|id| entries.by_id.get(id))
            {
                return Ok(Some(u.clone()));
            }
        }
        let found = load()?;
        if let Some(u) = &found {
            self.keep(generation, u, Some(uid));
        }
        Ok(found)
    }

    /// The entries, emptied first if a write touched Users since they were read. Entries read
    /// at a later generation than `generation` are served too: they are newer still.
    fn current(&self, generation: u64) -> MutexGuard<'_, Entries> {
        // The map is consistent after any panic (inserts are whole), so a poisoned lock is used.
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.generation < generation {
            *entries = Entries {
                generation,
                ..Entries::default()
            };
        }
        entries
    }

    /// Keeps `u`, read after loading `generation`, unless a write has touched Users since.
    fn keep(&self, generation: u64, u: &User, uid: Option<u32>) {
        let mut entries = self.current(generation);
        if entries.generation != generation || self.generation.load(Ordering::SeqCst) != generation
        {
            return;
        }
        if entries.by_id.len() >= CAPACITY {
            entries.by_id.clear();
            entries.by_uid.clear();
        }
        entries.by_id.insert(u.id, u.clone());
        if let Some(uid) = uid {
            entries.by_uid.insert(uid, u.id);
        }
    }
}
