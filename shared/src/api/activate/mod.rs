//! `activate`: `POST /api/activate {code}` (scope `account:manage`) redeems an operator's
//! activation code (`hookgate-admin activation-code create`) for the caller's organization: its
//! plan for the code's trial days, once per organization and code, never past the code's
//! redemption limit. The plan's rate limit applies from the next request; when the trial ends
//! the organization is back on its previous plan by itself.

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use time::Duration;
use utoipa::ToSchema;

use crate::auth::Scope;
use crate::clock::rfc3339;
use crate::error::{ApiError, ErrorBody};
use crate::http::{Call, Route, Validate, ok, serve_routes};
use crate::runtime::Services;
use crate::store::activation::Redemption;

/// `activate`'s route.
pub const ROUTES: [Route<()>; 1] = [Route::new(Method::POST, "/api/activate", Scope::AccountManage, ())];

/// Body of `POST /api/activate`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivateRequest {
    /// The activation code, in any case (`HELLOFRESH`).
    #[schema(min_length = 3, max_length = 64, pattern = "^[A-Za-z0-9_-]{3,64}$")]
    pub code: String,
}

impl Validate for ActivateRequest {
    fn validate(&self) -> Result<(), ApiError> {
        if normalized_code(&self.code).is_none() {
            return Err(ApiError::invalid_input(
                "code",
                "code is 3 to 64 letters, digits, - or _",
            ));
        }
        Ok(())
    }
}

/// A code as stored: upper case, 3 to 64 of `A-Z`, `0-9`, `-`, `_`.
pub fn normalized_code(code: &str) -> Option<String> {
    let code = code.trim().to_uppercase();
    let well_formed = (3..=64).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    well_formed.then_some(code)
}

/// What a redeemed code answers (seed 000's shape).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActivateResponse {
    pub success: bool,
    pub plan: String,
    pub trial_days: u32,
    pub trial_ends: String,
    pub message: String,
}

pub async fn handle(services: &Services, request: Request) -> Response<Body> {
    serve_routes(services, &request, &ROUTES, |_, call| activate(call)).await
}

/// Redeem an activation code for the caller's organization.
#[utoipa::path(post, path = "/api/activate", operation_id = "activate", tag = "Account",
    request_body = ActivateRequest, security(("apiKey" = []), ("bearer" = [])),
    responses((status = 200, body = ActivateResponse),
        (status = 404, description = "No such code", body = ErrorBody),
        (status = 409, description = "Redeemed by this organization before, no redemptions left, or a trial is running", body = ErrorBody),
        (status = 410, description = "The code has expired", body = ErrorBody),
        (status = "4XX", body = ErrorBody)))]
pub async fn activate(call: Call<'_>) -> Result<Response<Body>, ApiError> {
    let body: ActivateRequest = call.validated_body()?;
    let code = normalized_code(&body.code).unwrap_or_default();
    let now = call.now();
    let at = rfc3339(now);
    let org = call
        .store()
        .get_organization(call.org_id())
        .await?
        .ok_or_else(|| ApiError::not_found("the organization is gone"))?;
    let current = org.clone().at(&at);
    if current.trial_previous_plan.is_some() {
        return Err(ApiError::conflict(format!(
            "a trial is running until {}; redeem another code after it",
            current.trial_ends_at.unwrap_or_default()
        )));
    }
    let trial_ends =
        |found: &crate::store::activation::ActivationCode| rfc3339(now + Duration::days(i64::from(found.trial_days)));
    let found = match call
        .store()
        .redeem_activation_code(&org, &code, &at, trial_ends)
        .await?
    {
        Redemption::Redeemed(found) => found,
        Redemption::Unknown => return Err(ApiError::not_found("no such activation code")),
        Redemption::Expired => return Err(ApiError::gone("this activation code has expired")),
        Redemption::Exhausted => {
            return Err(ApiError::conflict("this activation code has no redemptions left"));
        }
        Redemption::AlreadyRedeemed => {
            return Err(ApiError::conflict(
                "this organization redeemed this activation code before",
            ));
        }
        Redemption::Changed => {
            return Err(ApiError::conflict(
                "the organization's plan changed meanwhile; try again",
            ));
        }
    };
    tracing::info!(org_id = %call.org_id(), code = %found.code, plan = %found.plan, "activation code redeemed");
    ok(&ActivateResponse {
        success: true,
        trial_ends: trial_ends(&found),
        message: format!("Aktiviert! Ihr {}-Tage Testzeitraum läuft.", found.trial_days),
        plan: found.plan,
        trial_days: found.trial_days,
    })
}
