//! CSAT: a rating token per AI reply, rated once.
//!
//! | item          | PK                               | SK      |
//! |---------------|----------------------------------|---------|
//! | CSAT token    | `ORG#<org>#CSAT#<sha256 of secret>` | `CSAT` |
//! | public use    | `PUBLIC#<route>#<client ip>`     | `<minute>` (with `TTL`) |
//!
//! The token is `csat_<org>_<secret>`: the organization leads the key like every other, and
//! only the secret's hash is stored. It is written in the reply's own transaction. A rating is
//! one transaction: the token's rating (only if it has none), the ticket's CSAT and the
//! organization's CSAT counters, so two simultaneous ratings of one token rate it once.
//!
//! Public uses are counted per client IP and minute, the one other key that no organization
//! leads: a public route knows no organization before it has read the request.

use super::dynamodb::{AttributeValue, TransactWriteItem};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Item, PK, SK, Store, StoreError, TTL, entity_item, n, org_prefix, s};

/// A ticket's CSAT, once its customer rated a reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TicketCsat {
    /// 1 (poor) to 5 (great).
    pub rating: u8,
    pub comment: Option<String>,
    pub rated_at: String,
}

/// What a CSAT token rates, and its rating once given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CsatToken {
    pub org_id: String,
    pub ticket_id: String,
    pub ticket_number: u64,
    pub reply_id: String,
    pub customer_email: Option<String>,
    pub issued_at: String,
    /// Epoch seconds: the token rates for 30 days from then.
    pub issued_epoch: i64,
    pub rating: Option<TicketCsat>,
}

/// What a rating did.
pub enum Rated {
    Rated(CsatToken),
    /// The token was rated before (or by a rating that arrived at the same instant).
    AlreadyRated,
}

/// The stored form of a token's secret.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn csat_pk(org_id: &str, secret: &str) -> String {
    format!("{}#CSAT#{}", org_prefix(org_id), secret_hash(secret))
}

impl Store {
    /// The write that stores a new token, for the reply's transaction.
    pub fn csat_token_write(&self, token: &CsatToken, secret: &str) -> Result<TransactWriteItem, StoreError> {
        let mut item: Item = entity_item(token)?;
        item.insert(PK.into(), s(csat_pk(&token.org_id, secret)));
        item.insert(SK.into(), s("CSAT"));
        Ok(self.transact_put(item, Some(super::NOT_STORED)))
    }

    pub async fn get_csat_token(&self, org_id: &str, secret: &str) -> Result<Option<CsatToken>, StoreError> {
        self.get_item_consistent(csat_pk(org_id, secret), "CSAT")
            .await?
            .map(|item| {
                serde_dynamo::from_item(item)
                    .map_err(|e| StoreError::Unavailable(format!("unreadable CSAT token: {e}")))
            })
            .transpose()
    }

    /// Rates a token once: its rating, its ticket's CSAT and the organization's counters, together.
    pub async fn rate_csat(&self, token: &CsatToken, secret: &str, rating: &TicketCsat) -> Result<Rated, StoreError> {
        let value =
            |csat: &TicketCsat| serde_dynamo::to_attribute_value(csat).map_err(|e| StoreError::Rejected(e.to_string()));
        let update = |pk: String, sk: &str, expression: &str| self.update_item(pk, sk).update_expression(expression);
        let writes = vec![
            update(csat_pk(&token.org_id, secret), "CSAT", "SET rating = :rating")
                .condition_expression("attribute_exists(PK) AND attribute_not_exists(rating)")
                .expression_attribute_values(":rating", value(rating)?)
                .into_update(),
            update(
                format!("{}#TICKET#{}", org_prefix(&token.org_id), token.ticket_id),
                "TICKET",
                "SET csat = :rating",
            )
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":rating", value(rating)?)
            .into_update(),
            update(
                org_prefix(&token.org_id),
                "ORG",
                "ADD csat_ratings :one, csat_rating_total :stars",
            )
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":stars", n(rating.rating))
            .into_update(),
        ];
        Ok(match self.transact(writes).await? {
            true => Rated::Rated(CsatToken {
                rating: Some(rating.clone()),
                ..token.clone()
            }),
            false => Rated::AlreadyRated,
        })
    }

    /// Counts one use of a public `route` by `client` in the minute `window`; `false` when the
    /// client has used it `limit` times in that minute already.
    pub async fn count_public_use(
        &self,
        route: &str,
        client: &str,
        window: i64,
        limit: u32,
    ) -> Result<bool, StoreError> {
        let result = self
            .update_item(format!("PUBLIC#{route}#{client}"), &window.to_string())
            .update_expression("ADD uses :one SET #ttl = :expires")
            .condition_expression("attribute_not_exists(uses) OR uses < :limit")
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(limit))
            .expression_attribute_values(":expires", AttributeValue::N(((window + 2) * 60).to_string()))
            .send()
            .await;
        Ok(super::unless_condition_failed(result)?.is_some())
    }
}
