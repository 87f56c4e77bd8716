//! `POST /api/v1/deliveries/redrive`.
use shared::delivery::redrive::RedriveQueues;
use shared::outbound::DeliveryQueue;
use shared::runtime::{Services, aws_config, init_tracing, required_env, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let config = aws_config().await;
    let services = Services::from_env(&config).await?;
    let queues = RedriveQueues {
        delivery: DeliveryQueue {
            sqs: aws_sdk_sqs::Client::new(&config),
            queue_url: required_env("DELIVERY_QUEUE_URL")?,
        },
        dead_letter_url: required_env("DEAD_LETTER_QUEUE_URL")?,
    };
    serve(|request| shared::delivery::redrive::handle(&services, &queues, request)).await
}
