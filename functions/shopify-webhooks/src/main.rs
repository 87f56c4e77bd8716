//! `POST /api/webhooks/shopify` and `POST /api/webhooks/shopify/gdpr`: Shopify's webhooks.
use shared::inbound::{InboundServices, shopify};
use shared::runtime::{aws_config, init_tracing, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let services = InboundServices::from_env(&aws_config()?).await?;
    serve(|request| shopify::handle(&services, request)).await
}
