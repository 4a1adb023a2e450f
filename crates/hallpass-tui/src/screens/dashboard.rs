//! Dashboard: the admin's and auditor's home. Pending approvals, active grants, expiring within
//! the hour, failures needing attention, requests per day over two weeks, the most requested
//! resources and recent activity. Invariant: the per-day and per-resource counts are built from
//! pages as they arrive (no request is kept), so the dashboard's memory does not grow with
//! history; at most `MAX_STATS_PAGES` pages are read. After that they stay live: each
//! submitted request's event adds to them, and the sparkline moves on at local midnight.

use std::collections::BTreeMap;
use std::time::Duration;

use hallpass_core::Timestamp;
use hallpass_core::audit::AuditEvent;
use hallpass_core::grant::GrantStatus;
use hallpass_core::integration::Target;
use hallpass_core::request::RequestStatus;
use hallpass_proto::{
    DaemonStatus, GrantQuery, GrantScope, GrantView, Page, RequestQuery, RequestScope, RequestView,
};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline, Widget};

use crate::app::App;
use crate::chain::{self, Chain};
use crate::display::{clip, countdown, local_day, local_short, short_duration};
use crate::effect::{Cmd, GrantsFor, Query, RequestsFor};
use crate::pane;
use crate::screens::my_access::seen_status;

pub const KEYS: &[(&str, &str)] = &[
    ("2", "approvals"),
    ("4", "active access"),
    ("8", "audit log"),
];

/// Days in the requests-per-day sparkline.
pub const DAYS: usize = 14;
/// Most request pages read for the statistics.
pub const MAX_STATS_PAGES: u32 = 20;
/// Recent activity lines kept.
pub const RECENT: usize = 12;

#[derive(Debug, Default)]
pub struct Stats {
    /// The local day (days since the epoch) of the sparkline's last bar.
    pub today: i64,
    pub per_day: [u64; DAYS],
    pub by_target: BTreeMap<String, u64>,
    pub pages: u32,
    pub done: bool,
    /// The cursor of the page expected next (guards against pages of an older pass).
    pub expect_after: Option<String>,
}

#[derive(Debug, Default)]
pub struct Dashboard {
    pub status: Option<DaemonStatus>,
    pub pending: Vec<RequestView>,
    pub failures: Vec<GrantView>,
    pending_chain: Chain,
    failures_chain: Chain,
    pub stats: Stats,
    pub recent: Vec<AuditEvent>,
    recent_pages: u32,
}

fn stats_query(after: Option<String>) -> Query {
    Query::Requests {
        purpose: RequestsFor::Stats,
        query: RequestQuery {
            scope: RequestScope::All,
            after,
            limit: chain::PAGE_ROWS,
            ..RequestQuery::default()
        },
    }
}

pub fn live_grants_query() -> Query {
    Query::Grants {
        purpose: GrantsFor::Live,
        query: GrantQuery {
            scope: GrantScope::All,
            statuses: vec![
                GrantStatus::Granting,
                GrantStatus::Active,
                GrantStatus::Revoking,
                GrantStatus::RevokeFailed,
            ],
            limit: chain::PAGE_ROWS,
            ..GrantQuery::default()
        },
    }
}

/// Everything the dashboard shows, except the statistics.
pub fn refresh(app: &App) -> Vec<Cmd> {
    vec![
        Cmd::Load(Query::Status),
        Cmd::Load(Query::Requests {
            purpose: RequestsFor::AllPending,
            query: RequestQuery {
                scope: RequestScope::All,
                status: Some(RequestStatus::Pending),
                limit: chain::PAGE_ROWS,
                ..RequestQuery::default()
            },
        }),
        Cmd::Load(live_grants_query()),
        Cmd::Load(Query::Grants {
            purpose: GrantsFor::Failures,
            query: GrantQuery {
                scope: GrantScope::All,
                statuses: vec![GrantStatus::Failed, GrantStatus::RevokeFailed],
                limit: chain::PAGE_ROWS,
                ..GrantQuery::default()
            },
        }),
        Cmd::Load(Query::RecentActivity {
            since: app.now.minus(Duration::from_secs(86_400)),
            after: None,
        }),
    ]
}

/// Everything, statistics included (reads up to `MAX_STATS_PAGES` pages of requests).
pub fn load(app: &mut App) -> Vec<Cmd> {
    let d = &mut app.dashboard;
    d.stats = Stats {
        today: local_day(app.now, app.utc_offset_secs),
        ..Stats::default()
    };
    d.recent_pages = 0;
    let mut cmds = refresh(app);
    cmds.push(Cmd::Load(stats_query(None)));
    cmds
}

pub fn accept_pending(app: &mut App, query: RequestQuery, page: Page<RequestView>) -> Vec<Cmd> {
    let d = &mut app.dashboard;
    let next = d
        .pending_chain
        .accept(&mut d.pending, query.after.as_deref(), page)
        .1;
    chain::next_requests(RequestsFor::AllPending, query, next)
}

pub fn accept_failures(app: &mut App, query: GrantQuery, page: Page<GrantView>) -> Vec<Cmd> {
    let d = &mut app.dashboard;
    let next = d
        .failures_chain
        .accept(&mut d.failures, query.after.as_deref(), page)
        .1;
    chain::next_grants(GrantsFor::Failures, query, next)
}

pub fn accept_stats(app: &mut App, query: &RequestQuery, page: Page<RequestView>) -> Vec<Cmd> {
    let off = app.utc_offset_secs;
    let s = &mut app.dashboard.stats;
    if s.done || query.after != s.expect_after {
        return vec![];
    }
    for r in &page.items {
        let age = s.today - local_day(r.created_at, off);
        if (0..DAYS as i64).contains(&age) {
            s.per_day[DAYS - 1 - age as usize] += 1;
            for t in &r.targets {
                *s.by_target.entry(t.to_string()).or_default() += 1;
            }
        }
    }
    s.pages += 1;
    match page.next {
        Some(next) if s.pages < MAX_STATS_PAGES && !page.items.is_empty() => {
            s.expect_after = Some(next.clone());
            vec![Cmd::Load(stats_query(Some(next)))]
        }
        _ => {
            s.done = true;
            vec![]
        }
    }
}

/// A request was submitted at `at` (a daemon event): counted at once, when the statistics pass
/// has finished (a pass still running reads it from the daemon itself).
pub fn count_submitted(app: &mut App, at: Timestamp, targets: &[Target]) {
    roll_day(app);
    let off = app.utc_offset_secs;
    let s = &mut app.dashboard.stats;
    if !s.done {
        return;
    }
    let age = s.today - local_day(at, off);
    if (0..DAYS as i64).contains(&age) {
        s.per_day[DAYS - 1 - age as usize] += 1;
        for t in targets {
            *s.by_target.entry(t.to_string()).or_default() += 1;
        }
    }
}

/// Moves the sparkline on when the local day changes: the oldest days drop off and today
/// starts at zero. (The per-resource counts keep their days until the next full load.)
pub fn roll_day(app: &mut App) -> bool {
    let today = local_day(app.now, app.utc_offset_secs);
    let s = &mut app.dashboard.stats;
    if !s.done || today <= s.today {
        return false;
    }
    let shift = usize::try_from(today - s.today).unwrap_or(DAYS).min(DAYS);
    s.per_day.rotate_left(shift % DAYS);
    for n in &mut s.per_day[DAYS - shift..] {
        *n = 0;
    }
    s.today = today;
    true
}

pub fn accept_recent(app: &mut App, after: Option<String>, page: Page<AuditEvent>) -> Vec<Cmd> {
    let d = &mut app.dashboard;
    if after.is_none() {
        d.recent.clear();
        d.recent_pages = 0;
    }
    d.recent.extend(page.items);
    let excess = d.recent.len().saturating_sub(RECENT);
    d.recent.drain(..excess);
    d.recent_pages += 1;
    match page.next {
        Some(next) if d.recent_pages < 20 => vec![Cmd::Load(Query::RecentActivity {
            since: app.now.minus(Duration::from_secs(86_400)),
            after: Some(next),
        })],
        _ => vec![],
    }
}

fn expiring_soon(app: &App) -> Vec<&GrantView> {
    let mut v: Vec<&GrantView> = app
        .active
        .rows
        .iter()
        .filter(|g| {
            seen_status(g, app.now) == GrantStatus::Active
                && g.expires_at
                    .is_some_and(|e| app.now.until(e) <= Duration::from_secs(3600))
        })
        .collect();
    v.sort_by_key(|g| g.expires_at);
    v
}

fn counter(
    app: &App,
    area: Rect,
    buf: &mut Buffer,
    title: &str,
    value: String,
    style: ratatui::style::Style,
) {
    Paragraph::new(Line::from(Span::styled(value, style)))
        .centered()
        .block(pane::block(app, title))
        .render(area, buf);
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let d = &app.dashboard;
    let now = app.now;
    let [counters, middle, bottom] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Length(7),
        Constraint::Fill(1),
    ])
    .areas(area);
    let cols: [Rect; 4] = Layout::horizontal([Constraint::Fill(1); 4]).areas(counters);
    let pending = d
        .status
        .as_ref()
        .map_or(d.pending.len() as u64, |s| s.pending_requests);
    let active = app
        .active
        .rows
        .iter()
        .filter(|g| seen_status(g, now) == GrantStatus::Active)
        .count();
    let expiring = expiring_soon(app);
    let failures = d.failures.len();
    let n = |v: usize| {
        if app.active.loaded {
            v.to_string()
        } else {
            "…".into()
        }
    };
    counter(
        app,
        cols[0],
        buf,
        "Pending",
        pending.to_string(),
        if pending > 0 { t.warn() } else { t.plain() },
    );
    counter(app, cols[1], buf, "Active", n(active), t.good());
    counter(
        app,
        cols[2],
        buf,
        "Expiring <1h",
        n(expiring.len()),
        if expiring.is_empty() {
            t.plain()
        } else {
            t.warn()
        },
    );
    counter(
        app,
        cols[3],
        buf,
        "Failures",
        failures.to_string(),
        if failures > 0 { t.bad() } else { t.plain() },
    );

    let [spark, top] =
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(middle);
    let total: u64 = d.stats.per_day.iter().sum();
    let title = format!(
        "Requests per day, 14 days ({total}{})",
        if d.stats.done { "" } else { "…" }
    );
    let b = pane::block(app, title);
    let inner = b.inner(spark);
    b.render(spark, buf);
    let [bars, axis] = Layout::vertical([Constraint::Fill(1), Constraint::Length(1)]).areas(inner);
    // Each day gets an equal share of the width.
    let per = usize::from(bars.width / DAYS as u16).max(1);
    Sparkline::default()
        .data(
            d.stats
                .per_day
                .iter()
                .flat_map(|v| std::iter::repeat_n(*v, per)),
        )
        .style(t.accent())
        .render(bars, buf);
    let peak = d.stats.per_day.iter().max().copied().unwrap_or(0);
    Paragraph::new(Line::from(vec![
        Span::styled("14d ago", t.dim()),
        Span::styled(format!("  peak {peak}/day"), t.dim()),
    ]))
    .render(axis, buf);
    let mut by: Vec<(&String, &u64)> = d.stats.by_target.iter().collect();
    by.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let width = usize::from(top.width.saturating_sub(10));
    let lines: Vec<Line> = if by.is_empty() {
        vec![Line::styled("No requests in the last 14 days.", t.dim())]
    } else {
        by.iter()
            .take(5)
            .map(|(k, v)| {
                Line::from(vec![
                    Span::styled(format!("{v:>4} "), t.key()),
                    Span::raw(clip(k, width)),
                ])
            })
            .collect()
    };
    pane::detail(app, top, buf, "Most requested", lines);

    let [attention, recent] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(bottom);
    let mut lines = vec![];
    for g in &d.failures {
        lines.push(Line::from(vec![
            Span::styled(
                format!("{:<14}", g.status.to_string()),
                t.grant_status(g.status),
            ),
            Span::raw(format!("{} {} {}", g.id, g.user.email, g.target)),
        ]));
        if let Some(e) = &g.last_error {
            lines.push(Line::styled(format!("{:14}{e}", ""), t.dim()));
        }
    }
    for g in &expiring {
        lines.push(Line::from(vec![
            Span::styled(
                format!(
                    "{:<14}",
                    format!(
                        "in {}",
                        g.expires_at.map_or_else(String::new, |e| countdown(e, now))
                    )
                ),
                t.warn(),
            ),
            Span::raw(format!("{} {} {}", g.id, g.user.email, g.target)),
        ]));
    }
    for r in d.pending.iter().take(5) {
        lines.push(Line::from(vec![
            Span::styled(format!("{:<14}", "pending"), t.request_status(r.status)),
            Span::raw(format!(
                "{} {} {} ({})",
                r.id,
                r.requester.email,
                crate::screens::approvals::what(r),
                short_duration(r.created_at.until(now))
            )),
        ]));
    }
    if lines.is_empty() {
        lines.push(Line::styled("Nothing needs attention.", t.good()));
    }
    pane::lines(app, attention, buf, "Needs attention", lines);
    let lines: Vec<Line> = if d.recent.is_empty() {
        vec![Line::styled("No activity in the last 24 hours.", t.dim())]
    } else {
        d.recent
            .iter()
            .rev()
            .map(|e| {
                Line::from(vec![
                    Span::styled(
                        format!("{} ", local_short(e.at, now, app.utc_offset_secs)),
                        t.dim(),
                    ),
                    Span::styled(format!("{} ", e.entry.action), t.accent()),
                    Span::raw(format!("{} by {}", e.entry.target, e.entry.actor)),
                ])
            })
            .collect()
    };
    pane::lines(app, recent, buf, "Recent activity", lines);
}
