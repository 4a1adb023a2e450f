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

/// Where a secret lives. Resolved by the daemon only when a connector runs. Written as
/// `file:/absolute/path` or `env:NAME` (the older `{ file = "…" }` form still reads).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "SecretRefRepr")]
pub enum SecretRef {
    File(String),
    Env(String),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum SecretRefRepr {
    Text(String),
    Tagged(TaggedSecretRef),
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum TaggedSecretRef {
    File(String),
    Env(String),
}

impl TryFrom<SecretRefRepr> for SecretRef {
    type Error = DomainError;
    fn try_from(r: SecretRefRepr) -> Result<Self, Self::Error> {
        match r {
            SecretRefRepr::Text(s) => s.parse(),
            SecretRefRepr::Tagged(TaggedSecretRef::File(p)) => format!("file:{p}").parse(),
            SecretRefRepr::Tagged(TaggedSecretRef::Env(v)) => format!("env:{v}").parse(),
        }
    }
}

impl From<SecretRef> for String {
    fn from(r: SecretRef) -> String {
        r.to_string()
    }
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

/// How the PostgreSQL connector's admin connection is secured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PgTls {
    /// Plain TCP: for loopback and unix-socket-like deployments only.
    Disable,
    /// TLS with the server's certificate checked against `ca_file` (or the system roots) and
    /// its name against `host`.
    #[default]
    VerifyFull,
}

/// What one permission means in PostgreSQL: roles the temporary login role becomes a member
/// of (e.g. `pg_read_all_data`), and privileges on every table of the resource's schema.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PgPermission {
    #[serde(default)]
    pub roles: Vec<String>,
    /// e.g. `["SELECT"]` or `["SELECT", "INSERT", "UPDATE", "DELETE"]`, granted on all tables
    /// in the resource's schema (`db:schema`; `public` when the resource names no schema).
    #[serde(default)]
    pub table_privileges: Vec<String>,
}

/// The `postgres` connector: a dedicated LOGIN role per grant, `VALID UNTIL` its end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostgresConfig {
    pub host: String,
    #[serde(default = "default_pg_port")]
    pub port: u16,
    /// The database the admin connection opens (role management is cluster-wide).
    #[serde(default = "default_pg_database")]
    pub admin_database: String,
    /// A role with CREATEROLE (and pg_signal_backend, to end sessions).
    pub admin_user: String,
    #[serde(default)]
    pub password: Option<SecretRef>,
    #[serde(default)]
    pub tls: PgTls,
    /// PEM file of the CA that signed the server's certificate (verify-full).
    #[serde(default)]
    pub ca_file: Option<String>,
    /// The host grantees connect to, when it differs from `host`.
    #[serde(default)]
    pub client_host: Option<String>,
    /// Login roles hallpass creates are named `<prefix>g<grant number>`; drift detection
    /// treats every role with this prefix as hallpass's own.
    #[serde(default = "default_pg_prefix")]
    pub role_prefix: String,
    /// Permission name → what it grants.
    pub permissions: BTreeMap<String, PgPermission>,
    #[serde(with = "crate::time::secs", default = "default_pg_timeout")]
    pub timeout: Duration,
}

fn default_pg_port() -> u16 {
    5432
}
fn default_pg_database() -> String {
    "postgres".into()
}
fn default_pg_prefix() -> String {
    "hp_".into()
}
fn default_pg_timeout() -> Duration {
    Duration::from_secs(10)
}

/// What one permission means for SSH: the principals certificates carry, and their options.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshPermission {
    /// Principals (login names) the certificate is valid for; the resource name when empty.
    #[serde(default)]
    pub principals: Vec<String>,
    /// Certificate extensions, e.g. `permit-pty`; by default `permit-pty` only (no port,
    /// agent or X11 forwarding).
    #[serde(default)]
    pub extensions: Option<Vec<String>>,
    /// The `force-command` critical option, if any.
    #[serde(default)]
    pub force_command: Option<String>,
}

/// The `ssh` connector: an SSH certificate authority and the key revocation list sshd reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshConfig {
    /// The CA's ed25519 private key (OpenSSH format, unencrypted), by reference: `file:/…`.
    pub ca_key: SecretRef,
    /// The KRL file sshd's `RevokedKeys` names; hallpass owns and rewrites it.
    pub krl: String,
    /// Permission name → what it grants.
    pub permissions: BTreeMap<String, SshPermission>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Connector {
    Exec(ExecConfig),
    Postgres(PostgresConfig),
    Ssh(SshConfig),
    /// Grants and revokes succeed at once without touching any system: for benchmarks (the
    /// broker's own cost without a connector's) and for access managed outside hallpass.
    Noop,
}

impl Connector {
    pub fn kind(&self) -> &'static str {
        match self {
            Connector::Exec(_) => "exec",
            Connector::Postgres(_) => "postgres",
            Connector::Ssh(_) => "ssh",
            Connector::Noop => "noop",
        }
    }

    /// Whether each grant gets access of its own on the target (a PostgreSQL role, an SSH
    /// certificate), so ending one grant must always remove its access even while another
    /// grant covers the same (person, target). `exec` access is keyed by person and target,
    /// so a covering grant keeps it.
    pub fn access_is_per_grant(&self) -> bool {
        matches!(self, Connector::Postgres(_) | Connector::Ssh(_))
    }

    /// The permission names this connector defines, when it defines them itself (resources
    /// must then only offer these).
    fn defined_permissions(&self) -> Option<Vec<&str>> {
        match self {
            Connector::Postgres(c) => Some(c.permissions.keys().map(String::as_str).collect()),
            Connector::Ssh(c) => Some(c.permissions.keys().map(String::as_str).collect()),
            Connector::Exec(_) | Connector::Noop => None,
        }
    }
}

/// PostgreSQL identifiers hallpass writes into SQL (role names, privileges) are restricted to
/// plain names, so no quoting bug can turn configuration into SQL.
fn validate_pg_ident(field: &'static str, s: &str) -> Result<(), DomainError> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(DomainError::invalid(
            field,
            format!(
                "`{s}` must be 1-63 of lowercase letters, digits and '_', not starting with a digit"
            ),
        ))
    }
}

const PG_TABLE_PRIVILEGES: &[&str] = &[
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "TRUNCATE",
    "REFERENCES",
    "TRIGGER",
];

fn validate_postgres(c: &PostgresConfig, resources: &[ResourceDef]) -> Result<(), DomainError> {
    if c.host.trim().is_empty() {
        return Err(DomainError::invalid(
            "host",
            "the postgres connector needs a host",
        ));
    }
    if c.port == 0 {
        return Err(DomainError::invalid("port", "must be 1-65535"));
    }
    validate_pg_ident("admin_user", &c.admin_user)?;
    validate_pg_ident("admin_database", &c.admin_database)?;
    validate_pg_ident("role_prefix", &c.role_prefix)?;
    if c.role_prefix.len() > 40 {
        return Err(DomainError::invalid("role_prefix", "at most 40 characters"));
    }
    if c.timeout.is_zero() || c.timeout > Duration::from_secs(600) {
        return Err(DomainError::invalid(
            "timeout",
            "must be between 1s and 10m",
        ));
    }
    if let Some(ca) = &c.ca_file
        && !ca.starts_with('/')
    {
        return Err(DomainError::invalid("ca_file", "must be an absolute path"));
    }
    if c.permissions.is_empty() {
        return Err(DomainError::invalid(
            "permissions",
            "define at least one permission (e.g. read = { roles = [\"pg_read_all_data\"] })",
        ));
    }
    for (name, p) in &c.permissions {
        if p.roles.is_empty() && p.table_privileges.is_empty() {
            return Err(DomainError::invalid(
                "permissions",
                format!("`{name}` grants nothing: give it roles or table_privileges"),
            ));
        }
        for r in &p.roles {
            validate_pg_ident("roles", r)?;
        }
        for t in &p.table_privileges {
            if !PG_TABLE_PRIVILEGES.contains(&t.as_str()) {
                return Err(DomainError::invalid(
                    "table_privileges",
                    format!("`{t}` is not one of {}", PG_TABLE_PRIVILEGES.join(", ")),
                ));
            }
        }
    }
    for r in resources {
        let (db, schema) = pg_resource(&r.name);
        validate_pg_ident("resource", db)?;
        if let Some(s) = schema {
            validate_pg_ident("resource", s)?;
        }
    }
    Ok(())
}

/// A PostgreSQL resource `db` or `db:schema`, split.
pub fn pg_resource(name: &str) -> (&str, Option<&str>) {
    match name.split_once(':') {
        Some((db, schema)) => (db, Some(schema)),
        None => (name, None),
    }
}

fn validate_ssh(c: &SshConfig) -> Result<(), DomainError> {
    if !matches!(c.ca_key, SecretRef::File(_)) {
        return Err(DomainError::invalid(
            "ca_key",
            "the CA key must be a file reference: file:/etc/hallpass/ssh_ca",
        ));
    }
    if !c.krl.starts_with('/') {
        return Err(DomainError::invalid("krl", "must be an absolute path"));
    }
    if c.permissions.is_empty() {
        return Err(DomainError::invalid(
            "permissions",
            "define at least one permission (e.g. login = {})",
        ));
    }
    let word = |field: &'static str, s: &str| {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'));
        if ok {
            Ok(())
        } else {
            Err(DomainError::invalid(
                field,
                format!("`{s}` must be 1-64 of letters, digits, '.', '_', '-', '@'"),
            ))
        }
    };
    for p in c.permissions.values() {
        for pr in &p.principals {
            word("principals", pr)?;
        }
        for e in p.extensions.iter().flatten() {
            word("extensions", e)?;
        }
    }
    Ok(())
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
    /// Set by the daemon when saved; absent from policy files.
    #[serde(default)]
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
            Connector::Postgres(c) => validate_postgres(c, &self.resources)?,
            Connector::Ssh(c) => validate_ssh(c)?,
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
                if let Some(defined) = self.connector.defined_permissions()
                    && !defined.contains(&p.as_str())
                {
                    return Err(DomainError::invalid(
                        "permissions",
                        format!(
                            "resource `{}` offers `{p}`, which the {} connector does not define (defined: {})",
                            r.name,
                            self.connector.kind(),
                            defined.join(", ")
                        ),
                    ));
                }
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
    /// Set by the daemon when saved; absent from policy files.
    #[serde(default)]
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

    #[test]
    fn secret_refs_are_strings_on_the_wire_and_the_old_form_still_reads() {
        let r = SecretRef::File("/etc/pw".into());
        assert_eq!(serde_json::to_string(&r).unwrap(), "\"file:/etc/pw\"");
        let old: SecretRef = serde_json::from_str(r#"{"file":"/etc/pw"}"#).unwrap();
        assert_eq!(old, r);
        assert!(serde_json::from_str::<SecretRef>("\"hunter2\"").is_err());
    }
}
