//! Webhook endpoints (outbound subscriptions): `PK = ORG#<org>#ENDPOINT#<id>`, `SK = ENDPOINT`,
//! listed through `GSI1PK = ORG#<org>#ENDPOINTS`.
//!
//! The endpoint's settings are one JSON attribute (`config`); its signing secrets and the
//! receiver's bearer token are stored sealed (see `crypto`); delivery counters are numbers
//! updated atomically by the delivery worker.

use super::dynamodb::Operation;
use super::dynamodb::Output;
use super::dynamodb::ReturnValue;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{
    GSI1PK, GSI1SK, Item, PK, SK, Store, StoreError, get_n, get_s, n, org_and_id, org_prefix, query_all, s,
    unless_condition_failed,
};

/// What a merchant configures on an endpoint (secrets excluded).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointConfig {
    pub name: String,
    pub url: String,
    pub events: Vec<String>,
    /// `bearer` when the receiver wants `Authorization: Bearer <token>`.
    pub authentication: Option<String>,
    pub retry_policy: RetryPolicy,
    pub conditions: Map<String, Value>,
    pub include_fields: Vec<String>,
    /// When set, events are delivered together as one array.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_settings: Option<BatchSettings>,
    /// How `X-Hookgate-Signature` is written.
    #[serde(default)]
    pub signature_style: SignatureStyle,
}

/// How the seeds' signature header is written; Standard Webhooks' headers come with either.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SignatureStyle {
    /// `X-Hookgate-Signature: sha256=<hex>` (seed 000's style).
    #[default]
    Sha256,
    /// Bare hex, in `X-Hookgate-Signature` and in `x-confirmai-signature`, for receivers written
    /// against seed 004's verification code.
    Hex,
}

/// Deliver a batch when `max_events` are waiting or the oldest has waited `max_wait_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchSettings {
    /// 1 to 100.
    pub max_events: u32,
    /// 1 to 3600.
    pub max_wait_seconds: u64,
}

/// When to retry: delays in seconds before each retry, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetryPolicy {
    pub delays_seconds: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub org_id: String,
    pub endpoint_id: String,
    pub config: EndpointConfig,
    /// `active` or `disabled`.
    pub status: String,
    pub disabled_reason: Option<String>,
    pub sealed_secret: String,
    /// The secret replaced by the last rotation, still signing until `previous_secret_until`.
    pub sealed_previous_secret: Option<String>,
    pub previous_secret_until: Option<i64>,
    pub sealed_token: Option<String>,
    pub failing_since: Option<i64>,
    pub created_at: String,
    pub updated_at: String,
    pub stats: DeliveryStats,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DeliveryStats {
    pub total_deliveries: u64,
    pub successful_deliveries: u64,
    pub failed_deliveries: u64,
    pub total_attempts: u64,
    pub last_delivery: Option<String>,
}

pub(crate) fn endpoint_pk(org_id: &str, endpoint_id: &str) -> String {
    format!("{}#ENDPOINT#{endpoint_id}", org_prefix(org_id))
}

fn endpoint_item(endpoint: &Endpoint) -> Result<Item, StoreError> {
    let config = serde_json::to_string(&endpoint.config).map_err(|e| StoreError::Rejected(e.to_string()))?;
    let mut item = Item::from([
        (PK.to_string(), s(endpoint_pk(&endpoint.org_id, &endpoint.endpoint_id))),
        (SK.to_string(), s("ENDPOINT")),
        (
            GSI1PK.to_string(),
            s(format!("{}#ENDPOINTS", org_prefix(&endpoint.org_id))),
        ),
        (GSI1SK.to_string(), s(format!("ENDPOINT#{}", endpoint.endpoint_id))),
        ("config".to_string(), s(config)),
        ("status".to_string(), s(&endpoint.status)),
        ("secret".to_string(), s(&endpoint.sealed_secret)),
        ("created_at".to_string(), s(&endpoint.created_at)),
        ("updated_at".to_string(), s(&endpoint.updated_at)),
        ("total_deliveries".to_string(), n(0)),
        ("successful_deliveries".to_string(), n(0)),
        ("failed_deliveries".to_string(), n(0)),
        ("total_attempts".to_string(), n(0)),
    ]);
    if let Some(token) = &endpoint.sealed_token {
        item.insert("token".to_string(), s(token));
    }
    Ok(item)
}

fn endpoint_from(item: &Item) -> Option<Endpoint> {
    let (org_id, endpoint_id) = org_and_id(item, "#ENDPOINT#")?;
    Some(Endpoint {
        org_id: org_id.to_string(),
        endpoint_id: endpoint_id.to_string(),
        config: serde_json::from_str(get_s(item, "config")?).ok()?,
        status: get_s(item, "status").unwrap_or("active").to_string(),
        disabled_reason: get_s(item, "disabled_reason").map(str::to_string),
        sealed_secret: get_s(item, "secret")?.to_string(),
        sealed_previous_secret: get_s(item, "previous_secret").map(str::to_string),
        previous_secret_until: get_n(item, "previous_secret_until"),
        sealed_token: get_s(item, "token").map(str::to_string),
        failing_since: get_n(item, "failing_since"),
        created_at: get_s(item, "created_at").unwrap_or_default().to_string(),
        updated_at: get_s(item, "updated_at").unwrap_or_default().to_string(),
        stats: DeliveryStats {
            total_deliveries: get_n(item, "total_deliveries").unwrap_or(0),
            successful_deliveries: get_n(item, "successful_deliveries").unwrap_or(0),
            failed_deliveries: get_n(item, "failed_deliveries").unwrap_or(0),
            total_attempts: get_n(item, "total_attempts").unwrap_or(0),
            last_delivery: get_s(item, "last_delivery").map(str::to_string),
        },
    })
}

/// The endpoint an `ALL_NEW` update returned; `None` when its condition failed.
fn updated_endpoint(output: Option<Output>) -> Option<Endpoint> {
    output.as_ref().and_then(|o| o.attributes()).and_then(endpoint_from)
}

/// What an update does to the receiver's bearer token.
pub enum TokenChange<'a> {
    Keep,
    Set(&'a str),
    Remove,
}

/// How delivery attempts went, for the endpoint's counters and health.
pub enum AttemptOutcome {
    /// This many deliveries answered 2xx: they are done and the endpoint is healthy again.
    Delivered { deliveries: u32 },
    /// One attempt failed at `at_epoch` (seconds); `final_failure` when it was the delivery's
    /// last attempt.
    Failed { final_failure: bool, at_epoch: i64 },
}

impl Store {
    /// An update of one endpoint, guarded by `condition` (each requires the endpoint to exist).
    fn update_endpoint_item(&self, org_id: &str, endpoint_id: &str, condition: &str) -> Operation {
        self.update_item(endpoint_pk(org_id, endpoint_id), "ENDPOINT")
            .condition_expression(condition)
    }

    pub async fn create_endpoint(&self, endpoint: &Endpoint) -> Result<(), StoreError> {
        self.put_new_item(endpoint_item(endpoint)?).await
    }

    pub async fn get_endpoint(&self, org_id: &str, endpoint_id: &str) -> Result<Option<Endpoint>, StoreError> {
        let item = self.get_item(endpoint_pk(org_id, endpoint_id), "ENDPOINT").await?;
        Ok(item.as_ref().and_then(endpoint_from))
    }

    /// Every endpoint of an organization, oldest first.
    pub async fn list_endpoints(&self, org_id: &str) -> Result<Vec<Endpoint>, StoreError> {
        let query = self.query_index(format!("{}#ENDPOINTS", org_prefix(org_id)));
        let mut endpoints: Vec<Endpoint> = query_all(query).await?.iter().filter_map(endpoint_from).collect();
        endpoints.sort_by(|a, b| {
            a.created_at
                .cmp(&b.created_at)
                .then_with(|| a.endpoint_id.cmp(&b.endpoint_id))
        });
        Ok(endpoints)
    }

    /// Replaces an endpoint's settings; `None` when it does not exist.
    pub async fn update_endpoint(
        &self,
        org_id: &str,
        endpoint_id: &str,
        config: &EndpointConfig,
        token: TokenChange<'_>,
        status: &str,
        now: &str,
    ) -> Result<Option<Endpoint>, StoreError> {
        let config = serde_json::to_string(config).map_err(|e| StoreError::Rejected(e.to_string()))?;
        let mut sets = vec!["config = :config", "updated_at = :now", "#status = :status"];
        let mut removals = Vec::new();
        let mut request = self
            .update_endpoint_item(org_id, endpoint_id, "attribute_exists(PK)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":config", s(config))
            .expression_attribute_values(":now", s(now))
            .expression_attribute_values(":status", s(status))
            .return_values(ReturnValue::AllNew);
        match token {
            TokenChange::Keep => {}
            TokenChange::Set(token) => {
                sets.push("#token = :token");
                request = request
                    .expression_attribute_names("#token", "token")
                    .expression_attribute_values(":token", s(token));
            }
            TokenChange::Remove => {
                removals.push("#token");
                request = request.expression_attribute_names("#token", "token");
            }
        }
        if status == "active" {
            // Enabling clears why it was disabled and its failure streak.
            removals.extend(["disabled_reason", "failing_since"]);
        }
        let mut update = format!("SET {}", sets.join(", "));
        if !removals.is_empty() {
            update.push_str(&format!(" REMOVE {}", removals.join(", ")));
        }
        let output = unless_condition_failed(request.update_expression(update).send().await)?;
        Ok(updated_endpoint(output))
    }

    /// Deletes an endpoint; `false` when there was none.
    pub async fn delete_endpoint(&self, org_id: &str, endpoint_id: &str) -> Result<bool, StoreError> {
        let result = self
            .delete_item(endpoint_pk(org_id, endpoint_id), "ENDPOINT")
            .condition_expression("attribute_exists(PK)")
            .send()
            .await;
        Ok(unless_condition_failed(result)?.is_some())
    }

    /// Installs a new signing secret; the current one keeps signing until `previous_until`.
    pub async fn rotate_endpoint_secret(
        &self,
        org_id: &str,
        endpoint_id: &str,
        sealed_new: &str,
        previous_until: i64,
        now: &str,
    ) -> Result<Option<Endpoint>, StoreError> {
        let result = self
            .update_endpoint_item(org_id, endpoint_id, "attribute_exists(PK)")
            .update_expression(
                "SET previous_secret = secret, previous_secret_until = :until, secret = :new, updated_at = :now",
            )
            .expression_attribute_values(":until", n(previous_until))
            .expression_attribute_values(":new", s(sealed_new))
            .expression_attribute_values(":now", s(now))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        Ok(updated_endpoint(unless_condition_failed(result)?))
    }

    /// Counts attempts on the endpoint and tracks how long it has been failing. Returns the
    /// endpoint's `failing_since` after the update (None when healthy).
    pub async fn record_endpoint_attempt(
        &self,
        org_id: &str,
        endpoint_id: &str,
        outcome: AttemptOutcome,
        now: &str,
    ) -> Result<Option<i64>, StoreError> {
        let request = self
            .update_endpoint_item(org_id, endpoint_id, "attribute_exists(PK)")
            .expression_attribute_values(":now", s(now));
        let request = match outcome {
            // Nothing to read back: a success ends any failing streak.
            AttemptOutcome::Delivered { deliveries } => request
                .update_expression(
                    "ADD total_attempts :n, total_deliveries :n, successful_deliveries :n SET last_delivery = :now REMOVE failing_since",
                )
                .expression_attribute_values(":n", n(deliveries)),
            AttemptOutcome::Failed {
                final_failure,
                at_epoch,
            } => {
                let counters = if final_failure {
                    "ADD total_attempts :n, total_deliveries :n, failed_deliveries :n"
                } else {
                    "ADD total_attempts :n"
                };
                request
                    .update_expression(format!("{counters} SET failing_since = if_not_exists(failing_since, :epoch), last_delivery = :now"))
                    .expression_attribute_values(":n", n(1))
                    .expression_attribute_values(":epoch", n(at_epoch))
                    // ALL_NEW, not UPDATED_NEW: an `if_not_exists` that keeps the value may not
                    // count as updated, and the caller needs `failing_since` either way.
                    .return_values(ReturnValue::AllNew)
            }
        };
        // A failed condition: the endpoint was deleted meanwhile, nothing to count.
        let output = unless_condition_failed(request.send().await)?;
        Ok(output
            .as_ref()
            .and_then(|o| o.attributes())
            .and_then(|a| get_n(a, "failing_since")))
    }

    /// Disables an endpoint; `false` when it was already disabled or is gone.
    pub async fn disable_endpoint(
        &self,
        org_id: &str,
        endpoint_id: &str,
        reason: &str,
        now: &str,
    ) -> Result<bool, StoreError> {
        let result = self
            .update_endpoint_item(org_id, endpoint_id, "attribute_exists(PK) AND #status = :active")
            .update_expression("SET #status = :disabled, disabled_reason = :reason, updated_at = :now")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":active", s("active"))
            .expression_attribute_values(":disabled", s("disabled"))
            .expression_attribute_values(":reason", s(reason))
            .expression_attribute_values(":now", s(now))
            .send()
            .await;
        Ok(unless_condition_failed(result)?.is_some())
    }
}
