//! Overlays: help, confirmations, reason prompts, forms, the one-time invite code and a grant's
//! credentials. They sit above the screen and consume keys first; Esc closes any of them.
//! Invariant: an overlay sends at most one action, and only on an explicit confirm key (Enter or
//! `y`).

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use hallpass_core::audit::Source;
use hallpass_core::credential::{CredentialField, Credentials};
use hallpass_core::integration::Target;
use hallpass_core::user::Role;
use hallpass_core::{GrantId, RequestId, UserId};
use hallpass_proto::{ApiError, ExtendArgs, InviteCreated};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Widget, Wrap};

use crate::app::{App, ScreenId, Tone};
use crate::display::{local, relative};
use crate::effect::{Action, Cmd};
use crate::field::TextField;
use crate::forms::{AuditFilterForm, InviteForm, RequestForm};
use crate::layout;
use crate::message::CallError;
use crate::pane;
use crate::screens;

#[derive(Clone, Debug)]
pub enum Overlay {
    Help,
    Confirm(Confirm),
    Prompt(Prompt),
    RequestForm(RequestForm),
    InviteForm(InviteForm),
    /// Shown once: the code is dropped when this closes.
    InviteCode(InviteCreated),
    /// Shown once: the link's URL is dropped when this closes.
    LinkUrl(hallpass_proto::LinkCreated),
    RolePicker(RolePicker),
    AuditFilter(AuditFilterForm),
    /// My access: one grant's credentials. They live only here, and are dropped when this
    /// closes.
    Credentials(CredentialsView),
    /// Flows, bundles, integrations: the plan for text saved in the editor, or what is wrong.
    Edit(crate::edit::EditView),
    /// Integrations: the connection checks of one integration.
    Checks(screens::catalog::ChecksView),
}

#[derive(Clone, Debug)]
pub struct Confirm {
    pub title: String,
    pub lines: Vec<String>,
    pub action: Action,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PromptFor {
    Approve(RequestId),
    Reject(RequestId),
    Revoke(GrantId),
    Extend(GrantId),
}

#[derive(Clone, Debug)]
pub struct Prompt {
    pub title: String,
    pub lines: Vec<String>,
    /// Label and field; the last field is where Enter submits.
    pub fields: Vec<(String, TextField)>,
    pub focus: usize,
    pub purpose: PromptFor,
    pub reason_required: bool,
    pub error: Option<String>,
}

impl Prompt {
    /// A prompt for one (optional or required) reason.
    pub fn reason(title: String, lines: Vec<String>, purpose: PromptFor, required: bool) -> Prompt {
        let label = if required {
            "reason (required)"
        } else {
            "reason (optional)"
        };
        Prompt {
            title,
            lines,
            fields: vec![(label.into(), TextField::default())],
            focus: 0,
            purpose,
            reason_required: required,
            error: None,
        }
    }

    /// How much longer, and why.
    pub fn extend(grant: GrantId, lines: Vec<String>, default: &str) -> Prompt {
        Prompt {
            title: format!("Extend {grant}"),
            lines,
            fields: vec![
                ("add".into(), TextField::new(default)),
                ("reason".into(), TextField::default()),
            ],
            focus: 0,
            purpose: PromptFor::Extend(grant),
            reason_required: false,
            error: None,
        }
    }

    fn value(&self, i: usize) -> Option<String> {
        self.fields
            .get(i)
            .map(|(_, f)| f.value().trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// The action this prompt sends, or why it cannot yet.
    pub fn submit(&self) -> Result<Action, String> {
        let reason_at = if matches!(self.purpose, PromptFor::Extend(_)) {
            1
        } else {
            0
        };
        let reason = self.value(reason_at);
        if self.reason_required && reason.is_none() {
            return Err("this flow requires a reason".into());
        }
        Ok(match &self.purpose {
            PromptFor::Approve(id) => Action::Approve { id: *id, reason },
            PromptFor::Reject(id) => Action::Reject { id: *id, reason },
            PromptFor::Revoke(id) => Action::Revoke { id: *id, reason },
            PromptFor::Extend(id) => {
                let text = self.value(0).unwrap_or_default();
                let d = hallpass_core::time::parse_duration("duration", &text)
                    .map_err(|e| e.to_string())?;
                Action::Extend {
                    id: *id,
                    args: ExtendArgs {
                        duration_secs: d.as_secs(),
                        reason,
                        source: Source::Tui,
                    },
                }
            }
        })
    }
}

#[derive(Clone, Debug)]
pub struct RolePicker {
    pub user: UserId,
    pub email: String,
    pub current: Role,
    pub selected: usize,
}

pub const ROLES: [Role; 3] = [Role::Admin, Role::Grantee, Role::Auditor];

/// What a masked secret shows (the same width whatever the value, so it leaks no length).
pub const MASK: &str = "••••••••";

/// The credentials overlay: asked for on open, shown when they arrive, secrets masked until
/// `v`. Invariant: the credentials exist nowhere else in the model.
#[derive(Clone, Debug)]
pub struct CredentialsView {
    pub grant: GrantId,
    pub target: Target,
    pub state: CredentialsState,
    /// Secret values are shown in clear.
    pub revealed: bool,
}

#[derive(Clone, Debug)]
pub enum CredentialsState {
    /// Asked; no answer yet.
    Loading,
    Shown(Credentials),
    /// The daemon refused (e.g. the integration issues none) or did not answer.
    Unavailable(CallError),
}

impl CredentialsView {
    pub fn loading(grant: GrantId, target: Target) -> CredentialsView {
        CredentialsView {
            grant,
            target,
            state: CredentialsState::Loading,
            revealed: false,
        }
    }

    /// The credentials, when they arrived.
    pub fn credentials(&self) -> Option<&Credentials> {
        match &self.state {
            CredentialsState::Shown(c) => Some(c),
            _ => None,
        }
    }

    fn has_secrets(&self) -> bool {
        self.credentials()
            .is_some_and(|c| c.fields.iter().any(|f| f.secret))
    }

    /// A field's value as shown now: secrets masked unless revealed.
    pub fn shown_value<'a>(&self, f: &'a CredentialField) -> &'a str {
        if f.secret && !self.revealed {
            MASK
        } else {
            &f.value
        }
    }
}

/// Handles a key while an overlay is open.
pub fn key(app: &mut App, key: KeyEvent) -> Vec<Cmd> {
    let Some(mut overlay) = app.overlay.take() else {
        return vec![];
    };
    if key.code == KeyCode::Esc {
        return vec![];
    }
    let mut cmds = vec![];
    let keep = match &mut overlay {
        Overlay::Help => !matches!(key.code, KeyCode::Char('?') | KeyCode::Char('q')),
        Overlay::InviteCode(_) | Overlay::LinkUrl(_) => {
            !matches!(key.code, KeyCode::Enter | KeyCode::Char('q'))
        }
        Overlay::Confirm(c) => match key.code {
            KeyCode::Enter | KeyCode::Char('y') | KeyCode::Char('Y') => {
                app.set_status(Tone::Info, format!("{}…", c.title));
                cmds.push(Cmd::Act(c.action.clone()));
                false
            }
            KeyCode::Char('n') | KeyCode::Char('N') => false,
            _ => true,
        },
        Overlay::Prompt(p) => match key.code {
            KeyCode::Tab | KeyCode::Down => {
                p.focus = (p.focus + 1) % p.fields.len().max(1);
                true
            }
            KeyCode::BackTab | KeyCode::Up => {
                p.focus = (p.focus + p.fields.len().max(1) - 1) % p.fields.len().max(1);
                true
            }
            KeyCode::Enter => match p.submit() {
                Ok(action) => {
                    app.set_status(Tone::Info, format!("{}…", p.title));
                    cmds.push(Cmd::Act(action));
                    false
                }
                Err(why) => {
                    p.error = Some(why);
                    true
                }
            },
            _ => {
                if let Some((_, f)) = p.fields.get_mut(p.focus) {
                    f.key(key);
                }
                p.error = None;
                true
            }
        },
        Overlay::RolePicker(r) => match key.code {
            KeyCode::Up | KeyCode::Char('k') => {
                r.selected = r.selected.saturating_sub(1);
                true
            }
            KeyCode::Down | KeyCode::Char('j') => {
                r.selected = (r.selected + 1).min(ROLES.len() - 1);
                true
            }
            KeyCode::Enter => {
                let role = ROLES[r.selected.min(ROLES.len() - 1)];
                if role != r.current {
                    app.set_status(Tone::Info, format!("Making {} {role}…", r.email));
                    cmds.push(Cmd::Act(Action::SetRole { user: r.user, role }));
                }
                false
            }
            _ => true,
        },
        Overlay::RequestForm(f) => match f.key(key) {
            crate::forms::Outcome::Stay => true,
            crate::forms::Outcome::Send(a) => {
                app.set_status(Tone::Info, "Submitting the request…");
                cmds.push(Cmd::Act(a));
                false
            }
        },
        Overlay::InviteForm(f) => match f.key(key) {
            crate::forms::Outcome::Stay => true,
            crate::forms::Outcome::Send(a) => {
                app.set_status(Tone::Info, "Inviting…");
                cmds.push(Cmd::Act(a));
                false
            }
        },
        Overlay::Credentials(c) => match key.code {
            KeyCode::Enter | KeyCode::Char('q') => false,
            KeyCode::Char('v') if c.has_secrets() => {
                c.revealed = !c.revealed;
                true
            }
            _ => true,
        },
        Overlay::Edit(v) => crate::edit::key(app, v, key, &mut cmds),
        Overlay::Checks(_) => !matches!(key.code, KeyCode::Enter | KeyCode::Char('q')),
        Overlay::AuditFilter(f) => {
            if key.code == KeyCode::Enter && !key.modifiers.contains(KeyModifiers::SHIFT) {
                let filter = f.clone();
                cmds.extend(screens::audit::apply_filter(app, filter));
                false
            } else {
                f.key(key);
                true
            }
        }
    };
    if keep {
        app.overlay = Some(overlay);
    }
    cmds
}

fn frame(app: &App, area: Rect, buf: &mut Buffer, w: u16, h: u16, title: &str) -> Rect {
    let r = layout::centered(area, w, h);
    Clear.render(r, buf);
    let b = pane::block(app, title);
    let inner = b.inner(r);
    b.render(r, buf);
    inner
}

fn hint<'a>(app: &App, keys: &[(&str, &str)]) -> Line<'a> {
    let mut spans = vec![];
    for (k, what) in keys {
        spans.push(Span::styled(k.to_string(), app.theme.key()));
        spans.push(Span::styled(format!(" {what}  "), app.theme.dim()));
    }
    Line::from(spans)
}

pub fn render(app: &App, overlay: &Overlay, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    match overlay {
        Overlay::Help => render_help(app, area, buf),
        Overlay::Confirm(c) => {
            let inner = frame(app, area, buf, 64, 8 + c.lines.len() as u16, &c.title);
            let mut lines: Vec<Line> = c.lines.iter().map(|l| Line::from(l.clone())).collect();
            lines.push(Line::from(""));
            lines.push(hint(app, &[("y/Enter", "confirm"), ("n/Esc", "cancel")]));
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .render(inner, buf);
        }
        Overlay::Prompt(p) => {
            let h = 7 + p.lines.len() as u16 + p.fields.len() as u16;
            let inner = frame(app, area, buf, 70, h, &p.title);
            let mut lines: Vec<Line> = p.lines.iter().map(|l| Line::from(l.clone())).collect();
            lines.push(Line::from(""));
            for (i, (label, f)) in p.fields.iter().enumerate() {
                let mut spans = vec![Span::styled(format!("{label}: "), t.dim())];
                spans.extend(f.line(i == p.focus, t.plain(), t.selected()).spans);
                lines.push(Line::from(spans));
            }
            if let Some(e) = &p.error {
                lines.push(Line::styled(e.clone(), t.bad()));
            } else {
                lines.push(Line::from(""));
            }
            lines.push(hint(
                app,
                &[("Enter", "send"), ("Tab", "next field"), ("Esc", "cancel")],
            ));
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .render(inner, buf);
        }
        Overlay::RolePicker(r) => {
            let inner = frame(app, area, buf, 50, 9, &format!("Role for {}", r.email));
            let mut lines = vec![];
            for (i, role) in ROLES.iter().enumerate() {
                let mark = if *role == r.current { " (now)" } else { "" };
                let style = if i == r.selected {
                    t.selected()
                } else {
                    t.plain()
                };
                lines.push(Line::styled(format!("  {role}{mark}"), style));
            }
            lines.push(Line::from(""));
            lines.push(hint(app, &[("Enter", "set"), ("Esc", "cancel")]));
            Paragraph::new(lines).render(inner, buf);
        }
        Overlay::InviteCode(c) => {
            let inner = frame(app, area, buf, 72, 11, "Invitation created");
            let lines = vec![
                pane::kv(
                    app,
                    "invited",
                    format!("{} <{}> as {}", c.user.name, c.user.email, c.user.role),
                ),
                Line::from(""),
                Line::from(vec![
                    Span::styled("code       ", t.dim()),
                    Span::styled(c.code.clone(), t.key()),
                ]),
                pane::kv(
                    app,
                    "expires",
                    format!(
                        "{} ({})",
                        local(c.expires_at, app.utc_offset_secs),
                        relative(c.expires_at, app.now)
                    ),
                ),
                Line::from(""),
                Line::styled(
                    "Shown once: pass it on now. They run `hallpass accept CODE` as their OS user.",
                    t.warn(),
                ),
                hint(app, &[("Enter/Esc", "close (the code is forgotten)")]),
            ];
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .render(inner, buf);
        }
        Overlay::RequestForm(f) => {
            let inner = frame(app, area, buf, 76, 16, "New request");
            f.render(app, inner, buf);
        }
        Overlay::InviteForm(f) => {
            let inner = frame(app, area, buf, 70, 12, "Invite a user");
            f.render(app, inner, buf);
        }
        Overlay::AuditFilter(f) => {
            let inner = frame(app, area, buf, 64, 11, "Filter the audit log");
            f.render(app, inner, buf);
        }
        Overlay::Credentials(c) => render_credentials(app, c, area, buf),
        Overlay::Edit(v) => render_edit(app, v, area, buf),
        Overlay::Checks(c) => render_checks(app, c, area, buf),
        Overlay::LinkUrl(c) => {
            let inner = frame(app, area, buf, 84, 10, "Access link created");
            let expires = c.link.expires_at.map_or_else(
                || "never (revoke it with x)".to_string(),
                |e| {
                    format!(
                        "{} ({})",
                        local(e, app.utc_offset_secs),
                        relative(e, app.now)
                    )
                },
            );
            let lines = vec![
                pane::kv(
                    app,
                    "link",
                    format!("{} for flow {}", c.link.id, c.link.flow),
                ),
                Line::from(""),
                Line::from(vec![
                    Span::styled("url        ", t.dim()),
                    Span::styled(c.url.clone(), t.key()),
                ]),
                pane::kv(app, "expires", expires),
                Line::from(""),
                Line::styled(
                    "Shown once: send it to the person it is for. Anyone holding it can ask.",
                    t.warn(),
                ),
                hint(app, &[("Enter/Esc", "close (the URL is forgotten)")]),
            ];
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .render(inner, buf);
        }
    }
}

/// A wide overlay of `lines` (wrapped to fit) with `keys` as its last line.
fn render_lines(
    app: &App,
    area: Rect,
    buf: &mut Buffer,
    title: &str,
    mut lines: Vec<Line<'_>>,
    keys: &[(&str, &str)],
) {
    let w = area.width.saturating_sub(4).clamp(area.width.min(60), 100);
    let inner_w = usize::from(w.saturating_sub(2)).max(1);
    let rows: usize = lines
        .iter()
        .map(|l| l.width().max(1).div_ceil(inner_w))
        .sum();
    let inner = frame(app, area, buf, w, rows as u16 + 4, title);
    lines.push(Line::from(""));
    lines.push(hint(app, keys));
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .render(inner, buf);
}

fn render_edit(app: &App, v: &crate::edit::EditView, area: Rect, buf: &mut Buffer) {
    use crate::edit::EditState;
    let t = app.theme;
    let label = v.draft.label();
    let (title, lines, keys): (String, Vec<Line>, &[(&str, &str)]) = match &v.state {
        EditState::Checking(_) => (
            format!("Saving {label}"),
            vec![Line::from("Asking hallpassd for the plan…")],
            &[("Esc", "discard")],
        ),
        EditState::Applying => (
            format!("Saving {label}"),
            vec![Line::from("Applying…")],
            &[("Esc", "close")],
        ),
        EditState::Plan { plan, .. } => {
            let mut lines = vec![
                Line::from("Nothing has changed yet. The plan:"),
                Line::from(""),
            ];
            for l in crate::edit::plan_lines(plan) {
                let style = match l.chars().next() {
                    Some('+') => t.good(),
                    Some('-') => t.bad(),
                    Some('~') => t.warn(),
                    _ => t.plain(),
                };
                lines.push(Line::styled(l, style));
            }
            (
                format!("Save {label}?"),
                lines,
                &[
                    ("y/Enter", "apply"),
                    ("e", "edit again"),
                    ("Esc", "discard"),
                ],
            )
        }
        EditState::Error(e) => {
            let mut lines = vec![Line::styled(
                "hallpass cannot save this text:".to_string(),
                t.bad(),
            )];
            lines.extend(e.lines().map(|l| Line::from(l.to_string())));
            lines.push(Line::from(""));
            lines.push(Line::styled(
                "Your text is kept: e reopens it with this error written at the top.".to_string(),
                t.dim(),
            ));
            (
                format!("Saving {label}"),
                lines,
                &[("e/Enter", "edit again"), ("Esc", "discard")],
            )
        }
    };
    render_lines(app, area, buf, &title, lines, keys);
}

fn render_checks(app: &App, c: &screens::catalog::ChecksView, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let lines = match &c.answer {
        None => vec![Line::from("Checking the connection…")],
        Some(Err(e)) => vec![Line::styled(e.to_string(), t.bad())],
        Some(Ok(checks)) if checks.is_empty() => {
            vec![Line::from("This connector has nothing to check.")]
        }
        Some(Ok(checks)) => checks
            .iter()
            .map(|ch| {
                let (mark, style) = if ch.ok {
                    ("✓", t.good())
                } else {
                    ("✗", t.bad())
                };
                Line::from(vec![
                    Span::styled(format!("{mark} {}", ch.what), style),
                    Span::styled(format!("  {}", ch.detail), t.dim()),
                ])
            })
            .collect(),
    };
    let title = format!("Testing integration {}", c.integration);
    render_lines(app, area, buf, &title, lines, &[("Enter/Esc", "close")]);
}

/// A long value shows on at most this many lines; the CLI prints any one field whole.
const VALUE_LINES: usize = 4;

/// `s` in chunks of `width` characters, at most `max` of them (the last ending in `…` when cut).
fn chunks(s: &str, width: usize, max: usize) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let width = width.max(1);
    let mut out: Vec<String> = chars
        .chunks(width)
        .take(max)
        .map(|c| c.iter().collect())
        .collect();
    if chars.len() > width * max
        && let Some(last) = out.last_mut()
    {
        *last = crate::display::clip(&format!("{last}…"), width);
    }
    if out.is_empty() {
        out.push(String::new());
    }
    out
}

/// How many rows `text` takes when wrapped at word boundaries to `width` (an estimate of the
/// paragraph's own wrapping, to size the frame).
fn wrapped_rows(text: &str, width: usize) -> usize {
    let width = width.max(1);
    let (mut rows, mut used) = (1, 0);
    for word in text.split(' ') {
        let n = word.chars().count();
        let need = if used == 0 { n } else { used + 1 + n };
        if need <= width {
            used = need;
        } else if n <= width {
            rows += 1;
            used = n;
        } else {
            // A word longer than the line is cut wherever the line ends.
            let total = if used == 0 { n } else { used + 1 + n };
            rows += (total - 1) / width;
            used = (total - 1) % width + 1;
        }
    }
    rows
}

fn render_credentials(app: &App, c: &CredentialsView, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    // Wide where there is room, so URLs and keys fit on one line.
    let w = area.width.saturating_sub(4).clamp(area.width.min(60), 100);
    let inner_w = usize::from(w.saturating_sub(2));
    let mut lines = vec![
        Line::from(vec![
            Span::styled("access to  ", t.dim()),
            Span::raw(c.target.to_string()),
        ]),
        Line::from(""),
    ];
    let mut keys: Vec<(&str, &str)> = vec![];
    match &c.state {
        CredentialsState::Loading => {
            lines.push(Line::from("Asking hallpassd…"));
            keys.push(("Esc", "close"));
        }
        CredentialsState::Shown(creds) => {
            let name_w = creds
                .fields
                .iter()
                .map(|f| f.name.chars().count())
                .max()
                .unwrap_or(0)
                .max(9)
                + 2;
            for f in &creds.fields {
                let style = match (f.secret, c.revealed) {
                    (true, false) => t.dim(),
                    (true, true) => t.warn(),
                    _ => t.plain(),
                };
                let value = c.shown_value(f);
                let parts = chunks(value, inner_w.saturating_sub(name_w), VALUE_LINES);
                for (i, part) in parts.into_iter().enumerate() {
                    let label = if i == 0 { f.name.as_str() } else { "" };
                    lines.push(Line::from(vec![
                        Span::styled(format!("{label:<name_w$}"), t.dim()),
                        Span::styled(part, style),
                    ]));
                }
            }
            if !creds.hint.is_empty() {
                lines.push(Line::from(""));
                lines.push(Line::styled(creds.hint.clone(), t.accent()));
            }
            lines.push(Line::from(""));
            lines.push(Line::styled(
                format!(
                    "Copy one field: hallpass grants show {} --credentials --field NAME",
                    c.grant
                ),
                t.dim(),
            ));
            if c.has_secrets() {
                keys.push((
                    "v",
                    if c.revealed {
                        "hide secrets"
                    } else {
                        "reveal secrets"
                    },
                ));
            }
            keys.push(("Esc", "close (the credentials are forgotten)"));
        }
        CredentialsState::Unavailable(e) => {
            match e {
                CallError::Api(ApiError::NotFound { .. }) => {
                    lines.push(Line::styled(
                        "No credentials for this access: use your own login.",
                        t.warn(),
                    ));
                    lines.push(Line::from(""));
                    lines.push(Line::styled(format!("hallpassd: {e}"), t.dim()));
                }
                _ => lines.push(Line::styled(e.to_string(), t.bad())),
            }
            keys.push(("Esc", "close"));
        }
    }
    lines.push(Line::from(""));
    lines.push(hint(app, &keys));
    // Room for wrapped lines (the hint and the daemon's messages may wrap).
    let rows: usize = lines
        .iter()
        .map(|l| {
            let text: String = l.spans.iter().map(|s| s.content.as_ref()).collect();
            wrapped_rows(&text, inner_w)
        })
        .sum();
    let h = u16::try_from(rows + 2).unwrap_or(u16::MAX);
    let inner = frame(
        app,
        area,
        buf,
        w,
        h,
        &format!("Credentials for {}", c.grant),
    );
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .render(inner, buf);
}

/// Keys that work everywhere.
pub const GLOBAL_KEYS: &[(&str, &str)] = &[
    ("1-9 Tab S-Tab", "switch screens"),
    ("↑↓ j k", "move"),
    ("PgUp PgDn", "page"),
    ("Home End g G", "first / last"),
    ("/", "filter (where lists have one)"),
    ("Esc", "close, cancel"),
    ("F5 Ctrl-R", "refresh"),
    ("?", "this help"),
    ("q Ctrl-C", "quit"),
];

fn render_help(app: &App, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let screen = app.screen;
    let inner = frame(app, area, buf, 66, 24, "Help");
    let mut lines = vec![Line::styled("Everywhere", t.header())];
    for (k, what) in GLOBAL_KEYS {
        lines.push(Line::from(vec![
            Span::styled(format!("  {k:<16}"), t.key()),
            Span::raw(what.to_string()),
        ]));
    }
    lines.push(Line::from(""));
    lines.push(Line::styled(screen.title().to_string(), t.header()));
    for (k, what) in screens::keys(screen) {
        lines.push(Line::from(vec![
            Span::styled(format!("  {k:<16}"), t.key()),
            Span::raw(what.to_string()),
        ]));
    }
    if screen == ScreenId::MyAccess || !app.is_reader() {
        lines.push(Line::from(""));
        lines.push(Line::styled(
            "Times are local; countdowns tick live.",
            t.dim(),
        ));
    }
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .render(inner, buf);
}

/// Default extension shown in the extend prompt.
pub fn default_extension(max: Option<Duration>) -> String {
    let d = max.map_or(Duration::from_secs(3600), |m| {
        m.min(Duration::from_secs(3600))
    });
    hallpass_core::time::format_duration(d)
}
