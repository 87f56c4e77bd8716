//! `/api/v1/blocked-senders[/{sender}]`: senders whose mail never becomes a ticket.
use shared::api::blocked_senders;
use shared::runtime::{serve, start};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let (_, services) = start().await?;
    serve(|request| blocked_senders::handle(&services, request)).await
}
