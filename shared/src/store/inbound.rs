//! Inbound webhooks already processed, so that a provider's redelivery is answered without
//! processing it again: `PK = ORG#<org>#INBOUND#<provider>#<event id>`, `SK = INBOUND`, expiring
//! through `TTL` after [`INBOUND_RETENTION_SECONDS`] (longer than any provider retries).

use super::{PK, SK, Store, StoreError, TTL, n, org_prefix, s, store_error, unless_condition_failed};

pub const INBOUND_RETENTION_SECONDS: i64 = 7 * 24 * 3600;

fn inbound_pk(org_id: &str, provider: &str, event_id: &str) -> String {
    format!("{}#INBOUND#{provider}#{event_id}", org_prefix(org_id))
}

impl Store {
    /// Claims an inbound event for processing; `false` when it was seen before.
    pub async fn claim_inbound(
        &self,
        org_id: &str,
        provider: &str,
        event_id: &str,
        now: &str,
        now_epoch: i64,
    ) -> Result<bool, StoreError> {
        let result = self
            .client()
            .put_item()
            .table_name(self.table())
            .item(PK, s(inbound_pk(org_id, provider, event_id)))
            .item(SK, s("INBOUND"))
            .item("received_at", s(now))
            .item(TTL, n(now_epoch + INBOUND_RETENTION_SECONDS))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        Ok(unless_condition_failed(result)?.is_some())
    }

    /// Releases a claim whose processing failed, so that the provider's retry is processed.
    pub async fn release_inbound(&self, org_id: &str, provider: &str, event_id: &str) -> Result<(), StoreError> {
        self.client()
            .delete_item()
            .table_name(self.table())
            .set_key(Some(super::key(inbound_pk(org_id, provider, event_id), "INBOUND")))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }
}
