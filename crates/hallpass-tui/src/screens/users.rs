//! Users: accounts and roles for admins. Invite (`i`: email, role, full name, optional phone;
//! the code is shown once), change role (`o`), delete with confirmation (`D`). Invariant: the
//! invite code lives only in the overlay that shows it and is gone when it closes.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Widget};

use crate::app::{App, Tone};
use crate::effect::{Action, Cmd, UsersFor};
use crate::forms::InviteForm;
use crate::overlay::{Confirm, Overlay, ROLES, RolePicker};
use crate::pane;
use crate::screens::identities::user_detail;
use crate::screens::people::{self, People};
use crate::scroll::Nav;

pub const KEYS: &[(&str, &str)] = &[
    ("i", "invite"),
    ("o", "change role"),
    ("D", "delete"),
    ("/", "search"),
];

#[derive(Debug, Default)]
pub struct Users {
    pub people: People,
}

pub fn list_rect(body: Rect) -> Rect {
    people::rects(body).1
}

pub fn height(app: &App) -> usize {
    people::list_height(app)
}

pub fn load(app: &mut App) -> Vec<Cmd> {
    people::load(app, UsersFor::Users)
}

pub fn typing(app: &App) -> bool {
    app.users.people.filtering
}

pub fn key(app: &mut App, key: KeyEvent) -> Vec<Cmd> {
    if app.users.people.filtering {
        return people::filter_key(app, UsersFor::Users, key);
    }
    if let Some(n) = Nav::of(key) {
        let h = height(app);
        return people::nav(app, UsersFor::Users, n, h);
    }
    let admin = app.is_admin();
    let selected = app.users.people.list.selected().cloned();
    match key.code {
        KeyCode::Char('/') => app.users.people.filtering = true,
        KeyCode::Char('i' | 'o' | 'D') if !admin => {
            app.set_status(
                Tone::Warn,
                "Managing users is for admins; auditors can look.",
            );
        }
        KeyCode::Char('i') => app.overlay = Some(Overlay::InviteForm(InviteForm::default())),
        KeyCode::Char('o') => {
            if let Some(u) = selected {
                app.overlay = Some(Overlay::RolePicker(RolePicker {
                    user: u.id,
                    email: u.email.clone(),
                    current: u.role,
                    selected: ROLES.iter().position(|r| *r == u.role).unwrap_or(1),
                }));
            }
        }
        KeyCode::Char('D') => {
            if let Some(u) = selected {
                app.overlay = Some(Overlay::Confirm(Confirm {
                    title: format!("Delete {}", u.email),
                    lines: vec![
                        format!("Delete {} <{}>?", u.name, u.email),
                        "Their pending requests are cancelled and their access revoked.".into(),
                        "Their audit history stays.".into(),
                    ],
                    action: Action::DeleteUser(u.id),
                }));
            }
        }
        _ => {}
    }
    vec![]
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let (filter, list, detail) = people::rects(area);
    let p = &app.users.people;
    let t = app.theme;
    Paragraph::new(people::filter_line(app, p)).render(filter, buf);
    let n = p.list.len();
    pane::table(
        app,
        list,
        buf,
        format!("Users ({n}{})", if p.list.is_complete() { "" } else { "+" }),
        &["ID", "EMAIL", "NAME", "ROLE", "STATUS"],
        &[
            Constraint::Length(7),
            Constraint::Fill(3),
            Constraint::Fill(2),
            Constraint::Length(8),
            Constraint::Length(8),
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
            let status_style = match u.status {
                hallpass_core::user::UserStatus::Active => t.plain(),
                hallpass_core::user::UserStatus::Invited => t.warn(),
                hallpass_core::user::UserStatus::Deactivated
                | hallpass_core::user::UserStatus::Deleted => t.dim(),
            };
            Some(vec![
                Cell::from(u.id.to_string()),
                Cell::from(u.email.clone()),
                Cell::from(u.name.clone()),
                Cell::from(u.role.to_string()),
                pane::styled(u.status.to_string(), status_style),
            ])
        },
    );
    let lines = match p.list.selected() {
        Some(u) => user_detail(app, u),
        None => vec![Line::styled("Select a user.", t.dim())],
    };
    pane::detail(app, detail, buf, "User", lines);
}
