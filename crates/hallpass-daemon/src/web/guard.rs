//! What stands between the internet and the broker: CSRF tokens for every form and rate limits
//! per client address and per link. Invariants: a form is accepted only with a token this
//! process signed for the same page within [`CSRF_MAX_AGE`]; counters live in bounded memory
//! and time comes from the broker's clock.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use hallpass_core::{LinkId, Timestamp};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How long a rendered form may be submitted.
pub const CSRF_MAX_AGE: Duration = Duration::from_secs(2 * 3600);

/// Signs and checks form tokens with the site's key (kept in the store, so a form rendered
/// before a restart still submits after it).
pub struct Csrf {
    key: [u8; 32],
}

impl Csrf {
    /// A fresh random key (tests; the site uses [`Csrf::with_key`] with the stored one).
    #[cfg(test)]
    pub fn new() -> Csrf {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).expect("invariant: the OS random source is available");
        Csrf { key }
    }

    pub fn with_key(key: [u8; 32]) -> Csrf {
        Csrf { key }
    }

    fn mac(&self, purpose: &str, page: &[u8; 32], issued: i64) -> Hmac<Sha256> {
        let mut m =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("invariant: HMAC takes any key size");
        m.update(purpose.as_bytes());
        m.update(&[0]);
        m.update(page);
        m.update(&issued.to_be_bytes());
        m
    }

    /// A token for the form `purpose` on the page whose token hashes to `page`.
    pub fn issue(&self, purpose: &str, page: &[u8; 32], now: Timestamp) -> String {
        let issued = now.as_millis();
        let tag = self.mac(purpose, page, issued).finalize().into_bytes();
        format!("{issued:x}.{}", hex::encode(tag))
    }

    /// Whether `token` was issued for this form and page, recently.
    pub fn check(&self, purpose: &str, page: &[u8; 32], token: &str, now: Timestamp) -> bool {
        let Some((issued, tag)) = token.split_once('.') else {
            return false;
        };
        let (Ok(issued), Ok(tag)) = (i64::from_str_radix(issued, 16), hex::decode(tag)) else {
            return false;
        };
        let age = now.as_millis() - issued;
        let fresh = (-60_000..=CSRF_MAX_AGE.as_millis() as i64).contains(&age);
        fresh && self.mac(purpose, page, issued).verify_slice(&tag).is_ok()
    }
}

/// A fixed-window counter per key.
struct Windows<K> {
    window: Duration,
    limit: u32,
    counts: Mutex<HashMap<K, (Timestamp, u32)>>,
}

/// Keys remembered at most; past this, finished windows are dropped first.
const MAX_KEYS: usize = 100_000;

impl<K: Eq + Hash + Copy> Windows<K> {
    fn new(window: Duration, limit: u32) -> Self {
        Windows {
            window,
            limit,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(retry_after)` when the key is at its limit, without counting a hit.
    fn check(&self, key: K, now: Timestamp) -> Result<(), Duration> {
        let counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match counts.get(&key) {
            Some(&(start, n)) if now < start.plus(self.window) && n >= self.limit => {
                Err(now.until(start.plus(self.window)))
            }
            // Full of live windows: a newcomer could not be counted, so it is not let in.
            None if counts.len() >= MAX_KEYS
                && counts
                    .values()
                    .all(|(start, _)| now < start.plus(self.window)) =>
            {
                Err(self.window)
            }
            _ => Ok(()),
        }
    }

    /// Counts one hit; `Err(retry_after)` when the key is over its limit.
    fn hit(&self, key: K, now: Timestamp) -> Result<(), Duration> {
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if counts.len() >= MAX_KEYS && !counts.contains_key(&key) {
            let window = self.window;
            counts.retain(|_, (start, _)| now < start.plus(window));
            if counts.len() >= MAX_KEYS {
                // Still full of live windows: refuse newcomers rather than grow without bound.
                return Err(self.window);
            }
        }
        let entry = counts.entry(key).or_insert((now, 0));
        if now >= entry.0.plus(self.window) {
            *entry = (now, 0);
        }
        if entry.1 >= self.limit {
            return Err(now.until(entry.0.plus(self.window)));
        }
        entry.1 += 1;
        Ok(())
    }
}

/// The site's rate limits.
pub struct Limits {
    per_address: Windows<IpAddr>,
    per_link: Windows<LinkId>,
}

impl Limits {
    pub fn new(per_minute: u32, per_link_per_hour: u32) -> Limits {
        Limits {
            per_address: Windows::new(Duration::from_secs(60), per_minute),
            per_link: Windows::new(Duration::from_secs(3600), per_link_per_hour),
        }
    }

    pub fn address(&self, ip: IpAddr, now: Timestamp) -> Result<(), Duration> {
        self.per_address.hit(ip, now)
    }

    pub fn link(&self, id: LinkId, now: Timestamp) -> Result<(), Duration> {
        self.per_link.hit(id, now)
    }
}

/// A per-address, per-minute request budget (the SCIM routes' own).
pub struct AddressLimit(Windows<IpAddr>);

impl AddressLimit {
    pub fn new(per_minute: u32) -> AddressLimit {
        AddressLimit(Windows::new(Duration::from_secs(60), per_minute))
    }

    /// Counts one request; `Err(retry_after)` when over budget.
    pub fn hit(&self, ip: IpAddr, now: Timestamp) -> Result<(), Duration> {
        self.0.hit(ip, now)
    }

    /// Whether the address is over budget, without counting (budgets of failures: look
    /// first, count only when one happens).
    pub fn check(&self, ip: IpAddr, now: Timestamp) -> Result<(), Duration> {
        self.0.check(ip, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_are_bound_to_form_page_and_age() {
        let c = Csrf::new();
        let page = [7u8; 32];
        let t0 = Timestamp(1_000_000);
        let tok = c.issue("apply", &page, t0);
        assert!(c.check("apply", &page, &tok, t0));
        assert!(!c.check("release", &page, &tok, t0));
        assert!(!c.check("apply", &[8u8; 32], &tok, t0));
        assert!(!c.check("apply", &page, &tok, t0.plus(CSRF_MAX_AGE * 2)));
        assert!(!c.check("apply", &page, "0.00", t0));
        assert!(!Csrf::new().check("apply", &page, &tok, t0));
    }

    #[test]
    fn windows_limit_and_reset() {
        let w = Windows::new(Duration::from_secs(60), 2);
        let t = Timestamp(0);
        assert!(w.hit(1, t).is_ok());
        assert!(w.hit(1, t).is_ok());
        assert!(w.hit(1, t).is_err());
        assert!(w.hit(2, t).is_ok());
        assert!(w.hit(1, t.plus(Duration::from_secs(60))).is_ok());
    }
}
