//! Mail: what threads inbound mail onto tickets, what the desk refuses, and where a reply's
//! sending stands.
//!
//! | item           | PK                                 | SK                          |
//! |----------------|------------------------------------|-----------------------------|
//! | Message-ID     | `ORG#<org>#MSGID#<message id>`     | `MSGID` (`ticket_id`)       |
//! | blocked sender | `ORG#<org>#BLOCKED`                | `SENDER#<address or domain>`|
//!
//! - A Message-ID item is written in the transaction that stores the mail's entry, only if
//!   absent: the same mail (a provider's retry, or one mail through two doors) lands once.
//! - Threading reads the Message-IDs a mail names (`In-Reply-To`, `References`) with one
//!   `BatchGetItem`; failing that, the customer's recent email tickets (`Query` on their GSI2
//!   partition, newest first).
//! - A sender is blocked by address or by domain: one `BatchGetItem` of the address, its domain
//!   and the domain's parents.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::tickets::{Channel, Entry, Ticket, customer_tickets_index_pk, ticket_from};
use super::{Item, Store, StoreError, entity_item, get_s, key, org_prefix, query_all, s, store_error};

pub(crate) const MESSAGE_ID: &str = "MSGID";

/// How an entry came or went by email.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EntryEmail {
    /// The sender's address.
    pub from: String,
    pub to: Vec<String>,
    #[serde(default)]
    pub cc: Vec<String>,
    pub subject: String,
    /// The Message-IDs this mail answers (`In-Reply-To`), without angle brackets.
    #[serde(default)]
    pub in_reply_to: Vec<String>,
    /// Its thread's Message-IDs (`References`), oldest first.
    #[serde(default)]
    pub references: Vec<String>,
    /// The email integration (mailbox) it arrived at; replies go out through it.
    pub mailbox_id: String,
    /// The provider's id of the received mail (Resend's email id), when a provider received it.
    pub provider_id: Option<String>,
}

/// Where sending a reply through its channel stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EntryDelivery {
    /// `queued`, `sent`, or `failed` (after the last attempt, or at once when it cannot succeed).
    pub status: String,
    /// Attempts made.
    pub attempts: u32,
    /// The provider's id of the sent message.
    pub provider_message_id: Option<String>,
    /// Why the last attempt failed.
    pub error: Option<String>,
    pub updated_at: String,
}

impl EntryDelivery {
    pub fn queued(now: &str) -> Self {
        Self {
            status: "queued".into(),
            attempts: 0,
            provider_message_id: None,
            error: None,
            updated_at: now.to_string(),
        }
    }
}

/// A sender whose mail is dropped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BlockedSender {
    /// An address (`spam@example.com`) or a domain (`example.com`, which covers its subdomains).
    pub sender: String,
    pub reason: Option<String>,
    pub created_at: String,
}

/// The key under which an inbound message's provider id is kept: an email's Message-ID as it is
/// (threading looks mail up by it), a chat message's id under its channel (`whatsapp:wamid...`).
/// Entries of the API and the widget carry no provider id of their own.
pub fn provider_message_key(entry: &Entry) -> Option<String> {
    let id = entry
        .provider_message_id
        .as_deref()
        .filter(|_| entry.direction == "inbound")?;
    match entry.channel {
        Channel::Email => entry.email.as_ref().map(|_| id.to_string()),
        Channel::Api | Channel::Widget => None,
        channel => Some(chat_message_key(channel, id)),
    }
}

/// The key of a chat message's provider id.
pub fn chat_message_key(channel: Channel, id: &str) -> String {
    format!("{}:{id}", channel.as_str())
}

pub(crate) fn message_id_pk(org_id: &str, message_id: &str) -> String {
    format!("{}#MSGID#{message_id}", org_prefix(org_id))
}

fn blocked_pk(org_id: &str) -> String {
    format!("{}#BLOCKED", org_prefix(org_id))
}

fn blocked_sk(sender: &str) -> String {
    format!("SENDER#{sender}")
}

/// At most this many of a mail's Message-IDs are looked up (the newest of its `References`).
pub const MAX_THREAD_IDS: usize = 50;

/// At most this many of a customer's recent tickets are compared by subject.
const MAX_SUBJECT_CANDIDATES: i32 = 50;

impl Store {
    /// The tickets of those of `message_ids` (the first [`MAX_THREAD_IDS`]) that stored mail
    /// has, by Message-ID.
    pub async fn tickets_of_messages(
        &self,
        org_id: &str,
        message_ids: &[String],
    ) -> Result<HashMap<String, String>, StoreError> {
        let mut keys: Vec<Item> = Vec::new();
        for id in message_ids.iter().take(MAX_THREAD_IDS) {
            let k = key(message_id_pk(org_id, id), MESSAGE_ID);
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let prefix = message_id_pk(org_id, "");
        Ok(self
            .batch_get(keys)
            .await?
            .iter()
            .filter_map(|item| {
                let id = get_s(item, super::PK)?.strip_prefix(&prefix)?;
                Some((id.to_string(), get_s(item, "ticket_id")?.to_string()))
            })
            .collect())
    }

    /// The customer's email tickets updated at or after `since`, newest first.
    pub async fn recent_email_tickets(
        &self,
        org_id: &str,
        customer_email: &str,
        since: &str,
    ) -> Result<Vec<Ticket>, StoreError> {
        let output = self
            .query_index2(customer_tickets_index_pk(org_id, customer_email))
            .scan_index_forward(false)
            .filter_expression("channel = :email AND updated_at >= :since")
            .expression_attribute_values(":email", s("email"))
            .expression_attribute_values(":since", s(since))
            .limit(MAX_SUBJECT_CANDIDATES)
            .send()
            .await
            .map_err(store_error)?;
        output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| ticket_from(org_id, item))
            .collect()
    }

    /// Records where sending a reply stands.
    pub async fn set_entry_delivery(
        &self,
        org_id: &str,
        ticket_id: &str,
        entry_id: &str,
        delivery: &EntryDelivery,
    ) -> Result<(), StoreError> {
        let value = serde_dynamo::to_attribute_value(delivery).map_err(|e| StoreError::Rejected(e.to_string()))?;
        self.update_item(
            super::tickets::ticket_pk(org_id, ticket_id),
            &format!("ENTRY#{entry_id}"),
        )
        .update_expression("SET delivery = :delivery")
        .condition_expression("attribute_exists(PK)")
        .expression_attribute_values(":delivery", value)
        .send()
        .await
        .map_err(store_error)?;
        Ok(())
    }

    /// Blocks a sender; `false` when it was blocked already.
    pub async fn block_sender(&self, org_id: &str, blocked: &BlockedSender) -> Result<bool, StoreError> {
        let mut item = entity_item(blocked)?;
        item.extend(key(blocked_pk(org_id), &blocked_sk(&blocked.sender)));
        self.put_if_absent(item).await
    }

    pub async fn list_blocked_senders(&self, org_id: &str) -> Result<Vec<BlockedSender>, StoreError> {
        query_all(self.query_partition(blocked_pk(org_id)))
            .await?
            .into_iter()
            .map(blocked_from)
            .collect()
    }

    /// Unblocks a sender; the entry as it was, `None` when it was not blocked.
    pub async fn unblock_sender(&self, org_id: &str, sender: &str) -> Result<Option<BlockedSender>, StoreError> {
        let output = self
            .delete_item(blocked_pk(org_id), &blocked_sk(sender))
            .return_values(super::dynamodb::ReturnValue::AllOld)
            .send()
            .await
            .map_err(store_error)?;
        output.attributes.map(blocked_from).transpose()
    }

    /// The entry that blocks `address` (by itself, its domain or a parent domain), if any.
    pub async fn blocking_entry(&self, org_id: &str, address: &str) -> Result<Option<BlockedSender>, StoreError> {
        let candidates = blocking_candidates(address);
        let keys = candidates
            .iter()
            .map(|candidate| key(blocked_pk(org_id), &blocked_sk(candidate)))
            .collect();
        let found = self.batch_get(keys).await?;
        found.into_iter().next().map(blocked_from).transpose()
    }
}

fn blocked_from(item: Item) -> Result<BlockedSender, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Unavailable(format!("unreadable blocked sender: {e}")))
}

/// What can block `address`: itself, its domain and the domain's parents down to two labels
/// (`a@mail.example.com`: the address, `mail.example.com`, `example.com`).
pub fn blocking_candidates(address: &str) -> Vec<String> {
    let address = address.to_lowercase();
    let mut candidates = vec![address.clone()];
    if let Some((_, domain)) = address.rsplit_once('@') {
        let labels: Vec<&str> = domain.split('.').collect();
        for start in 0..labels.len().saturating_sub(1) {
            candidates.push(labels[start..].join("."));
        }
    }
    candidates.truncate(10);
    candidates
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_blocked_by_itself_its_domain_and_parent_domains() {
        assert_eq!(
            blocking_candidates("Spam@Mail.Example.com"),
            vec!["spam@mail.example.com", "mail.example.com", "example.com"]
        );
        assert_eq!(
            blocking_candidates("a@example.com"),
            vec!["a@example.com", "example.com"]
        );
    }
}
