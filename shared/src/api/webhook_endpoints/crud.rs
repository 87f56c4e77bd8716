//! Create, list, read, change and delete endpoints.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};

use super::model::{CreatedEndpoint, EndpointList, EndpointRequest, EndpointResponse};
use super::validate::{apply, defaults, validate_token};
use super::{WebhookSettings, find_endpoint, not_found};
use crate::clock::rfc3339;
use crate::error::{ApiError, ErrorBody};
use crate::http::{Call, json_response, ok};
use crate::ids::random_base32;
use crate::outbound::signing::generate_secret;
use crate::store::endpoints::{DeliveryStats, Endpoint, TokenChange};

/// Register an endpoint; its signing secret is in this response only.
#[utoipa::path(post, path = "/api/v1/webhooks", operation_id = "webhook_endpoints_create", tag = "Outbound webhooks", request_body = EndpointRequest,
    security(("apiKey" = []), ("bearer" = [])),
    responses((status = 201, body = CreatedEndpoint), (status = "4XX", body = ErrorBody)))]
pub(super) async fn create(call: Call<'_>, settings: &WebhookSettings) -> Result<Response<Body>, ApiError> {
    let body: EndpointRequest = call.body()?;
    for (field, present) in [
        ("name", body.name.is_some()),
        ("url", body.url.is_some()),
        ("events", body.events.is_some()),
    ] {
        if !present {
            return Err(ApiError::invalid_input(field, format!("{field} is required")));
        }
    }
    if body.status.is_some() {
        return Err(ApiError::invalid_input(
            "status",
            "a new endpoint is active; change status with PUT",
        ));
    }
    let config = apply(&body, defaults(), settings)?;
    let secret = match body.secret.as_deref().map(str::trim) {
        None => generate_secret(),
        Some(secret) if (24..=128).contains(&secret.len()) && secret.is_ascii() => secret.to_string(),
        Some(_) => {
            return Err(ApiError::invalid_input(
                "secret",
                "secret must be 24 to 128 ASCII characters",
            ));
        }
    };
    let token = body
        .authentication
        .as_ref()
        .and_then(Option::as_ref)
        .map(validate_token)
        .transpose()?;
    let now = rfc3339(call.now());
    let endpoint = Endpoint {
        org_id: call.org_id().to_string(),
        endpoint_id: format!("wh_{}", random_base32(20)),
        config,
        status: "active".to_string(),
        disabled_reason: None,
        sealed_secret: settings.secrets.seal(&secret),
        sealed_previous_secret: None,
        previous_secret_until: None,
        sealed_token: token.map(|t| settings.secrets.seal(t)),
        failing_since: None,
        created_at: now.clone(),
        updated_at: now,
        stats: DeliveryStats::default(),
    };
    call.store().create_endpoint(&endpoint).await?;
    tracing::info!(org_id = %call.org_id(), endpoint_id = %endpoint.endpoint_id, "webhook endpoint created");
    Ok(json_response(
        StatusCode::CREATED,
        &CreatedEndpoint {
            success: true,
            secret,
            webhook: endpoint.into(),
        },
    ))
}

/// List endpoints with their delivery statistics.
#[utoipa::path(get, path = "/api/v1/webhooks", operation_id = "webhook_endpoints_list", tag = "Outbound webhooks", security(("apiKey" = []), ("bearer" = [])),
    responses((status = 200, body = EndpointList), (status = "4XX", body = ErrorBody)))]
pub(super) async fn list(call: Call<'_>) -> Result<Response<Body>, ApiError> {
    let endpoints = call.store().list_endpoints(call.org_id()).await?.into_iter();
    ok(&EndpointList {
        success: true,
        webhooks: endpoints.map(Into::into).collect(),
    })
}

/// One endpoint.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}", operation_id = "webhook_endpoints_get", tag = "Outbound webhooks", security(("apiKey" = []), ("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = EndpointResponse), (status = "4XX", body = ErrorBody)))]
pub(super) async fn get(call: Call<'_>) -> Result<Response<Body>, ApiError> {
    let endpoint = find_endpoint(&call).await?;
    Ok(json_response(
        StatusCode::OK,
        &EndpointResponse {
            success: true,
            webhook: endpoint.into(),
        },
    ))
}

/// Change an endpoint: only the fields sent change. `"authentication": null` removes the token;
/// `"status": "active"` re-enables a disabled endpoint.
#[utoipa::path(put, path = "/api/v1/webhooks/{id}", operation_id = "webhook_endpoints_update", tag = "Outbound webhooks", request_body = EndpointRequest,
    security(("apiKey" = []), ("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = EndpointResponse), (status = "4XX", body = ErrorBody)))]
pub(super) async fn update(call: Call<'_>, settings: &WebhookSettings) -> Result<Response<Body>, ApiError> {
    let body: EndpointRequest = call.body()?;
    if body.secret.is_some() {
        return Err(ApiError::invalid_input(
            "secret",
            "change the secret with POST /api/v1/webhooks/{id}/rotate-secret",
        ));
    }
    let current = find_endpoint(&call).await?;
    let config = apply(&body, current.config, settings)?;
    let token = match &body.authentication {
        Some(Some(authentication)) => TokenChange::Set(validate_token(authentication)?),
        Some(None) => TokenChange::Remove,
        None => TokenChange::Keep,
    };
    let sealed;
    let token = match token {
        TokenChange::Set(token) => {
            sealed = settings.secrets.seal(token);
            TokenChange::Set(&sealed)
        }
        other => other,
    };
    let status = match body.status.as_deref() {
        None => current.status,
        Some(status @ ("active" | "disabled")) => status.to_string(),
        Some(_) => {
            return Err(ApiError::invalid_input(
                "status",
                "status is \"active\" or \"disabled\"",
            ));
        }
    };
    let now = rfc3339(call.now());
    let updated = call
        .store()
        .update_endpoint(call.org_id(), &current.endpoint_id, &config, token, &status, &now)
        .await?
        .ok_or_else(not_found)?;
    Ok(json_response(
        StatusCode::OK,
        &EndpointResponse {
            success: true,
            webhook: updated.into(),
        },
    ))
}

/// Delete an endpoint: nothing more is delivered to it.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", operation_id = "webhook_endpoints_delete", tag = "Outbound webhooks", security(("apiKey" = []), ("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, description = "Deleted"), (status = "4XX", body = ErrorBody)))]
pub(super) async fn delete(call: Call<'_>) -> Result<Response<Body>, ApiError> {
    let id = call.path("id")?;
    if !call.store().delete_endpoint(call.org_id(), &id).await? {
        return Err(not_found());
    }
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({"success": true, "id": id}),
    ))
}
