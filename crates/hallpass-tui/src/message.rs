//! Messages: everything that happens to the TUI (`Msg`), including what the daemon answered.
//! Invariant: a `Msg` carries all the outside world `update` may look at, time included.

use crossterm::event::{KeyEvent, MouseEvent};
use hallpass_core::audit::AuditEvent;
use hallpass_core::credential::Credentials;
use hallpass_core::event::Event;
use hallpass_core::flow::Flow;
use hallpass_core::integration::{Bundle, Integration};
use hallpass_core::policy_doc::PolicyPlan;
use hallpass_core::{GrantId, IntegrationName, Timestamp};
use hallpass_proto::{
    ApiError, AuditVerification, CheckView, DaemonStatus, FlowView, GrantQuery, GrantView,
    GroupView, InviteCreated, Page, RequestQuery, RequestView, ServerHello, UserView, WhoAmI,
};

use crate::effect::{GrantsFor, RequestsFor, UsersFor};
use crate::paged::PageRequest;

#[derive(Clone, Debug)]
pub enum Msg {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Resize {
        width: u16,
        height: u16,
    },
    /// The 1 Hz tick: the wall clock and the local UTC offset at that moment.
    Tick {
        now: Timestamp,
        utc_offset_secs: i32,
    },
    Connected {
        server: ServerHello,
        whoami: WhoAmI,
    },
    /// A (re)connection attempt failed; the runtime keeps trying.
    ConnectFailed(String),
    /// The connection broke (the event stream or a call saw it).
    Disconnected(String),
    Reply(Reply),
    Failed(Failure),
    /// New daemon events from the long-poll.
    Events(Vec<Event>),
    /// The editor opened on `draft` exited: the text it saved, or why it could not run.
    Edited {
        draft: crate::edit::Draft,
        outcome: Result<String, String>,
    },
}

#[derive(Clone, Debug)]
pub enum Reply {
    Status(DaemonStatus),
    Admins(Vec<String>),
    Requests {
        purpose: RequestsFor,
        query: RequestQuery,
        page: Page<RequestView>,
    },
    Grants {
        purpose: GrantsFor,
        query: GrantQuery,
        page: Page<GrantView>,
    },
    Users {
        purpose: UsersFor,
        page: PageRequest,
        items: Page<UserView>,
    },
    Audit {
        page: PageRequest,
        items: Page<AuditEvent>,
    },
    RecentActivity {
        after: Option<String>,
        page: Page<AuditEvent>,
    },
    Flows(Vec<FlowView>),
    Bundles(Vec<Bundle>),
    Integrations(Vec<Integration>),
    Groups(Vec<GroupView>),
    Verification(AuditVerification),
    /// The answer to `Query::Credentials`, a refusal or a lost call included. Secret values
    /// stay out of `Debug` (`Credentials` redacts them).
    Credentials {
        grant: GrantId,
        answer: Result<Credentials, CallError>,
    },
    Links(Vec<hallpass_proto::LinkView>),
    /// A policy plan (`applied` false) or its application, a refusal included.
    Policy {
        applied: bool,
        answer: Result<PolicyPlan, CallError>,
    },
    /// An audit export: the file written and how many events, or why not.
    Exported(Result<(String, u64), String>),
    /// An integration's connection checks, a refusal included.
    Checks {
        integration: IntegrationName,
        answer: Result<Vec<CheckView>, CallError>,
    },
    Done(Done),
}

/// A change the daemon made for us.
#[derive(Clone, Debug)]
pub enum Done {
    Approved(RequestView),
    Rejected(RequestView),
    Cancelled(RequestView),
    Submitted(RequestView),
    Released(GrantView),
    Revoked(GrantView),
    ExtendRequested(RequestView),
    Invited(InviteCreated),
    RoleChanged(UserView),
    Deleted(UserView),
    FlowToggled(Flow),
    /// The URL is in here once: the overlay showing it drops it when it closes.
    LinkCreated(hallpass_proto::LinkCreated),
    LinkRevoked(hallpass_proto::LinkView),
}

/// Why a call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallError {
    /// The daemon answered with a designed error.
    Api(ApiError),
    /// No answer: the connection or the deadline failed.
    Transport(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Api(e) => write!(f, "{e}"),
            CallError::Transport(e) => write!(f, "no answer from hallpassd: {e}"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Failure {
    /// What was being done, for the status line ("approving HP-1001").
    pub what: String,
    pub error: CallError,
    /// When a page load failed: which list and which page, so it can be asked for again.
    pub page: Option<(PagedOwner, PageRequest)>,
}

/// The paged lists a failed page can belong to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PagedOwner {
    Users(UsersFor),
    Audit,
}
