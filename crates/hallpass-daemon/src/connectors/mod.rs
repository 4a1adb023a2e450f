//! Connectors: how access is granted, extended, revoked and verified on a target system, how a
//! target is checked and listed (for `integrations test`, `discover` and drift detection).
//! Invariants: connector calls run outside store transactions, after their intent is durable;
//! every call is idempotent (a crash between the call and its recorded outcome repeats it
//! safely); revocation is verified; a connector's error text never holds a secret the daemon
//! resolved or a credential it issued.

pub mod exec;
pub mod krl;
pub mod postgres;
pub mod ssh;

use hallpass_core::credential::Credentials;
use hallpass_core::integration::{Connector, Integration, ResourceDef, SecretRef, Target};
use hallpass_core::{GrantId, RequestId, Timestamp, UserId};
use serde::Serialize;

/// What a connector is asked to act on. Sent to `exec` commands as JSON on stdin.
#[derive(Clone, Debug, Serialize)]
pub struct GrantSpec {
    pub action: Action,
    pub grant_id: GrantId,
    pub request_id: RequestId,
    pub user: SpecUser,
    pub integration: String,
    pub resource: String,
    pub permission: String,
    /// RFC 3339; absent before activation (the clock starts when access is active).
    pub expires_at: Option<String>,
    /// The same end, for connectors that need the instant.
    #[serde(skip)]
    pub expires: Option<Timestamp>,
    pub duration_secs: u64,
    /// How many extensions the grant has had: certificates issued for it are numbered by it.
    pub revision: u32,
}

#[derive(Clone, Debug, Serialize)]
pub struct SpecUser {
    pub id: UserId,
    pub email: String,
    pub os_user: Option<String>,
    /// The person's registered SSH public keys (OpenSSH one-line form).
    pub ssh_keys: Vec<String>,
}

impl SpecUser {
    /// The grantee as connectors see them; `user` is `None` when the account is gone.
    pub fn of(id: UserId, user: Option<&hallpass_core::user::User>) -> Self {
        SpecUser {
            id,
            email: user.map(|u| u.email.clone()).unwrap_or_default(),
            os_user: user
                .and_then(|u| u.os.as_ref())
                .and_then(|o| o.name.clone()),
            ssh_keys: user.map(|u| u.ssh_keys.clone()).unwrap_or_default(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Grant,
    Extend,
    Revoke,
    Verify,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Grant => "grant",
            Action::Extend => "extend",
            Action::Revoke => "revoke",
            Action::Verify => "verify",
        }
    }
}

impl GrantSpec {
    pub fn new(
        action: Action,
        grant: &hallpass_core::grant::Grant,
        user: SpecUser,
        expires_at: Option<Timestamp>,
    ) -> Self {
        let Target {
            integration,
            resource,
            permission,
        } = grant.target.clone();
        GrantSpec {
            action,
            grant_id: grant.id,
            request_id: grant.request,
            user,
            integration: integration.to_string(),
            resource,
            permission,
            expires_at: expires_at.map(|t| t.to_rfc3339()),
            expires: expires_at,
            duration_secs: grant.duration.as_secs(),
            revision: u32::try_from(grant.extensions.len()).unwrap_or(u32::MAX),
        }
    }

    pub fn with_action(&self, action: Action) -> Self {
        GrantSpec {
            action,
            ..self.clone()
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error("cannot start `{command}`: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("`{command}` did not finish within {secs}s and was killed")]
    Timeout { command: String, secs: u64 },
    #[error("`{command}` exited with {status}{}", stderr_suffix(.stderr))]
    Failed {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("secret for {var} unavailable: {why}")]
    Secret { var: String, why: String },
    #[error("{0}")]
    Verify(String),
    /// The target refused or could not be reached; the text says which and why.
    #[error("{0}")]
    Target(String),
    /// The request cannot be met as configured (e.g. no SSH key registered): retrying will
    /// not help until someone changes something.
    #[error("{0}")]
    Unusable(String),
}

fn stderr_suffix(stderr: &str) -> String {
    if stderr.trim().is_empty() {
        String::new()
    } else {
        format!(": {}", stderr.trim())
    }
}

/// Reads a secret reference. `var` names what it is for, in errors.
pub(crate) fn resolve_secret(var: &str, r: &SecretRef) -> Result<String, ConnectorError> {
    let err = |why: String| ConnectorError::Secret {
        var: var.to_string(),
        why,
    };
    match r {
        SecretRef::Env(name) => std::env::var(name).map_err(|_| {
            err(format!(
                "environment variable {name} is not set for hallpassd"
            ))
        }),
        SecretRef::File(path) => std::fs::read_to_string(path)
            .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
            .map_err(|e| err(format!("cannot read {path}: {e}"))),
    }
}

/// Grants access and verifies it; returns the credentials the grantee needs, if any.
pub async fn grant(
    integration: &Integration,
    spec: &GrantSpec,
) -> Result<Option<Credentials>, ConnectorError> {
    match &integration.connector {
        Connector::Exec(cfg) => {
            exec::run(cfg, &cfg.grant, spec).await?;
            if let Some(verify) = &cfg.verify
                && exec::probe(cfg, verify, &spec.with_action(Action::Verify)).await?
                    == exec::Presence::Absent
            {
                return Err(ConnectorError::Verify(
                    "the grant command succeeded but verify does not find the access".into(),
                ));
            }
            Ok(None)
        }
        Connector::Postgres(cfg) => postgres::grant(cfg, spec).await.map(Some),
        Connector::Ssh(cfg) => ssh::issue(cfg, spec).await.map(Some),
        Connector::Noop => Ok(None),
    }
}

/// Moves the access's end to `spec.expires`. `Some` replaces the grantee's credentials (a new
/// SSH certificate); `None` keeps them.
pub async fn extend(
    integration: &Integration,
    spec: &GrantSpec,
) -> Result<Option<Credentials>, ConnectorError> {
    match &integration.connector {
        // exec access is bounded by hallpass's own revoke call, so the later end needs no call.
        Connector::Exec(_) | Connector::Noop => Ok(None),
        Connector::Postgres(cfg) => postgres::extend(cfg, spec).await.map(|()| None),
        Connector::Ssh(cfg) => ssh::issue(cfg, spec).await.map(Some),
    }
}

/// Revokes access (idempotent); then checks that it is gone.
pub async fn revoke(integration: &Integration, spec: &GrantSpec) -> Result<(), ConnectorError> {
    match &integration.connector {
        Connector::Exec(cfg) => {
            exec::run(cfg, &cfg.revoke, spec).await?;
            if let Some(verify) = &cfg.verify
                && exec::probe(cfg, verify, &spec.with_action(Action::Verify)).await?
                    == exec::Presence::Present
            {
                return Err(ConnectorError::Verify(
                    "the revoke command succeeded but verify still finds the access".into(),
                ));
            }
            Ok(())
        }
        Connector::Postgres(cfg) => postgres::revoke(cfg, spec).await,
        Connector::Ssh(cfg) => ssh::revoke(cfg, spec).await,
        Connector::Noop => Ok(()),
    }
}

/// One thing `integrations test` checked, and what it found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub what: String,
    pub ok: bool,
    pub detail: String,
}

impl Check {
    pub fn pass(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Check {
            what: what.into(),
            ok: true,
            detail: detail.into(),
        }
    }

    pub fn fail(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Check {
            what: what.into(),
            ok: false,
            detail: detail.into(),
        }
    }
}

/// Checks that the integration can work: the connection, the admin's rights, what the
/// configuration refers to. Never changes the target.
pub async fn test(integration: &Integration) -> Vec<Check> {
    match &integration.connector {
        Connector::Exec(cfg) => exec::test(cfg),
        Connector::Postgres(cfg) => postgres::test(cfg, &integration.resources).await,
        Connector::Ssh(cfg) => ssh::test(cfg).await,
        Connector::Noop => vec![Check::pass("connector", "noop: nothing to check")],
    }
}

/// The resources the target has, for `integrations discover`.
pub async fn discover(integration: &Integration) -> Result<Vec<ResourceDef>, ConnectorError> {
    match &integration.connector {
        Connector::Postgres(cfg) => postgres::discover(cfg).await,
        other => Err(ConnectorError::Unusable(format!(
            "the {} connector cannot discover resources; declare them",
            other.kind()
        ))),
    }
}

/// What a target holds that hallpass made, for drift detection.
#[derive(Debug)]
pub enum Inventory {
    /// Every access item with hallpass's naming on the target, with the grant it belongs to
    /// (`None` when the name does not parse as one of hallpass's).
    Listed(Vec<Holding>),
    /// The target cannot be listed, but each grant's presence can be checked.
    PerGrant,
    /// Neither; the reason says why.
    Unsupported(&'static str),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holding {
    /// The target's name for it, e.g. a role name.
    pub name: String,
    pub grant: Option<GrantId>,
}

pub async fn inventory(integration: &Integration) -> Result<Inventory, ConnectorError> {
    match &integration.connector {
        Connector::Postgres(cfg) => postgres::inventory(cfg).await.map(Inventory::Listed),
        Connector::Exec(cfg) if cfg.verify.is_some() => Ok(Inventory::PerGrant),
        Connector::Exec(_) => Ok(Inventory::Unsupported(
            "the exec integration has no verify command",
        )),
        Connector::Ssh(_) => Ok(Inventory::Unsupported(
            "SSH certificates live with their holders; their validity window and the KRL end them",
        )),
        Connector::Noop => Ok(Inventory::Unsupported("noop holds nothing")),
    }
}

/// For [`Inventory::PerGrant`]: whether the grant's access is present.
pub async fn present(integration: &Integration, spec: &GrantSpec) -> Result<bool, ConnectorError> {
    match &integration.connector {
        Connector::Exec(cfg) => match &cfg.verify {
            Some(verify) => Ok(
                exec::probe(cfg, verify, &spec.with_action(Action::Verify)).await?
                    == exec::Presence::Present,
            ),
            None => Err(ConnectorError::Unusable("no verify command".into())),
        },
        other => Err(ConnectorError::Unusable(format!(
            "the {} connector does not check grants one by one",
            other.kind()
        ))),
    }
}

/// Removes a leftover (drift cleanup, opt-in), verified.
pub async fn remove_leftover(
    integration: &Integration,
    holding: &Holding,
) -> Result<(), ConnectorError> {
    match &integration.connector {
        Connector::Postgres(cfg) => postgres::drop_role(cfg, &holding.name).await,
        other => Err(ConnectorError::Unusable(format!(
            "the {} connector lists no leftovers to remove",
            other.kind()
        ))),
    }
}
