//! Colours and emphasis for every view. Invariant: with colour off (NO_COLOR), no style sets a
//! foreground or background colour; emphasis uses modifiers only, so nothing is lost in mono.

use hallpass_core::grant::GrantStatus;
use hallpass_core::request::RequestStatus;
use ratatui::style::{Color, Modifier, Style};

/// The palette in use; `color: false` honours NO_COLOR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    /// The theme for a process whose `NO_COLOR` variable holds `no_color` (any non-empty value
    /// turns colour off, as <https://no-color.org> says).
    pub fn from_no_color(no_color: Option<&std::ffi::OsStr>) -> Theme {
        Theme {
            color: no_color.is_none_or(|v| v.is_empty()),
        }
    }

    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    pub fn plain(&self) -> Style {
        Style::new()
    }

    pub fn title(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub fn header(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub fn selected(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    pub fn dim(&self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new().add_modifier(Modifier::DIM)
        }
    }

    pub fn key(&self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }

    pub fn good(&self) -> Style {
        self.fg(Color::Green)
    }

    pub fn warn(&self) -> Style {
        self.fg(Color::Yellow)
    }

    pub fn bad(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    pub fn accent(&self) -> Style {
        self.fg(Color::Magenta)
    }

    /// The connection-lost banner.
    pub fn banner(&self) -> Style {
        if self.color {
            Style::new()
                .fg(Color::White)
                .bg(Color::Red)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        }
    }

    pub fn tab_active(&self) -> Style {
        self.fg(Color::Cyan)
            .add_modifier(Modifier::BOLD | Modifier::REVERSED)
    }

    pub fn grant_status(&self, s: GrantStatus) -> Style {
        match s {
            GrantStatus::Active => self.good(),
            GrantStatus::Granting | GrantStatus::Revoking => self.warn(),
            GrantStatus::Failed | GrantStatus::RevokeFailed => self.bad(),
            GrantStatus::Expired | GrantStatus::Revoked => self.dim(),
        }
    }

    pub fn request_status(&self, s: RequestStatus) -> Style {
        match s {
            RequestStatus::Pending => self.warn(),
            RequestStatus::Approved => self.good(),
            RequestStatus::Rejected => self.bad(),
            RequestStatus::Cancelled | RequestStatus::TimedOut => self.dim(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_means_no_colours() {
        let plain = Theme::from_no_color(Some(std::ffi::OsStr::new("1")));
        assert!(!plain.color);
        for s in [
            plain.title(),
            plain.good(),
            plain.bad(),
            plain.banner(),
            plain.dim(),
            plain.grant_status(GrantStatus::Active),
        ] {
            assert_eq!(s.fg, None);
            assert_eq!(s.bg, None);
        }
        assert!(Theme::from_no_color(None).color);
        assert!(Theme::from_no_color(Some(std::ffi::OsStr::new(""))).color);
    }
}
