//! A one-line text field for forms, prompts and filters. Invariant: `cursor` is always a char
//! boundary index in `0..=value.chars().count()`.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::Style;
use ratatui::text::{Line, Span};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TextField {
    value: String,
    /// Cursor position in chars.
    cursor: usize,
}

impl TextField {
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        let cursor = value.chars().count();
        TextField { value, cursor }
    }

    pub fn value(&self) -> &str {
        &self.value
    }

    pub fn is_empty(&self) -> bool {
        self.value.trim().is_empty()
    }

    fn byte_at(&self, char_idx: usize) -> usize {
        self.value
            .char_indices()
            .nth(char_idx)
            .map_or(self.value.len(), |(b, _)| b)
    }

    /// Applies an editing key. Returns true when the key was an editing key (consumed).
    pub fn key(&mut self, key: KeyEvent) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('u') if ctrl => {
                self.value.clear();
                self.cursor = 0;
            }
            KeyCode::Char('a') if ctrl => self.cursor = 0,
            KeyCode::Char('e') if ctrl => self.cursor = self.value.chars().count(),
            KeyCode::Char(c) if !ctrl => {
                let at = self.byte_at(self.cursor);
                self.value.insert(at, c);
                self.cursor += 1;
            }
            KeyCode::Backspace => {
                if self.cursor > 0 {
                    let at = self.byte_at(self.cursor - 1);
                    self.value.remove(at);
                    self.cursor -= 1;
                }
            }
            KeyCode::Delete => {
                if self.cursor < self.value.chars().count() {
                    let at = self.byte_at(self.cursor);
                    self.value.remove(at);
                }
            }
            KeyCode::Left => self.cursor = self.cursor.saturating_sub(1),
            KeyCode::Right => self.cursor = (self.cursor + 1).min(self.value.chars().count()),
            KeyCode::Home => self.cursor = 0,
            KeyCode::End => self.cursor = self.value.chars().count(),
            _ => return false,
        }
        true
    }

    /// The field as a line; with `focused`, the cursor cell is shown reversed.
    pub fn line(&self, focused: bool, style: Style, cursor_style: Style) -> Line<'static> {
        if !focused {
            return Line::from(Span::styled(self.value.clone(), style));
        }
        let before: String = self.value.chars().take(self.cursor).collect();
        let at: String = self
            .value
            .chars()
            .nth(self.cursor)
            .map_or_else(|| " ".to_string(), String::from);
        let after: String = self.value.chars().skip(self.cursor + 1).collect();
        Line::from(vec![
            Span::styled(before, style),
            Span::styled(at, cursor_style),
            Span::styled(after, style),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn edits_at_the_cursor() {
        let mut f = TextField::new("héllo");
        assert!(f.key(k(KeyCode::Left)));
        assert!(f.key(k(KeyCode::Backspace)));
        assert_eq!(f.value(), "hélo");
        f.key(k(KeyCode::Home));
        f.key(k(KeyCode::Char('>')));
        assert_eq!(f.value(), ">hélo");
        f.key(k(KeyCode::Delete));
        assert_eq!(f.value(), ">élo");
        f.key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
        assert!(f.is_empty());
        assert!(!f.key(k(KeyCode::Enter)));
    }
}
