//! Daemon configuration: arbitrary text through `hallpass_daemon::config::Config::parse`.
//!
//! Checks: parsing never panics; a refusal is a `Parse` error naming the file; a config that
//! parses satisfies its validation rules and can be used the way the daemon uses it without
//! overflowing (the store's cache size in bytes, the connector semaphore, the retry backoff and
//! its jitter).
#![no_main]

use std::path::Path;
use std::time::Duration;

use hallpass_daemon::config::{Config, ConfigError};
use libfuzzer_sys::fuzz_target;

const PATH: &str = "/etc/hallpass/fuzz-hallpassd.toml";

/// tokio's `Semaphore::MAX_PERMITS` (the broker's connector semaphore panics above it).
const MAX_PERMITS: usize = usize::MAX >> 3;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse(text, Path::new(PATH)) {
        Err(e) => {
            assert!(matches!(e, ConfigError::Parse { .. }), "{e:?}");
            let shown = e.to_string();
            assert!(
                shown.contains(PATH),
                "error does not name the file: {shown}"
            );
        }
        Ok(cfg) => {
            assert!(cfg.store.cache_mb >= 1);
            assert!(!cfg.organisation.trim().is_empty());
            assert!(cfg.invites.ttl >= Duration::from_secs(60));
            // server::run: `cache_mb * 1024 * 1024` bytes for sled.
            assert!(
                cfg.store.cache_mb.checked_mul(1024 * 1024).is_some(),
                "store.cache_mb = {} overflows in bytes",
                cfg.store.cache_mb
            );
            // Broker::new: `Semaphore::new(max_concurrent)`; expiry: `max_concurrent * 2`.
            let slots = cfg.connectors.max_concurrent;
            assert!(
                (1..=MAX_PERMITS).contains(&slots),
                "connectors.max_concurrent = {slots}"
            );
            assert!(slots.checked_mul(2).is_some());
            // expiry: `jitter(backoff(attempts, retry_initial, retry_max))`, jitter scaling by
            // up to 1.2 with `Duration::mul_f64`, which panics on overflow.
            let (initial, max) = (cfg.expiry.retry_initial, cfg.expiry.retry_max);
            assert!(!initial.is_zero() && initial <= max);
            for attempt in [0, 1, 7, 31, u32::MAX] {
                let d = hallpass_core::grant::backoff(attempt, initial, max);
                assert!(d <= max && d >= initial.min(max));
                assert!(
                    Duration::try_from_secs_f64(d.as_secs_f64() * 1.2).is_ok(),
                    "retry delay {d:?} overflows once jittered"
                );
            }
            if let Some(mode) = cfg.paths.socket_mode {
                assert!(mode <= 0o777);
            }
        }
    }
});
