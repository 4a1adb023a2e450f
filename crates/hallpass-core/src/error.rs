//! Domain errors. Invariant: every refusal names what was wrong (the field, the state, the rule)
//! so the wire error built from it can be shown to a person as is.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum DomainError {
    #[error("{field}: {why}")]
    InvalidInput { field: String, why: String },
    #[error("{what} is {from}; cannot {action}")]
    InvalidTransition {
        what: String,
        from: String,
        action: String,
    },
    #[error("not allowed: {why}")]
    Forbidden { why: String },
    #[error("{what} not found")]
    NotFound { what: String },
    #[error("conflict: {why}")]
    Conflict { why: String },
}

impl DomainError {
    pub fn invalid(field: impl Into<String>, why: impl Into<String>) -> Self {
        DomainError::InvalidInput {
            field: field.into(),
            why: why.into(),
        }
    }

    pub fn transition(
        what: impl Into<String>,
        from: impl std::fmt::Display,
        action: impl Into<String>,
    ) -> Self {
        DomainError::InvalidTransition {
            what: what.into(),
            from: from.to_string(),
            action: action.into(),
        }
    }

    pub fn forbidden(why: impl Into<String>) -> Self {
        DomainError::Forbidden { why: why.into() }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        DomainError::NotFound { what: what.into() }
    }

    pub fn conflict(why: impl Into<String>) -> Self {
        DomainError::Conflict { why: why.into() }
    }
}
