//! `POST /api/activate`: redeem an activation code for the caller's organization.
use shared::api::activate;
use shared::runtime::{serve, start};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let (_, services) = start().await?;
    serve(|request| activate::handle(&services, request)).await
}
