//! `/api/v1/webhooks`, `/api/v1/webhooks/{id}`, `.../rotate-secret`, `.../logs`, `.../stats`.
use shared::api::webhook_endpoints::{self, WebhookSettings};
use shared::runtime::{serve, start_with_secret_box};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let (services, secrets) = start_with_secret_box().await?;
    let settings = WebhookSettings::from_env(secrets)?;
    serve(|request| webhook_endpoints::handle(&services, &settings, request)).await
}
