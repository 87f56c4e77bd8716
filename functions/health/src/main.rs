//! `GET` and `HEAD /api/health`.
use shared::api::health::{self, HealthProbes};
use shared::clock::SystemClock;
use shared::runtime::{aws_config, init_tracing, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let probes = HealthProbes::from_env(&aws_config()?)?;
    serve(|request| health::handle(&probes, &SystemClock, request)).await
}
