//! The SQS consumer of the delivery queue: signs, POSTs, retries, dead-letters.
use aws_lambda_events::event::sqs::SqsEvent;
use lambda_http::lambda_runtime::{LambdaEvent, run, service_fn};
use shared::delivery::DeliveryWorker;
use shared::runtime::{aws_config, init_tracing};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let worker = DeliveryWorker::from_env(&aws_config().await).await?;
    run(service_fn(|event: LambdaEvent<SqsEvent>| async {
        Ok::<_, lambda_http::Error>(shared::delivery::handle(&worker, event.payload).await)
    }))
    .await
}
