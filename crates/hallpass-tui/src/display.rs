//! How times, durations and long text are shown. Invariant: every function is pure; "now" and
//! the local UTC offset are arguments (the runtime reads them, views never do).

pub use hallpass_core::time::{format_duration_short as short_duration, relative};
use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use hallpass_core::Timestamp;

/// Time left until `t`: `1h59m`, or `0s` once it has passed.
pub fn countdown(t: Timestamp, now: Timestamp) -> String {
    short_duration(Duration::from_secs(now.until(t).as_secs()))
}

fn local_datetime(t: Timestamp, utc_offset_secs: i32) -> Option<DateTime<FixedOffset>> {
    let offset = FixedOffset::east_opt(utc_offset_secs)?;
    Some(DateTime::from_timestamp_millis(t.as_millis())?.with_timezone(&offset))
}

/// Local wall time, `2026-03-02 10:00`.
pub fn local(t: Timestamp, utc_offset_secs: i32) -> String {
    local_datetime(t, utc_offset_secs).map_or_else(
        || t.to_rfc3339(),
        |d| d.format("%Y-%m-%d %H:%M").to_string(),
    )
}

/// Local wall time, short: `10:00` today, `Mar 01 10:00` on other days.
pub fn local_short(t: Timestamp, now: Timestamp, utc_offset_secs: i32) -> String {
    if local_day(t, utc_offset_secs) == local_day(now, utc_offset_secs) {
        local_datetime(t, utc_offset_secs)
            .map_or_else(|| t.to_rfc3339(), |d| d.format("%H:%M").to_string())
    } else {
        local_datetime(t, utc_offset_secs)
            .map_or_else(|| t.to_rfc3339(), |d| d.format("%b %d %H:%M").to_string())
    }
}

/// The local calendar day of `t`, as days since the epoch (for per-day counts).
pub fn local_day(t: Timestamp, utc_offset_secs: i32) -> i64 {
    (t.as_millis() + i64::from(utc_offset_secs) * 1000).div_euclid(86_400_000)
}

/// `s` cut to `width` characters, with `…` when cut.
pub fn clip(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(width - 1).collect();
    out.push('…');
    out
}

/// One line from text that may hold newlines (daemon errors do).
pub fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" · ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Timestamp = Timestamp(1_772_445_600_000); // 2026-03-02T10:00:00Z

    #[test]
    fn local_times_follow_the_offset() {
        assert_eq!(local(T0, 0), "2026-03-02 10:00");
        assert_eq!(local(T0, 3600), "2026-03-02 11:00");
        assert_eq!(local(T0, -11 * 3600), "2026-03-01 23:00");
        assert_eq!(local_short(T0, T0, 0), "10:00");
        assert_eq!(
            local_short(T0.minus(Duration::from_secs(86_400)), T0, 0),
            "Mar 01 10:00"
        );
        assert_eq!(local_day(T0, 0) - local_day(T0, -11 * 3600), 1);
    }

    #[test]
    fn countdowns_and_relative_times() {
        let later = T0.plus(Duration::from_secs(7_140));
        assert_eq!(countdown(later, T0), "1h59m");
        assert_eq!(countdown(T0, later), "0s");
        assert_eq!(relative(later, T0), "in 1h59m");
        assert_eq!(relative(T0, later), "1h59m ago");
        assert_eq!(relative(T0, T0), "now");
    }

    #[test]
    fn clipping() {
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
        assert_eq!(one_line("a\nadmins: x\n\nhint"), "a · admins: x · hint");
    }
}
