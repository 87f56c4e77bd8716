//! `/api/v1/tickets`, `/api/v1/tickets/{id}`, `/api/v1/tickets/{id}/conversations`: the support desk.
use shared::api::tickets;
use shared::outbound::{Publisher, ReplyQueue};
use shared::runtime::{serve, start};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let (config, services) = start().await?;
    let publisher = Publisher::from_env(&config)?;
    // The replies go through the publisher's SQS client: one connection for both queues.
    let replies = ReplyQueue::from_env(&publisher.queue.sqs)?;
    serve(|request| tickets::handle(&services, &publisher, &replies, request)).await
}
