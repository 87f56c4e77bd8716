//! `POST /api/webhook`: merchants push orders, customers, products and events.
use shared::api::ingest;
use shared::outbound::Publisher;
use shared::runtime::{serve, start};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let (config, services) = start().await?;
    let publisher = Publisher::from_env(&config)?;
    serve(|request| ingest::handle(&services, &publisher, request)).await
}
