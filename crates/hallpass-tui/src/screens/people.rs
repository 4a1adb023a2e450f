//! A paged, server-filtered list of people, shared by Identities, Users and the access graph.
//! Invariant: every filter change starts a new generation, so pages for an older filter text
//! are dropped when they arrive late.

use crossterm::event::{KeyCode, KeyEvent};
use hallpass_proto::{Page, UserView};

use ratatui::layout::{Constraint, Layout, Rect};

use crate::app::App;
use crate::effect::{Cmd, Query, UsersFor};
use crate::field::TextField;
use crate::layout;
use crate::paged::{PageRequest, PagedList};
use crate::scroll::Nav;

/// Rows per page asked of the daemon.
pub const PAGE: u32 = 500;

#[derive(Debug)]
pub struct People {
    pub list: PagedList<UserView>,
    pub filter: TextField,
    pub filtering: bool,
    /// The filter text the list was loaded with.
    pub applied: Option<String>,
}

impl Default for People {
    fn default() -> Self {
        People {
            list: PagedList::new(PAGE),
            filter: TextField::default(),
            filtering: false,
            applied: None,
        }
    }
}

/// The layout both people screens share: a filter line, then the list beside a detail pane.
pub fn rects(body: Rect) -> (Rect, Rect, Rect) {
    let [filter, rest] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(body);
    let (list, detail) = layout::master_detail(rest);
    (filter, list, detail)
}

/// Rows the people list shows at the current size.
pub fn list_height(app: &App) -> usize {
    layout::table_rows(rects(layout::body(app)).1)
}

pub fn of(app: &App, who: UsersFor) -> &People {
    match who {
        UsersFor::Identities => &app.identities.people,
        UsersFor::Users => &app.users.people,
        UsersFor::Graph => &app.graph.people,
    }
}

pub fn of_mut(app: &mut App, who: UsersFor) -> &mut People {
    match who {
        UsersFor::Identities => &mut app.identities.people,
        UsersFor::Users => &mut app.users.people,
        UsersFor::Graph => &mut app.graph.people,
    }
}

fn page_cmd(who: UsersFor, text: Option<String>, page: PageRequest) -> Cmd {
    Cmd::Load(Query::Users {
        purpose: who,
        page,
        text,
    })
}

/// Reloads from the first page with the current filter text.
pub fn load(app: &mut App, who: UsersFor) -> Vec<Cmd> {
    let generation = app.next_generation();
    let p = of_mut(app, who);
    let text = Some(p.filter.value().trim().to_string()).filter(|t| !t.is_empty());
    p.applied = text.clone();
    let first = p.list.reset(generation);
    vec![page_cmd(who, text, first)]
}

pub fn accept(
    app: &mut App,
    who: UsersFor,
    page: PageRequest,
    items: Page<UserView>,
    height: usize,
) -> Vec<Cmd> {
    let p = of_mut(app, who);
    let text = p.applied.clone();
    p.list
        .accept(page.generation, page.index, items, height)
        .into_iter()
        .map(|r| page_cmd(who, text.clone(), r))
        .collect()
}

pub fn nav(app: &mut App, who: UsersFor, nav: Nav, height: usize) -> Vec<Cmd> {
    let p = of_mut(app, who);
    let text = p.applied.clone();
    p.list
        .nav(nav, height)
        .into_iter()
        .map(|r| page_cmd(who, text.clone(), r))
        .collect()
}

/// Keys while the filter line is open: every edit re-queries the daemon.
pub fn filter_key(app: &mut App, who: UsersFor, key: KeyEvent) -> Vec<Cmd> {
    let p = of_mut(app, who);
    match key.code {
        KeyCode::Enter | KeyCode::Esc => {
            p.filtering = false;
            vec![]
        }
        _ => {
            if p.filter.key(key) {
                load(app, who)
            } else {
                vec![]
            }
        }
    }
}

/// The filter line: ` filter: text` (or a hint).
pub fn filter_line(app: &App, p: &People) -> ratatui::text::Line<'static> {
    use ratatui::text::{Line, Span};
    let t = app.theme;
    let mut spans = vec![Span::styled(" filter: ", t.dim())];
    if p.filtering || !p.filter.value().is_empty() {
        spans.extend(p.filter.line(p.filtering, t.plain(), t.selected()).spans);
    } else {
        spans.push(Span::styled("press / to search names and e-mails", t.dim()));
    }
    Line::from(spans)
}
