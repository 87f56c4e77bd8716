//! What an EventBridge schedule does in AWS, for the local stack: invoke a function every so
//! many seconds with a scheduled event, through the local Lambda invoke API (`cargo lambda watch`).

use std::time::Duration;

use serde_json::json;

pub struct Schedule {
    pub function: String,
    pub every: Duration,
    /// Base URL of the local Lambda API, e.g. `http://127.0.0.1:9000`.
    pub invoke_url: String,
}

impl Schedule {
    /// Runs until the process is stopped; a failed run is logged and the next one comes on time.
    pub async fn run(&self) -> Result<(), String> {
        let http = reqwest::Client::builder()
            .timeout(self.every.max(Duration::from_secs(60)))
            .build()
            .map_err(|e| e.to_string())?;
        let invoke = format!(
            "{}/2015-03-31/functions/{}/invocations",
            self.invoke_url.trim_end_matches('/'),
            self.function
        );
        let mut ticks = tokio::time::interval(self.every);
        loop {
            ticks.tick().await;
            let now = time::OffsetDateTime::now_utc();
            let event = json!({
                "version": "0",
                "id": shared::ids::new_ulid(),
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "time": shared::clock::rfc3339(now),
                "resources": [format!("local-schedule/{}", self.function)],
                "detail": {},
            });
            match http.post(&invoke).json(&event).send().await {
                Ok(response) if response.status().is_success() => {
                    let summary = response.text().await.unwrap_or_default();
                    println!("schedule: {} ran: {summary}", self.function);
                }
                Ok(response) => eprintln!("schedule: invoking {}: HTTP {}", self.function, response.status()),
                Err(e) => eprintln!("schedule: invoking {}: {e}", self.function),
            }
        }
    }
}
