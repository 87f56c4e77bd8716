//! `/api/v1/webhooks`, `/api/v1/webhooks/{id}`, `.../rotate-secret`, `.../logs`, `.../stats`.
use shared::api::webhook_endpoints::{self, WebhookSettings};
use shared::runtime::{Services, aws_config, init_tracing, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let config = aws_config().await;
    let services = Services::from_env(&config).await?;
    let settings = WebhookSettings::from_env(&config).await?;
    serve(|request| webhook_endpoints::handle(&services, &settings, request)).await
}
