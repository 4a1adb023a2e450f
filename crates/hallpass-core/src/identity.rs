//! Synced identities: what a directory (LDAP, SCIM, a file) says about people and groups, and
//! how that maps onto [`User`]s and [`Group`]s. Invariant: a source only ever owns what it
//! created or claimed — its link on a user (`User::sources`) and the groups it names
//! (`Group::source`); local groups, invites and roles are never touched by a sync.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::id::{GroupName, SourceName, UserId};
use crate::time::Timestamp;
use crate::user::{Group, User, normalize_email, validate_person_name, validate_phone};

/// The longest external id or login a source may send.
pub const MAX_EXTERNAL_ID_LEN: usize = 512;

/// One person as a source describes them. `external_id` is the source's own stable key (an
/// LDAP DN or entryUUID, a SCIM id, a file's login column).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonRecord {
    pub external_id: String,
    /// Matched against the OS user name on first contact (e.g. LDAP `uid`, SCIM `userName`).
    #[serde(default)]
    pub login: Option<String>,
    pub email: String,
    pub name: String,
    #[serde(default)]
    pub phone: Option<String>,
    /// The manager's `external_id` in the same source.
    #[serde(default)]
    pub manager: Option<String>,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

/// One group as a source describes it, with its members' external ids. Sources flatten nested
/// groups before they hand a record over: `members` is every person in the group, directly or
/// through a nested group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRecord {
    pub external_id: String,
    pub name: GroupName,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub members: Vec<String>,
}

/// Everything one source holds, as of one read. A snapshot replaces what the source said
/// before: people it no longer lists are deactivated, groups it no longer lists are removed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub people: Vec<PersonRecord>,
    pub groups: Vec<GroupRecord>,
    /// External ids of people the source lists but whose records it could not read (an LDAP
    /// entry with a missing or unusable attribute, reported as skipped): they are not gone, so
    /// nobody is deactivated because their entry went bad, and a group's `members` may name
    /// them (a linked person keeps those groups).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<String>,
}

/// Which source owns a group, under what id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSource {
    pub source: SourceName,
    pub external_id: String,
}

/// A validated [`PersonRecord`]: e-mail normalised, name and phone checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    pub external_id: String,
    pub login: Option<String>,
    pub email: String,
    pub name: String,
    pub phone: Option<String>,
    pub manager: Option<String>,
    pub active: bool,
}

/// A record that cannot be used, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordError {
    /// Which record: `person "uid=ada,ou=people,dc=example,dc=com"`, `row 7`, …
    pub record: String,
    pub field: String,
    pub why: String,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.record, self.field, self.why)
    }
}

/// One sync of one source: what it found, what it changed (or, on a dry run, would change),
/// and why it refused, if it did. The newest report of each source is kept for `sync status`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncReport {
    pub source: Option<SourceName>,
    pub dry_run: bool,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    /// People and groups the source returned.
    pub people_seen: u32,
    pub groups_seen: u32,
    pub added: u32,
    pub updated: u32,
    pub unchanged: u32,
    pub deactivated: u32,
    pub reactivated: u32,
    pub groups_added: u32,
    pub groups_updated: u32,
    pub groups_removed: u32,
    /// Pending requests cancelled and grants revoked because their holder stopped qualifying.
    pub requests_cancelled: u32,
    pub grants_revoked: u32,
    /// Records skipped (lenient sources) or that refused the whole run (strict ones).
    pub errors: Vec<RecordError>,
    /// Set when the run changed nothing because the source looked wrong (an error, an
    /// implausibly small result, a strict source with bad records).
    pub refused: Option<String>,
    /// Per-person and per-group changes, newest run only, capped (see `changes_truncated`).
    pub changes: Vec<Change>,
    pub changes_truncated: bool,
}

/// One line of a sync's diff.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub kind: ChangeKind,
    /// An e-mail for a person, a group name for a group.
    pub what: String,
    #[serde(default)]
    pub fields: FieldChanges,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Add,
    Update,
    Deactivate,
    Reactivate,
    AddGroup,
    UpdateGroup,
    RemoveGroup,
}

impl ChangeKind {
    /// The sign a diff line starts with.
    pub fn sign(self) -> &'static str {
        match self {
            ChangeKind::Add | ChangeKind::AddGroup | ChangeKind::Reactivate => "+",
            ChangeKind::Update | ChangeKind::UpdateGroup => "~",
            ChangeKind::Deactivate | ChangeKind::RemoveGroup => "-",
        }
    }
}

/// Checks an external id or login: non-empty, bounded, no control characters.
pub fn validate_external_id(field: &'static str, s: &str) -> Result<String, DomainError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(DomainError::invalid(field, "must not be empty"));
    }
    if t.len() > MAX_EXTERNAL_ID_LEN || t.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            field,
            format!("must be at most {MAX_EXTERNAL_ID_LEN} printable characters"),
        ));
    }
    Ok(t.to_string())
}

impl PersonRecord {
    /// Validates every field; the error names the field.
    pub fn validate(&self) -> Result<Person, DomainError> {
        Ok(Person {
            external_id: validate_external_id("external_id", &self.external_id)?,
            login: self
                .login
                .as_deref()
                .filter(|l| !l.trim().is_empty())
                .map(|l| validate_external_id("login", l))
                .transpose()?,
            email: normalize_email(&self.email)?,
            name: validate_person_name(&self.name)?,
            phone: self
                .phone
                .as_deref()
                .filter(|p| !p.trim().is_empty())
                .map(validate_phone)
                .transpose()?,
            manager: self
                .manager
                .as_deref()
                .filter(|m| !m.trim().is_empty())
                .map(|m| validate_external_id("manager", m))
                .transpose()?,
            active: self.active,
        })
    }
}

/// What changed on a user (for the dry-run diff and the audit summary).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChanges(pub BTreeMap<String, (String, String)>);

impl FieldChanges {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Records `field` when it changed; formats only then (a sync compares every field of
    /// every person, and nearly all are equal).
    fn note<T: PartialEq + fmt::Display + ?Sized>(&mut self, field: &str, before: &T, after: &T) {
        if before != after {
            self.0
                .insert(field.to_string(), (before.to_string(), after.to_string()));
        }
    }
}

impl fmt::Display for FieldChanges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (field, (b, a)) in &self.0 {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{field}: {b:?} → {a:?}")?;
        }
        Ok(())
    }
}

fn opt(o: &Option<String>) -> &str {
    o.as_deref().unwrap_or("")
}

/// What applying a person's directory fields to `user` would change (see [`merge_person`]),
/// without changing it.
pub fn person_changes(
    user: &User,
    source: &SourceName,
    p: &Person,
    manager: Option<UserId>,
) -> FieldChanges {
    let mut ch = FieldChanges::default();
    ch.note("email", user.email.as_str(), p.email.as_str());
    ch.note("name", user.name.as_str(), p.name.as_str());
    ch.note("phone", opt(&user.phone), opt(&p.phone));
    ch.note("login", opt(&user.login), opt(&p.login));
    if user.manager != manager {
        let show = |m: Option<UserId>| m.map(|m| m.to_string()).unwrap_or_default();
        ch.note(
            "manager",
            show(user.manager).as_str(),
            show(manager).as_str(),
        );
    }
    let old_link = user.sources.get(source).map_or("", String::as_str);
    ch.note("external_id", old_link, p.external_id.as_str());
    ch
}

/// Applies a person's directory fields (e-mail, name, phone, login, manager, the source link)
/// to `user` and says what changed. Role, status, OS account, SSH keys and groups are not
/// touched here.
pub fn merge_person(
    user: &mut User,
    source: &SourceName,
    p: &Person,
    manager: Option<UserId>,
) -> FieldChanges {
    let ch = person_changes(user, source, p, manager);
    user.email = p.email.clone();
    user.name = p.name.clone();
    user.phone = p.phone.clone();
    user.login = p.login.clone();
    user.manager = manager;
    user.sources.insert(source.clone(), p.external_id.clone());
    ch
}

/// A group this source describes, as it should be stored (members already resolved to ids).
pub fn group_from_record(
    source: &SourceName,
    r: &GroupRecord,
    members: std::collections::BTreeSet<UserId>,
    existing: Option<&Group>,
    now: Timestamp,
) -> Group {
    Group {
        name: r.name.clone(),
        description: r.description.clone(),
        members,
        created_at: existing.map_or(now, |g| g.created_at),
        source: Some(GroupSource {
            source: source.clone(),
            external_id: r.external_id.clone(),
        }),
    }
}

/// Turns a directory name (`Platform Team`, `CN=SRE`) into a group name hallpass accepts:
/// lowercase, runs of anything else become one `-`.
pub fn group_name_from(s: &str) -> Result<GroupName, DomainError> {
    let mut out = String::with_capacity(s.len());
    for c in s.trim().chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-') {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed = out.trim_matches('-');
    GroupName::new(trimmed.to_string())
        .map_err(|_| DomainError::invalid("group", format!("`{s}` makes no usable group name")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec() -> PersonRecord {
        PersonRecord {
            external_id: "uid=ada,ou=people".into(),
            login: Some("ada".into()),
            email: " Ada@Example.com".into(),
            name: "Ada Lovelace".into(),
            phone: Some(String::new()),
            manager: None,
            active: true,
        }
    }

    #[test]
    fn records_validate_and_normalise() {
        let p = rec().validate().unwrap();
        assert_eq!(p.email, "ada@example.com");
        assert_eq!(p.phone, None, "an empty phone is no phone");
        let mut bad = rec();
        bad.email = "nope".into();
        assert!(bad.validate().unwrap_err().to_string().contains("email"));
        let mut bad = rec();
        bad.external_id = " ".into();
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("external_id")
        );
    }

    #[test]
    fn directory_names_become_group_names() {
        assert_eq!(
            group_name_from("Platform Team").unwrap().as_str(),
            "platform-team"
        );
        assert_eq!(group_name_from("  SRE ").unwrap().as_str(), "sre");
        assert_eq!(group_name_from("db_admins").unwrap().as_str(), "db_admins");
        assert!(group_name_from("!!!").is_err());
    }

    #[test]
    fn field_changes_list_only_what_differs() {
        let mut ch = FieldChanges::default();
        ch.note("name", "A", "A");
        ch.note("email", "a@x.io", "b@x.io");
        assert_eq!(ch.to_string(), r#"email: "a@x.io" → "b@x.io""#);
    }
}
