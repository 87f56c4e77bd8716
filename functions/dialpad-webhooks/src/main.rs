//! The dialpad channel's webhooks (see `shared::inbound::dialpad`).
use shared::inbound::{InboundServices, dialpad};
use shared::runtime::{aws_config, init_tracing, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let services = InboundServices::from_env(&aws_config()?).await?;
    serve(|request| dialpad::handle(&services, request)).await
}
