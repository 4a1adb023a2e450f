//! The store's caches of decoded users and flows never answer with what a finished write
//! replaced.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hallpass_core::user::{OsAccount, Role, UserStatus};
use hallpass_core::{FlowName, UserId};

use super::*;
use crate::error::StoreError;
use crate::store::Store;

fn put(s: &Store, u: &User) {
    s.write::<_, StoreError>(|t| t.put_user(u)).unwrap();
}

#[test]
fn a_cached_user_is_read_again_after_a_write_changes_them() {
    let s = Store::open_temporary().unwrap();
    let mut ada = user(1, "ada@example.com");
    put(&s, &ada);
    // Read (and so cached) by id and by uid.
    assert_eq!(s.user(UserId(1)).unwrap().unwrap().name, "User 1");
    assert_eq!(s.user_by_uid(1001).unwrap().unwrap().name, "User 1");

    ada.name = "Ada Lovelace".into();
    put(&s, &ada);
    assert_eq!(s.user(UserId(1)).unwrap().unwrap().name, "Ada Lovelace");
    assert_eq!(s.user_by_uid(1001).unwrap().unwrap().name, "Ada Lovelace");

    // The uid moves to another account: the old binding is not served from the cache.
    ada.os = Some(OsAccount {
        uid: 1500,
        name: None,
    });
    put(&s, &ada);
    let mut grace = user(2, "grace@example.com");
    grace.os = Some(OsAccount {
        uid: 1001,
        name: None,
    });
    put(&s, &grace);
    assert_eq!(s.user_by_uid(1001).unwrap().unwrap().id, UserId(2));
    assert_eq!(s.user_by_uid(1500).unwrap().unwrap().id, UserId(1));

    // Marked deleted: the record says so at once.
    grace.status = UserStatus::Deleted;
    put(&s, &grace);
    assert_eq!(
        s.user(UserId(2)).unwrap().unwrap().status,
        UserStatus::Deleted
    );
}

#[test]
fn a_write_that_fails_leaves_the_cache_answering_what_is_stored() {
    let s = Store::open_temporary().unwrap();
    put(&s, &user(1, "ada@example.com"));
    assert_eq!(s.user(UserId(1)).unwrap().unwrap().name, "User 1");
    let err = s
        .write(|t| {
            let mut ada = user(1, "ada@example.com");
            ada.name = "never stored".into();
            t.put_user(&ada)?;
            Err::<(), _>(StoreError::Backend("refused".into()))
        })
        .unwrap_err();
    assert!(err.to_string().contains("refused"), "{err}");
    assert_eq!(s.user(UserId(1)).unwrap().unwrap().name, "User 1");
}

#[test]
fn more_users_than_the_cache_holds_all_read_right() {
    let s = Store::open_temporary().unwrap();
    let n = 5000;
    s.write(|t| {
        for id in 1..=n {
            t.put_user(&user(id, &format!("u{id}@example.com")))?;
        }
        Ok::<_, StoreError>(())
    })
    .unwrap();
    for round in 0..2 {
        for id in 1..=n {
            let u = s.user(UserId(id)).unwrap().unwrap();
            assert_eq!(u.email, format!("u{id}@example.com"), "round {round}");
            let by_uid = s.user_by_uid(1000 + id as u32).unwrap().unwrap();
            assert_eq!(by_uid.id, UserId(id), "round {round}");
        }
    }
}

/// A reader that starts after a write returned sees that write or a newer one, while readers
/// race the writer for the cache.
#[test]
fn readers_racing_a_writer_never_see_a_user_older_than_the_last_finished_write() {
    let s = Store::open_temporary().unwrap();
    put(&s, &user(1, "ada@example.com"));
    let finished = Arc::new(AtomicU64::new(0));
    let version = |u: &User| -> u64 { u.name.trim_start_matches('v').parse().unwrap_or(0) };
    std::thread::scope(|scope| {
        for reader in 0..3 {
            let (s, finished) = (&s, &finished);
            scope.spawn(move || {
                while finished.load(Ordering::SeqCst) < 2000 {
                    let at_least = finished.load(Ordering::SeqCst);
                    let u = if reader % 2 == 0 {
                        s.user(UserId(1)).unwrap().unwrap()
                    } else {
                        s.user_by_uid(1001).unwrap().unwrap()
                    };
                    assert!(
                        version(&u) >= at_least,
                        "read {} after write {at_least} had returned",
                        u.name
                    );
                }
            });
        }
        let mut ada = user(1, "ada@example.com");
        for v in 1..=2000 {
            ada.name = format!("v{v}");
            put(&s, &ada);
            finished.store(v, Ordering::SeqCst);
        }
    });
}

#[test]
fn a_cached_flow_is_read_again_after_a_write_changes_it_in_and_out_of_transactions() {
    let s = Store::open_temporary().unwrap();
    let name = FlowName::new("db").unwrap();
    let mut f = flow("db");
    s.write::<_, StoreError>(|t| t.put_flow(&f)).unwrap();
    assert_eq!(s.flow(&name).unwrap().unwrap().description, "");
    let (in_txn, _) = s.write::<_, StoreError>(|t| t.flow(&name)).unwrap();
    assert_eq!(in_txn.unwrap().description, "");

    f.description = "orders, read only".into();
    s.write::<_, StoreError>(|t| t.put_flow(&f)).unwrap();
    assert_eq!(
        s.flow(&name).unwrap().unwrap().description,
        "orders, read only"
    );
    let (in_txn, _) = s.write::<_, StoreError>(|t| t.flow(&name)).unwrap();
    assert_eq!(in_txn.unwrap().description, "orders, read only");

    // A transaction sees the flow it staged itself, and the cache is not fooled by it.
    f.description = "staged".into();
    let (staged, _) = s
        .write::<_, StoreError>(|t| {
            t.put_flow(&f)?;
            t.flow(&name)
        })
        .unwrap();
    assert_eq!(staged.unwrap().description, "staged");
    assert_eq!(s.flow(&name).unwrap().unwrap().description, "staged");

    // A transaction that fails after staging a change leaves the stored flow.
    let mut never = f.clone();
    never.description = "never stored".into();
    s.write(|t| {
        t.put_flow(&never)?;
        Err::<(), _>(StoreError::Backend("refused".into()))
    })
    .unwrap_err();
    assert_eq!(s.flow(&name).unwrap().unwrap().description, "staged");
}

#[test]
fn the_admins_read_through_the_cache_follow_role_changes() {
    let s = Store::open_temporary().unwrap();
    let mut ada = user(1, "ada@example.com");
    ada.role = Role::Admin;
    put(&s, &ada);
    put(&s, &user(2, "grace@example.com"));
    let admins = |s: &Store| -> Vec<UserId> {
        s.users_with_role(Role::Admin)
            .unwrap()
            .iter()
            .map(|u| u.id)
            .collect()
    };
    assert_eq!(admins(&s), vec![UserId(1)]);
    let mut grace = user(2, "grace@example.com");
    grace.role = Role::Admin;
    put(&s, &grace);
    assert_eq!(admins(&s), vec![UserId(1), UserId(2)]);
    ada.name = "Ada Lovelace".into();
    put(&s, &ada);
    assert_eq!(
        s.users_with_role(Role::Admin).unwrap()[0].name,
        "Ada Lovelace"
    );
}
