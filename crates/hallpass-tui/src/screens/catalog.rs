//! Flows, bundles and integrations: lists and details; editing the selected one as TOML in
//! `$EDITOR` (`E`) or creating one from a template (`c`), through the edit overlay's plan;
//! enabling or disabling a flow (`e`); an access-link flow's links: create one (`n`, its URL
//! shown once) or revoke the newest open one (`x`); testing an integration's connection (`t`).
//! Invariant: integration secrets are never shown (the daemon returns only references, and this
//! view shows only the connector kind and resources).

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent};
use hallpass_core::flow::Trigger;
use hallpass_core::integration::{Bundle, Connector, Integration};
use hallpass_core::time::format_duration;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Widget};

use hallpass_core::IntegrationName;
use hallpass_core::link::LinkState;
use hallpass_proto::CheckView;

use crate::edit::{self, Kind};
use crate::message::CallError;

use crate::app::{App, Tone};
use crate::display::relative;
use crate::effect::{Action, Cmd, Query};
use crate::layout;
use crate::overlay::{Confirm, Overlay};
use crate::pane;
use crate::scroll::{Nav, Scroll};

pub const KEYS: &[(&str, &str)] = &[
    ("E", "edit"),
    ("c", "new"),
    ("e", "on/off"),
    ("n x", "link"),
    ("t", "test"),
    ("← →", "next list"),
];

/// The test-connection overlay: the checks, once they arrive.
#[derive(Clone, Debug)]
pub struct ChecksView {
    pub integration: IntegrationName,
    /// `None` while waiting.
    pub answer: Option<Result<Vec<CheckView>, CallError>>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Tab {
    #[default]
    Flows,
    Bundles,
    Integrations,
}

const TABS: [Tab; 3] = [Tab::Flows, Tab::Bundles, Tab::Integrations];

#[derive(Debug, Default)]
pub struct Catalog {
    pub tab: Tab,
    pub bundles: Vec<Bundle>,
    pub integrations: Vec<Integration>,
    /// Every access link (admins and auditors); never their URLs.
    pub links: Vec<hallpass_proto::LinkView>,
    pub flows_scroll: Scroll,
    pub bundles_scroll: Scroll,
    pub integrations_scroll: Scroll,
}

pub fn load(app: &App) -> Vec<Cmd> {
    let mut cmds = vec![
        Cmd::Load(Query::Flows),
        Cmd::Load(Query::Bundles),
        Cmd::Load(Query::Integrations),
    ];
    if app.is_reader() {
        cmds.push(Cmd::Load(Query::Links));
    }
    cmds
}

/// How long a link made here stays usable.
const NEW_LINK_TTL: Duration = Duration::from_secs(30 * 86_400);

/// The selected flow, when it is requested through access links.
fn selected_link_flow(app: &App) -> Option<hallpass_core::FlowName> {
    app.flows
        .get(app.catalog.flows_scroll.selected)
        .filter(|f| f.flow.trigger == Trigger::AccessLink)
        .map(|f| f.flow.name.clone())
}

fn link_key(app: &mut App, create: bool) -> Vec<Cmd> {
    if !app.is_admin() {
        app.set_status(
            Tone::Warn,
            "Creating and revoking access links is for admins.",
        );
        return vec![];
    }
    let Some(flow) = selected_link_flow(app) else {
        app.set_status(
            Tone::Warn,
            "Links are for access-link flows (`hallpass flows create --trigger access-link`).",
        );
        return vec![];
    };
    let now = app.now;
    let action = if create {
        Action::CreateLink(hallpass_proto::NewLink {
            flow: flow.clone(),
            expires_in_secs: Some(NEW_LINK_TTL.as_secs()),
            max_uses: None,
            note: String::new(),
        })
    } else {
        let newest = app
            .catalog
            .links
            .iter()
            .filter(|l| l.flow == flow && l.state == LinkState::Open)
            .filter(|l| l.expires_at.is_none_or(|e| e > now))
            .max_by_key(|l| l.id);
        match newest {
            Some(l) => Action::RevokeLink(l.id),
            None => {
                app.set_status(
                    Tone::Warn,
                    format!("Flow {flow} has no open link to revoke."),
                );
                return vec![];
            }
        }
    };
    let (title, lines) = match &action {
        Action::RevokeLink(id) => (
            format!("Revoke link {id}"),
            vec![format!(
                "Link {id} of flow {flow} will open nothing from now on; requests it opened go on."
            )],
        ),
        _ => (
            format!("New link for {flow}"),
            vec![
                format!(
                    "A link for flow {flow}, usable for {}, any number of times.",
                    dur(NEW_LINK_TTL)
                ),
                "Its URL is shown once. (`hallpass links create` sets other limits.)".into(),
            ],
        ),
    };
    app.overlay = Some(Overlay::Confirm(Confirm {
        title,
        lines,
        action,
    }));
    vec![]
}

fn rects(body: Rect) -> (Rect, Rect, Rect) {
    let [tabs, rest] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(body);
    let (list, detail) = layout::master_detail(rest);
    (tabs, list, detail)
}

pub fn list_rect(body: Rect) -> Rect {
    rects(body).1
}

fn height(app: &App) -> usize {
    layout::table_rows(list_rect(layout::body(app)))
}

fn len(app: &App) -> usize {
    match app.catalog.tab {
        Tab::Flows => app.flows.len(),
        Tab::Bundles => app.catalog.bundles.len(),
        Tab::Integrations => app.catalog.integrations.len(),
    }
}

pub fn clamp(app: &mut App) {
    let h = height(app);
    let (f, b, i) = (
        app.flows.len(),
        app.catalog.bundles.len(),
        app.catalog.integrations.len(),
    );
    let c = &mut app.catalog;
    c.flows_scroll.clamp(f, h);
    c.bundles_scroll.clamp(b, h);
    c.integrations_scroll.clamp(i, h);
}

pub fn nav(app: &mut App, nav: Nav) {
    let (h, n) = (height(app), len(app));
    let c = &mut app.catalog;
    let s = match c.tab {
        Tab::Flows => &mut c.flows_scroll,
        Tab::Bundles => &mut c.bundles_scroll,
        Tab::Integrations => &mut c.integrations_scroll,
    };
    s.apply(nav, n, h);
}

pub fn key(app: &mut App, key: KeyEvent) -> Vec<Cmd> {
    if let Some(n) = Nav::of(key) {
        nav(app, n);
        return vec![];
    }
    let i = TABS.iter().position(|t| *t == app.catalog.tab).unwrap_or(0);
    match key.code {
        KeyCode::Right | KeyCode::Char('l') => app.catalog.tab = TABS[(i + 1) % 3],
        KeyCode::Left | KeyCode::Char('h') => app.catalog.tab = TABS[(i + 2) % 3],
        KeyCode::Char('e') if app.catalog.tab == Tab::Flows => {
            if !app.is_admin() {
                app.set_status(Tone::Warn, "Enabling and disabling flows is for admins.");
                return vec![];
            }
            if let Some(f) = app.flows.get(app.catalog.flows_scroll.selected) {
                let enabled = !f.flow.enabled;
                let name = f.flow.name.clone();
                app.set_status(
                    Tone::Info,
                    format!(
                        "{} flow {name}…",
                        if enabled { "Enabling" } else { "Disabling" }
                    ),
                );
                return vec![Cmd::Act(Action::SetFlowEnabled { name, enabled })];
            }
        }
        KeyCode::Char('E') => return edit_selected(app),
        KeyCode::Char('c') => {
            let kind = match app.catalog.tab {
                Tab::Flows => Kind::Flow,
                Tab::Bundles => Kind::Bundle,
                Tab::Integrations => Kind::Integration,
            };
            let draft = edit::template(kind, &app.catalog.integrations);
            return edit::open(app, Ok(draft));
        }
        KeyCode::Char('t') if app.catalog.tab == Tab::Integrations => return test_selected(app),
        KeyCode::Char('n') if app.catalog.tab == Tab::Flows => return link_key(app, true),
        KeyCode::Char('x') if app.catalog.tab == Tab::Flows => return link_key(app, false),
        _ => {}
    }
    vec![]
}

/// `E`: the selected object as TOML in the editor.
fn edit_selected(app: &mut App) -> Vec<Cmd> {
    let c = &app.catalog;
    let draft = match c.tab {
        Tab::Flows => app
            .flows
            .get(c.flows_scroll.selected)
            .map(|f| edit::flow_draft(&f.flow)),
        Tab::Bundles => c
            .bundles
            .get(c.bundles_scroll.selected)
            .map(edit::bundle_draft),
        Tab::Integrations => c
            .integrations
            .get(c.integrations_scroll.selected)
            .map(edit::integration_draft),
    };
    match draft {
        Some(d) => edit::open(app, d),
        None => {
            app.set_status(Tone::Warn, "Nothing selected to edit; c creates one.");
            vec![]
        }
    }
}

/// `t`: the selected integration's connection checks, in an overlay.
fn test_selected(app: &mut App) -> Vec<Cmd> {
    if !app.is_admin() {
        app.set_status(Tone::Warn, "Testing integrations is for admins.");
        return vec![];
    }
    let c = &app.catalog;
    let Some(i) = c.integrations.get(c.integrations_scroll.selected) else {
        return vec![];
    };
    let integration = i.name.clone();
    app.overlay = Some(Overlay::Checks(ChecksView {
        integration: integration.clone(),
        answer: None,
    }));
    vec![Cmd::Act(Action::TestIntegration(integration))]
}

/// The checks arrived: shown when the overlay that asked is still open.
pub fn accept_checks(
    app: &mut App,
    integration: IntegrationName,
    answer: Result<Vec<CheckView>, CallError>,
) {
    if let Some(Overlay::Checks(v)) = &mut app.overlay
        && v.integration == integration
    {
        v.answer = Some(answer);
    }
}

fn dur(d: Duration) -> String {
    format_duration(d)
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let (tabs, list, detail) = rects(area);
    let t = app.theme;
    let c = &app.catalog;
    let mut spans = vec![Span::raw(" ")];
    for (tab, label) in [
        (Tab::Flows, format!("Flows ({})", app.flows.len())),
        (Tab::Bundles, format!("Bundles ({})", c.bundles.len())),
        (
            Tab::Integrations,
            format!("Integrations ({})", c.integrations.len()),
        ),
    ] {
        spans.push(Span::styled(
            format!(" {label} "),
            if tab == c.tab {
                t.tab_active()
            } else {
                t.dim()
            },
        ));
        spans.push(Span::raw(" "));
    }
    Paragraph::new(Line::from(spans)).render(tabs, buf);
    match c.tab {
        Tab::Flows => {
            pane::table(
                app,
                list,
                buf,
                "Access flows".into(),
                &["FLOW", "ON", "APPROVAL", "MAX", "TARGETS"],
                &[
                    Constraint::Fill(2),
                    Constraint::Length(3),
                    Constraint::Length(10),
                    Constraint::Length(5),
                    Constraint::Fill(3),
                ],
                app.flows.len(),
                &c.flows_scroll,
                "No flows yet: `hallpass flows create` or `hallpass apply`.",
                |i| {
                    let f = app.flows.get(i)?;
                    Some(vec![
                        Cell::from(f.flow.name.to_string()),
                        if f.flow.enabled {
                            pane::styled("on", t.good())
                        } else {
                            pane::styled("off", t.dim())
                        },
                        Cell::from(f.flow.approval.rule.to_string()),
                        Cell::from(dur(f.flow.max_duration)),
                        Cell::from(
                            f.offered
                                .iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join(", "),
                        ),
                    ])
                },
            );
            let lines = match app.flows.get(c.flows_scroll.selected) {
                None => vec![Line::styled("Select a flow.", t.dim())],
                Some(f) => {
                    let fl = &f.flow;
                    let email = |id: &hallpass_core::UserId| {
                        f.user_emails
                            .iter()
                            .find(|u| u.id == *id)
                            .map_or_else(|| id.to_string(), |u| u.email.clone())
                    };
                    let mut who = vec![];
                    if fl.requestors.everyone {
                        who.push("everyone".to_string());
                    }
                    who.extend(fl.requestors.groups.iter().map(|g| format!("group {g}")));
                    who.extend(fl.requestors.users.iter().map(email));
                    let approvers: Vec<String> = fl
                        .approval
                        .approvers
                        .iter()
                        .map(|a| match a {
                            hallpass_core::flow::Approver::User(u) => email(u),
                            other => other.to_string(),
                        })
                        .collect();
                    let mut lines = vec![
                        pane::kv(
                            app,
                            "flow",
                            format!(
                                "{} ({})",
                                fl.name,
                                if fl.enabled { "enabled" } else { "disabled" }
                            ),
                        ),
                        pane::kv(
                            app,
                            "trigger",
                            match fl.trigger {
                                Trigger::SelfServe => "self-serve",
                                Trigger::AccessLink => "access link",
                            },
                        ),
                        pane::kv(app, "who", who.join(", ")),
                        pane::kv(
                            app,
                            "approval",
                            format!("{} {}", fl.approval.rule, approvers.join(", ")),
                        ),
                        pane::kv(
                            app,
                            "duration",
                            format!(
                                "default {}, max {}",
                                dur(fl.default_duration),
                                dur(fl.max_duration)
                            ),
                        ),
                        pane::kv(
                            app,
                            "pending",
                            format!("times out after {}", dur(fl.pending_ttl)),
                        ),
                        pane::kv(
                            app,
                            "rules",
                            format!(
                                "reason {}; approver reason {}; self-approval {}",
                                if fl.justification_required {
                                    "required"
                                } else {
                                    "optional"
                                },
                                if fl.approver_reason_required {
                                    "required"
                                } else {
                                    "optional"
                                },
                                if fl.allow_self_approval {
                                    "allowed"
                                } else {
                                    "never"
                                },
                            ),
                        ),
                    ];
                    for b in &fl.targets.bundles {
                        lines.push(pane::kv(app, "bundle", b.to_string()));
                    }
                    for r in &f.offered {
                        lines.push(pane::kv(app, "offers", r.to_string()));
                    }
                    if !fl.description.is_empty() {
                        lines.push(pane::kv(app, "about", fl.description.clone()));
                    }
                    if fl.trigger == Trigger::AccessLink {
                        let links: Vec<_> = c.links.iter().filter(|l| l.flow == fl.name).collect();
                        if links.is_empty() {
                            lines.push(pane::kv(app, "links", "none yet (n: new link)"));
                        }
                        for l in links {
                            let uses = match l.max_uses {
                                Some(m) => format!("{}/{m} uses", l.uses),
                                None => format!("{} uses", l.uses),
                            };
                            let state = if l.state == LinkState::Open
                                && l.expires_at.is_some_and(|e| e <= app.now)
                            {
                                LinkState::Expired
                            } else {
                                l.state
                            };
                            let expires = l
                                .expires_at
                                .map(|e| format!(", expires {}", relative(e, app.now)))
                                .unwrap_or_default();
                            lines.push(pane::kv(
                                app,
                                "link",
                                format!("{} {state}, {uses}{expires}", l.id),
                            ));
                        }
                    }
                    lines
                }
            };
            pane::detail(app, detail, buf, "Flow", lines);
        }
        Tab::Bundles => {
            pane::table(
                app,
                list,
                buf,
                "Bundles".into(),
                &["BUNDLE", "TARGETS", "DESCRIPTION"],
                &[
                    Constraint::Fill(2),
                    Constraint::Length(8),
                    Constraint::Fill(3),
                ],
                c.bundles.len(),
                &c.bundles_scroll,
                "No bundles yet.",
                |i| {
                    let b = c.bundles.get(i)?;
                    Some(vec![
                        Cell::from(b.name.to_string()),
                        Cell::from(b.targets.len().to_string()),
                        Cell::from(b.description.clone()),
                    ])
                },
            );
            let lines = match c.bundles.get(c.bundles_scroll.selected) {
                None => vec![Line::styled("Select a bundle.", t.dim())],
                Some(b) => {
                    let mut lines = vec![pane::kv(app, "bundle", b.name.to_string())];
                    if !b.description.is_empty() {
                        lines.push(pane::kv(app, "about", b.description.clone()));
                    }
                    lines.extend(
                        b.targets
                            .iter()
                            .map(|x| pane::kv(app, "target", x.to_string())),
                    );
                    lines
                }
            };
            pane::detail(app, detail, buf, "Bundle", lines);
        }
        Tab::Integrations => {
            pane::table(
                app,
                list,
                buf,
                "Integrations".into(),
                &["INTEGRATION", "KIND", "RESOURCES"],
                &[
                    Constraint::Fill(2),
                    Constraint::Length(6),
                    Constraint::Fill(3),
                ],
                c.integrations.len(),
                &c.integrations_scroll,
                "No integrations yet.",
                |i| {
                    let x = c.integrations.get(i)?;
                    Some(vec![
                        Cell::from(x.name.to_string()),
                        Cell::from(x.connector.kind()),
                        Cell::from(
                            x.resources
                                .iter()
                                .map(|r| r.name.clone())
                                .collect::<Vec<_>>()
                                .join(", "),
                        ),
                    ])
                },
            );
            let lines = match c.integrations.get(c.integrations_scroll.selected) {
                None => vec![Line::styled("Select an integration.", t.dim())],
                Some(x) => {
                    let mut lines = vec![
                        pane::kv(app, "name", x.name.to_string()),
                        pane::kv(app, "connector", x.connector.kind()),
                    ];
                    #[allow(clippy::single_match)]
                    match &x.connector {
                        Connector::Exec(e) => {
                            lines.push(pane::kv(app, "timeout", dur(e.timeout)));
                            lines.push(pane::kv(
                                app,
                                "secrets",
                                format!("{} referenced (never shown)", e.secret_env.len()),
                            ));
                        }
                        #[allow(unreachable_patterns)]
                        _ => {}
                    }
                    for r in &x.resources {
                        lines.push(pane::kv(
                            app,
                            "resource",
                            format!("{}: {}", r.name, r.permissions.join(", ")),
                        ));
                    }
                    if !x.description.is_empty() {
                        lines.push(pane::kv(app, "about", x.description.clone()));
                    }
                    lines
                }
            };
            pane::detail(app, detail, buf, "Integration", lines);
        }
    }
}
