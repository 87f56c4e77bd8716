//! `POST /api/webhooks/sms`: Twilio's SMS and status callbacks (see `shared::inbound::sms`).
use shared::inbound::{InboundServices, sms};
use shared::runtime::{aws_config, init_tracing, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let services = InboundServices::from_env(&aws_config()?).await?;
    let source = sms::Sms::from_env()?;
    serve(|request| sms::handle(&services, &source, request)).await
}
