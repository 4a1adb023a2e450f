//! The SCIM 2.0 server (RFC 7643/7644): identity providers such as Okta and Entra ID push
//! people and groups, which become hallpass users and groups of the identity source `scim`.
//!
//! Layout: pure SCIM logic first — [`error`] (the error body), [`schema`] (what is supported,
//! and the discovery documents), [`filter`] (filters and PATCH paths), [`patch`] (PatchOp),
//! [`resource`] (cleaning, rendering, deriving identities) — then [`apply`] (the one place that
//! writes hallpass users and groups, inside the request's single transaction) and [`http`]
//! (the axum routes under `/scim/v2`, bearer-token authenticated). Invariant: a request that
//! fails changes nothing: every check runs inside the transaction before its first write, and
//! an error drops the whole transaction.

pub mod apply;
pub mod error;
pub mod filter;
pub mod http;
pub mod patch;
pub mod resource;
pub mod schema;

pub use error::ScimError;

/// The identity source SCIM-pushed people and groups belong to.
pub fn source() -> hallpass_core::SourceName {
    hallpass_core::SourceName::new("scim").expect("invariant: `scim` is a valid source name")
}
