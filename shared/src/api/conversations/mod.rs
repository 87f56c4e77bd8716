//! `conversations`: `GET /api/v1/conversations` (every ticket's entries created since a time,
//! oldest first, one page at a time: a feed to sync from) and `GET /api/v1/conversations/{id}`
//! (scope `tickets:read`). Entries never change once written, so "since" covers every update.

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use crate::auth::Scope;
use crate::clock::normalized_rfc3339;
use crate::error::{ApiError, ErrorBody};
use crate::http::{Call, Route, ok, serve_routes};
use crate::runtime::Services;
use crate::store::encode_cursor;
use crate::store::tickets::{Entry, entries_index_pk};

const DEFAULT_PAGE_SIZE: usize = 50;
const MAX_PAGE_SIZE: usize = 100;

#[derive(Clone, Copy)]
pub enum ConversationRoute {
    List,
    Get,
}

/// `conversations`' routes.
pub const ROUTES: [Route<ConversationRoute>; 2] = [
    Route::new(
        Method::GET,
        "/api/v1/conversations",
        Scope::TicketsRead,
        ConversationRoute::List,
    ),
    Route::new(
        Method::GET,
        "/api/v1/conversations/{id}",
        Scope::TicketsRead,
        ConversationRoute::Get,
    ),
];

#[derive(Serialize, ToSchema)]
pub struct ConversationFeed {
    pub success: bool,
    pub conversations: Vec<Entry>,
    /// Pass as `cursor` for the next page; `null` once caught up.
    pub next_cursor: Option<String>,
    pub has_more: bool,
}

#[derive(Serialize, ToSchema)]
pub struct ConversationResponse {
    pub success: bool,
    pub conversation: Entry,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // describes the query string for the OpenAPI document only
pub struct FeedParams {
    /// RFC 3339: only entries created after it (default: all).
    #[param(format = DateTime)]
    since: Option<String>,
    /// Entries per page, 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

pub async fn handle(services: &Services, request: Request) -> Response<Body> {
    serve_routes(services, &request, &ROUTES, |route, call| async move {
        match route {
            ConversationRoute::List => list(call).await,
            ConversationRoute::Get => get(call).await,
        }
    })
    .await
}

/// Every ticket's entries created since a time, oldest first.
#[utoipa::path(get, path = "/api/v1/conversations", operation_id = "conversations_list", tag = "Support desk",
    params(FeedParams), security(("apiKey" = []), ("bearer" = [])),
    responses((status = 200, body = ConversationFeed), (status = "4XX", body = ErrorBody)))]
pub async fn list(call: Call<'_>) -> Result<Response<Body>, ApiError> {
    // `0` sorts before every timestamp: no `since` is the beginning.
    let since = match call.query("since") {
        None => "0".to_string(),
        Some(text) => normalized_rfc3339(&text)
            .ok_or_else(|| ApiError::invalid_input("since", "since must be an RFC 3339 timestamp"))?,
    };
    let (limit, start) = call.page(DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, &entries_index_pk(call.org_id()))?;
    // `~` after the time: entries of that very millisecond are not "since" it.
    let after = format!("{since}~");
    let (entries, next) = call
        .store()
        .list_entries_since(call.org_id(), &after, limit as i32, start)
        .await?;
    ok(&ConversationFeed {
        success: true,
        has_more: next.is_some(),
        next_cursor: next.as_ref().map(encode_cursor),
        conversations: entries.into_iter().collect(),
    })
}

/// One entry, by id.
#[utoipa::path(get, path = "/api/v1/conversations/{id}", operation_id = "conversations_get", tag = "Support desk",
    params(("id" = String, Path, description = "The entry's id (cnv_...)")), security(("apiKey" = []), ("bearer" = [])),
    responses((status = 200, body = ConversationResponse), (status = "4XX", body = ErrorBody)))]
pub async fn get(call: Call<'_>) -> Result<Response<Body>, ApiError> {
    let entry = call
        .store()
        .get_entry(call.org_id(), &call.path("id")?)
        .await?
        .ok_or_else(|| ApiError::not_found("no conversation entry with this id"))?;
    ok(&ConversationResponse {
        success: true,
        conversation: entry,
    })
}
