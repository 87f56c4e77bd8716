//! `/api/v1/integrations[/{id}[/data-requests/{request_id}]]`: connected provider accounts.
use shared::api::integrations;
use shared::crypto::SecretBox;
use shared::runtime::{serve, start};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let (config, services) = start().await?;
    let secrets = SecretBox::from_env(&config).await?;
    serve(|request| integrations::handle(&services, &secrets, request)).await
}
