//! Products, upserted by SKU.

use super::{Document, Fields, Store, StoreError, org_prefix};

fn product_pk(org_id: &str, sku: &str) -> String {
    format!("{}#PRODUCT#{sku}", org_prefix(org_id))
}

impl Store {
    pub async fn upsert_product(&self, org_id: &str, sku: &str, fields: &Fields, now: &str) -> Result<(), StoreError> {
        self.merge_document(
            (product_pk(org_id, sku), "PRODUCT"),
            "product",
            fields,
            now,
            Vec::new(),
            Vec::new(),
        )
        .await
    }

    pub async fn get_product(&self, org_id: &str, sku: &str) -> Result<Option<Document>, StoreError> {
        self.get_document(product_pk(org_id, sku), "PRODUCT").await
    }
}
