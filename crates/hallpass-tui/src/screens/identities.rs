//! Identities: browse and filter everyone the broker knows (tens of thousands of people), their
//! groups and manager, with a detail pane. Invariant: only the visible rows are built and at most
//! a few pages are held (see `paged`), whatever the directory's size.

use crossterm::event::{KeyCode, KeyEvent};
use hallpass_proto::UserView;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Widget};

use crate::app::App;
use crate::display::local;
use crate::effect::{Cmd, UsersFor};
use crate::pane;
use crate::screens::people::{self, People};
use crate::scroll::Nav;

pub const KEYS: &[(&str, &str)] = &[("/", "search"), ("Enter Esc", "leave search")];

#[derive(Debug, Default)]
pub struct Identities {
    pub people: People,
}

pub fn list_rect(body: Rect) -> Rect {
    people::rects(body).1
}

pub fn height(app: &App) -> usize {
    people::list_height(app)
}

pub fn load(app: &mut App) -> Vec<Cmd> {
    people::load(app, UsersFor::Identities)
}

pub fn typing(app: &App) -> bool {
    app.identities.people.filtering
}

pub fn key(app: &mut App, key: KeyEvent) -> Vec<Cmd> {
    if app.identities.people.filtering {
        return people::filter_key(app, UsersFor::Identities, key);
    }
    if let Some(n) = Nav::of(key) {
        let h = height(app);
        return people::nav(app, UsersFor::Identities, n, h);
    }
    if key.code == KeyCode::Char('/') {
        app.identities.people.filtering = true;
    }
    vec![]
}

/// Where a person comes from: the identity sources that list them, or `local`.
fn source(u: &UserView) -> String {
    if u.sources.is_empty() {
        "local".into()
    } else {
        u.sources
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

pub fn user_detail<'a>(app: &App, u: &UserView) -> Vec<Line<'a>> {
    vec![
        pane::kv(app, "name", u.name.clone()),
        pane::kv(app, "email", u.email.clone()),
        pane::kv(app, "id", u.id.to_string()),
        pane::kv(app, "role", format!("{} ({})", u.role, u.status)),
        pane::kv(
            app,
            "manager",
            u.manager_email.clone().unwrap_or_else(|| "-".into()),
        ),
        pane::kv(
            app,
            "groups",
            if u.groups.is_empty() {
                "-".to_string()
            } else {
                u.groups
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        ),
        pane::kv(
            app,
            "os user",
            match (&u.os_user, u.os_uid) {
                (Some(n), Some(uid)) => format!("{n} (uid {uid})"),
                (None, Some(uid)) => format!("uid {uid}"),
                _ => "not bound yet".into(),
            },
        ),
        pane::kv(app, "login", u.login.clone().unwrap_or_else(|| "-".into())),
        pane::kv(app, "source", source(u)),
        pane::kv(app, "since", local(u.created_at, app.utc_offset_secs)),
    ]
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let (filter, list, detail) = people::rects(area);
    let p = &app.identities.people;
    Paragraph::new(people::filter_line(app, p)).render(filter, buf);
    let n = p.list.len();
    pane::table(
        app,
        list,
        buf,
        format!(
            "People ({n}{})",
            if p.list.is_complete() { "" } else { "+" }
        ),
        &["NAME", "EMAIL", "SOURCE", "MANAGER", "GROUPS"],
        &[
            Constraint::Fill(2),
            Constraint::Fill(3),
            Constraint::Length(10),
            Constraint::Fill(2),
            Constraint::Fill(2),
        ],
        n,
        &p.list.scroll,
        if p.list.is_loading() {
            "Loading…"
        } else {
            "No one matches."
        },
        |i| {
            let u = p.list.get(i)?;
            Some(vec![
                Cell::from(u.name.clone()),
                Cell::from(u.email.clone()),
                Cell::from(source(u)),
                Cell::from(u.manager_email.clone().unwrap_or_default()),
                Cell::from(
                    u.groups
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(","),
                ),
            ])
        },
    );
    let lines = match p.list.selected() {
        Some(u) => user_detail(app, u),
        None => vec![Line::styled("Select a person.", app.theme.dim())],
    };
    pane::detail(app, detail, buf, "Person", lines);
}
