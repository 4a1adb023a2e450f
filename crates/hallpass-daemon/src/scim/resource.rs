//! SCIM resources as stored and as sent: cleaning what a client wrote (`normalize`), rendering
//! it with `id` and `meta` (`render`), and deriving the hallpass identity from it (`person`,
//! `group`), and bringing a resource an earlier hallpass stored to that form (`repair`).
//! Invariants: a stored resource holds no `id`, `meta`, password or read-only `groups`; every
//! attribute is in its schema's spelling, once, with a value of its schema's type (Entra ID's
//! `"False"` is a boolean, a number in a string attribute its text, a bare member id
//! `{"value": …}`); `schemas` lists the core schema and exactly the extensions present.

use hallpass_core::identity::PersonRecord;
use hallpass_core::scim::{ScimKind, ScimRecord};
use hallpass_core::user::normalize_email;
use serde_json::{Map, Value, json};

use super::error::ScimError;
use super::filter::get_ci;
use super::schema::{self, Attr, AttrType};

fn remove_ci(m: &mut Map<String, Value>, key: &str) -> Option<Value> {
    let k = m.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned()?;
    m.remove(&k)
}

/// How a refusal names a value: scalars as sent (long strings cut), structures by their shape.
fn shape(v: &Value) -> String {
    match v {
        Value::Array(_) => "a list".to_string(),
        Value::Object(_) => "an object".to_string(),
        Value::String(s) if s.chars().count() > 40 => {
            format!(
                "{:?}",
                format!("{}…", s.chars().take(40).collect::<String>())
            )
        }
        other => other.to_string(),
    }
}

/// What cleaning does with a value it cannot use: a client's write is refused with the reason;
/// a resource stored before hallpass typed every value ([`repair`]) loses that value, and the
/// attribute's path is noted.
struct Cleaning<'a> {
    dropped: Option<&'a mut Vec<String>>,
}

impl Cleaning<'_> {
    /// `r` unless it failed: then the failure, or in repair the value dropped (`None`).
    fn settle<T>(&mut self, path: &str, r: Result<T, ScimError>) -> Result<Option<T>, ScimError> {
        match (r, self.dropped.as_deref_mut()) {
            (Ok(x), _) => Ok(Some(x)),
            (Err(e), None) => Err(e),
            (Err(_), Some(d)) => {
                d.push(path.to_string());
                Ok(None)
            }
        }
    }
}

/// A value of a simple (not complex) attribute as its schema types it. A boolean may come as
/// `"True"`/`"false"` (Entra ID); a number in a string attribute becomes its text (an
/// `employeeNumber` sent as a number). Anything else is refused. `path` names the attribute.
fn simple(a: &Attr, path: &str, v: Value) -> Result<Value, ScimError> {
    match (a.ty, v) {
        (AttrType::Boolean, v @ Value::Bool(_)) => Ok(v),
        (AttrType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("true") => {
            Ok(Value::Bool(true))
        }
        (AttrType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("false") => {
            Ok(Value::Bool(false))
        }
        (AttrType::Boolean, other) => Err(ScimError::invalid_value(format!(
            "`{path}` is a boolean, not {}",
            shape(&other)
        ))),
        (_, v @ Value::String(_)) => Ok(v),
        (_, Value::Number(n)) => Ok(Value::String(n.to_string())),
        (_, other) => Err(ScimError::invalid_value(format!(
            "`{path}` is a string, not {}",
            shape(&other)
        ))),
    }
}

/// One value of a complex attribute: an object of its sub-attributes. A bare value where the
/// attribute has a `value` sub-attribute is taken as that (`"members": ["17"]`, Entra ID's
/// manager id): [`element`].
fn complex_value(
    a: &'static Attr,
    path: &str,
    v: Value,
    how: &mut Cleaning<'_>,
) -> Result<Value, ScimError> {
    let subs: Vec<&'static Attr> = a.sub.iter().collect();
    let Value::Object(mut m) = element(a, v) else {
        let names: Vec<&str> = subs.iter().map(|s| s.name).collect();
        return Err(ScimError::invalid_value(format!(
            "`{path}` {} with {}",
            if a.multi {
                "holds objects"
            } else {
                "is an object"
            },
            names.join(", ")
        )));
    };
    clean_attrs(&mut m, &subs, (path, &format!("`{path}`")), how)?;
    Ok(Value::Object(m))
}

/// A value of the complex attribute `a` in object form: a bare string, number or boolean is
/// `{"value": …}` when `a` has a `value` sub-attribute; anything else is returned as it is.
pub fn element(a: &Attr, v: Value) -> Value {
    match v {
        bare @ (Value::String(_) | Value::Number(_) | Value::Bool(_))
            if a.sub.iter().any(|s| s.name == "value") =>
        {
            Value::Object(Map::from_iter([("value".to_string(), bare)]))
        }
        other => other,
    }
}

/// Gives each attribute of one schema's object its schema spelling and type, drops nulls and
/// empty lists, and refuses attributes the schema does not define (`invalidSyntax`: the body
/// does not conform to the schema; `/Schemas` lists what does), an attribute given twice in
/// two spellings (`invalidSyntax`), and values of the wrong type (`invalidValue`). A single
/// value may come as a list of one. `at` is the path of the object (empty for a resource or an
/// extension), `scope` how a refusal names the object; errors name attributes by their path
/// under `at` (`emails.value`).
fn clean_attrs(
    obj: &mut Map<String, Value>,
    attrs: &[&'static Attr],
    (at, scope): (&str, &str),
    how: &mut Cleaning<'_>,
) -> Result<(), ScimError> {
    let path = |name: &str| {
        if at.is_empty() {
            name.to_string()
        } else {
            format!("{at}.{name}")
        }
    };
    let unknown: Vec<String> = obj
        .keys()
        .filter(|k| !attrs.iter().any(|a| a.name.eq_ignore_ascii_case(k)))
        .cloned()
        .collect();
    for k in unknown {
        let known: Vec<&str> = attrs.iter().map(|a| a.name).collect();
        let e = ScimError::invalid_syntax(format!(
            "unknown attribute `{k}` in {scope} (known: {}; /Schemas describes them)",
            known.join(", ")
        ));
        how.settle(&path(&k), Err::<(), _>(e))?;
        obj.remove(&k);
    }
    for a in attrs {
        let p = path(a.name);
        let mut keys: Vec<String> = obj
            .keys()
            .filter(|k| k.eq_ignore_ascii_case(a.name))
            .cloned()
            .collect();
        // The schema's spelling first: it is the one a repair keeps.
        keys.sort_by_key(|k| k != a.name);
        let Some(key) = keys.first().cloned() else {
            continue;
        };
        if keys.len() > 1 {
            let e = ScimError::invalid_syntax(format!(
                "`{p}` is given more than once: as {}",
                keys.iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            how.settle(&p, Err::<(), _>(e))?;
            for k in &keys[1..] {
                obj.remove(k);
            }
        }
        let v = obj.remove(&key).unwrap_or(Value::Null);
        let cleaned = match v {
            Value::Null => None,
            Value::Array(items) if a.multi => {
                let mut out = Vec::with_capacity(items.len());
                for e in items.into_iter().filter(|e| !e.is_null()) {
                    let r = one(a, &p, e, how);
                    out.extend(how.settle(&p, r)?);
                }
                (!out.is_empty()).then_some(Value::Array(out))
            }
            Value::Array(mut items) => match items.len() {
                0 => None,
                1 => {
                    let r = one(a, &p, items.remove(0), how);
                    how.settle(&p, r)?
                }
                n => how.settle(
                    &p,
                    Err(ScimError::invalid_value(format!(
                        "`{p}` holds one value, not a list of {n}"
                    ))),
                )?,
            },
            v => {
                let r = one(a, &p, v, how).map(|x| if a.multi { Value::Array(vec![x]) } else { x });
                how.settle(&p, r)?
            }
        };
        if let Some(v) = cleaned {
            obj.insert(a.name.to_string(), v);
        }
    }
    Ok(())
}

/// One value of `a`, typed.
fn one(a: &'static Attr, path: &str, v: Value, how: &mut Cleaning<'_>) -> Result<Value, ScimError> {
    match a.ty {
        AttrType::Complex => complex_value(a, path, v, how),
        _ => simple(a, path, v),
    }
}

/// Cleans a resource a client sent (POST, PUT, or the result of a PATCH).
pub fn normalize(kind: ScimKind, v: &mut Value) -> Result<(), ScimError> {
    clean(kind, v, &mut Cleaning { dropped: None })
}

/// Brings a resource stored by an earlier hallpass, which typed only booleans, to the stored
/// form before a PATCH applies to it: a value of the wrong type (`"name": "Ada"`), or an
/// attribute stored in a second spelling, is dropped rather than refused, so the PATCH an
/// identity provider deprovisions with still applies. Returns the paths of what was dropped.
pub fn repair(kind: ScimKind, v: &mut Value) -> Result<Vec<String>, ScimError> {
    let mut dropped = Vec::new();
    clean(
        kind,
        v,
        &mut Cleaning {
            dropped: Some(&mut dropped),
        },
    )?;
    Ok(dropped)
}

fn clean(kind: ScimKind, v: &mut Value, how: &mut Cleaning<'_>) -> Result<(), ScimError> {
    let Value::Object(obj) = v else {
        return Err(ScimError::invalid_syntax("a resource is a JSON object"));
    };
    for k in ["id", "meta", "schemas", "password"] {
        remove_ci(obj, k);
    }
    if kind == ScimKind::User {
        remove_ci(obj, "groups");
    }
    let extensions: Vec<(&'static str, Value)> = schema::extensions(kind)
        .iter()
        .filter_map(|ext| remove_ci(obj, ext).map(|e| (*ext, e)))
        .collect();
    let unknown: Vec<String> = obj
        .keys()
        .filter(|k| k.to_ascii_lowercase().starts_with("urn:"))
        .cloned()
        .collect();
    for urn in unknown {
        let known = schema::extensions(kind).join(", ");
        let e = ScimError::invalid_syntax(format!(
            "unknown schema extension `{urn}` on a {} (known: {})",
            kind.name(),
            if known.is_empty() { "none" } else { &known }
        ));
        how.settle(&urn, Err::<(), _>(e))?;
        obj.remove(&urn);
    }
    let core: Vec<&'static Attr> = schema::attrs_of(kind, None).unwrap_or_default();
    clean_attrs(obj, &core, ("", &format!("a {}", kind.name())), how)?;
    let mut schemas = vec![Value::String(schema::core_urn(kind).to_string())];
    for (ext, e) in extensions {
        let Value::Object(mut m) = e else {
            let e = ScimError::invalid_value(format!("`{ext}` is an object"));
            how.settle(ext, Err::<(), _>(e))?;
            continue;
        };
        // An empty manager (Entra ID clears it with "") removes it; a bare id is its `value`.
        if let Some(k) = m
            .keys()
            .find(|k| k.eq_ignore_ascii_case("manager"))
            .cloned()
        {
            let blank = |v: Option<&Value>| match v {
                None | Some(Value::Null) => true,
                Some(Value::String(s)) => s.trim().is_empty(),
                Some(_) => false,
            };
            let empty = match m.get(&k) {
                Some(Value::Object(o)) => blank(
                    o.iter()
                        .find_map(|(k, v)| k.eq_ignore_ascii_case("value").then_some(v)),
                ),
                other => blank(other),
            };
            if empty {
                m.remove(&k);
            }
        }
        let attrs = schema::attrs_of(kind, Some(ext)).unwrap_or_default();
        clean_attrs(&mut m, &attrs, ("", &format!("`{ext}`")), how)?;
        if !m.is_empty() {
            obj.insert(ext.to_string(), Value::Object(m));
            schemas.push(Value::String(ext.to_string()));
        }
    }
    let required = match kind {
        ScimKind::User => "userName",
        ScimKind::Group => "displayName",
    };
    match obj.get(required) {
        Some(Value::String(s)) if !s.trim().is_empty() => {}
        _ => {
            return Err(ScimError::invalid_value(format!(
                "a {} needs a non-empty `{required}`",
                kind.name()
            )));
        }
    }
    obj.insert("schemas".into(), Value::Array(schemas));
    Ok(())
}

/// The resource as a client reads it: what it set, with `id`, `schemas` and `meta`.
pub fn render(rec: &ScimRecord, base: &str) -> Value {
    let mut v = rec.resource.clone();
    if !v.is_object() {
        v = json!({});
    }
    v["id"] = json!(rec.id);
    if v.get("schemas").is_none() {
        v["schemas"] = json!([schema::core_urn(rec.kind)]);
    }
    v["meta"] = json!({
        "resourceType": rec.kind.name(),
        "created": rec.created.to_rfc3339(),
        "lastModified": rec.last_modified.to_rfc3339(),
        "location": format!("{base}/{}/{}", rec.kind.endpoint(), rec.id),
        "version": format!("W/\"{}\"", rec.version),
    });
    v
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    get_ci(v, key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The primary (else the first) `value` of a multi-valued attribute.
fn primary_value<'a>(v: &'a Value, attr: &str) -> Option<&'a str> {
    let items = get_ci(v, attr)?.as_array()?;
    let primary = items
        .iter()
        .find(|e| get_ci(e, "primary") == Some(&Value::Bool(true)));
    primary
        .into_iter()
        .chain(items.iter())
        .find_map(|e| text(e, "value"))
}

/// What a user resource says about the person (not yet validated: `PersonRecord::validate`).
pub fn person(id: &str, v: &Value) -> Result<PersonRecord, ScimError> {
    let user_name =
        text(v, "userName").ok_or_else(|| ScimError::invalid_value("a User needs a `userName`"))?;
    let email = primary_value(v, "emails")
        .map(str::to_string)
        .or_else(|| normalize_email(user_name).ok())
        .ok_or_else(|| {
            ScimError::invalid_value(
                "a User needs an e-mail address: `emails[].value`, or a `userName` that is an address",
            )
        })?;
    let name_obj = get_ci(v, "name");
    let formatted = name_obj.and_then(|n| text(n, "formatted"));
    let given_family = name_obj.and_then(|n| {
        let parts: Vec<&str> = [text(n, "givenName"), text(n, "familyName")]
            .into_iter()
            .flatten()
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    });
    let name = formatted
        .map(str::to_string)
        .or(given_family)
        .or_else(|| text(v, "displayName").map(str::to_string))
        .unwrap_or_else(|| user_name.to_string());
    // A phone hallpass cannot read is left out rather than refusing the person.
    let phone = primary_value(v, "phoneNumbers")
        .map(|p| p.strip_prefix("tel:").unwrap_or(p).to_string())
        .filter(|p| hallpass_core::user::validate_phone(p).is_ok());
    let manager = get_ci(v, schema::ENTERPRISE_USER)
        .and_then(|e| get_ci(e, "manager"))
        .and_then(|m| text(m, "value"))
        .map(str::to_string);
    let active = match get_ci(v, "active") {
        Some(Value::Bool(b)) => *b,
        _ => true,
    };
    Ok(PersonRecord {
        external_id: id.to_string(),
        login: Some(user_name.to_string()),
        email,
        name,
        phone,
        manager,
        active,
    })
}

/// A group resource's display name and member ids.
pub fn group(v: &Value) -> Result<(String, Vec<String>), ScimError> {
    let name = text(v, "displayName")
        .ok_or_else(|| ScimError::invalid_value("a Group needs a `displayName`"))?
        .to_string();
    let mut members = Vec::new();
    // Each PATCH of a group derives its whole list: one pass, not a scan per member.
    let mut seen = std::collections::HashSet::new();
    if let Some(items) = get_ci(v, "members").and_then(Value::as_array) {
        for m in items {
            let id = match m {
                Value::String(s) => s.trim(),
                other => text(other, "value").ok_or_else(|| {
                    ScimError::invalid_value("every member needs a `value` (a User id)")
                })?,
            };
            if seen.insert(id) {
                members.push(id.to_string());
            }
        }
    }
    Ok((name, members))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hallpass_core::Timestamp;

    #[test]
    fn normalize_cleans_what_clients_send() {
        let mut v = json!({
            "schemas": ["whatever"],
            "id": "99",
            "meta": {"created": "x"},
            "password": "hunter2",
            "USERNAME": "ada",
            "Active": "False",
            "emails": {"value": "ada@example.com", "primary": "True"},
            "groups": [{"value": "g"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": "7", "department": "R&D"},
        });
        normalize(ScimKind::User, &mut v).unwrap();
        assert_eq!(v["userName"], "ada");
        assert_eq!(v["active"], false);
        assert_eq!(
            v["emails"],
            json!([{"value": "ada@example.com", "primary": true}])
        );
        assert_eq!(v[schema::ENTERPRISE_USER]["manager"], json!({"value": "7"}));
        assert_eq!(
            v["schemas"],
            json!([schema::USER_SCHEMA, schema::ENTERPRISE_USER])
        );
        for gone in ["id", "meta", "password", "groups", "USERNAME", "Active"] {
            assert!(v.get(gone).is_none(), "{gone}");
        }
        let mut bad = json!({"userName": "a", "active": "maybe"});
        assert_eq!(
            normalize(ScimKind::User, &mut bad).unwrap_err().scim_type,
            Some("invalidValue")
        );
        for (unknown, names) in [
            (json!({"userName": "a", "shoeSize": 9}), "`shoeSize`"),
            (
                json!({"userName": "a", "emails": [{"value": "a@x.io", "colour": "red"}]}),
                "`colour`",
            ),
            (
                json!({"userName": "a", "urn:example:custom:2.0:User": {"x": 1}}),
                "urn:example",
            ),
            (
                json!({"userName": "a", schema::ENTERPRISE_USER: {"badge": "7"}}),
                "`badge`",
            ),
        ] {
            let mut v = unknown.clone();
            let e = normalize(ScimKind::User, &mut v).unwrap_err();
            assert_eq!(e.scim_type, Some("invalidSyntax"), "{unknown}");
            assert!(e.detail.contains(names), "{unknown}: {}", e.detail);
        }
        let mut nameless = json!({"userName": " "});
        assert!(normalize(ScimKind::User, &mut nameless).is_err());
        let mut g = json!({"displayName": "Ops", "members": [{"value": "1"}]});
        normalize(ScimKind::Group, &mut g).unwrap();
        assert_eq!(g["schemas"], json!([schema::GROUP_SCHEMA]));
        // An empty manager removes the extension.
        let mut v = json!({"userName": "a", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": ""}});
        normalize(ScimKind::User, &mut v).unwrap();
        assert!(v.get(schema::ENTERPRISE_USER).is_none());
    }

    /// `bad` as a User is refused with `scim_type`, and the detail says `says`.
    fn refused_as(bad: &Value, scim_type: &str, says: &str) {
        let e = normalize(ScimKind::User, &mut bad.clone()).unwrap_err();
        assert_eq!(e.scim_type, Some(scim_type), "{bad}");
        assert!(e.detail.contains(says), "{bad}: {}", e.detail);
    }

    /// Found by the `scim_patch` fuzz target: a PATCH (or a POST, a PUT) could store a value of
    /// the wrong type (`"phoneNumbers": ["x"]`, `"title": {}`) and every GET returned it.
    #[test]
    fn normalize_gives_every_value_its_schema_type() {
        let ent = schema::ENTERPRISE_USER;
        let mut v = json!({
            "userName": "ada", "title": 5, "phoneNumbers": "+44 20 7946 0000",
            "emails": ["ada@example.com", null],
            ent: {"employeeNumber": 1234, "manager": {"value": 9}},
        });
        normalize(ScimKind::User, &mut v).unwrap();
        assert_eq!(v["title"], "5");
        assert_eq!(v["phoneNumbers"], json!([{"value": "+44 20 7946 0000"}]));
        assert_eq!(v["emails"], json!([{"value": "ada@example.com"}]));
        assert_eq!(
            v[ent],
            json!({"employeeNumber": "1234", "manager": {"value": "9"}})
        );
        let mut g = json!({"displayName": "dba", "members": ["7", {"value": "8"}]});
        normalize(ScimKind::Group, &mut g).unwrap();
        assert_eq!(g["members"], json!([{"value": "7"}, {"value": "8"}]));

        // A list of one for a single value; an empty list clears it.
        let mut v = json!({"userName": ["ada"], ent: {"manager": [], "department": ["Ops"]}});
        normalize(ScimKind::User, &mut v).unwrap();
        assert_eq!(v["userName"], "ada");
        assert_eq!(v[ent], json!({"department": "Ops"}));

        for (bad, says) in [
            (
                json!({"userName": "a", "title": {}}),
                "`title` is a string, not an object",
            ),
            (
                json!({"userName": ["a", "b"]}),
                "`userName` holds one value, not a list of 2",
            ),
            (
                json!({"userName": "a", "name": "Ada"}),
                "`name` is an object with formatted, familyName",
            ),
            (
                json!({"userName": "a", "addresses": ["Leeds"]}),
                "`addresses` holds objects with formatted",
            ),
            (
                json!({"userName": "a", "phoneNumbers": [{"value": {}}]}),
                "`phoneNumbers.value` is a string, not an object",
            ),
            (
                json!({"userName": "a", "active": 1}),
                "`active` is a boolean, not 1",
            ),
            (
                json!({"userName": "a", ent: {"manager": {"value": {}}}}),
                "`manager.value` is a string, not an object",
            ),
        ] {
            refused_as(&bad, "invalidValue", says);
        }
    }

    /// Found reviewing the typing rule: `clean_attrs` typed the first spelling of an attribute
    /// and kept the others, so `{"userName": "ada", "username": "bob"}` was stored with both.
    #[test]
    fn an_attribute_given_in_two_spellings_is_refused() {
        for (bad, says) in [
            (
                json!({"userName": "ada", "username": "bob"}),
                "`userName` is given more than once: as `userName`, `username`",
            ),
            (
                json!({"userName": "a", "name": {"givenName": "A", "GIVENNAME": "B"}}),
                "`name.givenName` is given more than once",
            ),
        ] {
            refused_as(&bad, "invalidSyntax", says);
        }
    }

    /// Found reviewing the typing rule: resources an earlier hallpass stored untyped would
    /// have refused every PATCH, the deprovisioning `active: false` included. A PATCH now
    /// repairs the stored resource first, dropping only what cannot be typed.
    #[test]
    fn repair_keeps_what_it_can_type_and_names_what_it_drops() {
        let ent = schema::ENTERPRISE_USER;
        // As the last release stored them: each of these passed its normalize.
        let mut v = json!({
            "userName": "ada", "username": "ADA", "active": true, "title": ["Engineer"],
            "name": "Ada Lovelace", "nickName": true, "addresses": ["1 Main St"],
            "emails": [{"value": "ada@example.com", "display": {"x": 1}}, "ada@home.example"],
            ent: {"manager": [{"value": "3"}]},
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ent],
        });
        let dropped = repair(ScimKind::User, &mut v).unwrap();
        assert_eq!(
            dropped,
            [
                "userName",
                "name",
                "nickName",
                "emails.display",
                "addresses"
            ]
        );
        assert_eq!(
            v,
            json!({
                "userName": "ada", "active": true, "title": "Engineer",
                "emails": [{"value": "ada@example.com"}, {"value": "ada@home.example"}],
                ent: {"manager": {"value": "3"}},
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ent],
            })
        );
        let mut again = v.clone();
        normalize(ScimKind::User, &mut again).unwrap();
        assert_eq!(again, v, "a repaired resource is in the stored form");
        assert!(repair(ScimKind::User, &mut again).unwrap().is_empty());
    }

    #[test]
    fn people_are_derived_from_users() {
        let cases = [
            (
                json!({"userName": "ada", "emails": [{"value": "a@x.io"}, {"value": "b@x.io", "primary": true}],
                       "name": {"formatted": "Ada L", "givenName": "A"}, "displayName": "D"}),
                ("b@x.io", "Ada L", true),
            ),
            (
                json!({"userName": "Ada@X.io", "name": {"givenName": "Ada", "familyName": "Lovelace"}}),
                ("ada@x.io", "Ada Lovelace", true),
            ),
            (
                json!({"userName": "ada", "emails": [{"value": "a@x.io"}], "displayName": "Countess", "active": false}),
                ("a@x.io", "Countess", false),
            ),
            (
                json!({"userName": "ada@x.io"}),
                ("ada@x.io", "ada@x.io", true),
            ),
        ];
        for (v, (email, name, active)) in cases {
            let p = person("5", &v).unwrap();
            let p = p.validate().unwrap();
            assert_eq!(
                (p.email.as_str(), p.name.as_str(), p.active),
                (email, name, active),
                "{v}"
            );
            assert_eq!(p.external_id, "5");
        }
        let v = json!({"userName": "ada", "emails": [{"value": "a@x.io"}],
            "phoneNumbers": [{"value": "tel:+44 20 7946 0000", "type": "work"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "3"}}});
        let p = person("5", &v).unwrap();
        assert_eq!(p.phone.as_deref(), Some("+44 20 7946 0000"));
        assert_eq!(p.manager.as_deref(), Some("3"));
        assert_eq!(p.login.as_deref(), Some("ada"));
        assert!(
            person("5", &json!({"userName": "ada"})).is_err(),
            "no e-mail at all"
        );
    }

    #[test]
    fn groups_list_members_once() {
        let (n, m) = group(&json!({"displayName": "Platform Team", "members": [{"value": "1"}, {"value": "2"}, {"value": "1"}]})).unwrap();
        assert_eq!(n, "Platform Team");
        assert_eq!(m, ["1", "2"]);
        assert!(group(&json!({"displayName": "x", "members": [{"display": "no value"}]})).is_err());
    }

    #[test]
    fn render_adds_id_and_meta() {
        let rec = ScimRecord {
            kind: ScimKind::User,
            id: "7".into(),
            created: Timestamp(1_800_000_000_000),
            last_modified: Timestamp(1_800_000_060_000),
            version: 3,
            resource: json!({"userName": "ada", "schemas": [schema::USER_SCHEMA]}),
        };
        let v = render(&rec, "https://h/scim/v2");
        assert_eq!(v["id"], "7");
        assert_eq!(v["meta"]["location"], "https://h/scim/v2/Users/7");
        assert_eq!(v["meta"]["resourceType"], "User");
        assert_eq!(v["meta"]["version"], "W/\"3\"");
        assert!(
            v["meta"]["created"]
                .as_str()
                .unwrap()
                .starts_with("2027-01-15T")
        );
    }
}
