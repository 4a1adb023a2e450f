//! Effects: what `update` asks the runtime to do (`Cmd`), and the queries and actions it may
//! name. Invariant: a `Cmd` is plain data; only the runtime turns it into IO.

use hallpass_core::policy_doc::PolicyDoc;
use hallpass_core::user::Role;
use hallpass_core::{FlowName, GrantId, IntegrationName, RequestId, Timestamp, UserId};
use hallpass_proto::{
    AgainArgs, AuditQuery, ExtendArgs, GrantQuery, InviteArgs, NewRequest, RequestQuery,
};

use crate::paged::PageRequest;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cmd {
    /// A read; its answer comes back as `Msg::Reply` (or `Msg::Failed`).
    Load(Query),
    /// A change; its answer comes back as `Msg::Reply(Reply::Done(..))` (or `Msg::Failed`).
    Act(Action),
    /// The connection is gone: connect again (with backoff) and report `Msg::Connected`.
    Reconnect,
    /// Suspend the TUI, open `$VISUAL`/`$EDITOR` on the draft's text, and report
    /// `Msg::Edited` when it exits.
    Edit(crate::edit::Draft),
}

/// Which list a page of requests is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestsFor {
    /// Approvals: requests I can decide on now.
    ToApprove,
    /// My access: requests I made.
    Mine,
    /// Dashboard: everyone's pending requests.
    AllPending,
    /// Dashboard: everyone's requests, paged through for per-day and per-resource counts.
    Stats,
}

/// Which list a page of grants is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantsFor {
    Mine,
    /// Active access, the dashboard and the access graph: everyone's live grants.
    Live,
    /// Dashboard: Failed and RevokeFailed grants.
    Failures,
}

/// Which paged list of people a page is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsersFor {
    Identities,
    Users,
    Graph,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Query {
    Status,
    /// Who the admins are (for the friendly "this is for admins" message).
    Admins,
    Requests {
        purpose: RequestsFor,
        query: RequestQuery,
    },
    Grants {
        purpose: GrantsFor,
        query: GrantQuery,
    },
    Users {
        purpose: UsersFor,
        page: PageRequest,
        text: Option<String>,
    },
    Audit {
        page: PageRequest,
        filter: AuditQuery,
    },
    /// Dashboard: the audit log since `since`, paged forward to its newest events.
    RecentActivity {
        since: Timestamp,
        after: Option<String>,
    },
    Flows,
    Bundles,
    Integrations,
    Groups,
    VerifyAudit,
    /// My access: the credentials of one of my Active grants. Answered as
    /// `Reply::Credentials` whatever the outcome (never `Msg::Failed`), so the overlay waiting
    /// for them can show the daemon's refusal.
    Credentials(GrantId),
    /// Access links (admins and auditors).
    Links,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Approve {
        id: RequestId,
        reason: Option<String>,
    },
    Reject {
        id: RequestId,
        reason: Option<String>,
    },
    Cancel(RequestId),
    Again {
        id: RequestId,
        args: AgainArgs,
    },
    Submit(NewRequest),
    Release(GrantId),
    Revoke {
        id: GrantId,
        reason: Option<String>,
    },
    Extend {
        id: GrantId,
        args: ExtendArgs,
    },
    Invite(InviteArgs),
    SetRole {
        user: UserId,
        role: Role,
    },
    DeleteUser(UserId),
    SetFlowEnabled {
        name: FlowName,
        enabled: bool,
    },
    CreateLink(hallpass_proto::NewLink),
    RevokeLink(hallpass_core::LinkId),
    /// The daemon's plan for a policy document (nothing applied). Answered as
    /// `Reply::Policy` whatever the outcome, so the edit overlay can show a refusal.
    PlanPolicy(PolicyDoc),
    /// Applies a document if its plan still has this fingerprint (`Reply::Policy` too).
    ApplyPolicy {
        doc: PolicyDoc,
        expect: String,
    },
    /// Checks an integration's connection (changes nothing); answered as `Reply::Checks`.
    TestIntegration(IntegrationName),
    /// Writes every audit event `query` matches, as CSV, to a new `file` in the working
    /// directory; answered as `Reply::Exported`.
    ExportAudit {
        query: AuditQuery,
        file: String,
    },
}
