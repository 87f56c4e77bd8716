//! The one JSON error shape every route answers with:
//! `{"success": false, "error": {"code": "INVALID_INPUT", "message": "...", "details": {...}}}`.
//! Codes are stable: clients branch on them, so never rename one.

use lambda_http::http::StatusCode;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<Value>,
    /// Seconds a client should wait before retrying (sent as `Retry-After`).
    pub retry_after: Option<u64>,
}

/// Body of every error response.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// Always `false`.
    pub success: bool,
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `INVALID_INPUT`, `UNAUTHORIZED`, `RATE_LIMITED`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// Structured context, e.g. the offending field.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    /// The same error under a more specific stable code.
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = code;
        self
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn invalid_json(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_JSON", message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
    }

    pub fn missing_scope(scope: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "INSUFFICIENT_SCOPE",
            format!("this API key lacks the scope {scope}"),
        )
        .with_details(serde_json::json!({ "requiredScope": scope }))
    }

    /// The key may not do this, whatever its scopes (e.g. grant more than it holds).
    pub fn forbidden(message: impl Into<String>, details: Value) -> Self {
        Self::new(StatusCode::FORBIDDEN, "FORBIDDEN", message).with_details(details)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    /// 405: the path takes only the `allowed` methods (`details.allow`, sent as `Allow` too).
    pub fn method_not_allowed(allowed: &[&str]) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "this method is not allowed on this path",
        )
        .with_details(serde_json::json!({ "allow": allowed }))
    }

    /// The methods a 405 names.
    pub fn allowed_methods(&self) -> Option<String> {
        let allowed = self.details.as_ref()?.get("allow")?.as_array()?;
        let names: Vec<&str> = allowed.iter().filter_map(Value::as_str).collect();
        Some(names.join(", "))
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "CONFLICT", message)
    }

    pub fn payload_too_large(limit_bytes: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!("the body exceeds {} KB", limit_bytes / 1024),
        )
        .with_details(serde_json::json!({ "limitBytes": limit_bytes }))
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "send the body as JSON with Content-Type: application/json",
        )
    }

    /// Well-formed JSON that does not satisfy the route's rules; `field` names the culprit.
    pub fn invalid_input(field: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "INVALID_INPUT", message)
            .with_details(serde_json::json!({ "field": field }))
    }

    pub fn rate_limited(retry_after: u64) -> Self {
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            "rate limit exceeded for this API key",
        );
        error.retry_after = Some(retry_after);
        error
    }

    /// The thing asked for existed but is no longer usable (an expired token).
    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(StatusCode::GONE, "GONE", message)
    }

    /// A provider's API that this request needed failed or refused us: the provider's retry
    /// of the webhook may succeed.
    pub fn provider_unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, "PROVIDER_UNAVAILABLE", message)
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "an internal error occurred; retry later",
        )
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            success: false,
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message.clone(),
                details: self.details.clone(),
            },
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

/// An error and its sources on one line: an HTTP client's own message ("client error
/// (Connect)") hides the TLS or connection cause beneath it.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
