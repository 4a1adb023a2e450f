//! SCIM resources as a SCIM client (an IdP such as Okta or Entra ID) last set them. The daemon
//! keeps each one so a GET returns what the client wrote; the hallpass users and groups are
//! derived from it. Invariant: `resource` never holds `id` or `meta` (the server owns those and
//! adds them when it renders the resource).

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// The two SCIM resource types hallpass serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScimKind {
    User,
    Group,
}

impl ScimKind {
    /// The key byte in the store. Never renumber: it is on disk.
    pub fn byte(self) -> u8 {
        match self {
            ScimKind::User => 0,
            ScimKind::Group => 1,
        }
    }

    /// The SCIM resource type name (`meta.resourceType`).
    pub fn name(self) -> &'static str {
        match self {
            ScimKind::User => "User",
            ScimKind::Group => "Group",
        }
    }

    /// The endpoint under the SCIM base (`Users`, `Groups`).
    pub fn endpoint(self) -> &'static str {
        match self {
            ScimKind::User => "Users",
            ScimKind::Group => "Groups",
        }
    }
}

/// One stored SCIM resource.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScimRecord {
    pub kind: ScimKind,
    /// A user's hallpass user id as a decimal string; a group's random 128-bit hex.
    pub id: String,
    pub created: Timestamp,
    pub last_modified: Timestamp,
    /// Bumped on every change (shown as `meta.version` `W/"n"`).
    pub version: u64,
    /// The JSON object the client set, without `id` and `meta`.
    pub resource: serde_json::Value,
}
