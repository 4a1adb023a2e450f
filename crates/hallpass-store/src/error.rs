//! Store errors. Invariant: every error names what it concerns (the path, the table and key, the
//! schema versions) so an operator can act on the message without a debugger.

use std::path::PathBuf;

#[derive(Clone, Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened (missing permissions, locked by another process, ...).
    #[error("cannot open the store at {}: {why}", path.display())]
    Open { path: PathBuf, why: String },
    /// A stored value or key could not be decoded, or an index disagrees with its record.
    #[error("corrupt store: table {table}, key {key}: {why}")]
    Corrupt {
        table: &'static str,
        /// The key in lowercase hex.
        key: String,
        why: String,
    },
    /// The backend failed to read, write or flush.
    #[error("store backend failed: {0}")]
    Backend(String),
    /// The store was written by a newer build.
    #[error(
        "the store was written by a newer hallpass; schema {found}, this build supports {supported}"
    )]
    Version { found: u32, supported: u32 },
    /// A flush failed, so a write acknowledged to this caller may not be on disk.
    #[error("the store could not be flushed to disk: {0}")]
    Flush(String),
    /// A key part is too long for its length prefix.
    #[error("cannot store in {table}: a key part is {len} bytes, more than {max}")]
    KeyTooLong {
        table: &'static str,
        len: usize,
        max: usize,
    },
    /// The store is shutting down.
    #[error("the store is closed")]
    Closed,
}

impl StoreError {
    /// A `Corrupt` error for `key` in `table`.
    pub fn corrupt(table: &'static str, key: &[u8], why: impl Into<String>) -> Self {
        StoreError::Corrupt {
            table,
            key: hex::encode(key),
            why: why.into(),
        }
    }
}
