//! Authentication and the per-key rate limit.
//!
//! A request presents `x-api-key: hg_live_...` or `Authorization: Bearer hg_live_...`. One
//! conditional `UpdateItem` on the key item checks the secret's hash, that the key is live and
//! under its limit for the current minute, and counts the request, across all Lambda containers.

pub mod api_key;
pub mod scope;

use lambda_http::http::HeaderMap;
use time::OffsetDateTime;

use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::secrets::Pepper;
use crate::store::Store;
use crate::store::api_keys::{CountOutcome, KeyState, KeyUse, WindowStep};
use crate::store::organizations::OrgCount;
pub use api_key::{NewKey, PresentedKey};
pub use scope::Scope;

/// The rate-limit figures sent as `X-RateLimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub limit: u32,
    pub remaining: u32,
    /// Epoch second at which the current window ends.
    pub reset: i64,
}

/// Who is calling, once the key checked out.
#[derive(Debug, Clone)]
pub struct Caller {
    pub org_id: String,
    pub key_id: String,
    pub scopes: Vec<String>,
    pub rate_limit: RateLimit,
}

impl Caller {
    /// Whether the key holds `scope`, itself or through a scope that includes it.
    pub fn holds(&self, scope: Scope) -> bool {
        scope
            .granted_by()
            .iter()
            .any(|granting| self.scopes.iter().any(|s| s == granting.as_str()))
    }

    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.holds(scope) {
            Ok(())
        } else {
            Err(ApiError::missing_scope(scope.as_str()))
        }
    }
}

/// A refused authentication: the error, and the rate-limit figures when the key was known.
#[derive(Debug)]
pub struct Refusal {
    pub error: ApiError,
    pub rate_limit: Option<RateLimit>,
}

impl From<ApiError> for Refusal {
    fn from(error: ApiError) -> Self {
        Self {
            error,
            rate_limit: None,
        }
    }
}

/// The raw key from `x-api-key` or `Authorization: Bearer`.
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(value.trim());
    }
    let authorization = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = authorization.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

const WINDOW_SECONDS: i64 = 60;

fn invalid_key() -> ApiError {
    // One message for unknown, malformed and wrong-secret keys: no oracle for key ids.
    ApiError::unauthorized("invalid API key")
}

/// Authenticates the request's key and counts it against the key's per-minute limit.
pub async fn authenticate(
    store: &Store,
    pepper: &Pepper,
    now: OffsetDateTime,
    headers: &HeaderMap,
) -> Result<Caller, Refusal> {
    let raw = presented_key(headers)
        .ok_or_else(|| ApiError::unauthorized("missing API key: send it as x-api-key or Authorization: Bearer"))?;
    let key = PresentedKey::parse(raw).ok_or_else(invalid_key)?;
    let hash = key.secret_hash(pepper);
    let at = rfc3339(now);
    let mut window = now.unix_timestamp().div_euclid(WINDOW_SECONDS);
    let store_error = |e| Refusal::from(ApiError::from(e));
    let key_use = |window| KeyUse {
        org_id: key.org_id(),
        key_id: &key.key_id,
        secret_hash: &hash,
        window,
        now: &at,
    };
    let mut outcome = store
        .count_api_key_use(&key_use(window), WindowStep::CountIn)
        .await
        .map_err(store_error)?;
    // A new minute, or losing a race to open it, costs another round trip; bounded so that
    // contention can never loop.
    for _ in 0..3 {
        let state = match outcome {
            CountOutcome::Counted(state) => {
                let limit = state.org_rate_limit;
                let caller = accept(pepper, &key, state, window)?;
                return match limit {
                    Some(limit) => within_plan(store, caller, window, limit, now).await,
                    None => Ok(caller),
                };
            }
            CountOutcome::Refused(None) => return Err(invalid_key().into()),
            CountOutcome::Refused(Some(state)) => state,
        };
        if !api_key::secret_matches(pepper, &key, &state.secret_hash) {
            return Err(invalid_key().into());
        }
        if state.record.revoked_at.is_some() {
            return Err(ApiError::unauthorized("this API key has been revoked").into());
        }
        outcome = if state.window < window {
            store
                .count_api_key_use(&key_use(window), WindowStep::Open)
                .await
                .map_err(store_error)?
        } else if state.window > window || state.count < state.record.rate_limit_per_minute {
            // Another request opened the window first (or a container ahead of ours did): count in it.
            window = state.window;
            store
                .count_api_key_use(&key_use(window), WindowStep::CountIn)
                .await
                .map_err(store_error)?
        } else {
            let reset = (window + 1) * WINDOW_SECONDS;
            let rate_limit = RateLimit {
                limit: state.record.rate_limit_per_minute,
                remaining: 0,
                reset,
            };
            let retry_after = (reset - now.unix_timestamp()).max(1) as u64;
            return Err(Refusal {
                error: ApiError::rate_limited(retry_after),
                rate_limit: Some(rate_limit),
            });
        };
    }
    tracing::warn!(key_id = %key.key_id, "rate-limit window kept moving under contention");
    Err(ApiError::internal().into())
}

/// Counts the request against the organization's plan limit (across all its keys), when the
/// organization has one.
async fn within_plan(
    store: &Store,
    caller: Caller,
    window: i64,
    limit: u32,
    now: OffsetDateTime,
) -> Result<Caller, Refusal> {
    match store.count_org_use(&caller.org_id, window, limit).await {
        Ok(OrgCount::Counted) => Ok(caller),
        Ok(OrgCount::Limited) => {
            let reset = (window + 1) * WINDOW_SECONDS;
            let retry_after = (reset - now.unix_timestamp()).max(1) as u64;
            let mut error = ApiError::rate_limited(retry_after);
            error.message = format!(
                "the organization's plan allows {limit} requests per minute across all its keys; retry after {retry_after} s"
            );
            Err(Refusal {
                error,
                rate_limit: Some(RateLimit {
                    limit,
                    remaining: 0,
                    reset,
                }),
            })
        }
        Err(e) => Err(ApiError::from(e).into()),
    }
}

fn accept(pepper: &Pepper, key: &PresentedKey, state: KeyState, window: i64) -> Result<Caller, Refusal> {
    // DynamoDB compared the hash in its condition; compare again here in constant time so the
    // decision never rests on a comparison whose timing we do not control.
    if !api_key::secret_matches(pepper, key, &state.secret_hash) {
        return Err(invalid_key().into());
    }
    let limit = state.record.rate_limit_per_minute;
    let rate_limit = RateLimit {
        limit,
        remaining: limit.saturating_sub(state.count),
        reset: (window + 1) * WINDOW_SECONDS,
    };
    tracing::info!(org_id = %state.record.org_id, key_id = %state.record.key_id, "authenticated");
    Ok(Caller {
        org_id: state.record.org_id,
        key_id: state.record.key_id,
        scopes: state.record.scopes,
        rate_limit,
    })
}

/// The client address API Gateway saw (`unknown` outside API Gateway).
pub fn client_ip(request: &lambda_http::Request) -> String {
    use lambda_http::RequestExt;
    match request.request_context_ref() {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(context)) => context.http.source_ip.clone(),
        _ => None,
    }
    .unwrap_or_else(|| "unknown".to_string())
}

/// Counts one use of a public route by `client` (an address, a widget) in the current minute:
/// 429 with the seconds to wait once `limit` uses were counted; `what` names the route in the
/// message.
pub async fn within_public_limit(
    store: &Store,
    now: OffsetDateTime,
    route: &str,
    client: &str,
    limit: u32,
    what: &str,
) -> Result<(), ApiError> {
    let now = now.unix_timestamp();
    let window = now.div_euclid(WINDOW_SECONDS);
    if store.count_public_use(route, client, window, limit).await? {
        return Ok(());
    }
    let mut error = ApiError::rate_limited(((window + 1) * WINDOW_SECONDS - now).max(1) as u64);
    error.message = format!("too many {what} requests; retry later");
    Err(error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http::HeaderValue;

    #[test]
    fn key_is_read_from_x_api_key_or_bearer() {
        let mut headers = HeaderMap::new();
        assert_eq!(presented_key(&headers), None);
        headers.insert("authorization", HeaderValue::from_static("Bearer hg_live_abc"));
        assert_eq!(presented_key(&headers), Some("hg_live_abc"));
        headers.insert("authorization", HeaderValue::from_static("bearer  hg_live_abc "));
        assert_eq!(presented_key(&headers), Some("hg_live_abc"));
        headers.insert("authorization", HeaderValue::from_static("Basic dXNlcjpwYXNz"));
        assert_eq!(presented_key(&headers), None);
        headers.insert("x-api-key", HeaderValue::from_static("hg_live_xyz"));
        assert_eq!(presented_key(&headers), Some("hg_live_xyz"));
    }

    #[test]
    fn caller_needs_the_route_scope() {
        let caller = Caller {
            org_id: "o".into(),
            key_id: "k".into(),
            scopes: vec!["webhook:write".into()],
            rate_limit: RateLimit {
                limit: 1,
                remaining: 0,
                reset: 0,
            },
        };
        assert!(caller.require(Scope::WebhookWrite).is_ok());
        let refused = caller.require(Scope::KeysManage).unwrap_err();
        assert_eq!(refused.status.as_u16(), 403);
        assert_eq!(refused.code, "INSUFFICIENT_SCOPE");
    }
}
