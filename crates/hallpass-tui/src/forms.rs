//! Forms with inline validation: a new access request (flow → bundle or resource → duration
//! within the flow's limit → reason), an invitation (email, role, full name, optional phone) and
//! the audit filter. Invariant: a form sends its action only when every field validates, with
//! the same rules the daemon applies, so refusals are shown before the round trip.

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use hallpass_core::BundleName;
use hallpass_core::audit::Source;
use hallpass_core::integration::Target;
use hallpass_core::time::{format_duration, parse_duration};
use hallpass_core::user::{Role, normalize_email, validate_person_name, validate_phone};
use hallpass_proto::{FlowView, InviteArgs, NewRequest};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};

use crate::app::App;
use crate::effect::Action;
use crate::field::TextField;

/// What a key did to a form.
#[derive(Debug)]
pub enum Outcome {
    Stay,
    Send(Action),
}

/// One thing a flow lets people ask for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Choice {
    Bundle(BundleName),
    Target(Target),
}

impl std::fmt::Display for Choice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Choice::Bundle(b) => write!(f, "bundle {b}"),
            Choice::Target(t) => write!(f, "{t}"),
        }
    }
}

/// Bundles first, then single resources.
pub fn choices(flow: &FlowView) -> Vec<Choice> {
    let mut out: Vec<Choice> = flow
        .flow
        .targets
        .bundles
        .iter()
        .cloned()
        .map(Choice::Bundle)
        .collect();
    let singles: Vec<Target> = if flow.flow.targets.resources.is_empty() && out.is_empty() {
        flow.offered.clone()
    } else {
        flow.flow.targets.resources.clone()
    };
    out.extend(singles.into_iter().map(Choice::Target));
    out
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestField {
    Flow,
    What,
    Duration,
    Reason,
}

const REQUEST_FIELDS: [RequestField; 4] = [
    RequestField::Flow,
    RequestField::What,
    RequestField::Duration,
    RequestField::Reason,
];

#[derive(Clone, Debug)]
pub struct RequestForm {
    /// Flows the caller may request through (enabled, self-serve).
    pub flows: Vec<FlowView>,
    pub flow: usize,
    pub what: usize,
    pub duration: TextField,
    pub reason: TextField,
    pub focus: RequestField,
    /// A submit was tried: show "required" errors too.
    pub tried: bool,
}

impl RequestForm {
    /// A form over the flows the caller can use; None when there are none.
    pub fn new(all: &[FlowView]) -> Option<RequestForm> {
        let flows: Vec<FlowView> = all
            .iter()
            .filter(|f| {
                f.can_request
                    && f.flow.enabled
                    && f.flow.trigger == hallpass_core::flow::Trigger::SelfServe
            })
            .cloned()
            .collect();
        let first = flows.first()?;
        let duration = TextField::new(format_duration(first.flow.default_duration));
        Some(RequestForm {
            flows,
            flow: 0,
            what: 0,
            duration,
            reason: TextField::default(),
            focus: RequestField::Flow,
            tried: false,
        })
    }

    pub fn current(&self) -> Option<&FlowView> {
        self.flows.get(self.flow)
    }

    fn cycle(&mut self, forward: bool) {
        let step = |i: usize, n: usize| {
            if n == 0 {
                0
            } else if forward {
                (i + 1) % n
            } else {
                (i + n - 1) % n
            }
        };
        match self.focus {
            RequestField::Flow => {
                self.flow = step(self.flow, self.flows.len());
                self.what = 0;
                if let Some(f) = self.current() {
                    self.duration = TextField::new(format_duration(f.flow.default_duration));
                }
            }
            RequestField::What => {
                let n = self.current().map_or(0, |f| choices(f).len());
                self.what = step(self.what, n);
            }
            _ => {}
        }
    }

    /// Field-by-field problems (required-field problems only after a submit was tried).
    pub fn errors(&self) -> Vec<(RequestField, String)> {
        let mut out = vec![];
        let Some(f) = self.current() else {
            out.push((RequestField::Flow, "no flow lets you request access".into()));
            return out;
        };
        if choices(f).is_empty() {
            out.push((RequestField::What, "this flow offers nothing".into()));
        }
        match parse_duration("duration", self.duration.value()) {
            Ok(d) if d > f.flow.max_duration => out.push((
                RequestField::Duration,
                format!(
                    "at most {} in flow {}",
                    format_duration(f.flow.max_duration),
                    f.flow.name
                ),
            )),
            Ok(_) => {}
            Err(_) if self.duration.is_empty() && !self.tried => {}
            Err(_) => out.push((
                RequestField::Duration,
                "a duration like 30m, 2h or 1d".into(),
            )),
        }
        if f.flow.justification_required && self.reason.is_empty() && self.tried {
            out.push((RequestField::Reason, "this flow needs a reason".into()));
        }
        out
    }

    /// The request, when every field is valid.
    pub fn build(&self) -> Option<NewRequest> {
        let f = self.current()?;
        let choice = choices(f).get(self.what)?.clone();
        let d = parse_duration("duration", self.duration.value()).ok()?;
        if d > f.flow.max_duration {
            return None;
        }
        let reason = Some(self.reason.value().trim().to_string()).filter(|r| !r.is_empty());
        if f.flow.justification_required && reason.is_none() {
            return None;
        }
        let (bundle, targets) = match choice {
            Choice::Bundle(b) => (Some(b), vec![]),
            Choice::Target(t) => (None, vec![t]),
        };
        Some(NewRequest {
            flow: f.flow.name.clone(),
            bundle,
            targets,
            duration_secs: Some(d.as_secs()),
            reason,
            source: Source::Tui,
        })
    }

    fn move_focus(&mut self, forward: bool) {
        let i = REQUEST_FIELDS
            .iter()
            .position(|x| *x == self.focus)
            .unwrap_or(0);
        let n = REQUEST_FIELDS.len();
        self.focus = REQUEST_FIELDS[if forward {
            (i + 1) % n
        } else {
            (i + n - 1) % n
        }];
    }

    pub fn key(&mut self, key: KeyEvent) -> Outcome {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let submit = |form: &mut RequestForm| match form.build() {
            Some(r) => Outcome::Send(Action::Submit(r)),
            None => {
                form.tried = true;
                if let Some((field, _)) = form.errors().first() {
                    form.focus = *field;
                }
                Outcome::Stay
            }
        };
        match key.code {
            KeyCode::Char('s') if ctrl => return submit(self),
            KeyCode::Enter if self.focus == RequestField::Reason => return submit(self),
            KeyCode::Enter | KeyCode::Tab | KeyCode::Down => self.move_focus(true),
            KeyCode::BackTab | KeyCode::Up => self.move_focus(false),
            KeyCode::Left | KeyCode::Right
                if matches!(self.focus, RequestField::Flow | RequestField::What) =>
            {
                self.cycle(key.code == KeyCode::Right);
            }
            KeyCode::Char(' ') if matches!(self.focus, RequestField::Flow | RequestField::What) => {
                self.cycle(true);
            }
            _ => match self.focus {
                RequestField::Duration => {
                    self.duration.key(key);
                }
                RequestField::Reason => {
                    self.reason.key(key);
                }
                _ => {}
            },
        }
        Outcome::Stay
    }

    pub fn render(&self, app: &App, area: Rect, buf: &mut Buffer) {
        let t = app.theme;
        let errors = self.errors();
        let err_of = |f: RequestField| errors.iter().find(|(x, _)| *x == f).map(|(_, e)| e.clone());
        let label = |f: RequestField, name: &str| {
            Span::styled(
                format!("{name:<10}"),
                if self.focus == f { t.key() } else { t.dim() },
            )
        };
        let picker = |f: RequestField, text: String| {
            let style = if self.focus == f {
                t.selected()
            } else {
                t.plain()
            };
            Span::styled(format!("‹ {text} ›"), style)
        };
        let mut lines = vec![];
        let flow = self.current();
        let flow_text = flow.map_or_else(|| "-".to_string(), |f| f.flow.name.to_string());
        lines.push(Line::from(vec![
            label(RequestField::Flow, "flow"),
            picker(RequestField::Flow, flow_text),
        ]));
        if let Some(f) = flow {
            let rule = format!(
                "{} · up to {} · {}",
                f.flow.approval.rule,
                format_duration(f.flow.max_duration),
                if f.flow.description.is_empty() {
                    "no description".to_string()
                } else {
                    f.flow.description.clone()
                }
            );
            lines.push(Line::from(vec![
                Span::raw(" ".repeat(10)),
                Span::styled(rule, t.dim()),
            ]));
        }
        let what = flow
            .and_then(|f| choices(f).get(self.what).map(ToString::to_string))
            .unwrap_or_else(|| "-".into());
        lines.push(Line::from(vec![
            label(RequestField::What, "access to"),
            picker(RequestField::What, what),
        ]));
        lines.push(err_line(app, err_of(RequestField::What)));
        let mut dur = vec![label(RequestField::Duration, "for")];
        dur.extend(
            self.duration
                .line(
                    self.focus == RequestField::Duration,
                    t.plain(),
                    t.selected(),
                )
                .spans,
        );
        lines.push(Line::from(dur));
        lines.push(err_line(app, err_of(RequestField::Duration)));
        let mut why = vec![label(RequestField::Reason, "why")];
        why.extend(
            self.reason
                .line(self.focus == RequestField::Reason, t.plain(), t.selected())
                .spans,
        );
        lines.push(Line::from(why));
        lines.push(err_line(app, err_of(RequestField::Reason)));
        lines.push(Line::from(""));
        lines.push(Line::from(vec![
            Span::styled("←→", t.key()),
            Span::styled(" choose  ", t.dim()),
            Span::styled("Tab", t.key()),
            Span::styled(" next  ", t.dim()),
            Span::styled("Enter", t.key()),
            Span::styled(" on why / ", t.dim()),
            Span::styled("Ctrl-S", t.key()),
            Span::styled(" send  ", t.dim()),
            Span::styled("Esc", t.key()),
            Span::styled(" cancel", t.dim()),
        ]));
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .render(area, buf);
    }
}

fn err_line<'a>(app: &App, e: Option<String>) -> Line<'a> {
    match e {
        Some(e) => Line::from(vec![
            Span::raw(" ".repeat(10)),
            Span::styled(e, app.theme.bad()),
        ]),
        None => Line::from(""),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InviteField {
    Email,
    Role,
    Name,
    Phone,
}

const INVITE_FIELDS: [InviteField; 4] = [
    InviteField::Email,
    InviteField::Role,
    InviteField::Name,
    InviteField::Phone,
];

#[derive(Clone, Debug)]
pub struct InviteForm {
    pub email: TextField,
    pub role: Role,
    pub name: TextField,
    pub phone: TextField,
    pub focus: InviteField,
    pub tried: bool,
}

impl Default for InviteForm {
    fn default() -> Self {
        InviteForm {
            email: TextField::default(),
            role: Role::Grantee,
            name: TextField::default(),
            phone: TextField::default(),
            focus: InviteField::Email,
            tried: false,
        }
    }
}

impl InviteForm {
    pub fn errors(&self) -> Vec<(InviteField, String)> {
        let mut out = vec![];
        if (!self.email.is_empty() || self.tried)
            && let Err(e) = normalize_email(self.email.value())
        {
            out.push((InviteField::Email, why(e)));
        }
        if (!self.name.is_empty() || self.tried)
            && let Err(e) = validate_person_name(self.name.value())
        {
            out.push((InviteField::Name, why(e)));
        }
        if !self.phone.is_empty()
            && let Err(e) = validate_phone(self.phone.value())
        {
            out.push((InviteField::Phone, why(e)));
        }
        out
    }

    pub fn build(&self) -> Option<InviteArgs> {
        let email = normalize_email(self.email.value()).ok()?;
        let name = validate_person_name(self.name.value()).ok()?;
        let phone = if self.phone.is_empty() {
            None
        } else {
            Some(validate_phone(self.phone.value()).ok()?)
        };
        Some(InviteArgs {
            email,
            name,
            role: self.role,
            phone,
            expires_in_secs: None,
        })
    }

    fn move_focus(&mut self, forward: bool) {
        let i = INVITE_FIELDS
            .iter()
            .position(|x| *x == self.focus)
            .unwrap_or(0);
        let n = INVITE_FIELDS.len();
        self.focus = INVITE_FIELDS[if forward {
            (i + 1) % n
        } else {
            (i + n - 1) % n
        }];
    }

    pub fn key(&mut self, key: KeyEvent) -> Outcome {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let last = self.focus == InviteField::Phone;
        match key.code {
            KeyCode::Enter if last => return self.submit(),
            KeyCode::Char('s') if ctrl => return self.submit(),
            KeyCode::Enter | KeyCode::Tab | KeyCode::Down => self.move_focus(true),
            KeyCode::BackTab | KeyCode::Up => self.move_focus(false),
            KeyCode::Left | KeyCode::Right | KeyCode::Char(' ')
                if self.focus == InviteField::Role =>
            {
                let roles = crate::overlay::ROLES;
                let i = roles.iter().position(|r| *r == self.role).unwrap_or(0);
                let n = roles.len();
                self.role = roles[if key.code == KeyCode::Left {
                    (i + n - 1) % n
                } else {
                    (i + 1) % n
                }];
            }
            _ => {
                let f = match self.focus {
                    InviteField::Email => &mut self.email,
                    InviteField::Name => &mut self.name,
                    InviteField::Phone => &mut self.phone,
                    InviteField::Role => return Outcome::Stay,
                };
                f.key(key);
            }
        }
        Outcome::Stay
    }

    fn submit(&mut self) -> Outcome {
        match self.build() {
            Some(args) => Outcome::Send(Action::Invite(args)),
            None => {
                self.tried = true;
                if let Some((f, _)) = self.errors().first() {
                    self.focus = *f;
                }
                Outcome::Stay
            }
        }
    }

    pub fn render(&self, app: &App, area: Rect, buf: &mut Buffer) {
        let t = app.theme;
        let errors = self.errors();
        let mut lines = vec![];
        for f in INVITE_FIELDS {
            let (name, value) = match f {
                InviteField::Email => ("Email", Some(&self.email)),
                InviteField::Role => ("Role", None),
                InviteField::Name => ("Full name", Some(&self.name)),
                InviteField::Phone => ("Phone", Some(&self.phone)),
            };
            let focused = self.focus == f;
            let mut spans = vec![Span::styled(
                format!("{name:<11}"),
                if focused { t.key() } else { t.dim() },
            )];
            match value {
                Some(v) => spans.extend(v.line(focused, t.plain(), t.selected()).spans),
                None => spans.push(Span::styled(
                    format!("‹ {} ›", self.role),
                    if focused { t.selected() } else { t.plain() },
                )),
            }
            if f == InviteField::Phone && self.phone.is_empty() && !focused {
                spans.push(Span::styled("(optional)", t.dim()));
            }
            lines.push(Line::from(spans));
            match errors.iter().find(|(x, _)| *x == f) {
                Some((_, e)) => lines.push(Line::from(vec![
                    Span::raw(" ".repeat(11)),
                    Span::styled(e.clone(), t.bad()),
                ])),
                None => lines.push(Line::from("")),
            }
        }
        lines.push(Line::from(vec![
            Span::styled("Tab", t.key()),
            Span::styled(" next  ", t.dim()),
            Span::styled("←→", t.key()),
            Span::styled(" role  ", t.dim()),
            Span::styled("Enter", t.key()),
            Span::styled(" on phone / ", t.dim()),
            Span::styled("Ctrl-S", t.key()),
            Span::styled(" invite  ", t.dim()),
            Span::styled("Esc", t.key()),
            Span::styled(" cancel", t.dim()),
        ]));
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .render(area, buf);
    }
}

fn why(e: hallpass_core::DomainError) -> String {
    match e {
        hallpass_core::DomainError::InvalidInput { why, .. } => why,
        other => other.to_string(),
    }
}

/// The time window of the audit view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    Hour,
    Day,
    Week,
    All,
}

impl Window {
    pub fn next(self) -> Window {
        match self {
            Window::Hour => Window::Day,
            Window::Day => Window::Week,
            Window::Week => Window::All,
            Window::All => Window::Hour,
        }
    }

    pub fn span(self) -> Option<Duration> {
        match self {
            Window::Hour => Some(Duration::from_secs(3600)),
            Window::Day => Some(Duration::from_secs(86_400)),
            Window::Week => Some(Duration::from_secs(7 * 86_400)),
            Window::All => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Window::Hour => "last hour",
            Window::Day => "last 24h",
            Window::Week => "last 7 days",
            Window::All => "all time",
        }
    }
}

/// Person, action, integration and status filters for the audit log.
#[derive(Clone, Debug, Default)]
pub struct AuditFilterForm {
    pub fields: [TextField; 4],
    pub focus: usize,
}

pub const AUDIT_FILTER_LABELS: [&str; 4] = ["person", "action", "integration", "status"];

impl AuditFilterForm {
    pub fn value(&self, i: usize) -> Option<String> {
        self.fields
            .get(i)
            .map(|f| f.value().trim().to_string())
            .filter(|v| !v.is_empty())
    }

    pub fn key(&mut self, key: KeyEvent) {
        match key.code {
            KeyCode::Tab | KeyCode::Down => self.focus = (self.focus + 1) % 4,
            KeyCode::BackTab | KeyCode::Up => self.focus = (self.focus + 3) % 4,
            _ => {
                if let Some(f) = self.fields.get_mut(self.focus) {
                    f.key(key);
                }
            }
        }
    }

    pub fn render(&self, app: &App, area: Rect, buf: &mut Buffer) {
        let t = app.theme;
        let mut lines = vec![Line::styled(
            "Empty fields do not filter. Person: e-mail or U-id; action: e.g. grant. or request.approve",
            t.dim(),
        )];
        lines.push(Line::from(""));
        for (i, label) in AUDIT_FILTER_LABELS.iter().enumerate() {
            let focused = i == self.focus;
            let mut spans = vec![Span::styled(
                format!("{label:<12}"),
                if focused { t.key() } else { t.dim() },
            )];
            spans.extend(self.fields[i].line(focused, t.plain(), t.selected()).spans);
            lines.push(Line::from(spans));
        }
        lines.push(Line::from(""));
        lines.push(Line::from(vec![
            Span::styled("Tab", t.key()),
            Span::styled(" next  ", t.dim()),
            Span::styled("Enter", t.key()),
            Span::styled(" apply  ", t.dim()),
            Span::styled("Esc", t.key()),
            Span::styled(" cancel", t.dim()),
        ]));
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .render(area, buf);
    }
}
