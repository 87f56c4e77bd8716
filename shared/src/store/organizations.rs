//! Organizations (tenants). Created by the admin bootstrap together with their first key.

use super::dynamodb::Operation;

use super::api_keys::{ApiKeyRecord, OrgRateLimit, key_item};
use super::{Item, NOT_STORED, PK, SK, Store, StoreError, get_n, get_s, n, org_prefix, s, store_error};

#[derive(Debug, Clone, PartialEq)]
pub struct Organization {
    pub org_id: String,
    pub name: String,
    /// `free`, `starter`, `professional` or `growth`; set by the billing (Stripe) webhooks.
    pub plan: String,
    pub created_at: String,
    /// The billing subscription's status (`trialing`, `active`, `past_due`, `canceled`, ...).
    pub subscription_status: Option<String>,
    pub trial_ends_at: Option<String>,
    /// Requests per minute across all keys, from the plan; none until billing sets a plan.
    pub plan_rate_limit: Option<u32>,
    /// During an activation-code trial: the plan and limit it returns to at `trial_ends_at`.
    pub trial_previous_plan: Option<String>,
    pub trial_previous_rate_limit: Option<u32>,
}

impl Organization {
    /// The organization as it stands at `now` (RFC 3339): once an activation trial has ended,
    /// back on its previous plan, though nobody has written that yet.
    pub fn at(mut self, now: &str) -> Self {
        let ended = self.trial_ends_at.as_deref().is_some_and(|ends| now >= ends);
        if let Some(previous) = self.trial_previous_plan.take_if(|_| ended) {
            self.plan = previous;
            self.plan_rate_limit = self.trial_previous_rate_limit.take();
            self.trial_ends_at = None;
            self.subscription_status = None;
        }
        self
    }

    /// The plan limit its keys carry: during an activation trial, with the limit after it.
    pub fn key_rate_limit(&self) -> Option<OrgRateLimit> {
        let trial = self.trial_previous_plan.is_some();
        Some(OrgRateLimit {
            limit: self.plan_rate_limit?,
            until: self.trial_ends_at.clone().filter(|_| trial),
            after: self.trial_previous_rate_limit.filter(|_| trial),
        })
    }
}

/// The attributes of an organization's activation trial: the plan it returns to, and its limit.
pub(crate) const TRIAL_PREVIOUS_PLAN: &str = "trial_previous_plan";
pub(crate) const TRIAL_PREVIOUS_RATE_LIMIT: &str = "trial_previous_rate_limit";

/// The plans there are.
pub const PLANS: [&str; 4] = ["free", "starter", "professional", "growth"];

/// Requests per minute across all of an organization's keys, by plan.
pub fn plan_rate_limit(plan: &str) -> u32 {
    match plan {
        "growth" => 600,
        "professional" => 300,
        "starter" => 120,
        _ => 60,
    }
}

/// Whether a request fits the organization's plan limit this minute.
#[derive(Debug, PartialEq, Eq)]
pub enum OrgCount {
    Counted,
    /// Over the limit until this window ends.
    Limited,
}

/// A change of plan from the billing provider.
pub struct PlanChange<'a> {
    pub plan: &'a str,
    pub subscription_status: &'a str,
    pub trial_ends_at: Option<&'a str>,
    /// When the provider made the change (epoch seconds): an older change never overwrites a newer.
    pub changed_at: i64,
}

fn org_item(org: &Organization) -> Item {
    Item::from([
        (PK.to_string(), s(org_prefix(&org.org_id))),
        (SK.to_string(), s("ORG")),
        ("name".to_string(), s(&org.name)),
        ("plan".to_string(), s(&org.plan)),
        ("created_at".to_string(), s(&org.created_at)),
    ])
}

impl Store {
    /// An update of the organization item.
    fn update_org(&self, org_id: &str) -> Operation {
        self.update_item(org_prefix(org_id), "ORG")
    }

    /// Creates an organization and its first key atomically: neither exists without the other.
    pub async fn create_organization(
        &self,
        org: &Organization,
        first_key: &ApiKeyRecord,
        secret_hash: &str,
    ) -> Result<(), StoreError> {
        self.client()
            .transact_write_items()
            .transact_items(self.transact_put(org_item(org), Some(NOT_STORED)))
            .transact_items(self.transact_put(key_item(first_key, secret_hash), Some(NOT_STORED)))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    pub async fn get_organization(&self, org_id: &str) -> Result<Option<Organization>, StoreError> {
        Ok(self
            .get_item(org_prefix(org_id), "ORG")
            .await?
            .map(|item| Organization {
                org_id: org_id.to_string(),
                name: get_s(&item, "name").unwrap_or_default().to_string(),
                plan: get_s(&item, "plan").unwrap_or("free").to_string(),
                created_at: get_s(&item, "created_at").unwrap_or_default().to_string(),
                subscription_status: get_s(&item, "subscription_status").map(str::to_string),
                trial_ends_at: get_s(&item, "trial_ends_at").map(str::to_string),
                plan_rate_limit: get_n(&item, "plan_rate_limit"),
                trial_previous_plan: get_s(&item, TRIAL_PREVIOUS_PLAN).map(str::to_string),
                trial_previous_rate_limit: get_n(&item, TRIAL_PREVIOUS_RATE_LIMIT),
            }))
    }

    /// Counts one request against the organization's plan limit in the minute `window`: one
    /// conditional `UpdateItem`, and one more when this request opens the minute.
    pub async fn count_org_use(&self, org_id: &str, window: i64, limit: u32) -> Result<OrgCount, StoreError> {
        for _ in 0..3 {
            let counted = self
                .update_org(org_id)
                .update_expression("SET org_rl_count = org_rl_count + :one")
                .condition_expression("org_rl_window = :window AND org_rl_count < :limit")
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":window", n(window))
                .expression_attribute_values(":limit", n(limit))
                .send()
                .await;
            if super::unless_condition_failed(counted)?.is_some() {
                return Ok(OrgCount::Counted);
            }
            let opened = self
                .update_org(org_id)
                .update_expression("SET org_rl_window = :window, org_rl_count = :one")
                .condition_expression(
                    "attribute_exists(PK) AND (attribute_not_exists(org_rl_window) OR org_rl_window < :window)",
                )
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":window", n(window))
                .send()
                .await;
            if super::unless_condition_failed(opened)?.is_some() {
                return Ok(OrgCount::Counted);
            }
            // Neither: this minute is full, or another request opened it meanwhile (count again).
            let current = self.get_org_window(org_id).await?;
            if current.is_some_and(|(w, count)| w >= window && count >= i64::from(limit)) {
                return Ok(OrgCount::Limited);
            }
        }
        Ok(OrgCount::Limited)
    }

    async fn get_org_window(&self, org_id: &str) -> Result<Option<(i64, i64)>, StoreError> {
        let item = self.get_item_consistent(org_prefix(org_id), "ORG").await?;
        Ok(item.and_then(|item| Some((get_n(&item, "org_rl_window")?, get_n(&item, "org_rl_count")?))))
    }

    /// Applies a plan change unless a newer one was applied (providers deliver out of order),
    /// and copies the plan's limit onto the organization's keys; `false` when the organization
    /// does not exist or the change is older.
    pub async fn set_plan(&self, org_id: &str, change: &PlanChange<'_>) -> Result<bool, StoreError> {
        let mut request = self
            .update_org(org_id)
            .condition_expression(
                "attribute_exists(PK) AND (attribute_not_exists(plan_changed_at) OR plan_changed_at <= :changed)",
            )
            .expression_attribute_names("#plan", "plan")
            .expression_attribute_values(":plan", s(change.plan))
            .expression_attribute_values(":status", s(change.subscription_status))
            .expression_attribute_values(":changed", n(change.changed_at));
        let limit = plan_rate_limit(change.plan);
        request = request.expression_attribute_values(":limit", n(limit));
        request = match change.trial_ends_at {
            Some(trial) => request
                .update_expression(
                    "SET #plan = :plan, plan_rate_limit = :limit, subscription_status = :status, plan_changed_at = :changed, trial_ends_at = :trial REMOVE trial_previous_plan, trial_previous_rate_limit",
                )
                .expression_attribute_values(":trial", s(trial)),
            None => request.update_expression(
                "SET #plan = :plan, plan_rate_limit = :limit, subscription_status = :status, plan_changed_at = :changed REMOVE trial_ends_at, trial_previous_plan, trial_previous_rate_limit",
            ),
        };
        let applied = super::unless_condition_failed(request.send().await)?.is_some();
        if applied {
            // A billed plan replaces any activation trial.
            let limit = OrgRateLimit {
                limit,
                until: None,
                after: None,
            };
            self.set_keys_org_rate_limit(org_id, &limit).await?;
        }
        Ok(applied)
    }
}
