//! `POST /api/v1/webhooks/{id}/test` and `POST /api/v1/webhooks/{id}/recover`.
use shared::api::webhook_sends;
use shared::aws::sqs::Sqs;
use shared::outbound::DeliveryQueue;
use shared::runtime::{serve, start};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let (config, services) = start().await?;
    let queue = DeliveryQueue::from_env(&Sqs::from_config(&config)?)?;
    serve(|request| webhook_sends::handle(&services, &queue, request)).await
}
