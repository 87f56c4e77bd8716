//! `POST /api/v1/webhooks/{id}/test` and `POST /api/v1/webhooks/{id}/recover`.
use shared::api::webhook_sends;
use shared::outbound::DeliveryQueue;
use shared::runtime::{Services, aws_config, init_tracing, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let config = aws_config().await;
    let services = Services::from_env(&config).await?;
    let queue = DeliveryQueue::from_env(&config)?;
    serve(|request| webhook_sends::handle(&services, &queue, request)).await
}
