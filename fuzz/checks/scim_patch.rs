// The checks of the `scim_patch` fuzz target, shared with the seed replay in
// `crates/hallpass-daemon/tests/fuzz_seeds.rs` (both `include!` this file).
//
// Byte 0 picks a stored resource (bit 0: a User or a Group; bit 1: a full or a sparse one;
// bit 2: as an earlier hallpass stored it, untyped); the rest is the body of
// `PATCH /scim/v2/{Users,Groups}/7`. It runs the steps of `patch::patched`, which the server
// stores the result of, one by one: `resource::repair` of the stored resource, `patch::apply`,
// `resource::normalize`; checks that they make what `patched` makes; then what hallpass derives
// from it (`resource::person`, `resource::group`). For any body:
// - nothing panics, and a refusal is a 400 with a `scimType` and a detail; a refused operation
//   is named (`operation N: …`) and leaves the stored resource as it was;
// - a repaired resource is in the stored form (below), and repair names what it dropped;
// - the last operation, when it sets or removes one plain attribute by path, did so; when it
//   removes the values a filter selects (`members[value eq "7"]`), none is left to match in
//   the resource as stored;
// - an accepted resource is in the stored form: no `id`, `meta`, password or (User) `groups`;
//   every attribute spelled as the schema spells it, once, holding a value of its schema's
//   type; `schemas` listing the core schema and exactly the extensions present;
// - it is a fixed point: normalised again, or read back (`render`, as a GET shows it) and
//   written again (as a PUT would), it is the same resource;
// - the person or group hallpass derives from it has a trimmed name and members named once.

use hallpass_core::Timestamp;
use hallpass_core::scim::{ScimKind, ScimRecord};
use hallpass_daemon::scim::error::ScimError;
use hallpass_daemon::scim::filter::{get_ci, parse, parse_path};
use hallpass_daemon::scim::patch::{self, OpKind, Operation};
use hallpass_daemon::scim::resource;
use hallpass_daemon::scim::schema::{self, Attr, AttrType};
use serde_json::{Map, Value, json};

/// The id of the resource every body patches.
pub const ID: &str = "7";

/// The stored resource byte `b` picks, and its kind: bit 0 a User or a Group; bit 1 a full
/// or a sparse one; bit 2 one as an earlier hallpass stored it, with values of the wrong type
/// and a second spelling (which the server repairs before it applies a PATCH).
pub fn stored_for(b: u8) -> (ScimKind, Value) {
    let kind = if b & 1 == 0 {
        ScimKind::User
    } else {
        ScimKind::Group
    };
    let ent = schema::ENTERPRISE_USER;
    let mut v = match (kind, b & 2 == 0) {
        (ScimKind::User, true) => json!({
            "userName": "ada", "externalId": "E7", "active": true,
            "displayName": "Ada Lovelace", "title": "Engineer",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [{"value": "ada@example.com", "type": "work", "primary": true},
                       {"value": "ada@home.example", "type": "home"}],
            "phoneNumbers": [{"value": "+44 20 7946 0000", "type": "work"}],
            ent: {"department": "R&D", "manager": {"value": "8"}},
        }),
        (ScimKind::User, false) => json!({"userName": "bob@example.com", "active": false}),
        (ScimKind::Group, true) => json!({
            "displayName": "dba", "externalId": "G1",
            "members": [{"value": "7", "display": "Ada Lovelace"}, {"value": "8"}],
        }),
        (ScimKind::Group, false) => json!({"displayName": "empty"}),
    };
    resource::normalize(kind, &mut v).expect("the stored samples are valid resources");
    if b & 4 != 0 {
        // What the last release's normalize let through.
        let legacy = match kind {
            ScimKind::User => json!({
                "USERNAME": "ADA", "title": ["Engineer"], "nickName": true,
                "phoneNumbers": ["+44 20 7946 0001"], "addresses": ["1 Main St"],
                "name": "Ada Lovelace",
                ent: {"manager": [{"value": "8"}], "department": {"x": 1}},
            }),
            ScimKind::Group => json!({
                "DisplayName": "DBA", "members": ["9", {"value": "10", "display": {"x": 1}}],
            }),
        };
        let obj = v.as_object_mut().expect("an object");
        for (k, x) in legacy.as_object().expect("an object") {
            match (obj.get_mut(k), x) {
                (Some(Value::Object(mine)), Value::Object(theirs)) => {
                    mine.extend(theirs.clone());
                }
                _ => {
                    obj.insert(k.clone(), x.clone());
                }
            }
        }
    }
    (kind, v)
}

/// What the server stores for `body` over `stored` (`http::patch_one` stores what
/// `patch::patched` makes).
pub fn patched(kind: ScimKind, stored: &Value, body: &Value) -> Result<Value, ScimError> {
    let ops = patch::parse_request(body)?;
    patch::patched(kind, ID, stored, &ops).map(|(v, _)| v)
}

fn refused(e: &ScimError, body: &Value) {
    assert_eq!(e.status, 400, "{body}: {e:?}");
    assert!(
        e.scim_type.is_some(),
        "{body}: a refusal without a scimType: {e:?}"
    );
    assert!(!e.detail.is_empty(), "{body}: a refusal without a detail");
}

pub fn check_scim_patch(data: &[u8]) {
    let Some((&b0, text)) = data.split_first() else {
        return;
    };
    // The server refuses a body that is not JSON before any of this (`invalidSyntax`).
    let Ok(body) = serde_json::from_slice::<Value>(text) else {
        return;
    };
    let (kind, stored) = stored_for(b0);
    let ops = match patch::parse_request(&body) {
        Ok(ops) => ops,
        Err(e) => return refused(&e, &body),
    };
    let mut v = stored.clone();
    let dropped = resource::repair(kind, &mut v)
        .unwrap_or_else(|e| panic!("a stored resource cannot be repaired: {e:?}"));
    in_stored_form(kind, &v, &body);
    assert_eq!(
        dropped.is_empty(),
        v == stored,
        "{dropped:?}: {stored} → {v}"
    );
    let repaired = v.clone();
    if let Err(e) = patch::apply(kind, ID, &mut v, &ops) {
        refused(&e, &body);
        assert!(
            e.detail.starts_with("operation "),
            "{body}: the refusal does not name its operation: {e:?}"
        );
        assert_eq!(v, repaired, "{body}: a refused PATCH changed the resource");
        return;
    }
    if let Some(last) = ops.last() {
        last_operation_set(kind, &v, last, &body);
    }
    if let Err(e) = resource::normalize(kind, &mut v) {
        return refused(&e, &body);
    }
    in_stored_form(kind, &v, &body);
    if let Some(last) = ops.last() {
        last_operation_removed(kind, &v, last, &body);
    }
    assert_eq!(patched(kind, &stored, &body).as_ref(), Ok(&v), "{body}");

    let mut again = v.clone();
    resource::normalize(kind, &mut again)
        .unwrap_or_else(|e| panic!("{body}: a stored resource fails normalisation: {e:?}\n{v}"));
    assert_eq!(again, v, "{body}: normalising a stored resource changed it");
    let rec = ScimRecord {
        kind,
        id: ID.to_string(),
        created: Timestamp(1_780_000_000_000),
        last_modified: Timestamp(1_780_000_100_000),
        version: 3,
        resource: v.clone(),
    };
    let mut read = resource::render(&rec, "https://hallpass.example/scim/v2");
    resource::normalize(kind, &mut read).unwrap_or_else(|e| {
        panic!("{body}: a resource as read cannot be written back: {e:?}\n{v}")
    });
    assert_eq!(read, v, "{body}: a resource read and written back changed");

    match kind {
        ScimKind::User => {
            if let Ok(p) = resource::person(ID, &v) {
                assert_eq!(p.name.trim(), p.name, "{body}: an untrimmed name");
                assert!(!p.name.is_empty(), "{body}: an empty name");
            }
        }
        ScimKind::Group => {
            if let Ok((name, members)) = resource::group(&v) {
                assert!(
                    !name.is_empty() && name.trim() == name,
                    "{body}: name {name:?}"
                );
                let mut seen = std::collections::BTreeSet::new();
                for m in &members {
                    assert!(seen.insert(m), "{body}: member {m:?} twice");
                }
            }
        }
    }
}

/// The plain attribute the last operation names by path (`title`,
/// `urn:…:enterprise:2.0:User:department`): singular, not complex, no filter; and its value in
/// `v`.
fn plain_target<'a>(kind: ScimKind, v: &'a Value, path: &str) -> Option<Option<&'a Value>> {
    let p = parse_path(path).ok()?;
    if p.filter.is_some() || p.attr.attr.is_empty() || p.attr.sub.is_some() {
        return None;
    }
    let urn = p.attr.urn.as_deref();
    let def = schema::find(kind, urn, &p.attr.attr)?;
    if def.multi || def.ty == AttrType::Complex {
        return None;
    }
    let container = match urn.filter(|u| !u.eq_ignore_ascii_case(schema::core_urn(kind))) {
        Some(u) => get_ci(v, u),
        None => Some(v),
    };
    Some(container.and_then(|c| get_ci(c, &p.attr.attr)))
}

/// When the last operation sets one plain attribute by path, the patched resource holds the
/// value as sent (before normalising converts `"False"` or a number).
fn last_operation_set(kind: ScimKind, v: &Value, op: &Operation, body: &Value) {
    let (Some(path), OpKind::Add | OpKind::Replace) = (&op.path, op.op) else {
        return;
    };
    if let Some(got) = plain_target(kind, v, path) {
        assert_eq!(got, op.value.as_ref(), "{body}: `{path}` set, yet {got:?}");
    }
}

/// When the last operation removes one plain attribute, or the values a filter selects
/// (`members[value eq "7"]`), the resource as stored has none of them.
fn last_operation_removed(kind: ScimKind, v: &Value, op: &Operation, body: &Value) {
    let (Some(path), OpKind::Remove) = (&op.path, op.op) else {
        return;
    };
    let p =
        parse_path(path).unwrap_or_else(|e| panic!("{body}: applied an unparsable path: {e:?}"));
    if p.filter.is_some() && p.sub_after.is_none() {
        // The same text is a value-path filter over the resource.
        let f = parse(path).unwrap_or_else(|e| panic!("{body}: `{path}` as a filter: {e:?}"));
        assert!(
            !f.matches(kind, v),
            "{body}: `{path}` removed, yet it matches {v}"
        );
    } else if let Some(got) = plain_target(kind, v, path) {
        assert!(got.is_none(), "{body}: `{path}` removed, yet {got:?}");
    }
}

/// The stored form: see the file's header.
fn in_stored_form(kind: ScimKind, v: &Value, body: &Value) {
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("{body}: not an object: {v}"));
    let mut schemas = vec![json!(schema::core_urn(kind))];
    for ext in schema::extensions(kind) {
        if let Some(e) = obj.get(*ext) {
            schemas.push(json!(ext));
            let e = e
                .as_object()
                .unwrap_or_else(|| panic!("{body}: `{ext}` is not an object: {v}"));
            assert!(!e.is_empty(), "{body}: an empty `{ext}` kept: {v}");
            let attrs = schema::attrs_of(kind, Some(ext)).expect("a known extension");
            conforms_all(e, &attrs, ext, body);
        }
    }
    assert_eq!(
        obj.get("schemas"),
        Some(&Value::Array(schemas)),
        "{body}: {v}"
    );
    let core: Map<String, Value> = obj
        .iter()
        .filter(|(k, _)| *k != "schemas" && !schema::extensions(kind).contains(&k.as_str()))
        .map(|(k, x)| (k.clone(), x.clone()))
        .collect();
    for gone in ["id", "meta", "groups"] {
        assert!(
            !core.keys().any(|k| k.eq_ignore_ascii_case(gone)),
            "{body}: `{gone}` stored: {v}"
        );
    }
    let attrs = schema::attrs_of(kind, None).expect("the core schema");
    conforms_all(&core, &attrs, kind.name(), body);
}

/// Every key of `obj` is one of `attrs`, spelled as the schema does, holding its type.
fn conforms_all(obj: &Map<String, Value>, attrs: &[&'static Attr], scope: &str, body: &Value) {
    for (k, x) in obj {
        let def = attrs.iter().find(|a| a.name == k).unwrap_or_else(|| {
            panic!("{body}: `{k}` in {scope} is not spelled as a known attribute: {obj:?}")
        });
        if def.multi {
            let items = x
                .as_array()
                .unwrap_or_else(|| panic!("{body}: multi-valued `{k}` holds {x}"));
            assert!(!items.is_empty(), "{body}: an empty `{k}` kept");
            for e in items {
                conforms(def, e, body);
            }
        } else {
            conforms(def, x, body);
        }
    }
}

fn conforms(def: &'static Attr, x: &Value, body: &Value) {
    let ok = match def.ty {
        AttrType::String | AttrType::Reference | AttrType::DateTime => x.is_string(),
        AttrType::Boolean => x.is_boolean(),
        AttrType::Complex => match x.as_object() {
            Some(m) => {
                let subs: Vec<&'static Attr> = def.sub.iter().collect();
                conforms_all(m, &subs, def.name, body);
                true
            }
            None => false,
        },
    };
    assert!(ok, "{body}: `{}` holds {x}, not a {:?}", def.name, def.ty);
}
