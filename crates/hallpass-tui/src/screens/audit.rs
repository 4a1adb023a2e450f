//! Audit: the activity log, paged through the daemon, with filters (person, action, integration,
//! status, time window) and the hash chain's state. Invariant: the chain state shown is the
//! daemon's latest verification answer, never inferred by the TUI.

use crossterm::event::{KeyCode, KeyEvent};
use hallpass_core::IntegrationName;
use hallpass_core::audit::AuditEvent;
use hallpass_proto::{AuditQuery, AuditVerification, Page, UserRef};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Widget};

use crate::app::App;
use crate::display::{clip, local, local_short};
use crate::effect::{Action, Cmd, Query};
use crate::forms::{AUDIT_FILTER_LABELS, AuditFilterForm, Window};
use crate::layout;
use crate::overlay::{Confirm, Overlay};
use crate::paged::{PageRequest, PagedList};
use crate::pane;
use crate::scroll::Nav;

pub const KEYS: &[(&str, &str)] = &[
    ("/", "filter"),
    ("t", "time window"),
    ("v", "verify chain"),
    ("x", "export CSV"),
];

#[derive(Debug)]
pub struct Audit {
    pub list: PagedList<AuditEvent>,
    pub filter: AuditFilterForm,
    pub window: Window,
    pub verification: Option<AuditVerification>,
    pub verifying: bool,
    /// The query in force (its `since` fixed when it was applied).
    pub query: AuditQuery,
}

impl Default for Audit {
    fn default() -> Self {
        Audit {
            list: PagedList::new(500),
            filter: AuditFilterForm::default(),
            window: Window::Week,
            verification: None,
            verifying: false,
            query: AuditQuery::default(),
        }
    }
}

fn rects(body: Rect) -> (Rect, Rect, Rect) {
    let [head, rest] = Layout::vertical([Constraint::Length(2), Constraint::Fill(1)]).areas(body);
    let (list, detail) = layout::master_detail(rest);
    (head, list, detail)
}

pub fn list_rect(body: Rect) -> Rect {
    rects(body).1
}

fn height(app: &App) -> usize {
    layout::table_rows(list_rect(layout::body(app)))
}

fn build_query(app: &App) -> AuditQuery {
    let f = &app.audit.filter;
    AuditQuery {
        person: f
            .value(0)
            .map(|p| p.parse::<UserRef>().unwrap_or(UserRef::Email(p))),
        action: f.value(1),
        integration: f.value(2).and_then(|i| IntegrationName::new(i).ok()),
        status: f.value(3),
        since: app.audit.window.span().map(|d| app.now.minus(d)),
        until: None,
        after: None,
        limit: 0,
    }
}

pub fn page_cmd(app: &App, page: PageRequest) -> Cmd {
    Cmd::Load(Query::Audit {
        filter: AuditQuery {
            after: page.after.clone(),
            limit: page.limit,
            ..app.audit.query.clone()
        },
        page,
    })
}

/// Reloads from the start and follows to the newest event; verifies the chain too.
pub fn load(app: &mut App) -> Vec<Cmd> {
    let generation = app.next_generation();
    app.audit.query = build_query(app);
    let h = height(app);
    let first = app.audit.list.reset(generation);
    let mut reqs = vec![first];
    reqs.extend(app.audit.list.nav(Nav::End, h));
    let mut cmds: Vec<Cmd> = reqs.into_iter().map(|r| page_cmd(app, r)).collect();
    app.audit.verifying = true;
    cmds.push(Cmd::Load(Query::VerifyAudit));
    cmds
}

pub fn apply_filter(app: &mut App, form: AuditFilterForm) -> Vec<Cmd> {
    app.audit.filter = form;
    load(app)
}

pub fn accept(app: &mut App, page: PageRequest, items: Page<AuditEvent>) -> Vec<Cmd> {
    let h = height(app);
    let reqs = app.audit.list.accept(page.generation, page.index, items, h);
    reqs.into_iter().map(|r| page_cmd(app, r)).collect()
}

/// New events arrived: re-read the tail so they show up.
pub fn refresh_tail(app: &mut App) -> Vec<Cmd> {
    match app.audit.list.refresh_tail() {
        Some(r) => vec![page_cmd(app, r)],
        None => vec![],
    }
}

pub fn nav(app: &mut App, nav: Nav) -> Vec<Cmd> {
    let h = height(app);
    let reqs = app.audit.list.nav(nav, h);
    reqs.into_iter().map(|r| page_cmd(app, r)).collect()
}

pub fn key(app: &mut App, key: KeyEvent) -> Vec<Cmd> {
    if let Some(n) = Nav::of(key) {
        return nav(app, n);
    }
    match key.code {
        KeyCode::Char('/') => {
            app.overlay = Some(Overlay::AuditFilter(app.audit.filter.clone()));
            vec![]
        }
        KeyCode::Char('t') => {
            app.audit.window = app.audit.window.next();
            load(app)
        }
        KeyCode::Char('v') => {
            app.audit.verifying = true;
            vec![Cmd::Load(Query::VerifyAudit)]
        }
        KeyCode::Char('x') => {
            export(app);
            vec![]
        }
        _ => vec![],
    }
}

/// `x`: asks to export every event the filter in force matches, as CSV, to a new file named
/// for the moment (in the directory hallpass was started from).
fn export(app: &mut App) {
    let stamp: String = app
        .now
        .to_rfc3339()
        .chars()
        .filter(char::is_ascii_digit)
        .take(14)
        .collect();
    let file = format!(
        "hallpass-audit-{}-{}.csv",
        &stamp[..8.min(stamp.len())],
        &stamp[8.min(stamp.len())..]
    );
    let query = AuditQuery {
        after: None,
        ..app.audit.query.clone()
    };
    app.overlay = Some(Overlay::Confirm(Confirm {
        title: "Export the audit log".into(),
        lines: vec![
            format!(
                "Every event of the filter in force ({}),",
                filter_summary(&app.audit)
            ),
            format!(
                "as CSV with their hashes, to {file} in the directory hallpass was started from."
            ),
            "`hallpass audit export --format json` writes JSON.".into(),
        ],
        action: Action::ExportAudit { query, file },
    }));
}

/// The window and filters in force, as shown under the chain state.
fn filter_summary(a: &Audit) -> String {
    let mut filters = vec![format!("window: {}", a.window.label())];
    for (i, label) in AUDIT_FILTER_LABELS.iter().enumerate() {
        if let Some(v) = a.filter.value(i) {
            filters.push(format!("{label}: {v}"));
        }
    }
    filters.join(" · ")
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let (head, list, detail) = rects(area);
    let t = app.theme;
    let a = &app.audit;
    let chain = match (&a.verification, a.verifying) {
        (_, true) => Line::styled(" hash chain: verifying…", t.dim()),
        (None, false) => Line::styled(" hash chain: not verified yet (v)", t.dim()),
        (Some(v), false) => match v.broken_at {
            None => Line::from(vec![
                Span::styled(" hash chain: ", t.dim()),
                Span::styled(format!("✓ intact, {} events", v.checked), t.good()),
                Span::styled(
                    format!(", head #{} {}", v.head_seq, clip(&v.head_hash, 12)),
                    t.dim(),
                ),
            ]),
            Some(at) => Line::from(vec![
                Span::styled(" hash chain: ", t.dim()),
                Span::styled(
                    format!("✗ BROKEN at #{at}: {}", v.why.clone().unwrap_or_default()),
                    t.bad(),
                ),
            ]),
        },
    };
    Paragraph::new(vec![
        chain,
        Line::styled(format!(" {}", filter_summary(a)), t.dim()),
    ])
    .render(head, buf);
    let now = app.now;
    let n = a.list.len();
    let title = format!(
        "Activity ({n}{})",
        if a.list.is_complete() { "" } else { "+" }
    );
    pane::table(
        app,
        list,
        buf,
        title,
        &["SEQ", "WHEN", "WHO", "ACTION", "TARGET", "SUMMARY"],
        &[
            Constraint::Length(5),
            Constraint::Length(12),
            Constraint::Fill(2),
            Constraint::Fill(2),
            Constraint::Fill(2),
            Constraint::Fill(3),
        ],
        n,
        &a.list.scroll,
        if a.list.is_loading() {
            "Loading…"
        } else {
            "No activity matches."
        },
        |i| {
            let e = a.list.get(i)?;
            Some(vec![
                Cell::from(e.seq.to_string()),
                Cell::from(local_short(e.at, now, app.utc_offset_secs)),
                Cell::from(e.entry.actor.to_string()),
                pane::styled(e.entry.action.clone(), t.accent()),
                Cell::from(e.entry.target.clone()),
                Cell::from(e.entry.summary.clone()),
            ])
        },
    );
    let lines = match a.list.selected() {
        None => vec![Line::styled("Select an event.", t.dim())],
        Some(e) => vec![
            pane::kv(
                app,
                "event",
                format!("#{} at {}", e.seq, local(e.at, app.utc_offset_secs)),
            ),
            pane::kv(
                app,
                "actor",
                format!("{} via {}", e.entry.actor, e.entry.source),
            ),
            pane::kv(app, "action", e.entry.action.clone()),
            pane::kv(app, "target", e.entry.target.clone()),
            pane::kv(
                app,
                "status",
                e.entry.status.clone().unwrap_or_else(|| "-".into()),
            ),
            pane::kv(app, "summary", e.entry.summary.clone()),
            pane::kv(app, "hash", clip(&e.hash, 24)),
            pane::kv(app, "prev", clip(&e.prev_hash, 24)),
        ],
    };
    pane::detail(app, detail, buf, "Event", lines);
}
