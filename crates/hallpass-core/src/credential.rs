//! Credentials a connector hands the grantee (a PostgreSQL login, an SSH certificate).
//! Invariant: credentials exist only while their grant is Active, are readable only by the
//! grantee, and never appear in an audit entry, an event, a log line or a list output; `Debug`
//! redacts secret values so a stray `{:?}` cannot leak them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One labelled value, e.g. `user = hp_g42` or `password = …` (secret).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialField {
    pub name: String,
    pub value: String,
    /// A secret value (a password): shown only on an explicit request for credentials.
    #[serde(default)]
    pub secret: bool,
}

impl fmt::Debug for CredentialField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = if self.secret {
            "<redacted>"
        } else {
            &self.value
        };
        write!(f, "{}={value:?}", self.name)
    }
}

/// What the grantee needs to use their access, in display order, plus a line saying how.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub fields: Vec<CredentialField>,
    /// How to use them, e.g. `psql "$url"` or where to save the certificate.
    #[serde(default)]
    pub hint: String,
}

impl Credentials {
    pub fn field(mut self, name: &str, value: impl Into<String>) -> Self {
        self.fields.push(CredentialField {
            name: name.into(),
            value: value.into(),
            secret: false,
        });
        self
    }

    pub fn secret(mut self, name: &str, value: impl Into<String>) -> Self {
        self.fields.push(CredentialField {
            name: name.into(),
            value: value.into(),
            secret: true,
        });
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = hint.into();
        self
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.value.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_secrets() {
        let c = Credentials::default()
            .field("user", "hp_g1")
            .secret("password", "hunter2");
        let shown = format!("{c:?}");
        assert!(shown.contains("hp_g1"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(c.get("password"), Some("hunter2"));
    }
}
