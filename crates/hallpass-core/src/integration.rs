//! Integrations (connections to systems access is granted on), the resources and permissions
//! they expose, targets and bundles. Invariant: configuration holds secret *references*
//! (a file path or an environment variable name), never secret values.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::id::{BundleName, IntegrationName};
use crate::time::Timestamp;

/// Where a secret lives. Resolved by the daemon only when a connector runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretRef {
    File(String),
    Env(String),
}

impl FromStr for SecretRef {
    type Err = DomainError;
    /// `file:/etc/hallpass/pw` or `env:PGPASSWORD`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            Some(("file", p)) if p.starts_with('/') => Ok(SecretRef::File(p.into())),
            Some(("env", v))
                if !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
            {
                Ok(SecretRef::Env(v.into()))
            }
            _ => Err(DomainError::invalid(
                "secret",
                format!(
                    "`{s}` must be file:/absolute/path or env:VARIABLE_NAME (secrets are referenced, never inlined)"
                ),
            )),
        }
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::File(p) => write!(f, "file:{p}"),
            SecretRef::Env(v) => write!(f, "env:{v}"),
        }
    }
}

/// The `exec` connector: commands run without a shell, with a JSON document on stdin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecConfig {
    /// argv of the grant command.
    pub grant: Vec<String>,
    /// argv of the revoke command.
    pub revoke: Vec<String>,
    /// argv of an optional verify command: exit 0 means the access is present.
    #[serde(default)]
    pub verify: Option<Vec<String>>,
    /// How long one command may run.
    #[serde(with = "crate::time::secs")]
    pub timeout: Duration,
    /// Environment variables set from secrets, e.g. `API_TOKEN = env:VENDOR_TOKEN`.
    #[serde(default)]
    pub secret_env: BTreeMap<String, SecretRef>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Connector {
    Exec(ExecConfig),
    /// Grants and revokes succeed at once without touching any system: for benchmarks (the
    /// broker's own cost without a connector's) and for access managed outside hallpass.
    Noop,
}

impl Connector {
    pub fn kind(&self) -> &'static str {
        match self {
            Connector::Exec(_) => "exec",
            Connector::Noop => "noop",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceDef {
    pub name: String,
    pub permissions: Vec<String>,
    #[serde(default)]
    pub description: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Integration {
    pub name: IntegrationName,
    pub connector: Connector,
    pub resources: Vec<ResourceDef>,
    #[serde(default)]
    pub description: String,
    pub updated_at: Timestamp,
}

impl Integration {
    pub fn validate(&self) -> Result<(), DomainError> {
        match &self.connector {
            Connector::Exec(e) => {
                if e.grant.first().is_none_or(|c| c.trim().is_empty()) {
                    return Err(DomainError::invalid(
                        "grant",
                        "the exec connector needs a grant command",
                    ));
                }
                if e.revoke.first().is_none_or(|c| c.trim().is_empty()) {
                    return Err(DomainError::invalid(
                        "revoke",
                        "the exec connector needs a revoke command",
                    ));
                }
                if e.timeout.is_zero() || e.timeout > Duration::from_secs(3600) {
                    return Err(DomainError::invalid("timeout", "must be between 1s and 1h"));
                }
                for k in e.secret_env.keys() {
                    if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                        return Err(DomainError::invalid(
                            "secret_env",
                            format!("`{k}` is not an environment variable name"),
                        ));
                    }
                }
            }
            Connector::Noop => {}
        }
        if self.resources.is_empty() {
            return Err(DomainError::invalid(
                "resources",
                "declare at least one resource",
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for r in &self.resources {
            validate_part("resource", &r.name)?;
            if !seen.insert(&r.name) {
                return Err(DomainError::invalid(
                    "resources",
                    format!("`{}` is declared twice", r.name),
                ));
            }
            if r.permissions.is_empty() {
                return Err(DomainError::invalid(
                    "permissions",
                    format!("resource `{}` declares no permission", r.name),
                ));
            }
            for p in &r.permissions {
                validate_part("permission", p)?;
            }
        }
        Ok(())
    }

    pub fn offers(&self, resource: &str, permission: &str) -> bool {
        self.resources
            .iter()
            .any(|r| r.name == resource && r.permissions.iter().any(|p| p == permission))
    }
}

/// Resource and permission names: like object names but may contain `:` (e.g. `db:schema`).
fn validate_part(field: &'static str, s: &str) -> Result<(), DomainError> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':' | b'@'));
    if ok {
        Ok(())
    } else {
        Err(DomainError::invalid(
            field,
            format!("`{s}` must be 1-128 of letters, digits, '.', '_', '-', ':', '@'"),
        ))
    }
}

/// One thing access can be granted to: `integration/resource/permission`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Target {
    pub integration: IntegrationName,
    pub resource: String,
    pub permission: String,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}",
            self.integration, self.resource, self.permission
        )
    }
}

impl FromStr for Target {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.trim().split('/').collect();
        let [i, r, p] = parts.as_slice() else {
            return Err(DomainError::invalid(
                "target",
                format!("`{s}` is not integration/resource/permission"),
            ));
        };
        validate_part("resource", r)?;
        validate_part("permission", p)?;
        Ok(Target {
            integration: IntegrationName::new(*i)?,
            resource: (*r).into(),
            permission: (*p).into(),
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bundle {
    pub name: BundleName,
    #[serde(default)]
    pub description: String,
    pub targets: Vec<Target>,
    pub updated_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_print() {
        let t: Target = "pg-prod/orders/read".parse().unwrap();
        assert_eq!(t.to_string(), "pg-prod/orders/read");
        assert!("pg-prod/orders".parse::<Target>().is_err());
        assert!("pg-prod/or ders/read".parse::<Target>().is_err());
    }

    #[test]
    fn secrets_are_references() {
        assert_eq!(
            "env:TOKEN".parse::<SecretRef>().unwrap(),
            SecretRef::Env("TOKEN".into())
        );
        assert_eq!(
            "file:/etc/x".parse::<SecretRef>().unwrap(),
            SecretRef::File("/etc/x".into())
        );
        assert!("hunter2".parse::<SecretRef>().is_err());
        assert!("file:relative".parse::<SecretRef>().is_err());
    }
}
