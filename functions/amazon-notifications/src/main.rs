//! Amazon notifications delivered natively: the SNS topic's Lambda subscription.
use lambda_http::lambda_runtime::{LambdaEvent, run, service_fn};
use shared::inbound::amazon::{self, AmazonServices};
use shared::runtime::{aws_config, init_tracing};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let services = AmazonServices::from_env(&aws_config()?).await?;
    run(service_fn(|event: LambdaEvent<serde_json::Value>| async {
        amazon::handle_sns_event(&services, event.payload).await
    }))
    .await
}
