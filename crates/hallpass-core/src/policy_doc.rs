//! Policy as code: integrations, bundles and flows as one document (`[[integration]]`,
//! `[[bundle]]`, `[[flow]]` in TOML), the plan that turns the current policy into it, and the
//! checks the end state must pass. Invariants: everything here is pure; a plan's fingerprint
//! changes whenever the current policy or the document does, so applying a reviewed plan can
//! refuse a policy that moved in between; the end state is checked whole (references resolve,
//! nothing deleted is still named) before anything is written.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::DomainError;
use crate::flow::Flow;
use crate::integration::{Bundle, Integration};
use crate::time::Timestamp;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDoc {
    #[serde(default, rename = "integration")]
    pub integrations: Vec<Integration>,
    #[serde(default, rename = "bundle")]
    pub bundles: Vec<Bundle>,
    #[serde(default, rename = "flow")]
    pub flows: Vec<Flow>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanOp {
    Create,
    Update,
    Delete,
}

/// One field that changes: a dotted path, its value before and after (JSON text).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDiff {
    pub path: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanChange {
    /// `integration`, `bundle` or `flow`.
    pub kind: String,
    pub name: String,
    pub op: PlanOp,
    pub fields: Vec<FieldDiff>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyPlan {
    pub changes: Vec<PlanChange>,
    /// Of the current policy, the document and `prune`: apply with it to refuse a policy that
    /// changed since this plan was shown.
    pub fingerprint: String,
    /// Whether the plan was written (false for a dry run).
    #[serde(default)]
    pub applied: bool,
}

/// An object as the plan compares it: JSON without `updated_at`.
fn comparable<T: Serialize>(v: &T) -> Value {
    let mut j = serde_json::to_value(v).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut j {
        m.remove("updated_at");
    }
    j
}

/// Objects of one kind by name, as comparable JSON.
fn by_name<T: Serialize>(items: &[T], name: impl Fn(&T) -> String) -> BTreeMap<String, Value> {
    items.iter().map(|i| (name(i), comparable(i))).collect()
}

fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&p, v, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

fn field_diffs(before: Option<&Value>, after: Option<&Value>) -> Vec<FieldDiff> {
    let mut b = BTreeMap::new();
    let mut a = BTreeMap::new();
    if let Some(v) = before {
        flatten("", v, &mut b);
    }
    if let Some(v) = after {
        flatten("", v, &mut a);
    }
    let paths: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
    paths
        .into_iter()
        .filter(|p| b.get(*p) != a.get(*p))
        .map(|p| FieldDiff {
            path: p.clone(),
            before: b.get(p).cloned(),
            after: a.get(p).cloned(),
        })
        .collect()
}

fn kind_changes(
    kind: &str,
    current: &BTreeMap<String, Value>,
    desired: &BTreeMap<String, Value>,
    prune: bool,
    out: &mut Vec<PlanChange>,
) {
    for (name, want) in desired {
        match current.get(name) {
            None => out.push(PlanChange {
                kind: kind.into(),
                name: name.clone(),
                op: PlanOp::Create,
                fields: field_diffs(None, Some(want)),
            }),
            Some(have) if have != want => out.push(PlanChange {
                kind: kind.into(),
                name: name.clone(),
                op: PlanOp::Update,
                fields: field_diffs(Some(have), Some(want)),
            }),
            Some(_) => {}
        }
    }
    if prune {
        for (name, have) in current {
            if !desired.contains_key(name) {
                out.push(PlanChange {
                    kind: kind.into(),
                    name: name.clone(),
                    op: PlanOp::Delete,
                    fields: field_diffs(Some(have), None),
                });
            }
        }
    }
}

impl PolicyDoc {
    /// The document as TOML (the form `hallpass export` writes and `hallpass apply` reads),
    /// without the daemon's `updated_at` stamps.
    pub fn to_toml(&self) -> Result<String, String> {
        let mut v = toml::Value::try_from(self)
            .map_err(|e| format!("cannot encode the policy as TOML: {e}"))?;
        if let toml::Value::Table(t) = &mut v {
            for kind in KINDS {
                match t.get_mut(kind) {
                    Some(toml::Value::Array(items)) if items.is_empty() => {
                        t.remove(kind);
                    }
                    Some(toml::Value::Array(items)) => {
                        for item in items {
                            if let toml::Value::Table(o) = item {
                                o.remove("updated_at");
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        toml::to_string_pretty(&v).map_err(|e| format!("cannot encode the policy as TOML: {e}"))
    }

    /// Parses a policy document; a syntax or type error names the line and column.
    pub fn from_toml(text: &str) -> Result<PolicyDoc, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }
}

/// The table names of a policy document's three kinds of object.
pub const KINDS: [&str; 3] = ["integration", "bundle", "flow"];

/// The 1-based line of the `[[kind]]` table whose `name` is `name`, in a policy document's text.
pub fn line_of(text: &str, kind: &str, name: &str) -> Option<usize> {
    let header = format!("[[{kind}]]");
    let mut in_kind = false;
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.starts_with('[') {
            in_kind = l == header;
            continue;
        }
        if in_kind
            && let Some(v) = l.strip_prefix("name")
            && v.trim_start().starts_with('=')
            && v.contains(&format!("\"{name}\""))
        {
            return Some(i + 1);
        }
    }
    None
}

/// Where a refusal about `field` ("flow db-read: max_duration", the form the daemon's checks
/// name objects in) points in a policy document's text: the object's line.
pub fn line_of_field(text: &str, field: &str) -> Option<usize> {
    let mut words = field.split_whitespace();
    let (kind, name) = (words.next()?, words.next()?);
    line_of(text, kind, name.trim_end_matches(':'))
}

impl PolicyDoc {
    fn maps(&self) -> [(&'static str, BTreeMap<String, Value>); 3] {
        [
            (
                "integration",
                by_name(&self.integrations, |i| i.name.to_string()),
            ),
            ("bundle", by_name(&self.bundles, |b| b.name.to_string())),
            ("flow", by_name(&self.flows, |f| f.name.to_string())),
        ]
    }

    /// Sorted by name within each kind, `updated_at` cleared: the form export writes.
    pub fn normalized(mut self) -> PolicyDoc {
        self.integrations.sort_by(|a, b| a.name.cmp(&b.name));
        self.bundles.sort_by(|a, b| a.name.cmp(&b.name));
        self.flows.sort_by(|a, b| a.name.cmp(&b.name));
        for i in &mut self.integrations {
            i.updated_at = Timestamp::default();
        }
        for b in &mut self.bundles {
            b.updated_at = Timestamp::default();
        }
        for f in &mut self.flows {
            f.updated_at = Timestamp::default();
        }
        self
    }

    /// Each object valid on its own, and no name twice within a kind.
    pub fn check(&self) -> Result<(), DomainError> {
        let mut seen = BTreeSet::new();
        for i in &self.integrations {
            if !seen.insert(("integration", i.name.to_string())) {
                return Err(dup("integration", i.name.as_str()));
            }
            i.validate()
                .map_err(|e| within("integration", i.name.as_str(), e))?;
        }
        for b in &self.bundles {
            if !seen.insert(("bundle", b.name.to_string())) {
                return Err(dup("bundle", b.name.as_str()));
            }
            if b.targets.is_empty() {
                return Err(within(
                    "bundle",
                    b.name.as_str(),
                    DomainError::invalid("targets", "a bundle needs at least one target"),
                ));
            }
            let unique: BTreeSet<_> = b.targets.iter().collect();
            if unique.len() != b.targets.len() {
                return Err(within(
                    "bundle",
                    b.name.as_str(),
                    DomainError::invalid("targets", "a target is listed twice"),
                ));
            }
        }
        for f in &self.flows {
            if !seen.insert(("flow", f.name.to_string())) {
                return Err(dup("flow", f.name.as_str()));
            }
            f.validate()
                .map_err(|e| within("flow", f.name.as_str(), e))?;
        }
        Ok(())
    }

    /// References within the (end-state) policy resolve: bundle and flow targets are offered
    /// by their integration, flows' bundles exist. (Groups and users are checked by the
    /// daemon, which knows them.)
    pub fn check_references(&self) -> Result<(), DomainError> {
        let integrations: BTreeMap<&str, &Integration> = self
            .integrations
            .iter()
            .map(|i| (i.name.as_str(), i))
            .collect();
        let offered = |kind: &str, name: &str, t: &crate::integration::Target| match integrations
            .get(t.integration.as_str())
        {
            None => Err(within(
                kind,
                name,
                DomainError::invalid(
                    "targets",
                    format!("{t}: no integration named {}", t.integration),
                ),
            )),
            Some(i) if !i.offers(&t.resource, &t.permission) => Err(within(
                kind,
                name,
                DomainError::invalid(
                    "targets",
                    format!(
                        "{t}: integration {} does not declare resource {} with permission {}",
                        t.integration, t.resource, t.permission
                    ),
                ),
            )),
            Some(_) => Ok(()),
        };
        let bundles: BTreeSet<&str> = self.bundles.iter().map(|b| b.name.as_str()).collect();
        for b in &self.bundles {
            for t in &b.targets {
                offered("bundle", b.name.as_str(), t)?;
            }
        }
        for f in &self.flows {
            for t in &f.targets.resources {
                offered("flow", f.name.as_str(), t)?;
            }
            for b in &f.targets.bundles {
                if !bundles.contains(b.as_str()) {
                    return Err(within(
                        "flow",
                        f.name.as_str(),
                        DomainError::invalid("targets", format!("no bundle named {b}")),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The plan from `self` (the current policy) to `desired`.
    pub fn plan_to(&self, desired: &PolicyDoc, prune: bool) -> PolicyPlan {
        let mut changes = Vec::new();
        for ((kind, have), (_, want)) in self.maps().iter().zip(desired.maps().iter()) {
            kind_changes(kind, have, want, prune, &mut changes);
        }
        let mut h = Sha256::new();
        h.update(serde_json::to_vec(&self.maps().map(|(_, m)| m)).unwrap_or_default());
        h.update(serde_json::to_vec(&desired.maps().map(|(_, m)| m)).unwrap_or_default());
        h.update([u8::from(prune)]);
        PolicyPlan {
            changes,
            fingerprint: hex::encode(&h.finalize()[..12]),
            applied: false,
        }
    }

    /// The policy after applying `desired` to `self`: its objects replace or add to the
    /// current ones; with `prune`, current objects it does not name are gone.
    pub fn end_state(&self, desired: &PolicyDoc, prune: bool) -> PolicyDoc {
        fn merge<T: Clone>(
            have: &[T],
            want: &[T],
            name: impl Fn(&T) -> String,
            prune: bool,
        ) -> Vec<T> {
            let wanted: BTreeSet<String> = want.iter().map(&name).collect();
            let mut out: Vec<T> = if prune {
                vec![]
            } else {
                have.iter()
                    .filter(|h| !wanted.contains(&name(h)))
                    .cloned()
                    .collect()
            };
            out.extend(want.iter().cloned());
            out
        }
        PolicyDoc {
            integrations: merge(
                &self.integrations,
                &desired.integrations,
                |i| i.name.to_string(),
                prune,
            ),
            bundles: merge(
                &self.bundles,
                &desired.bundles,
                |b| b.name.to_string(),
                prune,
            ),
            flows: merge(&self.flows, &desired.flows, |f| f.name.to_string(), prune),
        }
    }
}

fn dup(kind: &str, name: &str) -> DomainError {
    DomainError::invalid(kind, format!("{kind} `{name}` is defined twice"))
}

/// Prefixes an object's error with what it is about: `flow db-read: max_duration: …`.
fn within(kind: &str, name: &str, e: DomainError) -> DomainError {
    match e {
        DomainError::InvalidInput { field, why } => {
            DomainError::invalid(format!("{kind} {name}: {field}"), why)
        }
        other => DomainError::invalid(format!("{kind} {name}"), other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{BundleName, IntegrationName};
    use crate::integration::{Connector, ResourceDef};

    fn noop(name: &str, perms: &[&str]) -> Integration {
        Integration {
            name: IntegrationName::new(name).unwrap(),
            connector: Connector::Noop,
            resources: vec![ResourceDef {
                name: "db".into(),
                permissions: perms.iter().map(|p| p.to_string()).collect(),
                description: String::new(),
            }],
            description: String::new(),
            updated_at: Timestamp(5),
        }
    }

    fn bundle(name: &str, target: &str) -> Bundle {
        Bundle {
            name: BundleName::new(name).unwrap(),
            description: String::new(),
            targets: vec![target.parse().unwrap()],
            updated_at: Timestamp(7),
        }
    }

    #[test]
    fn plans_create_update_delete_with_field_diffs_and_ignore_updated_at() {
        let current = PolicyDoc {
            integrations: vec![noop("a", &["read"]), noop("gone", &["read"])],
            ..Default::default()
        };
        let mut same = noop("a", &["read"]);
        same.updated_at = Timestamp(99);
        let desired = PolicyDoc {
            integrations: vec![same, noop("b", &["read"])],
            bundles: vec![bundle("bb", "b/db/read")],
            flows: vec![],
        };
        let plan = current.plan_to(&desired, false);
        let ops: Vec<_> = plan
            .changes
            .iter()
            .map(|c| (c.kind.as_str(), c.name.as_str(), c.op))
            .collect();
        assert_eq!(
            ops,
            vec![
                ("integration", "b", PlanOp::Create),
                ("bundle", "bb", PlanOp::Create)
            ]
        );
        let pruned = current.plan_to(&desired, true);
        assert!(
            pruned
                .changes
                .iter()
                .any(|c| c.name == "gone" && c.op == PlanOp::Delete)
        );
        assert_ne!(plan.fingerprint, pruned.fingerprint);

        let changed = PolicyDoc {
            integrations: vec![noop("a", &["read", "write"])],
            ..Default::default()
        };
        let up = current.plan_to(&changed, false);
        assert_eq!(up.changes.len(), 1);
        assert_eq!(up.changes[0].op, PlanOp::Update);
        assert_eq!(up.changes[0].fields[0].path, "resources");
    }

    #[test]
    fn the_end_state_must_resolve_its_references() {
        let current = PolicyDoc {
            integrations: vec![noop("a", &["read"])],
            bundles: vec![bundle("bb", "a/db/read")],
            flows: vec![],
        };
        // Pruning the integration a kept bundle uses is refused.
        let end = current.end_state(
            &PolicyDoc {
                bundles: vec![bundle("bb", "a/db/read")],
                ..Default::default()
            },
            true,
        );
        let e = end.check_references().unwrap_err().to_string();
        assert!(
            e.contains("bundle bb") && e.contains("no integration named a"),
            "{e}"
        );
        // Without prune the integration stays.
        let end = current.end_state(
            &PolicyDoc {
                bundles: vec![bundle("bb", "a/db/read")],
                ..Default::default()
            },
            false,
        );
        end.check_references().unwrap();
        // A permission that is not offered.
        let bad = PolicyDoc {
            bundles: vec![bundle("x", "a/db/write")],
            ..Default::default()
        };
        let e = current
            .end_state(&bad, false)
            .check_references()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("bundle x") && e.contains("does not declare"),
            "{e}"
        );
    }

    #[test]
    fn duplicates_and_invalid_objects_name_the_object() {
        let doc = PolicyDoc {
            integrations: vec![noop("a", &["read"]), noop("a", &["read"])],
            ..Default::default()
        };
        assert!(
            doc.check()
                .unwrap_err()
                .to_string()
                .contains("`a` is defined twice")
        );
        let empty = PolicyDoc {
            integrations: vec![Integration {
                resources: vec![],
                ..noop("z", &["read"])
            }],
            ..Default::default()
        };
        let e = empty.check().unwrap_err().to_string();
        assert!(e.contains("integration z: resources"), "{e}");
    }
}
