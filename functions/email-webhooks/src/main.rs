//! `POST /api/webhooks/resend` (and `/api/webhooks/email`), `POST /api/webhooks/inbound-email`:
//! mail into the desk.
use shared::inbound::InboundServices;
use shared::inbound::email::{self, EmailDoor};
use shared::runtime::{aws_config, init_tracing, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let config = aws_config()?;
    let services = InboundServices::from_env(&config).await?;
    let door = EmailDoor::from_env(&config)?;
    serve(|request| email::handle(&services, &door, request)).await
}
