//! Customers, upserted by email. A customer's profile and orders share GSI1's partition
//! `ORG#<org>#CUSTOMER#<email>`: one query answers "who is this and what did they order".

use super::{
    Document, Fields, GSI1PK, GSI1SK, Item, Meta, PK, Store, StoreError, get_s, index_key, newest_first, org_prefix,
    query_all, s,
};

/// Sorts after every `ORDER#...`, so a descending query returns the profile first.
const PROFILE_SORT_KEY: &str = "~PROFILE";

pub(crate) fn customer_pk(org_id: &str, email: &str) -> String {
    format!("{}#CUSTOMER#{}", org_prefix(org_id), email.to_lowercase())
}

/// One page of a customer's context.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerPage {
    /// Present on the first page when the customer was sent.
    pub customer: Option<Document>,
    /// Newest first.
    pub orders: Vec<Document>,
    /// Where the next page starts, when there is one.
    pub next: Option<Item>,
}

impl Store {
    pub async fn upsert_customer(
        &self,
        org_id: &str,
        email: &str,
        fields: &Fields,
        now: &str,
    ) -> Result<(), StoreError> {
        let pk = customer_pk(org_id, email);
        let meta = vec![Meta::Set(GSI1PK, s(pk.clone())), Meta::Set(GSI1SK, s(PROFILE_SORT_KEY))];
        self.merge_document(pk, "CUSTOMER", "customer", fields, now, meta).await
    }

    pub async fn get_customer(&self, org_id: &str, email: &str) -> Result<Option<Document>, StoreError> {
        self.get_document(customer_pk(org_id, email), "CUSTOMER").await
    }

    /// The customer's profile and up to `limit` of their orders, newest first. `start` is a
    /// `next` from an earlier page of the same customer.
    pub async fn customer_page(
        &self,
        org_id: &str,
        email: &str,
        limit: i32,
        start: Option<Item>,
    ) -> Result<CustomerPage, StoreError> {
        let first_page = start.is_none();
        let query = self.query_index(customer_pk(org_id, email));
        // The profile takes one slot of the first page.
        let output = newest_first(query, if first_page { limit + 1 } else { limit }, start).await?;
        let mut items = output.items.unwrap_or_default();
        let mut next = output.last_evaluated_key;
        let customer = match items
            .iter()
            .position(|item| get_s(item, GSI1SK) == Some(PROFILE_SORT_KEY))
        {
            Some(at) => Some(Document::from_item(items.remove(at))?),
            None => None,
        };
        // Without a profile the first page read one order too many: give it back to the next page.
        if items.len() > limit as usize {
            items.truncate(limit as usize);
            next = items.last().map(index_key);
        }
        let orders = items.into_iter().map(Document::from_item).collect::<Result<_, _>>()?;
        let page = CustomerPage { customer, orders, next };
        Ok(page)
    }
}

impl Store {
    /// The partitions that hold a customer: their profile and every order linked to them (each
    /// with the event copies it holds).
    pub async fn customer_partitions(&self, org_id: &str, email: &str) -> Result<Vec<String>, StoreError> {
        let query = self.query_index(customer_pk(org_id, email)).projection_expression("PK");
        let mut partitions: Vec<String> = query_all(query)
            .await?
            .iter()
            .filter_map(|item| get_s(item, PK).map(str::to_string))
            .collect();
        partitions.push(customer_pk(org_id, email));
        partitions.sort();
        partitions.dedup();
        Ok(partitions)
    }

    /// Erases a customer: their profile, their orders and everything stored in those orders'
    /// partitions. Returns how many items were deleted.
    pub async fn erase_customer(&self, org_id: &str, email: &str) -> Result<usize, StoreError> {
        let mut erased = 0;
        for pk in self.customer_partitions(org_id, email).await? {
            erased += self.delete_partition(&pk).await?;
        }
        Ok(erased)
    }
}

/// A cursor from `encode_cursor`, accepted only for the same organization and customer.
pub fn decode_customer_cursor(org_id: &str, email: &str, cursor: &str) -> Option<Item> {
    super::decode_cursor(&customer_pk(org_id, email), cursor)
}
