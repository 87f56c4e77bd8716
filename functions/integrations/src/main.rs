//! `/api/v1/integrations[/{id}[/data-requests/{request_id}]]`: connected provider accounts.
use shared::api::integrations;
use shared::crypto::SecretBox;
use shared::runtime::{serve, start_with};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let (services, secrets) = start_with(|config| async move { SecretBox::from_env(&config).await }).await?;
    serve(|request| integrations::handle(&services, &secrets, request)).await
}
