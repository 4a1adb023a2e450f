// The checks of the `identity_file` fuzz target, shared with the seed replay in
// `crates/hallpass-daemon/tests/fuzz_seeds.rs` (both `include!` this file).
//
// Byte 0 picks the format (bit 0: CSV or JSON); the rest is the text of a file for
// `hallpass identities import` (or a `kind = "file"` source), through
// `hallpass_core::identity_file::parse`. For any text:
// - nothing panics; a refusal lists 1 to 100 problems, each naming its record and saying why
//   (a clash names another record);
// - an accepted file is a sound snapshot: every person validates, with the external id as
//   validated; external ids, e-mails and logins are each held by one person; every manager and group member is a person of the
//   snapshot; group names are distinct and a group lists a member once;
// - a reference that is exactly someone's login names that person, whoever else's login
//   differs from it only in case (checked on JSON files, whose references are easy to find);
// - it means what it says in either format: the snapshot written out as the JSON format (each
//   manager and member by the external id it resolved to) reads back as the same snapshot.

use std::collections::BTreeSet;

use hallpass_core::identity::Snapshot;
use hallpass_core::identity_file::{FileFormat, parse};
use serde_json::{Value, json};

pub fn format_for(b: u8) -> FileFormat {
    if b & 1 == 0 {
        FileFormat::Csv
    } else {
        FileFormat::Json
    }
}

pub fn check_identity_file(data: &[u8]) {
    let Some((&b0, bytes)) = data.split_first() else {
        return;
    };
    // The CLI reads the file as UTF-8 and says so when it is not.
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let snap = match parse(format_for(b0), text) {
        Ok(s) => s,
        Err(problems) => {
            assert!(
                (1..=hallpass_core::identity_file::MAX_PROBLEMS).contains(&problems.len()),
                "{text:?}: {} problems",
                problems.len()
            );
            for p in &problems {
                assert!(!p.record.is_empty() && !p.why.is_empty(), "{text:?}: {p:?}");
                // A clash names the other record.
                if let Some((_, first)) = p.why.split_once("is already used by ") {
                    assert_ne!(first, p.record, "{text:?}: a record clashes with itself");
                }
            }
            return;
        }
    };
    sound(&snap, text);
    if format_for(b0) == FileFormat::Json {
        exact_logins_win(&snap, text);
    }
    let json = as_json_file(&snap);
    let again = parse(FileFormat::Json, &json)
        .unwrap_or_else(|e| panic!("{text:?}: written as JSON, refused: {e:?}\n{json}"));
    assert_eq!(
        again, snap,
        "{text:?}: written as JSON, it reads differently:\n{json}"
    );
}

fn sound(s: &Snapshot, text: &str) {
    let (mut ids, mut emails, mut logins) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    for p in &s.people {
        let v = p
            .validate()
            .unwrap_or_else(|e| panic!("{text:?}: accepted a person that fails validation: {e}"));
        assert_eq!(
            p.external_id, v.external_id,
            "{text:?}: an id not as validated"
        );
        assert!(
            ids.insert(v.external_id.clone()),
            "{text:?}: external id {} twice",
            v.external_id
        );
        assert!(
            emails.insert(v.email.clone()),
            "{text:?}: e-mail {} twice",
            v.email
        );
        if let Some(l) = v.login {
            assert!(logins.insert(l.clone()), "{text:?}: login {l} twice");
        }
    }
    let known = |r: &str| s.people.iter().any(|p| p.external_id == r);
    for p in &s.people {
        if let Some(m) = &p.manager {
            assert!(
                known(m),
                "{text:?}: manager {m:?} is no one in the snapshot"
            );
        }
    }
    let mut names = BTreeSet::new();
    for g in &s.groups {
        assert!(
            names.insert(g.name.clone()),
            "{text:?}: group {} twice",
            g.name
        );
        let mut seen = BTreeSet::new();
        for m in &g.members {
            assert!(known(m), "{text:?}: member {m:?} of {} is no one", g.name);
            assert!(seen.insert(m), "{text:?}: {} lists {m:?} twice", g.name);
        }
    }
}

/// In an accepted JSON file, a manager or member written exactly as someone's login is that
/// person (people are in the snapshot in the file's order).
fn exact_logins_win(s: &Snapshot, text: &str) {
    let file: Value = serde_json::from_str(text).expect("an accepted JSON file is JSON");
    let list = |key: &str| {
        file.get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let login_of = |r: &str| {
        s.people
            .iter()
            .find(|p| p.login.as_deref().map(str::trim) == Some(r.trim()))
            .map(|p| p.external_id.clone())
    };
    for (i, raw) in list("people").iter().enumerate() {
        let m = raw
            .get("manager")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if let Some(ext) = login_of(m) {
            assert_eq!(
                s.people[i].manager.as_ref(),
                Some(&ext),
                "{text:?}: people[{i}]'s manager"
            );
        }
    }
    for raw in list("groups") {
        let name = raw.get("name").and_then(Value::as_str).unwrap_or_default();
        let g = s
            .groups
            .iter()
            .find(|g| Some(&g.name) == hallpass_core::identity::group_name_from(name).ok().as_ref())
            .expect("an accepted group is in the snapshot");
        for m in raw
            .get("members")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(ext) = m.as_str().and_then(login_of) {
                assert!(
                    g.members.contains(&ext),
                    "{text:?}: {m} is not in {}",
                    g.name
                );
            }
        }
    }
}

/// The snapshot in the JSON file format, each reference by the external id it resolved to.
fn as_json_file(s: &Snapshot) -> String {
    let people: Vec<_> = s
        .people
        .iter()
        .map(|p| {
            json!({"login": p.login, "email": p.email, "name": p.name, "phone": p.phone,
                   "manager": p.manager, "active": p.active})
        })
        .collect();
    let groups: Vec<_> = s
        .groups
        .iter()
        .map(|g| json!({"name": g.name.as_str(), "description": g.description, "members": g.members}))
        .collect();
    json!({"people": people, "groups": groups}).to_string()
}
