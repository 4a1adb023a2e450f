//! The frame: tab bar, connection banner, the current screen (or a friendly refusal), the status
//! line, toasts and the open overlay. Invariant: views are pure functions of `&App`; they read
//! no clock and do no IO, so the same model always draws the same frame.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Widget, Wrap};

use crate::app::{Access, App, Connection, Tone};
use crate::layout::{self, MIN_HEIGHT, MIN_WIDTH};
use crate::overlay;
use crate::pane;
use crate::screens;

pub fn shows_banner(app: &App) -> bool {
    matches!(app.conn, Connection::Lost { .. })
}

impl Widget for &App {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let app = self;
        let t = app.theme;
        if layout::too_small(area.width, area.height) {
            let lines = vec![
                Line::styled("Window too small", t.title()),
                Line::from(format!(
                    "hallpass needs at least {MIN_WIDTH}×{MIN_HEIGHT}; this one is {}×{}.",
                    area.width, area.height
                )),
                Line::from("Make it larger, or press q to quit."),
            ];
            Paragraph::new(lines)
                .wrap(Wrap { trim: true })
                .centered()
                .render(area, buf);
            return;
        }
        let r = layout::regions(area, shows_banner(app));
        render_tabs(app, r.tabs, buf);
        if let (Some(b), Connection::Lost { why, attempts }) = (r.banner, &app.conn) {
            let text = format!(
                " ⚠ Connection to hallpassd lost: {} · reconnecting{}",
                crate::display::one_line(why),
                if *attempts > 0 {
                    format!(" (attempt {})", attempts + 1)
                } else {
                    "…".into()
                }
            );
            Paragraph::new(Line::styled(text, t.banner()))
                .style(t.banner())
                .render(b, buf);
        }
        match app.access(app.screen) {
            Access::Allowed => screens::render(app, r.body, buf),
            Access::NoSession => render_no_session(app, r.body, buf),
            Access::ReadersOnly => render_readers_only(app, r.body, buf),
        }
        render_status(app, r.status, buf);
        render_toasts(app, r.body, buf);
        if let Some(o) = &app.overlay {
            overlay::render(app, o, area, buf);
        }
    }
}

fn render_tabs(app: &App, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let tabs = layout::tabs(area.width);
    let mut spans = vec![];
    let mut used = 0u16;
    for (s, label, _, end) in &tabs {
        let style = if *s == app.screen {
            t.tab_active()
        } else if app.access(*s) == Access::ReadersOnly {
            t.dim()
        } else {
            t.plain()
        };
        spans.push(Span::styled(label.clone(), style));
        used = *end;
    }
    let who = match &app.me {
        Some(u) => format!("{} · {}", u.email, u.role),
        None => String::new(),
    };
    let room = usize::from(area.width.saturating_sub(used + 1));
    if !who.is_empty() && room > 8 {
        let who = crate::display::clip(&who, room);
        let pad = room.saturating_sub(who.chars().count()) + 1;
        spans.push(Span::raw(" ".repeat(pad)));
        spans.push(Span::styled(who, t.dim()));
    }
    Paragraph::new(Line::from(spans)).render(area, buf);
}

fn render_status(app: &App, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let line = match &app.status {
        Some(s) => {
            let style = match s.tone {
                Tone::Info => t.plain(),
                Tone::Good => t.good(),
                Tone::Warn => t.warn(),
                Tone::Bad => t.bad(),
            };
            Line::styled(format!(" {}", s.text), style)
        }
        None => {
            let mut spans = vec![Span::raw(" ")];
            let keys: &[(&str, &str)] = if app.access(app.screen) == Access::Allowed {
                screens::hints(app)
            } else {
                &[]
            };
            for (k, what) in keys.iter().take(5) {
                spans.push(Span::styled(k.to_string(), t.key()));
                spans.push(Span::styled(format!(" {what}  "), t.dim()));
            }
            spans.push(Span::styled("?", t.key()));
            spans.push(Span::styled(" help  ", t.dim()));
            spans.push(Span::styled("q", t.key()));
            spans.push(Span::styled(" quit", t.dim()));
            Line::from(spans)
        }
    };
    Paragraph::new(line).render(area, buf);
}

fn render_toasts(app: &App, body: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let width = (body.width / 2)
        .clamp(30, 60)
        .min(body.width.saturating_sub(2));
    // Stacked up from the bottom-right corner, newest lowest, clear of the lists' first rows.
    let mut bottom = body.y + body.height.saturating_sub(1);
    for toast in app.toasts.iter().rev() {
        let text = crate::display::clip(&toast.text, usize::from(width.saturating_sub(4)) * 2);
        let lines = if text.chars().count() > usize::from(width.saturating_sub(4)) {
            2
        } else {
            1
        };
        let h = lines + 2;
        if bottom < body.y + h {
            break;
        }
        let r = Rect {
            x: body.x + body.width - width - 1,
            y: bottom - h,
            width,
            height: h,
        };
        let style = match toast.tone {
            Tone::Info => t.plain(),
            Tone::Good => t.good(),
            Tone::Warn => t.warn(),
            Tone::Bad => t.bad(),
        };
        Clear.render(r, buf);
        Paragraph::new(Line::styled(text, style))
            .wrap(Wrap { trim: true })
            .block(ratatui::widgets::Block::bordered().border_style(style))
            .render(r, buf);
        bottom -= h;
    }
}

fn render_no_session(app: &App, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let lines = match (&app.conn, &app.server) {
        (Connection::Connecting, _) => vec![Line::from("Connecting to hallpassd…")],
        (Connection::Lost { .. }, None) => vec![
            Line::styled("Cannot reach hallpassd.", t.bad()),
            Line::from(""),
            Line::from(
                "Is the daemon running? Start it with `hallpassd` or `systemctl start hallpassd`.",
            ),
            Line::from("This screen reconnects by itself; q quits."),
        ],
        _ if app.signup_open => vec![
            Line::styled("This daemon has no admin yet.", t.title()),
            Line::from(""),
            Line::from("Create the first admin account, bound to your OS user:"),
            Line::styled(
                "  hallpass signup --email you@example.com --name 'Your Name'",
                t.key(),
            ),
        ],
        _ => vec![
            Line::styled("Your OS user has no hallpass account.", t.title()),
            Line::from(""),
            Line::from("Ask an admin for an invitation, then run:"),
            Line::styled("  hallpass accept CODE", t.key()),
        ],
    };
    pane::detail(app, area, buf, "hallpass", lines);
}

fn render_readers_only(app: &App, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let who = app.me.as_ref().map_or_else(String::new, |u| {
        format!("{} <{}>, a {}", u.name, u.email, u.role)
    });
    let admins = if app.admins.is_empty() {
        "an admin of your organisation".to_string()
    } else {
        app.admins.join(", ")
    };
    let lines = vec![
        Line::styled(
            format!("{} is for admins and auditors.", app.screen.title()),
            t.title(),
        ),
        Line::from(""),
        Line::from(format!("You are {who}.")),
        Line::from(format!("Admins: {admins}.")),
        Line::from(""),
        Line::from(vec![
            Span::raw("To get access to something, open "),
            Span::styled("My access (3)", t.key()),
            Span::raw(" and press "),
            Span::styled("n", t.key()),
            Span::raw(", or run "),
            Span::styled("hallpass request", t.key()),
            Span::raw("."),
        ]),
        Line::from(vec![
            Span::raw("Requests waiting for your approval are on "),
            Span::styled("Approvals (2)", t.key()),
            Span::raw("."),
        ]),
    ];
    pane::detail(app, area, buf, app.screen.title(), lines);
}
