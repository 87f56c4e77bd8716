//! `GET` and `HEAD /api/health` (no auth): can this deployment reach what it depends on?
//! Each dependency is probed with one cheap call, all at once, each under a deadline.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::aws::secrets_manager::SecretsManager;
use crate::aws::sqs::Sqs;
use crate::clock::{Clock, rfc3339};
use crate::http::{Route, error_response, find_route, json_response};
use crate::runtime::{Error, required_env};
use crate::store::Store;
use crate::store::dynamodb::AttributeValue;

/// A probe slower than this marks its dependency `degraded`.
const SLOW_PROBE: Duration = Duration::from_millis(1000);
/// A probe that has not answered by then marks its dependency `unhealthy`.
const PROBE_DEADLINE: Duration = Duration::from_secs(3);

/// The dependencies to probe, built once per container.
pub struct HealthProbes {
    pub store: Store,
    pub sqs: Sqs,
    pub queue_url: String,
    pub secrets: SecretsManager,
    pub secret_id: String,
    pub started: Instant,
}

impl HealthProbes {
    pub fn from_env(config: &crate::aws::AwsConfig) -> Result<Self, Error> {
        Ok(Self {
            store: Store::from_config(config, required_env("TABLE_NAME")?)?,
            sqs: Sqs::from_config(config)?,
            queue_url: required_env("DELIVERY_QUEUE_URL")?,
            secrets: SecretsManager::from_config(config)?,
            secret_id: required_env("PEPPER_SECRET_ID")?,
            started: Instant::now(),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Healthy,
    Degraded,
    Unhealthy,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub status: HealthStatus,
    pub latency_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthReport {
    /// `healthy`, `degraded` (a dependency is slow) or `unhealthy` (answered with 503).
    pub status: HealthStatus,
    pub version: String,
    /// Seconds since this container started.
    pub uptime: f64,
    pub total_ms: u64,
    /// `dynamodb`, `sqs` and `secretsmanager`.
    pub checks: BTreeMap<String, Check>,
    pub timestamp: String,
}

async fn probe<F, T, E>(call: F) -> Check
where
    F: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let started = Instant::now();
    let outcome = tokio::time::timeout(PROBE_DEADLINE, call).await;
    let latency = started.elapsed();
    let latency_ms = latency.as_millis() as u64;
    match outcome {
        Ok(Ok(_)) if latency > SLOW_PROBE => Check {
            status: HealthStatus::Degraded,
            latency_ms,
            detail: Some("Slow response time".into()),
        },
        Ok(Ok(_)) => Check {
            status: HealthStatus::Healthy,
            latency_ms,
            detail: None,
        },
        Ok(Err(error)) => {
            tracing::warn!(%error, "health probe failed");
            Check {
                status: HealthStatus::Unhealthy,
                latency_ms,
                detail: Some("unreachable or refused".into()),
            }
        }
        Err(_) => Check {
            status: HealthStatus::Unhealthy,
            latency_ms,
            detail: Some("timed out".into()),
        },
    }
}

/// `health`'s routes: no key needed.
pub const ROUTES: [Route<()>; 2] = [
    Route::public(Method::GET, "/api/health", ()),
    Route::public(Method::HEAD, "/api/health", ()),
];

/// Probes every dependency and reports; 503 when one of them failed.
#[utoipa::path(get, path = "/api/health", operation_id = "health_get", tag = "Operations",
    responses((status = 200, body = HealthReport), (status = 503, body = HealthReport)))]
pub async fn handle(probes: &HealthProbes, clock: &dyn Clock, request: Request) -> Response<Body> {
    if let Err(error) = find_route(&ROUTES, &request) {
        return error_response(&error);
    }
    let started = Instant::now();
    let (dynamodb, sqs, secrets) = tokio::join!(
        probe(
            probes
                .store
                .client()
                .get_item()
                .table_name(probes.store.table())
                .key("PK", AttributeValue::S("HEALTH".into()))
                .key("SK", AttributeValue::S("HEALTH".into()))
                .send()
        ),
        probe(probes.sqs.approximate_number_of_messages(&probes.queue_url)),
        probe(probes.secrets.describe_secret(&probes.secret_id)),
    );
    let checks = BTreeMap::from([
        ("dynamodb".to_string(), dynamodb),
        ("sqs".to_string(), sqs),
        ("secretsmanager".to_string(), secrets),
    ]);
    let status = checks
        .values()
        .map(|check| check.status)
        .max_by_key(|status| *status as u8)
        .unwrap_or(HealthStatus::Healthy);
    let report = HealthReport {
        status,
        version: crate::VERSION.to_string(),
        uptime: (probes.started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        total_ms: started.elapsed().as_millis() as u64,
        checks,
        timestamp: rfc3339(clock.now()),
    };
    let code = if status == HealthStatus::Unhealthy {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let mut response = json_response(code, &report);
    if request.method() == Method::HEAD {
        *response.body_mut() = Body::Empty;
    }
    response
}
