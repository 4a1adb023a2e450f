//! The SCIM error response (RFC 7644 §3.12): a status, an optional `scimType` and a detail,
//! sent as `urn:ietf:params:scim:api:messages:2.0:Error`.

use std::fmt;

use serde_json::{Value, json};

pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// One SCIM failure. The detail is shown to the client; it never holds a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScimError {
    pub status: u16,
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

impl ScimError {
    fn new(status: u16, scim_type: Option<&'static str>, detail: impl Into<String>) -> Self {
        ScimError {
            status,
            scim_type,
            detail: detail.into(),
        }
    }

    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::new(400, Some("invalidFilter"), detail)
    }

    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::new(400, Some("invalidPath"), detail)
    }

    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::new(400, Some("noTarget"), detail)
    }

    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::new(400, Some("invalidValue"), detail)
    }

    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::new(400, Some("invalidSyntax"), detail)
    }

    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::new(400, Some("mutability"), detail)
    }

    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::new(409, Some("uniqueness"), detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(401, None, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(404, None, detail)
    }

    pub fn method_not_allowed(detail: impl Into<String>) -> Self {
        Self::new(405, None, detail)
    }

    pub fn too_large(detail: impl Into<String>) -> Self {
        Self::new(413, None, detail)
    }

    pub fn too_many(detail: impl Into<String>) -> Self {
        Self::new(429, None, detail)
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(500, None, detail)
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let mut v = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            v["scimType"] = json!(t);
        }
        v
    }
}

impl fmt::Display for ScimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.scim_type {
            Some(t) => write!(f, "{} {t}: {}", self.status, self.detail),
            None => write!(f, "{}: {}", self.status, self.detail),
        }
    }
}

impl std::error::Error for ScimError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_follow_rfc_7644() {
        let cases = [
            (ScimError::invalid_filter("x"), 400, Some("invalidFilter")),
            (ScimError::invalid_path("x"), 400, Some("invalidPath")),
            (ScimError::no_target("x"), 400, Some("noTarget")),
            (ScimError::invalid_value("x"), 400, Some("invalidValue")),
            (ScimError::invalid_syntax("x"), 400, Some("invalidSyntax")),
            (ScimError::mutability("x"), 400, Some("mutability")),
            (ScimError::uniqueness("x"), 409, Some("uniqueness")),
            (ScimError::unauthorized("x"), 401, None),
            (ScimError::not_found("x"), 404, None),
            (ScimError::too_large("x"), 413, None),
            (ScimError::internal("x"), 500, None),
        ];
        for (e, status, t) in cases {
            assert_eq!(e.status, status);
            let b = e.body();
            assert_eq!(b["schemas"][0], ERROR_SCHEMA);
            assert_eq!(b["status"], status.to_string(), "status is a string");
            assert_eq!(b["detail"], "x");
            assert_eq!(b.get("scimType").and_then(Value::as_str), t);
        }
    }
}
