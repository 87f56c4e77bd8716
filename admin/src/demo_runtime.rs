//! A demo of the platform's agent and workflow runtime, for the local stack: it takes
//! executions from the executions queue and reports on each through the API as a real runtime
//! would (`started`, steps or the agent's reply, `completed`), so a trigger becomes
//! `workflow.execution.completed` or `agent.conversation.completed` at a subscribed receiver.
//! A message whose reports did not all go through stays on the queue and comes back; the
//! reports are idempotent, so a retry repeats nothing.

use std::time::Duration;

use serde_json::{Value, json};
use shared::api::trigger_webhooks::ExecutionJob;
use shared::aws::AwsConfig;
use shared::aws::sqs::Sqs;
use shared::store::triggers::TriggerKind;

pub struct DemoRuntime {
    pub queue_url: String,
    /// Base URL of the API, e.g. `http://127.0.0.1:9000`.
    pub api_url: String,
    /// A key with `executions:report`.
    pub api_key: String,
}

impl DemoRuntime {
    /// Runs until the process is stopped.
    pub async fn run(&self, config: &AwsConfig) -> Result<(), String> {
        let sqs = Sqs::from_config(config)?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        loop {
            let messages = match crate::queues::receive(&sqs, &self.queue_url).await {
                Ok(messages) => messages,
                Err(e) => {
                    eprintln!("demo runtime: receiving: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            for message in messages {
                let job: ExecutionJob = match serde_json::from_str(&message.body) {
                    Ok(job) => job,
                    Err(e) => {
                        // Left on the queue: its redrive policy moves it to the dead-letter queue.
                        eprintln!("demo runtime: not an execution ({e}); left for the dead-letter queue");
                        continue;
                    }
                };
                match self.execute(&http, &job).await {
                    Ok(()) => {
                        println!("demo runtime: {} done", job.execution_id);
                        let deleted = sqs
                            .delete_message_batch(&self.queue_url, &[message.receipt_handle.as_str()])
                            .await;
                        match deleted {
                            Ok(failures) if failures.is_empty() => {}
                            Ok(_) => eprintln!("demo runtime: {} not deleted; it comes back", job.execution_id),
                            Err(e) => eprintln!("demo runtime: deleting: {e}"),
                        }
                    }
                    Err(e) => eprintln!(
                        "demo runtime: {}: {e}; it comes back after its visibility",
                        job.execution_id
                    ),
                }
            }
        }
    }

    /// Reports what a run of the job would: an agent answers the message, a workflow takes two
    /// steps.
    async fn execute(&self, http: &reqwest::Client, job: &ExecutionJob) -> Result<(), String> {
        let mut reports = vec![json!({"type": "started"})];
        match job.kind {
            TriggerKind::Agent => {
                let message = job.input.get("message").and_then(Value::as_str).unwrap_or_default();
                reports.push(json!({"type": "message_sent", "message": {"id": "demo-reply-1",
                    "content": format!("Thanks, we got your message: \"{message}\". (Answered by the local demo runtime.)")}}));
                reports.push(json!({"type": "completed", "credits_used": 1.0,
                    "resolution": {"type": "solved", "category": "demo", "tags": ["local"]}}));
            }
            TriggerKind::Workflow => {
                let fields = job
                    .input
                    .get("input_data")
                    .and_then(Value::as_object)
                    .map_or(0, |d| d.len());
                reports.push(json!({"type": "step_completed", "step": {"index": 1, "name": "validate input"}}));
                reports.push(json!({"type": "step_completed", "step": {"index": 2, "name": "act"}}));
                reports.push(json!({"type": "completed", "credits_used": 1.0,
                    "output_data": {"result": "Ran in the local demo runtime", "input_fields": fields}}));
            }
        }
        let url = format!(
            "{}/api/v1/executions/{}/events",
            self.api_url.trim_end_matches('/'),
            job.execution_id
        );
        for report in reports {
            let response = http
                .post(&url)
                .header("x-api-key", &self.api_key)
                .json(&report)
                .send()
                .await
                .map_err(|e| format!("reporting: {e}"))?;
            if !response.status().is_success() {
                let status = response.status();
                return Err(format!(
                    "report refused: {status} {}",
                    response.text().await.unwrap_or_default()
                ));
            }
        }
        Ok(())
    }
}
