//! Records round-trip, stay versioned, fail loudly when corrupt, survive a re-open, and writes
//! are all-or-nothing with the overlay visible inside the transaction.

use std::collections::BTreeSet;
use std::sync::Arc;

use hallpass_core::audit::ChainVerifier;
use hallpass_core::event::EventKind;
use hallpass_core::grant::{EndReason, GrantStatus};
use hallpass_core::request::{Decision, RequestStatus};
use hallpass_core::user::{Role, UserStatus};
use hallpass_core::{GrantId, GroupName, RequestId, Timestamp, UserId};

use super::*;
use crate::backend::{Backend, Op, Table};
use crate::codec::VALUE_VERSION;
use crate::deadline::Due;
use crate::error::StoreError;
use crate::keys;
use crate::mem_backend::MemBackend;
use crate::store::{SCHEMA_VERSION, Store, StoreOptions};

fn ok<T>(v: T) -> Result<T, StoreError> {
    Ok(v)
}

#[test]
fn records_round_trip_through_txn_and_store_with_a_version_byte() {
    let s = Store::open_temporary().unwrap();
    let u = user(1, "ada@example.com");
    let r = request(1001, 1, 50);
    let g = grant(1, 1, "pg/orders/read", 10);
    let (gr, inv, int, bun, fl) = (
        group("ops", &[1]),
        invite(7, 1),
        integration("pg"),
        bundle("b1"),
        flow("db"),
    );
    s.write(|t| {
        t.put_user(&u)?;
        t.put_request(&r)?;
        t.put_grant(&g)?;
        t.put_group(&gr)?;
        t.put_invite(&inv)?;
        t.put_integration(&int)?;
        t.put_bundle(&bun)?;
        t.put_flow(&fl)?;
        // Reads inside the transaction see the staged records.
        assert_eq!(t.user(u.id)?.as_ref(), Some(&u));
        assert_eq!(t.request(r.id)?.as_ref(), Some(&r));
        assert_eq!(t.grant(g.id)?.as_ref(), Some(&g));
        assert_eq!(t.group(&gr.name)?.as_ref(), Some(&gr));
        assert_eq!(t.invite(&inv.code_hash)?.as_ref(), Some(&inv));
        assert_eq!(t.integration(&int.name)?.as_ref(), Some(&int));
        assert_eq!(t.bundle(&bun.name)?.as_ref(), Some(&bun));
        assert_eq!(t.flow(&fl.name)?.as_ref(), Some(&fl));
        ok(())
    })
    .unwrap();

    assert_eq!(s.user(u.id).unwrap(), Some(u.clone()));
    assert_eq!(s.user_by_email("ada@example.com").unwrap(), Some(u.clone()));
    assert_eq!(s.user_by_uid(1001).unwrap(), Some(u.clone()));
    assert_eq!(s.users_with_role(Role::Grantee).unwrap(), vec![u.clone()]);
    assert_eq!(s.user_count().unwrap(), 1);
    assert_eq!(s.request(r.id).unwrap(), Some(r.clone()));
    assert_eq!(s.grant(g.id).unwrap(), Some(g.clone()));
    assert_eq!(s.group(&gr.name).unwrap(), Some(gr.clone()));
    assert_eq!(s.groups().unwrap(), vec![gr]);
    assert_eq!(s.invite(&inv.code_hash).unwrap(), Some(inv));
    assert_eq!(s.integrations().unwrap(), vec![int.clone()]);
    assert_eq!(s.integration(&int.name).unwrap(), Some(int));
    assert_eq!(s.bundles().unwrap(), vec![bun.clone()]);
    assert_eq!(s.bundle(&bun.name).unwrap(), Some(bun));
    assert_eq!(s.flows().unwrap(), vec![fl.clone()]);
    assert_eq!(s.flow(&fl.name).unwrap(), Some(fl.clone()));

    let raw = s
        .backend()
        .get(Table::Users, &keys::user(u.id))
        .unwrap()
        .unwrap();
    assert_eq!(raw[0], VALUE_VERSION);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&raw[1..]).unwrap()["email"],
        "ada@example.com"
    );

    // Deletes remove the named records.
    s.write(|t| {
        t.delete_flow(&fl.name)?;
        t.delete_invite(&[7; 32])?;
        t.delete_group(&GroupName::new("ops").unwrap())?;
        t.delete_bundle(&hallpass_core::BundleName::new("b1").unwrap())?;
        t.delete_integration(&hallpass_core::IntegrationName::new("pg").unwrap())?;
        assert_eq!(t.flow(&fl.name)?, None);
        ok(())
    })
    .unwrap();
    assert!(s.flows().unwrap().is_empty());
    assert!(s.groups().unwrap().is_empty());
    assert!(s.bundles().unwrap().is_empty());
    assert!(s.integrations().unwrap().is_empty());
    assert_eq!(s.invite(&[7; 32]).unwrap(), None);
}

#[test]
fn a_version_1_record_written_by_hand_still_loads() {
    // The v1 format fixed in a test: a future format change must keep decoding this.
    let s = Store::with_backend(Arc::new(MemBackend::new())).unwrap();
    let json = br#"{"id":3,"email":"old@example.com","name":"Old","role":"admin","status":"active","created_at":5}"#;
    let mut value = vec![1u8];
    value.extend_from_slice(json);
    s.backend()
        .apply(vec![Op::Put(
            Table::Users,
            keys::user(UserId(3)).to_vec(),
            value,
        )])
        .unwrap();
    let u = s.user(UserId(3)).unwrap().unwrap();
    assert_eq!(
        (u.email.as_str(), u.role, u.os),
        ("old@example.com", Role::Admin, None)
    );
}

#[test]
fn corrupt_values_are_reported_with_table_and_key() {
    let s = Store::open_temporary().unwrap();
    let key = keys::user(UserId(2)).to_vec();
    for (value, why) in [
        (b"\x09{}".to_vec(), "unknown value version 9"),
        (b"\x01{oops".to_vec(), "bad record JSON"),
    ] {
        s.backend()
            .apply(vec![Op::Put(Table::Users, key.clone(), value)])
            .unwrap();
        match s.user(UserId(2)) {
            Err(StoreError::Corrupt { table, key, why: w }) => {
                assert_eq!(table, "users");
                assert_eq!(key, "0000000000000002");
                assert!(w.contains(why), "{w}");
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
        // Writes that must read the old version fail the same way instead of guessing.
        let err = s
            .write(|t| t.put_user(&user(2, "b@example.com")))
            .unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    }
    // An index entry pointing at nothing is corruption too.
    s.backend()
        .apply(vec![Op::Put(
            Table::UsersByEmail,
            b"ghost@example.com".to_vec(),
            keys::user(UserId(9)).to_vec(),
        )])
        .unwrap();
    let err = s.user_by_email("ghost@example.com").unwrap_err();
    assert!(err.to_string().contains("users_by_email"), "{err}");
}

#[test]
fn a_newer_schema_is_refused_and_an_empty_store_gets_the_current_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let s = Store::open(&path, StoreOptions::default()).unwrap();
        assert_eq!(
            s.backend()
                .get(Table::Meta, keys::meta::SCHEMA_VERSION)
                .unwrap(),
            Some(SCHEMA_VERSION.to_be_bytes().to_vec())
        );
        s.backend()
            .apply(vec![Op::Put(
                Table::Meta,
                keys::meta::SCHEMA_VERSION.to_vec(),
                (SCHEMA_VERSION + 1).to_be_bytes().to_vec(),
            )])
            .unwrap();
        s.flush().unwrap();
    }
    let err = Store::open(&path, StoreOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Version { found, supported: SCHEMA_VERSION } if found == SCHEMA_VERSION + 1
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "the store was written by a newer hallpass; schema {}, this build supports {SCHEMA_VERSION}",
            SCHEMA_VERSION + 1
        )
    );
}

#[test]
fn data_without_a_schema_version_is_refused_and_schema_0_has_no_migration() {
    let b = Arc::new(MemBackend::new());
    b.apply(vec![Op::Put(
        Table::Groups,
        b"ops".to_vec(),
        b"\x01{}".to_vec(),
    )])
    .unwrap();
    let err = Store::with_backend(b.clone()).unwrap_err();
    assert!(err.to_string().contains("no schema_version"), "{err}");

    b.apply(vec![Op::Put(
        Table::Meta,
        keys::meta::SCHEMA_VERSION.to_vec(),
        0u32.to_be_bytes().to_vec(),
    )])
    .unwrap();
    let err = Store::with_backend(b).unwrap_err();
    assert!(err.to_string().contains("no migration from it"), "{err}");
}

#[test]
fn a_schema_1_store_moves_owed_work_out_of_deadlines_once_when_opened() {
    // What schema 1 wrote: owed connector work and an expiry, both in Deadlines.
    let b = Arc::new(MemBackend::new());
    let work = keys::deadline(Timestamp(1_000), Due::GrantWork(GrantId(7)));
    let expiry = keys::deadline(Timestamp(2_000), Due::GrantExpiry(GrantId(8)));
    b.apply(vec![
        Op::Put(
            Table::Meta,
            keys::meta::SCHEMA_VERSION.to_vec(),
            1u32.to_be_bytes().to_vec(),
        ),
        Op::Put(Table::Deadlines, work.to_vec(), vec![]),
        Op::Put(Table::Deadlines, expiry.to_vec(), vec![]),
    ])
    .unwrap();
    let s = Store::with_backend(b.clone()).unwrap();
    assert_eq!(s.work_due(Timestamp(1_000), 10).unwrap(), [GrantId(7)]);
    assert_eq!(
        s.due(Timestamp(i64::MAX), 10).unwrap(),
        [(Timestamp(2_000), Due::GrantExpiry(GrantId(8)))]
    );
    assert_eq!(
        s.next_deadline().unwrap(),
        Some((Timestamp(1_000), Due::GrantWork(GrantId(7))))
    );
    drop(s);
    // Moved on the backend itself, with the version, so opening again finds schema 2.
    let keys_in =
        |t: Table| -> Vec<Vec<u8>> { b.scan(t, &[], None, false).map(|r| r.unwrap().0).collect() };
    assert_eq!(keys_in(Table::Work), [work.to_vec()]);
    assert_eq!(keys_in(Table::Deadlines), [expiry.to_vec()]);
    assert_eq!(
        b.get(Table::Meta, keys::meta::SCHEMA_VERSION).unwrap(),
        Some(2u32.to_be_bytes().to_vec())
    );
    let s = Store::with_backend(b.clone()).unwrap();
    assert_eq!(s.grants_with_work().unwrap(), [GrantId(7)]);
}

#[test]
fn however_much_work_is_owed_the_first_due_expiry_is_read_first() {
    let s = Store::open_temporary().unwrap();
    // 2,000 grants owing a connector call since t=10 (Granting), and one Active grant whose
    // expiry at t=5,000 is due later than all of them.
    s.write(|t| {
        for id in 1..=2_000 {
            t.put_grant(&grant(id, 1, "pg/orders/read", 10))?;
        }
        let mut g = grant(9_999, 2, "pg/orders/read", 0);
        g.activate(Timestamp(5_000 - 60_000)).expect("activate");
        t.put_grant(&g)
    })
    .unwrap();
    assert_eq!(
        s.due(Timestamp(5_000), 1).unwrap(),
        [(Timestamp(5_000), Due::GrantExpiry(GrantId(9_999)))]
    );
    assert_eq!(
        s.work_due(Timestamp(5_000), usize::MAX).unwrap().len(),
        2_000
    );
    assert_eq!(
        s.next_deadline().unwrap(),
        Some((Timestamp(10), Due::GrantWork(GrantId(1))))
    );
}

#[test]
fn a_work_key_in_deadlines_is_corruption_at_schema_2() {
    let s = Store::open_temporary().unwrap();
    let work = keys::deadline(Timestamp(1_000), Due::GrantWork(GrantId(7)));
    s.backend()
        .apply(vec![Op::Put(Table::Deadlines, work.to_vec(), vec![])])
        .unwrap();
    let err = s.due(Timestamp(i64::MAX), 10).unwrap_err();
    assert!(err.to_string().contains("deadlines"), "{err}");
}

#[test]
fn opening_a_path_in_use_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let _first = Store::open(&path, StoreOptions::default()).unwrap();
    // A snapshot the running store could be writing is not the second opener's to remove.
    let generating = path.join("snap.FFFFFFFFFFFFFFFF.generating");
    std::fs::write(&generating, b"in progress").unwrap();
    let err = Store::open(&path, StoreOptions::default()).unwrap_err();
    assert!(
        generating.exists(),
        "the running store's snapshot was removed"
    );
    match &err {
        StoreError::Open { path: p, .. } => assert_eq!(p, &path),
        other => panic!("expected Open, got {other:?}"),
    }
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

/// Enough page cache for the few records these tests write to disk.
const SMALL_CACHE: StoreOptions = StoreOptions {
    cache_bytes: 8 * 1024 * 1024,
};

/// sled's snapshot files in `path`, sorted as sled sorts them.
fn snapshot_files(path: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(path)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("snap."))
        .collect();
    names.sort();
    names
}

/// A closed store at `dir/db` holding Ada, with a finished sled snapshot that covers her
/// (sled writes one when it opens a database with a log).
fn closed_store_with_ada(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("db");
    {
        let s = Store::open(&path, SMALL_CACHE).unwrap();
        s.write(|t| {
            t.put_user(&user(1, "ada@example.com"))?;
            ok(())
        })
        .unwrap();
    }
    drop(Store::open(&path, SMALL_CACHE).unwrap());
    path
}

#[test]
fn a_store_killed_while_sled_wrote_a_snapshot_opens_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = closed_store_with_ada(dir.path());
    let opts = SMALL_CACHE;
    // What a SIGKILL in the middle of sled's snapshot write leaves: the finished snapshot,
    // and beside it the first half of the next one, not yet renamed.
    let snaps = snapshot_files(&path);
    let [done] = snaps.as_slice() else {
        panic!("expected one finished snapshot, found {snaps:?}")
    };
    let bytes = std::fs::read(path.join(done)).unwrap();
    let unfinished = format!("{done}.generating");
    std::fs::write(path.join(&unfinished), &bytes[..bytes.len() / 2]).unwrap();
    // sled alone refuses the database, which is what the store must not do.
    let raw = crate::sled_backend::open_when_unlocked(|| sled::Config::new().path(&path).open());
    let Err(err) = raw else {
        panic!("sled opened a database with an unfinished snapshot")
    };
    assert!(err.to_string().contains("corrupt"), "{err}");

    let s = Store::open(&path, opts).unwrap();
    assert_eq!(
        s.user_by_email("ada@example.com").unwrap().map(|u| u.id),
        Some(UserId(1))
    );
    assert!(
        !snapshot_files(&path).contains(&unfinished),
        "{:?}",
        snapshot_files(&path)
    );
}

/// The log position a snapshot file covers (`snap.<lsn in hex>`).
fn snapshot_lsn(name: &str) -> u64 {
    u64::from_str_radix(name.trim_start_matches("snap."), 16).unwrap()
}

#[test]
fn refreshing_the_snapshot_covers_the_writes_since_the_last_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = closed_store_with_ada(dir.path());
    let opts = SMALL_CACHE;
    let before = {
        let s = Store::open(&path, opts).unwrap();
        // What this open left, before its writes.
        let [before] = snapshot_files(&path).try_into().unwrap();
        s.write(|t| {
            t.put_user(&user(2, "grace@example.com"))?;
            ok(())
        })
        .unwrap();
        s.flush().unwrap();
        before
    };
    Store::refresh_snapshot(&path, opts).unwrap();
    let [after] = snapshot_files(&path).try_into().unwrap();
    assert!(
        snapshot_lsn(&after) > snapshot_lsn(&before),
        "the snapshot still ends at {before}, now {after}"
    );
    let s = Store::open(&path, opts).unwrap();
    assert!(s.user_by_email("grace@example.com").unwrap().is_some());
}

#[test]
fn refreshing_the_snapshot_of_a_store_in_use_names_the_path_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let s = Store::open(&path, SMALL_CACHE).unwrap();
    let snaps = snapshot_files(&path);
    // Waits out sled's lock for its full 3 s (a lock held by a live handle never frees).
    let err = Store::refresh_snapshot(&path, SMALL_CACHE).unwrap_err();
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert_eq!(snapshot_files(&path), snaps);
    drop(s);
}

#[test]
fn reopening_a_path_after_writes_shows_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let opts = SMALL_CACHE;
    {
        let s = Store::open(&path, opts).unwrap();
        let s2 = s.clone();
        s.write(|t| {
            let id = t.next_request_id()?;
            t.put_user(&user(1, "ada@example.com"))?;
            t.put_request(&request(id.0, 1, 10))?;
            t.audit(Timestamp(1), entry("request.submit"))?;
            ok(())
        })
        .unwrap();
        drop(s2);
    }
    let s = Store::open(&path, opts).unwrap();
    assert_eq!(
        s.user_by_email("ada@example.com").unwrap().map(|u| u.id),
        Some(UserId(1))
    );
    assert_eq!(s.pending_requests().unwrap().len(), 1);
    assert_eq!(s.audit_head().unwrap().0, 1);
    let (next, _) = s.write(|t| t.next_request_id()).unwrap();
    assert_eq!(next, RequestId(1002));
}

#[test]
fn a_failing_closure_writes_nothing() {
    let s = Store::open_temporary().unwrap();
    let before = s.flush_count();
    let err = s
        .write(|t| -> Result<(), StoreError> {
            t.next_request_id()?;
            t.put_user(&user(1, "ada@example.com"))?;
            t.audit(Timestamp(1), entry("x"))?;
            t.event(
                Timestamp(1),
                EventKind::RequestTimedOut {
                    request: RequestId(1),
                },
                BTreeSet::new(),
            )?;
            Err(StoreError::Backend("refused by the test".into()))
        })
        .unwrap_err();
    assert!(err.to_string().contains("refused by the test"));
    for table in Table::ALL {
        let keys: Vec<_> = s.backend().scan(table, &[], None, false).collect();
        let expected = usize::from(table == Table::Meta); // schema_version only
        assert_eq!(keys.len(), expected, "{} was written", table.name());
    }
    assert_eq!(s.audit_head().unwrap().0, 0);
    assert_eq!(s.event_head().unwrap(), 0);
    assert_eq!(s.flush_count(), before);
    // The counter was not consumed either.
    assert_eq!(s.write(|t| t.next_request_id()).unwrap().0, RequestId(1001));
}

#[test]
fn overlay_reads_see_staged_writes_and_store_reads_do_not() {
    let s = Store::open_temporary().unwrap();
    s.write(|t| t.put_user(&user(1, "old@example.com")))
        .unwrap();
    s.write(|t| {
        let mut u = t.user(UserId(1))?.expect("committed");
        u.email = "new@example.com".into();
        u.os = None;
        t.put_user(&u)?;
        assert_eq!(
            t.user_by_email("new@example.com")?.map(|u| u.id),
            Some(UserId(1))
        );
        assert_eq!(t.user_by_email("old@example.com")?, None);
        assert_eq!(t.user_by_uid(1001)?, None);
        // The committed store is unchanged until the write returns.
        assert_eq!(
            t.store().user(UserId(1))?.map(|u| u.email),
            Some("old@example.com".into())
        );
        assert!(t.store().user_by_uid(1001)?.is_some());
        // Ids and heads advance within the transaction.
        assert_eq!(t.next_user_id()?, UserId(1));
        assert_eq!(t.next_user_id()?, UserId(2));
        assert_eq!(t.next_grant_id()?, GrantId(1));
        assert_eq!(t.next_grant_id()?, GrantId(2));
        assert_eq!(t.next_request_id()?, RequestId(1001));
        ok(())
    })
    .unwrap();
    assert_eq!(s.user_by_email("old@example.com").unwrap(), None);
    assert_eq!(s.user_by_uid(1001).unwrap(), None);
    assert!(s.user_by_email("new@example.com").unwrap().is_some());
    assert_eq!(s.write(|t| t.next_user_id()).unwrap().0, UserId(3));
    assert_eq!(s.write(|t| t.next_grant_id()).unwrap().0, GrantId(3));
}

#[test]
fn unique_indexes_are_not_removed_from_under_another_user() {
    let s = Store::open_temporary().unwrap();
    // User 2 takes over user 1's e-mail (the caller should have refused; the store must not
    // lose user 2's entry when user 1 later changes).
    s.write(|t| t.put_user(&user(1, "same@example.com")))
        .unwrap();
    s.write(|t| t.put_user(&user(2, "same@example.com")))
        .unwrap();
    s.write(|t| {
        let mut u = user(1, "other@example.com");
        u.status = UserStatus::Deleted;
        t.put_user(&u)
    })
    .unwrap();
    assert_eq!(
        s.user_by_email("same@example.com").unwrap().map(|u| u.id),
        Some(UserId(2))
    );
    assert_eq!(s.user_by_uid(1001).unwrap(), None);
    assert_eq!(s.user_by_uid(1002).unwrap().map(|u| u.id), Some(UserId(2)));
}

#[test]
fn rewriting_a_record_claims_its_unique_index_entry_back() {
    let s = Store::open_temporary().unwrap();
    s.write(|t| t.put_user(&user(1, "same@example.com")))
        .unwrap();
    s.write(|t| t.put_user(&user(2, "same@example.com")))
        .unwrap();
    // User 1 is written again with the same e-mail: the last writer holds the entry.
    s.write(|t| t.put_user(&user(1, "same@example.com")))
        .unwrap();
    assert_eq!(
        s.user_by_email("same@example.com").unwrap().map(|u| u.id),
        Some(UserId(1))
    );
    // User 2 moves on; user 1 still has its entry.
    s.write(|t| t.put_user(&user(2, "two@example.com")))
        .unwrap();
    assert_eq!(
        s.user_by_email("same@example.com").unwrap().map(|u| u.id),
        Some(UserId(1))
    );
    assert_eq!(
        s.user_by_email("two@example.com").unwrap().map(|u| u.id),
        Some(UserId(2))
    );
}

#[test]
fn audit_events_chain_across_writes_and_page_with_a_filter() {
    let s = Store::open_temporary().unwrap();
    for round in 0..4 {
        s.write(|t| {
            for i in 0..=round {
                let action = if i % 2 == 0 {
                    "request.submit"
                } else {
                    "grant.activate"
                };
                t.audit(Timestamp(round * 10 + i), entry(action))?;
            }
            ok(())
        })
        .unwrap();
    }
    let (all, cursor) = s.audit_page(0, 100, &|_| true).unwrap();
    assert_eq!(all.len(), 10);
    assert_eq!(cursor, None);
    let mut v = ChainVerifier::default();
    for e in &all {
        v.push(e).unwrap();
    }
    assert_eq!(v.checked, 10);
    let last = all.last().unwrap();
    assert_eq!(s.audit_head().unwrap(), (10, last.hash.clone()));

    // Filtered pages resume from the cursor.
    let submits = |e: &hallpass_core::audit::AuditEvent| e.entry.action == "request.submit";
    let (p1, c1) = s.audit_page(0, 3, &submits).unwrap();
    assert_eq!(p1.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 4]);
    assert_eq!(c1, Some(4));
    let (p2, c2) = s.audit_page(4, 100, &submits).unwrap();
    assert_eq!(p2.iter().map(|e| e.seq).collect::<Vec<_>>(), [6, 7, 9]);
    assert_eq!(c2, None);
    assert!(s.audit_page(u64::MAX, 10, &|_| true).unwrap().0.is_empty());
}

#[test]
fn events_are_numbered_and_read_after_a_cursor() {
    let s = Store::open_temporary().unwrap();
    assert_eq!(s.event_head().unwrap(), 0);
    for i in 1..=5u64 {
        let (seq, _) = s
            .write(|t| {
                t.event(
                    Timestamp(i as i64),
                    EventKind::RequestTimedOut {
                        request: RequestId(1000 + i),
                    },
                    [UserId(i)].into(),
                )
            })
            .unwrap();
        assert_eq!(seq, i);
    }
    assert_eq!(s.event_head().unwrap(), 5);
    let evs = s.events_after(2, 2).unwrap();
    assert_eq!(evs.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 4]);
    assert_eq!(evs[0].audience, [UserId(3)].into());
    assert!(s.events_after(5, 10).unwrap().is_empty());
}

#[test]
fn pages_walk_users_requests_and_grants_in_order() {
    let s = Store::open_temporary().unwrap();
    s.write(|t| {
        for id in 1..=5 {
            let mut u = user(id, &format!("u{id}@example.com"));
            if id == 3 {
                u.role = Role::Admin;
            }
            t.put_user(&u)?;
        }
        for id in 1001..=1006 {
            t.put_request(&request(id, 1 + id % 2, 10))?;
        }
        for id in 1..=4 {
            t.put_grant(&grant(id, 1 + id % 2, "pg/orders/read", 0))?;
        }
        ok(())
    })
    .unwrap();

    let (p, c) = s.users_page(None, 2, &|_| true).unwrap();
    assert_eq!(p.iter().map(|u| u.id.0).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(c, Some(UserId(2)));
    let (p, c) = s.users_page(c, 2, &|u| u.id.0 != 4).unwrap();
    assert_eq!(p.iter().map(|u| u.id.0).collect::<Vec<_>>(), [3, 5]);
    assert_eq!(c, None);
    let (p, c) = s.users_page(Some(UserId(3)), 2, &|_| true).unwrap();
    assert_eq!((p.len(), c), (2, None), "an exact last page has no cursor");
    assert_eq!(
        s.users_with_role(Role::Admin)
            .unwrap()
            .iter()
            .map(|u| u.id.0)
            .collect::<Vec<_>>(),
        [3]
    );

    let (p, c) = s.requests_page(None, 4, &|_| true).unwrap();
    assert_eq!(
        p.iter().map(|r| r.id.0).collect::<Vec<_>>(),
        [1006, 1005, 1004, 1003]
    );
    assert_eq!(c, Some(RequestId(1003)));
    let (p, c) = s.requests_page(c, 4, &|_| true).unwrap();
    assert_eq!(p.iter().map(|r| r.id.0).collect::<Vec<_>>(), [1002, 1001]);
    assert_eq!(c, None);

    let (p, c) = s.requests_of(UserId(1), None, 2, &|_| true).unwrap();
    assert_eq!(p.iter().map(|r| r.id.0).collect::<Vec<_>>(), [1006, 1004]);
    assert_eq!(c, Some(RequestId(1004)));
    let (p, c) = s.requests_of(UserId(1), c, 2, &|_| true).unwrap();
    assert_eq!(p.iter().map(|r| r.id.0).collect::<Vec<_>>(), [1002]);
    assert_eq!(c, None);
    assert!(
        s.requests_of(UserId(9), None, 5, &|_| true)
            .unwrap()
            .0
            .is_empty()
    );

    let (p, _) = s.grants_page(Some(GrantId(4)), 10, &|_| true).unwrap();
    assert_eq!(p.iter().map(|g| g.id.0).collect::<Vec<_>>(), [3, 2, 1]);
    let (p, _) = s.grants_of(UserId(2), None, 10, &|_| true).unwrap();
    assert_eq!(p.iter().map(|g| g.id.0).collect::<Vec<_>>(), [3, 1]);
    let (p, _) = s.grants_of(UserId(u64::MAX), None, 10, &|_| true).unwrap();
    assert!(p.is_empty());
}

#[test]
fn deadlines_follow_request_and_grant_states() {
    let s = Store::open_temporary().unwrap();
    let t0 = 1_000;
    s.write(|t| {
        t.put_request(&request(1001, 1, t0 + 500))?;
        t.put_grant(&grant(1, 1, "pg/orders/read", t0))?;
        ok(())
    })
    .unwrap();
    assert_eq!(s.pending_count().unwrap(), 1);
    assert_eq!(
        s.next_deadline().unwrap(),
        Some((Timestamp(t0), Due::GrantWork(GrantId(1))))
    );
    // Owed work is apart from the other deadlines.
    assert_eq!(s.due(Timestamp(t0), 10).unwrap(), vec![]);
    assert_eq!(s.work_due(Timestamp(t0 - 1), 10).unwrap(), vec![]);
    assert_eq!(s.work_due(Timestamp(t0), 10).unwrap(), [GrantId(1)]);
    assert_eq!(s.work_due(Timestamp(t0), 0).unwrap(), []);
    assert_eq!(
        s.due(Timestamp(i64::MAX), 10).unwrap(),
        [(Timestamp(t0 + 500), Due::RequestTimeout(RequestId(1001)))]
    );
    assert_eq!(s.grants_with_work().unwrap(), [GrantId(1)]);
    assert_eq!(
        s.next_deadline_after(Timestamp(t0 - 1)).unwrap(),
        Some((Timestamp(t0), Due::GrantWork(GrantId(1))))
    );
    assert_eq!(
        s.next_deadline_after(Timestamp(t0)).unwrap(),
        Some((Timestamp(t0 + 500), Due::RequestTimeout(RequestId(1001))))
    );
    assert_eq!(s.next_deadline_after(Timestamp(t0 + 500)).unwrap(), None);
    assert_eq!(s.next_deadline_after(Timestamp(i64::MAX)).unwrap(), None);
    assert_eq!(
        s.grants_covering(UserId(1), &target("pg/orders/read"))
            .unwrap()
            .len(),
        1
    );

    // Activate: the work deadline becomes an expiry deadline; approve: the timeout goes.
    s.write(|t| {
        let mut g = t.grant(GrantId(1))?.expect("grant");
        g.activate(Timestamp(t0 + 10)).expect("activate");
        t.put_grant(&g)?;
        let mut r = t.request(RequestId(1001))?.expect("request");
        r.approve(
            Decision {
                by: UserId(2),
                at: Timestamp(t0),
                reason: None,
            },
            true,
        )
        .expect("approve");
        t.put_request(&r)
    })
    .unwrap();
    assert_eq!(s.pending_count().unwrap(), 0);
    assert!(s.pending_requests().unwrap().is_empty());
    let expires = Timestamp(t0 + 10 + 60_000);
    assert_eq!(s.active_grant_count(Timestamp(t0)).unwrap(), 1);
    assert_eq!(s.active_grant_count(Timestamp(expires.0 - 1)).unwrap(), 1);
    assert_eq!(
        s.active_grant_count(expires).unwrap(),
        0,
        "not active at its deadline"
    );
    assert_eq!(
        s.grants_with_work().unwrap(),
        vec![],
        "an active grant owes no connector work"
    );
    assert_eq!(
        s.due(Timestamp(i64::MAX), 10).unwrap(),
        vec![(Timestamp(t0 + 10 + 60_000), Due::GrantExpiry(GrantId(1)))]
    );

    // Revoke and finish: no deadline and no longer covering.
    s.write(|t| {
        let mut g = t.grant(GrantId(1))?.expect("grant");
        g.begin_revoke(EndReason::Released, Timestamp(t0 + 20))
            .expect("revoke");
        t.put_grant(&g)?;
        assert_eq!(
            t.grant(GrantId(1))?.map(|g| g.status),
            Some(GrantStatus::Revoking)
        );
        g.finish_revoke(Timestamp(t0 + 30)).expect("finish");
        t.put_grant(&g)
    })
    .unwrap();
    assert_eq!(s.next_deadline().unwrap(), None);
    assert!(
        s.grants_covering(UserId(1), &target("pg/orders/read"))
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.request(RequestId(1001)).unwrap().unwrap().status,
        RequestStatus::Approved
    );
}

#[test]
fn an_empty_write_returns_the_latest_ticket() {
    let s = Store::open_temporary().unwrap();
    let (_, t1) = s.write(|t| t.put_user(&user(1, "a@example.com"))).unwrap();
    let (_, t2) = s.write(|t| t.user(UserId(1))).unwrap();
    assert_eq!(t1, t2);
}

#[test]
fn scim_resources_round_trip_by_kind_and_the_token_hash_lives_in_meta() {
    use hallpass_core::scim::{ScimKind, ScimRecord};
    let s = Store::open_temporary().unwrap();
    let rec = |kind, id: &str| ScimRecord {
        kind,
        id: id.into(),
        created: Timestamp(1),
        last_modified: Timestamp(2),
        version: 1,
        resource: serde_json::json!({"userName": id}),
    };
    let (u1, u2, g) = (
        rec(ScimKind::User, "1"),
        rec(ScimKind::User, "2"),
        rec(ScimKind::Group, "1"),
    );
    s.write(|t| {
        t.put_scim_resource(&u1)?;
        t.put_scim_resource(&u2)?;
        t.put_scim_resource(&g)?;
        t.set_scim_token_hash("ab")?;
        assert_eq!(t.scim_resource(ScimKind::User, "1")?.as_ref(), Some(&u1));
        assert_eq!(t.scim_token_hash()?.as_deref(), Some("ab"));
        ok(())
    })
    .unwrap();
    assert_eq!(
        s.scim_resources(ScimKind::User).unwrap(),
        vec![u1.clone(), u2]
    );
    assert_eq!(s.scim_resources(ScimKind::Group).unwrap(), vec![g.clone()]);
    assert_eq!(s.scim_resource(ScimKind::Group, "1").unwrap(), Some(g));
    assert_eq!(s.scim_token_hash().unwrap().as_deref(), Some("ab"));
    let raw = s
        .backend()
        .get(Table::ScimResources, &keys::scim(ScimKind::User, "1"))
        .unwrap()
        .unwrap();
    assert_eq!(raw[0], VALUE_VERSION);
    s.write(|t| t.delete_scim_resource(ScimKind::User, "1"))
        .unwrap();
    assert_eq!(s.scim_resource(ScimKind::User, "1").unwrap(), None);
    assert_eq!(s.scim_resources(ScimKind::User).unwrap().len(), 1);
}

#[test]
fn the_earliest_deadline_written_is_kept_until_the_scheduler_looks() {
    let s = Store::open_temporary().unwrap();
    assert_eq!(s.deadline_watch().earliest_written(), None);
    // A write with no deadline leaves nothing to tell the scheduler.
    s.write(|t| {
        t.put_user(&user(1, "ada@example.com"))?;
        ok(())
    })
    .unwrap();
    assert_eq!(s.deadline_watch().earliest_written(), None);
    // Owed work (Work) at t=50, then an expiry (Deadlines) later and one earlier.
    s.write(|t| t.put_grant(&grant(1, 1, "pg/orders/read", 50)))
        .unwrap();
    assert_eq!(s.deadline_watch().earliest_written(), Some(Timestamp(50)));
    let mut later = grant(2, 1, "pg/orders/read", 0);
    later.activate(Timestamp(100_000)).expect("activate");
    s.write(|t| t.put_grant(&later)).unwrap();
    assert_eq!(s.deadline_watch().earliest_written(), Some(Timestamp(50)));
    s.deadline_watch().looks();
    assert_eq!(s.deadline_watch().earliest_written(), None);
    let mut earlier = grant(3, 1, "pg/orders/read", 0);
    earlier.activate(Timestamp(-59_990)).expect("activate");
    s.write(|t| t.put_grant(&earlier)).unwrap();
    assert_eq!(s.deadline_watch().earliest_written(), Some(Timestamp(10)));
    // A failed write sets nothing.
    s.deadline_watch().looks();
    s.write(|t| {
        t.put_grant(&grant(4, 1, "pg/orders/read", 5))?;
        Err::<(), _>(StoreError::Backend("refused".into()))
    })
    .unwrap_err();
    assert_eq!(s.deadline_watch().earliest_written(), None);
}

#[test]
fn a_closed_store_is_locked_at_once_and_a_missing_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = closed_store_with_ada(dir.path());
    let held = crate::sled_backend::lock_closed(&path).unwrap();
    // The lock is sled's own: a second taker finds it held.
    let db = std::fs::File::open(path.join("db")).unwrap();
    assert!(matches!(
        db.try_lock(),
        Err(std::fs::TryLockError::WouldBlock)
    ));
    drop(held);
    let missing = dir.path().join("nothing-here");
    let err = crate::sled_backend::lock_closed(&missing).unwrap_err();
    assert!(
        err.to_string().contains(&missing.display().to_string()),
        "{err}"
    );
}
