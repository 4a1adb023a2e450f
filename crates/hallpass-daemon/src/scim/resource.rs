//! SCIM resources as stored and as sent: cleaning what a client wrote (`normalize`), rendering
//! it with `id` and `meta` (`render`), and deriving the hallpass identity from it (`person`,
//! `group`). Invariants: a stored resource holds no `id`, `meta`, password or read-only
//! `groups`; booleans are JSON booleans (Entra ID's `"False"` is converted); `schemas` lists the
//! core schema and exactly the extensions present.

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

/// A value of a simple (not complex) attribute as its schema types it. A boolean may come as
/// `"True"`/`"false"` (Entra ID); a number in a string attribute becomes its text (an
/// `employeeNumber` sent as a number). Anything else is refused.
fn simple(a: &Attr, v: Value) -> Result<Value, ScimError> {
    match (a.ty, v) {
        (AttrType::Boolean, v @ Value::Bool(_)) => Ok(v),
        (AttrType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("true") => {
            Ok(Value::Bool(true))
        }
        (AttrType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("false") => {
            Ok(Value::Bool(false))
        }
        (AttrType::Boolean, other) => Err(ScimError::invalid_value(format!(
            "`{}` is a boolean, not {}",
            a.name,
            shape(&other)
        ))),
        (_, v @ Value::String(_)) => Ok(v),
        (_, Value::Number(n)) => Ok(Value::String(n.to_string())),
        (_, other) => Err(ScimError::invalid_value(format!(
            "`{}` is a string, not {}",
            a.name,
            shape(&other)
        ))),
    }
}

/// One value of a complex attribute: an object of its sub-attributes. A bare value where the
/// attribute has a `value` sub-attribute is taken as that (`"members": ["17"]`, Entra ID's
/// manager id).
fn complex_value(a: &'static Attr, v: Value) -> Result<Value, ScimError> {
    let subs: Vec<&'static Attr> = a.sub.iter().collect();
    let mut m = match v {
        Value::Object(m) => m,
        bare @ (Value::String(_) | Value::Number(_) | Value::Bool(_))
            if subs.iter().any(|s| s.name == "value") =>
        {
            Map::from_iter([("value".to_string(), bare)])
        }
        other => {
            let names: Vec<&str> = subs.iter().map(|s| s.name).collect();
            return Err(ScimError::invalid_value(format!(
                "`{}` {} an object of {}, not {}",
                a.name,
                if a.multi { "holds" } else { "is" },
                names.join(", "),
                shape(&other)
            )));
        }
    };
    clean_attrs(&mut m, &subs, &format!("`{}`", a.name))?;
    Ok(Value::Object(m))
}

/// Gives each attribute of one schema's object its schema spelling and type, drops nulls and
/// empty lists, and refuses attributes the schema does not define (`invalidSyntax`: the body
/// does not conform to the schema; `/Schemas` lists what does) and values of the wrong type
/// (`invalidValue`). `scope` names the object in the error.
fn clean_attrs(
    obj: &mut Map<String, Value>,
    attrs: &[&'static Attr],
    scope: &str,
) -> Result<(), ScimError> {
    if let Some(unknown) = obj
        .keys()
        .find(|k| !attrs.iter().any(|a| a.name.eq_ignore_ascii_case(k)))
    {
        let known: Vec<&str> = attrs.iter().map(|a| a.name).collect();
        return Err(ScimError::invalid_syntax(format!(
            "unknown attribute `{unknown}` in {scope} (known: {}; /Schemas describes them)",
            known.join(", ")
        )));
    }
    for a in attrs {
        let Some(key) = obj.keys().find(|k| k.eq_ignore_ascii_case(a.name)).cloned() else {
            continue;
        };
        let v = obj.remove(&key).unwrap_or(Value::Null);
        let one = |v: Value| match a.ty {
            AttrType::Complex => complex_value(a, v),
            _ => simple(a, v),
        };
        let v = match v {
            Value::Null => continue,
            Value::Array(items) if a.multi => {
                let items = items
                    .into_iter()
                    .filter(|e| !e.is_null())
                    .map(one)
                    .collect::<Result<Vec<_>, _>>()?;
                if items.is_empty() {
                    continue;
                }
                Value::Array(items)
            }
            v if a.multi => Value::Array(vec![one(v)?]),
            v => one(v)?,
        };
        obj.insert(a.name.to_string(), v);
    }
    Ok(())
}

/// Cleans a resource a client sent (POST, PUT, or the result of a PATCH).
pub fn normalize(kind: ScimKind, v: &mut Value) -> Result<(), ScimError> {
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
    if let Some(urn) = obj
        .keys()
        .find(|k| k.to_ascii_lowercase().starts_with("urn:"))
    {
        let known = schema::extensions(kind).join(", ");
        return Err(ScimError::invalid_syntax(format!(
            "unknown schema extension `{urn}` on a {} (known: {})",
            kind.name(),
            if known.is_empty() { "none" } else { &known }
        )));
    }
    let core: Vec<&'static Attr> = schema::attrs_of(kind, None).unwrap_or_default();
    clean_attrs(obj, &core, &format!("a {}", kind.name()))?;
    let mut schemas = vec![Value::String(schema::core_urn(kind).to_string())];
    for (ext, mut e) in extensions {
        let Value::Object(m) = &mut e else {
            return Err(ScimError::invalid_value(format!("`{ext}` is an object")));
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
        clean_attrs(m, &attrs, &format!("`{ext}`"))?;
        if !m.is_empty() {
            obj.insert(ext.to_string(), e);
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
    if let Some(items) = get_ci(v, "members").and_then(Value::as_array) {
        for m in items {
            let id = match m {
                Value::String(s) => s.trim(),
                other => text(other, "value").ok_or_else(|| {
                    ScimError::invalid_value("every member needs a `value` (a User id)")
                })?,
            };
            if !members.iter().any(|x: &String| x == id) {
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

        for (bad, says) in [
            (
                json!({"userName": "a", "title": {}}),
                "`title` is a string, not an object",
            ),
            (
                json!({"userName": ["a"]}),
                "`userName` is a string, not a list",
            ),
            (
                json!({"userName": "a", "name": "Ada"}),
                "`name` is an object of",
            ),
            (
                json!({"userName": "a", "addresses": ["Leeds"]}),
                "`addresses` holds an object of",
            ),
            (
                json!({"userName": "a", "emails": [{"value": {}}]}),
                "`value` is a string",
            ),
            (
                json!({"userName": "a", "active": 1}),
                "`active` is a boolean, not 1",
            ),
            (
                json!({"userName": "a", ent: {"manager": []}}),
                "`manager` is an object of",
            ),
        ] {
            let mut v = bad.clone();
            let e = normalize(ScimKind::User, &mut v).unwrap_err();
            assert_eq!(e.scim_type, Some("invalidValue"), "{bad}");
            assert!(e.detail.contains(says), "{bad}: {}", e.detail);
        }
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
