//! Time: a UTC [`Timestamp`] in milliseconds and the [`Clock`] that is the only source of "now".
//! Invariant: domain code never reads the system clock; it is handed a `Clock`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::DomainError;

/// Milliseconds since the Unix epoch, UTC.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const EPOCH: Timestamp = Timestamp(0);

    pub fn from_millis(ms: i64) -> Self {
        Timestamp(ms)
    }

    pub fn as_millis(self) -> i64 {
        self.0
    }

    /// `self + d`, saturating.
    pub fn plus(self, d: Duration) -> Timestamp {
        Timestamp(
            self.0
                .saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        )
    }

    /// `self - d`, saturating.
    pub fn minus(self, d: Duration) -> Timestamp {
        Timestamp(
            self.0
                .saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        )
    }

    /// How long from `self` until `later`; zero if `later` is not after `self`.
    pub fn until(self, later: Timestamp) -> Duration {
        Duration::from_millis(u64::try_from(later.0.saturating_sub(self.0)).unwrap_or(0))
    }

    /// Order-preserving key bytes: big-endian with the sign bit flipped.
    pub fn to_key_bytes(self) -> [u8; 8] {
        ((self.0 as u64) ^ (1 << 63)).to_be_bytes()
    }

    pub fn from_key_bytes(b: [u8; 8]) -> Self {
        Timestamp((u64::from_be_bytes(b) ^ (1 << 63)) as i64)
    }

    /// RFC 3339 in UTC with seconds, e.g. `2026-11-26T18:52:00Z`.
    pub fn to_rfc3339(self) -> String {
        let st = if self.0 >= 0 {
            UNIX_EPOCH + Duration::from_millis(self.0 as u64)
        } else {
            UNIX_EPOCH
        };
        humantime::format_rfc3339_seconds(st).to_string()
    }

    pub fn parse_rfc3339(s: &str) -> Result<Self, DomainError> {
        let st = humantime::parse_rfc3339_weak(s.trim()).map_err(|e| {
            DomainError::invalid(
                "time",
                format!("`{s}` is not a time like 2026-11-26T18:00:00Z: {e}"),
            )
        })?;
        let ms = st
            .duration_since(UNIX_EPOCH)
            .map_err(|_| DomainError::invalid("time", "is before 1970"))?;
        Ok(Timestamp(i64::try_from(ms.as_millis()).unwrap_or(i64::MAX)))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// The only source of the current time.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    fn now(&self) -> Timestamp;
}

/// The real wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one permitted place that reads the wall clock
    fn now(&self) -> Timestamp {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

/// A clock tests move by hand. Clones share the same time.
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        ManualClock(Arc::new(AtomicI64::new(start.0)))
    }

    pub fn advance(&self, d: Duration) {
        self.0.fetch_add(
            i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            Ordering::SeqCst,
        );
    }

    pub fn set(&self, t: Timestamp) {
        self.0.store(t.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

/// Durations as people write them: `90s`, `15m`, `2h`, `1d`, `1h30m`. Whole seconds only:
/// requests and grants keep seconds, so `1h 500ms` is refused rather than cut to `1h`, or
/// `500ms` to nothing.
pub fn parse_duration(field: &'static str, s: &str) -> Result<Duration, DomainError> {
    let d = humantime::parse_duration(s.trim()).map_err(|e| {
        DomainError::invalid(
            field,
            format!("`{s}` is not a duration like 30m, 2h or 1d ({e})"),
        )
    })?;
    if d.is_zero() {
        return Err(DomainError::invalid(field, "must be longer than zero"));
    }
    if d.subsec_nanos() != 0 {
        return Err(DomainError::invalid(
            field,
            format!("`{}` is not a whole number of seconds", s.trim()),
        ));
    }
    Ok(d)
}

/// A short human form: `2h`, `1h30m`, `45s`.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return "0s".into();
    }
    let (days, h, m, s) = (
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    let mut out = String::new();
    for (v, unit) in [(days, "d"), (h, "h"), (m, "m"), (s, "s")] {
        if v > 0 {
            out.push_str(&format!("{v}{unit}"));
        }
    }
    out
}

/// A duration in its two most significant units: `1h59m`, `2d3h`, `5m12s`, `45s`.
pub fn format_duration_short(d: Duration) -> String {
    let secs = d.as_secs();
    let units = [
        (secs / 86_400, "d"),
        (secs % 86_400 / 3600, "h"),
        (secs % 3600 / 60, "m"),
        (secs % 60, "s"),
    ];
    let Some(first) = units.iter().position(|(v, _)| *v > 0) else {
        return "0s".into();
    };
    units[first..]
        .iter()
        .take(2)
        .filter(|(v, _)| *v > 0)
        .map(|(v, u)| format!("{v}{u}"))
        .collect()
}

/// `in 1h59m`, `5m ago` or `now`: `t` relative to `now`, to the nearest second (so a 3-day
/// invite read a few milliseconds later is still "in 3d").
pub fn relative(t: Timestamp, now: Timestamp) -> String {
    let diff = t.0.saturating_sub(now.0);
    let secs = diff.unsigned_abs().saturating_add(500) / 1000;
    if secs == 0 {
        return "now".into();
    }
    let d = format_duration_short(Duration::from_secs(secs));
    if diff > 0 {
        format!("in {d}")
    } else {
        format!("{d} ago")
    }
}

/// Serde helper: a `Duration` stored as whole seconds.
pub mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_bytes_preserve_order_across_sign() {
        let ts = [i64::MIN, -5, -1, 0, 1, 1_000, i64::MAX].map(Timestamp);
        for w in ts.windows(2) {
            assert!(w[0].to_key_bytes() < w[1].to_key_bytes());
            assert_eq!(Timestamp::from_key_bytes(w[0].to_key_bytes()), w[0]);
        }
        assert_eq!(Timestamp(0).to_key_bytes(), [0x80, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn durations_round_trip_through_text() {
        assert_eq!(
            parse_duration("d", "1h30m").unwrap(),
            Duration::from_secs(5400)
        );
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_secs(86_400 + 5)), "1d5s");
        assert!(parse_duration("duration", "0s").is_err());
        for fraction in ["500ms", "1h 500ms", "2s 1ns"] {
            let e = parse_duration("duration", fraction).unwrap_err();
            assert!(e.to_string().contains("whole number of seconds"), "{e}");
        }
        assert_eq!(
            parse_duration("d", "1h 1000ms").unwrap(),
            Duration::from_secs(3601)
        );
        let e = parse_duration("duration", "soon").unwrap_err();
        assert!(e.to_string().contains("duration"), "{e}");
    }

    #[test]
    fn short_and_relative_forms() {
        assert_eq!(format_duration_short(Duration::from_secs(7_140)), "1h59m");
        assert_eq!(
            format_duration_short(Duration::from_secs(2 * 86_400 + 3 * 3600 + 5)),
            "2d3h"
        );
        assert_eq!(format_duration_short(Duration::from_secs(3_600)), "1h");
        assert_eq!(format_duration_short(Duration::ZERO), "0s");
        let now = Timestamp(1_000_000);
        assert_eq!(relative(Timestamp(now.0 + 300_000), now), "in 5m");
        assert_eq!(relative(Timestamp(now.0 - 299_600), now), "5m ago");
        assert_eq!(relative(Timestamp(now.0 + 400), now), "now");
    }

    #[test]
    fn rfc3339_round_trips() {
        let t = Timestamp(1_795_000_000_000);
        assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()).unwrap(), t);
    }
}
