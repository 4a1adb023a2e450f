//! The LDAP identity source against a real slapd on loopback: paged reads of a directory
//! bigger than the server's size limit, every membership style, nested groups and a cycle,
//! changes between reads, skipped entries, bind/connect/TLS failures; and Active Directory's
//! ranged member lists, against a stand-in that sends them (`support::fake_ad`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use hallpass_core::identity::{GroupRecord, PersonRecord};
use hallpass_daemon::sync::ldap::{
    LdapAttributes, LdapRead, LdapSourceConfig, LdapSourceError, Membership, Progress,
    read_snapshot, test_connection,
};

use crate::support::slapd::{
    Directory, GROUPS_BASE, NO_MAIL_DN, PEOPLE_BASE, POSIX_BASE, READER_DN, READER_PW, SIZE_LIMIT,
    Slapd,
};

const PEOPLE: usize = 180;
const GROUPS: usize = 12;
const PAGE: u32 = 40;

fn config(slapd: &Slapd) -> LdapSourceConfig {
    let text = format!(
        "url = {:?}\nbind_dn = {READER_DN:?}\npassword_file = {:?}\npeople_base = {PEOPLE_BASE:?}\n\
         groups_base = {GROUPS_BASE:?}\npage_size = {PAGE}\ntimeout = \"10s\"\n",
        slapd.url(),
        slapd.password_file.display().to_string(),
    );
    toml::from_str(&text).expect("a valid LDAP source config")
}

/// The external id of person `i` (the DN, normalised).
fn id(i: usize) -> String {
    Directory::person_dn(i).to_lowercase()
}

async fn read(cfg: &LdapSourceConfig) -> LdapRead {
    read_snapshot(cfg, &|_| {})
        .await
        .expect("read the directory")
}

fn people(r: &LdapRead) -> BTreeMap<String, PersonRecord> {
    r.snapshot
        .people
        .iter()
        .map(|p| (p.external_id.clone(), p.clone()))
        .collect()
}

fn groups(r: &LdapRead) -> BTreeMap<String, GroupRecord> {
    r.snapshot
        .groups
        .iter()
        .map(|g| (g.name.as_str().to_string(), g.clone()))
        .collect()
}

fn ids(members: impl IntoIterator<Item = usize>) -> Vec<String> {
    let mut v: Vec<String> = members.into_iter().map(id).collect();
    v.sort();
    v
}

#[tokio::test]
async fn ldap_reads_a_directory_bigger_than_the_size_limit_in_pages() {
    let dir = Directory::generated(PEOPLE, GROUPS);
    let slapd = Slapd::start(&dir);
    // The server really does cut an unpaged search short.
    let (n, code) = slapd.unpaged_count(PEOPLE_BASE, "(objectClass=inetOrgPerson)");
    assert_eq!((n, code), (SIZE_LIMIT, 4), "unpaged search as the reader");

    let mut cfg = config(&slapd);
    cfg.disabled_filter = Some("(|(uid=user00003)(uid=user00100))".into());
    let seen = Mutex::new(Vec::<Progress>::new());
    let r = read_snapshot(&cfg, &|p| seen.lock().expect("lock").push(p))
        .await
        .expect("read the directory");

    let by_id = people(&r);
    assert_eq!(by_id.len(), PEOPLE, "every person with a mail");
    for i in 0..PEOPLE {
        let p = by_id
            .get(&id(i))
            .unwrap_or_else(|| panic!("person {i} read"));
        assert_eq!(p.email, Directory::email(i));
        assert_eq!(p.login.as_deref(), Some(Directory::uid(i).as_str()));
        assert_eq!(p.name, Directory::name(i));
        assert_eq!(p.phone.as_deref(), Some(Directory::phone(i).as_str()));
        assert_eq!(p.manager, Directory::manager(i).map(id), "manager of {i}");
        assert_eq!(p.active, i != 3 && i != 100, "active of {i}");
    }
    assert_eq!(r.skipped.len(), 1, "{:?}", r.skipped);
    assert_eq!(r.skipped[0].record, format!("entry \"{NO_MAIL_DN}\""));
    assert_eq!(r.skipped[0].field, "mail");
    // Skipped, but still listed: its person is not gone.
    assert_eq!(r.snapshot.unreadable, vec![NO_MAIL_DN.to_lowercase()]);

    let by_name = groups(&r);
    assert_eq!(by_name.len(), GROUPS);
    for j in 0..GROUPS {
        let g = &by_name[&format!("team-{j}")];
        assert_eq!(g.external_id, Directory::group_dn(j).to_lowercase());
        assert_eq!(g.description, format!("Generated team {j}"));
        assert_eq!(g.members, ids(dir.members(j)), "members of team {j}");
    }
    // Nesting is transitive (0 ⊃ 1 ⊃ 2) and the 3 ⇄ 4 cycle ended.
    assert!(by_name["team-0"].members.contains(&id(2)));
    assert!(!dir.direct_members(0).contains(&2));
    assert_eq!(by_name["team-3"].members, by_name["team-4"].members);
    assert!(by_name["team-3"].members.contains(&id(4)));

    let seen = seen.into_inner().expect("lock");
    assert!(
        seen.len() >= PEOPLE / PAGE as usize,
        "progress per page: {seen:?}"
    );
    assert!(
        seen.windows(2)
            .all(|w| w[0].people <= w[1].people && w[0].groups <= w[1].groups)
    );
    assert_eq!(
        seen.last().copied(),
        Some(Progress {
            people: PEOPLE as u32,
            groups: GROUPS as u32
        })
    );

    let about = test_connection(&cfg).await.expect("test the connection");
    assert!(
        about.contains(READER_DN) && about.contains(&slapd.url()),
        "{about}"
    );
    assert!(about.contains("has entries"), "{about}");
}

#[tokio::test]
async fn ldap_membership_by_member_uid_and_by_member_of() {
    let dir = Directory::generated(PEOPLE, GROUPS);
    let slapd = Slapd::start(&dir);

    let mut posix = config(&slapd);
    posix.groups_base = Some(POSIX_BASE.into());
    posix.groups_filter = "(objectClass=posixGroup)".into();
    posix.attributes.membership = Membership::MemberUid;
    let r = read(&posix).await;
    let by_name = groups(&r);
    assert_eq!(by_name.len(), GROUPS);
    for j in 0..GROUPS {
        assert_eq!(
            by_name[&format!("posix{j}")].members,
            ids(dir.direct_members(j)),
            "memberUid members of posix{j}"
        );
    }

    let mut member_of = config(&slapd);
    member_of.attributes = LdapAttributes {
        membership: Membership::MemberOf,
        ..LdapAttributes::default()
    };
    let r = read(&member_of).await;
    let by_name = groups(&r);
    assert_eq!(by_name.len(), GROUPS);
    for j in 0..GROUPS {
        assert_eq!(
            by_name[&format!("team-{j}")].members,
            ids(dir.members(j)),
            "memberOf members of team {j} (nested groups carry memberOf too)"
        );
    }

    // A stable id other than the DN: managers still resolve through the people read.
    let mut by_uuid = config(&slapd);
    by_uuid.attributes.external_id = "entryUUID".into();
    let r = read(&by_uuid).await;
    let uuid_of: BTreeMap<String, String> = r
        .snapshot
        .people
        .iter()
        .map(|p| (p.email.clone(), p.external_id.clone()))
        .collect();
    assert_eq!(uuid_of.len(), PEOPLE);
    for p in &r.snapshot.people {
        assert_eq!(p.external_id.len(), 36, "an entryUUID: {}", p.external_id);
        let i: usize = p.login.as_deref().expect("login")[4..]
            .parse()
            .expect("number");
        assert_eq!(
            p.manager.as_ref(),
            Directory::manager(i).map(|m| &uuid_of[&Directory::email(m)])
        );
    }
    let team0 = &groups(&r)["team-0"];
    let want: BTreeSet<&String> = dir
        .members(0)
        .into_iter()
        .map(|i| &uuid_of[&Directory::email(i)])
        .collect();
    assert_eq!(team0.members.iter().collect::<BTreeSet<_>>(), want);

    // A person whose entry goes bad is skipped, listed as unreadable, and still a member of
    // the groups that name them, by memberUid and by memberOf alike.
    slapd.modify(&format!(
        "dn: {}\nchangetype: modify\nreplace: mail\nmail: not-an-address\n\n",
        Directory::person_dn(1)
    ));
    let r = read(&posix).await;
    assert!(
        r.snapshot.unreadable.contains(&id(1)),
        "{:?}",
        r.snapshot.unreadable
    );
    assert!(!people(&r).contains_key(&id(1)));
    let by_name = groups(&r);
    assert!(
        (0..GROUPS).any(|j| dir.direct_members(j).contains(&1)),
        "person 1 is in a group"
    );
    for j in 0..GROUPS {
        assert_eq!(
            by_name[&format!("posix{j}")].members,
            ids(dir.direct_members(j)),
            "memberUid members of posix{j}, person 1 unreadable"
        );
    }
    let r = read(&member_of).await;
    assert!(
        r.snapshot.unreadable.contains(&id(1)),
        "{:?}",
        r.snapshot.unreadable
    );
    let by_name = groups(&r);
    for j in 0..GROUPS {
        assert_eq!(
            by_name[&format!("team-{j}")].members,
            ids(dir.members(j)),
            "memberOf members of team {j}, person 1 unreadable"
        );
    }
}

#[tokio::test]
async fn ldap_next_read_sees_people_moved_and_deleted() {
    let dir = Directory::generated(PEOPLE, GROUPS);
    let slapd = Slapd::start(&dir);
    let cfg = config(&slapd);
    let before = read(&cfg).await;
    assert!(groups(&before)["team-5"].members.contains(&id(5)));

    // Person 5 moves from team 5 to team 6 (and takes a new mail); person 7 leaves.
    slapd.modify(&format!(
        "dn: {g5}\nchangetype: modify\ndelete: member\nmember: {p5}\n\n\
         dn: {g6}\nchangetype: modify\nadd: member\nmember: {p5}\n\n\
         dn: {p5}\nchangetype: modify\nreplace: mail\nmail: moved@example.com\n\n\
         dn: {g7}\nchangetype: modify\ndelete: member\nmember: {p7}\n\n\
         dn: {p7}\nchangetype: delete\n",
        g5 = Directory::group_dn(5),
        g6 = Directory::group_dn(6),
        g7 = Directory::group_dn(7),
        p5 = Directory::person_dn(5),
        p7 = Directory::person_dn(7),
    ));
    let after = read(&cfg).await;
    let by_id = people(&after);
    assert_eq!(by_id.len(), PEOPLE - 1);
    assert!(!by_id.contains_key(&id(7)), "the deleted person is gone");
    assert_eq!(by_id[&id(5)].email, "moved@example.com");
    let by_name = groups(&after);
    assert!(!by_name["team-5"].members.contains(&id(5)));
    assert!(by_name["team-6"].members.contains(&id(5)));
    assert!(!by_name["team-7"].members.contains(&id(7)));
    assert_eq!(
        by_name["team-7"].members.len(),
        dir.members(7).len() - 1,
        "team 7 lost only person 7"
    );
}

#[tokio::test]
async fn ldap_failures_name_what_failed() {
    let dir = Directory::generated(20, 5);
    let slapd = Slapd::start(&dir);

    // A wrong password: a bind error naming the DN, never the password.
    let wrong = slapd.dir.path().join("wrong.pw");
    std::fs::write(&wrong, "not-the-password-xyzzy\n").expect("write");
    let mut cfg = config(&slapd);
    cfg.password_file = Some(wrong);
    let err = read_snapshot(&cfg, &|_| {})
        .await
        .expect_err("a wrong password");
    let msg = err.to_string();
    assert!(matches!(err, LdapSourceError::Bind { .. }), "{msg}");
    assert!(msg.contains(READER_DN) && msg.contains("49"), "{msg}");
    assert!(
        !msg.contains("xyzzy") && !format!("{err:?}").contains("xyzzy"),
        "{msg}"
    );
    assert!(!msg.contains(READER_PW));

    // A missing password file names the path.
    let mut cfg = config(&slapd);
    let missing = slapd.dir.path().join("nope.pw");
    cfg.password_file = Some(missing.clone());
    let err = test_connection(&cfg).await.expect_err("no password file");
    assert!(matches!(err, LdapSourceError::PasswordFile { .. }), "{err}");
    assert!(
        err.to_string().contains(&missing.display().to_string()),
        "{err}"
    );

    // Nothing listening: a connect error naming the URL.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port")
        .port();
    let mut cfg = config(&slapd);
    cfg.url = format!("ldap://127.0.0.1:{port}");
    let err = read_snapshot(&cfg, &|_| {})
        .await
        .expect_err("nothing there");
    assert!(matches!(err, LdapSourceError::Connect { .. }), "{err}");
    assert!(err.to_string().contains(&cfg.url), "{err}");

    // A base that does not exist: the search, its base and filter, and the result code.
    let mut cfg = config(&slapd);
    cfg.people_base = "ou=nobody,dc=example,dc=com".into();
    let err = read_snapshot(&cfg, &|_| {})
        .await
        .expect_err("no such base");
    let msg = err.to_string();
    assert!(
        msg.contains("ou=nobody") && msg.contains("inetOrgPerson") && msg.contains("32"),
        "{msg}"
    );
}

#[tokio::test]
async fn ldap_over_starttls_and_ldaps() {
    let dir = Directory::generated(60, 5);
    let slapd = Slapd::start_tls(&dir);

    let mut starttls = config(&slapd);
    starttls.starttls = true;
    starttls.ca_file = Some(slapd.ca_file());
    let r = read(&starttls).await;
    assert_eq!(r.snapshot.people.len(), 60);
    assert_eq!(r.snapshot.groups.len(), 5);

    let mut ldaps = config(&slapd);
    ldaps.url = slapd.ldaps_url();
    ldaps.ca_file = Some(slapd.ca_file());
    let r = read(&ldaps).await;
    assert_eq!(r.snapshot.people.len(), 60);
    let about = test_connection(&ldaps).await.expect("test over ldaps");
    assert!(about.contains(&slapd.ldaps_url()), "{about}");

    // Without the test CA the system roots do not trust the server: a TLS error.
    ldaps.ca_file = None;
    let err = read_snapshot(&ldaps, &|_| {})
        .await
        .expect_err("an untrusted certificate");
    assert!(matches!(err, LdapSourceError::Tls { .. }), "{err}");
    assert!(err.to_string().contains(&slapd.ldaps_url()), "{err}");
}

/// The whole path: a daemon with this directory as a `[[sync.source]]`, run on demand; then
/// the directory changes (a person moves out of the group a flow is for, another is deleted)
/// and the next run revokes the access that depended on the group and deactivates the person.
#[tokio::test]
async fn ldap_sync_applies_the_directory_and_follows_its_changes() {
    use crate::support::harness::{Answer, TestDaemon, auto_flow, ctx, group_name, target};
    use hallpass_core::SourceName;
    use hallpass_core::grant::{EndReason, GrantStatus};
    use hallpass_core::user::{Role, UserStatus};
    use hallpass_proto::UserRef;

    let dir = Directory::generated(60, 8);
    let slapd = Slapd::start(&dir);
    let ldap = config(&slapd);
    let name = SourceName::new("corp-ldap").expect("valid");
    let n = name.clone();
    let d = TestDaemon::start_configured(move |c| {
        c.sync.source.push(hallpass_daemon::config::SourceConfig {
            name: n,
            interval: std::time::Duration::ZERO,
            max_deactivate_percent: 20,
            min_people: 1,
            file: None,
            ldap: Some(ldap),
        })
    })
    .await;
    // Person 5 already has an account bound to uid 2005; the sync adopts it by e-mail.
    let p5 = d.add_user(2005, &Directory::email(5), Role::Grantee).await;
    let admin = d.admin();
    let first = admin
        .sync_run(ctx(), Some(name.clone()), false, false)
        .await
        .done("first LDAP sync");
    let r = &first[0];
    assert!(r.refused.is_none(), "{r:?}");
    assert_eq!(r.added + r.updated, 60, "every person with mail: {r:?}");
    assert_eq!(
        r.errors.len(),
        1,
        "the person without mail is reported: {:?}",
        r.errors
    );
    assert_eq!(r.groups_added as usize, r.groups_seen as usize);

    let ada5 = admin
        .get_user(ctx(), UserRef::Id(p5.id))
        .await
        .done("person 5");
    assert!(ada5.groups.contains(&group_name("team-5")), "{ada5:?}");
    assert_eq!(ada5.sources, vec![name.clone()]);
    let p12 = admin
        .get_user(ctx(), UserRef::Email(Directory::email(12)))
        .await
        .done("person 12");
    assert_eq!(
        p12.manager_email.as_deref(),
        Some(Directory::email(Directory::manager(12).expect("has a manager")).as_str())
    );

    let mut f = auto_flow("team5-db");
    f.requestors.everyone = false;
    f.requestors.groups = vec![group_name("team-5")];
    d.put_flow(f).await;
    let g = d
        .active_grant(2005, "team5-db", &target("db", "read"), None)
        .await;

    slapd.modify(&format!(
        "dn: {g5}\nchangetype: modify\ndelete: member\nmember: {p5}\n\n\
         dn: {g6}\nchangetype: modify\nadd: member\nmember: {p5}\n\n\
         dn: {g7}\nchangetype: modify\ndelete: member\nmember: {p7}\n\n\
         dn: {p7}\nchangetype: delete\n",
        g5 = Directory::group_dn(5),
        g6 = Directory::group_dn(6),
        g7 = Directory::group_dn(7),
        p5 = Directory::person_dn(5),
        p7 = Directory::person_dn(7),
    ));
    let second = admin
        .sync_run(ctx(), None, false, false)
        .await
        .done("second LDAP sync");
    let r = &second[0];
    assert_eq!((r.deactivated, r.grants_revoked), (1, 1), "{r:?}");
    let g = d.wait_grant(g.id, GrantStatus::Revoked).await;
    assert!(
        matches!(&g.end_reason, Some(EndReason::EligibilityLost { because }) if because.contains("team-5")),
        "{g:?}"
    );
    let p7 = admin
        .get_user(ctx(), UserRef::Email(Directory::email(7)))
        .await
        .done("person 7");
    assert_eq!(p7.status, UserStatus::Deactivated);

    // Nothing changed since: the next run is all unchanged.
    let third = admin
        .sync_run(ctx(), None, false, false)
        .await
        .done("third");
    assert_eq!(
        (third[0].added, third[0].updated, third[0].deactivated),
        (0, 0, 0),
        "{:?}",
        third[0].changes
    );
    let status = admin.sync_status(ctx()).await.done("status");
    assert_eq!(status[0].kind, "ldap");
    assert_eq!(status[0].people, 60);

    // An entry that goes bad is skipped and reported, and its person stays, in the groups the
    // directory still puts them in and as their reports' manager: the entry is still there, so they are not gone (before,
    // they were deactivated as if deleted).
    let p1_groups = admin
        .get_user(ctx(), UserRef::Email(Directory::email(1)))
        .await
        .done("person 1")
        .groups;
    assert!(!p1_groups.is_empty(), "person 1 is in a team");
    slapd.modify(&format!(
        "dn: {p1}\nchangetype: modify\nreplace: mail\nmail: not-an-address\n\n",
        p1 = Directory::person_dn(1),
    ));
    let fourth = admin
        .sync_run(ctx(), None, false, false)
        .await
        .done("fourth");
    let r = &fourth[0];
    assert_eq!((r.deactivated, r.grants_revoked), (0, 0), "{r:?}");
    assert!(
        r.errors.iter().any(
            |e| e.field == "mail" && e.record.contains(&Directory::person_dn(1).to_lowercase())
        ),
        "{:?}",
        r.errors
    );
    let p1 = admin
        .get_user(ctx(), UserRef::Email(Directory::email(1)))
        .await
        .done("person 1");
    assert_eq!(p1.status, UserStatus::Active, "{p1:?}");
    assert_eq!(p1.groups, p1_groups, "{p1:?}");
    let p12 = admin
        .get_user(ctx(), UserRef::Email(Directory::email(12)))
        .await
        .done("person 12");
    assert_eq!(Directory::manager(12), Some(1));
    assert_eq!(
        p12.manager_email.as_deref(),
        Some(Directory::email(1).as_str()),
        "{p12:?}"
    );
    d.assert_audit_intact().await;
}

// Active Directory sends a member list past 1500 values in ranges (`member;range=0-1499`, an
// empty `member`); the reader asks for each next range until the last (`…-*`), so a big group
// is read whole, one search per range, never one per person.
#[tokio::test]
async fn ldap_reads_active_directory_member_lists_in_ranges() {
    use crate::support::fake_ad::{Entry, FakeAd};
    const BIG: usize = 3200;
    let person = |i: usize| Entry {
        dn: format!("CN=P{i},OU=People,DC=corp"),
        attrs: vec![
            ("uid".into(), vec![format!("p{i}")]),
            ("mail".into(), vec![format!("p{i}@corp.example")]),
            ("cn".into(), vec![format!("Person {i}")]),
        ],
    };
    let group = |cn: &str, members: Vec<String>| Entry {
        dn: format!("CN={cn},OU=Groups,DC=corp"),
        attrs: vec![("cn".into(), vec![cn.into()]), ("member".into(), members)],
    };
    let mut entries: Vec<Entry> = (0..BIG).map(person).collect();
    let dn = |i: usize| format!("CN=P{i},OU=People,DC=corp");
    entries.push(group("Everyone", (0..BIG).map(dn).collect()));
    entries.push(group("Exactly", (0..1500).map(dn).collect()));
    entries.push(group("Few", (0..3).map(dn).collect()));
    let ad = FakeAd::start(entries, 1500).await;
    let text = format!(
        "url = {:?}\npeople_base = \"OU=People,DC=corp\"\ngroups_base = \"OU=Groups,DC=corp\"\ntimeout = \"10s\"\n",
        ad.url
    );
    let cfg: LdapSourceConfig = toml::from_str(&text).expect("a valid LDAP source config");
    let r = read(&cfg).await;
    assert_eq!(r.snapshot.people.len(), BIG, "{:?}", r.skipped);
    let g = groups(&r);
    let members = |name: &str| g[name].members.iter().collect::<BTreeSet<_>>().len();
    assert_eq!(members("everyone"), BIG, "every range read");
    assert_eq!(
        members("exactly"),
        1500,
        "a list of exactly the limit is not ranged"
    );
    assert_eq!(members("few"), 3);
    let ranged: Vec<String> = ad
        .searches()
        .into_iter()
        .filter(|s| s.contains(";range="))
        .collect();
    assert_eq!(
        ranged,
        [
            "cn=everyone,ou=groups,dc=corp [member;range=1500-*]",
            "cn=everyone,ou=groups,dc=corp [member;range=3000-*]",
        ],
        "one search per further range of the one big group"
    );
}
