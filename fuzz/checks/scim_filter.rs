// The checks of the `scim_filter` fuzz target, shared with the seed replay in
// `crates/hallpass-daemon/tests/fuzz_seeds.rs` (both `include!` this file).
//
// For any text, as a SCIM filter (`?filter=`, RFC 7644 §3.4.2.2) and as a PATCH path:
// - nothing panics, and a refusal is a 400 `invalidFilter` (`invalidPath`) with a detail;
// - an accepted filter's canonical form (`Display`) parses back to the same canonical form,
//   unless the parentheses it adds take it past the length or depth bound, which is said;
// - for users and groups, `check` accepts or refuses with `invalidFilter`; over sample
//   resources the canonical form matches exactly where the filter does, and a comparison with
//   `ne` matches exactly where the same comparison with `eq` does not.

use hallpass_core::scim::ScimKind;
use hallpass_daemon::scim::error::ScimError;
use hallpass_daemon::scim::filter::{CompareOp, Filter, parse, parse_path};
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
    let reparsed = match parse(&canonical) {
        Ok(g) => {
            assert_eq!(g.to_string(), canonical, "{text:?}");
            Some(g)
        }
        Err(e) => {
            refused_as(&e, "invalidFilter", &canonical);
            // Only the parentheses the canonical form adds may take it past a bound.
            assert!(
                e.detail.starts_with("the filter nests deeper than")
                    || e.detail.starts_with("the filter is longer than"),
                "{text:?} parsed, its canonical form {canonical:?} did not: {e:?}"
            );
            None
        }
    };
    let mut compares = Vec::new();
    top_level_compares(&f, &mut compares);
    for kind in [ScimKind::User, ScimKind::Group] {
        if let Err(e) = f.check(kind) {
            refused_as(&e, "invalidFilter", text);
            continue;
        }
        for r in samples(kind) {
            let m = f.matches(kind, &r);
            if let Some(g) = &reparsed {
                assert_eq!(
                    g.matches(kind, &r),
                    m,
                    "{text:?} and its canonical form {canonical:?} disagree on {r}"
                );
            }
            for c in &compares {
                if let Filter::Compare(p, CompareOp::Ne, v) = c {
                    let eq = Filter::Compare(p.clone(), CompareOp::Eq, v.clone());
                    assert_eq!(
                        c.matches(kind, &r),
                        !eq.matches(kind, &r),
                        "`{c}` and `{eq}` agree on {r}"
                    );
                }
            }
        }
    }
}

/// The comparisons `f` evaluates against the resource itself (not inside a value filter).
fn top_level_compares<'a>(f: &'a Filter, out: &mut Vec<&'a Filter>) {
    match f {
        Filter::Compare(..) => out.push(f),
        Filter::And(a, b) | Filter::Or(a, b) => {
            top_level_compares(a, out);
            top_level_compares(b, out);
        }
        Filter::Not(a) => top_level_compares(a, out),
        Filter::Present(_) | Filter::ValuePath(..) => {}
    }
}
