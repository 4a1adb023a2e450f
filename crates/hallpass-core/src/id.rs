//! Identifiers: numeric ids for records the broker creates, validated names for objects admins
//! define. Invariant: a name that exists as a value has passed [`validate_name`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::DomainError;

macro_rules! numeric_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl $name {
            /// The prefix shown before the number, e.g. `HP-` in `HP-1042`.
            pub const PREFIX: &'static str = $prefix;

            /// Big-endian bytes: ordered the same way as the numbers.
            pub fn to_be_bytes(self) -> [u8; 8] {
                self.0.to_be_bytes()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}{}", $prefix, self.0)
            }
        }

        impl FromStr for $name {
            type Err = DomainError;

            /// Accepts `HP-1042`, `hp-1042` or the bare number `1042`.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let t = s.trim();
                let digits = if t.len() > $prefix.len() && t[..$prefix.len()].eq_ignore_ascii_case($prefix) {
                    &t[$prefix.len()..]
                } else {
                    t
                };
                digits.parse::<u64>().map($name).map_err(|_| DomainError::invalid(
                    "id",
                    format!("`{s}` is not an id like {}1042", $prefix),
                ))
            }
        }
    };
}

numeric_id!(
    /// A person known to the broker (admin, grantee, auditor or external).
    UserId, "U-"
);
numeric_id!(
    /// A request for access; shown to people as `HP-1042`.
    RequestId, "HP-"
);
numeric_id!(
    /// One provisioned access (one target of an approved request).
    GrantId, "G-"
);

numeric_id!(
    /// An access link for externals; shown as `L-3`. The link's URL token is not its id.
    LinkId, "L-"
);
numeric_id!(
    /// One message in the e-mail outbox.
    MailId, "M-"
);
numeric_id!(
    /// An API token; shown as `T-3`. The token's secret is not its id.
    TokenId, "T-"
);

/// Longest accepted object name.
pub const MAX_NAME_LEN: usize = 64;

/// Names are lowercase slugs so they are safe in keys, commands, file names and URLs:
/// `[a-z0-9]` first, then `[a-z0-9._-]`, at most [`MAX_NAME_LEN`] bytes.
pub fn validate_name(field: &'static str, s: &str) -> Result<(), DomainError> {
    let ok_first = s
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let ok_rest = s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'));
    if s.is_empty() {
        return Err(DomainError::invalid(field, "must not be empty"));
    }
    if s.len() > MAX_NAME_LEN {
        return Err(DomainError::invalid(
            field,
            format!("is longer than {MAX_NAME_LEN} characters"),
        ));
    }
    if !ok_first || !ok_rest {
        return Err(DomainError::invalid(
            field,
            format!(
                "`{s}` must be lowercase letters, digits, '.', '_' or '-', starting with a letter or digit"
            ),
        ));
    }
    Ok(())
}

macro_rules! name_id {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps a name.
            pub fn new(s: impl Into<String>) -> Result<Self, DomainError> {
                let s = s.into();
                validate_name($field, &s)?;
                Ok(Self(s))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = DomainError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::new(s)
            }
        }

        impl From<$name> for String {
            fn from(n: $name) -> String {
                n.0
            }
        }

        impl FromStr for $name {
            type Err = DomainError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

name_id!(
    /// A group of users (local now, synced from a directory later).
    GroupName, "group"
);
name_id!(
    /// A configured connection to a system access is granted on.
    IntegrationName, "integration"
);
name_id!(
    /// A named set of targets requested together.
    BundleName, "bundle"
);
name_id!(
    /// An access flow: the policy for a set of targets.
    FlowName, "flow"
);
name_id!(
    /// An identity source from `[[sync.source]]` (`corp-ldap`), or `scim`, or a file import's.
    SourceName, "source"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_parse_with_and_without_prefix() {
        assert_eq!("HP-1042".parse::<RequestId>().unwrap(), RequestId(1042));
        assert_eq!("hp-7".parse::<RequestId>().unwrap(), RequestId(7));
        assert_eq!("1001".parse::<RequestId>().unwrap(), RequestId(1001));
        assert_eq!(RequestId(1042).to_string(), "HP-1042");
        let err = "HP-x".parse::<RequestId>().unwrap_err();
        assert!(err.to_string().contains("HP-1042"), "{err}");
    }

    #[test]
    fn names_are_slugs() {
        assert!(FlowName::new("db-read_1.x").is_ok());
        for bad in ["", "Upper", "-lead", "sp ace", "slash/", &"a".repeat(65)] {
            assert!(FlowName::new(bad).is_err(), "{bad:?} should be refused");
        }
        let json = serde_json::to_string(&FlowName::new("ok").unwrap()).unwrap();
        assert_eq!(json, "\"ok\"");
        assert!(serde_json::from_str::<FlowName>("\"Not OK\"").is_err());
    }
}
