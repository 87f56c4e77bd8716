//! `/api/v1/sla-policies`, `/api/v1/sla-policies/{id}`: the desk's SLA policies.
use shared::api::sla_policies;
use shared::runtime::{serve, start};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let (_, services) = start().await?;
    serve(|request| sla_policies::handle(&services, request)).await
}
