//! `GET /api/v1/conversations` and `GET /api/v1/conversations/{id}`: the desk's entries, read only.
use shared::api::conversations;
use shared::runtime::{serve, start};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let (_, services) = start().await?;
    serve(|request| conversations::handle(&services, request)).await
}
