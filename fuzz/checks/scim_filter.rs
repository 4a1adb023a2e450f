// The checks of the `scim_filter` fuzz target, shared with the seed replay in
// `crates/hallpass-daemon/tests/fuzz_seeds.rs` (both `include!` this file).
//
// For any text, as a SCIM filter (`?filter=`, RFC 7644 §3.4.2.2) and as a PATCH path:
// - nothing panics, and a refusal is a 400 `invalidFilter` (`invalidPath`) with a detail;
// - an accepted filter's canonical form (`Display`) parses back to the same canonical form,
//   unless the parentheses it adds take it past the length or depth bound, which is said;
// - for users and groups, `check` accepts or refuses with `invalidFilter`, and evaluation over
//   sample resources obeys `not`, and `f and f` / `f or f` match exactly as `f` does.

use hallpass_core::scim::ScimKind;
use hallpass_daemon::scim::error::ScimError;
use hallpass_daemon::scim::filter::{Filter, parse, parse_path};
use serde_json::{Value, json};

fn refused_as(e: &ScimError, scim_type: &str, text: &str) {
    assert_eq!(e.status, 400, "{text:?}: {e:?}");
    assert_eq!(e.scim_type, Some(scim_type), "{text:?}: {e:?}");
    assert!(!e.detail.is_empty(), "{text:?}: a refusal without a detail");
}

fn samples(kind: ScimKind) -> Vec<Value> {
    let meta = json!({"resourceType": "User", "created": "2026-01-02T03:04:05Z",
        "lastModified": "2026-06-07T08:09:10Z", "location": "https://hallpass/scim/v2/Users/7"});
    match kind {
        ScimKind::User => vec![
            json!({"id": "7", "userName": "ada", "externalId": "E7", "active": true,
                "displayName": "Ada Lovelace", "name": {"givenName": "Ada", "familyName": "Lovelace"},
                "emails": [{"value": "ada@example.com", "type": "work", "primary": true},
                           {"value": "ada@home.example", "type": "home"}],
                "meta": meta}),
            json!({"id": "8", "userName": "bob", "active": false, "emails": [], "meta": meta}),
            json!({}),
        ],
        ScimKind::Group => vec![
            json!({"id": "g1", "displayName": "dba", "externalId": "G1",
                "members": [{"value": "7", "display": "Ada Lovelace"}], "meta": meta}),
            json!({"id": "g2", "displayName": "empty", "members": []}),
        ],
    }
}

pub fn check_scim_filter(text: &str) {
    if let Err(e) = parse_path(text) {
        refused_as(&e, "invalidPath", text);
    }
    let f = match parse(text) {
        Ok(f) => f,
        Err(e) => return refused_as(&e, "invalidFilter", text),
    };
    let canonical = f.to_string();
    match parse(&canonical) {
        Ok(g) => assert_eq!(g.to_string(), canonical, "{text:?}"),
        Err(e) => {
            refused_as(&e, "invalidFilter", &canonical);
            assert!(
                e.detail.contains("deeper than") || e.detail.contains("longer than"),
                "{text:?} parsed, its canonical form {canonical:?} did not: {e:?}"
            );
        }
    }
    for kind in [ScimKind::User, ScimKind::Group] {
        if let Err(e) = f.check(kind) {
            refused_as(&e, "invalidFilter", text);
            continue;
        }
        let not = Filter::Not(Box::new(f.clone()));
        let and = Filter::And(Box::new(f.clone()), Box::new(f.clone()));
        let or = Filter::Or(Box::new(f.clone()), Box::new(f.clone()));
        for r in samples(kind) {
            let m = f.matches(kind, &r);
            assert_eq!(not.matches(kind, &r), !m, "{text:?} on {r}");
            assert_eq!(and.matches(kind, &r), m, "{text:?} on {r}");
            assert_eq!(or.matches(kind, &r), m, "{text:?} on {r}");
        }
    }
}
