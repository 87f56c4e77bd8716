//! `/api/v1/orders[/{id}[/call-attempts]]`: orders confirmed by call by the voice agent.
use shared::api::orders::{self, OrderSettings};
use shared::runtime::{serve, start};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let (config, services) = start().await?;
    let settings = OrderSettings::from_env(&config)?;
    serve(|request| orders::handle(&services, &settings, request)).await
}
