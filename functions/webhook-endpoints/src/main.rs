//! `/api/v1/webhooks`, `/api/v1/webhooks/{id}`, `.../rotate-secret`, `.../logs`, `.../stats`.
use shared::api::webhook_endpoints::{self, WebhookSettings};
use shared::runtime::{serve, start_with};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let (services, settings) = start_with(|config| async move { WebhookSettings::from_env(&config).await }).await?;
    serve(|request| webhook_endpoints::handle(&services, &settings, request)).await
}
