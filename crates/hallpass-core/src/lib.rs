//! hallpass-core: the domain of a just-in-time access broker, with no IO.
//!
//! Owns ids, time, users and roles, groups, integrations, bundles, flows and the policy that
//! evaluates them, the request/grant state machine and the audit hash chain. Architecture
//! invariant: nothing here reads the clock, the disk or the network; time arrives through
//! [`time::Clock`] and everything else through arguments.

pub mod audit;
pub mod audit_export;
pub mod credential;
pub mod error;
pub mod event;
pub mod flow;
pub mod grant;
pub mod id;
pub mod identity;
pub mod identity_file;
pub mod integration;
pub mod link;
pub mod outbox;
pub mod policy;
pub mod policy_doc;
pub mod request;
pub mod scim;
pub mod text;
pub mod time;
pub mod token;
pub mod user;

pub use error::DomainError;
pub use id::{
    BundleName, FlowName, GrantId, GroupName, IntegrationName, LinkId, MailId, RequestId,
    SourceName, TokenId, UserId,
};
pub use time::{Clock, ManualClock, SystemClock, Timestamp};
