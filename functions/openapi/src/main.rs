//! `GET /api/openapi`: no AWS clients, nothing but the document.
use shared::runtime::{init_tracing, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    serve(shared::api::openapi::document).await
}
