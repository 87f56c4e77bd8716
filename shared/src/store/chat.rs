//! The chat channels' conversations and the receipts of what was sent on them.
//!
//! | item          | PK                                              | SK     |
//! |---------------|-------------------------------------------------|--------|
//! | conversation  | `ORG#<org>#CHAT#<channel>#<conversation>`       | `CHAT` (`ticket_id`) |
//! | sent message  | `ORG#<org>#SENT#<channel>#<provider's id>`      | `SENT` (`ticket_id`, `entry_id`) |
//!
//! - A conversation (a WhatsApp or SMS number, a Messenger PSID, a Slack thread, a caller) points
//!   to the ticket its messages go on. The pointer is claimed before the ticket is opened, with a
//!   conditional write, so two first messages arriving at once open one ticket; a closed
//!   ticket's pointer is replaced, conditioned on the ticket it named.
//! - A reply sent through a provider is remembered under the provider's id for 30 days, so that
//!   the provider's delivery receipts find the entry they are about.

use serde::{Deserialize, Serialize};

use super::mail::EntryDelivery;
use super::tickets::{Channel, ticket_pk};
use super::{Store, StoreError, TTL, get_n, get_s, key, n, org_prefix, s};

/// How long a sent message's receipts are matched to its entry.
const SENT_RETENTION_SECONDS: i64 = 30 * 86_400;

/// Where a chat message came from, so that replies go back there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EntryChat {
    /// The channel integration it came through; replies go out through it.
    pub integration_id: String,
    /// Whom a reply goes to: the WhatsApp id, the Messenger PSID, the phone number, the Slack
    /// channel.
    pub reply_to: String,
    /// Slack: the thread a reply goes into.
    #[serde(default)]
    pub thread: Option<String>,
    /// The sender on the channel (a phone number, a PSID, a Slack user id).
    pub sender: String,
}

fn conversation_pk(org_id: &str, channel: Channel, conversation: &str) -> String {
    format!("{}#CHAT#{}#{conversation}", org_prefix(org_id), channel.as_str())
}

fn sent_pk(org_id: &str, channel: Channel, provider_id: &str) -> String {
    format!("{}#SENT#{}#{provider_id}", org_prefix(org_id), channel.as_str())
}

/// The order receipts move a delivery in: a later receipt never moves it back.
fn progress(status: &str) -> u8 {
    match status {
        "queued" => 0,
        "sent" => 1,
        "delivered" => 2,
        "read" => 3,
        _ => 4,
    }
}

impl Store {
    /// The ticket a conversation's messages go on, and when (epoch seconds) it was claimed.
    pub async fn conversation_ticket(
        &self,
        org_id: &str,
        channel: Channel,
        conversation: &str,
    ) -> Result<Option<(String, i64)>, StoreError> {
        let item = self
            .get_item_consistent(conversation_pk(org_id, channel, conversation), "CHAT")
            .await?;
        Ok(item.as_ref().and_then(|i| {
            let ticket_id = get_s(i, "ticket_id")?.to_string();
            Some((ticket_id, get_n(i, "claimed_at").unwrap_or(0)))
        }))
    }

    /// Points a conversation to `ticket_id` at `now_epoch`: only if it points nowhere
    /// (`replacing` `None`) or still to `replacing`. `false` when another message claimed it first.
    pub async fn claim_conversation(
        &self,
        org_id: &str,
        channel: Channel,
        conversation: &str,
        ticket_id: &str,
        replacing: Option<&str>,
        now_epoch: i64,
    ) -> Result<bool, StoreError> {
        let mut item = key(conversation_pk(org_id, channel, conversation), "CHAT");
        item.insert("ticket_id".into(), s(ticket_id));
        item.insert("claimed_at".into(), n(now_epoch));
        let put = self.client().put_item().table_name(self.table()).set_item(Some(item));
        let put = match replacing {
            None => put.condition_expression("attribute_not_exists(PK)"),
            Some(old) => put
                .condition_expression("ticket_id = :old")
                .expression_attribute_values(":old", s(old)),
        };
        Ok(super::unless_condition_failed(put.send().await)?.is_some())
    }

    /// Remembers a reply sent under the provider's id, for its receipts.
    pub async fn remember_sent(
        &self,
        org_id: &str,
        channel: Channel,
        provider_id: &str,
        ticket_id: &str,
        entry_id: &str,
        now_epoch: i64,
    ) -> Result<(), StoreError> {
        let mut item = key(sent_pk(org_id, channel, provider_id), "SENT");
        item.extend([
            ("ticket_id".to_string(), s(ticket_id)),
            ("entry_id".to_string(), s(entry_id)),
            (TTL.to_string(), n(now_epoch + SENT_RETENTION_SECONDS)),
        ]);
        self.put_item(item).await
    }

    /// Applies a provider's receipt (`delivered`, `read`, `failed`) to the reply sent under
    /// `provider_id`; `false` when no reply of ours has that id. Receipts out of order never move
    /// a delivery back (`read` stays `read` when `delivered` arrives late).
    pub async fn apply_receipt(
        &self,
        org_id: &str,
        channel: Channel,
        provider_id: &str,
        status: &str,
        error: Option<String>,
        now: &str,
    ) -> Result<bool, StoreError> {
        let Some(sent) = self.get_item(sent_pk(org_id, channel, provider_id), "SENT").await? else {
            return Ok(false);
        };
        let (Some(ticket_id), Some(entry_id)) = (get_s(&sent, "ticket_id"), get_s(&sent, "entry_id")) else {
            return Ok(false);
        };
        let Some(entry) = self.get_entry(org_id, entry_id).await? else {
            return Ok(false);
        };
        let current = entry.delivery.unwrap_or_else(|| EntryDelivery::queued(now));
        if progress(status) <= progress(&current.status) && status != "failed" {
            return Ok(true);
        }
        let delivery = EntryDelivery {
            status: status.to_string(),
            error: error.or_else(|| current.error.clone()),
            updated_at: now.to_string(),
            ..current.clone()
        };
        let value = serde_dynamo::to_attribute_value(&delivery).map_err(|e| StoreError::Rejected(e.to_string()))?;
        // Only over the status read: of two receipts at once, one moves it and the other is
        // dropped (the provider's receipts are a courtesy, not a ledger).
        let updated = self
            .update_item(ticket_pk(org_id, ticket_id), &format!("ENTRY#{entry_id}"))
            .update_expression("SET delivery = :delivery")
            .condition_expression("delivery.#status = :seen")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":delivery", value)
            .expression_attribute_values(":seen", s(&current.status))
            .send()
            .await;
        super::unless_condition_failed(updated)?;
        Ok(true)
    }
}
