//! Any other JSON object sent to `/api/webhook`, stored as-is under its `type`.

use serde_json::Value;

use super::{Item, PK, SK, Store, StoreError, org_prefix, s, store_error, to_attribute};

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
            (
                PK.to_string(),
                s(format!("{}#RECORD#{kind}#{record_id}", org_prefix(org_id))),
            ),
            (SK.to_string(), s("RECORD")),
            ("ENTITY".to_string(), s("record")),
            ("type".to_string(), s(kind)),
            ("body".to_string(), to_attribute(body)?),
            ("received_at".to_string(), s(now)),
        ]);
        self.client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    /// The stored body of a record written by `record_other`.
    pub async fn get_other(&self, org_id: &str, kind: &str, record_id: &str) -> Result<Option<Value>, StoreError> {
        let output = self
            .client()
            .get_item()
            .table_name(self.table())
            .key(PK, s(format!("{}#RECORD#{kind}#{record_id}", org_prefix(org_id))))
            .key(SK, s("RECORD"))
            .send()
            .await
            .map_err(store_error)?;
        let Some(body) = output.item.and_then(|mut item| item.remove("body")) else {
            return Ok(None);
        };
        serde_dynamo::from_attribute_value(body)
            .map(Some)
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }
}
