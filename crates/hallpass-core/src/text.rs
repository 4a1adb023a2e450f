//! Rules for free text that one person types and others read, in a terminal or a page:
//! reasons, justifications, notes, key comments.

/// The Unicode bidirectional embedding, override and isolate controls (U+202A–U+202E,
/// U+2066–U+2069). They make text display in an order other than the one it is stored and
/// read in (the "Trojan Source" characters), so a reason an approver reads, or a key comment an
/// admin checks, could show something other than what it says.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Whether `c` may not be shown to others as typed: a control character (callers that allow
/// lines check `\n` first) or a bidirectional control.
pub fn unshowable(c: char) -> bool {
    c.is_control() || is_bidi_control(c)
}

/// What keeps free text (reasons, justifications, notes: lines allowed) from being kept as typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadText {
    /// More characters than the field holds.
    TooLong,
    /// A control character other than a newline.
    Unprintable,
    /// A bidirectional control ([`is_bidi_control`]).
    Bidi,
}

/// The first thing wrong with free text of at most `max` characters, if anything is.
pub fn bad_text(t: &str, max: usize) -> Option<BadText> {
    if t.chars().count() > max {
        Some(BadText::TooLong)
    } else if t.chars().any(|c| c.is_control() && c != '\n') {
        Some(BadText::Unprintable)
    } else if t.chars().any(is_bidi_control) {
        Some(BadText::Bidi)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_controls_are_the_embeddings_overrides_and_isolates() {
        let all: Vec<char> = ('\u{2000}'..='\u{20FF}')
            .filter(|&c| is_bidi_control(c))
            .collect();
        assert_eq!(
            all,
            [
                '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}',
                '\u{2068}', '\u{2069}'
            ]
        );
        // Marks (LRM, RLM) and the letters of right-to-left scripts are text, not controls.
        for c in ['\u{200E}', '\u{200F}', 'ש', 'ع', 'a'] {
            assert!(!unshowable(c), "{c:?}");
        }
        for c in ['\u{1b}', '\r', '\n', '\u{202E}'] {
            assert!(unshowable(c), "{c:?}");
        }
    }
}
