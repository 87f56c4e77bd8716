//! `/api/v1/integrations[/{id}[/data-requests/{request_id}]]`: connected provider accounts.
use shared::api::integrations;
use shared::crypto::SecretBox;
use shared::runtime::{Services, aws_config, init_tracing, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let config = aws_config().await;
    let services = Services::from_env(&config).await?;
    let secrets = SecretBox::from_env(&config).await?;
    serve(|request| integrations::handle(&services, &secrets, request)).await
}
