//! People: users, their roles and lifecycle, groups and invites.
//! Invariant: a user is bound to at most one OS uid, and only an Active user acts.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use std::collections::BTreeMap;

use crate::id::{GroupName, SourceName, UserId};
use crate::identity::GroupSource;
use crate::time::Timestamp;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Grantee,
    Auditor,
    /// A contractor with no account, reachable only through an access link.
    External,
}

impl Role {
    /// Admins and auditors see everything; only admins change anything.
    pub fn sees_everything(self) -> bool {
        matches!(self, Role::Admin | Role::Auditor)
    }

    /// How much a role may do: external < grantee < auditor (reads everything) < admin.
    fn rank(self) -> u8 {
        match self {
            Role::External => 0,
            Role::Grantee => 1,
            Role::Auditor => 2,
            Role::Admin => 3,
        }
    }

    /// Whether `self` may do everything `other` may (an API token's role is never above its
    /// maker's).
    pub fn covers(self, other: Role) -> bool {
        self.rank() >= other.rank()
    }

    /// The lower of the two: what a token of role `cap` owned by someone of role `self` does.
    pub fn at_most(self, cap: Role) -> Role {
        if self.covers(cap) { cap } else { self }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Grantee => "grantee",
            Role::Auditor => "auditor",
            Role::External => "external",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "admin" => Ok(Role::Admin),
            "grantee" => Ok(Role::Grantee),
            "auditor" => Ok(Role::Auditor),
            other => Err(DomainError::invalid(
                "role",
                format!("`{other}` is not one of admin, grantee, auditor"),
            )),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    Invited,
    Active,
    /// Deactivated or deleted at its identity source: acts on nothing, keeps its history, and
    /// comes back to Active if the source lists it as active again.
    Deactivated,
    Deleted,
}

impl fmt::Display for UserStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UserStatus::Invited => "invited",
            UserStatus::Active => "active",
            UserStatus::Deactivated => "deactivated",
            UserStatus::Deleted => "deleted",
        })
    }
}

/// The OS account a user is bound to; the kernel's peer credentials are matched against `uid`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsAccount {
    pub uid: u32,
    pub name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub name: String,
    #[serde(default)]
    pub phone: Option<String>,
    pub role: Role,
    pub status: UserStatus,
    #[serde(default)]
    pub os: Option<OsAccount>,
    #[serde(default)]
    pub manager: Option<UserId>,
    #[serde(default)]
    pub groups: BTreeSet<GroupName>,
    pub created_at: Timestamp,
    /// SSH public keys (OpenSSH one-line form) the SSH connector certifies for this person.
    #[serde(default)]
    pub ssh_keys: Vec<String>,
    /// The company an external said they work for (access links); empty for members.
    #[serde(default)]
    pub company: String,
    /// The login name a directory gave this person (`uid`, `userName`): an OS user of that
    /// name is bound to them on first contact.
    #[serde(default)]
    pub login: Option<String>,
    /// The identity sources that list this person, with each one's external id.
    #[serde(default)]
    pub sources: BTreeMap<SourceName, String>,
}

impl User {
    /// A person with nothing but an id, address, name, role and status: no OS account,
    /// manager, groups, keys, login or sources yet.
    pub fn new(
        id: UserId,
        email: String,
        name: String,
        role: Role,
        status: UserStatus,
        created_at: Timestamp,
    ) -> User {
        User {
            id,
            email,
            name,
            phone: None,
            role,
            status,
            os: None,
            manager: None,
            groups: BTreeSet::new(),
            created_at,
            ssh_keys: vec![],
            company: String::new(),
            login: None,
            sources: BTreeMap::new(),
        }
    }

    pub fn is_active(&self) -> bool {
        self.status == UserStatus::Active
    }

    pub fn is_admin(&self) -> bool {
        self.is_active() && self.role == Role::Admin
    }

    /// `Ada Lovelace <ada@example.com>`
    pub fn label(&self) -> String {
        format!("{} <{}>", self.name, self.email)
    }
}

/// Normalises and checks an e-mail address as an identity: trimmed, lowercased, one `@`, a
/// dot in the domain. Lenient on purpose: directories and SCIM clients hold addresses of every
/// shape, and refusing one would drop its person from a sync. See [`mailable_email`] for an
/// address that is someone's only channel.
pub fn normalize_email(s: &str) -> Result<String, DomainError> {
    let e = s.trim().to_ascii_lowercase();
    let valid = match e.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && e.len() <= 254
                && !e.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    };
    if valid {
        Ok(e)
    } else {
        Err(DomainError::invalid(
            "email",
            format!("`{}` is not an e-mail address", s.trim()),
        ))
    }
}

/// An address hallpass will mail and that is the only way to reach its owner (the
/// access-link form's): [`normalize_email`], then nothing [`unmailable`] objects to. The
/// refusal says which part is wrong.
pub fn mailable_email(s: &str) -> Result<String, DomainError> {
    let e = normalize_email(s)?;
    match unmailable(&e) {
        None => Ok(e),
        Some(why) => Err(DomainError::invalid(
            "email",
            format!("`{}` cannot be mailed: {why}", s.trim()),
        )),
    }
}

/// Why a normalised address is not the shape every SMTP server accepts without extensions, if
/// it is not: a dot-atom local part of at most 64 bytes (ASCII letters, digits and
/// ``!#$%&'*+/=?^_`{|}~-``, dots between), `@`, and an ASCII domain of labels of letters,
/// digits and inner hyphens, at most 63 bytes each (an international domain in its `xn--`
/// form).
pub fn unmailable(normalized: &str) -> Option<&'static str> {
    let Some((local, domain)) = normalized.split_once('@') else {
        return Some("it has no @");
    };
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c);
    let label = |l: &str| {
        (1..=63).contains(&l.len())
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if local.len() > 64 {
        Some("the part before @ is longer than 64 characters")
    } else if !local
        .split('.')
        .all(|a| !a.is_empty() && a.chars().all(atext))
    {
        Some(
            "the part before @ may hold only letters, digits, dots between them and !#$%&'*+/=?^_`{|}~-",
        )
    } else if !domain.split('.').all(label) {
        Some(
            "the domain may hold only letters, digits and hyphens between dots (an international domain in its xn-- form)",
        )
    } else {
        None
    }
}

/// Checks a display name: non-empty, at most 200 characters, no control characters.
pub fn validate_person_name(s: &str) -> Result<String, DomainError> {
    let n = s.trim();
    if n.is_empty() {
        return Err(DomainError::invalid("name", "must not be empty"));
    }
    if n.chars().count() > 200 || n.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            "name",
            "must be at most 200 printable characters",
        ));
    }
    Ok(n.to_string())
}

/// Checks a phone number: digits with optional `+`, spaces, dashes, dots and parentheses.
pub fn validate_phone(s: &str) -> Result<String, DomainError> {
    let p = s.trim();
    let digits = p.chars().filter(char::is_ascii_digit).count();
    if (4..=20).contains(&digits)
        && p.chars()
            .all(|c| c.is_ascii_digit() || " +-.()".contains(c))
    {
        Ok(p.to_string())
    } else {
        Err(DomainError::invalid(
            "phone",
            format!("`{p}` is not a phone number like +44 20 7946 0000"),
        ))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub name: GroupName,
    #[serde(default)]
    pub description: String,
    pub members: BTreeSet<UserId>,
    pub created_at: Timestamp,
    /// The identity source that owns this group's membership; `None` for a local group.
    #[serde(default)]
    pub source: Option<GroupSource>,
}

/// An invitation. The code itself is never stored: only its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    pub code_hash: [u8; 32],
    pub user: UserId,
    pub created_by: UserId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalize_email("  Ada@Example.COM ").unwrap(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "@x.com",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "a@.com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn mailable_addresses_are_what_smtp_takes_without_extensions() {
        // Found by the `web_form` fuzz target: the form took addresses the mailer cannot send
        // to, and an external's address is their only channel.
        for (bad, why) in [
            ("%2\u{fffd}a&b\"@example.com", "part before @"),
            ("\"a&b\"@example.com", "part before @"),
            ("a..b@example.com", "part before @"),
            (".a@example.com", "part before @"),
            ("a<b>@example.com", "part before @"),
            ("jos\u{e9}@example.com", "part before @"),
            (&format!("{}@example.com", "a".repeat(65)), "longer than 64"),
            ("a@-example.com", "domain"),
            ("a@exa_mple.com", "domain"),
            ("ada@m\u{fc}nchen.example", "xn--"),
        ] {
            let e = mailable_email(bad).expect_err(bad).to_string();
            assert!(
                e.contains("cannot be mailed") && e.contains(why),
                "{bad:?}: {e}"
            );
        }
        assert!(mailable_email("not an address").is_err());
        for good in [
            "o'brien+tag@example.co.uk",
            "first.last@sub.example.com",
            "x{|}~`^=?/*$#!%&@example.com",
            "ops@xn--mnchen-3ya.example",
            &format!("{}@example.com", "a".repeat(64)),
        ] {
            assert_eq!(mailable_email(good).ok().as_deref(), Some(good), "{good:?}");
        }
        assert_eq!(
            mailable_email(" Ada@Example.COM ").ok().as_deref(),
            Some("ada@example.com")
        );
        // Identities stay lenient: a directory's odd address is still its person's.
        assert!(normalize_email("jos\u{e9}@example.com").is_ok());
        assert!(normalize_email("ops@corp_ad.example.com").is_ok());
    }

    #[test]
    fn roles_parse_but_external_is_not_assignable() {
        assert_eq!("Admin".parse::<Role>().unwrap(), Role::Admin);
        assert!("external".parse::<Role>().is_err());
        assert!(
            "root"
                .parse::<Role>()
                .unwrap_err()
                .to_string()
                .contains("root")
        );
    }

    #[test]
    fn phones() {
        assert!(validate_phone("+44 20 7946 0000").is_ok());
        assert!(validate_phone("call me").is_err());
    }
}
