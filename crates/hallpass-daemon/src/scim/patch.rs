//! PATCH (RFC 7644 §3.5.2) on a stored resource: `add`, `replace` and `remove`, with and
//! without `path`, with value filters (`members[value eq "17"]`, `emails[type eq "work"].value`),
//! and the forms the big IdPs send: Entra ID's capitalised ops (`"Replace"`), dotted keys in a
//! path-less value (`{"name.givenName": "X"}`), a bare string for the enterprise manager, and
//! `"False"` for a boolean (see `resource::normalize`); Okta's path-less
//! `{"op":"replace","value":{"active":false}}` and member removal by value filter.
//! Invariants: the operations apply in order to a copy, so a failing one changes nothing; `id`,
//! `meta` and other read-only attributes are refused (`mutability`); a `remove` that matches
//! nothing changes nothing.

use hallpass_core::scim::ScimKind;
use serde_json::{Map, Value};

use super::error::ScimError;
use super::filter::{self, AttrPath, CompareOp, Filter, get_ci};
use super::resource::{self, element};
use super::schema::{self, Attr, AttrType, Mutability};

/// The most operations one PATCH may carry.
pub const MAX_OPERATIONS: usize = 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Replace,
    Remove,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Operation {
    pub op: OpKind,
    pub path: Option<String>,
    pub value: Option<Value>,
}

/// Reads a PatchOp message.
pub fn parse_request(body: &Value) -> Result<Vec<Operation>, ScimError> {
    let Some(obj) = body.as_object() else {
        return Err(ScimError::invalid_syntax("a PATCH body is a JSON object"));
    };
    let lists_patch_op = get_ci(body, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|a| {
            a.iter().any(|s| {
                s.as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(schema::PATCH_OP))
            })
        });
    if !lists_patch_op {
        return Err(ScimError::invalid_syntax(format!(
            "a PATCH body's schemas must list {}",
            schema::PATCH_OP
        )));
    }
    let _ = obj;
    let ops = get_ci(body, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::invalid_syntax("a PATCH body needs an `Operations` array"))?;
    if ops.is_empty() || ops.len() > MAX_OPERATIONS {
        return Err(ScimError::invalid_syntax(format!(
            "a PATCH carries 1 to {MAX_OPERATIONS} operations"
        )));
    }
    ops.iter()
        .enumerate()
        .map(|(i, o)| {
            let n = i + 1;
            let op = match get_ci(o, "op")
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
            {
                Some(s) if s == "add" => OpKind::Add,
                Some(s) if s == "replace" => OpKind::Replace,
                Some(s) if s == "remove" => OpKind::Remove,
                other => {
                    return Err(ScimError::invalid_syntax(format!(
                        "operation {n}: `op` must be add, replace or remove, not {}",
                        other.map_or("missing".to_string(), |s| format!("`{s}`"))
                    )));
                }
            };
            let path = match get_ci(o, "path") {
                None | Some(Value::Null) => None,
                Some(Value::String(p)) if p.trim().is_empty() => None,
                Some(Value::String(p)) => Some(p.trim().to_string()),
                Some(_) => {
                    return Err(ScimError::invalid_path(format!(
                        "operation {n}: `path` must be a string"
                    )));
                }
            };
            let value = get_ci(o, "value").cloned();
            Ok(Operation { op, path, value })
        })
        .collect()
}

/// What a PATCH of `ops` makes of the stored resource `stored` of the resource `id`: the
/// resource repaired (`resource::repair`: an earlier hallpass stored values untyped), the
/// operations applied, the result normalised. Returns it, and the paths repair dropped.
pub fn patched(
    kind: ScimKind,
    id: &str,
    stored: &Value,
    ops: &[Operation],
) -> Result<(Value, Vec<String>), ScimError> {
    let mut v = stored.clone();
    let dropped = resource::repair(kind, &mut v)?;
    apply(kind, id, &mut v, ops)?;
    resource::normalize(kind, &mut v)?;
    Ok((v, dropped))
}

/// Applies `ops` to `resource` (the stored object, without `id` and `meta`) of the resource
/// `id`. On error `resource` is unchanged.
pub fn apply(
    kind: ScimKind,
    id: &str,
    resource: &mut Value,
    ops: &[Operation],
) -> Result<(), ScimError> {
    let mut work = match resource {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    for (i, o) in ops.iter().enumerate() {
        apply_one(kind, id, &mut work, o).map_err(|mut e| {
            e.detail = format!("operation {}: {}", i + 1, e.detail);
            e
        })?;
    }
    *resource = Value::Object(work);
    Ok(())
}

fn apply_one(
    kind: ScimKind,
    id: &str,
    res: &mut Map<String, Value>,
    o: &Operation,
) -> Result<(), ScimError> {
    match (&o.path, o.op) {
        (None, OpKind::Remove) => Err(ScimError::no_target("remove needs a `path`")),
        (None, op) => {
            let Some(Value::Object(value)) = &o.value else {
                return Err(ScimError::invalid_value(
                    "without a `path`, the value is an object of attributes",
                ));
            };
            for (k, v) in value {
                if k.eq_ignore_ascii_case("schemas") || k.eq_ignore_ascii_case("meta") {
                    continue;
                }
                if k.eq_ignore_ascii_case("id") {
                    if v.as_str() == Some(id) {
                        continue;
                    }
                    return Err(ScimError::mutability("`id` is read-only"));
                }
                if let Some(urn) = schema::known_urn(kind, k)
                    && urn != schema::core_urn(kind)
                {
                    let Value::Object(inner) = v else {
                        return Err(ScimError::invalid_value(format!(
                            "`{k}` holds an object of extension attributes"
                        )));
                    };
                    for (k2, v2) in inner {
                        let p = filter::attr_path(k2, 1, ScimError::invalid_path)?;
                        let p = AttrPath {
                            urn: Some(urn.to_string()),
                            ..p
                        };
                        at_path(kind, res, op, &p, None, None, Some(v2))?;
                    }
                    continue;
                }
                let p = filter::attr_path(k, 1, ScimError::invalid_path)?;
                at_path(kind, res, op, &p, None, None, Some(v))?;
            }
            Ok(())
        }
        (Some(path), op) => {
            let p = filter::parse_path(path)?;
            if op != OpKind::Remove && o.value.is_none() {
                return Err(ScimError::invalid_value(format!(
                    "{} needs a `value`",
                    if op == OpKind::Add { "add" } else { "replace" }
                )));
            }
            at_path(
                kind,
                res,
                op,
                &p.attr,
                p.filter.as_ref(),
                p.sub_after.as_deref(),
                o.value.as_ref(),
            )
        }
    }
}

/// The key of `obj` that matches `name` case-insensitively, if any.
fn key_of(obj: &Map<String, Value>, name: &str) -> Option<String> {
    if obj.contains_key(name) {
        return Some(name.to_string());
    }
    obj.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

/// The key to use for `name`: the existing one, else the schema's spelling, else as given.
fn key_for(obj: &Map<String, Value>, name: &str, def: Option<&Attr>) -> String {
    key_of(obj, name)
        .unwrap_or_else(|| def.map_or_else(|| name.to_string(), |d| d.name.to_string()))
}

/// The object a path's attribute lives in (an extension's object, made when `create`).
fn container<'a>(
    kind: ScimKind,
    res: &'a mut Map<String, Value>,
    urn: Option<&str>,
    create: bool,
) -> Result<Option<&'a mut Map<String, Value>>, ScimError> {
    let Some(u) = urn.filter(|u| !u.eq_ignore_ascii_case(schema::core_urn(kind))) else {
        return Ok(Some(res));
    };
    let known = schema::known_urn(kind, u);
    let key = match key_of(res, u) {
        Some(k) => k,
        None if create => {
            let Some(k) = known else {
                return Err(ScimError::invalid_path(format!(
                    "`{u}` is not a schema of this resource"
                )));
            };
            res.insert(k.to_string(), Value::Object(Map::new()));
            k.to_string()
        }
        None => return Ok(None),
    };
    match res.get_mut(&key) {
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(other) if create => {
            *other = Value::Object(Map::new());
            Ok(other.as_object_mut())
        }
        _ => Ok(None),
    }
}

/// A new element for a value filter that matched nothing: `type eq "work"` → `{"type":"work"}`.
fn synthesize(f: &Filter) -> Option<Map<String, Value>> {
    match f {
        Filter::Compare(p, CompareOp::Eq, v) if p.urn.is_none() && p.sub.is_none() => {
            let mut m = Map::new();
            m.insert(p.attr.clone(), v.clone());
            Some(m)
        }
        Filter::And(a, b) => {
            let mut m = synthesize(a)?;
            m.extend(synthesize(b)?);
            Some(m)
        }
        _ => None,
    }
}

/// Whether two multi-valued elements are the same value (by `value` when both have one).
fn same_element(a: &Value, b: &Value) -> bool {
    match (get_ci(a, "value"), get_ci(b, "value")) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn merge(into: &mut Map<String, Value>, from: &Map<String, Value>) {
    for (k, v) in from {
        let key = key_of(into, k).unwrap_or_else(|| k.clone());
        into.insert(key, v.clone());
    }
}

#[allow(clippy::too_many_arguments)]
fn at_path(
    kind: ScimKind,
    res: &mut Map<String, Value>,
    op: OpKind,
    p: &AttrPath,
    vfilter: Option<&Filter>,
    sub_after: Option<&str>,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    // A whole extension: `urn:…:enterprise:2.0:User`.
    if p.attr.is_empty() {
        let urn = p.urn.as_deref().unwrap_or_default();
        if schema::known_urn(kind, urn).is_none_or(|u| u == schema::core_urn(kind)) {
            return Err(ScimError::invalid_path(format!(
                "`{urn}` is not an extension of this resource"
            )));
        }
        match op {
            OpKind::Remove => {
                if let Some(k) = key_of(res, urn) {
                    res.remove(&k);
                }
            }
            _ => {
                let Some(Value::Object(v)) = value else {
                    return Err(ScimError::invalid_value(format!(
                        "`{urn}` takes an object of its attributes"
                    )));
                };
                let ext = container(kind, res, Some(urn), true)?
                    .ok_or_else(|| ScimError::invalid_path(format!("`{urn}`")))?;
                if op == OpKind::Replace {
                    ext.clear();
                }
                merge(ext, v);
            }
        }
        return Ok(());
    }
    let top = schema::find(kind, p.urn.as_deref(), &p.attr);
    let sub_name = p.sub.as_deref().or(sub_after);
    let sub = match (top, sub_name) {
        (Some(t), Some(s)) => schema::find_sub(t, s),
        _ => None,
    };
    let Some(top_def) = top else {
        return Err(ScimError::invalid_path(format!(
            "`{p}`: a {} has no attribute `{}` (/Schemas lists them)",
            kind.name(),
            p.attr
        )));
    };
    if let (Some(s), None) = (sub_name, sub) {
        return Err(ScimError::invalid_path(format!(
            "`{p}`: `{}` has no sub-attribute `{s}`",
            top_def.name
        )));
    }
    let read_only = top.is_some_and(|t| t.mutability == Mutability::ReadOnly)
        || sub.is_some_and(|s| s.mutability == Mutability::ReadOnly);
    if read_only {
        return Err(ScimError::mutability(format!("`{p}` is read-only")));
    }
    let Some(obj) = container(kind, res, p.urn.as_deref(), op != OpKind::Remove)? else {
        return Ok(()); // removing from an extension that is not there
    };
    let key = key_for(obj, &p.attr, top);
    let multi = top.is_some_and(|t| t.multi);

    if let Some(f) = vfilter {
        let parent = top
            .filter(|t| t.multi && t.ty == AttrType::Complex)
            .ok_or_else(|| {
                ScimError::invalid_path(format!(
                    "`{}` is not multi-valued: a value filter selects values of a list",
                    p.attr
                ))
            })?;
        f.check_in_element(parent)?;
        let items = match obj.get_mut(&key) {
            Some(Value::Array(a)) => a,
            Some(_) => {
                return Err(ScimError::invalid_path(format!(
                    "`{}` is not multi-valued",
                    p.attr
                )));
            }
            None if op == OpKind::Remove => return Ok(()),
            None => {
                obj.insert(key.clone(), Value::Array(vec![]));
                match obj.get_mut(&key) {
                    Some(Value::Array(a)) => a,
                    _ => return Err(ScimError::internal("invariant: just inserted")),
                }
            }
        };
        let hits: Vec<usize> = (0..items.len())
            .filter(|&i| f.matches_element(parent, &items[i]))
            .collect();
        match op {
            OpKind::Remove => {
                match sub_after {
                    None => {
                        let mut i = 0;
                        items.retain(|_| {
                            let keep = !hits.contains(&i);
                            i += 1;
                            keep
                        });
                    }
                    Some(s) => {
                        for &i in &hits {
                            if let Some(m) = items[i].as_object_mut()
                                && let Some(k) = key_of(m, s)
                            {
                                m.remove(&k);
                            }
                        }
                    }
                }
                if items.is_empty() {
                    obj.remove(&key);
                }
            }
            OpKind::Add | OpKind::Replace => {
                let v = value.cloned().unwrap_or(Value::Null);
                let set = |e: &mut Value| -> Result<(), ScimError> {
                    match sub_after {
                        Some(s) => {
                            let m = e.as_object_mut().ok_or_else(|| {
                                ScimError::invalid_path(format!("`{}` holds no objects", p.attr))
                            })?;
                            let k = key_of(m, s).unwrap_or_else(|| {
                                sub.map_or_else(|| s.to_string(), |d| d.name.to_string())
                            });
                            m.insert(k, v.clone());
                        }
                        None => {
                            let Value::Object(vm) = &v else {
                                return Err(ScimError::invalid_value(format!(
                                    "`{}` elements are objects",
                                    p.attr
                                )));
                            };
                            match (op, e.as_object_mut()) {
                                (OpKind::Add, Some(m)) => merge(m, vm),
                                _ => *e = v.clone(),
                            }
                        }
                    }
                    Ok(())
                };
                if hits.is_empty() {
                    let Some(seed) = synthesize(f) else {
                        return Err(ScimError::no_target(format!(
                            "no value of `{}` matches the filter",
                            p.attr
                        )));
                    };
                    let mut e = Value::Object(seed);
                    set(&mut e)?;
                    items.push(e);
                } else {
                    for &i in &hits {
                        set(&mut items[i])?;
                    }
                }
            }
        }
        return Ok(());
    }

    let v = value.cloned();
    match (op, &p.sub) {
        (OpKind::Remove, None) => {
            match (v, obj.get_mut(&key)) {
                // Entra ID: {"op":"Remove","path":"members","value":[{"value":"17"}]}
                (Some(v), Some(Value::Array(items))) if !v.is_null() => {
                    let gone: Vec<Value> = match v {
                        Value::Array(a) => a,
                        one => vec![one],
                    };
                    let gone: Vec<Value> = gone.into_iter().map(|g| element(top_def, g)).collect();
                    items.retain(|e| !gone.iter().any(|g| same_element(e, g)));
                    if items.is_empty() {
                        obj.remove(&key);
                    }
                }
                _ => {
                    obj.remove(&key);
                }
            }
        }
        (OpKind::Remove, Some(s)) => match obj.get_mut(&key) {
            Some(Value::Object(m)) => {
                if let Some(k) = key_of(m, s) {
                    m.remove(&k);
                }
            }
            Some(Value::Array(items)) => {
                for e in items.iter_mut() {
                    if let Some(m) = e.as_object_mut()
                        && let Some(k) = key_of(m, s)
                    {
                        m.remove(&k);
                    }
                }
            }
            _ => {}
        },
        (op, None) => {
            let v = v.unwrap_or(Value::Null);
            if multi {
                // In object form now, so a filter or a removal later in this PATCH sees it.
                let new: Vec<Value> = match v {
                    Value::Array(a) => a,
                    Value::Null => vec![],
                    one => vec![one],
                }
                .into_iter()
                .map(|e| element(top_def, e))
                .collect();
                match (op, obj.get_mut(&key)) {
                    (OpKind::Add, Some(Value::Array(items))) => {
                        for n in new {
                            match items.iter_mut().find(|e| same_element(e, &n)) {
                                Some(e) => *e = n,
                                None => items.push(n),
                            }
                        }
                    }
                    _ => {
                        obj.insert(key, Value::Array(new));
                    }
                }
            } else {
                match (op, obj.get_mut(&key), &v) {
                    (OpKind::Add, Some(Value::Object(m)), Value::Object(vm)) => merge(m, vm),
                    _ => {
                        obj.insert(key, v);
                    }
                }
            }
        }
        (_, Some(s)) => {
            let v = v.unwrap_or(Value::Null);
            let entry = obj
                .entry(key.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            match entry {
                Value::Object(m) => {
                    let k = key_of(m, s)
                        .unwrap_or_else(|| sub.map_or_else(|| s.clone(), |d| d.name.to_string()));
                    m.insert(k, v);
                }
                Value::Array(_) => {
                    return Err(ScimError::invalid_path(format!(
                        "`{p}`: `{}` is multi-valued; select values with a filter like `{}[type eq \"work\"].{s}`",
                        p.attr, p.attr
                    )));
                }
                other => {
                    let mut m = Map::new();
                    m.insert(s.clone(), v);
                    *other = Value::Object(m);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ENT: &str = schema::ENTERPRISE_USER;

    fn user() -> Value {
        json!({
            "userName": "ada",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "active": true,
            "emails": [{"value": "ada@example.com", "type": "work", "primary": true}],
        })
    }

    fn run(kind: ScimKind, start: Value, ops: Value) -> Result<Value, ScimError> {
        let body = json!({"schemas": [schema::PATCH_OP], "Operations": ops});
        let ops = parse_request(&body)?;
        let mut v = start;
        apply(kind, "7", &mut v, &ops)?;
        Ok(v)
    }

    #[test]
    fn every_patch_form_applies() {
        // (ops, pointer, expected value at the pointer)
        let (mgr, dept, mgr_value) = (
            format!("/{ENT}/manager"),
            format!("/{ENT}/department"),
            format!("/{ENT}/manager/value"),
        );
        let cases: Vec<(Value, &str, Value)> = vec![
            (
                json!([{"op": "replace", "path": "active", "value": false}]),
                "/active",
                json!(false),
            ),
            // Entra ID: capitalised op, string boolean (converted later by normalize).
            (
                json!([{"op": "Replace", "path": "active", "value": "False"}]),
                "/active",
                json!("False"),
            ),
            // Okta: no path, an object of attributes.
            (
                json!([{"op": "replace", "value": {"active": false}}]),
                "/active",
                json!(false),
            ),
            // Entra ID: dotted keys without a path.
            (
                json!([{"op": "Replace", "value": {"name.givenName": "Augusta"}}]),
                "/name/givenName",
                json!("Augusta"),
            ),
            (
                json!([{"op": "replace", "path": "name.familyName", "value": "King"}]),
                "/name/familyName",
                json!("King"),
            ),
            (
                json!([{"op": "add", "path": "NAME.middleName", "value": "B"}]),
                "/name/middleName",
                json!("B"),
            ),
            (
                json!([{"op": "add", "value": {"title": "Countess"}}]),
                "/title",
                json!("Countess"),
            ),
            (
                json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "a@x.io"}]),
                "/emails/0/value",
                json!("a@x.io"),
            ),
            // A value filter that matches nothing makes the element (Entra ID adds emails so).
            (
                json!([{"op": "Add", "path": "emails[type eq \"home\"].value", "value": "h@x.io"}]),
                "/emails/1",
                json!({"type": "home", "value": "h@x.io"}),
            ),
            (
                json!([{"op": "add", "path": "emails", "value": [{"value": "b@x.io"}]}]),
                "/emails/1/value",
                json!("b@x.io"),
            ),
            (
                json!([{"op": "remove", "path": "emails[type eq \"work\"]"}]),
                "/emails",
                Value::Null,
            ),
            (
                json!([{"op": "remove", "path": "name.givenName"}]),
                "/name/givenName",
                Value::Null,
            ),
            (
                json!([{"op": "remove", "path": "emails[type eq \"work\"].primary"}]),
                "/emails/0/primary",
                Value::Null,
            ),
            // Entra ID: the manager as a bare id on the extension path.
            (
                json!([{"op": "Add", "path": format!("{ENT}:manager"), "value": "3"}]),
                &mgr,
                json!("3"),
            ),
            (
                json!([{"op": "add", "path": ENT, "value": {"department": "R&D"}}]),
                &dept,
                json!("R&D"),
            ),
            (
                json!([{"op": "replace", "value": {ENT: {"manager": {"value": "4"}}}}]),
                &mgr_value,
                json!("4"),
            ),
            (
                json!([{"op": "replace", "value": {"id": "7", "userName": "ada2"}}]),
                "/userName",
                json!("ada2"),
            ),
            (
                json!([{"op": "remove", "path": "title"}]),
                "/title",
                Value::Null,
            ),
        ];
        for (ops, ptr, want) in cases {
            let got =
                run(ScimKind::User, user(), ops.clone()).unwrap_or_else(|e| panic!("{ops}: {e}"));
            assert_eq!(
                got.pointer(ptr).cloned().unwrap_or(Value::Null),
                want,
                "{ops} → {got}"
            );
        }
    }

    #[test]
    fn group_members_add_and_remove_in_every_form() {
        let g = json!({"displayName": "Ops", "members": [{"value": "1"}, {"value": "2"}, {"value": "3"}]});
        let members = |v: &Value| -> Vec<String> {
            v["members"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|m| m["value"].as_str().unwrap().to_string())
                        .collect()
                })
                .unwrap_or_default()
        };
        let cases = [
            (
                json!([{"op": "add", "path": "members", "value": [{"value": "4", "display": "D"}, {"value": "1"}]}]),
                vec!["1", "2", "3", "4"],
            ),
            (
                json!([{"op": "remove", "path": "members[value eq \"2\"]"}]),
                vec!["1", "3"],
            ),
            (
                json!([{"op": "Remove", "path": "members", "value": [{"value": "1"}, {"value": "3"}]}]),
                vec!["2"],
            ),
            (json!([{"op": "remove", "path": "members"}]), vec![]),
            (
                json!([{"op": "replace", "path": "members", "value": [{"value": "9"}]}]),
                vec!["9"],
            ),
            (
                json!([{"op": "remove", "path": "members[value eq \"99\"]"}]),
                vec!["1", "2", "3"],
            ),
            (
                json!([{"op": "replace", "value": {"id": "7", "displayName": "Ops2"}}, {"op": "add", "path": "members", "value": [{"value": "5"}]}]),
                vec!["1", "2", "3", "5"],
            ),
            // Bare ids, then the forms that remove them in the same PATCH (found reviewing
            // the scim_patch target: a bare id added was missed by a later filter or value,
            // and came back as a member once the resource was normalised).
            (
                json!([{"op": "add", "path": "members", "value": ["7", "8"]},
                       {"op": "remove", "path": "members[value eq \"7\"]"},
                       {"op": "Remove", "path": "members", "value": [{"value": "8"}]}]),
                vec!["1", "2", "3"],
            ),
            (
                json!([{"op": "remove", "path": "members", "value": ["1", 2]}]),
                vec!["2", "3"],
            ),
        ];
        for (ops, want) in cases {
            let got = run(ScimKind::Group, g.clone(), ops.clone())
                .unwrap_or_else(|e| panic!("{ops}: {e}"));
            assert_eq!(members(&got), want, "{ops}");
        }
    }

    #[test]
    fn refusals_name_the_rfc_error_and_change_nothing() {
        let cases = [
            (json!([{"op": "remove"}]), "noTarget"),
            (
                json!([{"op": "replace", "path": "emails[value co \"zzz\"].type", "value": "w"}]),
                "noTarget",
            ),
            (
                json!([{"op": "replace", "path": "id", "value": "8"}]),
                "mutability",
            ),
            (
                // A value filter on a single value (found reviewing the scim_patch target:
                // it made the absent manager a list).
                json!([{"op": "add", "path": format!("{ENT}:manager[value eq \"3\"].value"), "value": "3"}]),
                "invalidPath",
            ),
            (
                json!([{"op": "replace", "path": "meta.created", "value": "x"}]),
                "mutability",
            ),
            (
                json!([{"op": "replace", "value": {"id": "8"}}]),
                "mutability",
            ),
            (
                json!([{"op": "add", "path": "groups", "value": [{"value": "g"}]}]),
                "mutability",
            ),
            (
                json!([{"op": "replace", "path": "emails[", "value": "x"}]),
                "invalidPath",
            ),
            (
                json!([{"op": "replace", "path": "emails[nope eq \"x\"].value", "value": "x"}]),
                "invalidPath",
            ),
            (
                json!([{"op": "replace", "path": "emails.value", "value": "x"}]),
                "invalidPath",
            ),
            (json!([{"op": "add", "path": "title"}]), "invalidValue"),
            (
                json!([{"op": "replace", "value": "not an object"}]),
                "invalidValue",
            ),
            (json!([{"op": "move", "path": "title"}]), "invalidSyntax"),
            (
                json!([{"op": "add", "path": "title", "value": "x"}, {"op": "replace", "path": "id", "value": "8"}]),
                "mutability",
            ),
        ];
        for (ops, want) in cases {
            let body = json!({"schemas": [schema::PATCH_OP], "Operations": ops});
            let mut v = user();
            let r = parse_request(&body).and_then(|o| apply(ScimKind::User, "7", &mut v, &o));
            let e = r.expect_err(&ops.to_string());
            assert_eq!(e.scim_type, Some(want), "{ops}: {e}");
            assert_eq!(v, user(), "{ops} changed the resource");
        }
        for bad in [
            json!({"Operations": []}),
            json!({"schemas": ["x"], "Operations": [{"op": "add"}]}),
            json!([]),
        ] {
            assert_eq!(
                parse_request(&bad).unwrap_err().scim_type,
                Some("invalidSyntax"),
                "{bad}"
            );
        }
    }
}
