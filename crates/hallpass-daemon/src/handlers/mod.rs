//! RPC handlers. [`Session`] is the per-connection server value: it holds the caller's
//! kernel-verified uid, resolves it to a user on every call, and delegates to one handler
//! module per verb (CRUD sets of one noun share a module). Invariant: no handler reads an
//! identity from its arguments.

mod accept;
mod approve;
mod audit;
mod cancel;
pub(crate) mod catalog;
mod events;
mod extend;
mod first_contact;
mod grants;
mod groups;
mod hello;
pub(crate) mod keys;
pub(crate) mod links;
mod operate;
mod policy_apply;
mod probe;
mod release;
mod requests;
mod scim_token;
mod signup;
pub(crate) mod submit;
mod sync;
mod tokens;
mod users;

pub(crate) use tokens::failure_key;

use hallpass_core::text::{BadText, bad_text};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use hallpass_core::audit::{Actor, AuditEntry, AuditEvent, Source};
use hallpass_core::flow::Flow;
use hallpass_core::integration::{Bundle, Integration};
use hallpass_core::user::Role;
use hallpass_core::{BundleName, FlowName, GrantId, GroupName, IntegrationName, LinkId, RequestId};
use hallpass_proto::*;
use tarpc::context::Context;

use crate::broker::{Broker, Caller, Fail};

/// Who is on the other end, as the transport established it.
#[derive(Debug, Clone, Copy)]
pub enum Peer {
    /// The unix socket: the kernel's peer credentials.
    Local { uid: u32, pid: Option<i32> },
    /// TCP+TLS: only an address until `authenticate` presents an API token.
    Remote { addr: std::net::SocketAddr },
}

/// One connection: its peer and what it has established so far.
#[derive(Debug)]
pub struct Connection {
    pub peer: Peer,
    source: OnceLock<Source>,
    refusal_audited: AtomicBool,
    /// The API token a remote connection authenticated with (never set on the unix socket).
    token: OnceLock<hallpass_core::TokenId>,
    /// Woken when `token` is set, so the accept loop stops the unauthenticated-connection timer.
    pub(crate) authenticated: tokio::sync::Notify,
}

impl Connection {
    pub fn new(uid: u32, pid: Option<i32>) -> Arc<Connection> {
        Self::with_peer(Peer::Local { uid, pid })
    }

    pub fn remote(addr: std::net::SocketAddr) -> Arc<Connection> {
        Self::with_peer(Peer::Remote { addr })
    }

    fn with_peer(peer: Peer) -> Arc<Connection> {
        Arc::new(Connection {
            peer,
            source: OnceLock::new(),
            refusal_audited: AtomicBool::new(false),
            token: OnceLock::new(),
            authenticated: tokio::sync::Notify::new(),
        })
    }

    /// The kernel-verified OS user, on the unix socket.
    pub fn uid(&self) -> Option<u32> {
        match self.peer {
            Peer::Local { uid, .. } => Some(uid),
            Peer::Remote { .. } => None,
        }
    }

    /// The token this connection authenticated with, if it did.
    pub fn token(&self) -> Option<hallpass_core::TokenId> {
        self.token.get().copied()
    }

    /// Where calls on this connection come from, as the client announced in `hello`.
    pub fn source(&self) -> Source {
        self.source.get().copied().unwrap_or(Source::Api)
    }

    /// The OS user on the unix socket, or a refusal naming what a remote caller must do.
    pub(crate) fn local_uid(&self, what: &str) -> Result<u32, Fail> {
        self.uid().ok_or_else(|| {
            Fail::Api(ApiError::conflict(format!(
                "{what} needs the daemon's unix socket (it binds your OS user); over TCP use an API token"
            )))
        })
    }
}

/// The server value for one connection.
#[derive(Clone, Debug)]
pub struct Session {
    pub(crate) broker: Arc<Broker>,
    pub(crate) conn: Arc<Connection>,
}

impl Session {
    pub fn new(broker: Arc<Broker>, conn: Arc<Connection>) -> Self {
        Session { broker, conn }
    }

    /// The caller's account. An OS user without one is refused, and audited once per connection.
    pub(crate) async fn caller(&self) -> Result<Caller, Fail> {
        let uid = match self.conn.peer {
            Peer::Remote { .. } => return tokens::caller(self),
            Peer::Local { uid, .. } => uid,
        };
        let store = self.broker.store();
        match store.user_by_uid(uid)? {
            Some(user) if user.is_active() => Ok(Caller {
                user,
                source: self.conn.source(),
                via: None,
            }),
            None if self.broker.config().sync.first_contact
                && let Some(user) = first_contact::bind(self).await? =>
            {
                Ok(Caller {
                    user,
                    source: self.conn.source(),
                    via: None,
                })
            }
            Some(user) if user.status == hallpass_core::user::UserStatus::Deactivated => {
                let sources: Vec<&str> = user.sources.keys().map(|s| s.as_str()).collect();
                Err(Fail::Api(ApiError::Unauthenticated {
                    uid,
                    why: format!(
                        "the account {} was deactivated at its identity source ({}); ask an admin ({}) if that is wrong",
                        user.email,
                        sources.join(", "),
                        self.broker.admin_emails().join(", ")
                    ),
                }))
            }
            _ => {
                if !self.conn.refusal_audited.swap(true, Ordering::SeqCst) {
                    let now = self.broker.now();
                    let entry = AuditEntry::new(
                        Actor::Unknown { uid },
                        self.conn.source(),
                        "auth.refuse",
                        format!("uid {uid}"),
                        "an OS user without a hallpass account connected and was refused",
                    );
                    self.broker.commit(|tx| Ok(tx.audit(now, entry)?)).await?;
                    tracing::warn!(uid, peer = ?self.conn.peer, "refused an OS user without an account");
                }
                let admins = self.broker.admin_emails();
                let why = if admins.is_empty() {
                    "no admin exists yet: run `hallpass signup --email … --name …` to become the first admin".to_string()
                } else {
                    format!(
                        "ask an admin ({}) for an invite, then run `hallpass accept CODE` as this OS user",
                        admins.join(", ")
                    )
                };
                Err(Fail::Api(ApiError::Unauthenticated { uid, why }))
            }
        }
    }
}

/// Runs a handler body with the authenticated caller and maps failures to wire errors.
macro_rules! as_caller {
    ($self:ident, |$caller:ident| $body:expr) => {{
        let result: Result<_, Fail> = async {
            let $caller = $self.caller().await?;
            $body.await
        }
        .await;
        result.map_err(Fail::into_api)
    }};
}

impl Hallpass for Session {
    async fn hello(self, _: Context, hello: ClientHello) -> Result<ServerHello, ApiError> {
        hello::hello(&self, hello)
    }

    async fn authenticate(self, _: Context, args: Authenticate) -> Result<Authenticated, ApiError> {
        tokens::authenticate(&self, args)
            .await
            .map_err(Fail::into_api)
    }

    async fn accept_invite_remote(
        self,
        _: Context,
        args: RemoteAccept,
    ) -> Result<RemoteAccepted, ApiError> {
        accept::accept_remote(&self, args)
            .await
            .map_err(Fail::into_api)
    }

    async fn whoami(self, _: Context) -> Result<WhoAmI, ApiError> {
        hello::whoami(&self).await.map_err(Fail::into_api)
    }

    async fn signup(self, _: Context, args: SignupArgs) -> Result<UserView, ApiError> {
        signup::signup(&self, args).await.map_err(Fail::into_api)
    }

    async fn accept_invite(self, _: Context, code: String) -> Result<UserView, ApiError> {
        accept::accept(&self, code).await.map_err(Fail::into_api)
    }

    async fn invite_user(self, _: Context, args: InviteArgs) -> Result<InviteCreated, ApiError> {
        as_caller!(self, |c| users::invite(&self, &c, args))
    }

    async fn list_users(self, _: Context, query: UserQuery) -> Result<Page<UserView>, ApiError> {
        as_caller!(self, |c| users::list(&self, &c, query))
    }

    async fn get_user(self, _: Context, user: UserRef) -> Result<UserView, ApiError> {
        as_caller!(self, |c| users::get(&self, &c, user))
    }

    async fn set_role(self, _: Context, user: UserRef, role: Role) -> Result<UserView, ApiError> {
        as_caller!(self, |c| users::set_role(&self, &c, user, role))
    }

    async fn set_manager(
        self,
        _: Context,
        user: UserRef,
        manager: Option<UserRef>,
    ) -> Result<UserView, ApiError> {
        as_caller!(self, |c| users::set_manager(&self, &c, user, manager))
    }

    async fn delete_user(self, _: Context, user: UserRef) -> Result<UserView, ApiError> {
        as_caller!(self, |c| users::delete(&self, &c, user))
    }

    async fn create_group(
        self,
        _: Context,
        name: GroupName,
        description: String,
    ) -> Result<GroupView, ApiError> {
        as_caller!(self, |c| groups::create(&self, &c, name, description))
    }

    async fn delete_group(self, _: Context, name: GroupName) -> Result<GroupView, ApiError> {
        as_caller!(self, |c| groups::delete(&self, &c, name))
    }

    async fn list_groups(self, _: Context) -> Result<Vec<GroupView>, ApiError> {
        as_caller!(self, |c| groups::list(&self, &c))
    }

    async fn get_group(self, _: Context, name: GroupName) -> Result<GroupView, ApiError> {
        as_caller!(self, |c| groups::get(&self, &c, name))
    }

    async fn add_member(
        self,
        _: Context,
        group: GroupName,
        user: UserRef,
    ) -> Result<GroupView, ApiError> {
        as_caller!(self, |c| groups::set_member(&self, &c, group, user, true))
    }

    async fn remove_member(
        self,
        _: Context,
        group: GroupName,
        user: UserRef,
    ) -> Result<GroupView, ApiError> {
        as_caller!(self, |c| groups::set_member(&self, &c, group, user, false))
    }

    async fn put_integration(
        self,
        _: Context,
        integration: Integration,
        mode: PutMode,
    ) -> Result<Integration, ApiError> {
        as_caller!(self, |c| catalog::put_integration(
            &self,
            &c,
            integration,
            mode
        ))
    }

    async fn list_integrations(self, _: Context) -> Result<Vec<Integration>, ApiError> {
        as_caller!(self, |c| catalog::list_integrations(&self, &c))
    }

    async fn get_integration(
        self,
        _: Context,
        name: IntegrationName,
    ) -> Result<Integration, ApiError> {
        as_caller!(self, |c| catalog::get_integration(&self, &c, name))
    }

    async fn delete_integration(
        self,
        _: Context,
        name: IntegrationName,
    ) -> Result<Integration, ApiError> {
        as_caller!(self, |c| catalog::delete_integration(&self, &c, name))
    }

    async fn put_bundle(
        self,
        _: Context,
        bundle: Bundle,
        mode: PutMode,
    ) -> Result<Bundle, ApiError> {
        as_caller!(self, |c| catalog::put_bundle(&self, &c, bundle, mode))
    }

    async fn list_bundles(self, _: Context) -> Result<Vec<Bundle>, ApiError> {
        as_caller!(self, |c| catalog::list_bundles(&self, &c))
    }

    async fn delete_bundle(self, _: Context, name: BundleName) -> Result<Bundle, ApiError> {
        as_caller!(self, |c| catalog::delete_bundle(&self, &c, name))
    }

    async fn put_flow(self, _: Context, flow: Flow, mode: PutMode) -> Result<Flow, ApiError> {
        as_caller!(self, |c| catalog::put_flow(&self, &c, flow, mode))
    }

    async fn list_flows(self, _: Context) -> Result<Vec<FlowView>, ApiError> {
        as_caller!(self, |c| catalog::list_flows(&self, &c))
    }

    async fn get_flow(self, _: Context, name: FlowName) -> Result<FlowView, ApiError> {
        as_caller!(self, |c| catalog::get_flow(&self, &c, name))
    }

    async fn delete_flow(self, _: Context, name: FlowName) -> Result<Flow, ApiError> {
        as_caller!(self, |c| catalog::delete_flow(&self, &c, name))
    }

    async fn set_flow_enabled(
        self,
        _: Context,
        name: FlowName,
        enabled: bool,
    ) -> Result<Flow, ApiError> {
        as_caller!(self, |c| catalog::set_flow_enabled(
            &self, &c, name, enabled
        ))
    }

    async fn submit_request(self, _: Context, args: NewRequest) -> Result<RequestView, ApiError> {
        as_caller!(self, |c| submit::submit(&self, &c, args))
    }

    async fn list_requests(
        self,
        _: Context,
        query: RequestQuery,
    ) -> Result<Page<RequestView>, ApiError> {
        as_caller!(self, |c| requests::list(&self, &c, query))
    }

    async fn get_request(self, _: Context, id: RequestId) -> Result<RequestView, ApiError> {
        as_caller!(self, |c| requests::get(&self, &c, id))
    }

    async fn approve(
        self,
        _: Context,
        id: RequestId,
        reason: Option<String>,
    ) -> Result<RequestView, ApiError> {
        as_caller!(self, |c| approve::approve(&self, &c, id, reason))
    }

    async fn reject(
        self,
        _: Context,
        id: RequestId,
        reason: Option<String>,
    ) -> Result<RequestView, ApiError> {
        as_caller!(self, |c| approve::reject(&self, &c, id, reason))
    }

    async fn cancel(self, _: Context, id: RequestId) -> Result<RequestView, ApiError> {
        as_caller!(self, |c| cancel::cancel(&self, &c, id))
    }

    async fn request_again(
        self,
        _: Context,
        id: RequestId,
        args: AgainArgs,
    ) -> Result<RequestView, ApiError> {
        as_caller!(self, |c| submit::again(&self, &c, id, args))
    }

    async fn list_grants(self, _: Context, query: GrantQuery) -> Result<Page<GrantView>, ApiError> {
        as_caller!(self, |c| grants::list(&self, &c, query))
    }

    async fn get_grant(self, _: Context, id: GrantId) -> Result<GrantView, ApiError> {
        as_caller!(self, |c| grants::get(&self, &c, id))
    }

    async fn release(self, _: Context, id: GrantId) -> Result<GrantView, ApiError> {
        as_caller!(self, |c| release::release(&self, &c, id))
    }

    async fn revoke(
        self,
        _: Context,
        id: GrantId,
        reason: Option<String>,
    ) -> Result<GrantView, ApiError> {
        as_caller!(self, |c| release::revoke(&self, &c, id, reason))
    }

    async fn extend(
        self,
        _: Context,
        id: GrantId,
        args: ExtendArgs,
    ) -> Result<RequestView, ApiError> {
        as_caller!(self, |c| extend::extend(&self, &c, id, args))
    }

    async fn grant_credentials(
        self,
        _: Context,
        id: GrantId,
    ) -> Result<hallpass_core::credential::Credentials, ApiError> {
        as_caller!(self, |c| operate::credentials(&self, &c, id))
    }

    async fn retry_grant(self, _: Context, id: GrantId) -> Result<GrantView, ApiError> {
        as_caller!(self, |c| operate::retry(&self, &c, id))
    }

    async fn force_end_grant(
        self,
        _: Context,
        id: GrantId,
        reason: String,
    ) -> Result<GrantView, ApiError> {
        as_caller!(self, |c| operate::force_end(&self, &c, id, reason))
    }

    async fn test_integration(
        self,
        _: Context,
        name: IntegrationName,
    ) -> Result<Vec<CheckView>, ApiError> {
        as_caller!(self, |c| probe::test(&self, &c, name))
    }

    async fn discover_integration(
        self,
        _: Context,
        name: IntegrationName,
    ) -> Result<Vec<hallpass_core::integration::ResourceDef>, ApiError> {
        as_caller!(self, |c| probe::discover(&self, &c, name))
    }

    async fn drift(self, _: Context, cleanup: bool) -> Result<DriftReport, ApiError> {
        as_caller!(self, |c| probe::drift(&self, &c, cleanup))
    }

    async fn export_policy(
        self,
        _: Context,
    ) -> Result<hallpass_core::policy_doc::PolicyDoc, ApiError> {
        as_caller!(self, |c| policy_apply::export(&self, &c))
    }

    async fn apply_policy(
        self,
        _: Context,
        doc: hallpass_core::policy_doc::PolicyDoc,
        prune: bool,
        dry_run: bool,
        expect: Option<String>,
    ) -> Result<hallpass_core::policy_doc::PolicyPlan, ApiError> {
        as_caller!(self, |c| policy_apply::apply(
            &self, &c, doc, prune, dry_run, expect
        ))
    }

    async fn add_ssh_key(self, _: Context, key: String) -> Result<Vec<SshKeyView>, ApiError> {
        as_caller!(self, |c| keys::add(&self, &c, key))
    }

    async fn list_ssh_keys(self, _: Context) -> Result<Vec<SshKeyView>, ApiError> {
        as_caller!(self, |c| keys::list(&self, &c))
    }

    async fn remove_ssh_key(
        self,
        _: Context,
        fingerprint: String,
    ) -> Result<Vec<SshKeyView>, ApiError> {
        as_caller!(self, |c| keys::remove(&self, &c, fingerprint))
    }

    async fn list_audit(self, _: Context, query: AuditQuery) -> Result<Page<AuditEvent>, ApiError> {
        as_caller!(self, |c| audit::list(&self, &c, query))
    }

    async fn verify_audit(self, _: Context) -> Result<AuditVerification, ApiError> {
        as_caller!(self, |c| audit::verify(&self, &c))
    }

    async fn events_since(
        self,
        _: Context,
        cursor: u64,
        limit: u32,
        wait_ms: u32,
    ) -> Result<EventBatch, ApiError> {
        as_caller!(self, |c| events::since(&self, &c, cursor, limit, wait_ms))
    }

    async fn status(self, _: Context) -> Result<DaemonStatus, ApiError> {
        as_caller!(self, |c| hello::status(&self, &c))
    }

    async fn create_link(self, _: Context, args: NewLink) -> Result<LinkCreated, ApiError> {
        as_caller!(self, |c| links::create(&self, &c, args))
    }

    async fn list_links(
        self,
        _: Context,
        flow: Option<FlowName>,
    ) -> Result<Vec<LinkView>, ApiError> {
        as_caller!(self, |c| links::list(&self, &c, flow))
    }

    async fn revoke_link(self, _: Context, id: LinkId) -> Result<LinkView, ApiError> {
        as_caller!(self, |c| links::revoke(&self, &c, id))
    }

    async fn create_token(self, _: Context, args: NewToken) -> Result<TokenCreated, ApiError> {
        as_caller!(self, |c| tokens::create(&self, &c, args))
    }

    async fn list_tokens(self, _: Context, everyone: bool) -> Result<Vec<TokenView>, ApiError> {
        as_caller!(self, |c| tokens::list(&self, &c, everyone))
    }

    async fn revoke_token(self, _: Context, token: TokenRef) -> Result<TokenView, ApiError> {
        as_caller!(self, |c| tokens::revoke(&self, &c, token))
    }

    async fn list_outbox(self, _: Context) -> Result<Vec<MailView>, ApiError> {
        as_caller!(self, |c| links::outbox(&self, &c))
    }

    async fn sync_run(
        self,
        _: Context,
        source: Option<hallpass_core::SourceName>,
        dry_run: bool,
        force: bool,
    ) -> Result<Vec<hallpass_core::identity::SyncReport>, ApiError> {
        as_caller!(self, |c| sync::run(&self, &c, source, dry_run, force))
    }

    async fn sync_status(self, _: Context) -> Result<Vec<SourceStatus>, ApiError> {
        as_caller!(self, |c| sync::status(&self, &c))
    }

    async fn import_identities(
        self,
        _: Context,
        chunk: ImportChunk,
    ) -> Result<ImportAck, ApiError> {
        as_caller!(self, |c| sync::import(&self, &c, chunk))
    }

    async fn create_scim_token(
        self,
        _: Context,
        rotate: bool,
    ) -> Result<ScimTokenCreated, ApiError> {
        as_caller!(self, |c| scim_token::create(&self, &c, rotate))
    }

    async fn revoke_scim_token(self, _: Context) -> Result<(), ApiError> {
        as_caller!(self, |c| scim_token::revoke(&self, &c))
    }
}

/// Page size bounds shared by every list RPC.
pub(crate) fn page_limit(limit: u32) -> usize {
    match limit {
        0 => 100,
        n => n.min(1000) as usize,
    }
}

/// Parses an opaque paging cursor we produced (a decimal id).
pub(crate) fn parse_cursor(after: &Option<String>) -> Result<Option<u64>, Fail> {
    match after {
        None => Ok(None),
        Some(s) => s.parse::<u64>().map(Some).map_err(|_| {
            Fail::Api(ApiError::invalid(
                "after",
                format!("`{s}` is not a cursor from a previous page"),
            ))
        }),
    }
}

/// Resolves a user reference to a stored user.
pub(crate) fn find_user(broker: &Broker, r: &UserRef) -> Result<hallpass_core::user::User, Fail> {
    let store = broker.store();
    let found = match r {
        UserRef::Id(id) => store.user(*id)?,
        UserRef::Email(e) => store.user_by_email(&e.trim().to_ascii_lowercase())?,
    };
    found.ok_or_else(|| Fail::Api(ApiError::not_found(format!("user {r}"))))
}

/// The longest reason, justification or note.
pub(crate) const MAX_TEXT: usize = 2000;

/// Free text (reasons, justifications, notes) as kept: trimmed, `None` when empty, refused as
/// `hallpass_core::text::bad_text` says. The access-link form shares it and words its own refusal.
pub(crate) fn free_text(s: Option<String>) -> Result<Option<String>, BadText> {
    let Some(s) = s else { return Ok(None) };
    let t = s.trim();
    if t.is_empty() {
        return Ok(None);
    }
    match bad_text(t, MAX_TEXT) {
        Some(bad) => Err(bad),
        None => Ok(Some(t.to_string())),
    }
}

/// [`free_text`] for the RPC: a refusal names `field`.
pub(crate) fn clean_text(field: &str, s: Option<String>) -> Result<Option<String>, Fail> {
    free_text(s).map_err(|bad| {
        Fail::Api(ApiError::invalid(
            field,
            match bad {
                BadText::Bidi => "must not hold bidirectional controls (U+202A to U+202E, U+2066 to U+2069): they show text in another order than it reads",
                BadText::TooLong | BadText::Unprintable => "must be at most 2000 printable characters",
            },
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reasons, justifications and notes are read by others in terminals and pages: what is
    /// stored is what they see.
    #[test]
    fn free_text_is_refused_when_it_would_show_other_than_it_reads() {
        let kept = clean_text("reason", Some("  fix the\nbilling job ".into()));
        assert_eq!(kept.ok().flatten().as_deref(), Some("fix the\nbilling job"));
        assert!(matches!(clean_text("reason", Some(" ".into())), Ok(None)));
        for (bad, says) in [
            ("a\rb".to_string(), "printable"),
            ("a\u{1b}[2Jb".to_string(), "printable"),
            ("x".repeat(2001), "printable"),
            // Shows as "approve maintenance period" while it says the reverse.
            (
                "approve \u{202E}doirep ecnanetniam\u{202C}".to_string(),
                "bidirectional",
            ),
            ("\u{2066}x\u{2069}".to_string(), "bidirectional"),
        ] {
            match clean_text("reason", Some(bad.clone())) {
                Err(Fail::Api(e)) => {
                    let shown = format!("{e:?}");
                    assert!(
                        shown.contains("reason") && shown.contains(says),
                        "{bad:?}: {shown}"
                    );
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }
}
