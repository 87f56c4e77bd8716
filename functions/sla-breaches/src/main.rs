//! Every minute (EventBridge schedule): publishes `sla.breached` for the SLA targets that passed.
use shared::outbound::Publisher;
use shared::runtime::{serve_scheduled, start};
use shared::worker::sla_breaches;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let (config, services) = start().await?;
    let publisher = Publisher::from_env(&config)?;
    serve_scheduled(|| sla_breaches::run(&services.store, &publisher, services.clock.now())).await
}
