//! API key items: `PK = ORG#<org>#KEY#<keyId>`, `SK = KEY`, listed through GSI1.
//!
//! Besides what the owner sees (name, scopes, limit, dates), a key item carries the HMAC of its
//! secret and its rate-limit window (`rl_window`, minutes since the epoch) and count (`rl_count`),
//! so that authenticating and counting a request is one conditional `UpdateItem`.

use super::dynamodb::AttributeValueExt;
use super::dynamodb::Operation;
use super::dynamodb::{AttributeValue, ReturnValue};

use super::{
    GSI1PK, GSI1SK, Item, PK, SK, Store, StoreError, get_n, get_s, n, org_and_id, org_prefix, query_all, s,
    update_or_refused,
};

#[derive(Debug, Clone, PartialEq)]
pub struct ApiKeyRecord {
    pub org_id: String,
    pub key_id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub rate_limit_per_minute: u32,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// One authenticated use of a key, in the minute `window`.
#[derive(Debug, Clone, Copy)]
pub struct KeyUse<'a> {
    pub org_id: &'a str,
    pub key_id: &'a str,
    pub secret_hash: &'a str,
    pub window: i64,
    pub now: &'a str,
}

/// Whether a use counts in the window already open or opens a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowStep {
    CountIn,
    Open,
}

/// A key item as read during authentication.
#[derive(Debug, Clone)]
pub struct KeyState {
    pub record: ApiKeyRecord,
    pub secret_hash: String,
    pub window: i64,
    pub count: u32,
    /// The organization's plan limit across all its keys, copied onto each key so that an
    /// organization without one costs no extra round trip (see `organizations::set_plan`);
    /// during a trial, the trial plan's until it ends and the previous plan's after.
    pub org_rate_limit: Option<u32>,
}

/// An organization's plan limit as its keys carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgRateLimit {
    pub limit: u32,
    /// A trial's end (RFC 3339): from then on `after` applies, without anyone acting.
    pub until: Option<String>,
    /// The limit after the trial; none: no plan limit.
    pub after: Option<u32>,
}

/// What `count_use` did.
#[derive(Debug)]
pub enum CountOutcome {
    /// The secret matched, the key is live and under its limit in `window`: the use is counted.
    Counted(KeyState),
    /// Nothing was written; the key as it stands (`None` when there is no such key) says why.
    Refused(Option<KeyState>),
}

/// Outcome of a revocation.
#[derive(Debug, PartialEq)]
pub enum Revocation {
    Revoked(ApiKeyRecord),
    AlreadyRevoked(ApiKeyRecord),
    NotFound,
}

fn key_pk(org_id: &str, key_id: &str) -> String {
    format!("{}#KEY#{key_id}", org_prefix(org_id))
}

impl Store {
    /// An update of one key item.
    fn update_key(&self, org_id: &str, key_id: &str) -> Operation {
        self.update_item(key_pk(org_id, key_id), "KEY")
    }
}

pub(crate) fn key_item(record: &ApiKeyRecord, secret_hash: &str) -> Item {
    Item::from([
        (PK.to_string(), s(key_pk(&record.org_id, &record.key_id))),
        (SK.to_string(), s("KEY")),
        (GSI1PK.to_string(), s(format!("{}#KEYS", org_prefix(&record.org_id)))),
        (GSI1SK.to_string(), s(format!("KEY#{}", record.key_id))),
        ("name".to_string(), s(&record.name)),
        ("scopes".to_string(), AttributeValue::Ss(record.scopes.clone())),
        ("rate_limit".to_string(), n(record.rate_limit_per_minute)),
        ("secret_hash".to_string(), s(secret_hash)),
        ("created_at".to_string(), s(&record.created_at)),
        ("rl_window".to_string(), n(0)),
        ("rl_count".to_string(), n(0)),
    ])
}

fn record_from(item: &Item) -> Option<ApiKeyRecord> {
    let (org_id, key_id) = org_and_id(item, "#KEY#")?;
    Some(ApiKeyRecord {
        org_id: org_id.to_string(),
        key_id: key_id.to_string(),
        name: get_s(item, "name").unwrap_or_default().to_string(),
        scopes: item
            .get("scopes")
            .and_then(|v| v.as_ss().ok())
            .cloned()
            .unwrap_or_default(),
        rate_limit_per_minute: get_n(item, "rate_limit").unwrap_or(0),
        created_at: get_s(item, "created_at").unwrap_or_default().to_string(),
        last_used_at: get_s(item, "last_used_at").map(str::to_string),
        revoked_at: get_s(item, "revoked_at").map(str::to_string),
    })
}

/// A key item as read at `now` (RFC 3339): the plan limit in force then.
fn state_from(item: &Item, now: &str) -> Option<KeyState> {
    let trial_ended = get_s(item, ORG_RATE_LIMIT_UNTIL).is_some_and(|until| now >= until);
    let org_rate_limit = match trial_ended {
        true => get_n(item, ORG_RATE_LIMIT_AFTER),
        false => get_n(item, ORG_RATE_LIMIT),
    };
    Some(KeyState {
        record: record_from(item)?,
        secret_hash: get_s(item, "secret_hash")?.to_string(),
        window: get_n(item, "rl_window").unwrap_or(0),
        count: get_n(item, "rl_count").unwrap_or(0),
        org_rate_limit,
    })
}

/// The update and condition of one authenticated use of a key.
type UseExpressions = (&'static str, &'static str);

/// A use counted in the window already open.
const COUNT_IN_WINDOW: UseExpressions = (
    "SET rl_count = rl_count + :one, last_used_at = :now",
    "secret_hash = :hash AND attribute_not_exists(revoked_at) AND rl_window = :window AND rl_count < rate_limit",
);

/// A use that opens a new window.
const OPEN_WINDOW: UseExpressions = (
    "SET rl_window = :window, rl_count = :one, last_used_at = :now",
    "secret_hash = :hash AND attribute_not_exists(revoked_at) AND rl_window < :window AND rate_limit >= :one",
);

/// The attributes of a key item holding its organization's plan limit (see [`OrgRateLimit`]).
pub(crate) const ORG_RATE_LIMIT: &str = "org_rate_limit";
const ORG_RATE_LIMIT_UNTIL: &str = "org_rate_limit_until";
const ORG_RATE_LIMIT_AFTER: &str = "org_rate_limit_after";

impl Store {
    /// Stores a new key; `org_rate_limit` is its organization's plan limit, if it has one.
    pub async fn create_api_key(
        &self,
        record: &ApiKeyRecord,
        secret_hash: &str,
        org_rate_limit: Option<&OrgRateLimit>,
    ) -> Result<(), StoreError> {
        let mut item = key_item(record, secret_hash);
        if let Some(limit) = org_rate_limit {
            item.insert(ORG_RATE_LIMIT.to_string(), n(limit.limit));
            if let Some(until) = &limit.until {
                item.insert(ORG_RATE_LIMIT_UNTIL.to_string(), s(until));
            }
            if let Some(after) = limit.after {
                item.insert(ORG_RATE_LIMIT_AFTER.to_string(), n(after));
            }
        }
        self.put_new_item(item).await
    }

    /// Every key of an organization, revoked ones included, oldest first.
    /// Copies the organization's plan limit onto each of its keys.
    pub(crate) async fn set_keys_org_rate_limit(&self, org_id: &str, limit: &OrgRateLimit) -> Result<(), StoreError> {
        let mut sets = vec![format!("{ORG_RATE_LIMIT} = :limit")];
        let mut removals = Vec::new();
        let mut values = vec![(":limit", n(limit.limit))];
        match &limit.until {
            Some(until) => {
                sets.push(format!("{ORG_RATE_LIMIT_UNTIL} = :until"));
                values.push((":until", s(until)));
            }
            None => removals.push(ORG_RATE_LIMIT_UNTIL),
        }
        match limit.after {
            Some(after) => {
                sets.push(format!("{ORG_RATE_LIMIT_AFTER} = :after"));
                values.push((":after", n(after)));
            }
            None => removals.push(ORG_RATE_LIMIT_AFTER),
        }
        let mut expression = format!("SET {}", sets.join(", "));
        if !removals.is_empty() {
            expression.push_str(&format!(" REMOVE {}", removals.join(", ")));
        }
        for record in self.list_api_keys(org_id).await? {
            let request = self
                .update_key(org_id, &record.key_id)
                .condition_expression("attribute_exists(PK)")
                .update_expression(&expression);
            let result = values
                .iter()
                .fold(request, |request, (name, value)| {
                    request.expression_attribute_values(*name, value.clone())
                })
                .send()
                .await;
            super::unless_condition_failed(result)?;
        }
        Ok(())
    }

    pub async fn list_api_keys(&self, org_id: &str) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let query = self.query_index(format!("{}#KEYS", org_prefix(org_id)));
        let mut records: Vec<ApiKeyRecord> = query_all(query).await?.iter().filter_map(record_from).collect();
        records.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.key_id.cmp(&b.key_id)));
        Ok(records)
    }

    /// Marks a key revoked; from then on every request with it is refused.
    pub async fn revoke_api_key(&self, org_id: &str, key_id: &str, now: &str) -> Result<Revocation, StoreError> {
        let request = self
            .update_key(org_id, key_id)
            .update_expression("SET revoked_at = :now")
            .condition_expression("attribute_exists(PK) AND attribute_not_exists(revoked_at)")
            .expression_attribute_values(":now", s(now))
            .return_values(ReturnValue::AllNew);
        let (record, revoked_now) = match update_or_refused(request).await? {
            Ok(new) => (new.as_ref().and_then(record_from), true),
            Err(old) => (old.as_ref().and_then(record_from), false),
        };
        Ok(match record {
            Some(record) if revoked_now => Revocation::Revoked(record),
            Some(record) => Revocation::AlreadyRevoked(record),
            None => Revocation::NotFound,
        })
    }

    /// Counts one use of a key in the minute `window`, if the secret hash matches, the key is
    /// not revoked, the stored window is `window` and the count is under the key's limit: one
    /// round trip that both authenticates and rate-limits. With [`WindowStep::Open`] the use
    /// opens the window instead; refused when another request opened it first (the caller then
    /// counts in it).
    pub async fn count_api_key_use(&self, key_use: &KeyUse<'_>, step: WindowStep) -> Result<CountOutcome, StoreError> {
        let (update, condition) = match step {
            WindowStep::CountIn => COUNT_IN_WINDOW,
            WindowStep::Open => OPEN_WINDOW,
        };
        let KeyUse {
            org_id,
            key_id,
            secret_hash,
            window,
            now,
        } = *key_use;
        let request = self
            .update_key(org_id, key_id)
            .update_expression(update)
            .condition_expression(condition)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", s(now))
            .expression_attribute_values(":hash", s(secret_hash))
            .expression_attribute_values(":window", n(window))
            .return_values(ReturnValue::AllNew);
        Ok(match update_or_refused(request).await? {
            Ok(counted) => counted
                .as_ref()
                .and_then(|item| state_from(item, now))
                .map_or(CountOutcome::Refused(None), CountOutcome::Counted),
            Err(refused) => CountOutcome::Refused(refused.as_ref().and_then(|item| state_from(item, now))),
        })
    }
}
