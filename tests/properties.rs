//! Properties of the pure parts every delivery and every provider webhook goes through, over
//! generated inputs: the retry plan, and the signature schemes, each checked against the
//! provider's documented recipe computed here with `hmac`, `sha1` and `sha2`, not with
//! Hookgate's code.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use proptest::prelude::*;
use sha2::Sha256;
use shared::outbound::schedule::MAX_DELAY_SECONDS;
use shared::outbound::signing::{seed_signature, standard_signature};
use shared::store::endpoints::SignatureStyle;
use shared::worker::MAX_VISIBILITY_SECONDS;
use shared::worker::delivery::retry::{Attempted, Plan, Timing, jitter, plan};
use time::OffsetDateTime;

const NOW_MS: i64 = 1_800_000_000_000;

/// HMAC-SHA1, which Twilio signs with.
fn sha1_recipe(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).unwrap();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

fn recipe(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(NOW_MS / 1000).unwrap()
}

/// The body with one bit of one byte flipped.
fn flipped(body: &[u8], index: usize, bit: u8) -> Vec<u8> {
    let mut changed = body.to_vec();
    let i = index % changed.len();
    changed[i] ^= 1 << (bit % 8);
    changed
}

fn attempt(number: u32, status: Option<u16>, retry_after: Option<u64>) -> Attempted {
    Attempted {
        number,
        status,
        retry_after,
        endpoint_active: true,
        retryable: true,
    }
}

proptest! {
    #[test]
    fn a_2xx_is_delivered_whatever_else_holds(number in 1u32..20, status in 200u16..300, delays in prop::collection::vec(1u64..100_000, 0..10)) {
        prop_assert_eq!(plan(attempt(number, Some(status), None), &delays, Timing { jitter: 1.0, scale: 1.0 }, NOW_MS), Plan::Delivered);
    }

    #[test]
    fn a_failure_within_the_schedule_retries_within_the_jitter_of_its_delay(
        delays in prop::collection::vec(1u64..86_400, 1..10),
        pick in any::<prop::sample::Index>(),
        status in prop::option::of(prop_oneof![300u16..410, 411u16..600]),
        factor in 0.9f64..1.1,
    ) {
        let number = pick.index(delays.len()) as u32 + 1;
        let delay = delays[number as usize - 1] as f64 * 1000.0;
        match plan(attempt(number, status, None), &delays, Timing { jitter: factor, scale: 1.0 }, NOW_MS) {
            Plan::Retry { due_at_ms, visibility_seconds } => {
                prop_assert!(due_at_ms > NOW_MS);
                prop_assert!((due_at_ms - NOW_MS) as f64 >= (delay * 0.9).floor());
                prop_assert!(((due_at_ms - NOW_MS) as f64) < delay * 1.1 + 1.0);
                prop_assert!((1..=MAX_VISIBILITY_SECONDS).contains(&visibility_seconds));
            }
            other => prop_assert!(false, "{:?}", other),
        }
    }

    #[test]
    fn no_answer_ever_adds_an_attempt_to_the_schedule(
        delays in prop::collection::vec(1u64..86_400, 0..10),
        beyond in 1u32..5,
        status in prop::option::of(300u16..600),
        retry_after in prop::option::of(any::<u64>()),
    ) {
        let number = delays.len() as u32 + beyond;
        let result = plan(attempt(number, status, retry_after), &delays, Timing { jitter: 1.0, scale: 1.0 }, NOW_MS);
        prop_assert!(matches!(result, Plan::GiveUp { .. }), "{:?}", result);
    }

    #[test]
    fn retry_after_is_honoured_up_to_a_day(delays in prop::collection::vec(1u64..86_400, 1..10), asked in any::<u64>()) {
        match plan(attempt(1, Some(429), Some(asked)), &delays, Timing { jitter: 1.05, scale: 1.0 }, NOW_MS) {
            Plan::Retry { due_at_ms, .. } => {
                let expected = (asked.min(MAX_DELAY_SECONDS) * 1000).max(1) as i64;
                prop_assert_eq!(due_at_ms - NOW_MS, expected);
            }
            other => prop_assert!(false, "{:?}", other),
        }
    }

    #[test]
    fn a_failure_not_worth_retrying_or_to_an_inactive_endpoint_gives_up_at_once(
        delays in prop::collection::vec(1u64..86_400, 1..10),
        pick in any::<prop::sample::Index>(),
        status in prop::option::of(300u16..600),
        retry_after in prop::option::of(any::<u64>()),
        retryable in any::<bool>(),
    ) {
        let number = pick.index(delays.len()) as u32 + 1;
        let attempted = Attempted { endpoint_active: !retryable, retryable, ..attempt(number, status, retry_after) };
        let result = plan(attempted, &delays, Timing { jitter: 1.0, scale: 1.0 }, NOW_MS);
        prop_assert!(matches!(result, Plan::GiveUp { .. }), "{:?}", result);
    }

    #[test]
    fn a_scaled_schedule_is_the_schedule_scaled(
        delays in prop::collection::vec(1u64..86_400, 1..10),
        pick in any::<prop::sample::Index>(),
        scale in 0.0001f64..1.0,
    ) {
        let number = pick.index(delays.len()) as u32 + 1;
        let expected = ((delays[number as usize - 1] as f64 * 1000.0 * scale).max(1.0)) as i64;
        match plan(attempt(number, Some(500), None), &delays, Timing { jitter: 1.0, scale }, NOW_MS) {
            Plan::Retry { due_at_ms, visibility_seconds } => {
                prop_assert_eq!(due_at_ms - NOW_MS, expected);
                // Visible again no earlier than due, or than SQS's longest wait.
                prop_assert!(visibility_seconds * 1000 >= (expected as u64).min(MAX_VISIBILITY_SECONDS * 1000));
            }
            other => prop_assert!(false, "{:?}", other),
        }
    }

    #[test]
    fn outbound_signatures_are_the_documented_recipes(secret in "[A-Za-z0-9+/]{8,40}", raw in prop::collection::vec(any::<u8>(), 32), id in "msg_[0-9A-Z]{10}", ts in 0i64..4_000_000_000, body in prop::collection::vec(any::<u8>(), 0..512)) {
        let hex = hex::encode(recipe(secret.as_bytes(), &[&body]));
        prop_assert_eq!(seed_signature(&secret, &body, SignatureStyle::Hex), hex.clone());
        prop_assert_eq!(seed_signature(&secret, &body, SignatureStyle::Sha256), format!("sha256={hex}"));
        let whsec = format!("whsec_{}", STANDARD.encode(&raw));
        let standard = recipe(&raw, &[id.as_bytes(), b".", ts.to_string().as_bytes(), b".", &body]);
        prop_assert_eq!(standard_signature(&whsec, &id, ts, &body), format!("v1,{}", STANDARD.encode(standard)));
    }

    #[test]
    fn stripe_accepts_its_recipe_among_other_v1s_and_refuses_a_flipped_byte(
        secret in "whsec_[A-Za-z0-9]{16,40}", body in prop::collection::vec(any::<u8>(), 1..512),
        age in -299i64..299, decoys in prop::collection::vec("[0-9a-f]{64}", 0..3), index in any::<usize>(), bit in any::<u8>(),
    ) {
        let t = NOW_MS / 1000 - age;
        let v1 = hex::encode(recipe(secret.as_bytes(), &[t.to_string().as_bytes(), b".", &body]));
        let mut header = format!("t={t}");
        for decoy in &decoys {
            header.push_str(&format!(",v1={decoy}"));
        }
        header.push_str(&format!(",v1={v1},v0=ignored"));
        let verify = shared::inbound::stripe::verify_signature;
        prop_assert!(verify(secret.as_bytes(), &body, &header, now()).is_ok());
        prop_assert!(verify(secret.as_bytes(), &flipped(&body, index, bit), &header, now()).is_err());
        let old = NOW_MS / 1000 - 301;
        let stale = format!("t={old},v1={}", hex::encode(recipe(secret.as_bytes(), &[old.to_string().as_bytes(), b".", &body])));
        prop_assert!(verify(secret.as_bytes(), &body, &stale, now()).is_err());
    }

    #[test]
    fn svix_accepts_any_of_its_v1_values_and_refuses_a_flipped_byte_or_an_old_timestamp(
        raw in prop::collection::vec(any::<u8>(), 24..40), id in "msg_[0-9A-Za-z]{8,24}", body in prop::collection::vec(any::<u8>(), 1..512),
        age in -299i64..299, decoys in prop::collection::vec(prop::collection::vec(any::<u8>(), 32), 0..3), index in any::<usize>(), bit in any::<u8>(),
    ) {
        let secret = format!("whsec_{}", STANDARD.encode(&raw));
        let ts = (NOW_MS / 1000 - age).to_string();
        let right = STANDARD.encode(recipe(&raw, &[id.as_bytes(), b".", ts.as_bytes(), b".", &body]));
        let mut header: Vec<String> = decoys.iter().map(|d| format!("v1,{}", STANDARD.encode(d))).collect();
        header.insert(header.len() / 2, format!("v1,{right}"));
        let header = header.join(" ");
        let verify = shared::inbound::email::resend::verify_svix;
        prop_assert!(verify(&secret, &id, &ts, &header, &body, now()).is_ok());
        prop_assert!(verify(&secret, &id, &ts, &header, &flipped(&body, index, bit), now()).is_err());
        let other_id = format!("{id}x");
        prop_assert!(verify(&secret, &other_id, &ts, &header, &body, now()).is_err());
        let old = (NOW_MS / 1000 - 301).to_string();
        let stale = format!("v1,{}", STANDARD.encode(recipe(&raw, &[id.as_bytes(), b".", old.as_bytes(), b".", &body])));
        prop_assert!(verify(&secret, &id, &old, &stale, &body, now()).is_err());
    }

    #[test]
    fn shopify_accepts_its_recipe_and_refuses_a_flipped_byte(
        secret in "[0-9a-f]{32,64}", body in prop::collection::vec(any::<u8>(), 1..512), index in any::<usize>(), bit in any::<u8>(),
    ) {
        let header = STANDARD.encode(recipe(secret.as_bytes(), &[&body]));
        let matches = shared::inbound::shopify::signature_matches;
        prop_assert!(matches(secret.as_bytes(), &body, &header));
        prop_assert!(!matches(secret.as_bytes(), &flipped(&body, index, bit), &header));
        let other_secret = format!("{secret}x");
        prop_assert!(!matches(other_secret.as_bytes(), &body, &header));
    }

    #[test]
    fn meta_accepts_its_recipe_and_refuses_a_flipped_byte(
        secret in "[0-9a-f]{32}", body in prop::collection::vec(any::<u8>(), 1..512), index in any::<usize>(), bit in any::<u8>(),
    ) {
        let header = format!("sha256={}", hex::encode(recipe(secret.as_bytes(), &[&body])));
        let matches = shared::inbound::meta::signature_matches;
        prop_assert!(matches(secret.as_bytes(), &body, &header));
        prop_assert!(!matches(secret.as_bytes(), &flipped(&body, index, bit), &header));
        prop_assert!(!matches(secret.as_bytes(), &body, header.trim_start_matches("sha256=")), "the prefix is part of it");
    }

    /// Twilio's recipe: HMAC-SHA1 under the auth token of the URL, then each POST parameter's
    /// name and value in the order of their names, base64.
    #[test]
    fn twilio_signs_the_url_and_the_parameters_sorted_by_name(
        token in "[0-9a-f]{32}", path in "/[a-z/]{0,20}",
        parameters in prop::collection::btree_map("[A-Za-z]{1,12}", "[ -~]{0,40}", 0..8),
    ) {
        let url = format!("https://hooks.example.com{path}");
        let mut parts: Vec<&[u8]> = vec![url.as_bytes()];
        for (name, value) in &parameters {
            parts.extend([name.as_bytes(), value.as_bytes()]);
        }
        let expected = STANDARD.encode(sha1_recipe(token.as_bytes(), &parts));
        // As the form sent them: in any order.
        let mut sent: Vec<(String, String)> = parameters.into_iter().collect();
        sent.reverse();
        prop_assert_eq!(shared::inbound::sms::signature(&token, &url, &sent), expected);
    }

    #[test]
    fn slack_accepts_its_recipe_and_refuses_a_flipped_byte_or_an_old_timestamp(
        secret in "[0-9a-f]{32}", body in prop::collection::vec(any::<u8>(), 1..512), age in -299i64..299,
        index in any::<usize>(), bit in any::<u8>(),
    ) {
        let ts = (NOW_MS / 1000 - age).to_string();
        let signature = format!("v0={}", hex::encode(recipe(secret.as_bytes(), &[b"v0:", ts.as_bytes(), b":", &body])));
        let verify = shared::inbound::slack::verify_signature;
        prop_assert!(verify(secret.as_bytes(), &ts, &body, &signature, now()).is_ok());
        prop_assert!(verify(secret.as_bytes(), &ts, &flipped(&body, index, bit), &signature, now()).is_err());
        let old = (NOW_MS / 1000 - 301).to_string();
        let old_signature = format!("v0={}", hex::encode(recipe(secret.as_bytes(), &[b"v0:", old.as_bytes(), b":", &body])));
        prop_assert!(verify(secret.as_bytes(), &old, &body, &old_signature, now()).is_err());
    }
}

#[test]
fn jitter_stays_within_ten_percent() {
    for _ in 0..10_000 {
        let factor = jitter();
        assert!((0.9..1.1).contains(&factor), "{factor}");
    }
}
