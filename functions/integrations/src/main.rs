//! `/api/v1/integrations[/{id}[/data-requests/{request_id}]]`: connected provider accounts.
use shared::api::integrations;
use shared::runtime::{serve, start_with_secret_box};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let (services, secrets) = start_with_secret_box().await?;
    serve(|request| integrations::handle(&services, &secrets, request)).await
}
