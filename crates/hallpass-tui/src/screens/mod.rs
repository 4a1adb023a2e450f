//! The screens: each module owns one screen's state, its keys and its view. This module routes
//! to the current one. Invariant: a screen is loaded (asked of the daemon) only when the caller
//! may see it, so a grantee never triggers admin-only calls by browsing.

pub mod active;
pub mod approvals;
pub mod audit;
pub mod catalog;
pub mod dashboard;
pub mod graph;
pub mod identities;
pub mod my_access;
pub mod people;
pub mod users;

use crossterm::event::KeyEvent;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

use crate::app::{Access, App, ScreenId};
use crate::effect::Cmd;
use crate::scroll::Nav;

pub fn keys(screen: ScreenId) -> &'static [(&'static str, &'static str)] {
    match screen {
        ScreenId::Dashboard => dashboard::KEYS,
        ScreenId::Approvals => approvals::KEYS,
        ScreenId::MyAccess => my_access::KEYS,
        ScreenId::Active => active::KEYS,
        ScreenId::Identities => identities::KEYS,
        ScreenId::Users => users::KEYS,
        ScreenId::Catalog => catalog::KEYS,
        ScreenId::Audit => audit::KEYS,
        ScreenId::Graph => graph::KEYS,
    }
}

/// The keys the footer shows for the current screen (at most five fit).
pub fn hints(app: &App) -> &'static [(&'static str, &'static str)] {
    match app.screen {
        ScreenId::MyAccess => my_access::hints(app),
        s => keys(s),
    }
}

/// Asks the daemon for what `screen` shows.
pub fn load(app: &mut App, screen: ScreenId) -> Vec<Cmd> {
    if app.access(screen) != Access::Allowed {
        return vec![];
    }
    match screen {
        ScreenId::Dashboard => dashboard::load(app),
        ScreenId::Approvals => approvals::load(app),
        ScreenId::MyAccess => my_access::load(app),
        ScreenId::Active => active::load(app),
        ScreenId::Identities => identities::load(app),
        ScreenId::Users => users::load(app),
        ScreenId::Catalog => catalog::load(app),
        ScreenId::Audit => audit::load(app),
        ScreenId::Graph => graph::load(app),
    }
}

/// True while the current screen's text input (a filter line) takes every key.
pub fn typing(app: &App) -> bool {
    match app.screen {
        ScreenId::Active => active::typing(app),
        ScreenId::Identities => identities::typing(app),
        ScreenId::Users => users::typing(app),
        ScreenId::Graph => graph::typing(app),
        _ => false,
    }
}

pub fn key(app: &mut App, key: KeyEvent) -> Vec<Cmd> {
    if app.access(app.screen) != Access::Allowed {
        return vec![];
    }
    match app.screen {
        ScreenId::Dashboard => vec![],
        ScreenId::Approvals => approvals::key(app, key),
        ScreenId::MyAccess => my_access::key(app, key),
        ScreenId::Active => active::key(app, key),
        ScreenId::Identities => identities::key(app, key),
        ScreenId::Users => users::key(app, key),
        ScreenId::Catalog => catalog::key(app, key),
        ScreenId::Audit => audit::key(app, key),
        ScreenId::Graph => graph::key(app, key),
    }
}

/// Moves the current screen's focused list (mouse wheel and clicks).
pub fn nav(app: &mut App, nav: Nav) -> Vec<Cmd> {
    if app.access(app.screen) != Access::Allowed {
        return vec![];
    }
    match app.screen {
        ScreenId::Dashboard => vec![],
        ScreenId::Approvals => {
            approvals::nav(app, nav);
            vec![]
        }
        ScreenId::MyAccess => {
            my_access::nav(app, nav);
            vec![]
        }
        ScreenId::Active => {
            active::nav(app, nav);
            vec![]
        }
        ScreenId::Identities => {
            let h = identities::height(app);
            people::nav(app, crate::effect::UsersFor::Identities, nav, h)
        }
        ScreenId::Users => {
            let h = users::height(app);
            people::nav(app, crate::effect::UsersFor::Users, nav, h)
        }
        ScreenId::Catalog => {
            catalog::nav(app, nav);
            vec![]
        }
        ScreenId::Audit => audit::nav(app, nav),
        ScreenId::Graph => graph::nav(app, nav),
    }
}

/// The focused list's rectangle and scroll offset, for mouse clicks.
pub fn focused_list(app: &App, body: Rect) -> Option<(Rect, usize)> {
    Some(match app.screen {
        ScreenId::Dashboard => return None,
        ScreenId::Approvals => (approvals::list_rect(body), app.approvals.scroll.offset),
        ScreenId::MyAccess => (
            my_access::list_rect(app, body),
            match app.my.focus {
                my_access::Pane::Grants => app.my.grant_scroll.offset,
                my_access::Pane::Requests => app.my.request_scroll.offset,
            },
        ),
        ScreenId::Active => (active::list_rect(body), app.active.scroll.offset),
        ScreenId::Identities => (
            identities::list_rect(body),
            app.identities.people.list.scroll.offset,
        ),
        ScreenId::Users => (users::list_rect(body), app.users.people.list.scroll.offset),
        ScreenId::Catalog => (
            catalog::list_rect(body),
            match app.catalog.tab {
                catalog::Tab::Flows => app.catalog.flows_scroll.offset,
                catalog::Tab::Bundles => app.catalog.bundles_scroll.offset,
                catalog::Tab::Integrations => app.catalog.integrations_scroll.offset,
            },
        ),
        ScreenId::Audit => (audit::list_rect(body), app.audit.list.scroll.offset),
        ScreenId::Graph => (
            graph::list_rect(body),
            match app.graph.mode {
                graph::Mode::ByPerson => app.graph.people.list.scroll.offset,
                graph::Mode::ByResource => app.graph.resource_scroll.offset,
            },
        ),
    })
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    match app.screen {
        ScreenId::Dashboard => dashboard::render(app, area, buf),
        ScreenId::Approvals => approvals::render(app, area, buf),
        ScreenId::MyAccess => my_access::render(app, area, buf),
        ScreenId::Active => active::render(app, area, buf),
        ScreenId::Identities => identities::render(app, area, buf),
        ScreenId::Users => users::render(app, area, buf),
        ScreenId::Catalog => catalog::render(app, area, buf),
        ScreenId::Audit => audit::render(app, area, buf),
        ScreenId::Graph => graph::render(app, area, buf),
    }
}
