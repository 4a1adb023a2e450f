//! How results are shown: compact tables, aligned detail blocks, pretty JSON for `--json`, and
//! times as RFC 3339 UTC with a relative hint. Invariant: formatting is pure; "now" is passed in
//! by the caller (read once from the local clock), never read here.

pub use hallpass_core::time::{format_duration_short as short_duration, relative};
use std::time::Duration;

use comfy_table::{ContentArrangement, Table, presets};
use hallpass_core::Timestamp;
use hallpass_core::time::{Clock, SystemClock};
use serde::Serialize;

use crate::failure::Failure;

/// Whether to print for people or for machines.
#[derive(Clone, Copy, Debug)]
pub struct Output {
    pub json: bool,
}

impl Output {
    /// The local wall clock, for relative times ("in 1h59m").
    pub fn now(&self) -> Timestamp {
        SystemClock.now()
    }

    /// With `--json`, prints `value` and returns true; the caller prints text otherwise.
    pub fn json<T: Serialize>(&self, value: &T) -> Result<bool, Failure> {
        if self.json {
            print_json(value)?;
        }
        Ok(self.json)
    }
}

pub fn print_json<T: Serialize>(value: &T) -> Result<(), Failure> {
    let s = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::Local(format!("cannot encode the result as JSON: {e}")))?;
    println!("{s}");
    Ok(())
}

/// A compact table: no borders, upper-case header, two spaces between columns, wrapped to the
/// terminal's width when there is one.
pub fn table<const N: usize>(header: [&str; N], rows: Vec<[String; N]>) -> String {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.map(str::to_ascii_uppercase));
    for row in rows {
        t.add_row(row);
    }
    let last = N.saturating_sub(1);
    for (i, column) in t.column_iter_mut().enumerate() {
        column.set_padding((0, if i == last { 0 } else { 2 }));
    }
    t.trim_fmt()
}

/// Label/value lines aligned on the values, e.g. for `show` commands.
#[derive(Debug, Default)]
pub struct Details {
    rows: Vec<(String, String)>,
}

impl Details {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn row(&mut self, label: &str, value: impl Into<String>) -> &mut Self {
        self.rows.push((label.to_string(), value.into()));
        self
    }

    /// A row only when there is a value.
    pub fn opt(&mut self, label: &str, value: Option<impl Into<String>>) -> &mut Self {
        if let Some(v) = value {
            self.row(label, v);
        }
        self
    }

    pub fn render(&self) -> String {
        let width = self
            .rows
            .iter()
            .map(|(l, _)| l.chars().count() + 1)
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        for (label, value) in &self.rows {
            let mut lines = value.lines();
            let first = lines.next().unwrap_or("");
            out.push_str(&format!("{:<width$}  {first}", format!("{label}:")));
            for line in lines {
                out.push('\n');
                out.push_str(&format!("{:<width$}  {line}", ""));
            }
            out.push('\n');
        }
        out.trim_end().to_string()
    }
}

/// `2026-11-26T18:52:00Z (in 1h59m)`.
pub fn when(t: Timestamp, now: Timestamp) -> String {
    format!("{} ({})", t.to_rfc3339(), relative(t, now))
}

/// `when` for an optional time, `-` when absent.
pub fn when_opt(t: Option<Timestamp>, now: Timestamp) -> String {
    t.map_or_else(|| "-".into(), |t| when(t, now))
}

/// A short relative time for table cells (`5m ago`), `-` when absent.
pub fn ago_opt(t: Option<Timestamp>, now: Timestamp) -> String {
    t.map_or_else(|| "-".into(), |t| relative(t, now))
}

/// Seconds as `2h` (exact, for configured durations).
pub fn secs(s: u64) -> String {
    hallpass_core::time::format_duration(Duration::from_secs(s))
}

/// Shortens text for a table cell, marking the cut with `…`.
pub fn clip(s: &str, max: usize) -> String {
    let one_line = s.replace(['\n', '\r'], " ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let mut c: String = one_line.chars().take(max.saturating_sub(1)).collect();
        c.push('…');
        c
    }
}

/// `a, b and c` style lists for sentences.
pub fn list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_short() {
        assert_eq!(short_duration(Duration::from_secs(0)), "0s");
        assert_eq!(short_duration(Duration::from_secs(45)), "45s");
        assert_eq!(short_duration(Duration::from_secs(5 * 60)), "5m");
        assert_eq!(short_duration(Duration::from_secs(7199)), "1h59m");
        assert_eq!(short_duration(Duration::from_secs(3600 + 5)), "1h");
        assert_eq!(
            short_duration(Duration::from_secs(2 * 86_400 + 3 * 3600 + 7)),
            "2d3h"
        );
    }

    #[test]
    fn relative_times() {
        let now = Timestamp(1_000_000_000);
        assert_eq!(relative(Timestamp(now.0 + 7_199_000), now), "in 1h59m");
        assert_eq!(relative(Timestamp(now.0 - 300_000), now), "5m ago");
        assert_eq!(relative(Timestamp(now.0 + 200), now), "now");
        assert_eq!(
            relative(Timestamp(now.0 + 3 * 86_400_000 - 4), now),
            "in 3d"
        );
        assert_eq!(
            when(Timestamp(0), Timestamp(60_000)),
            "1970-01-01T00:00:00Z (1m ago)"
        );
        assert_eq!(when_opt(None, now), "-");
    }

    #[test]
    fn tables_and_details_are_compact() {
        let t = table(
            ["id", "status"],
            vec![
                ["HP-1".into(), "pending".into()],
                ["HP-1002".into(), "approved".into()],
            ],
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "ID       STATUS");
        assert_eq!(lines[1], "HP-1     pending");
        assert_eq!(lines[2], "HP-1002  approved");

        let d = Details::new()
            .row("id", "U-3")
            .row("groups", "eng\nops")
            .opt("phone", None::<String>)
            .render();
        assert_eq!(d, "id:      U-3\ngroups:  eng\n         ops");
    }

    #[test]
    fn clipping_and_lists() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("a long reason\nover lines", 8), "a long …");
        assert_eq!(list(&["a".into(), "b".into(), "c".into()]), "a, b or c");
        assert_eq!(list(&["a".into()]), "a");
    }
}
