//! Failed SASL logins, counted per client address, so that nobody can try passwords as
//! fast as the network allows.
//!
//! Two brakes, both on the failure path only (a right password is never slowed):
//! - every failed authentication waits `connection.failed.authentication.delay.ms`
//!   (Kafka's setting, default 100 ms) before its answer and the close;
//! - past `max_failed_authentications` failures from one address within
//!   `failed_authentication_window`, that address's next attempts are refused at once,
//!   without checking the password, until the oldest failure leaves the window.
//!
//! What must stay true:
//! - Memory is bounded: failures older than the window are forgotten, and an address
//!   keeps at most `max` of them.
//! - Only failures count; a success does not reset an address's count (it would let an
//!   attacker with one account reset the brake between guesses at another).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Recent failures per client address.
#[derive(Debug)]
pub struct FailedLogins {
    max: usize,
    window: Duration,
    recent: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

impl FailedLogins {
    pub fn new(max: u32, window: Duration) -> FailedLogins {
        FailedLogins {
            max: usize::try_from(max).unwrap_or(usize::MAX).max(1),
            window,
            recent: Mutex::default(),
        }
    }

    /// `Some(wait)` when `ip` has used up its failures: how long until it may try again.
    pub fn blocked(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let failures = recent.get_mut(&ip)?;
        self.forget_old(failures, now);
        if failures.len() < self.max {
            return None;
        }
        let oldest = *failures.front()?;
        Some((oldest + self.window).saturating_duration_since(now))
    }

    /// Counts one failure of `ip`.
    pub fn record(&self, ip: IpAddr, now: Instant) {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        // Forget addresses whose failures are all old, so the map does not grow.
        if recent.len() > 1024 {
            recent.retain(|_, f| {
                f.back()
                    .is_some_and(|t| now.duration_since(*t) < self.window)
            });
        }
        let failures = recent.entry(ip).or_default();
        self.forget_old(failures, now);
        if failures.len() == self.max {
            failures.pop_front();
        }
        failures.push_back(now);
    }

    fn forget_old(&self, failures: &mut VecDeque<Instant>, now: Instant) {
        while failures
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            failures.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_max_failures_until_the_window_slides() {
        let f = FailedLogins::new(3, Duration::from_secs(60));
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(f.blocked(ip, t0), None);
            f.record(ip, t0 + Duration::from_secs(i));
        }
        assert_eq!(
            f.blocked(ip, t0 + Duration::from_secs(10)),
            Some(Duration::from_secs(50))
        );
        assert_eq!(
            f.blocked(other, t0),
            None,
            "other addresses are not affected"
        );
        assert_eq!(
            f.blocked(ip, t0 + Duration::from_secs(60)),
            None,
            "the first one expired"
        );
    }
}
