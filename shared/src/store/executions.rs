//! Executions: one run of an agent or a workflow, started by a trigger and reported on by the
//! platform's runtime.
//!
//! | item        | PK                          | SK                 | GSI1PK                                   | GSI1SK              |
//! |-------------|-----------------------------|--------------------|------------------------------------------|---------------------|
//! | execution   | `ORG#<org>#EXECUTION#<id>`  | `EXECUTION`        | `ORG#<org>#AGENT#<agent>#EXECUTIONS` or `ORG#<org>#WORKFLOW#<workflow>#EXECUTIONS` | `<created_at>#<id>` |
//! | (GSI2 view) |                             |                    | GSI2PK `ORG#<org>#EXECUTIONS`            | GSI2SK `<created_at>#<id>` |
//! | report seen | `ORG#<org>#EXECUTION#<id>`  | `REPORT#<report>`  | –                                        | –                   |
//!
//! - Listing an agent's or a workflow's executions is one `Query` of its GSI1 partition, all of
//!   the organization's one of GSI2, newest first.
//! - A report is applied with one `TransactWriteItems`: the report's item, only if absent (a
//!   repeated report changes nothing), and the execution as the report leaves it, only if its
//!   `version` is still the one read (two reports at once: one retries on the other's result).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::triggers::TriggerKind;
use super::{
    GSI1PK, GSI1SK, GSI2PK, GSI2SK, Item, NOT_STORED, Store, StoreError, TTL, entity_item, key, n, newest_first,
    org_prefix, s, store_error,
};

/// Where an execution stands. `success` and `failed` are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionStatus {
    Queued,
    Running,
    Success,
    Failed,
}

impl ExecutionStatus {
    pub fn is_final(self) -> bool {
        matches!(self, ExecutionStatus::Success | ExecutionStatus::Failed)
    }
}

/// One execution, as the API shows it and as it is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Execution {
    /// `exec_<ulid>`.
    pub execution_id: String,
    #[serde(rename = "type")]
    pub kind: TriggerKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow_id: Option<String>,
    pub trigger_id: String,
    pub status: ExecutionStatus,
    /// The trigger's body as sent (`message`, `user_id`, `metadata`, `context` for an agent;
    /// `input_data`, `trigger_source`, `metadata` for a workflow).
    #[schema(value_type = Object)]
    pub input: Map<String, Value>,
    #[schema(value_type = Option<Object>)]
    pub output_data: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub error: Option<Value>,
    /// An agent's conversation: the desk's ticket (`tkt_...`, channel `api`).
    pub conversation_id: Option<String>,
    pub user_id: Option<String>,
    pub message_count: u32,
    pub steps_completed: u32,
    pub credits_used: Option<f64>,
    pub satisfaction_score: Option<f64>,
    #[schema(value_type = Option<Object>)]
    pub resolution: Option<Value>,
    pub created_at: String,
    pub estimated_completion: String,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub duration_seconds: Option<i64>,
    pub updated_at: String,
    /// The execution's revision, bumped by every report applied: a report is applied only to
    /// the state it was computed from.
    #[serde(default)]
    pub version: u64,
}

impl Execution {
    /// The agent's or workflow's id.
    pub fn target_id(&self) -> &str {
        self.agent_id
            .as_deref()
            .or(self.workflow_id.as_deref())
            .unwrap_or_default()
    }
}

/// How a report's write went.
#[derive(Debug, PartialEq)]
pub enum ReportWrite {
    Applied,
    /// This report was applied before.
    Seen,
    /// Another report changed the execution since it was read.
    Raced,
}

/// One page of executions.
pub struct ExecutionPage {
    pub executions: Vec<Execution>,
    pub next: Option<Item>,
}

/// How long a report's item is kept: a runtime's retries come within hours.
const REPORT_SEEN_SECONDS: i64 = 30 * 24 * 3600;

fn execution_pk(org_id: &str, execution_id: &str) -> String {
    format!("{}#EXECUTION#{execution_id}", org_prefix(org_id))
}

/// The GSI1 partition of one agent's or workflow's executions.
pub fn target_executions_index_pk(org_id: &str, kind: TriggerKind, target_id: &str) -> String {
    let kind = kind.as_str().to_uppercase();
    format!("{}#{kind}#{target_id}#EXECUTIONS", org_prefix(org_id))
}

/// The GSI2 partition of all the organization's executions.
pub fn executions_index_pk(org_id: &str) -> String {
    format!("{}#EXECUTIONS", org_prefix(org_id))
}

fn execution_item(org_id: &str, execution: &Execution) -> Result<Item, StoreError> {
    let mut item = entity_item(execution)?;
    let sort = format!("{}#{}", execution.created_at, execution.execution_id);
    item.extend(key(execution_pk(org_id, &execution.execution_id), "EXECUTION"));
    let target = target_executions_index_pk(org_id, execution.kind, execution.target_id());
    item.insert(GSI1PK.into(), s(target));
    item.insert(GSI1SK.into(), s(&sort));
    item.insert(GSI2PK.into(), s(executions_index_pk(org_id)));
    item.insert(GSI2SK.into(), s(sort));
    Ok(item)
}

fn execution_from(item: Item) -> Result<Execution, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Unavailable(format!("unreadable execution: {e}")))
}

impl Store {
    pub async fn create_execution(&self, org_id: &str, execution: &Execution) -> Result<(), StoreError> {
        self.put_new_item(execution_item(org_id, execution)?).await
    }

    /// Takes back an execution that could not be queued, so none waits that no runtime will see.
    pub async fn delete_execution(&self, org_id: &str, execution_id: &str) -> Result<(), StoreError> {
        self.delete_item(execution_pk(org_id, execution_id), "EXECUTION")
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    /// Reads an execution, seeing every report acknowledged before.
    pub async fn get_execution(&self, org_id: &str, execution_id: &str) -> Result<Option<Execution>, StoreError> {
        self.get_item_consistent(execution_pk(org_id, execution_id), "EXECUTION")
            .await?
            .map(execution_from)
            .transpose()
    }

    /// A page of executions of the GSI1 (`by_target`) or GSI2 partition `index_pk`, newest first.
    pub async fn list_executions(
        &self,
        index_pk: String,
        by_target: bool,
        limit: usize,
        start: Option<Item>,
    ) -> Result<ExecutionPage, StoreError> {
        let query = match by_target {
            true => self.query_index(index_pk),
            false => self.query_index2(index_pk),
        };
        let output = newest_first(query, limit as i32 + 1, start).await?;
        let mut found = Vec::new();
        for item in output.items.unwrap_or_default() {
            let key = match by_target {
                true => super::index_key(&item),
                false => super::index2_key(&item),
            };
            found.push((key, execution_from(item)?));
        }
        // One more than asked tells whether another page exists.
        let next = match found.len() > limit {
            true => {
                found.truncate(limit);
                found.last().map(|(key, _)| key.clone())
            }
            false => None,
        };
        let executions = found.into_iter().map(|(_, execution)| execution).collect();
        Ok(ExecutionPage { executions, next })
    }

    /// Writes `execution` as a report (`report_key`) leaves it: only if the report is new and
    /// the execution is still at `read_version`.
    pub async fn apply_report(
        &self,
        org_id: &str,
        execution: &Execution,
        read_version: u64,
        report_key: &str,
        now_epoch: i64,
    ) -> Result<ReportWrite, StoreError> {
        let pk = execution_pk(org_id, &execution.execution_id);
        let mut seen = key(pk, &format!("REPORT#{report_key}"));
        seen.insert(TTL.into(), n(now_epoch + REPORT_SEEN_SECONDS));
        let claim = self.transact_put(seen, Some(NOT_STORED));
        let write = self
            .put_request(execution_item(org_id, execution)?, Some("version = :read"))
            .expression_attribute_values(":read", n(read_version))
            .into_put();
        let result = self
            .client()
            .transact_write_items()
            .transact_items(claim)
            .transact_items(write)
            .send()
            .await;
        match result {
            Ok(_) => Ok(ReportWrite::Applied),
            Err(error) => {
                let failed: Vec<bool> = error
                    .cancellation_reasons
                    .iter()
                    .map(|r| r.code.as_deref() == Some("ConditionalCheckFailed"))
                    .collect();
                match failed.as_slice() {
                    [true, ..] => Ok(ReportWrite::Seen),
                    [false, true] => Ok(ReportWrite::Raced),
                    _ => Err(store_error(error)),
                }
            }
        }
    }
}
