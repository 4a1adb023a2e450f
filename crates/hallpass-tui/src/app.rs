//! The model: everything the TUI knows at one moment. Invariant: only `update` changes an `App`,
//! and nothing in it is read from the outside world except through a `Msg` (time included).

use std::collections::BTreeSet;
use std::time::Duration;

use hallpass_core::user::Role;
use hallpass_core::{GrantId, Timestamp};
use hallpass_proto::{FlowView, ServerHello, UserView};

use crate::overlay::Overlay;
use crate::screens::{
    active::ActiveAccess, approvals::Approvals, audit::Audit, catalog::Catalog,
    dashboard::Dashboard, graph::Graph, identities::Identities, my_access::MyAccess, users::Users,
};
use crate::theme::Theme;

/// How long a toast stays up.
pub const TOAST_FOR: Duration = Duration::from_secs(6);

/// The screens, in tab order (number keys 1..9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ScreenId {
    Dashboard,
    Approvals,
    MyAccess,
    Active,
    Identities,
    Users,
    Catalog,
    Audit,
    Graph,
}

impl ScreenId {
    pub const ALL: [ScreenId; 9] = [
        ScreenId::Dashboard,
        ScreenId::Approvals,
        ScreenId::MyAccess,
        ScreenId::Active,
        ScreenId::Identities,
        ScreenId::Users,
        ScreenId::Catalog,
        ScreenId::Audit,
        ScreenId::Graph,
    ];

    pub fn title(self) -> &'static str {
        match self {
            ScreenId::Dashboard => "Dashboard",
            ScreenId::Approvals => "Approvals",
            ScreenId::MyAccess => "My access",
            ScreenId::Active => "Active access",
            ScreenId::Identities => "Identities",
            ScreenId::Users => "Users",
            ScreenId::Catalog => "Flows, bundles, integrations",
            ScreenId::Audit => "Audit",
            ScreenId::Graph => "Access graph",
        }
    }

    /// The tab label (short enough that all nine fit in 80 columns).
    pub fn tab(self) -> &'static str {
        match self {
            ScreenId::Dashboard => "Dash",
            ScreenId::Approvals => "Approvals",
            ScreenId::MyAccess => "Mine",
            ScreenId::Active => "Active",
            ScreenId::Identities => "People",
            ScreenId::Users => "Users",
            ScreenId::Catalog => "Flows",
            ScreenId::Audit => "Audit",
            ScreenId::Graph => "Graph",
        }
    }

    pub fn index(self) -> usize {
        Self::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }

    /// Screens only admins and auditors may open.
    pub fn readers_only(self) -> bool {
        !matches!(self, ScreenId::Approvals | ScreenId::MyAccess)
    }
}

/// The state of the daemon connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Connection {
    Connecting,
    Connected,
    /// Lost (or never made); the runtime is reconnecting.
    Lost {
        why: String,
        attempts: u32,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    Info,
    Good,
    Warn,
    Bad,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Toast {
    pub text: String,
    pub tone: Tone,
    pub until: Timestamp,
}

/// The one-line status at the bottom: the last error or outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub text: String,
    pub tone: Tone,
}

/// What the caller may see on a screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Allowed,
    /// Not connected yet, or no account.
    NoSession,
    /// A grantee on a screen for admins and auditors.
    ReadersOnly,
}

pub struct App {
    pub now: Timestamp,
    pub utc_offset_secs: i32,
    pub theme: Theme,
    pub width: u16,
    pub height: u16,
    pub conn: Connection,
    pub server: Option<ServerHello>,
    /// None until connected, or when the OS user has no account.
    pub me: Option<UserView>,
    pub signup_open: bool,
    /// Admins' e-mails, for the friendly refusal (from the daemon's own refusal).
    pub admins: Vec<String>,
    pub screen: ScreenId,
    pub overlay: Option<Overlay>,
    pub toasts: Vec<Toast>,
    pub status: Option<Status>,
    /// The flows the caller can see (request form, approval details, graph).
    pub flows: Vec<FlowView>,
    pub dashboard: Dashboard,
    pub approvals: Approvals,
    pub my: MyAccess,
    pub active: ActiveAccess,
    pub identities: Identities,
    pub users: Users,
    pub catalog: Catalog,
    pub audit: Audit,
    pub graph: Graph,
    /// Something visible changed since the last frame.
    pub dirty: bool,
    pub quit: bool,
    /// Expiry warnings already given: (grant, minutes threshold).
    pub warned: BTreeSet<(GrantId, u64)>,
    generation: u64,
}

impl App {
    pub fn new(now: Timestamp, utc_offset_secs: i32, theme: Theme, width: u16, height: u16) -> App {
        App {
            now,
            utc_offset_secs,
            theme,
            width,
            height,
            conn: Connection::Connecting,
            server: None,
            me: None,
            signup_open: false,
            admins: vec![],
            screen: ScreenId::MyAccess,
            overlay: None,
            toasts: vec![],
            status: None,
            flows: vec![],
            dashboard: Dashboard::default(),
            approvals: Approvals::default(),
            my: MyAccess::default(),
            active: ActiveAccess::default(),
            identities: Identities::default(),
            users: Users::default(),
            catalog: Catalog::default(),
            audit: Audit::default(),
            graph: Graph::default(),
            dirty: true,
            quit: false,
            warned: BTreeSet::new(),
            generation: 0,
        }
    }

    /// A fresh generation number for paged lists (stale replies are dropped by it).
    pub fn next_generation(&mut self) -> u64 {
        self.generation += 1;
        self.generation
    }

    pub fn role(&self) -> Option<Role> {
        self.me.as_ref().map(|u| u.role)
    }

    pub fn is_reader(&self) -> bool {
        self.role().is_some_and(Role::sees_everything)
    }

    pub fn is_admin(&self) -> bool {
        self.role() == Some(Role::Admin)
    }

    pub fn access(&self, screen: ScreenId) -> Access {
        match &self.me {
            None => Access::NoSession,
            Some(_) if screen.readers_only() && !self.is_reader() => Access::ReadersOnly,
            Some(_) => Access::Allowed,
        }
    }

    /// The screen people land on: the dashboard for admins and auditors, My access otherwise.
    pub fn home(&self) -> ScreenId {
        if self.is_reader() {
            ScreenId::Dashboard
        } else {
            ScreenId::MyAccess
        }
    }

    pub fn toast(&mut self, tone: Tone, text: impl Into<String>) {
        self.toasts.push(Toast {
            text: text.into(),
            tone,
            until: self.now.plus(TOAST_FOR),
        });
        // Keep the stack short: the oldest go first.
        let excess = self.toasts.len().saturating_sub(4);
        self.toasts.drain(..excess);
        self.dirty = true;
    }

    pub fn set_status(&mut self, tone: Tone, text: impl Into<String>) {
        self.status = Some(Status {
            text: crate::display::one_line(&text.into()),
            tone,
        });
        self.dirty = true;
    }

    /// The e-mail to show for the caller.
    pub fn my_label(&self) -> String {
        self.me.as_ref().map_or_else(
            || "no account".to_string(),
            |u| format!("{} ({})", u.email, u.role),
        )
    }
}
