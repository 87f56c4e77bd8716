//! `GET /api/context/orders/{order_number}`, `GET /api/context/customers/{email}`.
use shared::api::agent_context;
use shared::runtime::{Services, aws_config, init_tracing, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let services = Services::from_env(&aws_config().await).await?;
    serve(|request| agent_context::handle(&services, request)).await
}
