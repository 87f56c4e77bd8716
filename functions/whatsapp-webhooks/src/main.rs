//! `GET`/`POST /api/webhooks/whatsapp`: the WhatsApp channel's webhooks (see `shared::inbound::whatsapp`).
use shared::inbound::{InboundServices, whatsapp};
use shared::runtime::{aws_config, init_tracing, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let config = aws_config()?;
    let services = InboundServices::from_env(&config).await?;
    let source = whatsapp::Whatsapp::from_env(&config)?;
    serve(|request| whatsapp::handle(&services, &source, request)).await
}
