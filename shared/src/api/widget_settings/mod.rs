//! `widget-settings`: `GET` and `PUT /api/v1/widget` (scope `widget:manage`), the organization's
//! website widget: its public key (`hg_pub_...`, identifies the organization, not a secret),
//! look, pre-chat form, whether visitors may upload files, the domains it may be used from, the
//! identity secret (sealed, never shown again) and the greeting.

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Scope;
use crate::clock::rfc3339;
use crate::crypto::SecretBox;
use crate::error::{ApiError, ErrorBody};
use crate::http::{Call, Route, Validate, ok, serve_routes};
use crate::runtime::Services;
use crate::store::widget::{FormField, Theme, WidgetSettings};

#[derive(Clone, Copy)]
pub enum WidgetSettingsRoute {
    Get,
    Replace,
}

/// `widget-settings`' routes.
pub const ROUTES: [Route<WidgetSettingsRoute>; 2] = [
    Route::new(
        Method::GET,
        "/api/v1/widget",
        Scope::WidgetManage,
        WidgetSettingsRoute::Get,
    ),
    Route::new(
        Method::PUT,
        "/api/v1/widget",
        Scope::WidgetManage,
        WidgetSettingsRoute::Replace,
    ),
];

const FIELD_TYPES: [&str; 5] = ["text", "email", "tel", "textarea", "select"];
const MAX_DOMAINS: usize = 50;
const MAX_FORM_FIELDS: usize = 20;

/// The settings as the API shows them (the identity secret only as whether it is set).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WidgetView {
    pub public_key: String,
    pub theme: Theme,
    pub pre_chat_form: Vec<FormField>,
    pub allow_file_uploads: bool,
    pub allowed_domains: Vec<String>,
    pub identity_secret_set: bool,
    pub greeting: Option<String>,
    pub updated_at: String,
}

impl From<WidgetSettings> for WidgetView {
    fn from(settings: WidgetSettings) -> Self {
        Self {
            public_key: settings.public_key,
            theme: settings.theme,
            pre_chat_form: settings.pre_chat_form,
            allow_file_uploads: settings.allow_file_uploads,
            allowed_domains: settings.allowed_domains,
            identity_secret_set: settings.identity_secret_sealed.is_some(),
            greeting: settings.greeting,
            updated_at: settings.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct WidgetResponse {
    pub success: bool,
    pub widget: WidgetView,
}

/// Body of `PUT /api/v1/widget`: the fields sent replace the stored ones.
#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WidgetRequest {
    pub theme: Option<Theme>,
    pub pre_chat_form: Option<Vec<FormField>>,
    pub allow_file_uploads: Option<bool>,
    /// Hosts (`shop.example.com`) or wildcard domains (`*.example.com`), whose pages are served
    /// over https (`localhost` and `127.0.0.1` over http too); empty: any.
    pub allowed_domains: Option<Vec<String>>,
    /// Set (16 to 128 characters) to require `identifierHash` at `init`; `null` stops requiring it.
    #[serde(default, deserialize_with = "crate::http::present")]
    #[schema(value_type = Option<String>, pattern = "^[ -~]{16,128}$")]
    pub identity_secret: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::present")]
    #[schema(value_type = Option<String>)]
    pub greeting: Option<Option<String>>,
}

fn well_formed_domain(domain: &str) -> bool {
    let host = domain.strip_prefix("*.").unwrap_or(domain);
    (host.contains('.') || domain == "localhost")
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

impl Validate for WidgetRequest {
    fn validate(&self) -> Result<(), ApiError> {
        if let Some(theme) = &self.theme {
            let color = theme.primary_color.strip_prefix('#').unwrap_or_default();
            if color.len() != 6 || !color.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ApiError::invalid_input("theme.primaryColor", "primaryColor is #rrggbb"));
            }
            if !["bottom-right", "bottom-left"].contains(&theme.position.as_str()) {
                return Err(ApiError::invalid_input(
                    "theme.position",
                    "position is bottom-right or bottom-left",
                ));
            }
            if theme.header_text.trim().is_empty() || theme.header_text.chars().count() > 100 {
                return Err(ApiError::invalid_input(
                    "theme.headerText",
                    "headerText is 1 to 100 characters",
                ));
            }
        }
        if let Some(fields) = &self.pre_chat_form {
            let bad = fields.len() > MAX_FORM_FIELDS
                || fields.iter().any(|f| {
                    !FIELD_TYPES.contains(&f.r#type.as_str())
                        || f.name.trim().is_empty()
                        || f.name.len() > 64
                        || f.label.trim().is_empty()
                        || f.label.chars().count() > 100
                });
            if bad {
                return Err(ApiError::invalid_input(
                    "preChatForm",
                    format!(
                        "at most {MAX_FORM_FIELDS} fields, each named and labelled, of type {}",
                        FIELD_TYPES.join(", ")
                    ),
                ));
            }
        }
        if let Some(domains) = &self.allowed_domains
            && (domains.len() > MAX_DOMAINS || domains.iter().any(|d| !well_formed_domain(d)))
        {
            return Err(ApiError::invalid_input(
                "allowedDomains",
                format!("at most {MAX_DOMAINS} lower-case hosts, like shop.example.com or *.example.com"),
            ));
        }
        if let Some(Some(secret)) = &self.identity_secret
            && !(16..=128).contains(&secret.len())
        {
            return Err(ApiError::invalid_input(
                "identitySecret",
                "identitySecret is 16 to 128 characters",
            ));
        }
        if let Some(Some(greeting)) = &self.greeting
            && greeting.chars().count() > 500
        {
            return Err(ApiError::invalid_input(
                "greeting",
                "greeting is at most 500 characters",
            ));
        }
        Ok(())
    }
}

pub async fn handle(services: &Services, secrets: &SecretBox, request: Request) -> Response<Body> {
    serve_routes(services, &request, &ROUTES, |route, call| async move {
        match route {
            WidgetSettingsRoute::Get => get(call).await,
            WidgetSettingsRoute::Replace => replace(call, secrets).await,
        }
    })
    .await
}

/// The stored settings, or the first ones (with a new public key).
async fn current(call: &Call<'_>) -> Result<WidgetSettings, ApiError> {
    match call.store().get_widget_settings(call.org_id()).await? {
        Some(settings) => Ok(settings),
        None => {
            let first = WidgetSettings::new(call.org_id(), &rfc3339(call.now()));
            Ok(call.store().first_widget_settings(call.org_id(), &first).await?)
        }
    }
}

/// The widget's settings and public key (made on first read).
#[utoipa::path(get, path = "/api/v1/widget", operation_id = "widget_settings_get", tag = "Widget",
    security(("apiKey" = []), ("bearer" = [])),
    responses((status = 200, body = WidgetResponse), (status = "4XX", body = ErrorBody)))]
pub async fn get(call: Call<'_>) -> Result<Response<Body>, ApiError> {
    let settings = current(&call).await?;
    ok(&WidgetResponse {
        success: true,
        widget: settings.into(),
    })
}

/// Change the widget's settings: the fields sent replace the stored ones.
#[utoipa::path(put, path = "/api/v1/widget", operation_id = "widget_settings_replace", tag = "Widget",
    request_body = WidgetRequest, security(("apiKey" = []), ("bearer" = [])),
    responses((status = 200, body = WidgetResponse), (status = "4XX", body = ErrorBody)))]
pub async fn replace(call: Call<'_>, secrets: &SecretBox) -> Result<Response<Body>, ApiError> {
    let body: WidgetRequest = call.validated_body()?;
    let mut settings = current(&call).await?;
    if let Some(theme) = body.theme {
        settings.theme = theme;
    }
    if let Some(form) = body.pre_chat_form {
        settings.pre_chat_form = form;
    }
    if let Some(allow) = body.allow_file_uploads {
        settings.allow_file_uploads = allow;
    }
    if let Some(domains) = body.allowed_domains {
        settings.allowed_domains = domains;
    }
    if let Some(secret) = body.identity_secret {
        settings.identity_secret_sealed = secret.map(|secret| secrets.seal(&secret));
    }
    if let Some(greeting) = body.greeting {
        settings.greeting = greeting;
    }
    settings.updated_at = rfc3339(call.now());
    call.store().put_widget_settings(call.org_id(), &settings).await?;
    ok(&WidgetResponse {
        success: true,
        widget: settings.into(),
    })
}
