//! Triggers: the tokens with which a merchant's systems start an agent or a workflow
//! (`POST /webhooks/agents/{id}`, `POST /webhooks/workflows/{id}`).
//!
//! | item    | PK                            | SK        | GSI1PK                 | GSI1SK |
//! |---------|-------------------------------|-----------|------------------------|--------|
//! | trigger | `ORG#<org>#TRIGGER#<id>`      | `TRIGGER` | `ORG#<org>#TRIGGERS`   | `<id>` |
//!
//! A trigger's id is `trg_` and the id inside its token (`wh_<id>_<secret>`, whose first 12
//! characters are the organization), so a presented token finds its trigger with one `GetItem`
//! under the tenant's own key. Only the HMAC of the token's secret is stored (`secret_hash`,
//! never returned).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{GSI1PK, GSI1SK, Item, Store, StoreError, entity_item, get_s, key, org_prefix, query_all, s, store_error};

/// What a trigger starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TriggerKind {
    Agent,
    Workflow,
}

impl TriggerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerKind::Agent => "agent",
            TriggerKind::Workflow => "workflow",
        }
    }

    /// The path segment of its webhook: `/webhooks/agents/{id}`, `/webhooks/workflows/{id}`.
    pub fn path_segment(self) -> &'static str {
        match self {
            TriggerKind::Agent => "agents",
            TriggerKind::Workflow => "workflows",
        }
    }
}

/// A trigger as its owner sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Trigger {
    /// `trg_<id>`.
    pub id: String,
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub kind: TriggerKind,
    /// The agent or workflow it starts.
    pub target_id: String,
    /// The token's public part (`wh_<id>`), to tell tokens apart.
    pub token_prefix: String,
    pub created_at: String,
}

pub const TRIGGER_ID_PREFIX: &str = "trg_";

fn trigger_pk(org_id: &str, trigger_id: &str) -> String {
    format!("{}#TRIGGER#{trigger_id}", org_prefix(org_id))
}

fn triggers_index_pk(org_id: &str) -> String {
    format!("{}#TRIGGERS", org_prefix(org_id))
}

const SECRET_HASH: &str = "secret_hash";

impl Store {
    pub async fn create_trigger(&self, org_id: &str, trigger: &Trigger, secret_hash: &str) -> Result<(), StoreError> {
        let mut item = entity_item(trigger)?;
        item.extend(key(trigger_pk(org_id, &trigger.id), "TRIGGER"));
        item.insert(GSI1PK.into(), s(triggers_index_pk(org_id)));
        item.insert(GSI1SK.into(), s(&trigger.id));
        item.insert(SECRET_HASH.into(), s(secret_hash));
        self.put_new_item(item).await
    }

    /// A trigger with the HMAC of its token's secret, for checking a presented token.
    pub async fn get_trigger(&self, org_id: &str, trigger_id: &str) -> Result<Option<(Trigger, String)>, StoreError> {
        let Some(item) = self.get_item(trigger_pk(org_id, trigger_id), "TRIGGER").await? else {
            return Ok(None);
        };
        let hash = get_s(&item, SECRET_HASH).unwrap_or_default().to_string();
        Ok(Some((trigger_from(item)?, hash)))
    }

    /// The organization's triggers, oldest first.
    pub async fn list_triggers(&self, org_id: &str) -> Result<Vec<Trigger>, StoreError> {
        query_all(self.query_index(triggers_index_pk(org_id)))
            .await?
            .into_iter()
            .map(trigger_from)
            .collect()
    }

    /// Deletes a trigger: its token stops working at once. The trigger as it was, `None` when
    /// there was none.
    pub async fn delete_trigger(&self, org_id: &str, trigger_id: &str) -> Result<Option<Trigger>, StoreError> {
        let output = self
            .delete_item(trigger_pk(org_id, trigger_id), "TRIGGER")
            .return_values(super::dynamodb::ReturnValue::AllOld)
            .send()
            .await
            .map_err(store_error)?;
        output.attributes.map(trigger_from).transpose()
    }
}

fn trigger_from(item: Item) -> Result<Trigger, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Unavailable(format!("unreadable trigger: {e}")))
}
