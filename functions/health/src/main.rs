//! `GET` and `HEAD /api/health`.
use shared::clock::SystemClock;
use shared::health::HealthProbes;
use shared::runtime::{aws_config, init_tracing, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let probes = HealthProbes::from_env(&aws_config().await)?;
    serve(|request| shared::health::handle(&probes, &SystemClock, request)).await
}
