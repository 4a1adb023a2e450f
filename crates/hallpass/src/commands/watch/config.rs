//! The client-side settings of `hallpass watch` (`~/.config/hallpass/watch.toml`, see
//! `config/watch.example.toml`): which kinds of notification to show, at which of the daemon's
//! "expiring soon" warnings, quiet hours, how to ask for a reason and how long to extend.
//! Invariant: like the daemon's config, an unknown key or a bad value is an error naming the
//! key and the file; a missing file means the defaults.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hallpass_core::Timestamp;
use serde::{Deserialize, Deserializer};

/// What a notification is about; `show` picks the kinds to raise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A request waiting for my approval.
    Approvals,
    /// My request approved, rejected or timed out.
    Decisions,
    /// My access active or extended.
    Access,
    /// My access ends soon.
    Expiring,
    /// My access expired, was released or revoked.
    Ended,
    /// Connector and revocation failures (admins, and my own failed grants).
    Failures,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Approvals,
        Kind::Decisions,
        Kind::Access,
        Kind::Expiring,
        Kind::Ended,
        Kind::Failures,
    ];
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WatchConfig {
    /// The kinds of notification to raise. Default: all of them.
    pub show: BTreeSet<Kind>,
    /// Show an "expiring soon" warning at the first daemon warning at or within each offset
    /// (the daemon warns at its own `expiry.warn_before`). Default: 15m and 5m.
    #[serde(deserialize_with = "durations")]
    pub expiring: Vec<Duration>,
    /// Local times between which nothing is shown; what arrives is summed up when they end.
    pub quiet_hours: Option<QuietHours>,
    /// How long to wait for more events before showing, so a burst becomes one summary.
    #[serde(deserialize_with = "duration")]
    pub burst_window: Duration,
    /// More notifications than this in one burst are shown as one summary.
    pub burst_max: usize,
    /// The time the Extend action asks for.
    #[serde(deserialize_with = "duration")]
    pub extend_by: Duration,
    /// A command that asks for a reason and prints it (`{prompt}` is replaced by the
    /// question); empty output or a non-zero exit is "no reason". Default: zenity or kdialog
    /// when installed.
    pub reason_command: Option<Vec<String>>,
}

impl Default for WatchConfig {
    fn default() -> Self {
        WatchConfig {
            show: Kind::ALL.into_iter().collect(),
            expiring: vec![Duration::from_secs(15 * 60), Duration::from_secs(5 * 60)],
            quiet_hours: None,
            burst_window: Duration::from_millis(150),
            burst_max: 3,
            extend_by: Duration::from_secs(3600),
            reason_command: None,
        }
    }
}

/// `from`–`to` in local time, minutes since midnight; wraps past midnight when `from > to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    #[serde(deserialize_with = "clock_time")]
    pub from: u32,
    #[serde(deserialize_with = "clock_time")]
    pub to: u32,
}

impl QuietHours {
    /// Whether `minute` (of the local day) is quiet.
    pub fn contains(self, minute: u32) -> bool {
        if self.from <= self.to {
            (self.from..self.to).contains(&minute)
        } else {
            minute >= self.from || minute < self.to
        }
    }

    /// Time left in quiet hours at `now`, in a zone `utc_offset_secs` east of UTC (zero
    /// outside them).
    pub fn left_at(self, now: Timestamp, utc_offset_secs: i32) -> Duration {
        let local =
            (now.as_millis().div_euclid(1000) + i64::from(utc_offset_secs)).rem_euclid(86_400);
        let minute = u32::try_from(local / 60).unwrap_or(0);
        let left = self.minutes_left(minute);
        if left == 0 {
            return Duration::ZERO;
        }
        let into_minute = u64::try_from(local % 60).unwrap_or(0);
        Duration::from_secs(u64::from(left) * 60 - into_minute)
    }

    /// Minutes from `minute` until quiet hours end (0 when not quiet).
    pub fn minutes_left(self, minute: u32) -> u32 {
        if !self.contains(minute) {
            return 0;
        }
        (self.to + 24 * 60 - minute) % (24 * 60)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("watch config {path}: {message}")]
pub struct ConfigError {
    pub path: PathBuf,
    pub message: String,
}

impl WatchConfig {
    pub fn parse(text: &str, path: &Path) -> Result<WatchConfig, ConfigError> {
        let fail = |message: String| ConfigError {
            path: path.to_path_buf(),
            message,
        };
        let cfg: WatchConfig = toml::from_str(text).map_err(|e| fail(e.to_string()))?;
        if cfg.expiring.iter().any(Duration::is_zero) {
            return Err(fail("expiring offsets must be above zero".into()));
        }
        if cfg.burst_window > Duration::from_secs(5) {
            return Err(fail("burst_window must be at most 5s".into()));
        }
        if cfg.extend_by.is_zero() {
            return Err(fail("extend_by must be above zero".into()));
        }
        if cfg.reason_command.as_ref().is_some_and(Vec::is_empty) {
            return Err(fail("reason_command needs at least the program".into()));
        }
        Ok(cfg)
    }

    /// The file at `path`; the defaults when it does not exist.
    pub fn load(path: &Path) -> Result<WatchConfig, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(WatchConfig::default()),
            Err(e) => Err(ConfigError {
                path: path.to_path_buf(),
                message: format!("cannot read it: {e}"),
            }),
        }
    }

    /// `~/.config/hallpass/watch.toml` (the XDG config directory).
    pub fn default_path() -> Option<PathBuf> {
        directories::ProjectDirs::from("", "", "hallpass")
            .map(|d| d.config_dir().join("watch.toml"))
    }
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s).map_err(|e| {
        serde::de::Error::custom(format!("`{s}` is not a duration like 30s, 5m or 1h: {e}"))
    })
}

fn durations<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|s| {
            humantime::parse_duration(s).map_err(|e| {
                serde::de::Error::custom(format!("`{s}` is not a duration like 15m: {e}"))
            })
        })
        .collect()
}

fn clock_time<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let s = String::deserialize(d)?;
    let bad = || serde::de::Error::custom(format!("`{s}` is not a local time like \"22:00\""));
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_config_parses_and_sets_every_key() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/watch.example.toml");
        let cfg = WatchConfig::load(&path).expect("the example parses");
        let d = WatchConfig::default();
        assert_eq!(
            cfg.show.len(),
            Kind::ALL.len(),
            "the example lists every kind"
        );
        assert_ne!(cfg.expiring, d.expiring);
        assert_eq!(
            cfg.quiet_hours,
            Some(QuietHours {
                from: 22 * 60,
                to: 7 * 60
            })
        );
        assert!(cfg.reason_command.is_some());
    }

    #[test]
    fn a_missing_file_is_the_defaults_and_typos_are_errors() {
        let cfg = WatchConfig::load(Path::new("/nonexistent/watch.toml")).expect("defaults");
        assert_eq!(cfg, WatchConfig::default());
        let err = WatchConfig::parse("shwo = []\n", Path::new("w.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("shwo") && err.contains("w.toml"), "{err}");
        for bad in [
            "show = [\"everything\"]",
            "expiring = [\"soon\"]",
            "expiring = [\"0s\"]",
            "quiet_hours = { from = \"25:00\", to = \"07:00\" }",
            "reason_command = []",
        ] {
            assert!(
                WatchConfig::parse(bad, Path::new("w.toml")).is_err(),
                "{bad} should be refused"
            );
        }
    }

    #[test]
    fn quiet_hours_wrap_past_midnight() {
        let night = QuietHours {
            from: 22 * 60,
            to: 7 * 60,
        };
        assert!(night.contains(23 * 60));
        assert!(night.contains(0));
        assert!(night.contains(6 * 60 + 59));
        assert!(!night.contains(7 * 60));
        assert!(!night.contains(12 * 60));
        assert_eq!(night.minutes_left(23 * 60), 8 * 60);
        assert_eq!(night.minutes_left(12 * 60), 0);
        let lunch = QuietHours {
            from: 12 * 60,
            to: 13 * 60,
        };
        assert!(lunch.contains(12 * 60 + 30));
        assert!(!lunch.contains(13 * 60));
        assert_eq!(lunch.minutes_left(12 * 60 + 30), 30);

        let t = Timestamp(1_800_000_000_000 + 15_000); // 2027-01-15T08:00:15Z
        assert_eq!(
            night.left_at(t, 0),
            Duration::ZERO,
            "08:00 UTC is not quiet"
        );
        // At UTC+15 it is 23:00:15: quiet until 07:00, 7h59m45s away.
        assert_eq!(
            night.left_at(t, 15 * 3600),
            Duration::from_secs(8 * 3600 - 15)
        );
        // At UTC-3 it is 05:00:15.
        assert_eq!(
            night.left_at(t, -3 * 3600),
            Duration::from_secs(2 * 3600 - 15)
        );
    }
}
