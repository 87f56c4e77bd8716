//! `POST /api/amazon/webhook`: Amazon notifications delivered by SNS over HTTPS.
use shared::inbound::amazon::{self, AmazonServices};
use shared::runtime::{aws_config, init_tracing, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let services = AmazonServices::from_env(&aws_config()?).await?;
    serve(|request| amazon::handle(&services, request)).await
}
