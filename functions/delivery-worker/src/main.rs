//! The SQS consumer of the delivery queue: signs, POSTs, retries, dead-letters.
use shared::runtime::{aws_config, init_tracing, serve_sqs};
use shared::worker::delivery::{self, DeliveryWorker};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let worker = DeliveryWorker::from_env(&aws_config()?).await?;
    serve_sqs(|event| delivery::handle(&worker, event)).await
}
