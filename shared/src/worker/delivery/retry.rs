//! The retry plan: after an attempt, what happens next. A pure function of the attempt, the
//! endpoint's schedule, the answer, `Retry-After` and the time, so the whole policy is tested
//! without a queue, a clock or a receiver.

use crate::outbound::schedule::MAX_DELAY_SECONDS;
use crate::worker::MAX_VISIBILITY_SECONDS;

/// How one attempt went, as the plan needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempted {
    /// 1 for the first attempt.
    pub number: u32,
    /// The receiver's status; `None` when no answer came (refused, timed out, not sent).
    pub status: Option<u16>,
    /// Seconds the receiver asked to wait (`Retry-After` on 429 or 503).
    pub retry_after: Option<u64>,
    /// Whether the endpoint was active: a disabled endpoint gets no more attempts.
    pub endpoint_active: bool,
    /// Whether another attempt could go differently: not when the destination itself is
    /// refused (a private or metadata address), which no retry changes.
    pub retryable: bool,
}

/// How the worker spaces retries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    /// The factor on the scheduled delay, in [0.9, 1.1): see [`jitter`].
    pub jitter: f64,
    /// Multiplies every delay: 1 in production; tests compress the schedule.
    pub scale: f64,
}

/// What follows an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// 2xx: done.
    Delivered,
    /// Try again at `due_at_ms`. SQS hides a message at most 12 h per step, so the message is
    /// hidden `visibility_seconds` and, back early, hidden again for the rest.
    Retry { due_at_ms: i64, visibility_seconds: u64 },
    /// No more attempts: the delivery failed. `disable` says why the endpoint must stop too.
    GiveUp { disable: Option<&'static str> },
}

/// The plan after `attempt`, under the endpoint's retry schedule (`delays_seconds[i]` before
/// retry `i + 1`), at `now_ms`.
pub fn plan(attempt: Attempted, delays_seconds: &[u64], timing: Timing, now_ms: i64) -> Plan {
    if attempt.status.is_some_and(|code| (200..300).contains(&code)) {
        return Plan::Delivered;
    }
    if !attempt.retryable {
        return Plan::GiveUp { disable: None };
    }
    if attempt.status == Some(410) {
        return Plan::GiveUp {
            disable: Some("the endpoint answered 410 Gone"),
        };
    }
    let index = attempt.number.max(1) as usize - 1;
    let scheduled = match delays_seconds.get(index) {
        Some(delay) if attempt.endpoint_active => *delay,
        _ => return Plan::GiveUp { disable: None },
    };
    let seconds = match attempt.retry_after {
        Some(asked) => asked.min(MAX_DELAY_SECONDS) as f64,
        None => scheduled as f64 * timing.jitter,
    };
    let delay_ms = (seconds * 1000.0 * timing.scale).max(1.0) as i64;
    Plan::Retry {
        due_at_ms: now_ms + delay_ms,
        visibility_seconds: (delay_ms as u64).div_ceil(1000).min(MAX_VISIBILITY_SECONDS),
    }
}

/// Whether an endpoint failing since `failing_since` (epoch seconds) has failed for so long
/// that it must be disabled.
pub fn failing_too_long(failing_since: Option<i64>, now: i64, disable_after_seconds: i64) -> bool {
    failing_since.is_some_and(|since| now - since >= disable_after_seconds)
}

/// A factor in [0.9, 1.1): retries of many deliveries spread out instead of arriving together.
pub fn jitter() -> f64 {
    0.9 + 0.2 * crate::random::fraction()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::schedule::DEFAULT_RETRY_DELAYS;

    const NOW: i64 = 1_800_000_000_000;
    const EXACT: Timing = Timing {
        jitter: 1.0,
        scale: 1.0,
    };

    fn failed(number: u32, status: Option<u16>) -> Attempted {
        Attempted {
            number,
            status,
            retry_after: None,
            endpoint_active: true,
            retryable: true,
        }
    }

    fn due_in_seconds(plan: &Plan) -> i64 {
        match plan {
            Plan::Retry { due_at_ms, .. } => (due_at_ms - NOW) / 1000,
            other => panic!("expected a retry, got {other:?}"),
        }
    }

    #[test]
    fn any_2xx_is_delivered() {
        for code in [200, 201, 204, 299] {
            assert_eq!(
                plan(failed(3, Some(code)), &DEFAULT_RETRY_DELAYS, EXACT, NOW),
                Plan::Delivered
            );
        }
    }

    #[test]
    fn failures_walk_the_schedule_one_delay_per_attempt() {
        let delays: Vec<i64> = (1..=6)
            .map(|n| due_in_seconds(&plan(failed(n, Some(500)), &DEFAULT_RETRY_DELAYS, EXACT, NOW)))
            .collect();
        assert_eq!(delays, [60, 300, 900, 3600, 21_600, 86_400]);
        // Redirects, client errors and no answer at all are retried alike.
        for status in [Some(302), Some(404), Some(429), None] {
            assert_eq!(
                due_in_seconds(&plan(failed(1, status), &DEFAULT_RETRY_DELAYS, EXACT, NOW)),
                60
            );
        }
    }

    #[test]
    fn the_last_attempt_gives_up_without_disabling() {
        let last = DEFAULT_RETRY_DELAYS.len() as u32 + 1;
        assert_eq!(
            plan(failed(last, Some(500)), &DEFAULT_RETRY_DELAYS, EXACT, NOW),
            Plan::GiveUp { disable: None }
        );
        assert_eq!(plan(failed(1, None), &[], EXACT, NOW), Plan::GiveUp { disable: None });
    }

    #[test]
    fn gone_gives_up_at_once_and_disables_the_endpoint() {
        assert_eq!(
            plan(failed(1, Some(410)), &DEFAULT_RETRY_DELAYS, EXACT, NOW),
            Plan::GiveUp {
                disable: Some("the endpoint answered 410 Gone")
            }
        );
    }

    #[test]
    fn a_disabled_endpoint_gets_no_more_attempts() {
        let attempt = Attempted {
            endpoint_active: false,
            ..failed(1, None)
        };
        assert_eq!(
            plan(attempt, &DEFAULT_RETRY_DELAYS, EXACT, NOW),
            Plan::GiveUp { disable: None }
        );
    }

    #[test]
    fn jitter_stays_within_ten_percent_and_moves_the_delay_by_as_much() {
        for _ in 0..1000 {
            let factor = jitter();
            assert!((0.9..1.1).contains(&factor), "{factor}");
            let timing = Timing {
                jitter: factor,
                scale: 1.0,
            };
            let seconds = due_in_seconds(&plan(failed(4, Some(500)), &DEFAULT_RETRY_DELAYS, timing, NOW));
            assert!((3240..3960).contains(&seconds), "{seconds}");
        }
    }

    #[test]
    fn retry_after_replaces_the_schedule_up_to_a_day() {
        let asked = |seconds| Attempted {
            retry_after: Some(seconds),
            ..failed(1, Some(429))
        };
        let jittery = Timing {
            jitter: 1.09,
            scale: 1.0,
        };
        assert_eq!(due_in_seconds(&plan(asked(7), &DEFAULT_RETRY_DELAYS, jittery, NOW)), 7);
        assert_eq!(
            due_in_seconds(&plan(asked(999_999), &DEFAULT_RETRY_DELAYS, jittery, NOW)),
            86_400
        );
        // Still bounded by the schedule's length: Retry-After never adds attempts.
        let last = Attempted {
            retry_after: Some(5),
            ..failed(7, Some(503))
        };
        assert_eq!(
            plan(last, &DEFAULT_RETRY_DELAYS, EXACT, NOW),
            Plan::GiveUp { disable: None }
        );
    }

    #[test]
    fn delays_longer_than_sqs_hides_a_message_are_taken_in_steps() {
        let day = plan(failed(6, Some(500)), &DEFAULT_RETRY_DELAYS, EXACT, NOW);
        assert_eq!(
            day,
            Plan::Retry {
                due_at_ms: NOW + 86_400_000,
                visibility_seconds: MAX_VISIBILITY_SECONDS
            }
        );
        let minute = plan(failed(1, Some(500)), &DEFAULT_RETRY_DELAYS, EXACT, NOW);
        assert!(matches!(
            minute,
            Plan::Retry {
                visibility_seconds: 60,
                ..
            }
        ));
    }

    #[test]
    fn a_compressed_schedule_is_never_due_at_once() {
        let instant = Timing {
            jitter: 1.0,
            scale: 0.0,
        };
        assert_eq!(
            plan(failed(1, Some(500)), &DEFAULT_RETRY_DELAYS, instant, NOW),
            Plan::Retry {
                due_at_ms: NOW + 1,
                visibility_seconds: 1
            }
        );
    }

    #[test]
    fn an_endpoint_is_disabled_once_it_has_failed_for_the_whole_window() {
        assert!(!failing_too_long(None, 1000, 60));
        assert!(!failing_too_long(Some(950), 1000, 60));
        assert!(failing_too_long(Some(940), 1000, 60));
    }

    #[test]
    fn a_refused_destination_is_not_retried() {
        let refused = Attempted {
            retryable: false,
            ..failed(1, None)
        };
        assert_eq!(
            plan(refused, &DEFAULT_RETRY_DELAYS, EXACT, NOW),
            Plan::GiveUp { disable: None }
        );
    }
}
