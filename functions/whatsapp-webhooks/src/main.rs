//! The whatsapp channel's webhooks (see `shared::inbound::whatsapp`).
use shared::inbound::{InboundServices, whatsapp};
use shared::runtime::{aws_config, init_tracing, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let services = InboundServices::from_env(&aws_config().await).await?;
    serve(|request| whatsapp::handle(&services, request)).await
}
