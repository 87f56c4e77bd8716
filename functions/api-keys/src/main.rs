//! `POST /api/api-keys`, `GET /api/api-keys`, `DELETE /api/api-keys/{id}`.
use shared::api::api_keys;
use shared::runtime::{serve, start};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let (_, services) = start().await?;
    serve(|request| api_keys::handle(&services, request)).await
}
