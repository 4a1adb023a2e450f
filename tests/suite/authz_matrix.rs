//! Who may call what: every RPC of the `Hallpass` trait × {admin, grantee, auditor, an OS user
//! without an account, a deleted user}, each cell with fresh objects and arguments that would
//! succeed for an allowed caller, checking the kind of every refusal. Unknown and deleted
//! callers must also leave an `auth.refuse` audit event.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::fmt::Debug;

use hallpass_core::audit::Source;
use hallpass_core::flow::{ApprovalRule, Approver};
use hallpass_core::integration::Bundle;
use hallpass_core::user::Role;
use hallpass_core::{BundleName, FlowName, GrantId, GroupName, IntegrationName, RequestId};
use hallpass_proto::{
    AgainArgs, ApiError, AuditQuery, Authenticate, ClientHello, ExtendArgs, GrantQuery, GrantScope,
    HallpassRequest, InviteArgs, NewToken, PROTOCOL_VERSION, PutMode, RemoteAccept, RequestQuery,
    RequestScope, SignupArgs, TokenRef, UserQuery, UserRef, UserView,
};

use crate::support::harness::*;

const GRANTEE_UID: u32 = 2001;
const AUDITOR_UID: u32 = 2002;
/// Owns the requests and grants that callers act on when the row is about someone else's.
const BYSTANDER_UID: u32 = 2003;
/// A second admin, so an admin's own requests on the admins-approve flow have an approver.
const ADMIN2_UID: u32 = 2004;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Admin,
    Grantee,
    Auditor,
    Unknown,
    Deleted,
}

const WHO: [Who; 5] = [
    Who::Admin,
    Who::Grantee,
    Who::Auditor,
    Who::Unknown,
    Who::Deleted,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Allow,
    Forbidden,
    Unauthenticated,
    /// Refused for a reason other than authorization, with this `ApiError::kind`.
    Refused(&'static str),
}

use Expect::{Allow as Y, Forbidden as F, Unauthenticated as U};
const C: Expect = Expect::Refused("conflict");
/// Past authorization, refused for the object's state (e.g. an exec grant has no credentials).
const NF: Expect = Expect::Refused("not_found");
const IT: Expect = Expect::Refused("invalid_transition");
const UA: Expect = Expect::Refused("unavailable");
const SSH_KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPnoaekYdQgEtDf5keq8Urj/x7hzGRuFzROFc1ypoY40 matrix@example";

macro_rules! cases {
    ($($case:ident => $rpc:ident),* $(,)?) => {
        /// One row of the matrix: an RPC, called on a particular kind of object.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        enum Case { $($case),* }

        impl Case {
            fn rpc(self) -> &'static str {
                match self { $(Case::$case => stringify!($rpc)),* }
            }
        }
    };
}

cases! {
    Hello => Hello,
    Whoami => Whoami,
    Signup => Signup,
    AcceptInvite => AcceptInvite,
    InviteUser => InviteUser,
    ListUsers => ListUsers,
    GetUserSelf => GetUser,
    GetUserOther => GetUser,
    SetRole => SetRole,
    SetManager => SetManager,
    DeleteUser => DeleteUser,
    CreateGroup => CreateGroup,
    DeleteGroup => DeleteGroup,
    ListGroups => ListGroups,
    GetGroupMember => GetGroup,
    GetGroupOther => GetGroup,
    AddMember => AddMember,
    RemoveMember => RemoveMember,
    PutIntegration => PutIntegration,
    ListIntegrations => ListIntegrations,
    GetIntegration => GetIntegration,
    DeleteIntegration => DeleteIntegration,
    PutBundle => PutBundle,
    ListBundles => ListBundles,
    DeleteBundle => DeleteBundle,
    PutFlow => PutFlow,
    ListFlows => ListFlows,
    GetFlow => GetFlow,
    DeleteFlow => DeleteFlow,
    SetFlowEnabled => SetFlowEnabled,
    SubmitRequest => SubmitRequest,
    ListRequestsMine => ListRequests,
    ListRequestsToApprove => ListRequests,
    ListRequestsAll => ListRequests,
    GetRequestOwn => GetRequest,
    GetRequestOther => GetRequest,
    Approve => Approve,
    Reject => Reject,
    CancelOwn => Cancel,
    CancelOther => Cancel,
    RequestAgainOwn => RequestAgain,
    RequestAgainOther => RequestAgain,
    ListGrantsMine => ListGrants,
    ListGrantsAll => ListGrants,
    GetGrantOwn => GetGrant,
    GetGrantOther => GetGrant,
    ReleaseOwn => Release,
    ReleaseOther => Release,
    Revoke => Revoke,
    ExtendOwn => Extend,
    ExtendOther => Extend,
    GrantCredentialsOwn => GrantCredentials,
    GrantCredentialsOther => GrantCredentials,
    RetryGrant => RetryGrant,
    ForceEndGrant => ForceEndGrant,
    TestIntegration => TestIntegration,
    DiscoverIntegration => DiscoverIntegration,
    ExportPolicy => ExportPolicy,
    ApplyPolicy => ApplyPolicy,
    DriftCheck => Drift,
    DriftCleanup => Drift,
    AddSshKey => AddSshKey,
    ListSshKeys => ListSshKeys,
    RemoveSshKey => RemoveSshKey,
    ListAudit => ListAudit,
    VerifyAudit => VerifyAudit,
    EventsSince => EventsSince,
    Status => Status,
    CreateLink => CreateLink,
    ListLinks => ListLinks,
    RevokeLink => RevokeLink,
    ListOutbox => ListOutbox,
    SyncRun => SyncRun,
    SyncStatus => SyncStatus,
    ImportIdentities => ImportIdentities,
    CreateScimToken => CreateScimToken,
    RevokeScimToken => RevokeScimToken,
    Authenticate => Authenticate,
    AcceptInviteRemote => AcceptInviteRemote,
    CreateToken => CreateToken,
    ListTokensMine => ListTokens,
    ListTokensAll => ListTokens,
    RevokeTokenOwn => RevokeToken,
    RevokeTokenOther => RevokeToken,
}

/// The RPC name of every request the service accepts. The match is exhaustive, so a new RPC
/// does not compile until it is named here, and the test then fails until it has a row.
fn rpc_name(r: &HallpassRequest) -> &'static str {
    use HallpassRequest as R;
    match r {
        R::Hello { .. } => "Hello",
        R::Whoami { .. } => "Whoami",
        R::Signup { .. } => "Signup",
        R::AcceptInvite { .. } => "AcceptInvite",
        R::InviteUser { .. } => "InviteUser",
        R::ListUsers { .. } => "ListUsers",
        R::GetUser { .. } => "GetUser",
        R::SetRole { .. } => "SetRole",
        R::SetManager { .. } => "SetManager",
        R::DeleteUser { .. } => "DeleteUser",
        R::CreateGroup { .. } => "CreateGroup",
        R::DeleteGroup { .. } => "DeleteGroup",
        R::ListGroups { .. } => "ListGroups",
        R::GetGroup { .. } => "GetGroup",
        R::AddMember { .. } => "AddMember",
        R::RemoveMember { .. } => "RemoveMember",
        R::PutIntegration { .. } => "PutIntegration",
        R::ListIntegrations { .. } => "ListIntegrations",
        R::GetIntegration { .. } => "GetIntegration",
        R::DeleteIntegration { .. } => "DeleteIntegration",
        R::PutBundle { .. } => "PutBundle",
        R::ListBundles { .. } => "ListBundles",
        R::DeleteBundle { .. } => "DeleteBundle",
        R::PutFlow { .. } => "PutFlow",
        R::ListFlows { .. } => "ListFlows",
        R::GetFlow { .. } => "GetFlow",
        R::DeleteFlow { .. } => "DeleteFlow",
        R::SetFlowEnabled { .. } => "SetFlowEnabled",
        R::SubmitRequest { .. } => "SubmitRequest",
        R::ListRequests { .. } => "ListRequests",
        R::GetRequest { .. } => "GetRequest",
        R::Approve { .. } => "Approve",
        R::Reject { .. } => "Reject",
        R::Cancel { .. } => "Cancel",
        R::RequestAgain { .. } => "RequestAgain",
        R::ListGrants { .. } => "ListGrants",
        R::GetGrant { .. } => "GetGrant",
        R::Release { .. } => "Release",
        R::Revoke { .. } => "Revoke",
        R::Extend { .. } => "Extend",
        R::GrantCredentials { .. } => "GrantCredentials",
        R::RetryGrant { .. } => "RetryGrant",
        R::ForceEndGrant { .. } => "ForceEndGrant",
        R::TestIntegration { .. } => "TestIntegration",
        R::DiscoverIntegration { .. } => "DiscoverIntegration",
        R::Drift { .. } => "Drift",
        R::ExportPolicy { .. } => "ExportPolicy",
        R::ApplyPolicy { .. } => "ApplyPolicy",
        R::AddSshKey { .. } => "AddSshKey",
        R::ListSshKeys { .. } => "ListSshKeys",
        R::RemoveSshKey { .. } => "RemoveSshKey",
        R::ListAudit { .. } => "ListAudit",
        R::VerifyAudit { .. } => "VerifyAudit",
        R::EventsSince { .. } => "EventsSince",
        R::Status { .. } => "Status",
        R::CreateLink { .. } => "CreateLink",
        R::ListLinks { .. } => "ListLinks",
        R::RevokeLink { .. } => "RevokeLink",
        R::ListOutbox { .. } => "ListOutbox",
        R::SyncRun { .. } => "SyncRun",
        R::SyncStatus { .. } => "SyncStatus",
        R::ImportIdentities { .. } => "ImportIdentities",
        R::CreateScimToken { .. } => "CreateScimToken",
        R::RevokeScimToken { .. } => "RevokeScimToken",
        R::Authenticate { .. } => "Authenticate",
        R::AcceptInviteRemote { .. } => "AcceptInviteRemote",
        R::CreateToken { .. } => "CreateToken",
        R::ListTokens { .. } => "ListTokens",
        R::RevokeToken { .. } => "RevokeToken",
    }
}

/// Every RPC, one sample request each, for the coverage check.
fn every_rpc(d: &TestDaemon) -> Vec<HallpassRequest> {
    use HallpassRequest as R;
    let user = || UserRef::Email("x@example.com".into());
    let group = || GroupName::new("g").expect("a slug");
    let flow = || FlowName::new("f").expect("a slug");
    let integration = hallpass_core::IntegrationName::new("i").expect("a slug");
    let some_flow = auto_flow("f");
    vec![
        R::Hello {
            hello: ClientHello {
                protocol: PROTOCOL_VERSION,
                client: "t".into(),
            },
        },
        R::Whoami {},
        R::Signup {
            args: SignupArgs {
                email: "x@example.com".into(),
                name: "x".into(),
                source: Source::Api,
            },
        },
        R::AcceptInvite { code: "c".into() },
        R::InviteUser {
            args: invite("x@example.com"),
        },
        R::ListUsers {
            query: UserQuery::default(),
        },
        R::GetUser { user: user() },
        R::SetRole {
            user: user(),
            role: Role::Grantee,
        },
        R::SetManager {
            user: user(),
            manager: None,
        },
        R::DeleteUser { user: user() },
        R::CreateGroup {
            name: group(),
            description: String::new(),
        },
        R::DeleteGroup { name: group() },
        R::ListGroups {},
        R::GetGroup { name: group() },
        R::AddMember {
            group: group(),
            user: user(),
        },
        R::RemoveMember {
            group: group(),
            user: user(),
        },
        R::PutIntegration {
            integration: d.exec_integration("i"),
            mode: PutMode::Create,
        },
        R::ListIntegrations {},
        R::GetIntegration {
            name: integration.clone(),
        },
        R::DeleteIntegration { name: integration },
        R::PutBundle {
            bundle: bundle("b"),
            mode: PutMode::Create,
        },
        R::ListBundles {},
        R::DeleteBundle {
            name: BundleName::new("b").expect("a slug"),
        },
        R::PutFlow {
            flow: some_flow,
            mode: PutMode::Create,
        },
        R::ListFlows {},
        R::GetFlow { name: flow() },
        R::DeleteFlow { name: flow() },
        R::SetFlowEnabled {
            name: flow(),
            enabled: true,
        },
        R::SubmitRequest {
            args: new_request("f", &target("db", "read"), None),
        },
        R::ListRequests {
            query: RequestQuery::default(),
        },
        R::GetRequest { id: RequestId(1) },
        R::Approve {
            id: RequestId(1),
            reason: None,
        },
        R::Reject {
            id: RequestId(1),
            reason: None,
        },
        R::Cancel { id: RequestId(1) },
        R::RequestAgain {
            id: RequestId(1),
            args: again(),
        },
        R::ListGrants {
            query: GrantQuery::default(),
        },
        R::GetGrant { id: GrantId(1) },
        R::Release { id: GrantId(1) },
        R::Revoke {
            id: GrantId(1),
            reason: None,
        },
        R::Extend {
            id: GrantId(1),
            args: extend(),
        },
        R::GrantCredentials { id: GrantId(1) },
        R::RetryGrant { id: GrantId(1) },
        R::ForceEndGrant {
            id: GrantId(1),
            reason: "r".into(),
        },
        R::TestIntegration {
            name: IntegrationName::new("i").expect("a slug"),
        },
        R::DiscoverIntegration {
            name: IntegrationName::new("i").expect("a slug"),
        },
        R::Drift { cleanup: false },
        R::ExportPolicy {},
        R::ApplyPolicy {
            doc: Default::default(),
            prune: false,
            dry_run: true,
            expect: None,
        },
        R::AddSshKey {
            key: SSH_KEY.into(),
        },
        R::ListSshKeys {},
        R::RemoveSshKey {
            fingerprint: "SHA256:x".into(),
        },
        R::ListAudit {
            query: AuditQuery::default(),
        },
        R::VerifyAudit {},
        R::EventsSince {
            cursor: 0,
            limit: 1,
            wait_ms: 0,
        },
        R::Status {},
        R::CreateLink {
            args: link_args(flow()),
        },
        R::ListLinks { flow: None },
        R::RevokeLink {
            id: hallpass_core::LinkId(1),
        },
        R::ListOutbox {},
        R::SyncRun {
            source: None,
            dry_run: true,
            force: false,
        },
        R::SyncStatus {},
        R::ImportIdentities {
            chunk: import_chunk(),
        },
        R::CreateScimToken { rotate: true },
        R::RevokeScimToken {},
        R::Authenticate {
            args: authenticate_args(),
        },
        R::AcceptInviteRemote {
            args: remote_accept_args("code".into()),
        },
        R::CreateToken {
            args: token_args("t".into()),
        },
        R::ListTokens { everyone: false },
        R::RevokeToken {
            token: TokenRef::Id(hallpass_core::TokenId(1)),
        },
    ]
}

/// Expected outcome for (admin, grantee, auditor, unknown, deleted).
const MATRIX: &[(Case, [Expect; 5])] = &[
    (Case::Hello, [Y, Y, Y, Y, Y]),
    (Case::Whoami, [Y, Y, Y, Y, Y]),
    (Case::Signup, [C, C, C, C, C]),
    (Case::AcceptInvite, [C, C, C, Y, Y]),
    (Case::InviteUser, [Y, F, F, U, U]),
    (Case::ListUsers, [Y, F, Y, U, U]),
    (Case::GetUserSelf, [Y, Y, Y, U, U]),
    (Case::GetUserOther, [Y, F, Y, U, U]),
    (Case::SetRole, [Y, F, F, U, U]),
    (Case::SetManager, [Y, F, F, U, U]),
    (Case::DeleteUser, [Y, F, F, U, U]),
    (Case::CreateGroup, [Y, F, F, U, U]),
    (Case::DeleteGroup, [Y, F, F, U, U]),
    (Case::ListGroups, [Y, F, Y, U, U]),
    (Case::GetGroupMember, [Y, Y, Y, U, U]),
    (Case::GetGroupOther, [Y, F, Y, U, U]),
    (Case::AddMember, [Y, F, F, U, U]),
    (Case::RemoveMember, [Y, F, F, U, U]),
    (Case::PutIntegration, [Y, F, F, U, U]),
    (Case::ListIntegrations, [Y, F, Y, U, U]),
    (Case::GetIntegration, [Y, F, Y, U, U]),
    (Case::DeleteIntegration, [Y, F, F, U, U]),
    (Case::PutBundle, [Y, F, F, U, U]),
    (Case::ListBundles, [Y, Y, Y, U, U]),
    (Case::DeleteBundle, [Y, F, F, U, U]),
    (Case::PutFlow, [Y, F, F, U, U]),
    (Case::ListFlows, [Y, Y, Y, U, U]),
    (Case::GetFlow, [Y, Y, Y, U, U]),
    (Case::DeleteFlow, [Y, F, F, U, U]),
    (Case::SetFlowEnabled, [Y, F, F, U, U]),
    (Case::SubmitRequest, [Y, Y, Y, U, U]),
    (Case::ListRequestsMine, [Y, Y, Y, U, U]),
    (Case::ListRequestsToApprove, [Y, Y, Y, U, U]),
    (Case::ListRequestsAll, [Y, F, Y, U, U]),
    (Case::GetRequestOwn, [Y, Y, Y, U, U]),
    (Case::GetRequestOther, [Y, F, Y, U, U]),
    (Case::Approve, [Y, F, F, U, U]),
    (Case::Reject, [Y, F, F, U, U]),
    (Case::CancelOwn, [Y, Y, Y, U, U]),
    (Case::CancelOther, [Y, F, F, U, U]),
    (Case::RequestAgainOwn, [Y, Y, Y, U, U]),
    (Case::RequestAgainOther, [F, F, F, U, U]),
    (Case::ListGrantsMine, [Y, Y, Y, U, U]),
    (Case::ListGrantsAll, [Y, F, Y, U, U]),
    (Case::GetGrantOwn, [Y, Y, Y, U, U]),
    (Case::GetGrantOther, [Y, F, Y, U, U]),
    (Case::ReleaseOwn, [Y, Y, Y, U, U]),
    (Case::ReleaseOther, [F, F, F, U, U]),
    (Case::Revoke, [Y, F, F, U, U]),
    (Case::ExtendOwn, [Y, Y, Y, U, U]),
    (Case::ExtendOther, [F, F, F, U, U]),
    (Case::GrantCredentialsOwn, [NF, NF, NF, U, U]),
    (Case::GrantCredentialsOther, [F, F, F, U, U]),
    (Case::RetryGrant, [IT, F, F, U, U]),
    (Case::ForceEndGrant, [IT, F, F, U, U]),
    (Case::TestIntegration, [Y, F, F, U, U]),
    (Case::DiscoverIntegration, [UA, F, F, U, U]),
    (Case::ExportPolicy, [Y, F, Y, U, U]),
    (Case::ApplyPolicy, [Y, F, F, U, U]),
    (Case::DriftCheck, [Y, F, Y, U, U]),
    (Case::DriftCleanup, [Y, F, F, U, U]),
    (Case::AddSshKey, [Y, Y, Y, U, U]),
    (Case::ListSshKeys, [Y, Y, Y, U, U]),
    (Case::RemoveSshKey, [Y, Y, Y, U, U]),
    (Case::ListAudit, [Y, F, Y, U, U]),
    (Case::VerifyAudit, [Y, F, Y, U, U]),
    (Case::EventsSince, [Y, Y, Y, U, U]),
    (Case::Status, [Y, Y, Y, U, U]),
    (Case::CreateLink, [Y, F, F, U, U]),
    (Case::ListLinks, [Y, F, Y, U, U]),
    (Case::RevokeLink, [Y, F, F, U, U]),
    (Case::ListOutbox, [Y, F, F, U, U]),
    // No sources are configured here: past authorization the admin hears so.
    (Case::SyncRun, [C, F, F, U, U]),
    (Case::SyncStatus, [Y, F, Y, U, U]),
    (Case::ImportIdentities, [Y, F, F, U, U]),
    (Case::CreateScimToken, [Y, F, F, U, U]),
    (Case::RevokeScimToken, [Y, F, F, U, U]),
    // The unix socket knows callers by their OS user: tokens authenticate TCP connections only.
    (Case::Authenticate, [C, C, C, C, C]),
    (Case::AcceptInviteRemote, [C, C, C, C, C]),
    (Case::CreateToken, [Y, Y, Y, U, U]),
    (Case::ListTokensMine, [Y, Y, Y, U, U]),
    (Case::ListTokensAll, [Y, F, Y, U, U]),
    (Case::RevokeTokenOwn, [Y, Y, Y, U, U]),
    // Others' token ids are not confirmed to non-admins.
    (Case::RevokeTokenOther, [Y, NF, NF, U, U]),
];

/// An empty, finished import: a dry run that changes nothing.
fn import_chunk() -> hallpass_proto::ImportChunk {
    hallpass_proto::ImportChunk {
        upload: None,
        source: hallpass_core::SourceName::new("authz").expect("a valid name"),
        people: vec![],
        groups: vec![],
        done: true,
        dry_run: true,
        force: false,
    }
}

fn link_args(flow: FlowName) -> hallpass_proto::NewLink {
    hallpass_proto::NewLink {
        flow,
        expires_in_secs: None,
        max_uses: None,
        note: String::new(),
    }
}

fn invite(email: &str) -> InviteArgs {
    InviteArgs {
        email: email.into(),
        name: "Fresh Person".into(),
        role: Role::Grantee,
        phone: None,
        expires_in_secs: None,
    }
}

fn again() -> AgainArgs {
    AgainArgs {
        duration_secs: None,
        reason: None,
        source: Source::Cli,
    }
}

fn extend() -> ExtendArgs {
    ExtendArgs {
        duration_secs: 600,
        reason: Some("a little longer".into()),
        source: Source::Cli,
    }
}

fn bundle(name: &str) -> Bundle {
    Bundle {
        name: BundleName::new(name).expect("a slug"),
        description: String::new(),
        targets: vec![target("db", "read"), target("logs", "read")],
        updated_at: T0,
    }
}

/// What a call came to.
enum Outcome {
    Ok,
    Refused(ApiError),
    Transport(String),
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Ok => f.write_str("success"),
            Outcome::Refused(e) => write!(f, "{e:?}"),
            Outcome::Transport(e) => write!(f, "transport error: {e}"),
        }
    }
}

fn judge<T: Debug>(r: Result<Result<T, ApiError>, tarpc::client::RpcError>) -> Outcome {
    match r {
        Ok(Ok(_)) => Outcome::Ok,
        Ok(Err(e)) => Outcome::Refused(e),
        Err(e) => Outcome::Transport(e.to_string()),
    }
}

fn matches_expectation(outcome: &Outcome, expect: Expect, uid: u32) -> bool {
    match (outcome, expect) {
        (Outcome::Ok, Expect::Allow) => true,
        (Outcome::Refused(ApiError::Forbidden { why, .. }), Expect::Forbidden) => !why.is_empty(),
        (Outcome::Refused(ApiError::Unauthenticated { uid: u, .. }), Expect::Unauthenticated) => {
            *u == uid
        }
        (Outcome::Refused(e), Expect::Refused(kind)) => e.kind() == kind,
        _ => false,
    }
}

struct Matrix {
    d: TestDaemon,
    bystander: UserView,
    counter: Cell<u32>,
}

impl Matrix {
    async fn new() -> Matrix {
        let d = TestDaemon::start().await;
        d.add_user(GRANTEE_UID, "grantee@example.com", Role::Grantee)
            .await;
        d.add_user(AUDITOR_UID, "auditor@example.com", Role::Auditor)
            .await;
        d.add_user(ADMIN2_UID, "admin2@example.com", Role::Admin)
            .await;
        let bystander = d
            .add_user(BYSTANDER_UID, "bystander@example.com", Role::Grantee)
            .await;
        d.put_flow(auto_flow("auto")).await;
        d.put_flow(flow(
            "by-admins",
            ApprovalRule::AnyOf,
            vec![Approver::Admins],
        ))
        .await;
        Matrix {
            d,
            bystander,
            counter: Cell::new(0),
        }
    }

    fn next(&self) -> u32 {
        let n = self.counter.get() + 1;
        self.counter.set(n);
        n
    }

    fn fresh_name(&self, prefix: &str) -> String {
        format!("{prefix}-{}", self.next())
    }

    /// The uid calling as `who`; unknown and deleted callers are fresh for every cell.
    async fn caller(&self, who: Who) -> u32 {
        match who {
            Who::Admin => ADMIN_UID,
            Who::Grantee => GRANTEE_UID,
            Who::Auditor => AUDITOR_UID,
            Who::Unknown => 30_000 + self.next(),
            Who::Deleted => {
                let uid = 40_000 + self.next();
                let u = self
                    .d
                    .add_user(uid, &format!("deleted-{uid}@example.com"), Role::Grantee)
                    .await;
                self.d
                    .admin()
                    .delete_user(ctx(), UserRef::Id(u.id))
                    .await
                    .done("delete the caller-to-be");
                uid
            }
        }
    }

    /// Whose objects an "own" row acts on: the caller's, or the bystander's for callers
    /// without an account.
    fn owner(who: Who, uid: u32) -> u32 {
        match who {
            Who::Unknown | Who::Deleted => BYSTANDER_UID,
            _ => uid,
        }
    }

    async fn fresh_user(&self) -> UserView {
        let uid = 50_000 + self.next();
        self.d
            .add_user(uid, &format!("fresh-{uid}@example.com"), Role::Grantee)
            .await
    }

    async fn fresh_group(&self, members: &[&UserView]) -> GroupName {
        self.d.add_group(&self.fresh_name("grp"), members).await
    }

    async fn fresh_integration(&self) -> IntegrationName {
        let name = IntegrationName::new(self.fresh_name("int")).expect("a slug");
        self.d
            .admin()
            .put_integration(
                ctx(),
                self.d.exec_integration(name.as_str()),
                PutMode::Create,
            )
            .await
            .done("create an integration");
        name
    }

    async fn fresh_bundle(&self) -> BundleName {
        let b = bundle(&self.fresh_name("bundle"));
        let name = b.name.clone();
        self.d
            .admin()
            .put_bundle(ctx(), b, PutMode::Create)
            .await
            .done("create a bundle");
        name
    }

    async fn fresh_flow(&self) -> FlowName {
        self.d
            .put_flow(auto_flow(&self.fresh_name("flow")))
            .await
            .name
    }

    async fn fresh_link_flow(&self) -> FlowName {
        let mut f = auto_flow(&self.fresh_name("linkflow"));
        f.trigger = hallpass_core::flow::Trigger::AccessLink;
        self.d.put_flow(f).await.name
    }

    async fn pending_of(&self, uid: u32) -> RequestId {
        self.d
            .request(uid, "by-admins", &target("db", "write"), None)
            .await
            .id
    }

    /// A request of `uid` in a terminal state (auto-approved).
    async fn terminal_of(&self, uid: u32) -> RequestId {
        self.d
            .request(uid, "auto", &target("logs", "read"), None)
            .await
            .id
    }

    async fn grant_of(&self, uid: u32) -> GrantId {
        self.d
            .active_grant(uid, "auto", &target("db", "read"), None)
            .await
            .id
    }

    async fn run(&self, case: Case, who: Who, uid: u32) -> Outcome {
        let d = &self.d;
        let admin = d.admin();
        let c = d.client(uid);
        let owner = Self::owner(who, uid);
        let by = UserRef::Id(self.bystander.id);
        match case {
            Case::Hello => judge(
                c.hello(
                    ctx(),
                    ClientHello {
                        protocol: PROTOCOL_VERSION,
                        client: "authz-matrix".into(),
                    },
                )
                .await,
            ),
            Case::Whoami => judge(c.whoami(ctx()).await),
            Case::Signup => {
                let email = format!("{}@example.com", self.fresh_name("signup"));
                judge(
                    c.signup(
                        ctx(),
                        SignupArgs {
                            email,
                            name: "Sig Nup".into(),
                            source: Source::Cli,
                        },
                    )
                    .await,
                )
            }
            Case::AcceptInvite => {
                let email = format!("{}@example.com", self.fresh_name("invitee"));
                let code = admin
                    .invite_user(ctx(), invite(&email))
                    .await
                    .done("invite")
                    .code;
                judge(c.accept_invite(ctx(), code).await)
            }
            Case::InviteUser => judge(
                c.invite_user(
                    ctx(),
                    invite(&format!("{}@example.com", self.fresh_name("new"))),
                )
                .await,
            ),
            Case::ListUsers => judge(c.list_users(ctx(), UserQuery::default()).await),
            Case::GetUserSelf => {
                let me = match who {
                    Who::Unknown | Who::Deleted => by,
                    _ => UserRef::Id(
                        c.whoami(ctx())
                            .await
                            .done("whoami")
                            .user
                            .expect("an account")
                            .id,
                    ),
                };
                judge(c.get_user(ctx(), me).await)
            }
            Case::GetUserOther => judge(c.get_user(ctx(), by).await),
            Case::SetRole => {
                let u = self.fresh_user().await;
                judge(c.set_role(ctx(), UserRef::Id(u.id), Role::Auditor).await)
            }
            Case::SetManager => {
                let u = self.fresh_user().await;
                judge(c.set_manager(ctx(), UserRef::Id(u.id), Some(by)).await)
            }
            Case::DeleteUser => {
                let u = self.fresh_user().await;
                judge(c.delete_user(ctx(), UserRef::Id(u.id)).await)
            }
            Case::CreateGroup => judge(
                c.create_group(ctx(), group_name(&self.fresh_name("grp")), "new".into())
                    .await,
            ),
            Case::DeleteGroup => judge(c.delete_group(ctx(), self.fresh_group(&[]).await).await),
            Case::ListGroups => judge(c.list_groups(ctx()).await),
            Case::GetGroupMember => {
                let member = match who {
                    Who::Unknown | Who::Deleted => self.bystander.clone(),
                    _ => c
                        .whoami(ctx())
                        .await
                        .done("whoami")
                        .user
                        .expect("an account"),
                };
                judge(c.get_group(ctx(), self.fresh_group(&[&member]).await).await)
            }
            Case::GetGroupOther => judge(
                c.get_group(ctx(), self.fresh_group(&[&self.bystander]).await)
                    .await,
            ),
            Case::AddMember => judge(c.add_member(ctx(), self.fresh_group(&[]).await, by).await),
            Case::RemoveMember => judge(
                c.remove_member(ctx(), self.fresh_group(&[&self.bystander]).await, by)
                    .await,
            ),
            Case::PutIntegration => {
                let name = IntegrationName::new(self.fresh_name("int")).expect("a slug");
                judge(
                    c.put_integration(
                        ctx(),
                        self.d.exec_integration(name.as_str()),
                        PutMode::Create,
                    )
                    .await,
                )
            }
            Case::ListIntegrations => judge(c.list_integrations(ctx()).await),
            Case::GetIntegration => judge(
                c.get_integration(ctx(), self.fresh_integration().await)
                    .await,
            ),
            Case::DeleteIntegration => judge(
                c.delete_integration(ctx(), self.fresh_integration().await)
                    .await,
            ),
            Case::PutBundle => judge(
                c.put_bundle(ctx(), bundle(&self.fresh_name("bundle")), PutMode::Create)
                    .await,
            ),
            Case::ListBundles => judge(c.list_bundles(ctx()).await),
            Case::DeleteBundle => judge(c.delete_bundle(ctx(), self.fresh_bundle().await).await),
            Case::PutFlow => judge(
                c.put_flow(ctx(), auto_flow(&self.fresh_name("flow")), PutMode::Create)
                    .await,
            ),
            Case::ListFlows => judge(c.list_flows(ctx()).await),
            Case::GetFlow => judge(c.get_flow(ctx(), self.fresh_flow().await).await),
            Case::DeleteFlow => judge(c.delete_flow(ctx(), self.fresh_flow().await).await),
            Case::SetFlowEnabled => judge(
                c.set_flow_enabled(ctx(), self.fresh_flow().await, false)
                    .await,
            ),
            Case::SubmitRequest => judge(
                c.submit_request(ctx(), new_request("auto", &target("ssh", "login"), None))
                    .await,
            ),
            Case::ListRequestsMine => judge(c.list_requests(ctx(), RequestQuery::default()).await),
            Case::ListRequestsToApprove => judge(
                c.list_requests(
                    ctx(),
                    RequestQuery {
                        scope: RequestScope::ToApprove,
                        ..RequestQuery::default()
                    },
                )
                .await,
            ),
            Case::ListRequestsAll => judge(
                c.list_requests(
                    ctx(),
                    RequestQuery {
                        scope: RequestScope::All,
                        ..RequestQuery::default()
                    },
                )
                .await,
            ),
            Case::GetRequestOwn => judge(c.get_request(ctx(), self.pending_of(owner).await).await),
            Case::GetRequestOther => judge(
                c.get_request(ctx(), self.pending_of(BYSTANDER_UID).await)
                    .await,
            ),
            Case::Approve => judge(
                c.approve(ctx(), self.pending_of(BYSTANDER_UID).await, None)
                    .await,
            ),
            Case::Reject => judge(
                c.reject(
                    ctx(),
                    self.pending_of(BYSTANDER_UID).await,
                    Some("no".into()),
                )
                .await,
            ),
            Case::CancelOwn => judge(c.cancel(ctx(), self.pending_of(owner).await).await),
            Case::CancelOther => judge(c.cancel(ctx(), self.pending_of(BYSTANDER_UID).await).await),
            Case::RequestAgainOwn => judge(
                c.request_again(ctx(), self.terminal_of(owner).await, again())
                    .await,
            ),
            Case::RequestAgainOther => judge(
                c.request_again(ctx(), self.terminal_of(BYSTANDER_UID).await, again())
                    .await,
            ),
            Case::ListGrantsMine => judge(c.list_grants(ctx(), GrantQuery::default()).await),
            Case::ListGrantsAll => judge(
                c.list_grants(
                    ctx(),
                    GrantQuery {
                        scope: GrantScope::All,
                        ..GrantQuery::default()
                    },
                )
                .await,
            ),
            Case::GetGrantOwn => judge(c.get_grant(ctx(), self.grant_of(owner).await).await),
            Case::GetGrantOther => {
                judge(c.get_grant(ctx(), self.grant_of(BYSTANDER_UID).await).await)
            }
            Case::ReleaseOwn => judge(c.release(ctx(), self.grant_of(owner).await).await),
            Case::ReleaseOther => judge(c.release(ctx(), self.grant_of(BYSTANDER_UID).await).await),
            Case::Revoke => judge(
                c.revoke(
                    ctx(),
                    self.grant_of(BYSTANDER_UID).await,
                    Some("matrix".into()),
                )
                .await,
            ),
            Case::ExtendOwn => judge(c.extend(ctx(), self.grant_of(owner).await, extend()).await),
            Case::ExtendOther => judge(
                c.extend(ctx(), self.grant_of(BYSTANDER_UID).await, extend())
                    .await,
            ),
            Case::GrantCredentialsOwn => {
                judge(c.grant_credentials(ctx(), self.grant_of(owner).await).await)
            }
            Case::GrantCredentialsOther => judge(
                c.grant_credentials(ctx(), self.grant_of(BYSTANDER_UID).await)
                    .await,
            ),
            Case::RetryGrant => judge(
                c.retry_grant(ctx(), self.grant_of(BYSTANDER_UID).await)
                    .await,
            ),
            Case::ForceEndGrant => judge(
                c.force_end_grant(
                    ctx(),
                    self.grant_of(BYSTANDER_UID).await,
                    "target gone".into(),
                )
                .await,
            ),
            Case::TestIntegration => judge(
                c.test_integration(ctx(), self.fresh_integration().await)
                    .await,
            ),
            Case::DiscoverIntegration => judge(
                c.discover_integration(ctx(), self.fresh_integration().await)
                    .await,
            ),
            Case::ExportPolicy => judge(c.export_policy(ctx()).await),
            Case::ApplyPolicy => {
                // Re-applying the current policy: allowed callers get an empty plan.
                let doc = admin.export_policy(ctx()).await.done("export");
                judge(c.apply_policy(ctx(), doc, false, false, None).await)
            }
            Case::DriftCheck => judge(c.drift(ctx(), false).await),
            Case::DriftCleanup => judge(c.drift(ctx(), true).await),
            Case::AddSshKey => judge(c.add_ssh_key(ctx(), SSH_KEY.into()).await),
            Case::ListSshKeys => judge(c.list_ssh_keys(ctx()).await),
            Case::RemoveSshKey => {
                // The caller's own key: registered first (as the caller; refused for strangers).
                let _ = c.add_ssh_key(ctx(), SSH_KEY.into()).await;
                judge(
                    c.remove_ssh_key(
                        ctx(),
                        "SHA256:iBeWI6izWFYijNtFyrWBrq5JPx7wauc2vj2T1mwr3Ps".into(),
                    )
                    .await,
                )
            }
            Case::ListAudit => judge(
                c.list_audit(
                    ctx(),
                    AuditQuery {
                        limit: 10,
                        ..AuditQuery::default()
                    },
                )
                .await,
            ),
            Case::VerifyAudit => judge(c.verify_audit(ctx()).await),
            Case::EventsSince => judge(c.events_since(ctx(), 0, 10, 0).await),
            Case::Status => judge(c.status(ctx()).await),
            Case::CreateLink => judge(
                c.create_link(ctx(), link_args(self.fresh_link_flow().await))
                    .await,
            ),
            Case::ListLinks => judge(c.list_links(ctx(), None).await),
            Case::RevokeLink => {
                let link = self
                    .d
                    .admin()
                    .create_link(ctx(), link_args(self.fresh_link_flow().await))
                    .await
                    .done("create a link to revoke");
                judge(c.revoke_link(ctx(), link.link.id).await)
            }
            Case::ListOutbox => judge(c.list_outbox(ctx()).await),
            Case::SyncRun => judge(c.sync_run(ctx(), None, true, false).await),
            Case::SyncStatus => judge(c.sync_status(ctx()).await),
            Case::ImportIdentities => judge(c.import_identities(ctx(), import_chunk()).await),
            Case::CreateScimToken => judge(c.create_scim_token(ctx(), true).await),
            Case::RevokeScimToken => {
                self.d
                    .admin()
                    .create_scim_token(ctx(), true)
                    .await
                    .done("make a SCIM token to revoke");
                judge(c.revoke_scim_token(ctx()).await)
            }
            Case::Authenticate => judge(c.authenticate(ctx(), authenticate_args()).await),
            Case::AcceptInviteRemote => {
                let email = format!("{}@example.com", self.fresh_name("remote-invitee"));
                let code = admin
                    .invite_user(ctx(), invite(&email))
                    .await
                    .done("invite someone to accept remotely")
                    .code;
                judge(
                    c.accept_invite_remote(ctx(), remote_accept_args(code))
                        .await,
                )
            }
            Case::CreateToken => judge(
                c.create_token(ctx(), token_args(self.fresh_name("tok")))
                    .await,
            ),
            Case::ListTokensMine => judge(c.list_tokens(ctx(), false).await),
            Case::ListTokensAll => judge(c.list_tokens(ctx(), true).await),
            Case::RevokeTokenOwn | Case::RevokeTokenOther => {
                let maker = if case == Case::RevokeTokenOwn {
                    d.client(owner)
                } else {
                    d.client(BYSTANDER_UID)
                };
                let made = maker
                    .create_token(ctx(), token_args(self.fresh_name("to-revoke")))
                    .await
                    .done("make a token to revoke");
                judge(c.revoke_token(ctx(), TokenRef::Id(made.view.id)).await)
            }
        }
    }
}

fn authenticate_args() -> Authenticate {
    Authenticate {
        token: "hallpass_tok_1_00".into(),
        hello: ClientHello {
            protocol: PROTOCOL_VERSION,
            client: "authz-matrix".into(),
        },
    }
}

fn remote_accept_args(code: String) -> RemoteAccept {
    RemoteAccept {
        code,
        token_name: "cli".into(),
        hello: ClientHello {
            protocol: PROTOCOL_VERSION,
            client: "authz-matrix".into(),
        },
    }
}

fn token_args(name: String) -> NewToken {
    NewToken {
        name,
        role: None,
        expires_in_secs: Some(3600),
    }
}

#[tokio::test]
async fn every_rpc_answers_each_kind_of_caller_as_designed() {
    let m = Matrix::new().await;

    // Every RPC of the trait has at least one row.
    let rows: BTreeSet<&str> = MATRIX.iter().map(|(case, _)| case.rpc()).collect();
    let rpcs: BTreeSet<&str> = every_rpc(&m.d).iter().map(rpc_name).collect();
    let missing: Vec<_> = rpcs.difference(&rows).collect();
    assert!(
        missing.is_empty(),
        "RPCs without a row in the matrix: {missing:?}"
    );
    assert_eq!(rpcs.len(), every_rpc(&m.d).len(), "one sample per RPC");
    let cases: BTreeSet<String> = MATRIX.iter().map(|(c, _)| format!("{c:?}")).collect();
    assert_eq!(cases.len(), MATRIX.len(), "each case appears once");
    let mut failures = Vec::new();
    let mut refused_strangers = Vec::new();
    for (case, expects) in MATRIX {
        for (who, expect) in WHO.iter().zip(expects) {
            let uid = m.caller(*who).await;
            let outcome = m.run(*case, *who, uid).await;
            if !matches_expectation(&outcome, *expect, uid) {
                failures.push(format!(
                    "{case:?} ({}) as {who:?} (uid {uid}): expected {expect:?}, got {outcome}",
                    case.rpc()
                ));
            }
            if *expect == Expect::Unauthenticated {
                refused_strangers.push((*case, *who, uid));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} cell(s) of the matrix disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Every refusal of an OS user without an (active) account is audited.
    let refusals = m.d.audit("auth.refuse").await;
    let audited: BTreeSet<String> = refusals.iter().map(|e| e.entry.target.clone()).collect();
    let unaudited: Vec<_> = refused_strangers
        .iter()
        .filter(|(_, _, uid)| !audited.contains(&format!("uid {uid}")))
        .collect();
    assert!(
        unaudited.is_empty(),
        "refusals without an auth.refuse audit event: {unaudited:?}"
    );
    assert!(
        refusals
            .iter()
            .all(|e| matches!(e.entry.actor, hallpass_core::audit::Actor::Unknown { .. })),
        "auth.refuse names the unknown uid as actor"
    );
    m.d.assert_audit_intact().await;
}
