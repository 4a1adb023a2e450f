//! Selection and scrolling of a list with a viewport. Invariant: after every move,
//! `selected < len` (or 0 when empty) and `offset <= selected < offset + height`, so the
//! selected row is always visible and views render only rows `offset..offset + height`.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// A movement asked for by a key or the mouse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nav {
    Up,
    Down,
    PageUp,
    PageDown,
    Home,
    End,
    /// A relative move (mouse wheel).
    By(isize),
    /// An absolute row (mouse click).
    To(usize),
}

impl Nav {
    /// The movement a key asks for: arrows, vim keys, PgUp/PgDn, Home/End, g/G.
    pub fn of(key: KeyEvent) -> Option<Nav> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        Some(match key.code {
            KeyCode::Up | KeyCode::Char('k') if !ctrl => Nav::Up,
            KeyCode::Down | KeyCode::Char('j') if !ctrl => Nav::Down,
            KeyCode::PageUp => Nav::PageUp,
            KeyCode::Char('b') if ctrl => Nav::PageUp,
            KeyCode::PageDown => Nav::PageDown,
            KeyCode::Char('f') if ctrl => Nav::PageDown,
            KeyCode::Home | KeyCode::Char('g') if !ctrl => Nav::Home,
            KeyCode::End | KeyCode::Char('G') if !ctrl => Nav::End,
            _ => return None,
        })
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scroll {
    pub selected: usize,
    pub offset: usize,
}

impl Scroll {
    /// Applies `nav` to a list of `len` rows shown `height` at a time.
    pub fn apply(&mut self, nav: Nav, len: usize, height: usize) {
        let last = len.saturating_sub(1);
        let page = height.max(1);
        self.selected = match nav {
            Nav::Up => self.selected.saturating_sub(1),
            Nav::Down => (self.selected + 1).min(last),
            Nav::PageUp => self.selected.saturating_sub(page),
            Nav::PageDown => (self.selected + page).min(last),
            Nav::Home => 0,
            Nav::End => last,
            Nav::By(d) => self.selected.saturating_add_signed(d).min(last),
            Nav::To(i) => i.min(last),
        };
        self.clamp(len, height);
    }

    /// Restores the invariant after the list or the viewport changed.
    pub fn clamp(&mut self, len: usize, height: usize) {
        let height = height.max(1);
        self.selected = self.selected.min(len.saturating_sub(1));
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + height {
            self.offset = self.selected + 1 - height;
        }
        // Do not leave empty space below the last row when the list could fill the view.
        let max_offset = len.saturating_sub(height);
        self.offset = self.offset.min(max_offset);
    }

    /// The rows a view shows: `offset..min(offset + height, len)`.
    pub fn visible(&self, len: usize, height: usize) -> std::ops::Range<usize> {
        let start = self.offset.min(len);
        start..(start + height).min(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_stays_visible() {
        let mut s = Scroll::default();
        s.apply(Nav::End, 100, 10);
        assert_eq!((s.selected, s.offset), (99, 90));
        s.apply(Nav::PageUp, 100, 10);
        assert_eq!((s.selected, s.offset), (89, 89));
        s.apply(Nav::Home, 100, 10);
        assert_eq!((s.selected, s.offset), (0, 0));
        s.apply(Nav::By(-3), 100, 10);
        assert_eq!(s.selected, 0);
        s.apply(Nav::To(500), 100, 10);
        assert_eq!(s.selected, 99);
        s.clamp(5, 10);
        assert_eq!((s.selected, s.offset), (4, 0));
        s.apply(Nav::Down, 0, 10);
        assert_eq!((s.selected, s.offset), (0, 0));
        assert_eq!(s.visible(0, 10), 0..0);
    }

    #[test]
    fn keys_map_to_moves() {
        let k = |c| KeyEvent::new(c, KeyModifiers::NONE);
        assert_eq!(Nav::of(k(KeyCode::Char('j'))), Some(Nav::Down));
        assert_eq!(Nav::of(k(KeyCode::Char('G'))), Some(Nav::End));
        assert_eq!(Nav::of(k(KeyCode::PageDown)), Some(Nav::PageDown));
        assert_eq!(Nav::of(k(KeyCode::Char('x'))), None);
    }
}
