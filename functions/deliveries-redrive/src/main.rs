//! `POST /api/v1/deliveries/redrive`.
use shared::api::deliveries_redrive::{self, RedriveQueues};
use shared::runtime::{serve, start};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let (config, services) = start().await?;
    let queues = RedriveQueues::from_env(&config)?;
    serve(|request| deliveries_redrive::handle(&services, &queues, request)).await
}
