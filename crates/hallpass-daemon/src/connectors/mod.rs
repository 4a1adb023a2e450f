//! Connectors: how access is granted, revoked and verified on a target system. Invariants:
//! connector calls run outside store transactions, after their intent is durable; revocation is
//! idempotent; a connector's error text never holds a secret the daemon resolved.

pub mod exec;

use hallpass_core::integration::{Connector, Integration, Target};
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
    pub duration_secs: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct SpecUser {
    pub id: UserId,
    pub email: String,
    pub os_user: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Grant,
    Revoke,
    Verify,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Grant => "grant",
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
            duration_secs: grant.duration.as_secs(),
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
}

fn stderr_suffix(stderr: &str) -> String {
    if stderr.trim().is_empty() {
        String::new()
    } else {
        format!(": {}", stderr.trim())
    }
}

/// Grants access; then, when the integration can verify, checks that it is present.
pub async fn grant(integration: &Integration, spec: &GrantSpec) -> Result<(), ConnectorError> {
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
            Ok(())
        }
        Connector::Noop => Ok(()),
    }
}

/// Revokes access (idempotent); then, when the integration can verify, checks that it is gone.
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
        Connector::Noop => Ok(()),
    }
}
