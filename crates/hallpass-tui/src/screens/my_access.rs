//! My access: the grantee's home. My grants with live countdowns and my requests; new request
//! (`n`), extend (`e`), release (`x`), credentials (`c` on a grant), cancel (`c` on a request)
//! and request again (`R`). Invariant: countdowns are computed from `expires_at` and the tick's
//! `now`, never from a stale `remaining_secs`, and a grant is never shown active at or past its
//! deadline.

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent};
use hallpass_core::audit::Source;
use hallpass_core::grant::GrantStatus;
use hallpass_core::request::RequestStatus;
use hallpass_proto::{
    AgainArgs, GrantQuery, GrantScope, GrantView, Page, RequestQuery, RequestScope, RequestView,
};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::Cell;

use crate::app::{App, Tone};
use crate::chain::{self, Chain};
use crate::display::{countdown, local_short, relative, short_duration};
use crate::effect::{Action, Cmd, GrantsFor, Query, RequestsFor};
use crate::forms::RequestForm;
use crate::layout;
use crate::overlay::{Confirm, CredentialsView, Overlay, Prompt};
use crate::pane;
use crate::screens::approvals::what;
use crate::scroll::{Nav, Scroll};

/// Every key, for the help.
pub const KEYS: &[(&str, &str)] = &[
    ("n", "new request"),
    ("e", "extend"),
    ("x", "release"),
    ("c", "credentials (on an active grant)"),
    ("c", "cancel request (on a request)"),
    ("R", "request again"),
    ("← →", "grants / requests"),
];

/// The footer's keys when the grants pane has the focus.
pub const GRANT_HINTS: &[(&str, &str)] = &[
    ("n", "new request"),
    ("e", "extend"),
    ("x", "release"),
    ("c", "credentials"),
    ("→", "requests"),
];

/// The footer's keys when the requests pane has the focus.
pub const REQUEST_HINTS: &[(&str, &str)] = &[
    ("n", "new request"),
    ("c", "cancel request"),
    ("R", "request again"),
    ("←", "grants"),
];

/// The footer's keys for the focused pane (`c` means one thing in each).
pub fn hints(app: &App) -> &'static [(&'static str, &'static str)] {
    match app.my.focus {
        Pane::Grants => GRANT_HINTS,
        Pane::Requests => REQUEST_HINTS,
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Pane {
    #[default]
    Grants,
    Requests,
}

#[derive(Debug, Default)]
pub struct MyAccess {
    pub grants: Vec<GrantView>,
    pub requests: Vec<RequestView>,
    pub grants_loaded: bool,
    pub requests_loaded: bool,
    pub grants_chain: Chain,
    pub requests_chain: Chain,
    pub focus: Pane,
    pub grant_scroll: Scroll,
    pub request_scroll: Scroll,
}

pub fn load(_app: &App) -> Vec<Cmd> {
    vec![
        Cmd::Load(Query::Grants {
            purpose: GrantsFor::Mine,
            query: GrantQuery {
                scope: GrantScope::Mine,
                limit: chain::PAGE_ROWS,
                ..GrantQuery::default()
            },
        }),
        Cmd::Load(Query::Requests {
            purpose: RequestsFor::Mine,
            query: RequestQuery {
                scope: RequestScope::Mine,
                limit: chain::PAGE_ROWS,
                ..RequestQuery::default()
            },
        }),
        Cmd::Load(Query::Flows),
    ]
}

/// The status a grant shows at `now` (the daemon computed it at its own moment).
pub fn seen_status(g: &GrantView, now: hallpass_core::Timestamp) -> GrantStatus {
    match (g.status, g.expires_at) {
        (GrantStatus::Active, Some(e)) if e <= now => GrantStatus::Revoking,
        (s, _) => s,
    }
}

fn live(s: GrantStatus) -> bool {
    !s.is_terminal()
}

pub fn accept_grants(app: &mut App, query: GrantQuery, page: Page<GrantView>) -> Vec<Cmd> {
    let m = &mut app.my;
    let (kept, next) = m
        .grants_chain
        .accept(&mut m.grants, query.after.as_deref(), page);
    let cmds = chain::next_grants(GrantsFor::Mine, query, next);
    if !kept {
        return cmds;
    }
    // Live grants first, soonest deadline first; then ended ones, most recent first.
    m.grants.sort_by(|a, b| {
        live(b.status).cmp(&live(a.status)).then_with(|| {
            match (live(a.status), a.expires_at, b.expires_at) {
                (true, Some(x), Some(y)) => x.cmp(&y),
                (true, _, _) => a.id.cmp(&b.id),
                (false, _, _) => b.ended_at.cmp(&a.ended_at).then(b.id.cmp(&a.id)),
            }
        })
    });
    m.grants_loaded = true;
    clamp(app);
    cmds
}

pub fn accept_requests(app: &mut App, query: RequestQuery, page: Page<RequestView>) -> Vec<Cmd> {
    let m = &mut app.my;
    let (kept, next) = m
        .requests_chain
        .accept(&mut m.requests, query.after.as_deref(), page);
    if kept {
        m.requests.sort_by_key(|r| std::cmp::Reverse(r.id));
        m.requests_loaded = true;
        clamp(app);
    }
    chain::next_requests(RequestsFor::Mine, query, next)
}

/// The grants pane and the requests pane.
pub fn rects(body: Rect) -> (Rect, Rect) {
    let [g, r] =
        Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(body);
    (g, r)
}

pub fn list_rect(app: &App, body: Rect) -> Rect {
    let (g, r) = rects(body);
    match app.my.focus {
        Pane::Grants => g,
        Pane::Requests => r,
    }
}

fn heights(app: &App) -> (usize, usize) {
    let (g, r) = rects(layout::body(app));
    (layout::table_rows(g), layout::table_rows(r))
}

fn clamp(app: &mut App) {
    let (gh, rh) = heights(app);
    let m = &mut app.my;
    m.grant_scroll.clamp(m.grants.len(), gh);
    m.request_scroll.clamp(m.requests.len(), rh);
}

pub fn nav(app: &mut App, nav: Nav) {
    let (gh, rh) = heights(app);
    let m = &mut app.my;
    match m.focus {
        Pane::Grants => m.grant_scroll.apply(nav, m.grants.len(), gh),
        Pane::Requests => m.request_scroll.apply(nav, m.requests.len(), rh),
    }
}

/// Opens the new-request form (flows must be loaded).
pub fn open_form(app: &mut App) -> Vec<Cmd> {
    match RequestForm::new(&app.flows) {
        Some(f) => {
            app.overlay = Some(Overlay::RequestForm(f));
            vec![]
        }
        None => {
            app.set_status(
                Tone::Warn,
                "No access flow lets you request access yet. Ask an admin to add you to one.",
            );
            vec![Cmd::Load(Query::Flows)]
        }
    }
}

pub fn key(app: &mut App, key: KeyEvent) -> Vec<Cmd> {
    if let Some(n) = Nav::of(key) {
        nav(app, n);
        return vec![];
    }
    match key.code {
        KeyCode::Left | KeyCode::Char('h') => app.my.focus = Pane::Grants,
        KeyCode::Right | KeyCode::Char('l') => app.my.focus = Pane::Requests,
        KeyCode::Char('n') => return open_form(app),
        KeyCode::Char('e') => {
            if let Some(g) = selected_grant(app) {
                if seen_status(&g, app.now) != GrantStatus::Active {
                    app.set_status(
                        Tone::Warn,
                        format!(
                            "{} is not active; only active access can be extended.",
                            g.id
                        ),
                    );
                } else {
                    let max = app
                        .my
                        .requests
                        .iter()
                        .find(|r| r.id == g.request)
                        .and_then(|r| app.flows.iter().find(|f| f.flow.name == r.flow))
                        .map(|f| f.flow.max_duration);
                    app.overlay = Some(Overlay::Prompt(Prompt::extend(
                        g.id,
                        vec![format!(
                            "{} · {} left",
                            g.target,
                            g.expires_at
                                .map_or_else(|| "-".into(), |e| countdown(e, app.now))
                        )],
                        &crate::overlay::default_extension(max),
                    )));
                }
            }
        }
        KeyCode::Char('x') => {
            if let Some(g) = selected_grant(app) {
                if matches!(
                    seen_status(&g, app.now),
                    GrantStatus::Active | GrantStatus::Granting
                ) {
                    app.overlay = Some(Overlay::Confirm(Confirm {
                        title: format!("Release {}", g.id),
                        lines: vec![
                            format!("End your access to {} now?", g.target),
                            "It is revoked on the target at once.".into(),
                        ],
                        action: Action::Release(g.id),
                    }));
                } else {
                    app.set_status(Tone::Warn, format!("{} has already ended.", g.id));
                }
            }
        }
        KeyCode::Char('c') if app.my.focus == Pane::Grants => return credentials(app),
        KeyCode::Char('c') => {
            if let Some(r) = selected_request(app) {
                if r.status == RequestStatus::Pending {
                    app.overlay = Some(Overlay::Confirm(Confirm {
                        title: format!("Cancel {}", r.id),
                        lines: vec![format!("Withdraw your request for {}?", what(&r))],
                        action: Action::Cancel(r.id),
                    }));
                } else {
                    app.set_status(
                        Tone::Warn,
                        format!(
                            "{} is {}; only pending requests can be cancelled.",
                            r.id, r.status
                        ),
                    );
                }
            }
        }
        KeyCode::Char('R') => {
            if let Some(r) = selected_request(app) {
                if r.status.is_terminal() {
                    app.set_status(Tone::Info, format!("Requesting {} again…", r.id));
                    return vec![Cmd::Act(Action::Again {
                        id: r.id,
                        args: AgainArgs {
                            duration_secs: None,
                            reason: None,
                            source: Source::Tui,
                        },
                    })];
                }
                app.set_status(Tone::Warn, format!("{} is still pending.", r.id));
            }
        }
        _ => {}
    }
    vec![]
}

/// Opens the credentials overlay for the selected grant and asks the daemon for them (only
/// while the grant is active: they exist only then).
fn credentials(app: &mut App) -> Vec<Cmd> {
    let Some(g) = selected_grant(app) else {
        return vec![];
    };
    let status = seen_status(&g, app.now);
    if status != GrantStatus::Active {
        app.set_status(
            Tone::Warn,
            format!(
                "{} is {status}; credentials exist only while access is active.",
                g.id
            ),
        );
        return vec![];
    }
    app.overlay = Some(Overlay::Credentials(CredentialsView::loading(
        g.id, g.target,
    )));
    vec![Cmd::Load(Query::Credentials(g.id))]
}

fn selected_grant(app: &App) -> Option<GrantView> {
    if app.my.focus != Pane::Grants {
        return None;
    }
    app.my.grants.get(app.my.grant_scroll.selected).cloned()
}

fn selected_request(app: &App) -> Option<RequestView> {
    if app.my.focus != Pane::Requests {
        return None;
    }
    app.my.requests.get(app.my.request_scroll.selected).cloned()
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let (ga, ra) = rects(area);
    let m = &app.my;
    let t = app.theme;
    let now = app.now;
    let off = app.utc_offset_secs;
    let mark = |p: Pane| if m.focus == p { "▸ " } else { "" };
    let live_count = m
        .grants
        .iter()
        .filter(|g| seen_status(g, now) == GrantStatus::Active)
        .count();
    let no_scroll = Scroll {
        selected: usize::MAX,
        offset: m.grant_scroll.offset,
    };
    pane::table(
        app,
        ga,
        buf,
        format!("{}My grants ({live_count} active)", mark(Pane::Grants)),
        &["GRANT", "ACCESS TO", "STATUS", "LEFT", "UNTIL"],
        &[
            Constraint::Length(7),
            Constraint::Fill(3),
            Constraint::Length(13),
            Constraint::Length(7),
            Constraint::Length(12),
        ],
        m.grants.len(),
        if m.focus == Pane::Grants {
            &m.grant_scroll
        } else {
            &no_scroll
        },
        if m.grants_loaded {
            "You have no access right now. Press n to request some."
        } else {
            "Loading…"
        },
        |i| {
            let g = m.grants.get(i)?;
            let st = seen_status(g, now);
            let (left, until) = match (st, g.expires_at) {
                (GrantStatus::Active, Some(e)) => (countdown(e, now), local_short(e, now, off)),
                (_, _) => (
                    "-".to_string(),
                    g.ended_at
                        .map_or_else(|| "-".into(), |e| local_short(e, now, off)),
                ),
            };
            let left_style = match g.expires_at {
                Some(e)
                    if st == GrantStatus::Active && now.until(e) <= Duration::from_secs(900) =>
                {
                    t.warn()
                }
                _ => t.plain(),
            };
            Some(vec![
                Cell::from(g.id.to_string()),
                Cell::from(g.target.to_string()),
                pane::styled(st.to_string(), t.grant_status(st)),
                pane::styled(left, left_style),
                Cell::from(until),
            ])
        },
    );
    let no_scroll = Scroll {
        selected: usize::MAX,
        offset: m.request_scroll.offset,
    };
    pane::table(
        app,
        ra,
        buf,
        format!("{}My requests ({})", mark(Pane::Requests), m.requests.len()),
        &["ID", "FLOW", "WHAT", "FOR", "STATUS", "ASKED", "NOTE"],
        &[
            Constraint::Length(8),
            Constraint::Fill(1),
            Constraint::Fill(2),
            Constraint::Length(6),
            Constraint::Length(9),
            Constraint::Length(9),
            Constraint::Fill(2),
        ],
        m.requests.len(),
        if m.focus == Pane::Requests {
            &m.request_scroll
        } else {
            &no_scroll
        },
        if m.requests_loaded {
            "No requests yet. Press n to ask for access."
        } else {
            "Loading…"
        },
        |i| {
            let r = m.requests.get(i)?;
            let note = match r.status {
                RequestStatus::Pending => format!(
                    "{}/{} approvals · times out {}",
                    r.approvals.len(),
                    crate::screens::approvals::needed(r).max(1),
                    relative(r.pending_until, now)
                ),
                RequestStatus::Rejected => r
                    .rejection
                    .as_ref()
                    .and_then(|d| d.reason.clone())
                    .map_or_else(|| "rejected".into(), |w| format!("rejected: {w}")),
                _ => r.reason.clone(),
            };
            Some(vec![
                Cell::from(r.id.to_string()),
                Cell::from(r.flow.to_string()),
                Cell::from(what(r)),
                Cell::from(short_duration(Duration::from_secs(r.duration_secs))),
                pane::styled(r.status.to_string(), t.request_status(r.status)),
                Cell::from(local_short(r.created_at, now, off)),
                Cell::from(note),
            ])
        },
    );
}
