//! Inbound webhooks claimed or processed, so that a provider's redelivery is answered without
//! processing it again: `PK = ORG#<org>#INBOUND#<provider>#<event id>`, `SK = INBOUND`, expiring
//! through `TTL` after [`INBOUND_RETENTION_SECONDS`] (longer than any provider retries).
//!
//! A claim is `processing` until the work is done; one whose worker died (a timeout, a crash)
//! expires after [`CLAIM_SECONDS`] and may be taken again, so no event is lost to a dead claim.

use super::dynamodb::ReturnValue;

use super::{PK, SK, Store, StoreError, TTL, get_s, n, org_prefix, s, store_error, unless_condition_failed};

pub const INBOUND_RETENTION_SECONDS: i64 = 7 * 24 * 3600;

/// Longer than a provider function may run (its Lambda timeout).
pub const CLAIM_SECONDS: i64 = 60;

fn inbound_pk(org_id: &str, provider: &str, event_id: &str) -> String {
    format!("{}#INBOUND#{provider}#{event_id}", org_prefix(org_id))
}

/// What claiming an inbound event found.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// Ours to process.
    Claimed,
    /// Processed before.
    Done,
    /// Being processed by another invocation right now.
    InProgress,
}

impl Store {
    /// Claims an inbound event for processing.
    pub async fn claim_inbound(
        &self,
        org_id: &str,
        provider: &str,
        event_id: &str,
        now: &str,
        now_epoch: i64,
    ) -> Result<Claim, StoreError> {
        let pk = inbound_pk(org_id, provider, event_id);
        let result = self
            .client()
            .put_item()
            .table_name(self.table())
            .item(PK, s(&pk))
            .item(SK, s("INBOUND"))
            .item("claim_state", s("processing"))
            .item("claim_expires", n(now_epoch + CLAIM_SECONDS))
            .item("received_at", s(now))
            .item(TTL, n(now_epoch + INBOUND_RETENTION_SECONDS))
            .condition_expression("attribute_not_exists(PK) OR (claim_state = :processing AND claim_expires < :now)")
            .expression_attribute_values(":processing", s("processing"))
            .expression_attribute_values(":now", n(now_epoch))
            .send()
            .await;
        if unless_condition_failed(result)?.is_some() {
            return Ok(Claim::Claimed);
        }
        let existing = self.get_item_consistent(pk, "INBOUND").await?;
        Ok(match existing.as_ref().and_then(|item| get_s(item, "claim_state")) {
            Some("processing") => Claim::InProgress,
            _ => Claim::Done,
        })
    }

    /// Marks a claimed event processed: its redeliveries are duplicates from now on.
    pub async fn complete_inbound(&self, org_id: &str, provider: &str, event_id: &str) -> Result<(), StoreError> {
        self.update_item(inbound_pk(org_id, provider, event_id), "INBOUND")
            .update_expression("SET claim_state = :done REMOVE claim_expires")
            .expression_attribute_values(":done", s("done"))
            .return_values(ReturnValue::None)
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    /// Releases a claim whose processing failed, so that the provider's retry is processed.
    pub async fn release_inbound(&self, org_id: &str, provider: &str, event_id: &str) -> Result<(), StoreError> {
        self.delete_item(inbound_pk(org_id, provider, event_id), "INBOUND")
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }
}
