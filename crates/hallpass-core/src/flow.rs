//! Access flows: who may request which targets, who approves, and for how long.
//! Invariant: a stored flow has passed [`Flow::validate`] (durations ordered, approvers present
//! unless auto, quorum reachable).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::id::{BundleName, FlowName, GroupName, UserId};
use crate::integration::Target;
use crate::time::Timestamp;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    SelfServe,
    AccessLink,
}

/// Who may request through a flow. Empty users and groups with `everyone = false` means nobody.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requestors {
    #[serde(default)]
    pub everyone: bool,
    #[serde(default)]
    pub users: Vec<UserId>,
    #[serde(default)]
    pub groups: Vec<GroupName>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowTargets {
    #[serde(default)]
    pub bundles: Vec<BundleName>,
    #[serde(default)]
    pub resources: Vec<Target>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "rule", content = "n")]
pub enum ApprovalRule {
    /// No human approval: approved on submit.
    Auto,
    /// One approval from any eligible approver.
    AnyOf,
    /// Every approver entry must be satisfied (a group entry by any one member).
    AllOf,
    /// N distinct eligible approvers.
    Quorum(u32),
}

impl fmt::Display for ApprovalRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApprovalRule::Auto => f.write_str("auto"),
            ApprovalRule::AnyOf => f.write_str("any-of"),
            ApprovalRule::AllOf => f.write_str("all-of"),
            ApprovalRule::Quorum(n) => write!(f, "quorum {n}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Approver {
    User(UserId),
    Group(GroupName),
    /// The requester's manager.
    Manager,
    /// Any active admin.
    Admins,
}

impl fmt::Display for Approver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Approver::User(u) => write!(f, "user:{u}"),
            Approver::Group(g) => write!(f, "group:{g}"),
            Approver::Manager => f.write_str("manager"),
            Approver::Admins => f.write_str("admins"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub rule: ApprovalRule,
    #[serde(default)]
    pub approvers: Vec<Approver>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flow {
    pub name: FlowName,
    pub enabled: bool,
    pub trigger: Trigger,
    pub requestors: Requestors,
    pub targets: FlowTargets,
    pub approval: Approval,
    #[serde(with = "crate::time::secs")]
    pub max_duration: Duration,
    #[serde(with = "crate::time::secs")]
    pub default_duration: Duration,
    #[serde(with = "crate::time::secs")]
    pub pending_ttl: Duration,
    pub justification_required: bool,
    pub approver_reason_required: bool,
    /// A requester may approve their own request only when this is set (and it is audited).
    pub allow_self_approval: bool,
    #[serde(default)]
    pub description: String,
    /// What happens to pending requests and active grants whose holder stops qualifying
    /// (left a requestor group, deactivated at the identity source).
    #[serde(default)]
    pub on_eligibility_lost: OnEligibilityLost,
    /// Set by the daemon when saved; absent from policy files.
    #[serde(default)]
    pub updated_at: Timestamp,
}

/// A flow's answer to "this person no longer qualifies".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnEligibilityLost {
    /// Cancel their pending requests and revoke their active grants (audited).
    #[default]
    Revoke,
    /// Leave them be, and tell the admins and the holder.
    NotifyOnly,
}

impl OnEligibilityLost {
    pub fn as_str(self) -> &'static str {
        match self {
            OnEligibilityLost::Revoke => "revoke",
            OnEligibilityLost::NotifyOnly => "notify-only",
        }
    }
}

/// Default pending TTL: how long a request may wait for a decision.
pub const DEFAULT_PENDING_TTL: Duration = Duration::from_secs(24 * 3600);
/// The longest access any flow may grant in one go.
pub const MAX_FLOW_DURATION: Duration = Duration::from_secs(90 * 24 * 3600);

impl Flow {
    pub fn validate(&self) -> Result<(), DomainError> {
        if self.max_duration.is_zero() || self.max_duration > MAX_FLOW_DURATION {
            return Err(DomainError::invalid(
                "max_duration",
                "must be between 1s and 90d",
            ));
        }
        if self.default_duration.is_zero() || self.default_duration > self.max_duration {
            return Err(DomainError::invalid(
                "default_duration",
                "must be longer than zero and at most max_duration",
            ));
        }
        if self.pending_ttl < Duration::from_secs(60)
            || self.pending_ttl > Duration::from_secs(30 * 86_400)
        {
            return Err(DomainError::invalid(
                "pending_ttl",
                "must be between 1m and 30d",
            ));
        }
        if self.targets.bundles.is_empty() && self.targets.resources.is_empty() {
            return Err(DomainError::invalid(
                "targets",
                "a flow needs at least one bundle or resource",
            ));
        }
        // An access-link flow is requested by whoever holds one of its links.
        if self.trigger == Trigger::SelfServe
            && !self.requestors.everyone
            && self.requestors.users.is_empty()
            && self.requestors.groups.is_empty()
        {
            return Err(DomainError::invalid(
                "requestors",
                "name everyone, users or groups who may request",
            ));
        }
        match self.approval.rule {
            ApprovalRule::Auto => {}
            ApprovalRule::Quorum(0) => {
                return Err(DomainError::invalid(
                    "approval",
                    "quorum must be at least 1",
                ));
            }
            _ if self.approval.approvers.is_empty() => {
                return Err(DomainError::invalid(
                    "approvers",
                    format!("{} approval needs approvers", self.approval.rule),
                ));
            }
            ApprovalRule::Quorum(n) => {
                let only_single_users = self
                    .approval
                    .approvers
                    .iter()
                    .all(|a| matches!(a, Approver::User(_) | Approver::Manager));
                // An entry named twice is still one person.
                let distinct = self
                    .approval
                    .approvers
                    .iter()
                    .collect::<std::collections::BTreeSet<_>>()
                    .len();
                if only_single_users && (n as usize) > distinct {
                    return Err(DomainError::invalid(
                        "approval",
                        format!("quorum {n} can never be met by {distinct} named approver(s)"),
                    ));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The duration to grant: the requested one (capped check) or the flow's default.
    pub fn resolve_duration(&self, requested: Option<Duration>) -> Result<Duration, DomainError> {
        match requested {
            None => Ok(self.default_duration),
            Some(d) if d.is_zero() => {
                Err(DomainError::invalid("duration", "must be longer than zero"))
            }
            Some(d) if d > self.max_duration => Err(DomainError::invalid(
                "duration",
                format!(
                    "{} is longer than flow `{}` allows ({})",
                    crate::time::format_duration(d),
                    self.name,
                    crate::time::format_duration(self.max_duration)
                ),
            )),
            Some(d) => Ok(d),
        }
    }
}
