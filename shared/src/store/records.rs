//! Any other JSON object sent to `/api/webhook`, stored as-is under its `type`.

use serde_json::Value;

use super::{Item, PK, SK, Store, StoreError, org_prefix, s, send_write, written_attribute};

fn record_pk(org_id: &str, kind: &str, record_id: &str) -> String {
    format!("{}#RECORD#{kind}#{record_id}", org_prefix(org_id))
}

impl Store {
    pub async fn record_other(
        &self,
        org_id: &str,
        kind: &str,
        record_id: &str,
        body: &Value,
        now: &str,
    ) -> Result<(), StoreError> {
        let item = Item::from([
            (PK.to_string(), s(record_pk(org_id, kind, record_id))),
            (SK.to_string(), s("RECORD")),
            ("ENTITY".to_string(), s("record")),
            ("type".to_string(), s(kind)),
            ("received_at".to_string(), s(now)),
        ]);
        send_write(
            self.put_request(item, None)
                .item_written("body", written_attribute(body)?),
        )
        .await
    }

    /// The stored body of a record written by `record_other`.
    pub async fn get_other(&self, org_id: &str, kind: &str, record_id: &str) -> Result<Option<Value>, StoreError> {
        let item = self.get_item(record_pk(org_id, kind, record_id), "RECORD").await?;
        let Some(body) = item.and_then(|mut item| item.remove("body")) else {
            return Ok(None);
        };
        serde_dynamo::from_attribute_value(body)
            .map(Some)
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }
}
