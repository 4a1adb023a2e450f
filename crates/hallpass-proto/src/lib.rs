//! hallpass-proto: the wire protocol between `hallpassd` and its clients.
//!
//! Owns the tarpc service trait [`Hallpass`], the wire types, [`ApiError`], the protocol version
//! and the transport (length-prefixed JSON frames, at most [`MAX_FRAME`] bytes). Architecture
//! invariant: nothing here trusts a client; identity is never a field of a request, it is the
//! kernel-verified peer of the connection.
//!
//! # Wire format
//! Every frame is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON (tarpc's
//! `ClientMessage` / `Response` envelopes). A client first calls `hello` with its protocol
//! version; a server with another major version answers `VersionMismatch`.

pub mod error;
pub mod export;
pub mod paths;
pub mod transport;
pub mod types;

pub use error::ApiError;
pub use export::{ExportError, export_audit};
pub use transport::{
    ConnectError, Endpoint, MAX_FRAME, Remote, accept_invite_tcp, connect, connect_tcp,
    connect_unix, framed_json, open_tls, tls_client_config,
};
pub use types::*;

use hallpass_core::audit::AuditEvent;
use hallpass_core::credential::Credentials;
use hallpass_core::flow::Flow;
use hallpass_core::integration::{Bundle, Integration, ResourceDef};
use hallpass_core::policy_doc::{PolicyDoc, PolicyPlan};
use hallpass_core::user::Role;
use hallpass_core::{BundleName, FlowName, GrantId, GroupName, IntegrationName, LinkId, RequestId};

/// The `events_since` cursor that means "from now": the answer is the current head, no history.
pub const FROM_NOW: u64 = u64::MAX;

/// The protocol's major version: clients and servers must agree on it.
pub const PROTOCOL_VERSION: u32 = 1;

/// The hallpass service. Every method answers for the connection's caller.
#[tarpc::service]
pub trait Hallpass {
    /// Handshake: protocol and daemon versions. Never refused, needs no account.
    async fn hello(hello: ClientHello) -> Result<ServerHello, ApiError>;
    /// The first call on a TCP connection (instead of `hello`): nothing else is served there
    /// before a valid API token. Refused on the unix socket, where the kernel says who calls.
    async fn authenticate(args: Authenticate) -> Result<Authenticated, ApiError>;
    /// Accepting an invite over TCP (allowed as the first call there): the account gets an API
    /// token instead of an OS user.
    async fn accept_invite_remote(args: RemoteAccept) -> Result<RemoteAccepted, ApiError>;
    /// Who the daemon thinks the caller is.
    async fn whoami() -> Result<WhoAmI, ApiError>;
    /// Creates the first admin, bound to the calling OS user. Refused once an admin exists.
    async fn signup(args: SignupArgs) -> Result<UserView, ApiError>;
    /// Binds the calling OS user to an invited account.
    async fn accept_invite(code: String) -> Result<UserView, ApiError>;

    async fn invite_user(args: InviteArgs) -> Result<InviteCreated, ApiError>;
    async fn list_users(query: UserQuery) -> Result<Page<UserView>, ApiError>;
    async fn get_user(user: UserRef) -> Result<UserView, ApiError>;
    async fn set_role(user: UserRef, role: Role) -> Result<UserView, ApiError>;
    async fn set_manager(user: UserRef, manager: Option<UserRef>) -> Result<UserView, ApiError>;
    async fn delete_user(user: UserRef) -> Result<UserView, ApiError>;

    async fn create_group(name: GroupName, description: String) -> Result<GroupView, ApiError>;
    async fn delete_group(name: GroupName) -> Result<GroupView, ApiError>;
    async fn list_groups() -> Result<Vec<GroupView>, ApiError>;
    async fn get_group(name: GroupName) -> Result<GroupView, ApiError>;
    async fn add_member(group: GroupName, user: UserRef) -> Result<GroupView, ApiError>;
    async fn remove_member(group: GroupName, user: UserRef) -> Result<GroupView, ApiError>;

    async fn put_integration(
        integration: Integration,
        mode: PutMode,
    ) -> Result<Integration, ApiError>;
    async fn list_integrations() -> Result<Vec<Integration>, ApiError>;
    async fn get_integration(name: IntegrationName) -> Result<Integration, ApiError>;
    async fn delete_integration(name: IntegrationName) -> Result<Integration, ApiError>;

    async fn put_bundle(bundle: Bundle, mode: PutMode) -> Result<Bundle, ApiError>;
    async fn list_bundles() -> Result<Vec<Bundle>, ApiError>;
    async fn delete_bundle(name: BundleName) -> Result<Bundle, ApiError>;

    async fn put_flow(flow: Flow, mode: PutMode) -> Result<Flow, ApiError>;
    async fn list_flows() -> Result<Vec<FlowView>, ApiError>;
    async fn get_flow(name: FlowName) -> Result<FlowView, ApiError>;
    async fn delete_flow(name: FlowName) -> Result<Flow, ApiError>;
    async fn set_flow_enabled(name: FlowName, enabled: bool) -> Result<Flow, ApiError>;

    async fn submit_request(args: NewRequest) -> Result<RequestView, ApiError>;
    async fn list_requests(query: RequestQuery) -> Result<Page<RequestView>, ApiError>;
    async fn get_request(id: RequestId) -> Result<RequestView, ApiError>;
    async fn approve(id: RequestId, reason: Option<String>) -> Result<RequestView, ApiError>;
    async fn reject(id: RequestId, reason: Option<String>) -> Result<RequestView, ApiError>;
    async fn cancel(id: RequestId) -> Result<RequestView, ApiError>;
    /// A new Pending request like a terminal one.
    async fn request_again(id: RequestId, args: AgainArgs) -> Result<RequestView, ApiError>;

    async fn list_grants(query: GrantQuery) -> Result<Page<GrantView>, ApiError>;
    async fn get_grant(id: GrantId) -> Result<GrantView, ApiError>;
    /// The grantee ends their own access early.
    async fn release(id: GrantId) -> Result<GrantView, ApiError>;
    /// An admin ends someone's access.
    async fn revoke(id: GrantId, reason: Option<String>) -> Result<GrantView, ApiError>;
    /// Asks for more time on an active grant; goes through the flow's approval.
    async fn extend(id: GrantId, args: ExtendArgs) -> Result<RequestView, ApiError>;
    /// The credentials the connector issued for the caller's own Active grant (audited, never
    /// their values). Nobody else, admins included, can read them.
    async fn grant_credentials(id: GrantId) -> Result<Credentials, ApiError>;
    /// Admins: make the owed connector attempt now instead of at the next backoff.
    async fn retry_grant(id: GrantId) -> Result<GrantView, ApiError>;
    /// Admins: end a revocation the connector cannot confirm, with a reason (audited; drift
    /// detection reports any access in fact left).
    async fn force_end_grant(id: GrantId, reason: String) -> Result<GrantView, ApiError>;

    /// Admins: check an integration's connection, rights and configuration. Changes nothing.
    async fn test_integration(name: IntegrationName) -> Result<Vec<CheckView>, ApiError>;
    /// Admins: the resources the integration's target has.
    async fn discover_integration(name: IntegrationName) -> Result<Vec<ResourceDef>, ApiError>;
    /// Admins and auditors: compare every integration's real state with the grants; admins may
    /// also remove leftovers (`cleanup`). Findings are audited.
    async fn drift(cleanup: bool) -> Result<DriftReport, ApiError>;

    /// Admins and auditors: integrations, bundles and flows as one policy document.
    async fn export_policy() -> Result<PolicyDoc, ApiError>;
    /// Admins: the plan that makes the policy match `doc` (`prune`: delete what it does not
    /// name), applied in one transaction unless `dry_run`. With `expect`, refused as a
    /// conflict when the plan's fingerprint differs (the policy changed since it was shown).
    async fn apply_policy(
        doc: PolicyDoc,
        prune: bool,
        dry_run: bool,
        expect: Option<String>,
    ) -> Result<PolicyPlan, ApiError>;

    /// Registers an SSH public key (OpenSSH one-line form) for the caller.
    async fn add_ssh_key(key: String) -> Result<Vec<SshKeyView>, ApiError>;
    async fn list_ssh_keys() -> Result<Vec<SshKeyView>, ApiError>;
    /// Removes one of the caller's keys, by its SHA256 fingerprint.
    async fn remove_ssh_key(fingerprint: String) -> Result<Vec<SshKeyView>, ApiError>;

    async fn list_audit(query: AuditQuery) -> Result<Page<AuditEvent>, ApiError>;
    async fn verify_audit() -> Result<AuditVerification, ApiError>;

    /// Events after `cursor` visible to the caller; waits up to `wait_ms` for the first one.
    /// `cursor = FROM_NOW` answers at once with no events and the current head, to follow from now.
    async fn events_since(cursor: u64, limit: u32, wait_ms: u32) -> Result<EventBatch, ApiError>;
    /// Counts for dashboards and health checks.
    async fn status() -> Result<DaemonStatus, ApiError>;

    /// Admins: a link for an access-link flow; its URL is in the answer and nowhere else.
    async fn create_link(args: NewLink) -> Result<LinkCreated, ApiError>;
    /// Admins and auditors: links, of one flow or all.
    async fn list_links(flow: Option<FlowName>) -> Result<Vec<LinkView>, ApiError>;
    /// Admins: the link opens nothing from now on (requests it opened go on).
    async fn revoke_link(id: LinkId) -> Result<LinkView, ApiError>;
    /// Admins: undelivered e-mail, with each message's attempts and last error.
    async fn list_outbox() -> Result<Vec<MailView>, ApiError>;

    /// Reads configured identity sources now (all, or one) and applies them (admins).
    async fn sync_run(
        source: Option<hallpass_core::SourceName>,
        dry_run: bool,
        force: bool,
    ) -> Result<Vec<hallpass_core::identity::SyncReport>, ApiError>;
    /// Every identity source: its last run and, while one runs, its progress (admins, auditors).
    async fn sync_status() -> Result<Vec<SourceStatus>, ApiError>;
    /// Imports people and groups from a file, in chunks (admins).
    async fn import_identities(chunk: ImportChunk) -> Result<ImportAck, ApiError>;

    /// Admins: the bearer token identity providers send to the SCIM server, shown in this
    /// answer only (the daemon keeps its SHA-256). Refused as a conflict when one exists,
    /// unless `rotate`, which replaces it (the old one stops working at once).
    async fn create_scim_token(rotate: bool) -> Result<ScimTokenCreated, ApiError>;
    /// Admins: removes the SCIM token; every SCIM request is refused until a new one is made.
    async fn revoke_scim_token() -> Result<(), ApiError>;

    /// An API token for the caller, with at most the caller's role; shown once.
    async fn create_token(args: NewToken) -> Result<TokenCreated, ApiError>;
    /// The caller's tokens; with `everyone`, all tokens (admins and auditors).
    async fn list_tokens(everyone: bool) -> Result<Vec<TokenView>, ApiError>;
    /// Own tokens; admins may revoke anyone's.
    async fn revoke_token(token: TokenRef) -> Result<TokenView, ApiError>;
}

#[doc = include_str!("../WIRE.md")]
pub mod wire_format {}
