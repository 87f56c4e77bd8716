//! `/api/v1/triggers[/{id}]`: the tokens that start agents and workflows.
use shared::api::triggers;
use shared::runtime::{serve, start};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let (_, services) = start().await?;
    serve(|request| triggers::handle(&services, request)).await
}
