//! Per-container wiring: configuration from the environment, AWS clients built once, and the
//! loop that hands each invocation to a handler.
//!
//! Every function runs on tokio's current-thread runtime (`#[tokio::main(flavor =
//! "current_thread")]`, checked by `tests/stack_definition.rs`): a container serves one
//! invocation at a time on a fraction of a vCPU, so the multi-thread runtime's workers add only
//! wake-ups from thread to thread. `make bench` measured the ingest binary at 1.85–1.95 ms of CPU
//! per invocation on the multi-thread runtime and 1.37–1.44 ms on one thread.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use lambda_http::{Body, Request, Response, service_fn};

pub mod sqs;

use crate::aws::AwsConfig;
use crate::aws::secrets_manager::SecretsManager;
use crate::clock::{Clock, SystemClock};
use crate::crypto::SecretBox;
use crate::secrets::Pepper;
use crate::store::Store;

pub type Error = lambda_http::Error;

/// What the authenticated routes need: the table, the key pepper and a clock.
#[derive(Clone)]
pub struct Services {
    pub store: Store,
    pub pepper: Pepper,
    pub clock: Arc<dyn Clock>,
}

impl Services {
    /// Builds the clients and reads the pepper once, for the container's lifetime.
    pub async fn from_env(config: &AwsConfig) -> Result<Self, Error> {
        let secrets = SecretsManager::from_config(config)?;
        let pepper = Pepper::load(&secrets, &required_env("PEPPER_SECRET_ID")?).await?;
        Self::with_pepper(config, pepper)
    }

    fn with_pepper(config: &AwsConfig, pepper: Pepper) -> Result<Self, Error> {
        Ok(Self {
            store: Store::from_config(config, required_env("TABLE_NAME")?)?,
            pepper,
            clock: Arc::new(SystemClock),
        })
    }
}

/// A function's start: structured logs, the AWS configuration, and the services of the
/// authenticated routes, built once per container.
pub async fn start() -> Result<(AwsConfig, Services), Error> {
    init_tracing();
    let config = aws_config()?;
    let services = Services::from_env(&config).await?;
    Ok((config, services))
}

/// As [`start`], for a function that also seals or opens stored secrets: the pepper and the
/// signing key (`SIGNING_KEY_SECRET_ID`) are read in one call.
pub async fn start_with_secret_box() -> Result<(Services, SecretBox), Error> {
    init_tracing();
    let config = aws_config()?;
    let client = SecretsManager::from_config(&config)?;
    let (pepper_id, signing_key_id) = (
        required_env("PEPPER_SECRET_ID")?,
        required_env("SIGNING_KEY_SECRET_ID")?,
    );
    let [pepper, signing_key] = crate::secrets::load_all(&client, [&pepper_id, &signing_key_id]).await?;
    let services = Services::with_pepper(&config, Pepper::new(pepper))?;
    Ok((services, SecretBox::from_secret(signing_key.as_bytes())))
}

/// The box keyed by the secret `SIGNING_KEY_SECRET_ID` names, read once per container.
pub async fn secret_box(config: &AwsConfig) -> Result<SecretBox, Error> {
    let client = SecretsManager::from_config(config)?;
    let signing_key = crate::secrets::load(&client, &required_env("SIGNING_KEY_SECRET_ID")?).await?;
    Ok(SecretBox::from_secret(signing_key.as_bytes()))
}

/// The AWS configuration from the environment (region, credentials, `AWS_ENDPOINT_URL`): see
/// [`AwsConfig::from_env`].
pub fn aws_config() -> Result<AwsConfig, Error> {
    Ok(AwsConfig::from_env()?)
}

pub fn required_env(name: &str) -> Result<String, Error> {
    std::env::var(name).map_err(|_| format!("environment variable {name} is not set").into())
}

/// Where the deployment is reached from outside (`PUBLIC_BASE_URL`, the stack's `PublicBaseUrl`:
/// `https://api.example.com`, no trailing slash). Behind API Gateway a function cannot see it,
/// yet providers sign requests to it (Twilio) and are told to call back there.
pub fn public_base_url() -> Result<String, Error> {
    Ok(required_env("PUBLIC_BASE_URL")?.trim_end_matches('/').to_string())
}

/// An optional setting: `default` when unset, an error when set but unreadable.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> Result<T, Error> {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .map_err(|_| format!("{name} is not valid: {value}").into()),
        Err(_) => Ok(default),
    }
}

/// Structured logs: JSON when Lambda's log format asks for it, with the request id on each line.
pub fn init_tracing() {
    lambda_http::tracing::init_default_subscriber();
}

/// Runs the Lambda loop of a queue consumer: every invocation is an SQS batch, answered with
/// the messages that failed (partial batch response).
pub async fn serve_sqs<F, Fut>(handler: F) -> Result<(), Error>
where
    F: Fn(sqs::SqsEvent) -> Fut,
    Fut: Future<Output = sqs::SqsBatchResponse> + Send,
{
    lambda_http::lambda_runtime::run(service_fn(
        |event: lambda_http::lambda_runtime::LambdaEvent<sqs::SqsEvent>| {
            let response = handler(event.payload);
            async move { Ok::<_, Infallible>(response.await) }
        },
    ))
    .await
}

/// Runs the Lambda loop of a scheduled job: every invocation (an EventBridge scheduled event,
/// whose content the job does not need) runs `job` once and answers its summary.
pub async fn serve_scheduled<F, Fut, S>(job: F) -> Result<(), Error>
where
    F: Fn() -> Fut,
    Fut: Future<Output = S> + Send,
    S: serde::Serialize,
{
    lambda_http::lambda_runtime::run(service_fn(
        |_: lambda_http::lambda_runtime::LambdaEvent<serde_json::Value>| {
            let summary = job();
            async move { Ok::<_, Infallible>(serde_json::json!(summary.await)) }
        },
    ))
    .await
}

/// Runs the Lambda loop, answering every invocation with `handler`'s response.
pub async fn serve<F, Fut>(handler: F) -> Result<(), Error>
where
    F: Fn(Request) -> Fut,
    Fut: Future<Output = Response<Body>> + Send,
{
    lambda_http::run(service_fn(|request: Request| {
        let response = handler(request);
        async move { Ok::<_, Infallible>(response.await) }
    }))
    .await
}

/// The HTTP client for providers' APIs (Resend, Meta, Slack, Twilio), built once per container:
/// a `User-Agent` (Resend refuses requests without one) and a timeout
/// (`PROVIDER_TIMEOUT_SECONDS`, 10 by default).
pub fn provider_client() -> Result<reqwest::Client, Error> {
    Ok(reqwest::Client::builder()
        .user_agent(concat!("hookgate/", env!("CARGO_PKG_VERSION")))
        .timeout(std::time::Duration::from_secs(env_or("PROVIDER_TIMEOUT_SECONDS", 10)?))
        .build()?)
}
