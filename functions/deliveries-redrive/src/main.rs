//! `POST /api/v1/deliveries/redrive`.
use shared::api::deliveries_redrive::{self, RedriveQueues};
use shared::runtime::{Services, aws_config, init_tracing, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let config = aws_config().await;
    let services = Services::from_env(&config).await?;
    let queues = RedriveQueues::from_env(&config)?;
    serve(|request| deliveries_redrive::handle(&services, &queues, request)).await
}
