//! The group journal: one file beside sled's own, holding the last group of writes handed to
//! sled, so that a group applied as plain sled writes lands whole after a crash.
//!
//! Why: a sled transaction (or `apply_batch`) takes sled's process-wide write lock, which stops
//! every reader of every tree until the batch is in, and rolls sled's log buffer twice (a fixed
//! ~250 µs). The group flusher applied one such batch per group, so every read in the daemon
//! waited behind it (BENCHMARKS.md, the write path). Plain inserts and removes take no such
//! lock, but each lands on its own.
//!
//! Small groups still go as one sled transaction: there the lock is short, and the journal's
//! extra sync would cost more than the transaction's fixed cost (BENCHMARKS.md).
//!
//! Protocol (`SledBackend::apply` and `flush`, which are serialized):
//! 1. the previous group is flushed (sled's `flush`), if it was not already
//!    ([`Journal::flush_previous`]);
//! 2. a journaled group is written here and synced (`sync_data`), replacing the previous
//!    record; then its writes go to sled one by one. Before a group goes as a transaction, a
//!    record still here is cleared, and that is synced too;
//! 3. sled's `flush` makes them durable; if every write of the group reached sled (none
//!    failed), the record's magic is then overwritten with [`SETTLED`] (not synced): the group
//!    is on disk, so an open need not read it back.
//!
//! Invariants: when a record here is whole (its checksum holds), it holds the last group handed
//! to sled (a later journaled group would have replaced it, a later transaction cleared it
//! first), every group before it is on disk in sled, and its own group is in sled in part or
//! whole; so applying the record again (puts and deletes are idempotent) leaves exactly the
//! state with the group whole, and an open does that before anything reads the store. A record
//! that is not whole was torn by a crash in step 2: its group had not reached sled, and the
//! group before it was on disk (step 1), so there is nothing to replay. A record marked
//! [`SETTLED`] holds a group that sled's `flush` made durable, with nothing handed to sled
//! after it (the same argument), so there is nothing to replay either; if the mark is lost
//! (power loss: it is never synced), the record reads as whole and is checked key by key. The
//! mark is no stronger than the sled `flush` it follows, which is also what acknowledges the
//! group's writes: sled 0.34 makes a flush durable with `sync_file_range` (and a `sync_all`
//! every 500 ms), so a power loss that undid a flush the mark outlived would lose acknowledged
//! writes as well; that is sled's durability, and the journal relies on it as step 1 does. A
//! whole record whose contents do not parse is corruption and is reported, never skipped.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::backend::{Op, Table};
use crate::error::StoreError;

/// The journal's file name in the store's directory.
pub const FILE_NAME: &str = "hallpass-group.journal";

/// A record: `MAGIC ‖ payload length (u64 LE) ‖ crc32 of the payload (u32 LE) ‖ payload`.
const MAGIC: &[u8; 4] = b"HPJ1";

/// The magic of a record whose group sled has flushed (step 3). Without it an open after a
/// crash between groups, the usual case, would read every key of the last group back from
/// sled to learn that: 6.3 s and 914 MiB after a 1M-grant load that made one 2.9M-key group.
pub const SETTLED: &[u8; 4] = b"HPJ0";
const HEADER: usize = 4 + 8 + 4;

/// The payload: op count (u32 LE), then per op a tag byte (the table's index; `DELETE` set for
/// a delete), key length (u32 LE) and key, and for a put, value length (u32 LE) and value.
const DELETE: u8 = 0x80;

/// A file that has grown past this and is four times the record it now holds is cut back to it.
const SHRINK_PAST: u64 = 1 << 20;

pub struct Journal {
    file: File,
    /// Whether a group was handed to sled and may not be flushed yet (step 1).
    unflushed: bool,
    /// Whether the record's group went to sled whole, and the record is not yet marked
    /// [`SETTLED`]: the next flush marks it. A group whose apply failed part way is never
    /// marked; the next group's record replaces it, and until then an open completes it.
    settle_at_flush: bool,
    /// The file's length (at least as long as anything written to it), kept here so a record
    /// costs no `fstat`; above 0 the file may hold a record, which a transaction must clear.
    len: u64,
}

/// What an open found in the journal.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// No record: a new store, or the last group was replayed and cleared.
    Nothing,
    /// A record torn by a crash while it was written; its group never reached sled.
    Torn,
    /// The last group handed to sled, marked flushed: nothing to replay.
    Settled,
    /// The last group handed to sled, to apply again.
    Group(Vec<Op>),
}

impl Journal {
    /// Opens (or creates) the journal of the store at `dir` and reads what it holds.
    pub fn open(dir: &Path) -> Result<(Journal, Found), StoreError> {
        let path = dir.join(FILE_NAME);
        let io_err = |e: io::Error| StoreError::Open {
            path: path.clone(),
            why: e.to_string(),
        };
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err)?;
        let len = file.metadata().map_err(io_err)?.len();
        // A settled record is not read past its mark: nothing in it is needed.
        let mut bytes = vec![0; SETTLED.len().min(len as usize)];
        file.read_exact_at(&mut bytes, 0).map_err(io_err)?;
        if !bytes.starts_with(SETTLED) {
            bytes.clear();
            io::Read::read_to_end(&mut &file, &mut bytes).map_err(io_err)?;
        }
        let found = read_record(&bytes)?;
        Ok((
            Journal {
                file,
                unflushed: false,
                settle_at_flush: false,
                len,
            },
            found,
        ))
    }

    /// Step 1: makes the group handed to sled last durable with `flush` (sled's), if it may
    /// not be yet, before a record or a clear replaces what could complete it.
    pub fn flush_previous<E>(&mut self, flush: impl FnOnce() -> Result<(), E>) -> Result<(), E> {
        if self.unflushed {
            flush()?;
            self.flushed();
        }
        Ok(())
    }

    /// Notes that everything handed to sled so far is on disk, and marks the record
    /// [`SETTLED`] if it was not yet. The mark only spares the next open a check, so failing
    /// to write it is logged, not returned: the flush it follows did succeed.
    pub fn flushed(&mut self) {
        if self.unflushed && self.settle_at_flush {
            if let Err(e) = self.file.write_all_at(SETTLED, 0) {
                tracing::warn!("cannot mark the group journal's record settled: {e}");
            }
            self.settle_at_flush = false;
        }
        self.unflushed = false;
    }

    /// Notes that every write of the recorded group is in sled: the next flush may mark the
    /// record [`SETTLED`].
    pub fn handed_whole(&mut self) {
        self.settle_at_flush = self.armed();
    }

    /// Whether a record may still be here, to be cleared before a group goes another way.
    pub fn armed(&self) -> bool {
        self.len > 0
    }

    /// Notes that a group was handed to sled and may not be flushed yet.
    pub fn applied(&mut self) {
        self.unflushed = true;
    }

    /// Writes `ops` as the journal's record and syncs it. The caller must have made every
    /// earlier group durable first ([`Journal::unflushed`] false), because this replaces the
    /// record that could have completed it.
    pub fn record(&mut self, ops: &[Op]) -> io::Result<()> {
        debug_assert!(!self.unflushed, "the previous group must be flushed first");
        self.settle_at_flush = false;
        let record = encode(ops);
        let len = record.len() as u64;
        // Before the write: a write that fails part way still leaves the journal armed.
        self.len = self.len.max(len);
        self.file.write_all_at(&record, 0)?;
        if self.len > (4 * len).max(SHRINK_PAST) {
            self.file.set_len(len)?;
            self.len = len;
        }
        self.file.sync_data()
    }

    /// Empties the journal once its group is on disk, before a later group goes to sled
    /// without it, so no open applies the record again over newer writes.
    pub fn clear(&mut self) -> io::Result<()> {
        debug_assert!(!self.unflushed, "the recorded group must be flushed first");
        self.file.set_len(0)?;
        self.file.sync_data()?;
        self.len = 0;
        self.settle_at_flush = false;
        Ok(())
    }
}

/// The record for `ops`.
fn encode(ops: &[Op]) -> Vec<u8> {
    let size: usize = ops
        .iter()
        .map(|op| match op {
            Op::Put(_, k, v) => 9 + k.len() + v.len(),
            Op::Delete(_, k) => 5 + k.len(),
        })
        .sum();
    // The header is filled in once the payload is built, so a group's bytes are copied once.
    let mut record = Vec::with_capacity(HEADER + 4 + size);
    record.extend_from_slice(&[0; HEADER]);
    record.extend_from_slice(&len32(ops.len()).to_le_bytes());
    for op in ops {
        let (table, key, value) = match op {
            Op::Put(t, k, v) => (*t, k, Some(v)),
            Op::Delete(t, k) => (*t, k, None),
        };
        let tag = u8::try_from(table.index()).expect("invariant: fewer than 128 tables");
        record.push(if value.is_some() { tag } else { tag | DELETE });
        record.extend_from_slice(&len32(key.len()).to_le_bytes());
        record.extend_from_slice(key);
        if let Some(v) = value {
            record.extend_from_slice(&len32(v.len()).to_le_bytes());
            record.extend_from_slice(v);
        }
    }
    seal(&mut record);
    record
}

/// Fills in the header of `record`, a zeroed header followed by its payload.
fn seal(record: &mut [u8]) {
    let (header, payload) = record.split_at_mut(HEADER);
    header[..4].copy_from_slice(MAGIC);
    header[4..12].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    header[12..].copy_from_slice(&crc32fast::hash(payload).to_le_bytes());
}

/// A whole record that does not parse: one op, of table 127.
#[cfg(test)]
pub(crate) fn unparsable_record() -> Vec<u8> {
    let mut record = vec![0; HEADER];
    record.extend_from_slice(&[1, 0, 0, 0, 0x7f, 0, 0, 0, 0]);
    seal(&mut record);
    record
}

fn len32(n: usize) -> u32 {
    u32::try_from(n).expect("invariant: a batch, key or value is under 4 GiB")
}

/// Reads the record at the start of `bytes` (bytes past its end are a longer earlier record's
/// tail, and ignored).
fn read_record(bytes: &[u8]) -> Result<Found, StoreError> {
    if bytes.is_empty() {
        return Ok(Found::Nothing);
    }
    if bytes.starts_with(SETTLED) {
        return Ok(Found::Settled);
    }
    let Some((header, rest)) = bytes.split_first_chunk::<HEADER>() else {
        return Ok(Found::Torn);
    };
    let (magic, header) = header.split_at(4);
    let (len, crc) = header.split_at(8);
    let len = u64::from_le_bytes(len.try_into().expect("8 bytes"));
    let crc = u32::from_le_bytes(crc.try_into().expect("4 bytes"));
    let payload = match usize::try_from(len).ok().and_then(|len| rest.get(..len)) {
        Some(payload) if magic == MAGIC && crc32fast::hash(payload) == crc => payload,
        _ => return Ok(Found::Torn),
    };
    decode(payload).map(Found::Group).map_err(|why| {
        StoreError::corrupt(
            "(group journal)",
            &[],
            format!("{FILE_NAME} holds a whole record that does not parse: {why}"),
        )
    })
}

/// The ops of a payload whose checksum held.
fn decode(payload: &[u8]) -> Result<Vec<Op>, String> {
    let mut r = Reader(payload);
    let count = r.u32()? as usize;
    let mut ops = Vec::with_capacity(count.min(payload.len() / 5));
    for i in 0..count {
        let tag = r.take(1)?[0];
        let table = *Table::ALL
            .get(usize::from(tag & !DELETE))
            .ok_or_else(|| format!("op {i}: no table {}", tag & !DELETE))?;
        let key = r.bytes()?;
        ops.push(if tag & DELETE != 0 {
            Op::Delete(table, key)
        } else {
            Op::Put(table, key, r.bytes()?)
        });
    }
    if !r.0.is_empty() {
        return Err(format!("{} bytes after the last op", r.0.len()));
    }
    Ok(ops)
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        if self.0.len() < n {
            return Err(format!("ends {} bytes short", n - self.0.len()));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn bytes(&mut self) -> Result<Vec<u8>, String> {
        let n = self.u32()? as usize;
        self.take(n).map(<[u8]>::to_vec)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a panic is the failure report
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn op() -> impl Strategy<Value = Op> {
        let table = (0..Table::ALL.len()).prop_map(|i| Table::ALL[i]);
        let bytes = proptest::collection::vec(any::<u8>(), 0..40);
        prop_oneof![
            (table.clone(), bytes.clone(), bytes.clone()).prop_map(|(t, k, v)| Op::Put(t, k, v)),
            (table, bytes).prop_map(|(t, k)| Op::Delete(t, k)),
        ]
    }

    proptest! {
        #[test]
        fn a_record_reads_back_as_its_ops_and_any_cut_of_it_as_torn(
            ops in proptest::collection::vec(op(), 0..20),
            cut in any::<prop::sample::Index>(),
            tail in proptest::collection::vec(any::<u8>(), 0..30),
        ) {
            let record = encode(&ops);
            // What an earlier, longer record leaves after this one is ignored.
            let mut over_old = record.clone();
            over_old.extend_from_slice(&tail);
            prop_assert_eq!(read_record(&over_old).unwrap(), Found::Group(ops));
            let cut = cut.index(record.len());
            let expected = if cut == 0 { Found::Nothing } else { Found::Torn };
            prop_assert_eq!(read_record(&record[..cut]).unwrap(), expected);
        }

        #[test]
        fn a_changed_byte_makes_the_record_torn(
            ops in proptest::collection::vec(op(), 1..10),
            at in any::<prop::sample::Index>(),
            flip in 1..=255u8,
        ) {
            let mut record = encode(&ops);
            let at = at.index(record.len());
            record[at] ^= flip;
            // A changed length may still select a payload, but never one whose checksum holds.
            // The one change that reads otherwise is the mark a flush writes.
            let expected = if record.starts_with(SETTLED) { Found::Settled } else { Found::Torn };
            prop_assert_eq!(read_record(&record).unwrap(), expected);
        }
    }

    /// The journal's file after a group of `ops` was recorded and flushed, `whole` saying
    /// whether all of it went to sled.
    fn recorded_and_flushed(whole: bool) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let (mut journal, _) = Journal::open(dir.path()).unwrap();
        journal
            .record(&[Op::Delete(Table::Grants, b"k".to_vec())])
            .unwrap();
        journal.applied();
        if whole {
            journal.handed_whole();
        }
        journal.flushed();
        std::fs::read(dir.path().join(FILE_NAME)).unwrap()
    }

    #[test]
    fn only_a_group_handed_to_sled_whole_is_marked_settled_at_its_flush() {
        assert_eq!(
            read_record(&recorded_and_flushed(true)).unwrap(),
            Found::Settled
        );
        // An apply that failed part way: the record stays, for an open to complete the group.
        assert!(matches!(
            read_record(&recorded_and_flushed(false)).unwrap(),
            Found::Group(_)
        ));
    }

    #[test]
    fn a_record_marked_settled_is_not_read_and_a_cut_mark_is_torn() {
        let mut record = encode(&[Op::Delete(Table::Grants, b"k".to_vec())]);
        record[..4].copy_from_slice(SETTLED);
        assert_eq!(read_record(&record).unwrap(), Found::Settled);
        assert_eq!(read_record(&record[..4]).unwrap(), Found::Settled);
        assert_eq!(read_record(&record[..3]).unwrap(), Found::Torn);
    }

    #[test]
    fn a_whole_record_that_does_not_parse_is_corruption() {
        match read_record(&unparsable_record()) {
            Err(StoreError::Corrupt { why, .. }) => {
                assert!(
                    why.contains(FILE_NAME) && why.contains("no table 127"),
                    "{why}"
                );
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }
}
