//! `POST /api/v1/webhooks/{id}/test` and `POST /api/v1/webhooks/{id}/recover`.
use shared::outbound::DeliveryQueue;
use shared::runtime::{Services, aws_config, init_tracing, required_env, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let config = aws_config().await;
    let services = Services::from_env(&config).await?;
    let queue = DeliveryQueue {
        sqs: aws_sdk_sqs::Client::new(&config),
        queue_url: required_env("DELIVERY_QUEUE_URL")?,
    };
    serve(|request| shared::webhooks::sends::handle(&services, &queue, request)).await
}
