//! Idempotent requests: the first answer to a POST carrying an `Idempotency-Key`, kept 24 hours.
//!
//! | item     | PK                                   | SK            |
//! |----------|--------------------------------------|---------------|
//! | request  | `ORG#<org>#IDEMPOTENCY#<key>`        | `IDEMPOTENCY` |
//!
//! The key is claimed with a conditional put (absent, or expired) holding the request's
//! fingerprint; the answer is written onto it when the request is done. A claim whose request
//! failed on our side (5xx) is released, so the client's retry runs again; one whose request
//! died before it could be released (its function killed or timed out, the AWS services gone)
//! is taken over once it has run longer than any function may ([`RUNNING_CLAIM_SECONDS`]).

use super::{Item, NOT_STORED, Store, StoreError, TTL, get_n, get_s, key, n, org_prefix, s, send_write, store_error};

/// How long a key answers with its first response.
pub const IDEMPOTENCY_SECONDS: i64 = 24 * 3600;

/// How long a claim may stay `running`: longer than any function of the stack may run (60 s at
/// most), so a claim older than this belongs to a request that died.
pub const RUNNING_CLAIM_SECONDS: i64 = 120;

/// A kept answer.
#[derive(Debug, Clone, PartialEq)]
pub struct KeptResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: String,
}

/// What claiming a key found.
#[derive(Debug, PartialEq)]
pub enum IdempotencyClaim {
    /// The key is new: run the request.
    Claimed,
    /// The same request was answered before: answer the same.
    Replay(KeptResponse),
    /// The same request is running now.
    InProgress,
    /// The key was used for another request.
    Mismatch,
}

fn idempotency_pk(org_id: &str, key: &str) -> String {
    format!("{}#IDEMPOTENCY#{key}", org_prefix(org_id))
}

impl Store {
    pub async fn claim_idempotency_key(
        &self,
        org_id: &str,
        key_text: &str,
        fingerprint: &str,
        now_epoch: i64,
    ) -> Result<IdempotencyClaim, StoreError> {
        let mut item: Item = key(idempotency_pk(org_id, key_text), "IDEMPOTENCY");
        item.extend([
            ("fingerprint".to_string(), s(fingerprint)),
            ("state".to_string(), s("running")),
            ("claimed_at".to_string(), n(now_epoch)),
            (TTL.to_string(), n(now_epoch + IDEMPOTENCY_SECONDS)),
        ]);
        let put = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            // Absent, kept past its day (TTL deletes lazily), or left running by the same request
            // that died.
            .condition_expression(format!(
                "{NOT_STORED} OR #ttl < :now OR (#state = :running AND claimed_at < :abandoned AND fingerprint = :fingerprint)"
            ))
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":now", n(now_epoch))
            .expression_attribute_values(":running", s("running"))
            .expression_attribute_values(":abandoned", n(now_epoch - RUNNING_CLAIM_SECONDS))
            .expression_attribute_values(":fingerprint", s(fingerprint))
            .send()
            .await;
        if super::unless_condition_failed(put)?.is_some() {
            return Ok(IdempotencyClaim::Claimed);
        }
        let Some(kept) = self
            .get_item_consistent(idempotency_pk(org_id, key_text), "IDEMPOTENCY")
            .await?
        else {
            // Released meanwhile: the client's next retry claims it.
            return Ok(IdempotencyClaim::InProgress);
        };
        if get_s(&kept, "fingerprint") != Some(fingerprint) {
            return Ok(IdempotencyClaim::Mismatch);
        }
        Ok(match (get_s(&kept, "state"), get_n::<u16>(&kept, "status")) {
            (Some("done"), Some(status)) => IdempotencyClaim::Replay(KeptResponse {
                status,
                content_type: get_s(&kept, "content_type").map(str::to_string),
                body: get_s(&kept, "body").unwrap_or_default().to_string(),
            }),
            _ => IdempotencyClaim::InProgress,
        })
    }

    /// Keeps the answer of a claimed key.
    pub async fn keep_idempotent_response(
        &self,
        org_id: &str,
        key_text: &str,
        response: &KeptResponse,
    ) -> Result<(), StoreError> {
        let mut update = self
            .update_item(idempotency_pk(org_id, key_text), "IDEMPOTENCY")
            .update_expression("SET #state = :done, #status = :status, body = :body")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":done", s("done"))
            .expression_attribute_values(":status", n(response.status))
            .expression_attribute_values(":body", s(&response.body));
        if let Some(content_type) = &response.content_type {
            update = update
                .update_expression("SET #state = :done, #status = :status, body = :body, content_type = :type")
                .expression_attribute_values(":type", s(content_type));
        }
        send_write(update).await
    }

    /// Lets the key go, so that a retry runs the request again.
    pub async fn release_idempotency_key(&self, org_id: &str, key_text: &str) -> Result<(), StoreError> {
        self.delete_item(idempotency_pk(org_id, key_text), "IDEMPOTENCY")
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }
}
