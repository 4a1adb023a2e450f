//! Access graph: who can reach what and why. By person: person → groups → flows → resources,
//! marking access that is active now; by resource: resource → flows → groups → people. The
//! graph is computed from flows, groups and live grants already loaded. Invariant: an edge is
//! drawn only where a flow's requestors name the group, the person or everyone, so the graph says
//! exactly what the policy allows.

use std::collections::BTreeSet;

use crossterm::event::{KeyCode, KeyEvent};
use hallpass_core::grant::GrantStatus;
use hallpass_core::integration::Target;
use hallpass_proto::{FlowView, GroupView, UserView};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Widget};

use crate::app::App;
use crate::display::countdown;
use crate::effect::{Cmd, Query, UsersFor};
use crate::layout;
use crate::pane;
use crate::screens::my_access::seen_status;
use crate::screens::people::{self, People};
use crate::scroll::{Nav, Scroll};

pub const KEYS: &[(&str, &str)] = &[("m", "person/resource"), ("/", "search people")];

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    #[default]
    ByPerson,
    ByResource,
}

#[derive(Debug, Default)]
pub struct Graph {
    pub mode: Mode,
    pub people: People,
    pub groups: Vec<GroupView>,
    pub resource_scroll: Scroll,
}

/// One line of the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub depth: usize,
    pub text: String,
    /// Access that is active right now (with time left).
    pub active: Option<String>,
}

fn node(depth: usize, text: impl Into<String>) -> Node {
    Node {
        depth,
        text: text.into(),
        active: None,
    }
}

pub fn load(app: &mut App) -> Vec<Cmd> {
    let mut cmds = people::load(app, UsersFor::Graph);
    cmds.push(Cmd::Load(Query::Flows));
    cmds.push(Cmd::Load(Query::Groups));
    cmds.push(Cmd::Load(crate::screens::dashboard::live_grants_query()));
    cmds
}

/// Every target any flow offers, sorted.
pub fn resources(flows: &[FlowView]) -> Vec<Target> {
    flows
        .iter()
        .flat_map(|f| f.offered.iter().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn active_for(app: &App, email: &str, t: &Target) -> Option<String> {
    app.active
        .rows
        .iter()
        .find(|g| {
            g.user.email == email
                && &g.target == t
                && seen_status(g, app.now) == GrantStatus::Active
        })
        .map(|g| {
            g.expires_at.map_or_else(
                || "active".into(),
                |e| format!("active, {} left", countdown(e, app.now)),
            )
        })
}

/// Person → groups → flows → resources.
pub fn by_person(app: &App, u: &UserView) -> Vec<Node> {
    let mut out = vec![node(0, format!("{} <{}>", u.name, u.email))];
    let flows_for = |pick: &dyn Fn(&FlowView) -> bool| -> Vec<&FlowView> {
        app.flows
            .iter()
            .filter(|f| f.flow.enabled && pick(f))
            .collect()
    };
    let mut paths: Vec<(String, Vec<&FlowView>)> = vec![];
    for g in &u.groups {
        paths.push((
            format!("group {g}"),
            flows_for(&|f| f.flow.requestors.groups.contains(g)),
        ));
    }
    paths.push((
        "everyone".into(),
        flows_for(&|f| f.flow.requestors.everyone),
    ));
    paths.push((
        "named in the flow".into(),
        flows_for(&|f| f.flow.requestors.users.contains(&u.id)),
    ));
    let mut any = false;
    for (via, flows) in paths {
        if flows.is_empty() && !via.starts_with("group") {
            continue;
        }
        any = true;
        out.push(node(1, via));
        if flows.is_empty() {
            out.push(node(2, "(no flow for this group)"));
        }
        for f in flows {
            out.push(node(
                2,
                format!("flow {} ({})", f.flow.name, f.flow.approval.rule),
            ));
            for t in &f.offered {
                out.push(Node {
                    depth: 3,
                    text: t.to_string(),
                    active: active_for(app, &u.email, t),
                });
            }
        }
    }
    if !any {
        out.push(node(1, "no flow lets this person request anything"));
    }
    out
}

/// Resource → flows → groups → people.
pub fn by_resource(app: &App, t: &Target) -> Vec<Node> {
    let mut out = vec![node(0, t.to_string())];
    let flows: Vec<&FlowView> = app.flows.iter().filter(|f| f.offered.contains(t)).collect();
    if flows.is_empty() {
        out.push(node(1, "no flow offers this resource"));
    }
    for f in flows {
        out.push(node(
            1,
            format!(
                "flow {} ({}{})",
                f.flow.name,
                f.flow.approval.rule,
                if f.flow.enabled { "" } else { ", disabled" }
            ),
        ));
        if f.flow.requestors.everyone {
            out.push(node(2, "everyone"));
        }
        for g in &f.flow.requestors.groups {
            out.push(node(2, format!("group {g}")));
            match app.groups_view().iter().find(|x| &x.name == g) {
                Some(gv) => {
                    for m in &gv.members {
                        out.push(Node {
                            depth: 3,
                            text: m.email.clone(),
                            active: active_for(app, &m.email, t),
                        });
                    }
                }
                None => out.push(node(3, "(members not loaded)")),
            }
        }
        for u in &f.flow.requestors.users {
            let email = f
                .user_emails
                .iter()
                .find(|x| x.id == *u)
                .map_or_else(|| u.to_string(), |x| x.email.clone());
            out.push(node(2, "named in the flow"));
            out.push(Node {
                depth: 3,
                active: active_for(app, &email, t),
                text: email,
            });
        }
    }
    // People who hold it right now, whatever the path.
    let holders: Vec<String> = app
        .active
        .rows
        .iter()
        .filter(|g| &g.target == t && seen_status(g, app.now) == GrantStatus::Active)
        .map(|g| g.user.email.clone())
        .collect();
    out.push(node(
        1,
        format!(
            "active now: {}",
            if holders.is_empty() {
                "no one".into()
            } else {
                holders.join(", ")
            }
        ),
    ));
    out
}

impl App {
    fn groups_view(&self) -> &[GroupView] {
        &self.graph.groups
    }
}

fn rects(body: Rect) -> (Rect, Rect, Rect) {
    let [head, rest] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(body);
    let [list, tree] = if rest.width >= layout::WIDE {
        Layout::horizontal([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(rest)
    } else {
        Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(rest)
    };
    (head, list, tree)
}

pub fn list_rect(body: Rect) -> Rect {
    rects(body).1
}

pub fn height(app: &App) -> usize {
    layout::table_rows(list_rect(layout::body(app)))
}

pub fn typing(app: &App) -> bool {
    app.graph.people.filtering
}

pub fn nav(app: &mut App, nav: Nav) -> Vec<Cmd> {
    let h = height(app);
    match app.graph.mode {
        Mode::ByPerson => people::nav(app, UsersFor::Graph, nav, h),
        Mode::ByResource => {
            let n = resources(&app.flows).len();
            app.graph.resource_scroll.apply(nav, n, h);
            vec![]
        }
    }
}

pub fn key(app: &mut App, key: KeyEvent) -> Vec<Cmd> {
    if app.graph.people.filtering {
        return people::filter_key(app, UsersFor::Graph, key);
    }
    if let Some(n) = Nav::of(key) {
        return nav(app, n);
    }
    match key.code {
        KeyCode::Char('m') => {
            app.graph.mode = match app.graph.mode {
                Mode::ByPerson => Mode::ByResource,
                Mode::ByResource => Mode::ByPerson,
            };
        }
        KeyCode::Char('/') if app.graph.mode == Mode::ByPerson => app.graph.people.filtering = true,
        _ => {}
    }
    vec![]
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let (head, list, tree) = rects(area);
    let t = app.theme;
    let g = &app.graph;
    let mode = |m: Mode, label: &str| {
        Span::styled(
            format!(" {label} "),
            if g.mode == m { t.tab_active() } else { t.dim() },
        )
    };
    let mut spans = vec![
        Span::raw(" "),
        mode(Mode::ByPerson, "by person"),
        Span::raw(" "),
        mode(Mode::ByResource, "by resource"),
        Span::raw("  "),
    ];
    if g.mode == Mode::ByPerson {
        spans.extend(people::filter_line(app, &g.people).spans);
    }
    Paragraph::new(Line::from(spans)).render(head, buf);
    let nodes = match g.mode {
        Mode::ByPerson => {
            let p = &g.people;
            pane::table(
                app,
                list,
                buf,
                format!(
                    "People ({}{})",
                    p.list.len(),
                    if p.list.is_complete() { "" } else { "+" }
                ),
                &["PERSON"],
                &[Constraint::Fill(1)],
                p.list.len(),
                &p.list.scroll,
                if p.list.is_loading() {
                    "Loading…"
                } else {
                    "No one matches."
                },
                |i| Some(vec![Cell::from(p.list.get(i)?.email.clone())]),
            );
            p.list.selected().map(|u| by_person(app, u))
        }
        Mode::ByResource => {
            let rs = resources(&app.flows);
            pane::table(
                app,
                list,
                buf,
                format!("Resources ({})", rs.len()),
                &["RESOURCE"],
                &[Constraint::Fill(1)],
                rs.len(),
                &g.resource_scroll,
                "No flow offers anything yet.",
                |i| Some(vec![Cell::from(rs.get(i)?.to_string())]),
            );
            rs.get(g.resource_scroll.selected)
                .map(|r| by_resource(app, r))
        }
    };
    let lines: Vec<Line> = match nodes {
        None => vec![Line::styled("Select someone or something.", t.dim())],
        Some(nodes) => nodes
            .into_iter()
            .map(|n| {
                let style = match n.depth {
                    0 => t.title(),
                    1 => t.header(),
                    2 => t.accent(),
                    _ => t.plain(),
                };
                let prefix = if n.depth == 0 {
                    String::new()
                } else {
                    format!("{}└ ", "  ".repeat(n.depth - 1))
                };
                let mut spans = vec![Span::styled(prefix, t.dim()), Span::styled(n.text, style)];
                if let Some(a) = n.active {
                    spans.push(Span::styled(format!("  ● {a}"), t.good()));
                }
                Line::from(spans)
            })
            .collect(),
    };
    pane::detail(app, tree, buf, "Who can reach what, and why", lines);
}
