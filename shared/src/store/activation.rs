//! Activation codes: the operator's codes that put an organization on a plan for a trial.
//!
//! | item        | PK                                  | SK           |
//! |-------------|-------------------------------------|--------------|
//! | code        | `ACTIVATION#<CODE>`                 | `CODE`       |
//! | redemption  | `ORG#<org>#ACTIVATION#<CODE>`       | `REDEMPTION` |
//!
//! Codes are the operator's, not an organization's, so their key is the code itself. A
//! redemption is one transaction: the code's count goes up only while it is live and under its
//! limit, the organization's redemption item is put only if absent, and the organization takes
//! the plan with the trial's end and the plan it returns to. So a code is never redeemed past
//! its limit, nor twice by one organization, however many requests arrive at once. The trial
//! ends by itself: the organization and its keys carry its end and what applies after (see
//! [`super::organizations::Organization::at`] and [`super::api_keys::OrgRateLimit`]).

use serde::{Deserialize, Serialize};

use super::api_keys::OrgRateLimit;
use super::organizations::{Organization, TRIAL_PREVIOUS_PLAN, TRIAL_PREVIOUS_RATE_LIMIT, plan_rate_limit};
use super::{Item, NOT_STORED, PK, SK, Store, StoreError, entity_item, n, org_prefix, s};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivationCode {
    /// Upper case, as redeemed.
    pub code: String,
    pub plan: String,
    pub trial_days: u32,
    /// How many organizations may redeem it; none: any number.
    pub max_redemptions: Option<u32>,
    pub redemptions: u32,
    /// When it stops being redeemable (RFC 3339); none: never.
    pub expires_at: Option<String>,
    pub created_at: String,
}

/// What a redemption did.
#[derive(Debug, PartialEq)]
pub enum Redemption {
    Redeemed(ActivationCode),
    Unknown,
    Expired,
    Exhausted,
    /// This organization redeemed this code before.
    AlreadyRedeemed,
    /// The organization is gone, or its plan changed while redeeming: nothing was written.
    Changed,
}

fn code_pk(code: &str) -> String {
    format!("ACTIVATION#{code}")
}

fn redemption_pk(org_id: &str, code: &str) -> String {
    format!("{}#ACTIVATION#{code}", org_prefix(org_id))
}

fn code_from(item: Item) -> Result<ActivationCode, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Unavailable(format!("unreadable activation code: {e}")))
}

impl Store {
    /// Stores a new code; `false` when the code exists.
    pub async fn create_activation_code(&self, code: &ActivationCode) -> Result<bool, StoreError> {
        let mut item = entity_item(code)?;
        item.insert(PK.into(), s(code_pk(&code.code)));
        item.insert(SK.into(), s("CODE"));
        self.put_if_absent(item).await
    }

    pub async fn get_activation_code(&self, code: &str) -> Result<Option<ActivationCode>, StoreError> {
        self.get_item_consistent(code_pk(code), "CODE")
            .await?
            .map(code_from)
            .transpose()
    }

    /// Redeems `code` for `org` (as stored), whose trial then ends at `trial_ends_at`; when it
    /// ends, the organization is back on the plan it is on at `now`.
    pub async fn redeem_activation_code(
        &self,
        org: &Organization,
        code: &str,
        now: &str,
        trial_ends_at: impl Fn(&ActivationCode) -> String,
    ) -> Result<Redemption, StoreError> {
        let Some(found) = self.get_activation_code(code).await? else {
            return Ok(Redemption::Unknown);
        };
        if found.expires_at.as_deref().is_some_and(|expires| now >= expires) {
            return Ok(Redemption::Expired);
        }
        let ends = trial_ends_at(&found);
        let current = org.clone().at(now);
        let limit = plan_rate_limit(&found.plan);
        let count = self
            .update_item(code_pk(code), "CODE")
            .update_expression("ADD redemptions :one")
            .condition_expression(
                "attribute_exists(PK) AND (attribute_not_exists(max_redemptions) OR redemptions < max_redemptions) \
                 AND (attribute_not_exists(expires_at) OR expires_at > :now)",
            )
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", s(now));
        let redemption = Item::from([
            (PK.to_string(), s(redemption_pk(&org.org_id, code))),
            (SK.to_string(), s("REDEMPTION")),
            ("code".to_string(), s(code)),
            ("redeemed_at".to_string(), s(now)),
        ]);
        // The organization returns to the plan it is on now; the plan is taken only while the
        // stored one is still the one read.
        let mut plan = self
            .update_item(org_prefix(&org.org_id), "ORG")
            .condition_expression("attribute_exists(PK) AND #plan = :stored")
            .expression_attribute_names("#plan", "plan")
            .expression_attribute_values(":stored", s(&org.plan))
            .expression_attribute_values(":plan", s(&found.plan))
            .expression_attribute_values(":limit", n(limit))
            .expression_attribute_values(":trialing", s("trialing"))
            .expression_attribute_values(":ends", s(&ends))
            .expression_attribute_values(":previous", s(&current.plan));
        let sets = format!(
            "SET #plan = :plan, plan_rate_limit = :limit, subscription_status = :trialing, trial_ends_at = :ends, \
             {TRIAL_PREVIOUS_PLAN} = :previous"
        );
        plan = match current.plan_rate_limit {
            Some(previous) => plan
                .update_expression(format!("{sets}, {TRIAL_PREVIOUS_RATE_LIMIT} = :previous_limit"))
                .expression_attribute_values(":previous_limit", n(previous)),
            None => plan.update_expression(format!("{sets} REMOVE {TRIAL_PREVIOUS_RATE_LIMIT}")),
        };
        let writes = vec![
            count.into_update(),
            self.transact_put(redemption, Some(NOT_STORED)),
            plan.into_update(),
        ];
        if !self.transact(writes).await? {
            return self.why_not_redeemed(&org.org_id, code, now).await;
        }
        let keys = OrgRateLimit {
            limit,
            until: Some(ends),
            after: current.plan_rate_limit,
        };
        self.set_keys_org_rate_limit(&org.org_id, &keys).await?;
        Ok(Redemption::Redeemed(found))
    }

    /// Which condition refused a redemption, read after the fact.
    async fn why_not_redeemed(&self, org_id: &str, code: &str, now: &str) -> Result<Redemption, StoreError> {
        if self
            .get_item_consistent(redemption_pk(org_id, code), "REDEMPTION")
            .await?
            .is_some()
        {
            return Ok(Redemption::AlreadyRedeemed);
        }
        Ok(match self.get_activation_code(code).await? {
            None => Redemption::Unknown,
            Some(found) if found.expires_at.as_deref().is_some_and(|expires| now >= expires) => Redemption::Expired,
            Some(found) if found.max_redemptions.is_some_and(|max| found.redemptions >= max) => Redemption::Exhausted,
            Some(_) => Redemption::Changed,
        })
    }
}
