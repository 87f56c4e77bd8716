//! Secret rotation: a new signing secret, the previous one signing beside it for a grace period.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};

use super::model::RotatedSecret;
use super::{WebhookSettings, not_found};
use crate::clock::rfc3339;
use crate::error::{ApiError, ErrorBody};
use crate::http::{Call, json_response};
use crate::outbound::signing::generate_secret;

/// Replace the signing secret. The previous one keeps signing beside it for the grace period
/// (a second `v1,` entry in `webhook-signature`, and `X-Hookgate-Signature-Previous`).
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/rotate-secret", operation_id = "webhook_endpoints_rotate_secret", tag = "Outbound webhooks",
    security(("apiKey" = []), ("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = RotatedSecret), (status = "4XX", body = ErrorBody)))]
pub(super) async fn rotate_secret(call: Call<'_>, settings: &WebhookSettings) -> Result<Response<Body>, ApiError> {
    let id = call.path("id")?;
    let now = call.now();
    let until = now + time::Duration::seconds(settings.rotation_grace_seconds);
    let secret = generate_secret();
    call.store()
        .rotate_endpoint_secret(
            call.org_id(),
            &id,
            &settings.secrets.seal(&secret),
            until.unix_timestamp(),
            &rfc3339(now),
        )
        .await?
        .ok_or_else(not_found)?;
    Ok(json_response(
        StatusCode::OK,
        &RotatedSecret {
            success: true,
            secret,
            previous_secret_valid_until: rfc3339(until),
        },
    ))
}
