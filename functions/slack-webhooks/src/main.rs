//! The slack channel's webhooks (see `shared::inbound::slack`).
use shared::inbound::{InboundServices, slack};
use shared::runtime::{aws_config, init_tracing, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let services = InboundServices::from_env(&aws_config()?).await?;
    serve(|request| slack::handle(&services, request)).await
}
