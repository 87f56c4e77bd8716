//! The messenger channel's webhooks (see `shared::inbound::messenger`).
use shared::inbound::{InboundServices, messenger};
use shared::runtime::{aws_config, init_tracing, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let services = InboundServices::from_env(&aws_config()?).await?;
    serve(|request| messenger::handle(&services, request)).await
}
