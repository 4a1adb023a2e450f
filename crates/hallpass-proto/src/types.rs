//! Wire types: arguments and views. Views carry what a client shows; computed fields (the
//! status a reader must see now, remaining time) are computed by the daemon with its clock.

use std::str::FromStr;

use hallpass_core::audit::Source;
use hallpass_core::event::Event;
use hallpass_core::flow::Flow;
use hallpass_core::grant::{EndReason, GrantStatus};
use hallpass_core::integration::Target;
use hallpass_core::link::LinkState;
use hallpass_core::request::{Decision, RequestKind, RequestStatus};
use hallpass_core::token::TokenState;
use hallpass_core::user::{Role, UserStatus};
use hallpass_core::{
    BundleName, FlowName, GrantId, GroupName, IntegrationName, LinkId, MailId, RequestId,
    Timestamp, TokenId, UserId,
};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientHello {
    pub protocol: u32,
    /// e.g. `hallpass-cli 0.1.0`; for logs only.
    pub client: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerHello {
    pub protocol: u32,
    pub daemon_version: String,
    /// The organisation's name from the daemon's config.
    pub organisation: String,
}

/// How to name a user in a request: by id (`U-3`) or e-mail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserRef {
    Id(UserId),
    Email(String),
}

impl FromStr for UserRef {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.parse::<UserId>() {
            Ok(id) if s.trim().to_ascii_uppercase().starts_with(UserId::PREFIX) => UserRef::Id(id),
            _ => UserRef::Email(s.trim().to_string()),
        })
    }
}

impl std::fmt::Display for UserRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UserRef::Id(id) => write!(f, "{id}"),
            UserRef::Email(e) => f.write_str(e),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub phone: Option<String>,
    pub role: Role,
    pub status: UserStatus,
    pub os_user: Option<String>,
    pub os_uid: Option<u32>,
    pub manager: Option<UserId>,
    pub manager_email: Option<String>,
    pub groups: Vec<GroupName>,
    pub created_at: Timestamp,
    /// The company an external gave on an access link; empty for members.
    #[serde(default)]
    pub company: String,
    /// The login a directory gave them (matched to an OS user name on first contact).
    #[serde(default)]
    pub login: Option<String>,
    /// The identity sources that list them (`corp-ldap`, `scim`, …); empty for local people.
    #[serde(default)]
    pub sources: Vec<hallpass_core::SourceName>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhoAmI {
    /// The kernel-verified OS user on the unix socket; None over TCP.
    pub uid: Option<u32>,
    /// None when the OS user has no account (yet).
    pub user: Option<UserView>,
    /// Over TCP: the API token the connection authenticated with.
    #[serde(default)]
    pub token: Option<TokenView>,
    /// True while no admin exists: `signup` will work.
    pub signup_open: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignupArgs {
    pub email: String,
    pub name: String,
    pub source: Source,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteArgs {
    pub email: String,
    pub name: String,
    pub role: Role,
    pub phone: Option<String>,
    /// Seconds until the code expires; the daemon's default (7 days) when None.
    pub expires_in_secs: Option<u64>,
}

/// The one and only time an invite code is shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteCreated {
    pub user: UserView,
    pub code: String,
    pub expires_at: Timestamp,
    /// True when the invite was e-mailed (SMTP configured).
    pub emailed: bool,
}

/// Paging: pass the previous page's `next` as `after` to continue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserQuery {
    pub role: Option<Role>,
    pub status: Option<UserStatus>,
    /// Substring of e-mail or name, case-insensitive.
    pub text: Option<String>,
    pub group: Option<GroupName>,
    pub after: Option<String>,
    pub limit: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupView {
    pub name: GroupName,
    pub description: String,
    pub members: Vec<UserRefView>,
    /// The identity source that owns the group's membership; `None` for a local group.
    #[serde(default)]
    pub source: Option<hallpass_core::SourceName>,
    pub created_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRefView {
    pub id: UserId,
    pub email: String,
}

/// Create refuses an existing name; Replace refuses a missing one; Upsert does either.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PutMode {
    Create,
    Replace,
    Upsert,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowView {
    pub flow: Flow,
    /// Every target the flow offers, bundles expanded.
    pub offered: Vec<Target>,
    /// Users named in the flow, for display: id → e-mail.
    pub user_emails: Vec<UserRefView>,
    /// Whether the caller may request through it.
    pub can_request: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRequest {
    pub flow: FlowName,
    /// Either a bundle or explicit targets.
    pub bundle: Option<BundleName>,
    pub targets: Vec<Target>,
    /// Seconds; the flow's default when None.
    pub duration_secs: Option<u64>,
    pub reason: Option<String>,
    pub source: Source,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestScope {
    /// Requests I made.
    Mine,
    /// Pending requests I can decide on now.
    ToApprove,
    /// Everything (admins and auditors).
    All,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestQuery {
    pub scope: RequestScope,
    pub status: Option<RequestStatus>,
    pub flow: Option<FlowName>,
    pub requester: Option<UserRef>,
    pub after: Option<String>,
    pub limit: u32,
}

impl Default for RequestQuery {
    fn default() -> Self {
        RequestQuery {
            scope: RequestScope::Mine,
            status: None,
            flow: None,
            requester: None,
            after: None,
            limit: 100,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestView {
    pub id: RequestId,
    pub requester: UserRefView,
    pub flow: FlowName,
    pub kind: RequestKind,
    pub bundle: Option<BundleName>,
    pub targets: Vec<Target>,
    pub duration_secs: u64,
    pub reason: String,
    /// As a reader must see it now (a pending request past its TTL is timed out).
    pub status: RequestStatus,
    pub created_at: Timestamp,
    pub pending_until: Timestamp,
    pub approvals: Vec<Decision>,
    pub rejection: Option<Decision>,
    pub grants: Vec<GrantSummary>,
    /// Who could still approve (pending requests only).
    pub approvers: Vec<UserRefView>,
    /// Whether the caller may decide on it now.
    pub can_decide: bool,
    pub approval_rule: String,
    pub again_of: Option<RequestId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantSummary {
    pub id: GrantId,
    pub target: Target,
    pub status: GrantStatus,
    pub expires_at: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgainArgs {
    pub duration_secs: Option<u64>,
    /// The original reason when None.
    pub reason: Option<String>,
    pub source: Source,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtendArgs {
    pub duration_secs: u64,
    pub reason: Option<String>,
    pub source: Source,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantScope {
    Mine,
    All,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantQuery {
    pub scope: GrantScope,
    /// Only grants whose status is one of these (as seen now); all when empty.
    pub statuses: Vec<GrantStatus>,
    pub integration: Option<IntegrationName>,
    pub user: Option<UserRef>,
    pub after: Option<String>,
    pub limit: u32,
}

impl Default for GrantQuery {
    fn default() -> Self {
        GrantQuery {
            scope: GrantScope::Mine,
            statuses: vec![],
            integration: None,
            user: None,
            after: None,
            limit: 100,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantView {
    pub id: GrantId,
    pub request: RequestId,
    pub user: UserRefView,
    pub target: Target,
    /// As a reader must see it now: never Active past `expires_at`.
    pub status: GrantStatus,
    pub duration_secs: u64,
    pub created_at: Timestamp,
    pub activated_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
    pub remaining_secs: Option<u64>,
    pub ended_at: Option<Timestamp>,
    pub end_reason: Option<EndReason>,
    pub attempts: u32,
    pub next_attempt_at: Option<Timestamp>,
    pub last_error: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditQuery {
    /// Events about or by this person.
    pub person: Option<UserRef>,
    pub integration: Option<IntegrationName>,
    pub status: Option<String>,
    /// Substring of the action, e.g. `request.` or `grant.revoke`.
    pub action: Option<String>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// Sequence number to continue after (ascending order).
    pub after: Option<String>,
    pub limit: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditVerification {
    pub checked: u64,
    pub head_seq: u64,
    pub head_hash: String,
    /// The first broken link, if any.
    pub broken_at: Option<u64>,
    pub why: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventBatch {
    pub events: Vec<Event>,
    /// Pass this as the next cursor. Advances past events the caller may not see, too.
    pub cursor: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonStatus {
    pub daemon_version: String,
    pub started_at: Timestamp,
    pub now: Timestamp,
    pub users: u64,
    pub pending_requests: u64,
    pub active_grants: u64,
    pub failing_grants: u64,
    pub audit_head: u64,
}

/// One thing `integrations test` checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckView {
    pub what: String,
    pub ok: bool,
    pub detail: String,
}

/// What drift detection found, per integration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftReport {
    pub checked_at: Timestamp,
    pub integrations: Vec<IntegrationDrift>,
}

impl DriftReport {
    /// Findings in all integrations.
    pub fn findings(&self) -> usize {
        self.integrations
            .iter()
            .map(|i| i.leftovers.len() + i.missing.len())
            .sum()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrationDrift {
    pub integration: IntegrationName,
    /// Whether the target was compared at all (see `note` when not).
    pub checked: bool,
    pub note: String,
    /// Access on the target without a grant behind it (e.g. a leftover role).
    pub leftovers: Vec<DriftItem>,
    /// Active grants whose access the target does not have.
    pub missing: Vec<DriftItem>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftItem {
    /// The target's name for it (a role), or the grant's target.
    pub name: String,
    pub grant: Option<GrantId>,
    pub detail: String,
    /// Removed by this run's cleanup.
    #[serde(default)]
    pub cleaned: bool,
}

/// A registered SSH public key, as shown back (the key itself is public, but lists show only
/// its fingerprint).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshKeyView {
    /// `SHA256:…`, as `ssh-keygen -lf` prints it.
    pub fingerprint: String,
    pub algorithm: String,
    pub comment: String,
}

/// A new access link for an access-link flow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewLink {
    pub flow: FlowName,
    /// None: the link never expires (it can still be revoked).
    pub expires_in_secs: Option<u64>,
    /// None: unlimited.
    pub max_uses: Option<u32>,
    /// Who it is for, as the admin notes it.
    #[serde(default)]
    pub note: String,
}

/// An access link as admins see it. The token is never part of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkView {
    pub id: LinkId,
    pub flow: FlowName,
    pub state: LinkState,
    pub created_by: String,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub max_uses: Option<u32>,
    pub uses: u32,
    pub revoked_at: Option<Timestamp>,
    pub note: String,
}

/// The one and only time a link's URL is shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkCreated {
    pub link: LinkView,
    pub url: String,
}

/// A new SCIM bearer token and where identity providers send it. The token is in this answer
/// and nowhere else.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScimTokenCreated {
    pub token: String,
    /// The SCIM base URL (e.g. `https://access.example.com/scim/v2`).
    pub url: String,
    /// A previous token was replaced.
    pub replaced: bool,
}

/// The first call on a TCP connection: the API token, and the handshake `hello` carries on a
/// unix socket.
#[derive(Clone, Serialize, Deserialize)]
pub struct Authenticate {
    pub token: String,
    pub hello: ClientHello,
}

impl std::fmt::Debug for Authenticate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticate")
            .field("token", &"<redacted>")
            .field("hello", &self.hello)
            .finish()
    }
}

/// What `authenticate` answers: the handshake and who the token acts as.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authenticated {
    pub server: ServerHello,
    pub token: TokenView,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewToken {
    pub name: String,
    /// None: the caller's own role. Never above it.
    pub role: Option<Role>,
    /// None: the token never expires (it can still be revoked).
    pub expires_in_secs: Option<u64>,
}

/// An API token as people see it. The token itself is never part of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenView {
    pub id: TokenId,
    pub name: String,
    pub owner: UserId,
    pub owner_email: String,
    pub role: Role,
    pub state: TokenState,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub last_used_from: Option<String>,
    pub revoked_at: Option<Timestamp>,
}

/// The one and only time a token is shown.
#[derive(Clone, Serialize, Deserialize)]
pub struct TokenCreated {
    pub token: String,
    pub view: TokenView,
}

impl std::fmt::Debug for TokenCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCreated")
            .field("token", &"<redacted>")
            .field("view", &self.view)
            .finish()
    }
}

/// A token named by id (`T-3`) or, among the caller's own, by name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenRef {
    Id(TokenId),
    Name(String),
}

/// Accepting an invite over TCP: there is no OS user to bind, so the account gets a token.
#[derive(Clone, Serialize, Deserialize)]
pub struct RemoteAccept {
    pub code: String,
    /// The new token's name.
    pub token_name: String,
    pub hello: ClientHello,
}

impl std::fmt::Debug for RemoteAccept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteAccept")
            .field("code", &"<redacted>")
            .field("token_name", &self.token_name)
            .finish()
    }
}

/// What accepting an invite over TCP answers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RemoteAccepted {
    pub user: UserView,
    pub token: TokenCreated,
    pub server: ServerHello,
}

/// An undelivered message in the e-mail outbox (admins). Never its body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailView {
    pub id: MailId,
    pub to: String,
    pub purpose: String,
    pub created_at: Timestamp,
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
    pub last_error: Option<String>,
}

/// One piece of a file import: people and groups sent in frames under the 1 MiB limit. The
/// first chunk has no `upload`; the daemon answers with one, which every further chunk
/// carries; the chunk with `done` applies everything received (or, with `dry_run`, plans it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportChunk {
    pub upload: Option<u64>,
    pub source: hallpass_core::SourceName,
    #[serde(default)]
    pub people: Vec<hallpass_core::identity::PersonRecord>,
    #[serde(default)]
    pub groups: Vec<hallpass_core::identity::GroupRecord>,
    pub done: bool,
    pub dry_run: bool,
    /// Apply even past the deactivation threshold.
    #[serde(default)]
    pub force: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportAck {
    pub upload: u64,
    /// People received so far in this upload.
    pub received: u32,
    /// The run's report, on the `done` chunk.
    pub report: Option<hallpass_core::identity::SyncReport>,
}

/// How far a running sync is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncProgress {
    /// `reading`, `planning`, `writing people`, `writing groups`.
    pub phase: String,
    pub done: u32,
    /// 0 when not known yet.
    pub total: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceStatus {
    pub name: hallpass_core::SourceName,
    /// `ldap`, `file`, `scim` or `import` (a file import that is not a configured source).
    pub kind: String,
    /// Seconds between periodic runs; 0 for on demand only.
    pub interval_secs: u64,
    /// People hallpass currently links to this source.
    pub people: u64,
    pub last: Option<hallpass_core::identity::SyncReport>,
    pub running: Option<SyncProgress>,
}
