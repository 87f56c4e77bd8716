//! The retry schedule an endpoint's `retry_policy` describes: the delay before each retry.
//! The worker's retry plan (`worker::delivery::retry`) walks it.

/// The seeds' schedule: 1 min, 5 min, 15 min, 1 h, 6 h, 24 h.
pub const DEFAULT_RETRY_DELAYS: [u64; 6] = [60, 300, 900, 3600, 21_600, 86_400];
/// No delay grows past a day.
pub const MAX_DELAY_SECONDS: u64 = 86_400;
/// Retries after the first attempt, at the most.
pub const MAX_RETRIES: usize = 8;
/// The range of `backoff_multiplier`.
pub const BACKOFF_MULTIPLIERS: std::ops::RangeInclusive<f64> = 1.0..=10.0;

/// Delays of `retries` retries: the default schedule (its last delay repeated), or from one
/// minute growing by `multiplier`, capped at a day.
pub fn retry_delays(retries: usize, multiplier: Option<f64>) -> Vec<u64> {
    match multiplier {
        None => (0..retries)
            .map(|i| DEFAULT_RETRY_DELAYS[i.min(DEFAULT_RETRY_DELAYS.len() - 1)])
            .collect(),
        Some(factor) => (0..retries)
            .map(|i| ((60.0 * factor.powi(i as i32)) as u64).min(MAX_DELAY_SECONDS))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schedule_repeats_its_last_delay_and_multipliers_cap_at_a_day() {
        assert_eq!(retry_delays(6, None), DEFAULT_RETRY_DELAYS);
        assert_eq!(retry_delays(8, None)[6..], [86_400, 86_400]);
        assert_eq!(retry_delays(3, Some(2.0)), [60, 120, 240]);
        assert_eq!(retry_delays(8, Some(10.0))[4..], [86_400; 4]);
        assert!(retry_delays(0, None).is_empty());
    }
}
