//! `blocked-senders`: `/api/v1/blocked-senders` (reads with `tickets:read`, changes with
//! `tickets:write`). Mail from a blocked address, or from a blocked domain or its subdomains,
//! is dropped by the email doors and logged, never a ticket.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Scope;
use crate::clock::rfc3339;
use crate::error::{ApiError, ErrorBody};
use crate::http::{Call, Route, Validate, json_response, ok, serve_routes};
use crate::mail::sender_or_domain;
use crate::runtime::Services;
use crate::store::mail::BlockedSender;

/// Entries one organization may have.
const MAX_BLOCKED: usize = 1000;
const MAX_REASON_CHARS: usize = 500;

#[derive(Clone, Copy)]
pub enum BlockedSenderRoute {
    Block,
    List,
    Unblock,
}

/// `blocked-senders`' routes.
pub const ROUTES: [Route<BlockedSenderRoute>; 3] = [
    Route::new(
        Method::POST,
        "/api/v1/blocked-senders",
        Scope::TicketsWrite,
        BlockedSenderRoute::Block,
    ),
    Route::new(
        Method::GET,
        "/api/v1/blocked-senders",
        Scope::TicketsRead,
        BlockedSenderRoute::List,
    ),
    Route::new(
        Method::DELETE,
        "/api/v1/blocked-senders/{sender}",
        Scope::TicketsWrite,
        BlockedSenderRoute::Unblock,
    ),
];

/// Body of `POST /api/v1/blocked-senders`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockRequest {
    /// An address (`spam@example.com`) or a domain (`example.com` or `@example.com`; its
    /// subdomains too).
    #[schema(
        min_length = 3,
        max_length = 254,
        pattern = r"^@?([^@\s]+@[^@\s]*\.[^@\s]*|[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+)$"
    )]
    pub sender: String,
    #[schema(max_length = 500)]
    pub reason: Option<String>,
}

impl Validate for BlockRequest {
    fn validate(&self) -> Result<(), ApiError> {
        if sender_or_domain(&self.sender).is_none() {
            return Err(ApiError::invalid_input(
                "sender",
                "sender is an email address or a domain (example.com)",
            ));
        }
        if self
            .reason
            .as_ref()
            .is_some_and(|r| r.chars().count() > MAX_REASON_CHARS)
        {
            return Err(ApiError::invalid_input(
                "reason",
                format!("reason is at most {MAX_REASON_CHARS} characters"),
            ));
        }
        Ok(())
    }
}

#[derive(Serialize, ToSchema)]
pub struct BlockedSenderResponse {
    pub success: bool,
    pub blocked_sender: BlockedSender,
}

#[derive(Serialize, ToSchema)]
pub struct BlockedSenderList {
    pub success: bool,
    pub blocked_senders: Vec<BlockedSender>,
}

pub async fn handle(services: &Services, request: Request) -> Response<Body> {
    serve_routes(services, &request, &ROUTES, |route, call| async move {
        match route {
            BlockedSenderRoute::Block => block(call).await,
            BlockedSenderRoute::List => list(call).await,
            BlockedSenderRoute::Unblock => unblock(call).await,
        }
    })
    .await
}

/// Block a sender: an address, or a domain and its subdomains.
#[utoipa::path(post, path = "/api/v1/blocked-senders", operation_id = "blocked_senders_block", tag = "Support desk",
    request_body = BlockRequest, security(("apiKey" = []), ("bearer" = [])),
    responses((status = 201, body = BlockedSenderResponse), (status = 409, body = ErrorBody), (status = "4XX", body = ErrorBody)))]
pub async fn block(call: Call<'_>) -> Result<Response<Body>, ApiError> {
    let body: BlockRequest = call.validated_body()?;
    let store = call.store();
    if store.list_blocked_senders(call.org_id()).await?.len() >= MAX_BLOCKED {
        return Err(ApiError::invalid_input(
            "sender",
            format!("an organization blocks at most {MAX_BLOCKED} senders"),
        ));
    }
    let blocked = BlockedSender {
        sender: sender_or_domain(&body.sender).ok_or_else(ApiError::internal)?,
        reason: body.reason.map(|r| r.trim().to_string()).filter(|r| !r.is_empty()),
        created_at: rfc3339(call.now()),
    };
    if !store.block_sender(call.org_id(), &blocked).await? {
        return Err(ApiError::conflict("this sender is blocked already"));
    }
    Ok(json_response(
        StatusCode::CREATED,
        &BlockedSenderResponse {
            success: true,
            blocked_sender: blocked,
        },
    ))
}

/// The blocked senders, in order of address or domain.
#[utoipa::path(get, path = "/api/v1/blocked-senders", operation_id = "blocked_senders_list", tag = "Support desk",
    security(("apiKey" = []), ("bearer" = [])),
    responses((status = 200, body = BlockedSenderList), (status = "4XX", body = ErrorBody)))]
pub async fn list(call: Call<'_>) -> Result<Response<Body>, ApiError> {
    ok(&BlockedSenderList {
        success: true,
        blocked_senders: call.store().list_blocked_senders(call.org_id()).await?,
    })
}

/// Unblock a sender: its mail lands on the desk again.
#[utoipa::path(delete, path = "/api/v1/blocked-senders/{sender}", operation_id = "blocked_senders_unblock", tag = "Support desk",
    params(("sender" = String, Path, description = "The address or domain, URL-encoded")),
    security(("apiKey" = []), ("bearer" = [])),
    responses((status = 200, body = BlockedSenderResponse), (status = "4XX", body = ErrorBody)))]
pub async fn unblock(call: Call<'_>) -> Result<Response<Body>, ApiError> {
    let not_blocked = || ApiError::not_found("this sender is not blocked");
    let sender = sender_or_domain(&call.path("sender")?).ok_or_else(not_blocked)?;
    let blocked = call
        .store()
        .unblock_sender(call.org_id(), &sender)
        .await?
        .ok_or_else(not_blocked)?;
    ok(&BlockedSenderResponse {
        success: true,
        blocked_sender: blocked,
    })
}
