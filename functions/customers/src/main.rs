//! `POST /api/v1/customers`, `GET` and `PATCH /api/v1/customers/{email}`: the desk's customers.
use shared::api::customers;
use shared::outbound::Publisher;
use shared::runtime::{serve, start};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let (config, services) = start().await?;
    let publisher = Publisher::from_env(&config)?;
    serve(|request| customers::handle(&services, &publisher, request)).await
}
