//! `/api/v1/webhooks`, `/api/v1/webhooks/{id}`, `.../rotate-secret`, `.../logs`, `.../stats`.
use shared::api::webhook_endpoints::{self, WebhookSettings};
use shared::runtime::{serve, start};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let (config, services) = start().await?;
    let settings = WebhookSettings::from_env(&config).await?;
    serve(|request| webhook_endpoints::handle(&services, &settings, request)).await
}
