//! The SQS consumer of the reply queue: sends replies on email tickets, retries, dead-letters.
use shared::runtime::{aws_config, init_tracing, serve_sqs};
use shared::worker::reply_sender::{self, ReplySender};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let sender = ReplySender::from_env(&aws_config()?).await?;
    serve_sqs(|event| reply_sender::handle(&sender, event)).await
}
