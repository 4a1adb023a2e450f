//! Where things go on screen. Invariant: views and `update` (mouse hits, page sizes) use these
//! same functions, so what is clicked is what was drawn.

use ratatui::layout::{Constraint, Layout, Rect};

use crate::app::ScreenId;

/// Below this the TUI asks for a larger window.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 15;

/// At this width and above, detail panes sit beside lists instead of under them.
pub const WIDE: u16 = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Regions {
    pub tabs: Rect,
    pub banner: Option<Rect>,
    pub body: Rect,
    pub status: Rect,
}

pub fn too_small(width: u16, height: u16) -> bool {
    width < MIN_WIDTH || height < MIN_HEIGHT
}

pub fn regions(area: Rect, banner: bool) -> Regions {
    if banner {
        let [tabs, banner, body, status] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Fill(1),
            Constraint::Length(1),
        ])
        .areas(area);
        Regions {
            tabs,
            banner: Some(banner),
            body,
            status,
        }
    } else {
        let [tabs, body, status] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Fill(1),
            Constraint::Length(1),
        ])
        .areas(area);
        Regions {
            tabs,
            banner: None,
            body,
            status,
        }
    }
}

/// A list and its detail pane: side by side when wide, stacked otherwise.
pub fn master_detail(body: Rect) -> (Rect, Rect) {
    if body.width >= WIDE {
        let [l, r] = Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)])
            .areas(body);
        (l, r)
    } else {
        let detail = (body.height / 2).min(10);
        let [l, r] =
            Layout::vertical([Constraint::Fill(1), Constraint::Length(detail)]).areas(body);
        (l, r)
    }
}

/// Data rows a bordered table with a header shows in `rect`.
pub fn table_rows(rect: Rect) -> usize {
    usize::from(rect.height.saturating_sub(3))
}

/// The first data row's y in a bordered table with a header.
pub fn table_first_row_y(rect: Rect) -> u16 {
    rect.y + 2
}

/// Each tab's label and its columns `[start, end)` on the tab bar.
pub fn tabs(width: u16) -> Vec<(ScreenId, String, u16, u16)> {
    let mut x = 0u16;
    let mut out = vec![];
    for s in ScreenId::ALL {
        let label = format!(" {}:{}", s.index() + 1, s.tab());
        let w = u16::try_from(label.chars().count()).unwrap_or(u16::MAX);
        if x.saturating_add(w) > width {
            break;
        }
        out.push((s, label, x, x + w));
        x += w;
    }
    out
}

/// A rectangle of at most `w`×`h` centred in `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// The body region for the app's current size and connection state.
pub fn body(app: &crate::app::App) -> Rect {
    regions(
        Rect::new(0, 0, app.width, app.height),
        crate::view::shows_banner(app),
    )
    .body
}
