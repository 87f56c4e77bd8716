//! `POST /api/api-keys`, `GET /api/api-keys`, `DELETE /api/api-keys/{id}` (scope `keys:manage`).

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Caller, NewKey, Scope};
use crate::clock::rfc3339;
use crate::error::{ApiError, ErrorBody};
use crate::http::{Call, Route, json_response, ok, serve_routes};
use crate::runtime::Services;
use crate::store::api_keys::{ApiKeyRecord, Revocation};

pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 120;
pub const MAX_RATE_LIMIT_PER_MINUTE: u32 = 10_000;
const MAX_NAME_CHARS: usize = 100;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// What the key is for, e.g. "Shop webhook"; not blank.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: String,
    /// What the key may do; at least one, each once.
    #[schema(min_items = 1)]
    pub scopes: Vec<Scope>,
    /// Requests per minute across all containers; default 120, at most 10,000.
    #[schema(minimum = 1, maximum = 10000)]
    pub rate_limit_per_minute: Option<u32>,
}

/// An API key as its owner sees it: never its secret.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyView {
    pub id: String,
    /// `hg_live_<id>`: the part of the key that identifies it.
    pub prefix: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub rate_limit_per_minute: u32,
    /// `active` or `revoked`.
    pub status: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

impl From<ApiKeyRecord> for ApiKeyView {
    fn from(record: ApiKeyRecord) -> Self {
        Self {
            prefix: NewKey::display_prefix(&record.key_id),
            status: if record.revoked_at.is_some() {
                "revoked"
            } else {
                "active"
            }
            .to_string(),
            id: record.key_id,
            name: record.name,
            scopes: record.scopes,
            rate_limit_per_minute: record.rate_limit_per_minute,
            created_at: record.created_at,
            last_used_at: record.last_used_at,
            revoked_at: record.revoked_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CreatedApiKey {
    pub success: bool,
    /// The full key. Shown this once: store it now, Hookgate keeps only a hash.
    pub key: String,
    #[serde(flatten)]
    pub api_key: ApiKeyView,
}

#[derive(Serialize, ToSchema)]
pub struct ApiKeyList {
    pub success: bool,
    pub keys: Vec<ApiKeyView>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevokedApiKey {
    pub success: bool,
    pub id: String,
    pub revoked_at: String,
}

#[derive(Clone, Copy)]
pub enum KeyRoute {
    Create,
    List,
    Revoke,
}

/// `api-keys`' routes: one function, as all three need the same permissions (the table) and scope.
pub const ROUTES: [Route<KeyRoute>; 3] = [
    Route::new(Method::POST, "/api/api-keys", Scope::KeysManage, KeyRoute::Create),
    Route::new(Method::GET, "/api/api-keys", Scope::KeysManage, KeyRoute::List),
    Route::new(
        Method::DELETE,
        "/api/api-keys/{id}",
        Scope::KeysManage,
        KeyRoute::Revoke,
    ),
];

pub async fn handle(services: &Services, request: Request) -> Response<Body> {
    serve_routes(services, &request, &ROUTES, |route, call| async move {
        match route {
            KeyRoute::Create => create(call).await,
            KeyRoute::List => list(call).await,
            KeyRoute::Revoke => revoke(call).await,
        }
    })
    .await
}

/// Validated, normalized fields of a new key.
pub struct KeySpec {
    pub name: String,
    pub scopes: Vec<String>,
    pub rate_limit_per_minute: u32,
}

impl CreateApiKeyRequest {
    /// The request's rules, giving the normalized fields of the new key.
    pub fn spec(self) -> Result<KeySpec, ApiError> {
        let name = self.name.trim().to_string();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            return Err(ApiError::invalid_input(
                "name",
                format!("name must be 1 to {MAX_NAME_CHARS} characters"),
            ));
        }
        if !crate::http::all_distinct(&self.scopes) {
            return Err(ApiError::invalid_input("scopes", "name each scope once"));
        }
        let mut scopes: Vec<String> = self.scopes.iter().map(|s| s.as_str().to_string()).collect();
        scopes.sort();
        if scopes.is_empty() {
            return Err(ApiError::invalid_input("scopes", "give the key at least one scope"));
        }
        let rate_limit_per_minute = self.rate_limit_per_minute.unwrap_or(DEFAULT_RATE_LIMIT_PER_MINUTE);
        if !(1..=MAX_RATE_LIMIT_PER_MINUTE).contains(&rate_limit_per_minute) {
            return Err(ApiError::invalid_input(
                "rateLimitPerMinute",
                format!("rateLimitPerMinute must be between 1 and {MAX_RATE_LIMIT_PER_MINUTE}"),
            ));
        }
        Ok(KeySpec {
            name,
            scopes,
            rate_limit_per_minute,
        })
    }
}

impl KeySpec {
    /// A key may grant only what the key creating it holds: its scopes (or ones they include)
    /// and a rate limit no higher than its own. Anything else would let a narrow key mint an
    /// all-powerful one.
    pub fn within_reach_of(&self, caller: &Caller) -> Result<(), ApiError> {
        let beyond: Vec<&str> = self
            .scopes
            .iter()
            .filter(|scope| Scope::parse(scope).is_none_or(|scope| !caller.holds(scope)))
            .map(String::as_str)
            .collect();
        if !beyond.is_empty() {
            return Err(ApiError::forbidden(
                "a key can grant only scopes it holds itself",
                serde_json::json!({ "field": "scopes", "notHeld": beyond }),
            ));
        }
        if self.rate_limit_per_minute > caller.rate_limit.limit {
            return Err(ApiError::forbidden(
                format!(
                    "a key can grant at most its own rate limit ({} per minute)",
                    caller.rate_limit.limit
                ),
                serde_json::json!({ "field": "rateLimitPerMinute", "max": caller.rate_limit.limit }),
            ));
        }
        Ok(())
    }

    /// Generates the key; the caller stores the record with the returned key's hash.
    pub fn issue(self, services: &Services, org_id: &str) -> (NewKey, ApiKeyRecord) {
        let key = NewKey::generate(org_id, &services.pepper);
        let record = ApiKeyRecord {
            org_id: org_id.to_string(),
            key_id: key.key_id.clone(),
            name: self.name,
            scopes: self.scopes,
            rate_limit_per_minute: self.rate_limit_per_minute,
            created_at: rfc3339(services.clock.now()),
            last_used_at: None,
            revoked_at: None,
        };
        (key, record)
    }
}

/// Create an API key; the full key is in this response only.
#[utoipa::path(post, path = "/api/api-keys", operation_id = "api_keys_create", tag = "API keys", request_body = CreateApiKeyRequest,
    security(("apiKey" = []), ("bearer" = [])),
    responses((status = 201, body = CreatedApiKey), (status = "4XX", body = ErrorBody)))]
async fn create(call: Call<'_>) -> Result<Response<Body>, ApiError> {
    let Call { services, caller, .. } = &call;
    let mut body: CreateApiKeyRequest = call.body()?;
    // Unsaid, a key gets the default limit, or its creator's own when that is lower.
    body.rate_limit_per_minute
        .get_or_insert(DEFAULT_RATE_LIMIT_PER_MINUTE.min(caller.rate_limit.limit));
    let spec = body.spec()?;
    spec.within_reach_of(caller)?;
    let (key, record) = spec.issue(services, &caller.org_id);
    let now = crate::clock::rfc3339(call.now());
    let org_rate_limit = services
        .store
        .get_organization(&caller.org_id)
        .await?
        .and_then(|org| org.at(&now).key_rate_limit());
    services
        .store
        .create_api_key(&record, &key.secret_hash, org_rate_limit.as_ref())
        .await?;
    tracing::info!(org_id = %caller.org_id, created_key_id = %record.key_id, "api key created");
    Ok(json_response(
        StatusCode::CREATED,
        &CreatedApiKey {
            success: true,
            key: key.token,
            api_key: record.into(),
        },
    ))
}

/// List the organization's API keys (never their secrets).
#[utoipa::path(get, path = "/api/api-keys", operation_id = "api_keys_list", tag = "API keys", security(("apiKey" = []), ("bearer" = [])),
    responses((status = 200, body = ApiKeyList), (status = "4XX", body = ErrorBody)))]
async fn list(call: Call<'_>) -> Result<Response<Body>, ApiError> {
    let keys = call.store().list_api_keys(call.org_id()).await?.into_iter();
    ok(&ApiKeyList {
        success: true,
        keys: keys.map(Into::into).collect(),
    })
}

/// Revoke an API key: the next request with it is refused with 401. Revoking twice is harmless.
#[utoipa::path(delete, path = "/api/api-keys/{id}", operation_id = "api_keys_revoke", tag = "API keys", security(("apiKey" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "The key's id")),
    responses((status = 200, body = RevokedApiKey), (status = "4XX", body = ErrorBody)))]
async fn revoke(call: Call<'_>) -> Result<Response<Body>, ApiError> {
    let key_id = call.path("id")?;
    let now = rfc3339(call.now());
    let record = match call.store().revoke_api_key(call.org_id(), &key_id, &now).await? {
        Revocation::Revoked(record) => {
            tracing::info!(org_id = %call.org_id(), revoked_key_id = %key_id, "api key revoked");
            record
        }
        Revocation::AlreadyRevoked(record) => record,
        Revocation::NotFound => return Err(ApiError::not_found("no API key with this id")),
    };
    let revoked_at = record.revoked_at.unwrap_or(now);
    Ok(json_response(
        StatusCode::OK,
        &RevokedApiKey {
            success: true,
            id: record.key_id,
            revoked_at,
        },
    ))
}
