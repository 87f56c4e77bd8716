//! `POST /api/webhooks/stripe?account=acct_...`: Stripe's events.
use shared::inbound::{InboundServices, stripe};
use shared::runtime::{aws_config, init_tracing, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let services = InboundServices::from_env(&aws_config()?).await?;
    serve(|request| stripe::handle(&services, request)).await
}
