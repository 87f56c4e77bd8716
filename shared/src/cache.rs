//! Values read from the store, kept per container for a short while.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Values read from the store, kept for `ttl` per container so that hot paths do not read
/// them on every request: a change reaches them within `ttl` (0 disables the cache).
pub struct TtlCache<V> {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, Arc<V>)>>,
}

impl<V> TtlCache<V> {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// `ENDPOINT_CACHE_SECONDS` (default 10).
    pub fn from_env() -> Self {
        let seconds = std::env::var("ENDPOINT_CACHE_SECONDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10);
        Self::new(Duration::from_secs(seconds))
    }

    /// The cached value of `key`, or `load`'s, cached.
    pub async fn get_or_load<F, Fut, E>(&self, key: &str, load: F) -> Result<Arc<V>, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<V, E>>,
    {
        let cached = self.entries.lock().ok().and_then(|entries| entries.get(key).cloned());
        if let Some((_, value)) = cached.filter(|(read_at, _)| read_at.elapsed() < self.ttl) {
            return Ok(value);
        }
        let value = Arc::new(load().await?);
        if !self.ttl.is_zero()
            && let Ok(mut entries) = self.entries.lock()
        {
            entries.insert(key.to_string(), (Instant::now(), value.clone()));
        }
        Ok(value)
    }
}
