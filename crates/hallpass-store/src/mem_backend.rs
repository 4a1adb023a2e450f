//! An in-memory [`Backend`] (nothing survives a drop), the reference implementation for tests
//! that need to wrap or fault a backend. Invariant: `apply` holds the write lock for the whole
//! batch, so readers see a batch entirely or not at all.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{PoisonError, RwLock};

use crate::backend::{Backend, Op, ScanIter, Table};
use crate::error::StoreError;

type Tables = Vec<BTreeMap<Vec<u8>, Vec<u8>>>;

pub struct MemBackend {
    tables: RwLock<Tables>,
}

impl Default for MemBackend {
    fn default() -> Self {
        MemBackend {
            tables: RwLock::new(vec![BTreeMap::new(); Table::ALL.len()]),
        }
    }
}

impl MemBackend {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Backend for MemBackend {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let tables = self.tables.read().unwrap_or_else(PoisonError::into_inner);
        Ok(tables[table.index()].get(key).cloned())
    }

    /// Scans a snapshot taken when the scan starts.
    fn scan(&self, table: Table, from: &[u8], to: Option<&[u8]>, reverse: bool) -> ScanIter<'_> {
        if to.is_some_and(|to| to <= from) {
            return Box::new(std::iter::empty());
        }
        let tables = self.tables.read().unwrap_or_else(PoisonError::into_inner);
        let upper = to.map_or(Bound::Unbounded, Bound::Excluded);
        let mut items: Vec<(Vec<u8>, Vec<u8>)> = tables[table.index()]
            .range::<[u8], _>((Bound::Included(from), upper))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if reverse {
            items.reverse();
        }
        Box::new(items.into_iter().map(Ok))
    }

    fn apply(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        let mut tables = self.tables.write().unwrap_or_else(PoisonError::into_inner);
        for op in ops {
            match op {
                Op::Put(t, k, v) => {
                    tables[t.index()].insert(k, v);
                }
                Op::Delete(t, k) => {
                    tables[t.index()].remove(&k);
                }
            }
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
