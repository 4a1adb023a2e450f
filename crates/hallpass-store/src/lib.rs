//! hallpass-store: the broker's durable state as typed tables over an ordered key-value
//! [`Backend`] (sled today). Architecture invariant: this is the only crate that imports sled,
//! and every secondary index is derived from its record and written in the same atomic apply.
//!
//! Layout: [`backend`] (the `Backend` trait and its tables), [`sled_backend`] and
//! [`mem_backend`] (implementations), [`keys`] (order-preserving key codecs), [`codec`]
//! (versioned values), `index` (which index keys a record implies), [`store`] (reads, the
//! writer lock, schema checks), [`txn`] (staged writes), `durability` (group commit) and
//! `group_apply` (every write since the last flush applied to the backend as one batch),
//! `journal` (how sled takes a big batch without a transaction and still lands it whole);
//! `cache` keeps decoded users and flows, dropped at every write to their table.

pub mod backend;
mod cache;
pub mod codec;
pub mod deadline;
pub mod deadline_watch;
mod durability;
pub mod error;
mod group_apply;
mod index;
mod journal;
pub mod keys;
pub mod mem_backend;
pub mod sled_backend;
pub mod store;
pub mod txn;

pub use backend::{Backend, Op, Table};
pub use deadline::Due;
pub use deadline_watch::DeadlineWatch;
pub use error::StoreError;
pub use mem_backend::MemBackend;
pub use sled_backend::SledBackend;
pub use store::{CommitTicket, SCHEMA_VERSION, Store, StoreOptions};
pub use txn::Txn;

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a panic is the failure report
mod tests;
