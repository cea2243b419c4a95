//! Rate limits: how many attempts one client address, or one e-mail address, may make
//! per minute (token buckets). Bounded in memory: when too many keys are held, the
//! full buckets (those that would allow everything anyway) are forgotten first.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys kept at most before full buckets are dropped.
const MAX_KEYS: usize = 100_000;

#[derive(Debug)]
pub struct RateLimit {
    per_minute: u32,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimit {
    /// `per_minute` attempts a minute, all of them at once at most; 0 allows all.
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one attempt for `key`; false when its bucket is empty.
    pub fn allow(&self, key: &str, now: Instant) -> bool {
        if self.per_minute == 0 {
            return true;
        }
        let capacity = f64::from(self.per_minute);
        let rate = capacity / 60.0;
        // Buckets are plain numbers: a panic elsewhere cannot leave them unusable.
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_KEYS && !buckets.contains_key(key) {
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate < capacity
            });
            if buckets.len() >= MAX_KEYS {
                // Every client is active: refuse new keys rather than grow.
                return false;
            }
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let refill = now.saturating_duration_since(bucket.at).as_secs_f64() * rate;
        bucket.tokens = (bucket.tokens + refill).min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// How long until one more attempt is allowed, for `Retry-After`.
pub fn retry_after(per_minute: u32) -> Duration {
    Duration::from_secs(60 / u64::from(per_minute.max(1)).min(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_empties_and_refills() {
        let limit = RateLimit::new(3);
        let t0 = Instant::now();
        assert!(limit.allow("a", t0));
        assert!(limit.allow("a", t0));
        assert!(limit.allow("a", t0));
        assert!(!limit.allow("a", t0));
        assert!(limit.allow("b", t0), "keys are separate");
        assert!(
            limit.allow("a", t0 + Duration::from_secs(20)),
            "one back after 20 s"
        );
        assert!(!limit.allow("a", t0 + Duration::from_secs(20)));
        assert!(RateLimit::new(0).allow("a", t0));
    }
}
