//! `POST /api/webhook`: merchants push orders, customers, products and events.
use shared::api::ingest;
use shared::outbound::Publisher;
use shared::runtime::{Services, aws_config, init_tracing, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let config = aws_config().await;
    let services = Services::from_env(&config).await?;
    let publisher = Publisher::from_env(&config)?;
    serve(|request| ingest::handle(&services, &publisher, request)).await
}
