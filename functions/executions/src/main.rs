//! `/api/v1/executions[/{id}[/events]]`: agent and workflow executions and the runtime's reports.
use shared::api::executions;
use shared::outbound::Publisher;
use shared::runtime::{serve, start};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let (config, services) = start().await?;
    let publisher = Publisher::from_env(&config)?;
    serve(|request| executions::handle(&services, &publisher, request)).await
}
