//! `POST /api/webhook`: merchants push orders, customers, products and events.
use shared::runtime::{Services, aws_config, init_tracing, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let services = Services::from_env(&aws_config().await).await?;
    serve(|request| shared::ingest::handle(&services, request)).await
}
