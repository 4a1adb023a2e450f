//! Latency samples and their summary (percentiles by sorting every sample: runs are short, so
//! exact percentiles are cheap and need no histogram crate). Invariant: a summary of no samples
//! is all zeros with `n = 0`, never a panic.

use std::time::Duration;

use serde::Serialize;

/// Every latency observed in one measurement, in nanoseconds.
#[derive(Clone, Debug, Default)]
pub struct Samples(Vec<u64>);

impl Samples {
    pub fn new() -> Self {
        Samples(Vec::new())
    }

    pub fn record(&mut self, d: Duration) {
        self.0.push(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    pub fn extend(&mut self, other: Samples) {
        self.0.extend(other.0);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn summary(&self) -> Latency {
        let mut v = self.0.clone();
        v.sort_unstable();
        let n = v.len();
        if n == 0 {
            return Latency::default();
        }
        let at = |q: f64| {
            // Nearest rank: the smallest sample with at least q of all samples at or below it.
            let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
            us(v[rank - 1])
        };
        let sum: u128 = v.iter().map(|x| u128::from(*x)).sum();
        Latency {
            n: n as u64,
            mean_us: sum as f64 / n as f64 / 1000.0,
            p50_us: at(0.50),
            p99_us: at(0.99),
            p999_us: at(0.999),
            max_us: us(v[n - 1]),
        }
    }
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

/// Percentiles in microseconds.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Latency {
    pub n: u64,
    pub mean_us: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
}

/// A duration in µs as people read it: `87 µs`, `1.42 ms`, `3.1 s`.
pub fn show_us(us: f64) -> String {
    if us < 1000.0 {
        format!("{us:.0} µs")
    } else if us < 1_000_000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{:.2} s", us / 1_000_000.0)
    }
}

/// A rate as people read it: `412k/s`, `9.8k/s`, `512/s`.
pub fn show_rate(per_sec: f64) -> String {
    if per_sec >= 100_000.0 {
        format!("{:.0}k/s", per_sec / 1000.0)
    } else if per_sec >= 1000.0 {
        format!("{:.1}k/s", per_sec / 1000.0)
    } else {
        format!("{per_sec:.0}/s")
    }
}

/// A ratio with two decimals and a trailing ×.
pub fn show_ratio(r: f64) -> String {
    format!("{r:.2}×")
}

/// `n` per `elapsed`, 0 for an empty interval.
pub fn rate(n: u64, elapsed: Duration) -> f64 {
    let s = elapsed.as_secs_f64();
    if s > 0.0 { n as f64 / s } else { 0.0 }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut s = Samples::new();
        for i in 1..=1000u64 {
            s.record(Duration::from_micros(i));
        }
        let l = s.summary();
        assert_eq!(l.n, 1000);
        assert_eq!(l.p50_us, 500.0);
        assert_eq!(l.p99_us, 990.0);
        assert_eq!(l.p999_us, 999.0);
        assert_eq!(l.max_us, 1000.0);
    }

    #[test]
    fn no_samples_summarise_to_zero() {
        let l = Samples::new().summary();
        assert_eq!(l.n, 0);
        assert_eq!(l.max_us, 0.0);
    }

    #[test]
    fn figures_read_naturally() {
        assert_eq!(show_us(87.2), "87 µs");
        assert_eq!(show_us(1420.0), "1.42 ms");
        assert_eq!(show_rate(412_300.0), "412k/s");
        assert_eq!(show_rate(9_840.0), "9.8k/s");
    }
}
