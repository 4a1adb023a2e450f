//! Building blocks every view shares: bordered panes, tables that build only their visible
//! rows, and label/value detail lines. Invariant: a table never builds a row outside the
//! viewport it is given, so a list of any length costs the same to draw.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, Widget, Wrap};

use crate::app::App;
use crate::layout;
use crate::scroll::Scroll;

pub fn block<'a>(app: &App, title: impl Into<String>) -> Block<'a> {
    Block::bordered().title(Span::styled(
        format!(" {} ", title.into()),
        app.theme.title(),
    ))
}

/// A table of `len` rows showing only the viewport; `row(i)` builds row `i` on demand (None
/// when the row is not loaded yet).
#[allow(clippy::too_many_arguments)]
pub fn table<'a, F>(
    app: &App,
    area: Rect,
    buf: &mut Buffer,
    title: String,
    header: &[&str],
    widths: &[Constraint],
    len: usize,
    scroll: &Scroll,
    empty: &str,
    mut row: F,
) where
    F: FnMut(usize) -> Option<Vec<Cell<'a>>>,
{
    let height = layout::table_rows(area);
    let range = scroll.visible(len, height);
    let t = app.theme;
    let rows: Vec<Row> = range
        .map(|i| {
            let cells = row(i).unwrap_or_else(|| vec![Cell::from(Span::styled("…", t.dim()))]);
            let r = Row::new(cells);
            if i == scroll.selected {
                r.style(t.selected())
            } else {
                r
            }
        })
        .collect();
    let block = block(app, title);
    if len == 0 {
        let inner = block.inner(area);
        block.render(area, buf);
        Paragraph::new(Line::from(Span::styled(empty.to_string(), t.dim())))
            .wrap(Wrap { trim: true })
            .render(inner, buf);
        return;
    }
    let head = Row::new(header.iter().map(|h| Cell::from(*h))).style(t.header());
    Table::new(rows, widths.to_vec())
        .header(head)
        .column_spacing(1)
        .block(block)
        .render(area, buf);
}

/// `label: value` with the label dimmed.
pub fn kv<'a>(app: &App, label: &str, value: impl Into<String>) -> Line<'a> {
    Line::from(vec![
        Span::styled(format!("{label:<11}"), app.theme.dim()),
        Span::raw(value.into()),
    ])
}

pub fn kv_styled<'a>(app: &App, label: &str, value: impl Into<String>, style: Style) -> Line<'a> {
    Line::from(vec![
        Span::styled(format!("{label:<11}"), app.theme.dim()),
        Span::styled(value.into(), style),
    ])
}

/// A bordered pane of wrapped lines.
pub fn detail(app: &App, area: Rect, buf: &mut Buffer, title: impl Into<String>, lines: Vec<Line>) {
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .block(block(app, title))
        .render(area, buf);
}

/// A cell in a status colour.
pub fn styled<'a>(text: impl Into<String>, style: Style) -> Cell<'a> {
    Cell::from(Span::styled(text.into(), style))
}

/// A bordered pane of lines cut at its width (for lists of events).
pub fn lines(app: &App, area: Rect, buf: &mut Buffer, title: impl Into<String>, lines: Vec<Line>) {
    Paragraph::new(lines)
        .block(block(app, title))
        .render(area, buf);
}
