//! Key codecs for every table. Invariant: byte order of encoded keys equals the order of the
//! values they encode — numbers are fixed-width big-endian, timestamps sign-flipped
//! big-endian, and a variable-length string is either the last part or length-prefixed
//! (u16 BE) — so range and prefix scans return records in the intended order.

use hallpass_core::integration::Target;
use hallpass_core::scim::ScimKind;
use hallpass_core::user::Role;
use hallpass_core::{GrantId, RequestId, SourceName, Timestamp, UserId};

use crate::backend::Table;
use crate::deadline::Due;
use crate::error::StoreError;

/// Meta keys.
pub mod meta {
    pub const SCHEMA_VERSION: &[u8] = b"schema_version";
    pub const AUDIT_HEAD: &[u8] = b"audit_head";
    pub const EVENT_HEAD: &[u8] = b"event_head";
    pub const NEXT_USER_ID: &[u8] = b"next_user_id";
    pub const NEXT_REQUEST_ID: &[u8] = b"next_request_id";
    pub const NEXT_GRANT_ID: &[u8] = b"next_grant_id";
    pub const NEXT_LINK_ID: &[u8] = b"next_link_id";
    pub const NEXT_MAIL_ID: &[u8] = b"next_mail_id";
    /// The last event the mailer has turned into mail.
    pub const MAIL_CURSOR: &[u8] = b"mail_cursor";
    /// The SHA-256 (hex) of the SCIM bearer token.
    pub const SCIM_TOKEN: &[u8] = b"scim_token";
    pub const NEXT_TOKEN_ID: &[u8] = b"next_token_id";
    /// The access-link site's CSRF signing key (hex), kept so forms survive a restart.
    pub const WEB_CSRF_KEY: &[u8] = b"web_csrf_key";
}

/// Length of a deadline key: timestamp (8) ‖ kind (1) ‖ id (8).
pub const DEADLINE_LEN: usize = 17;

/// A u64 (ids, sequence numbers) as 8 big-endian bytes.
pub fn u64_key(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

pub fn user(id: UserId) -> [u8; 8] {
    id.to_be_bytes()
}

pub fn request(id: RequestId) -> [u8; 8] {
    id.to_be_bytes()
}

pub fn grant(id: GrantId) -> [u8; 8] {
    id.to_be_bytes()
}

/// Audit and event sequence numbers.
pub fn seq(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

/// Reads an 8-byte big-endian number at `at`, if the key is long enough.
pub fn read_u64(key: &[u8], at: usize) -> Option<u64> {
    let bytes: [u8; 8] = key.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

/// UsersByEmail: the (already normalised) e-mail's UTF-8 bytes.
pub fn email(email: &str) -> Vec<u8> {
    email.as_bytes().to_vec()
}

/// UsersByLogin: the login's UTF-8 bytes.
pub fn login(login: &str) -> Vec<u8> {
    login.as_bytes().to_vec()
}

/// UsersByExternal: source ‖ 0x00 ‖ external id (source names never contain a NUL, so a
/// source's entries are one contiguous prefix).
pub fn external(source: &SourceName, external_id: &str) -> Vec<u8> {
    let mut k = external_prefix(source);
    k.extend_from_slice(external_id.as_bytes());
    k
}

/// The UsersByExternal prefix of one source.
pub fn external_prefix(source: &SourceName) -> Vec<u8> {
    let mut k = Vec::with_capacity(source.as_str().len() + 1);
    k.extend_from_slice(source.as_str().as_bytes());
    k.push(0);
    k
}

/// ScimResources: kind byte ‖ the resource id's UTF-8 bytes.
pub fn scim(kind: ScimKind, id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + id.len());
    k.push(kind.byte());
    k.extend_from_slice(id.as_bytes());
    k
}

/// UsersByUid: the uid as 4 big-endian bytes.
pub fn uid(uid: u32) -> [u8; 4] {
    uid.to_be_bytes()
}

/// The role byte in UsersByRole. Never renumber: it is on disk.
pub fn role_byte(role: Role) -> u8 {
    match role {
        Role::Admin => 0,
        Role::Grantee => 1,
        Role::Auditor => 2,
        Role::External => 3,
    }
}

/// UsersByRole: role byte ‖ user id.
pub fn user_by_role(role: Role, id: UserId) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = role_byte(role);
    k[1..].copy_from_slice(&id.to_be_bytes());
    k
}

fn two_ids(a: u64, b: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&a.to_be_bytes());
    k[8..].copy_from_slice(&b.to_be_bytes());
    k
}

/// RequestsByRequester: requester id ‖ request id.
pub fn requester_request(requester: UserId, id: RequestId) -> [u8; 16] {
    two_ids(requester.0, id.0)
}

/// GrantsByUser: user id ‖ grant id.
pub fn user_grant(user: UserId, id: GrantId) -> [u8; 16] {
    two_ids(user.0, id.0)
}

/// The GrantsBySubject prefix for `user` on exactly `target`:
/// user id (8) ‖ length of `target.to_string()` (u16 BE) ‖ its bytes.
pub fn subject(user: UserId, target: &Target) -> Result<Vec<u8>, StoreError> {
    let t = target.to_string();
    let len = u16::try_from(t.len()).map_err(|_| StoreError::KeyTooLong {
        table: Table::GrantsBySubject.name(),
        len: t.len(),
        max: u16::MAX as usize,
    })?;
    let mut k = Vec::with_capacity(8 + 2 + t.len() + 8);
    k.extend_from_slice(&user.to_be_bytes());
    k.extend_from_slice(&len.to_be_bytes());
    k.extend_from_slice(t.as_bytes());
    Ok(k)
}

/// GrantsBySubject: [`subject`] ‖ grant id.
pub fn subject_grant(user: UserId, target: &Target, id: GrantId) -> Result<Vec<u8>, StoreError> {
    let mut k = subject(user, target)?;
    k.extend_from_slice(&id.to_be_bytes());
    Ok(k)
}

/// Deadlines: timestamp key bytes (8) ‖ kind byte (1) ‖ id (8).
pub fn deadline(at: Timestamp, due: Due) -> [u8; DEADLINE_LEN] {
    let mut k = [0u8; DEADLINE_LEN];
    k[..8].copy_from_slice(&at.to_key_bytes());
    k[8] = due.kind_byte();
    k[9..].copy_from_slice(&due.id().to_be_bytes());
    k
}

/// The inverse of [`deadline`]; `None` for a key of the wrong length or kind.
pub fn parse_deadline(key: &[u8]) -> Option<(Timestamp, Due)> {
    if key.len() != DEADLINE_LEN {
        return None;
    }
    let at: [u8; 8] = key[..8].try_into().ok()?;
    let due = Due::from_parts(key[8], read_u64(key, 9)?)?;
    Some((Timestamp::from_key_bytes(at), due))
}

/// The smallest key greater than every key starting with `prefix` (the exclusive end of a
/// prefix scan), or `None` when there is none (the prefix is empty or all `0xff`).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a panic is the failure report
mod tests {
    use super::*;
    use hallpass_core::IntegrationName;
    use proptest::prelude::*;

    fn target(i: &str, r: &str, p: &str) -> Target {
        Target {
            integration: IntegrationName::new(i).unwrap(),
            resource: r.into(),
            permission: p.into(),
        }
    }

    #[test]
    fn deadline_keys_are_byte_exact() {
        assert_eq!(
            deadline(Timestamp(0), Due::GrantExpiry(GrantId(1))),
            [0x80, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]
        );
        assert_eq!(
            deadline(Timestamp(-1), Due::RequestTimeout(RequestId(1001))),
            [
                0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0x03, 0xe9
            ]
        );
        assert_eq!(
            deadline(Timestamp(0x0102), Due::GrantWork(GrantId(0x0a0b)))[7..],
            [0x02, 2, 0, 0, 0, 0, 0, 0, 0x0a, 0x0b]
        );
        assert_eq!(
            deadline(Timestamp(0x0102), Due::GrantWarning(GrantId(0x0a0b)))[7..],
            [0x02, 3, 0, 0, 0, 0, 0, 0, 0x0a, 0x0b]
        );
        let k = deadline(Timestamp(5), Due::GrantWork(GrantId(9)));
        assert_eq!(
            parse_deadline(&k),
            Some((Timestamp(5), Due::GrantWork(GrantId(9))))
        );
        assert_eq!(parse_deadline(&k[..16]), None);
        let mut bad = k;
        bad[8] = 7;
        assert_eq!(parse_deadline(&bad), None);
    }

    #[test]
    fn id_and_index_keys_are_byte_exact() {
        assert_eq!(user(UserId(1)), [0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(request(RequestId(1001)), [0, 0, 0, 0, 0, 0, 0x03, 0xe9]);
        assert_eq!(uid(1000), [0, 0, 0x03, 0xe8]);
        assert_eq!(email("ada@example.com"), b"ada@example.com".to_vec());
        assert_eq!(scim(ScimKind::Group, "ab"), vec![1, b'a', b'b']);
        assert_eq!(scim(ScimKind::User, "7"), vec![0, b'7']);
        assert_eq!(
            user_by_role(Role::Auditor, UserId(2)),
            [2, 0, 0, 0, 0, 0, 0, 0, 2]
        );
        assert_eq!(
            requester_request(UserId(1), RequestId(2)),
            [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2]
        );
        assert_eq!(
            user_grant(UserId(3), GrantId(4)),
            [0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 4]
        );
        let k = subject_grant(UserId(1), &target("pg", "db", "ro"), GrantId(2)).unwrap();
        let mut want = vec![0, 0, 0, 0, 0, 0, 0, 1, 0, 8];
        want.extend_from_slice(b"pg/db/ro");
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 2]);
        assert_eq!(k, want);
        assert_eq!(read_u64(&k, k.len() - 8), Some(2));
        assert_eq!(read_u64(&k, k.len() - 7), None);
    }

    #[test]
    fn a_too_long_target_is_refused() {
        let t = target("pg", &"r".repeat(70_000), "ro");
        assert!(matches!(
            subject(UserId(1), &t),
            Err(StoreError::KeyTooLong { .. })
        ));
    }

    #[test]
    fn subject_prefixes_do_not_overlap_for_prefix_targets() {
        // "pg/db/r" must not match grants on "pg/db/ro": the length prefix separates them.
        let short = subject(UserId(1), &target("pg", "db", "r")).unwrap();
        let long = subject_grant(UserId(1), &target("pg", "db", "ro"), GrantId(1)).unwrap();
        assert!(!long.starts_with(&short));
    }

    #[test]
    fn prefix_end_bounds_every_key_with_the_prefix() {
        assert_eq!(prefix_end(&[1, 2]), Some(vec![1, 3]));
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
        assert_eq!(prefix_end(&[]), None);
    }

    fn due() -> impl Strategy<Value = Due> {
        prop_oneof![
            any::<u64>().prop_map(|i| Due::RequestTimeout(RequestId(i))),
            any::<u64>().prop_map(|i| Due::GrantExpiry(GrantId(i))),
            any::<u64>().prop_map(|i| Due::GrantWork(GrantId(i))),
            any::<u64>().prop_map(|i| Due::GrantWarning(GrantId(i))),
        ]
    }

    proptest! {
        #[test]
        fn deadline_key_order_is_tuple_order(a in any::<i64>(), da in due(), b in any::<i64>(), db in due()) {
            let (ka, kb) = (deadline(Timestamp(a), da), deadline(Timestamp(b), db));
            prop_assert_eq!(ka.cmp(&kb), (Timestamp(a), da).cmp(&(Timestamp(b), db)));
            prop_assert_eq!(parse_deadline(&ka), Some((Timestamp(a), da)));
        }

        #[test]
        fn two_id_key_order_is_tuple_order(a in any::<(u64, u64)>(), b in any::<(u64, u64)>()) {
            let ka = requester_request(UserId(a.0), RequestId(a.1));
            let kb = requester_request(UserId(b.0), RequestId(b.1));
            prop_assert_eq!(ka.cmp(&kb), a.cmp(&b));
        }

        #[test]
        fn role_key_order_is_tuple_order(ra in 0usize..4, a in any::<u64>(), rb in 0usize..4, b in any::<u64>()) {
            let roles = [Role::Admin, Role::Grantee, Role::Auditor, Role::External];
            let ka = user_by_role(roles[ra], UserId(a));
            let kb = user_by_role(roles[rb], UserId(b));
            prop_assert_eq!(ka.cmp(&kb), (roles[ra], a).cmp(&(roles[rb], b)));
        }

        #[test]
        fn subject_keys_group_by_user_then_target_then_grant(
            ua in 0u64..3, ta in "[a-c]{1,3}", ga in any::<u64>(),
            ub in 0u64..3, tb in "[a-c]{1,3}", gb in any::<u64>(),
        ) {
            let ka = subject_grant(UserId(ua), &target("pg", &ta, "ro"), GrantId(ga)).unwrap();
            let kb = subject_grant(UserId(ub), &target("pg", &tb, "ro"), GrantId(gb)).unwrap();
            // Same user and target: ordered by grant id, and both under the same prefix.
            if (ua, &ta) == (ub, &tb) {
                prop_assert_eq!(ka.cmp(&kb), ga.cmp(&gb));
                let p = subject(UserId(ua), &target("pg", &ta, "ro")).unwrap();
                prop_assert!(ka.starts_with(&p) && kb.starts_with(&p));
            } else if ua != ub {
                prop_assert_eq!(ka.cmp(&kb), ua.cmp(&ub));
            } else {
                // Same user, different targets: the prefix of one never covers the other.
                let pa = subject(UserId(ua), &target("pg", &ta, "ro")).unwrap();
                prop_assert!(!kb.starts_with(&pa));
            }
        }

        #[test]
        fn timestamps_and_seqs_keep_order(a in any::<i64>(), b in any::<i64>(), x in any::<u64>(), y in any::<u64>()) {
            prop_assert_eq!(Timestamp(a).to_key_bytes().cmp(&Timestamp(b).to_key_bytes()), a.cmp(&b));
            prop_assert_eq!(seq(x).cmp(&seq(y)), x.cmp(&y));
        }
    }
}
