//! `POST /api/api-keys`, `GET /api/api-keys`, `DELETE /api/api-keys/{id}`.
use shared::api::api_keys;
use shared::runtime::{Services, aws_config, init_tracing, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let services = Services::from_env(&aws_config().await).await?;
    serve(|request| api_keys::handle(&services, request)).await
}
