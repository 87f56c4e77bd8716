//! `POST /api/webhooks/shopify` and `POST /api/webhooks/shopify/gdpr`: Shopify's webhooks.
use shared::providers::{InboundServices, shopify};
use shared::runtime::{aws_config, init_tracing, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let services = InboundServices::from_env(&aws_config().await).await?;
    serve(|request| async {
        if request.uri().path().ends_with("/gdpr") {
            shopify::handle_gdpr(&services, request).await
        } else {
            shopify::handle(&services, request).await
        }
    })
    .await
}
