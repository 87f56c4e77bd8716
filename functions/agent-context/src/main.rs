//! `GET /api/context/orders/{order_number}`, `GET /api/context/customers/{email}`.
use shared::api::agent_context;
use shared::runtime::{serve, start};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let (_, services) = start().await?;
    serve(|request| agent_context::handle(&services, request)).await
}
