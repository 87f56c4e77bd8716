//! SLA policies, the targets they give tickets, and the index of targets by due time.
//!
//! | item        | PK                        | SK                 | GSI1PK            | GSI1SK                        |
//! |-------------|---------------------------|--------------------|-------------------|-------------------------------|
//! | SLA policy  | `ORG#<org>#SLA`           | `POLICY#<id>`      | –                 | –                             |
//! | due target  | `ORG#<org>#TICKET#<id>`   | `SLADUE#<target>`  | `SLADUE#<shard>`  | `<due_at>#<org>#<ticket id>`  |
//!
//! Access patterns:
//! - An organization's policies: `Query PK = ORG#<org>#SLA` (a handful of items).
//! - A ticket's targets: stored on the ticket (`sla`), and one due-target item per target in the
//!   ticket's partition, written in the transaction that sets the target. Setting it again (a
//!   new priority) overwrites the item, so a ticket has at most one per target.
//! - What is due: `Query GSI1 GSI1PK = SLADUE#<shard>, GSI1SK <= <now>` on each shard, oldest
//!   first: only due targets are read, and whatever fell due while nothing ran is read on the
//!   next run. Shards spread the writes of a busy desk over several index partitions.
//! - A breach: one conditional `UpdateItem` on the ticket claims it (the target still due at the
//!   same time, not met, not breached before), so a breach is recorded once even when two runs
//!   overlap; then the due target is deleted if nobody rewrote it meanwhile.

use std::collections::HashMap;

use super::dynamodb::TransactWriteItem;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::tickets::{Channel, Priority, Status, Ticket, ticket_from, ticket_pk};
use super::{GSI1PK, GSI1SK, Item, PK, SK, Store, StoreError, entity_item, get_s, org_prefix, s};
use crate::clock::rfc3339;

/// A first-response and a resolution target, in minutes; either may be absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, try_from = "serde_json::Map<String, serde_json::Value>")]
pub struct SlaTarget {
    #[schema(minimum = 1, maximum = 525600)]
    pub first_response_minutes: Option<u32>,
    #[schema(minimum = 1, maximum = 525600)]
    pub resolution_minutes: Option<u32>,
}

/// A target's fields. Read through a JSON object only: serde would also read a struct from an
/// array of its fields (`[30, null]`), which no client means.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetFields {
    first_response_minutes: Option<u32>,
    resolution_minutes: Option<u32>,
}

impl TryFrom<serde_json::Map<String, serde_json::Value>> for SlaTarget {
    type Error = serde_json::Error;

    fn try_from(object: serde_json::Map<String, serde_json::Value>) -> Result<Self, Self::Error> {
        let fields: TargetFields = serde_json::from_value(serde_json::Value::Object(object))?;
        Ok(SlaTarget {
            first_response_minutes: fields.first_response_minutes,
            resolution_minutes: fields.resolution_minutes,
        })
    }
}

/// A policy's targets by ticket priority; a priority without targets gets none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriorityTargets {
    pub low: Option<SlaTarget>,
    pub normal: Option<SlaTarget>,
    pub high: Option<SlaTarget>,
    pub urgent: Option<SlaTarget>,
}

impl PriorityTargets {
    pub fn of(&self, priority: Priority) -> Option<SlaTarget> {
        match priority {
            Priority::Low => self.low,
            Priority::Normal => self.normal,
            Priority::High => self.high,
            Priority::Urgent => self.urgent,
        }
    }

    pub fn all(&self) -> impl Iterator<Item = SlaTarget> + '_ {
        [self.low, self.normal, self.high, self.urgent].into_iter().flatten()
    }
}

/// An organization's SLA policy. A ticket takes its targets from the first policy, by
/// `position` and then age, that covers its channel and has targets for its priority.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SlaPolicy {
    #[serde(rename = "id")]
    pub policy_id: String,
    pub name: String,
    /// Lower positions are tried first.
    pub position: u32,
    /// The channels the policy covers; empty: every channel.
    pub channels: Vec<Channel>,
    pub targets: PriorityTargets,
    pub created_at: String,
    pub updated_at: String,
}

/// A ticket's SLA: its policy's due times, and when each was breached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TicketSla {
    pub policy_id: String,
    pub first_response_due_at: Option<String>,
    pub resolution_due_at: Option<String>,
    pub first_response_breached_at: Option<String>,
    pub resolution_breached_at: Option<String>,
}

/// The two targets a ticket can breach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SlaMetric {
    FirstResponse,
    Resolution,
}

impl SlaMetric {
    pub const ALL: [SlaMetric; 2] = [SlaMetric::FirstResponse, SlaMetric::Resolution];

    pub const fn as_str(self) -> &'static str {
        match self {
            SlaMetric::FirstResponse => "first_response",
            SlaMetric::Resolution => "resolution",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|metric| metric.as_str() == name)
    }
}

impl TicketSla {
    pub fn due_at(&self, metric: SlaMetric) -> Option<&str> {
        match metric {
            SlaMetric::FirstResponse => self.first_response_due_at.as_deref(),
            SlaMetric::Resolution => self.resolution_due_at.as_deref(),
        }
    }

    pub fn breached_at(&self, metric: SlaMetric) -> Option<&str> {
        match metric {
            SlaMetric::FirstResponse => self.first_response_breached_at.as_deref(),
            SlaMetric::Resolution => self.resolution_breached_at.as_deref(),
        }
    }
}

/// The SLA a ticket of `channel` and `priority` opened at `opened` takes from `policies`, if any
/// policy applies. Due times count from the ticket's opening, also after a new priority.
pub fn ticket_sla(
    policies: &[SlaPolicy],
    channel: Channel,
    priority: Priority,
    opened: OffsetDateTime,
) -> Option<TicketSla> {
    let mut ordered: Vec<&SlaPolicy> = policies.iter().collect();
    ordered.sort_by(|a, b| (a.position, &a.created_at).cmp(&(b.position, &b.created_at)));
    ordered.into_iter().find_map(|policy| {
        if !policy.channels.is_empty() && !policy.channels.contains(&channel) {
            return None;
        }
        let target = policy.targets.of(priority)?;
        let due = |minutes: Option<u32>| minutes.map(|m| rfc3339(opened + Duration::minutes(i64::from(m))));
        let sla = TicketSla {
            policy_id: policy.policy_id.clone(),
            first_response_due_at: due(target.first_response_minutes),
            resolution_due_at: due(target.resolution_minutes),
            first_response_breached_at: None,
            resolution_breached_at: None,
        };
        (sla.first_response_due_at.is_some() || sla.resolution_due_at.is_some()).then_some(sla)
    })
}

/// A ticket's target that fell due, as the due index holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct DueTarget {
    pub org_id: String,
    pub ticket_id: String,
    pub metric: SlaMetric,
    pub due_at: String,
    /// The item's sort key in the index when read: it is deleted only if still the same.
    index_sort_key: String,
}

/// Index partitions the due targets are spread over.
pub const DUE_SHARDS: u32 = 4;

fn policies_pk(org_id: &str) -> String {
    format!("{}#SLA", org_prefix(org_id))
}

fn policy_sk(policy_id: &str) -> String {
    format!("POLICY#{policy_id}")
}

fn due_sk(metric: SlaMetric) -> String {
    format!("SLADUE#{}", metric.as_str())
}

/// The due-index partition of a ticket's targets: a stable spread by ticket id.
fn due_index_pk(ticket_id: &str) -> String {
    let shard = ticket_id
        .bytes()
        .fold(0u32, |sum, byte| sum.wrapping_add(u32::from(byte)))
        % DUE_SHARDS;
    format!("SLADUE#{shard}")
}

fn policy_item(org_id: &str, policy: &SlaPolicy) -> Result<Item, StoreError> {
    let mut item = entity_item(policy)?;
    item.insert(PK.into(), s(policies_pk(org_id)));
    item.insert(SK.into(), s(policy_sk(&policy.policy_id)));
    Ok(item)
}

fn policy_from(item: Item) -> Result<SlaPolicy, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Unavailable(format!("unreadable SLA policy: {e}")))
}

impl Store {
    pub async fn create_sla_policy(&self, org_id: &str, policy: &SlaPolicy) -> Result<(), StoreError> {
        self.put_new_item(policy_item(org_id, policy)?).await
    }

    /// Replaces a policy; `false` when there is none with its id.
    pub async fn replace_sla_policy(&self, org_id: &str, policy: &SlaPolicy) -> Result<bool, StoreError> {
        let result = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(policy_item(org_id, policy)?))
            .condition_expression("attribute_exists(PK)")
            .send()
            .await;
        Ok(super::unless_condition_failed(result)?.is_some())
    }

    /// Deletes a policy; `false` when there is none with this id. Tickets keep the targets they took.
    pub async fn delete_sla_policy(&self, org_id: &str, policy_id: &str) -> Result<bool, StoreError> {
        let result = self
            .delete_item(policies_pk(org_id), &policy_sk(policy_id))
            .condition_expression("attribute_exists(PK)")
            .send()
            .await;
        Ok(super::unless_condition_failed(result)?.is_some())
    }

    pub async fn get_sla_policy(&self, org_id: &str, policy_id: &str) -> Result<Option<SlaPolicy>, StoreError> {
        self.get_item(policies_pk(org_id), &policy_sk(policy_id))
            .await?
            .map(policy_from)
            .transpose()
    }

    /// The organization's policies, in the order they apply.
    pub async fn list_sla_policies(&self, org_id: &str) -> Result<Vec<SlaPolicy>, StoreError> {
        let items = super::query_all(self.query_prefix(policies_pk(org_id), "POLICY#")).await?;
        let mut policies: Vec<SlaPolicy> = items.into_iter().map(policy_from).collect::<Result<_, _>>()?;
        policies.sort_by(|a, b| (a.position, &a.created_at).cmp(&(b.position, &b.created_at)));
        Ok(policies)
    }

    /// The writes that index a ticket's due targets (one per target it has).
    pub(crate) fn sla_due_writes(&self, org_id: &str, ticket_id: &str, sla: &TicketSla) -> Vec<TransactWriteItem> {
        SlaMetric::ALL
            .into_iter()
            .filter_map(|metric| Some((metric, sla.due_at(metric)?)))
            .map(|(metric, due_at)| {
                let item = HashMap::from([
                    (PK.to_string(), s(ticket_pk(org_id, ticket_id))),
                    (SK.to_string(), s(due_sk(metric))),
                    (GSI1PK.to_string(), s(due_index_pk(ticket_id))),
                    (GSI1SK.to_string(), s(format!("{due_at}#{org_id}#{ticket_id}"))),
                    ("org_id".to_string(), s(org_id)),
                    ("ticket_id".to_string(), s(ticket_id)),
                    ("metric".to_string(), s(metric.as_str())),
                    ("due_at".to_string(), s(due_at)),
                ]);
                self.transact_put(item, None)
            })
            .collect()
    }

    /// Targets of one index shard due at `now` or before, oldest first: one page of at most
    /// `limit`, and where the next starts.
    pub async fn due_sla_targets(
        &self,
        shard: u32,
        now: &str,
        limit: i32,
        start: Option<Item>,
    ) -> Result<(Vec<DueTarget>, Option<Item>), StoreError> {
        // `~` sorts after the `#` that ends every due time, so targets due exactly now are in.
        let output = self
            .query_index_where(format!("SLADUE#{shard}"), "GSI1SK <= :now")
            .expression_attribute_values(":now", s(format!("{now}~")))
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(super::store_error)?;
        let targets = output
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(|item| {
                Some(DueTarget {
                    org_id: get_s(item, "org_id")?.to_string(),
                    ticket_id: get_s(item, "ticket_id")?.to_string(),
                    metric: SlaMetric::from_name(get_s(item, "metric")?)?,
                    due_at: get_s(item, "due_at")?.to_string(),
                    index_sort_key: get_s(item, GSI1SK)?.to_string(),
                })
            })
            .collect();
        Ok((targets, output.last_evaluated_key))
    }

    /// Records that a ticket breached a target at `at`, only if the target is still due when it
    /// was, still unmet and not breached before: the ticket as recorded, for the one caller that
    /// records it.
    pub async fn record_sla_breach(&self, due: &DueTarget, at: &str) -> Result<Option<Ticket>, StoreError> {
        let metric = due.metric.as_str();
        let unmet = match due.metric {
            SlaMetric::FirstResponse => {
                "attribute_not_exists(first_response_at) AND #status IN (:new, :open, :pending)"
            }
            SlaMetric::Resolution => "#status IN (:new, :open, :pending)",
        };
        let result = self
            .update_item(ticket_pk(&due.org_id, &due.ticket_id), "TICKET")
            .update_expression(format!("SET sla.{metric}_breached_at = :at"))
            // Inside a map an absent value is stored as NULL (only top-level ones are left out).
            .condition_expression(format!(
                "sla.{metric}_due_at = :due AND (attribute_not_exists(sla.{metric}_breached_at) \
                 OR attribute_type(sla.{metric}_breached_at, :null)) AND {unmet}"
            ))
            .expression_attribute_values(":null", s("NULL"))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":at", s(at))
            .expression_attribute_values(":due", s(&due.due_at))
            .expression_attribute_values(":new", s(Status::New.as_str()))
            .expression_attribute_values(":open", s(Status::Open.as_str()))
            .expression_attribute_values(":pending", s(Status::Pending.as_str()))
            .return_values(super::dynamodb::ReturnValue::AllNew)
            .send()
            .await;
        super::unless_condition_failed(result)?
            .and_then(|output| output.attributes)
            .map(|item| ticket_from(&due.org_id, item))
            .transpose()
    }

    /// Takes back a breach recorded at `at` whose event could not be published, so that the
    /// next run records and publishes it.
    pub async fn withdraw_sla_breach(&self, due: &DueTarget, at: &str) -> Result<(), StoreError> {
        let metric = due.metric.as_str();
        let result = self
            .update_item(ticket_pk(&due.org_id, &due.ticket_id), "TICKET")
            .update_expression(format!("REMOVE sla.{metric}_breached_at"))
            .condition_expression(format!("sla.{metric}_breached_at = :at"))
            .expression_attribute_values(":at", s(at))
            .send()
            .await;
        super::unless_condition_failed(result)?;
        Ok(())
    }

    /// Removes a due target from the index, unless a new due time replaced it since it was read.
    pub async fn remove_due_target(&self, due: &DueTarget) -> Result<(), StoreError> {
        let result = self
            .delete_item(ticket_pk(&due.org_id, &due.ticket_id), &due_sk(due.metric))
            .condition_expression("GSI1SK = :seen")
            .expression_attribute_values(":seen", s(&due.index_sort_key))
            .send()
            .await;
        super::unless_condition_failed(result)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(id: &str, position: u32, channels: Vec<Channel>, urgent: Option<SlaTarget>) -> SlaPolicy {
        SlaPolicy {
            policy_id: id.into(),
            name: id.into(),
            position,
            channels,
            targets: PriorityTargets {
                urgent,
                normal: Some(SlaTarget {
                    first_response_minutes: Some(60),
                    resolution_minutes: None,
                }),
                ..PriorityTargets::default()
            },
            created_at: "2026-01-01T00:00:00Z".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    const OPENED: OffsetDateTime = time::macros::datetime!(2026-11-25 10:00 UTC);

    #[test]
    fn the_first_policy_covering_channel_and_priority_applies() {
        let urgent = SlaTarget {
            first_response_minutes: Some(15),
            resolution_minutes: Some(240),
        };
        let policies = [
            policy("email-only", 0, vec![Channel::Email], Some(urgent)),
            policy("everyone", 1, vec![], None),
        ];
        let sla = ticket_sla(&policies, Channel::Email, Priority::Urgent, OPENED).unwrap();
        assert_eq!(sla.policy_id, "email-only");
        assert_eq!(sla.first_response_due_at.as_deref(), Some("2026-11-25T10:15:00.000Z"));
        assert_eq!(sla.resolution_due_at.as_deref(), Some("2026-11-25T14:00:00.000Z"));
        // Another channel skips the email policy; a priority without targets takes none.
        let sla = ticket_sla(&policies, Channel::Api, Priority::Normal, OPENED).unwrap();
        assert_eq!(sla.policy_id, "everyone");
        assert_eq!(sla.resolution_due_at, None);
        assert_eq!(ticket_sla(&policies, Channel::Api, Priority::Urgent, OPENED), None);
        assert_eq!(ticket_sla(&[], Channel::Api, Priority::Urgent, OPENED), None);
    }

    #[test]
    fn a_ticket_keeps_its_shard_and_every_shard_is_used() {
        assert_eq!(due_index_pk("tkt_01ABC"), due_index_pk("tkt_01ABC"));
        let shards: std::collections::BTreeSet<String> =
            (0..40).map(|i| due_index_pk(&format!("tkt_{i:04}"))).collect();
        assert_eq!(shards.len(), DUE_SHARDS as usize);
    }
}
