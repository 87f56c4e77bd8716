//! Customers, upserted by email. A customer's profile and orders share GSI1's partition
//! `ORG#<org>#CUSTOMER#<email>`: one query answers "who is this and what did they order".
//!
//! | item      | PK                                        | SK         | GSI2PK                | GSI2SK                 |
//! |-----------|-------------------------------------------|------------|-----------------------|------------------------|
//! | customer  | `ORG#<org>#CUSTOMER#<email>`              | `CUSTOMER` | `ORG#<org>#CUSTOMERS` | `<updated_at>#<email>` |
//! | identity  | `ORG#<org>#IDENTITY#<kind>#<value>`       | `IDENTITY` | –                     | –                      |
//!
//! - The organization's customers, last updated first: `Query GSI2` on `ORG#<org>#CUSTOMERS`.
//! - A customer by phone or channel identity (`phone`, `whatsapp`, `messenger`, `slack`): one
//!   `GetItem` of the identity item, which names the email, then the customer. Identity items
//!   are written in the upsert's own transaction from the customer's `phone` and `identities`
//!   fields, so one record per email stays the one record; an identity sent for another email
//!   moves to it.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{
    Document, Fields, GSI1PK, GSI1SK, GSI2PK, GSI2SK, Item, Meta, PK, SK, Store, StoreError, get_s, index_key,
    newest_first, org_prefix, query_all, s,
};

/// Sorts after every `ORDER#...`, so a descending query returns the profile first.
const PROFILE_SORT_KEY: &str = "~PROFILE";

pub(crate) fn customer_pk(org_id: &str, email: &str) -> String {
    format!("{}#CUSTOMER#{}", org_prefix(org_id), email.to_lowercase())
}

/// The index partition listing an organization's customers; cursors are checked against it.
pub fn customers_index_pk(org_id: &str) -> String {
    format!("{}#CUSTOMERS", org_prefix(org_id))
}

fn identity_pk(org_id: &str, kind: &str, value: &str) -> String {
    format!("{}#IDENTITY#{kind}#{value}", org_prefix(org_id))
}

/// The identities a customer can be found by besides the email.
pub const IDENTITY_KINDS: [&str; 4] = ["phone", "whatsapp", "messenger", "slack"];

/// An identity as stored: a phone as `+` and digits (`+49 123-456` → `+49123456`, `0049…` →
/// `+49…`), a WhatsApp id as digits, the others trimmed; `None` when it cannot be one.
pub fn normalized_identity(kind: &str, value: &str) -> Option<String> {
    let value = value.trim();
    let digits: String = value.chars().filter(char::is_ascii_digit).collect();
    let normalized = match kind {
        "phone" => {
            let international = value.starts_with('+') || value.starts_with("00");
            let digits = if value.starts_with("00") {
                &digits[2..]
            } else {
                &digits[..]
            };
            let allowed = value.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c));
            (allowed && international && (6..=15).contains(&digits.len())).then(|| format!("+{digits}"))?
        }
        "whatsapp" => (value.chars().all(|c| c.is_ascii_digit() || c == '+') && (6..=15).contains(&digits.len()))
            .then_some(digits)?,
        "messenger" | "slack" => {
            (!value.is_empty() && value.len() <= 128 && !value.contains(['#', '\0'])).then(|| value.to_string())?
        }
        _ => return None,
    };
    Some(normalized)
}

/// The static name of an identity kind (one of [`IDENTITY_KINDS`]).
fn kind_name(kind: &str) -> &'static str {
    IDENTITY_KINDS.into_iter().find(|k| *k == kind).unwrap_or("phone")
}

/// The identities a customer's fields name: `phone`, and `identities.{whatsapp,messenger,slack}`.
pub fn identities(fields: &Fields) -> BTreeSet<(&'static str, String)> {
    let mut found = BTreeSet::new();
    if let Some(phone) = fields
        .get("phone")
        .and_then(Value::as_str)
        .and_then(|p| normalized_identity("phone", p))
    {
        found.insert(("phone", phone));
    }
    if let Some(Value::Object(named)) = fields.get("identities") {
        for kind in &IDENTITY_KINDS[1..] {
            if let Some(value) = named
                .get(*kind)
                .and_then(Value::as_str)
                .and_then(|v| normalized_identity(kind, v))
            {
                found.insert((*kind, value));
            }
        }
    }
    found
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
        let meta = vec![
            Meta::Set(GSI1PK, s(pk.clone())),
            Meta::Set(GSI1SK, s(PROFILE_SORT_KEY)),
            Meta::Set(GSI2PK, s(customers_index_pk(org_id))),
            Meta::Set(GSI2SK, s(format!("{now}#{}", email.to_lowercase()))),
        ];
        let identities = identities(fields)
            .into_iter()
            .map(|(kind, value)| {
                let item = Item::from([
                    (PK.to_string(), s(identity_pk(org_id, kind, &value))),
                    (SK.to_string(), s("IDENTITY")),
                    ("email".to_string(), s(email.to_lowercase())),
                ]);
                self.transact_put(item, None)
            })
            .collect();
        self.merge_document((pk, "CUSTOMER"), "customer", fields, now, meta, identities)
            .await
    }

    /// The customer with this identity (`phone`, `whatsapp`, `messenger`, `slack`) now: an
    /// identity item whose customer no longer has that identity (a changed phone) finds no one.
    pub async fn customer_by_identity(
        &self,
        org_id: &str,
        kind: &str,
        value: &str,
    ) -> Result<Option<Document>, StoreError> {
        let Some(value) = normalized_identity(kind, value) else {
            return Ok(None);
        };
        let item = self.get_item(identity_pk(org_id, kind, &value), "IDENTITY").await?;
        let Some(email) = item.as_ref().and_then(|item| get_s(item, "email")) else {
            return Ok(None);
        };
        let customer = self.get_customer(org_id, email).await?;
        Ok(customer.filter(|customer| identities(&customer.fields).contains(&(kind_name(kind), value.clone()))))
    }

    /// A page of the organization's customers, last updated first.
    pub async fn list_customers(
        &self,
        org_id: &str,
        limit: i32,
        start: Option<Item>,
    ) -> Result<(Vec<Document>, Option<Item>), StoreError> {
        let output = newest_first(self.query_index2(customers_index_pk(org_id)), limit, start).await?;
        let customers = output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(Document::from_item)
            .collect::<Result<_, _>>()?;
        Ok((customers, output.last_evaluated_key))
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
        // The identities that still find this customer go with them.
        if let Some(profile) = self.get_customer(org_id, email).await? {
            for (kind, value) in identities(&profile.fields) {
                let deleted = self
                    .delete_item(identity_pk(org_id, kind, &value), "IDENTITY")
                    .condition_expression("email = :email")
                    .expression_attribute_values(":email", s(email.to_lowercase()))
                    .send()
                    .await;
                erased += usize::from(super::unless_condition_failed(deleted)?.is_some());
            }
        }
        for pk in self.customer_partitions(org_id, email).await? {
            erased += self.delete_partition(&pk).await?;
        }
        Ok(erased)
    }
}
