//! `csat`: `GET /api/csat?token=` and `POST /api/csat` (seed 000): customers rate an AI reply
//! with the token it carried. Public: no API key, CORS open to any origin, limited per client IP.
//!
//! A token rates once: a second rating is 409 with nothing changed, also when both arrive at the
//! same instant (one transaction decides). A rating publishes `csat.received` and updates the
//! ticket's and the organization's CSAT figures.

use std::sync::Arc;

use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{client_ip, within_public_limit};
use crate::clock::{Clock, SystemClock, rfc3339};
use crate::error::{ApiError, ErrorBody};
use crate::http::{Route, error_response, find_route, from_json, json_body, json_response, query_parameter};
use crate::ids::{ORG_ID_LEN, is_base32};
use crate::outbound::{Publisher, publish};
use crate::runtime::{Error, env_or, required_env};
use crate::store::Store;
use crate::store::csat::{CsatToken, Rated, TicketCsat};

/// A token rates for this long after its reply.
const TOKEN_LIFETIME_SECONDS: i64 = 30 * 86_400;
const MAX_COMMENT_CHARS: usize = 500;

/// What the CSAT routes need, built once per container.
pub struct CsatServices {
    pub store: Store,
    pub publisher: Publisher,
    pub clock: Arc<dyn Clock>,
    /// Requests per client IP and minute (`CSAT_RATE_LIMIT_PER_MINUTE`, default 30).
    pub per_client_per_minute: u32,
}

impl CsatServices {
    pub fn from_env(config: &crate::aws::AwsConfig) -> Result<Self, Error> {
        Ok(Self {
            store: Store::from_config(config, required_env("TABLE_NAME")?)?,
            publisher: Publisher::from_env(config)?,
            clock: Arc::new(SystemClock),
            per_client_per_minute: env_or("CSAT_RATE_LIMIT_PER_MINUTE", 30)?,
        })
    }
}

#[derive(Clone, Copy)]
pub enum CsatRoute {
    Status,
    Rate,
    /// A browser's CORS preflight.
    Preflight,
}

/// `csat`'s routes: public, no key.
pub const ROUTES: [Route<CsatRoute>; 3] = [
    Route::public(Method::GET, "/api/csat", CsatRoute::Status),
    Route::public(Method::POST, "/api/csat", CsatRoute::Rate),
    Route::public(Method::OPTIONS, "/api/csat", CsatRoute::Preflight),
];

/// What a token rates and whether it is rated.
#[derive(Serialize, ToSchema)]
pub struct CsatStatus {
    pub success: bool,
    #[serde(rename = "ticketNumber")]
    pub ticket_number: u64,
    /// The rated reply.
    #[serde(rename = "replyId")]
    pub reply_id: String,
    pub rated: bool,
    pub rating: Option<TicketCsat>,
    /// Until then the token rates.
    pub expires_at: String,
}

/// Body of `POST /api/csat`.
#[derive(ToSchema)]
#[allow(dead_code)] // describes the accepted JSON for the OpenAPI document only
pub struct RateRequest {
    #[schema(min_length = 1, pattern = r"\S")]
    token: String,
    /// 1 (poor) to 5 (great).
    #[schema(minimum = 1, maximum = 5)]
    rating: u8,
    /// At most 500 characters.
    comment: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CsatRated {
    pub success: bool,
    pub rating: TicketCsat,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // describes the query string for the OpenAPI document only
pub struct CsatParams {
    /// The token the reply carried.
    #[param(min_length = 1)]
    token: String,
}

pub async fn handle(services: &CsatServices, request: Request) -> Response<Body> {
    let response = match find_route(&ROUTES, &request) {
        Err(error) => error_response(&error),
        Ok(route) if matches!(route.route, CsatRoute::Preflight) => {
            let mut preflight = Response::new(Body::Empty);
            *preflight.status_mut() = StatusCode::NO_CONTENT;
            preflight
        }
        Ok(route) => serve(services, &request, route.route)
            .await
            .unwrap_or_else(|error| error_response(&error)),
    };
    with_open_cors(response)
}

async fn serve(services: &CsatServices, request: &Request, route: CsatRoute) -> Result<Response<Body>, ApiError> {
    let client = client_ip(request);
    let limit = services.per_client_per_minute;
    within_public_limit(&services.store, services.clock.now(), "csat", &client, limit, "CSAT").await?;
    match route {
        CsatRoute::Status => status(services, request).await,
        CsatRoute::Rate => rate(services, request).await,
        CsatRoute::Preflight => Ok(Response::new(Body::Empty)),
    }
}

/// Any origin may call: the token is the only credential, and no cookie is involved.
fn with_open_cors(mut response: Response<Body>) -> Response<Body> {
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("content-type"),
    );
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    response
}

/// `csat_<org>_<secret>` → the organization and the secret.
fn parse_token(token: &str) -> Option<(&str, &str)> {
    let (org_id, secret) = token.strip_prefix("csat_")?.split_once('_')?;
    let well_formed = org_id.len() == ORG_ID_LEN && is_base32(org_id) && secret.len() >= 26 && is_base32(secret);
    well_formed.then_some((org_id, secret))
}

/// The token's record: 404 when unknown, 410 once it no longer rates.
async fn find_token(services: &CsatServices, token: &str) -> Result<(CsatToken, String), ApiError> {
    let unknown = || ApiError::not_found("no reply carries this CSAT token");
    let (org_id, secret) = parse_token(token.trim()).ok_or_else(unknown)?;
    let record = services
        .store
        .get_csat_token(org_id, secret)
        .await?
        .ok_or_else(unknown)?;
    if services.clock.now().unix_timestamp() - record.issued_epoch > TOKEN_LIFETIME_SECONDS {
        return Err(ApiError::gone("this CSAT token is older than 30 days"));
    }
    Ok((record, secret.to_string()))
}

fn expires_at(record: &CsatToken) -> String {
    time::OffsetDateTime::from_unix_timestamp(record.issued_epoch + TOKEN_LIFETIME_SECONDS)
        .map(rfc3339)
        .unwrap_or_default()
}

/// What a token rates, and whether it is rated.
#[utoipa::path(get, path = "/api/csat", operation_id = "csat_status", tag = "Support desk", params(CsatParams),
    responses((status = 200, body = CsatStatus), (status = 404, body = ErrorBody), (status = 410, body = ErrorBody),
        (status = "4XX", body = ErrorBody)))]
pub async fn status(services: &CsatServices, request: &Request) -> Result<Response<Body>, ApiError> {
    let token = query_parameter(request, "token").ok_or_else(|| ApiError::bad_request("Token required"))?;
    let (record, _) = find_token(services, &token).await?;
    Ok(json_response(
        StatusCode::OK,
        &CsatStatus {
            success: true,
            ticket_number: record.ticket_number,
            expires_at: expires_at(&record),
            reply_id: record.reply_id,
            rated: record.rating.is_some(),
            rating: record.rating,
        },
    ))
}

/// Rate a reply, once per token.
#[utoipa::path(post, path = "/api/csat", operation_id = "csat_rate", tag = "Support desk", request_body = RateRequest,
    responses((status = 200, body = CsatRated), (status = 409, body = ErrorBody), (status = 410, body = ErrorBody),
        (status = "4XX", body = ErrorBody)))]
pub async fn rate(services: &CsatServices, request: &Request) -> Result<Response<Body>, ApiError> {
    let body = json_body(request)?;
    let (token, stars) = match (body.get("token"), body.get("rating")) {
        (Some(Value::String(token)), Some(rating)) if !token.trim().is_empty() && !rating.is_null() => (token, rating),
        // Seed 000's message for either missing.
        _ => return Err(ApiError::bad_request("Token and rating required")),
    };
    // Read as every typed field is (`http::from_json`): `5.0` is the whole number five.
    let stars = from_json::<u8>(stars.clone())
        .ok()
        .filter(|r| (1..=5).contains(r))
        .ok_or_else(|| ApiError::invalid_input("rating", "rating is a whole number from 1 to 5"))?;
    let comment = match body.get("comment") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) if text.chars().count() <= MAX_COMMENT_CHARS && !text.contains('\0') => {
            Some(text.trim().to_string()).filter(|t| !t.is_empty())
        }
        Some(_) => {
            return Err(ApiError::invalid_input(
                "comment",
                format!("comment is text of at most {MAX_COMMENT_CHARS} characters"),
            ));
        }
    };
    let (record, secret) = find_token(services, token).await?;
    if record.rating.is_some() {
        return Err(ApiError::conflict(
            "this reply was rated already; a rating is not changed",
        ));
    }
    let now = rfc3339(services.clock.now());
    let rating = TicketCsat {
        rating: stars,
        comment,
        rated_at: now.clone(),
    };
    let rated = match services.store.rate_csat(&record, &secret, &rating).await? {
        Rated::Rated(rated) => rated,
        Rated::AlreadyRated => {
            return Err(ApiError::conflict(
                "this reply was rated already; a rating is not changed",
            ));
        }
    };
    let data = json!({
        "ticketId": rated.ticket_id, "ticketNumber": rated.ticket_number, "replyId": rated.reply_id,
        "rating": rating.rating, "comment": rating.comment, "customer_email": rated.customer_email,
        "rated_at": rating.rated_at,
    });
    publish(
        &services.store,
        &services.publisher,
        &rated.org_id,
        "csat.received",
        &now,
        &data,
    )
    .await?;
    Ok(json_response(StatusCode::OK, &CsatRated { success: true, rating }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_name_their_organization_and_a_long_secret() {
        let secret = "a".repeat(52);
        let token = format!("csat_0123456789ab_{secret}");
        assert_eq!(parse_token(&token), Some(("0123456789ab", secret.as_str())));
        for bad in [
            "",
            "csat_",
            "csat_0123456789ab",
            "csat_0123456789ab_short",
            "csat_0123456789AB_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "xsat_0123456789ab_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            assert_eq!(parse_token(bad), None, "{bad}");
        }
    }
}
