//! Per-user rate limit: a token bucket per user id, refilled at `per_second` up to `burst`.
//! Local to one ingress instance: N instances behind a balancer allow up to N times the rate.

use crate::settings::RateLimitSettings;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// Buckets kept before full ones are forgotten (a full bucket is the same as no bucket).
const MAX_TRACKED_USERS: usize = 100_000;

/// Token buckets by user id.
#[derive(Debug)]
pub struct RateLimiter {
    settings: Option<RateLimitSettings>,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    refilled_at: Instant,
}

impl RateLimiter {
    /// A limiter with `settings`; `None` allows everything.
    pub fn new(settings: Option<RateLimitSettings>) -> Self {
        Self {
            settings: settings.filter(|s| s.per_second > 0.0 && s.burst > 0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token from `user`'s bucket.
    ///
    /// # Errors
    /// How long until a token is there, when the bucket is empty.
    pub fn check(&self, user: &str) -> Result<(), Duration> {
        let Some(settings) = self.settings else {
            return Ok(());
        };
        let burst = f64::from(settings.burst);
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= MAX_TRACKED_USERS && !buckets.contains_key(user) {
            buckets.retain(|_, bucket| refill(*bucket, now, settings.per_second, burst) < burst);
        }
        let bucket = buckets.entry(user.to_owned()).or_insert(Bucket {
            tokens: burst,
            refilled_at: now,
        });
        bucket.tokens = refill(*bucket, now, settings.per_second, burst);
        bucket.refilled_at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let missing = 1.0 - bucket.tokens;
            Err(Duration::try_from_secs_f64(missing / settings.per_second).unwrap_or(Duration::MAX))
        }
    }
}

fn refill(bucket: Bucket, now: Instant, per_second: f64, burst: f64) -> f64 {
    let elapsed = now
        .saturating_duration_since(bucket.refilled_at)
        .as_secs_f64();
    (bucket.tokens + elapsed * per_second).min(burst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_is_allowed_then_the_rate() {
        let limiter = RateLimiter::new(Some(RateLimitSettings {
            per_second: 2.0,
            burst: 3,
        }));
        for _ in 0..3 {
            assert!(limiter.check("alice").is_ok());
        }
        let wait = limiter.check("alice").unwrap_err();
        assert!(wait <= Duration::from_millis(500), "{wait:?}");
        assert!(limiter.check("bob").is_ok(), "buckets are per user");
        tokio::time::advance(Duration::from_millis(500)).await;
        assert!(limiter.check("alice").is_ok());
        assert!(limiter.check("alice").is_err());
    }

    #[test]
    fn no_settings_no_limit() {
        let limiter = RateLimiter::new(None);
        for _ in 0..1000 {
            assert!(limiter.check("alice").is_ok());
        }
    }
}
