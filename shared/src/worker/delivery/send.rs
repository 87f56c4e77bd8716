//! One attempt: filter the payload, sign the exact bytes, POST them through the SSRF-guarded
//! client, and say how it went.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::DeliveryWorker;
use crate::clock::rfc3339;
use crate::outbound::DeliveryMessage;
use crate::outbound::matching::include_fields;
use crate::outbound::signing::signature_headers;
use crate::outbound::ssrf::{AddressPolicy, DestinationRefused, GuardedResolver};
use crate::store::deliveries::Attempt;
use crate::store::endpoints::Endpoint;

/// What one attempt produced.
pub struct Sent {
    pub attempt: Attempt,
    /// `Retry-After` seconds, when a 429 or 503 carried it.
    pub retry_after: Option<u64>,
    pub payload_size: usize,
    /// The destination was refused (a non-public address): no retry can reach it.
    pub destination_refused: bool,
}

impl Sent {
    /// An attempt that never reached the receiver.
    pub fn not_sent(at: OffsetDateTime, error: impl Into<String>, payload_size: usize) -> Self {
        Self {
            attempt: Attempt {
                at: rfc3339(at),
                response_code: None,
                response_time_ms: 0,
                error: Some(error.into()),
                response_body: None,
            },
            retry_after: None,
            payload_size,
            destination_refused: false,
        }
    }

    /// An attempt refused before it left: the destination is not one deliveries may reach.
    fn refused(at: OffsetDateTime, error: impl Into<String>, payload_size: usize) -> Self {
        Self {
            destination_refused: true,
            ..Self::not_sent(at, error, payload_size)
        }
    }
}

/// The HTTP client for deliveries: no redirects (a redirect could point anywhere), a timeout,
/// and a resolver that refuses non-public addresses.
pub fn delivery_http_client(policy: Arc<AddressPolicy>, timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver { policy }))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .user_agent(concat!("Hookgate-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a TLS backend is compiled in")
}

/// One event as sent. Its fields are in the order `serde_json` sorts an object's keys, as the
/// envelope was first written; it borrows the event's data instead of copying it into a `Value`.
#[derive(Serialize)]
struct Envelope<'a> {
    data: Cow<'a, Value>,
    event: &'a str,
    timestamp: &'a str,
    webhook_id: &'a str,
}

impl<'a> Envelope<'a> {
    fn of(endpoint: &'a Endpoint, event: &'a str, timestamp: &'a str, data: &'a Value) -> Self {
        Self {
            data: include_fields(data, &endpoint.config.include_fields),
            event,
            timestamp,
            webhook_id: &endpoint.endpoint_id,
        }
    }
}

/// The body sent: the `{event, timestamp, webhook_id, data}` envelope (an array of them for a
/// batch), `data` cut down to the endpoint's `include_fields`.
pub fn payload(endpoint: &Endpoint, message: &DeliveryMessage) -> Vec<u8> {
    let body = if message.batch.is_empty() {
        serde_json::to_vec(&Envelope::of(
            endpoint,
            &message.event,
            &message.timestamp,
            &message.data,
        ))
    } else {
        let events: Vec<Envelope> = message
            .batch
            .iter()
            .map(|e| Envelope::of(endpoint, &e.event, &e.timestamp, &e.data))
            .collect();
        serde_json::to_vec(&events)
    };
    body.unwrap_or_default()
}

/// Signs and POSTs the delivery to the endpoint.
pub async fn send(worker: &DeliveryWorker, endpoint: &Endpoint, message: &DeliveryMessage) -> Sent {
    let now = worker.clock.now();
    let body = payload(endpoint, message);
    let size = body.len();
    match signed_request(worker, endpoint, message, body, now) {
        Ok(request) => post(request, now, size).await,
        Err(refused) => Sent::refused(now, refused, size),
    }
}

/// The POST to the endpoint's URL, signed over `body` with its secret (and, during a
/// rotation's grace period, the previous one), with its bearer token when it has one.
fn signed_request(
    worker: &DeliveryWorker,
    endpoint: &Endpoint,
    message: &DeliveryMessage,
    body: Vec<u8>,
    now: OffsetDateTime,
) -> Result<reqwest::RequestBuilder, String> {
    let secret = worker
        .secrets
        .open(&endpoint.sealed_secret)
        .ok_or("the signing secret cannot be decrypted")?;
    let previous = endpoint
        .sealed_previous_secret
        .as_deref()
        .filter(|_| {
            endpoint
                .previous_secret_until
                .is_some_and(|until| until > now.unix_timestamp())
        })
        .and_then(|sealed| worker.secrets.open(sealed));
    let url = destination(worker, &endpoint.config.url)?;
    let mut request = worker
        .http
        .post(url)
        .header("content-type", "application/json")
        .header("x-hookgate-event", &message.event);
    for (name, value) in signature_headers(
        &secret,
        previous.as_deref(),
        endpoint.config.signature_style,
        &message.delivery_id,
        now.unix_timestamp(),
        &body,
    ) {
        request = request.header(name, value);
    }
    if let Some(token) = endpoint
        .sealed_token
        .as_deref()
        .and_then(|sealed| worker.secrets.open(sealed))
    {
        request = request.bearer_auth(token);
    }
    Ok(request.body(body))
}

/// How much of a receiver's answer is kept with the attempt.
const ANSWER_EXCERPT_BYTES: usize = 4096;

/// The first [`ANSWER_EXCERPT_BYTES`] of the answer, read no further (a receiver may answer a
/// lot); `None` when it is empty.
async fn answer_excerpt(mut response: reqwest::Response) -> Option<String> {
    let mut kept: Vec<u8> = Vec::new();
    while kept.len() < ANSWER_EXCERPT_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => kept.extend_from_slice(&chunk[..chunk.len().min(ANSWER_EXCERPT_BYTES - kept.len())]),
            _ => break,
        }
    }
    (!kept.is_empty()).then(|| String::from_utf8_lossy(&kept).into_owned())
}

/// Sends the request and says how it went.
async fn post(request: reqwest::RequestBuilder, now: OffsetDateTime, payload_size: usize) -> Sent {
    let started = Instant::now();
    let response = request.send().await;
    let response_time_ms = started.elapsed().as_millis() as u64;
    let (response_code, retry_after, error, response_body) = match response {
        Ok(response) => {
            let code = response.status().as_u16();
            let retry_after = matches!(code, 429 | 503)
                .then(|| retry_after_seconds(response.headers()))
                .flatten();
            (Some(code), retry_after, None, answer_excerpt(response).await)
        }
        Err(error) => (None, None, Some(describe(&error)), None),
    };
    let destination_refused = matches!(&error, Some(Described { refused: true, .. }));
    let error = error.map(|described| described.text);
    Sent {
        attempt: Attempt {
            at: rfc3339(now),
            response_code,
            response_time_ms,
            error,
            response_body,
        },
        retry_after,
        payload_size,
        destination_refused,
    }
}

/// The endpoint's URL, refused when it names a non-public address literally (a literal IP
/// skips DNS, so the resolver's check is made here for it).
fn destination(worker: &DeliveryWorker, url: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(url).map_err(|_| "the endpoint URL is invalid".to_string())?;
    let literal = match url.host() {
        Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
        _ => None,
    };
    if literal.is_some_and(|ip| !worker.policy.permits(ip)) {
        let host = url.host_str().unwrap_or_default();
        return Err(DestinationRefused(format!("{host} is not a public address")).to_string());
    }
    Ok(url)
}

/// `Retry-After` in seconds (the HTTP-date form is not honoured: the schedule applies).
fn retry_after_seconds(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    headers.get("retry-after")?.to_str().ok()?.trim().parse::<u64>().ok()
}

/// A transport error in words, and whether it was the address guard refusing the destination.
struct Described {
    text: String,
    refused: bool,
}

fn describe(error: &reqwest::Error) -> Described {
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(current) = source {
        if let Some(refused) = current.downcast_ref::<DestinationRefused>() {
            return Described {
                text: refused.to_string(),
                refused: true,
            };
        }
        source = current.source();
    }
    let text = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    Described {
        text: text.to_string(),
        refused: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::BatchedEvent;
    use crate::store::endpoints::{EndpointConfig, RetryPolicy};
    use serde_json::json;

    fn endpoint(include_fields: &[&str]) -> Endpoint {
        Endpoint {
            org_id: "org_1".into(),
            endpoint_id: "wh_1".into(),
            config: EndpointConfig {
                name: "n".into(),
                url: "https://example.com/hook".into(),
                events: vec!["*".into()],
                authentication: None,
                retry_policy: RetryPolicy {
                    delays_seconds: vec![60],
                },
                conditions: Default::default(),
                include_fields: include_fields.iter().map(|f| f.to_string()).collect(),
                batch_settings: None,
                signature_style: Default::default(),
            },
            status: "active".into(),
            disabled_reason: None,
            sealed_secret: String::new(),
            sealed_previous_secret: None,
            previous_secret_until: None,
            sealed_token: None,
            failing_since: None,
            created_at: String::new(),
            updated_at: String::new(),
            stats: Default::default(),
        }
    }

    fn message(data: Value, batch: Vec<BatchedEvent>) -> DeliveryMessage {
        DeliveryMessage {
            org_id: "org_1".into(),
            endpoint_id: "wh_1".into(),
            delivery_id: "msg_1".into(),
            event: "order.upserted".into(),
            timestamp: "2026-01-15T10:30:00Z".into(),
            data,
            batch,
        }
    }

    /// A name (not a literal address) that resolves only to refused addresses is refused by the
    /// resolver, deep in the client's error: the attempt must still say so, and be marked
    /// refused, so that it fails at once instead of running through the retry schedule.
    #[tokio::test]
    async fn a_name_that_resolves_only_to_refused_addresses_is_a_refused_destination() {
        let client = delivery_http_client(Arc::new(AddressPolicy::default()), Duration::from_secs(5));
        let now = OffsetDateTime::now_utc();
        let sent = post(client.post("http://localhost:9/hook").body("{}"), now, 2).await;
        assert!(sent.destination_refused, "{:?}", sent.attempt);
        assert_eq!(
            sent.attempt.error.as_deref(),
            Some("destination refused: localhost resolves only to non-public addresses")
        );
        assert_eq!(sent.attempt.response_code, None);
    }

    /// The bytes receivers verify signatures over: as a `json!` envelope serializes them.
    #[test]
    fn the_payload_is_the_envelope_as_json_writes_it() {
        let data = json!({"order_number": "4521", "total": 79.9, "customer": {"email": "a@b.c", "tags": ["vip"]}, "note": "é\"\n"});
        let expected = |data: &Value| json!({"event": "order.upserted", "timestamp": "2026-01-15T10:30:00Z", "webhook_id": "wh_1", "data": data});
        assert_eq!(
            payload(&endpoint(&[]), &message(data.clone(), Vec::new())),
            serde_json::to_vec(&expected(&data)).unwrap()
        );
        assert_eq!(
            payload(&endpoint(&["customer.email"]), &message(data.clone(), Vec::new())),
            serde_json::to_vec(&expected(&json!({"customer": {"email": "a@b.c"}}))).unwrap()
        );
        let event = BatchedEvent {
            id: "01J".into(),
            event: "order.upserted".into(),
            timestamp: "2026-01-15T10:30:00Z".into(),
            data: data.clone(),
        };
        assert_eq!(
            payload(&endpoint(&[]), &message(Value::Null, vec![event.clone(), event])),
            serde_json::to_vec(&json!([expected(&data), expected(&data)])).unwrap()
        );
    }
}
