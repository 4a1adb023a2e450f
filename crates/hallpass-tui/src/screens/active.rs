//! Active access: everyone's live grants for admins, with live countdowns, a filter (`/`) and
//! revoke with confirmation (`x`). Invariant: the filter only narrows what is shown; the
//! selection always indexes the filtered rows, so `x` revokes the grant that is highlighted.

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent};
use hallpass_core::grant::GrantStatus;
use hallpass_proto::{GrantQuery, GrantView, Page};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Widget};

use crate::app::{App, Tone};
use crate::chain::{self, Chain};
use crate::display::{countdown, local_short};
use crate::effect::{Cmd, GrantsFor};
use crate::field::TextField;
use crate::layout;
use crate::overlay::{Overlay, Prompt, PromptFor};
use crate::pane;
use crate::screens::my_access::seen_status;
use crate::scroll::{Nav, Scroll};

pub const KEYS: &[(&str, &str)] = &[("x", "revoke"), ("/", "filter")];

#[derive(Debug, Default)]
pub struct ActiveAccess {
    /// Everyone's live grants (Granting, Active, Revoking, RevokeFailed), soonest end first.
    pub rows: Vec<GrantView>,
    pub chain: Chain,
    pub loaded: bool,
    pub scroll: Scroll,
    pub filter: TextField,
    pub filtering: bool,
}

impl ActiveAccess {
    /// Indices of rows matching the filter.
    pub fn shown(&self) -> Vec<usize> {
        let f = self.filter.value().trim().to_lowercase();
        self.rows
            .iter()
            .enumerate()
            .filter(|(_, g)| {
                f.is_empty()
                    || g.user.email.to_lowercase().contains(&f)
                    || g.target.to_string().contains(&f)
                    || g.id.to_string().to_lowercase().contains(&f)
                    || g.request.to_string().to_lowercase().contains(&f)
            })
            .map(|(i, _)| i)
            .collect()
    }

    pub fn selected(&self) -> Option<&GrantView> {
        self.shown()
            .get(self.scroll.selected)
            .and_then(|&i| self.rows.get(i))
    }
}

pub fn load(_app: &App) -> Vec<Cmd> {
    vec![Cmd::Load(crate::screens::dashboard::live_grants_query())]
}

pub fn accept(app: &mut App, query: GrantQuery, page: Page<GrantView>) -> Vec<Cmd> {
    let a = &mut app.active;
    let (kept, next) = a.chain.accept(&mut a.rows, query.after.as_deref(), page);
    if kept {
        a.rows
            .sort_by_key(|g| (g.expires_at.is_none(), g.expires_at, g.id));
        a.loaded = true;
        clamp(app);
    }
    chain::next_grants(GrantsFor::Live, query, next)
}

fn rects(body: Rect) -> (Rect, Rect) {
    let [filter, list] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(body);
    (filter, list)
}

pub fn list_rect(body: Rect) -> Rect {
    rects(body).1
}

fn height(app: &App) -> usize {
    layout::table_rows(list_rect(layout::body(app)))
}

fn clamp(app: &mut App) {
    let h = height(app);
    let n = app.active.shown().len();
    app.active.scroll.clamp(n, h);
}

pub fn nav(app: &mut App, nav: Nav) {
    let h = height(app);
    let n = app.active.shown().len();
    app.active.scroll.apply(nav, n, h);
}

/// True while the filter line takes the keys.
pub fn typing(app: &App) -> bool {
    app.active.filtering
}

pub fn key(app: &mut App, key: KeyEvent) -> Vec<Cmd> {
    if app.active.filtering {
        match key.code {
            KeyCode::Enter | KeyCode::Esc => app.active.filtering = false,
            _ => {
                app.active.filter.key(key);
                app.active.scroll = Scroll::default();
                clamp(app);
            }
        }
        return vec![];
    }
    if let Some(n) = Nav::of(key) {
        nav(app, n);
        return vec![];
    }
    match key.code {
        KeyCode::Char('/') => app.active.filtering = true,
        KeyCode::Char('x') => {
            let Some(g) = app.active.selected().cloned() else {
                return vec![];
            };
            if !app.is_admin() {
                app.set_status(Tone::Warn, "Revoking access is for admins.");
                return vec![];
            }
            app.overlay = Some(Overlay::Prompt(Prompt::reason(
                format!("Revoke {}", g.id),
                vec![
                    format!("End {}'s access to {} now?", g.user.email, g.target),
                    "They are told, and the access is removed on the target.".into(),
                ],
                PromptFor::Revoke(g.id),
                false,
            )));
        }
        _ => {}
    }
    vec![]
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let (filter, list) = rects(area);
    let a = &app.active;
    let t = app.theme;
    let now = app.now;
    let mut spans = vec![Span::styled(" filter: ", t.dim())];
    if a.filtering || !a.filter.value().is_empty() {
        spans.extend(a.filter.line(a.filtering, t.plain(), t.selected()).spans);
    } else {
        spans.push(Span::styled("press / to filter", t.dim()));
    }
    Paragraph::new(Line::from(spans)).render(filter, buf);
    let shown = a.shown();
    let title = format!(
        "Everyone's live access ({}{}{})",
        shown.len(),
        if shown.len() == a.rows.len() {
            String::new()
        } else {
            format!(" of {}", a.rows.len())
        },
        if a.chain.capped {
            format!(", first {}", Chain::max_rows())
        } else {
            String::new()
        }
    );
    pane::table(
        app,
        list,
        buf,
        title,
        &["GRANT", "WHO", "ACCESS TO", "STATUS", "LEFT", "UNTIL"],
        &[
            Constraint::Length(7),
            Constraint::Fill(2),
            Constraint::Fill(3),
            Constraint::Length(13),
            Constraint::Length(7),
            Constraint::Length(12),
        ],
        shown.len(),
        &a.scroll,
        if a.loaded {
            "No one has access right now."
        } else {
            "Loading…"
        },
        |i| {
            let g = a.rows.get(*shown.get(i)?)?;
            let st = seen_status(g, now);
            let left = match (st, g.expires_at) {
                (GrantStatus::Active, Some(e)) => countdown(e, now),
                _ => "-".into(),
            };
            let soon = g.expires_at.is_some_and(|e| {
                st == GrantStatus::Active && now.until(e) <= Duration::from_secs(900)
            });
            Some(vec![
                Cell::from(g.id.to_string()),
                Cell::from(g.user.email.clone()),
                Cell::from(g.target.to_string()),
                pane::styled(st.to_string(), t.grant_status(st)),
                pane::styled(left, if soon { t.warn() } else { t.plain() }),
                Cell::from(
                    g.expires_at
                        .map_or_else(|| "-".into(), |e| local_short(e, now, app.utc_offset_secs)),
                ),
            ])
        },
    );
}
