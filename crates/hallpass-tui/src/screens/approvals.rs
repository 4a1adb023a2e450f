//! Approvals: the requests waiting for *me*, with who, what, how long and why; approve (`a`) or
//! reject with a reason (`r`, Enter) in two keystrokes. Invariant: a decision is only ever sent
//! for the request that is selected and that the daemon said I may decide on.

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent};
use hallpass_proto::{Page, RequestQuery, RequestScope, RequestView};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Line;
use ratatui::widgets::Cell;

use crate::app::{App, Tone};
use crate::chain::{self, Chain};
use crate::display::{clip, local_short, relative, short_duration};
use crate::effect::{Action, Cmd, Query, RequestsFor};
use crate::layout;
use crate::overlay::{Overlay, Prompt, PromptFor};
use crate::pane;
use crate::scroll::{Nav, Scroll};

pub const KEYS: &[(&str, &str)] = &[
    ("a", "approve"),
    ("A", "approve with reason"),
    ("r", "reject with reason"),
    ("F5", "refresh"),
];

#[derive(Debug, Default)]
pub struct Approvals {
    pub rows: Vec<RequestView>,
    pub chain: Chain,
    pub loaded: bool,
    pub scroll: Scroll,
}

pub fn load(_app: &App) -> Vec<Cmd> {
    vec![
        Cmd::Load(Query::Requests {
            purpose: RequestsFor::ToApprove,
            query: RequestQuery {
                scope: RequestScope::ToApprove,
                limit: chain::PAGE_ROWS,
                ..RequestQuery::default()
            },
        }),
        Cmd::Load(Query::Flows),
    ]
}

pub fn accept(app: &mut App, query: RequestQuery, page: Page<RequestView>) -> Vec<Cmd> {
    let s = &mut app.approvals;
    let (kept, next) = s.chain.accept(&mut s.rows, query.after.as_deref(), page);
    s.loaded |= kept;
    let h = height(app);
    let s = &mut app.approvals;
    s.scroll.clamp(s.rows.len(), h);
    chain::next_requests(RequestsFor::ToApprove, query, next)
}

pub fn list_rect(body: Rect) -> Rect {
    layout::master_detail(body).0
}

fn height(app: &App) -> usize {
    layout::table_rows(list_rect(layout::body(app)))
}

pub fn nav(app: &mut App, nav: Nav) {
    let h = height(app);
    let s = &mut app.approvals;
    s.scroll.apply(nav, s.rows.len(), h);
}

fn reason_required(app: &App, r: &RequestView) -> bool {
    app.flows
        .iter()
        .find(|f| f.flow.name == r.flow)
        .is_some_and(|f| f.flow.approver_reason_required)
}

pub fn key(app: &mut App, key: KeyEvent) -> Vec<Cmd> {
    if let Some(n) = Nav::of(key) {
        nav(app, n);
        return vec![];
    }
    let Some(r) = app
        .approvals
        .rows
        .get(app.approvals.scroll.selected)
        .cloned()
    else {
        return vec![];
    };
    match key.code {
        KeyCode::Char('a') | KeyCode::Char('A') => {
            if !r.can_decide {
                app.set_status(Tone::Warn, format!("You cannot decide on {} now.", r.id));
                return vec![];
            }
            let with_reason = key.code == KeyCode::Char('A') || reason_required(app, &r);
            if with_reason {
                app.overlay = Some(Overlay::Prompt(Prompt::reason(
                    format!("Approve {}", r.id),
                    summary(&r),
                    PromptFor::Approve(r.id),
                    reason_required(app, &r),
                )));
                vec![]
            } else {
                app.set_status(Tone::Info, format!("Approving {}…", r.id));
                vec![Cmd::Act(Action::Approve {
                    id: r.id,
                    reason: None,
                })]
            }
        }
        KeyCode::Char('r') => {
            if !r.can_decide {
                app.set_status(Tone::Warn, format!("You cannot decide on {} now.", r.id));
                return vec![];
            }
            app.overlay = Some(Overlay::Prompt(Prompt::reason(
                format!("Reject {}", r.id),
                summary(&r),
                PromptFor::Reject(r.id),
                reason_required(app, &r),
            )));
            vec![]
        }
        _ => vec![],
    }
}

/// One line on what a request asks for.
pub fn what(r: &RequestView) -> String {
    match (&r.bundle, r.targets.as_slice()) {
        (Some(b), _) => format!("bundle {b}"),
        (None, [one]) => one.to_string(),
        (None, [first, rest @ ..]) => format!("{first} +{}", rest.len()),
        (None, []) => "-".into(),
    }
}

fn summary(r: &RequestView) -> Vec<String> {
    vec![
        format!(
            "{} asks for {} for {}",
            r.requester.email,
            what(r),
            short_duration(Duration::from_secs(r.duration_secs))
        ),
        format!("why: {}", r.reason),
    ]
}

/// Approvals needed in total for a rule string (`any-of`, `all-of`, `quorum N`, `auto`).
pub fn needed(r: &RequestView) -> usize {
    let rule = r.approval_rule.trim();
    if let Some(n) = rule.strip_prefix("quorum") {
        return n.trim().parse().unwrap_or(1);
    }
    match rule {
        "auto" => 0,
        "all-of" => r.approvals.len() + r.approvers.len(),
        _ => 1,
    }
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let (list, detail) = layout::master_detail(area);
    let s = &app.approvals;
    let now = app.now;
    let title = if s.chain.capped {
        format!("Waiting for you ({}+)", s.rows.len())
    } else {
        format!("Waiting for you ({})", s.rows.len())
    };
    let empty = if s.loaded {
        "Nothing waits for you. New requests appear here (and as a toast) as they arrive."
    } else {
        "Loading…"
    };
    pane::table(
        app,
        list,
        buf,
        title,
        &["ID", "WHO", "WHAT", "FOR", "WAITING", "WHY"],
        &[
            Constraint::Length(8),
            Constraint::Fill(2),
            Constraint::Fill(2),
            Constraint::Length(6),
            Constraint::Length(8),
            Constraint::Fill(2),
        ],
        s.rows.len(),
        &s.scroll,
        empty,
        |i| {
            let r = s.rows.get(i)?;
            Some(vec![
                Cell::from(r.id.to_string()),
                Cell::from(r.requester.email.clone()),
                Cell::from(what(r)),
                Cell::from(short_duration(Duration::from_secs(r.duration_secs))),
                Cell::from(short_duration(r.created_at.until(now))),
                Cell::from(r.reason.clone()),
            ])
        },
    );
    let lines = match s.rows.get(s.scroll.selected) {
        None => vec![Line::from(
            "Select a request to see its flow and approvers.",
        )],
        Some(r) => detail_lines(app, r),
    };
    pane::detail(app, detail, buf, "Detail", lines);
}

fn detail_lines<'a>(app: &App, r: &RequestView) -> Vec<Line<'a>> {
    let now = app.now;
    let need = needed(r);
    let mine = app.me.as_ref().map(|m| m.id);
    let others: Vec<String> = r
        .approvers
        .iter()
        .filter(|a| Some(a.id) != mine)
        .map(|a| a.email.clone())
        .collect();
    let mut lines = vec![
        pane::kv(
            app,
            "request",
            format!("{} from {}", r.id, r.requester.email),
        ),
        pane::kv(app, "flow", format!("{} ({})", r.flow, r.approval_rule)),
        pane::kv(
            app,
            "progress",
            format!("{} of {} approvals", r.approvals.len(), need.max(1)),
        ),
        pane::kv(
            app,
            "others",
            if others.is_empty() {
                "no one else can approve".to_string()
            } else {
                others.join(", ")
            },
        ),
        pane::kv(
            app,
            "duration",
            short_duration(Duration::from_secs(r.duration_secs)),
        ),
        pane::kv(
            app,
            "asked",
            format!(
                "{} ({})",
                local_short(r.created_at, now, app.utc_offset_secs),
                relative(r.created_at, now)
            ),
        ),
        pane::kv_styled(
            app,
            "times out",
            relative(r.pending_until, now),
            app.theme.warn(),
        ),
        pane::kv(app, "why", r.reason.clone()),
    ];
    for t in &r.targets {
        lines.push(pane::kv(app, "target", clip(&t.to_string(), 60)));
    }
    if !r.can_decide {
        lines.push(Line::styled(
            "You cannot decide on this one (yet).",
            app.theme.warn(),
        ));
    }
    lines
}
