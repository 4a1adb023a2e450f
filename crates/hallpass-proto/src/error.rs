//! The wire error. Invariant: every variant is designed for a person to read; internal errors
//! cross the wire only as an incident id that matches a line in the daemon's log.

use hallpass_core::DomainError;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ApiError {
    #[error("{what} not found")]
    NotFound { what: String },
    /// Allowed for someone else: says who can help and how to get access instead.
    #[error("{why}{}{}", admins_line(.admins), hint_line(.hint))]
    Forbidden {
        why: String,
        admins: Vec<String>,
        hint: Option<String>,
    },
    /// The OS user calling has no account here.
    #[error("OS user {uid} has no hallpass account: {why}")]
    Unauthenticated { uid: u32, why: String },
    #[error("invalid {field}: {why}")]
    InvalidInput { field: String, why: String },
    #[error("{what} is {from}; cannot {action}")]
    InvalidTransition {
        what: String,
        from: String,
        action: String,
    },
    #[error("{why}")]
    Conflict { why: String },
    #[error("the daemon is unavailable: {why}")]
    Unavailable { why: String },
    #[error("internal error (incident {incident}); the daemon's log has the details")]
    Internal { incident: String },
    #[error("protocol mismatch: client speaks version {client}, daemon {daemon} speaks {server}")]
    VersionMismatch {
        client: u32,
        server: u32,
        daemon: String,
    },
    /// A remote connection's API token is missing, wrong, expired or revoked (never which of
    /// wrong and unknown, so tokens cannot be probed).
    #[error("API token refused: {why}")]
    TokenRefused { why: String },
    #[error("too many failed attempts from this address; try again in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
}

fn admins_line(admins: &[String]) -> String {
    if admins.is_empty() {
        String::new()
    } else {
        format!("\nadmins: {}", admins.join(", "))
    }
}

fn hint_line(hint: &Option<String>) -> String {
    hint.as_ref().map(|h| format!("\n{h}")).unwrap_or_default()
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, why: impl Into<String>) -> Self {
        ApiError::InvalidInput {
            field: field.into(),
            why: why.into(),
        }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        ApiError::NotFound { what: what.into() }
    }

    pub fn conflict(why: impl Into<String>) -> Self {
        ApiError::Conflict { why: why.into() }
    }

    /// Stable process exit codes for the CLI, one per kind.
    pub fn exit_code(&self) -> i32 {
        match self {
            ApiError::NotFound { .. } => 3,
            ApiError::Forbidden { .. }
            | ApiError::Unauthenticated { .. }
            | ApiError::TokenRefused { .. } => 4,
            ApiError::InvalidInput { .. } => 5,
            ApiError::InvalidTransition { .. } | ApiError::Conflict { .. } => 6,
            ApiError::Unavailable { .. } | ApiError::RateLimited { .. } => 7,
            ApiError::Internal { .. } => 8,
            ApiError::VersionMismatch { .. } => 9,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            ApiError::NotFound { .. } => "not_found",
            ApiError::Forbidden { .. } => "forbidden",
            ApiError::Unauthenticated { .. } => "unauthenticated",
            ApiError::InvalidInput { .. } => "invalid_input",
            ApiError::InvalidTransition { .. } => "invalid_transition",
            ApiError::Conflict { .. } => "conflict",
            ApiError::Unavailable { .. } => "unavailable",
            ApiError::Internal { .. } => "internal",
            ApiError::VersionMismatch { .. } => "version_mismatch",
            ApiError::TokenRefused { .. } => "token_refused",
            ApiError::RateLimited { .. } => "rate_limited",
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::InvalidInput { field, why } => ApiError::InvalidInput { field, why },
            DomainError::InvalidTransition { what, from, action } => {
                ApiError::InvalidTransition { what, from, action }
            }
            DomainError::Forbidden { why } => ApiError::Forbidden {
                why,
                admins: vec![],
                hint: None,
            },
            DomainError::NotFound { what } => ApiError::NotFound { what },
            DomainError::Conflict { why } => ApiError::Conflict { why },
        }
    }
}
