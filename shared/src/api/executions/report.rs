//! What a runtime's report does to an execution: a pure function of the execution as stored and
//! the report, so that reports repeated or out of order leave one consistent state.
//!
//! - Each report is applied once (its key: `started`, `end` for `completed` and `failed`,
//!   `step#<index>`, `message#<id>`); a repeat changes nothing.
//! - The status only moves forward (`queued` < `running` < `success` | `failed`); the first
//!   final report wins, a later one is a repeat of `end`.
//! - Times are the runtime's (`occurred_at`, else when the report came): `started_at` is the
//!   earliest the execution is known to have run, a step or message before `started` starts it.

use serde::Deserialize;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::clock::{parse_rfc3339, rfc3339};
use crate::error::ApiError;
use crate::http::Validate;
use crate::store::executions::{Execution, ExecutionStatus};
use crate::store::triggers::TriggerKind;

const MAX_TEXT_CHARS: usize = 10_000;
const MAX_ID_CHARS: usize = 128;
const MAX_STEP_NAME_CHARS: usize = 200;
const MAX_STATUS_CHARS: usize = 50;
/// A cap on typing errors, far above any real run; DynamoDB holds numbers up to 1e126.
const MAX_CREDITS: f64 = 1e12;

/// What the runtime reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportType {
    /// The execution began.
    Started,
    /// A workflow step finished (`step`).
    StepCompleted,
    /// The agent received a message in its conversation (`message`).
    MessageReceived,
    /// The agent answered (`message`).
    MessageSent,
    /// The execution finished (`output_data`, `credits_used`; an agent's `satisfaction_score`,
    /// `resolution`, `status`).
    Completed,
    /// The execution failed (`error`).
    Failed,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportStep {
    /// The step's position, from 1: a step reported twice counts once.
    #[schema(minimum = 1)]
    pub index: u32,
    #[schema(max_length = 200)]
    pub name: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub output: Option<Value>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportMessage {
    /// The runtime's id of the message: a message reported twice is stored once.
    #[schema(min_length = 1, max_length = 128)]
    pub id: String,
    #[schema(min_length = 1, max_length = 10000, pattern = r"\S")]
    pub content: String,
}

/// Body of `POST /api/v1/executions/{id}/events`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecutionReport {
    #[serde(rename = "type")]
    pub report_type: ReportType,
    /// When it happened (RFC 3339); when the report came, if unsaid.
    #[schema(format = DateTime)]
    pub occurred_at: Option<String>,
    pub step: Option<ReportStep>,
    pub message: Option<ReportMessage>,
    #[schema(value_type = Option<Object>)]
    pub output_data: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub error: Option<Value>,
    /// Kept to a millionth.
    #[schema(minimum = 0, maximum = 1000000000000_f64)]
    pub credits_used: Option<f64>,
    /// An agent conversation's rating, 1 to 5.
    #[schema(minimum = 1, maximum = 5)]
    pub satisfaction_score: Option<f64>,
    /// How an agent conversation ended (`{"type": "solved", "category", "tags"}`).
    #[schema(value_type = Option<Object>)]
    pub resolution: Option<Value>,
    /// An agent conversation's final status (`resolved` when unsaid).
    #[schema(min_length = 1, max_length = 50, pattern = r"\S")]
    pub status: Option<String>,
}

impl Validate for ExecutionReport {
    /// Every field sent is checked, whatever the report's type; the type says which of `step`
    /// and `message` must be there.
    fn validate(&self) -> Result<(), ApiError> {
        if let Some(at) = &self.occurred_at
            && parse_rfc3339(at).is_none()
        {
            return Err(ApiError::invalid_input(
                "occurred_at",
                "occurred_at is an RFC 3339 time",
            ));
        }
        if let Some(step) = &self.step {
            if step.index == 0 {
                return Err(ApiError::invalid_input("step.index", "step.index counts from 1"));
            }
            if step
                .name
                .as_ref()
                .is_some_and(|name| name.chars().count() > MAX_STEP_NAME_CHARS)
            {
                return Err(ApiError::invalid_input(
                    "step.name",
                    format!("step.name is at most {MAX_STEP_NAME_CHARS} characters"),
                ));
            }
            object_or_absent("step.output", &step.output)?;
        }
        if let Some(message) = &self.message {
            let valid = (1..=MAX_ID_CHARS).contains(&message.id.chars().count())
                && !message.content.trim().is_empty()
                && message.content.chars().count() <= MAX_TEXT_CHARS
                && !message.content.contains('\0');
            if !valid {
                return Err(ApiError::invalid_input(
                    "message",
                    format!(
                        "message.id is 1 to {MAX_ID_CHARS} characters, message.content 1 to {MAX_TEXT_CHARS}, not blank"
                    ),
                ));
            }
        }
        match self.report_type {
            ReportType::StepCompleted if self.step.is_none() => {
                return Err(ApiError::invalid_input(
                    "step",
                    "step_completed names its step (index from 1)",
                ));
            }
            ReportType::MessageReceived | ReportType::MessageSent if self.message.is_none() => {
                return Err(ApiError::invalid_input(
                    "message",
                    "a message report carries message.id and message.content",
                ));
            }
            _ => {}
        }
        object_or_absent("output_data", &self.output_data)?;
        object_or_absent("error", &self.error)?;
        object_or_absent("resolution", &self.resolution)?;
        if self.credits_used.is_some_and(|c| !(0.0..=MAX_CREDITS).contains(&c)) {
            return Err(ApiError::invalid_input(
                "credits_used",
                format!("credits_used is a number from 0 to {MAX_CREDITS:e}"),
            ));
        }
        if self.satisfaction_score.is_some_and(|s| !(1.0..=5.0).contains(&s)) {
            return Err(ApiError::invalid_input(
                "satisfaction_score",
                "satisfaction_score is 1 to 5",
            ));
        }
        let status_valid = |s: &String| !s.trim().is_empty() && s.chars().count() <= MAX_STATUS_CHARS;
        if self.status.as_ref().is_some_and(|s| !status_valid(s)) {
            return Err(ApiError::invalid_input(
                "status",
                format!("status is 1 to {MAX_STATUS_CHARS} characters, not blank"),
            ));
        }
        Ok(())
    }
}

/// A JSON object, or nothing (`null` reads as absent).
fn object_or_absent(field: &str, value: &Option<Value>) -> Result<(), ApiError> {
    match value {
        Some(value) if !value.is_object() => Err(ApiError::invalid_input(field, format!("{field} is an object"))),
        _ => Ok(()),
    }
}

impl ExecutionReport {
    /// The key under which the report is applied once.
    pub fn key(&self) -> String {
        match (self.report_type, &self.step, &self.message) {
            (ReportType::Started, ..) => "started".into(),
            (ReportType::Completed | ReportType::Failed, ..) => "end".into(),
            (ReportType::StepCompleted, Some(step), _) => format!("step#{}", step.index),
            (_, _, Some(message)) => format!("message#{}", message.id),
            _ => "invalid".into(),
        }
    }
}

/// The execution as a report leaves it, and the outbound event it publishes.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub execution: Execution,
    pub event: Option<(&'static str, Value)>,
}

/// Applies `report` (new for this execution) to `execution` at `now`.
pub fn apply(execution: &Execution, report: &ExecutionReport, now: OffsetDateTime) -> Applied {
    let at = report
        .occurred_at
        .as_deref()
        .and_then(parse_rfc3339)
        .map(rfc3339)
        .unwrap_or_else(|| rfc3339(now));
    let mut next = execution.clone();
    next.version += 1;
    next.updated_at = rfc3339(now);
    // Whatever the report, the execution ran by then.
    next.started_at = Some(match &execution.started_at {
        Some(started) if *started <= at => started.clone(),
        _ => at.clone(),
    });
    next.status = next.status.max(ExecutionStatus::Running);
    match report.report_type {
        ReportType::Started => {}
        ReportType::StepCompleted => next.steps_completed += 1,
        ReportType::MessageReceived | ReportType::MessageSent => next.message_count += 1,
        ReportType::Completed | ReportType::Failed => {
            next.status = match report.report_type {
                ReportType::Completed => ExecutionStatus::Success,
                _ => ExecutionStatus::Failed,
            };
            next.completed_at = Some(at.clone());
            next.duration_seconds = duration(next.started_at.as_deref(), &at);
            next.output_data = report.output_data.clone().or(next.output_data);
            next.error = report.error.clone().or(next.error);
            // To a millionth: DynamoDB holds no number below 1e-130.
            let credits = report.credits_used.map(|c| (c * 1e6).round() / 1e6);
            next.credits_used = credits.or(next.credits_used);
            next.satisfaction_score = report.satisfaction_score.or(next.satisfaction_score);
            next.resolution = report.resolution.clone().or(next.resolution);
        }
    }
    let event = event(&next, report);
    Applied { execution: next, event }
}

fn duration(started: Option<&str>, completed: &str) -> Option<i64> {
    let started = parse_rfc3339(started?)?;
    Some((parse_rfc3339(completed)? - started).whole_seconds().max(0))
}

/// Seed 001's outbound event for the report, with its payload fields.
fn event(execution: &Execution, report: &ExecutionReport) -> Option<(&'static str, Value)> {
    let e = execution;
    match e.kind {
        TriggerKind::Workflow => {
            let mut data = json!({
                "workflow_id": e.workflow_id, "execution_id": e.execution_id,
                "status": e.status, "started_at": e.started_at,
                "input_data": e.input.get("input_data"), "steps_completed": e.steps_completed,
            });
            let name = match report.report_type {
                ReportType::Started => "workflow.execution.started",
                ReportType::StepCompleted => {
                    if let Some(step) = &report.step {
                        data["step"] = json!({"index": step.index, "name": step.name, "output": step.output});
                    }
                    "workflow.step.completed"
                }
                ReportType::Completed | ReportType::Failed => {
                    let end = json!({
                        "completed_at": e.completed_at, "duration_seconds": e.duration_seconds,
                        "output_data": e.output_data, "credits_used": e.credits_used, "error": e.error,
                    });
                    merge(&mut data, end);
                    match e.status {
                        ExecutionStatus::Failed => "workflow.execution.failed",
                        _ => "workflow.execution.completed",
                    }
                }
                // Workflows have no conversation: nothing to tell.
                ReportType::MessageReceived | ReportType::MessageSent => return None,
            };
            Some((name, data))
        }
        TriggerKind::Agent => {
            let mut data = json!({
                "agent_id": e.agent_id, "conversation_id": e.conversation_id,
                "execution_id": e.execution_id, "user_id": e.user_id,
                "started_at": e.started_at, "message_count": e.message_count,
            });
            let name = match report.report_type {
                ReportType::Started => {
                    data["status"] = json!("active");
                    "agent.conversation.started"
                }
                ReportType::MessageReceived | ReportType::MessageSent => {
                    if let Some(message) = &report.message {
                        data["message_id"] = json!(message.id);
                        data["message"] = json!(message.content);
                    }
                    match report.report_type {
                        ReportType::MessageReceived => "agent.message.received",
                        _ => "agent.message.sent",
                    }
                }
                ReportType::Completed | ReportType::Failed => {
                    let status = match e.status {
                        ExecutionStatus::Failed => "failed".to_string(),
                        _ => report.status.clone().unwrap_or_else(|| "resolved".into()),
                    };
                    let end = json!({
                        "status": status, "completed_at": e.completed_at,
                        "satisfaction_score": e.satisfaction_score, "credits_used": e.credits_used,
                        "resolution": e.resolution, "error": e.error,
                    });
                    merge(&mut data, end);
                    "agent.conversation.completed"
                }
                // Agents take no steps of their own.
                ReportType::StepCompleted => return None,
            };
            Some((name, data))
        }
    }
}

fn merge(data: &mut Value, more: Value) {
    if let (Value::Object(data), Value::Object(more)) = (data, more) {
        data.extend(more.into_iter().filter(|(_, v)| !v.is_null()).collect::<Map<_, _>>());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn execution(kind: TriggerKind) -> Execution {
        Execution {
            execution_id: "exec_1".into(),
            kind,
            agent_id: (kind == TriggerKind::Agent).then(|| "agent_1".into()),
            workflow_id: (kind == TriggerKind::Workflow).then(|| "wf_1".into()),
            trigger_id: "trg_1".into(),
            status: ExecutionStatus::Queued,
            input: json!({"input_data": {"name": "Ada"}}).as_object().cloned().unwrap(),
            output_data: None,
            error: None,
            conversation_id: (kind == TriggerKind::Agent).then(|| "tkt_1".into()),
            user_id: Some("user_1".into()),
            message_count: 0,
            steps_completed: 0,
            credits_used: None,
            satisfaction_score: None,
            resolution: None,
            created_at: "2024-01-15T10:24:00Z".into(),
            estimated_completion: "2024-01-15T10:29:00Z".into(),
            started_at: None,
            completed_at: None,
            duration_seconds: None,
            updated_at: "2024-01-15T10:24:00Z".into(),
            version: 0,
        }
    }

    fn report(body: Value) -> ExecutionReport {
        let report: ExecutionReport = serde_json::from_value(body).unwrap();
        report.validate().unwrap();
        report
    }

    const NOW: OffsetDateTime = datetime!(2024-01-15 10:31:00 UTC);

    #[test]
    fn a_workflow_run_publishes_seed_001s_fields() {
        let started = apply(
            &execution(TriggerKind::Workflow),
            &report(json!({"type": "started", "occurred_at": "2024-01-15T10:25:00Z"})),
            NOW,
        );
        assert_eq!(started.execution.status, ExecutionStatus::Running);
        assert_eq!(started.event.as_ref().unwrap().0, "workflow.execution.started");
        let step = apply(
            &started.execution,
            &report(json!({"type": "step_completed", "step": {"index": 1, "name": "send"}})),
            NOW,
        );
        let done = apply(
            &step.execution,
            &report(json!({"type": "completed", "occurred_at": "2024-01-15T10:30:00Z",
                "output_data": {"result": "Email sent successfully"}, "credits_used": 4.5})),
            NOW,
        );
        let (name, data) = done.event.unwrap();
        assert_eq!(name, "workflow.execution.completed");
        assert_eq!(data["status"], "success");
        assert_eq!(data["workflow_id"], "wf_1");
        assert_eq!(data["execution_id"], "exec_1");
        assert_eq!(data["started_at"], "2024-01-15T10:25:00.000Z");
        assert_eq!(data["completed_at"], "2024-01-15T10:30:00.000Z");
        assert_eq!(data["duration_seconds"], 300);
        assert_eq!(data["input_data"], json!({"name": "Ada"}));
        assert_eq!(data["output_data"]["result"], "Email sent successfully");
        assert_eq!(data["credits_used"], 4.5);
        assert_eq!(data["steps_completed"], 1);
        assert_eq!(done.execution.version, 3);
    }

    #[test]
    fn reports_out_of_order_keep_the_earliest_start_and_the_final_status() {
        let done = apply(
            &execution(TriggerKind::Workflow),
            &report(json!({"type": "completed", "occurred_at": "2024-01-15T10:30:00Z"})),
            NOW,
        );
        assert_eq!(done.execution.status, ExecutionStatus::Success);
        let late_start = apply(
            &done.execution,
            &report(json!({"type": "started", "occurred_at": "2024-01-15T10:25:00Z"})),
            NOW,
        );
        assert_eq!(late_start.execution.status, ExecutionStatus::Success);
        assert_eq!(
            late_start.execution.started_at.as_deref(),
            Some("2024-01-15T10:25:00.000Z")
        );
        let late_step = apply(
            &late_start.execution,
            &report(json!({"type": "step_completed", "step": {"index": 2}})),
            NOW,
        );
        assert_eq!(late_step.execution.status, ExecutionStatus::Success);
        assert_eq!(late_step.execution.steps_completed, 1);
        assert_eq!(
            late_step.execution.completed_at.as_deref(),
            Some("2024-01-15T10:30:00.000Z")
        );
    }

    #[test]
    fn a_failure_is_final_and_published_as_failed() {
        let failed = apply(
            &execution(TriggerKind::Workflow),
            &report(json!({"type": "failed", "error": {"code": "TIMEOUT"}})),
            NOW,
        );
        let (name, data) = failed.event.unwrap();
        assert_eq!(name, "workflow.execution.failed");
        assert_eq!(data["status"], "failed");
        assert_eq!(data["error"]["code"], "TIMEOUT");
    }

    #[test]
    fn an_agent_conversation_counts_messages_and_ends_with_its_resolution() {
        let agent = execution(TriggerKind::Agent);
        let sent = apply(
            &agent,
            &report(json!({"type": "message_sent", "message": {"id": "m1", "content": "Hello"}})),
            NOW,
        );
        let (name, data) = sent.event.unwrap();
        assert_eq!(name, "agent.message.sent");
        assert_eq!(data["message_count"], 1);
        assert_eq!(data["conversation_id"], "tkt_1");
        let done = apply(
            &sent.execution,
            &report(
                json!({"type": "completed", "satisfaction_score": 4.5, "credits_used": 12.0,
                "resolution": {"type": "solved", "category": "technical_support", "tags": ["password_reset"]}}),
            ),
            NOW,
        );
        let (name, data) = done.event.unwrap();
        assert_eq!(name, "agent.conversation.completed");
        assert_eq!(data["status"], "resolved");
        assert_eq!(data["agent_id"], "agent_1");
        assert_eq!(data["user_id"], "user_1");
        assert_eq!(data["satisfaction_score"], 4.5);
        assert_eq!(data["resolution"]["category"], "technical_support");
        assert_eq!(data["message_count"], 1);
    }

    #[test]
    fn each_report_has_the_key_it_is_applied_once_under() {
        assert_eq!(report(json!({"type": "started"})).key(), "started");
        assert_eq!(report(json!({"type": "completed"})).key(), "end");
        assert_eq!(report(json!({"type": "failed"})).key(), "end");
        assert_eq!(
            report(json!({"type": "step_completed", "step": {"index": 3}})).key(),
            "step#3"
        );
        let message = report(json!({"type": "message_received", "message": {"id": "m7", "content": "hi"}}));
        assert_eq!(message.key(), "message#m7");
    }

    #[test]
    fn reports_missing_what_their_type_needs_are_refused() {
        for body in [
            json!({"type": "step_completed"}),
            json!({"type": "step_completed", "step": {"index": 0}}),
            json!({"type": "message_sent"}),
            json!({"type": "message_sent", "message": {"id": "m", "content": "  "}}),
            json!({"type": "completed", "credits_used": -1}),
            json!({"type": "completed", "satisfaction_score": 6}),
            json!({"type": "started", "occurred_at": "yesterday"}),
        ] {
            let parsed: ExecutionReport = serde_json::from_value(body.clone()).unwrap();
            assert!(parsed.validate().is_err(), "{body} accepted");
        }
    }

    /// What the document says of a field holds whatever the type: a field that is not the
    /// type's is still checked, and ids and names are counted in characters, not bytes.
    #[test]
    fn every_field_sent_is_checked_whatever_the_type() {
        let long = |n: usize| "é".repeat(n);
        for (body, field) in [
            (json!({"type": "started", "step": {"index": 0}}), "step.index"),
            (
                json!({"type": "started", "step": {"index": 1, "name": long(201)}}),
                "step.name",
            ),
            (
                json!({"type": "started", "step": {"index": 1, "output": [1]}}),
                "step.output",
            ),
            (
                json!({"type": "completed", "message": {"id": "", "content": "hi"}}),
                "message",
            ),
            (json!({"type": "completed", "output_data": "done"}), "output_data"),
            (json!({"type": "failed", "error": "timeout"}), "error"),
            (json!({"type": "completed", "resolution": 5}), "resolution"),
            (json!({"type": "completed", "status": " "}), "status"),
            (json!({"type": "completed", "status": long(51)}), "status"),
            (json!({"type": "completed", "credits_used": 1e200}), "credits_used"),
        ] {
            let parsed: ExecutionReport = serde_json::from_value(body.clone()).unwrap();
            let error = parsed.validate().expect_err(&body.to_string());
            assert_eq!(error.details, Some(json!({"field": field})), "{body}");
        }
        for body in [
            json!({"type": "message_sent", "message": {"id": long(128), "content": long(10_000)}}),
            json!({"type": "step_completed", "step": {"index": 1, "name": long(200), "output": null}}),
            json!({"type": "completed", "status": long(50), "output_data": null, "error": null}),
        ] {
            report(body);
        }
    }
}
