//! `POST /webhooks/agents/{agent_id}`, `POST /webhooks/workflows/{workflow_id}`: seed 001's
//! incoming webhooks, queueing executions for the agent and workflow runtime.
use shared::api::trigger_webhooks::{self, TriggerServices};
use shared::runtime::{aws_config, init_tracing, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let services = TriggerServices::from_env(&aws_config()?).await?;
    serve(|request| trigger_webhooks::handle(&services, request)).await
}
