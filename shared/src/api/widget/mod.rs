//! `widget`: the public routes a merchant's website calls (seed 002's Widget API). No API key:
//! the public widget key (`hg_pub_...`) names the organization, a session token
//! (`ws_<org>_<secret>`, from `init`, stored hashed, 24 hours) names the visitor's session.
//!
//! - `GET /api/widget/config?apiKey=`, `POST /api/widget/init`: the look and the pre-chat form;
//!   `init` opens a session (publishing `chat.session.created`), and when the merchant set an
//!   identity secret it requires `identifierHash = hex(HMAC-SHA256(secret, visitorId))`, so one
//!   visitor cannot read another's history.
//! - `POST /api/widget/message`: the first message opens a ticket (channel `widget`), later ones
//!   add to it, and once it is closed the next opens a new one; the same text from the same
//!   session within 30 seconds is the same message (same ids back, nothing stored twice, also
//!   when both arrive at once), unless it could not be stored. Each new message publishes
//!   `chat.message.received`; agents' and the AI's replies publish `chat.message.sent`.
//! - `GET /api/widget/message?sessionToken=`: the session's history, without internal notes.
//! - `POST /api/widget/upload`: a visitor's file (multipart `sessionToken`, `file`), when the
//!   widget allows uploads; the message that names it carries it.
//! - `GET /api/widget/files/{id}?sessionToken=`: a download link for a file of the session's
//!   conversation (the visitor's or an agent's, never one on an internal note).
//! - `POST /api/widget/contact`: the contact form: the customer created or updated, a ticket.
//!
//! CORS: a browser's `Origin` must be one of the widget's allowed domains (when it names some),
//! its page served over https (a local one over http too): else 403 `ORIGIN_NOT_ALLOWED` with
//! nothing stored. Answers echo the origin (never `*` once domains are named) with `Vary: Origin`,
//! no credentials and `Access-Control-Expose-Headers: Retry-After`; preflights are answered, and
//! refused for a foreign origin when their query names the widget (see [`answer_preflight`]).
//! Limited per client IP and per widget (every route, whether it names the widget by its key or
//! by a session's token); the country from `CloudFront-Viewer-Country`.

use std::sync::Arc;

use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use time::Duration;
use utoipa::{IntoParams, ToSchema};

use super::attachments::{UploadedFile, read_form};
use super::tickets::model::Channel;
use crate::auth::{client_ip, within_public_limit};
use crate::blob::FileStore;
use crate::clock::{Clock, SystemClock, rfc3339};
use crate::crypto::{SecretBox, constant_time_eq, hmac_sha256};
use crate::desk::files::{Download, download_link, store_file};
use crate::desk::{CLAIM_OPENS_WITHIN_SECONDS, Desk, NewEntry, NewTicket, new_entry_id, new_ticket_id};
use crate::error::{ApiError, ErrorBody};
use crate::http::{
    Route, error_response, find_route, json_response, normalized_email, path_parameter, query_parameter, typed_body,
};
use crate::ids::{ORG_ID_LEN, is_base32};
use crate::outbound::Publisher;
use crate::runtime::{Error, env_or, required_env};
use crate::store::Store;
use crate::store::attachments::AttachmentRef;
use crate::store::tickets::{Status, Ticket};
use crate::store::widget::{FormField, RecentMessage, Theme, WidgetSession, WidgetSettings, session_id};

/// A session lasts this long.
const SESSION_SECONDS: i64 = 86_400;
/// The same text from the same session within this many seconds is the same message.
const DUPLICATE_WINDOW_SECONDS: i64 = 30;
const MAX_MESSAGE_CHARS: usize = 5_000;
/// Most bytes a widget request body may have.
const MAX_BODY_BYTES: usize = 32 * 1024;
/// Most bytes an upload's body may have: Lambda takes at most 6 MB per request.
const MAX_UPLOAD_BODY_BYTES: usize = 6 * 1024 * 1024;
/// A session token's secret: 52 base32 characters, 260 random bits.
const SESSION_SECRET_CHARS: usize = 52;

/// What the widget routes need, built once per container.
pub struct WidgetServices {
    pub store: Store,
    pub publisher: Publisher,
    /// Where visitors' files go.
    pub files: FileStore,
    pub secrets: SecretBox,
    pub clock: Arc<dyn Clock>,
    /// Requests per client IP and minute (`WIDGET_RATE_LIMIT_PER_MINUTE`, default 60).
    pub per_client_per_minute: u32,
    /// Requests per widget and minute, all visitors together (`WIDGET_KEY_RATE_LIMIT_PER_MINUTE`,
    /// default 1200).
    pub per_widget_per_minute: u32,
}

impl WidgetServices {
    pub async fn from_env(config: &crate::aws::AwsConfig) -> Result<Self, Error> {
        Ok(Self {
            store: Store::from_config(config, required_env("TABLE_NAME")?)?,
            publisher: Publisher::from_env(config)?,
            files: FileStore::from_env(config)?,
            secrets: crate::runtime::secret_box(config).await?,
            clock: Arc::new(SystemClock),
            per_client_per_minute: env_or("WIDGET_RATE_LIMIT_PER_MINUTE", 60)?,
            per_widget_per_minute: env_or("WIDGET_KEY_RATE_LIMIT_PER_MINUTE", 1200)?,
        })
    }
}

#[derive(Clone, Copy)]
pub enum WidgetRoute {
    Config,
    Init,
    SendMessage,
    Messages,
    Contact,
    Upload,
    File,
    /// A browser's CORS preflight of any of them.
    Preflight,
}

/// `widget`'s routes: public, no API key.
pub const ROUTES: [Route<WidgetRoute>; 13] = [
    Route::public(Method::GET, "/api/widget/config", WidgetRoute::Config),
    Route::public(Method::POST, "/api/widget/init", WidgetRoute::Init),
    Route::public(Method::POST, "/api/widget/message", WidgetRoute::SendMessage),
    Route::public(Method::GET, "/api/widget/message", WidgetRoute::Messages),
    Route::public(Method::POST, "/api/widget/contact", WidgetRoute::Contact),
    Route::public(Method::POST, "/api/widget/upload", WidgetRoute::Upload),
    Route::public(Method::GET, "/api/widget/files/{id}", WidgetRoute::File),
    Route::public(Method::OPTIONS, "/api/widget/config", WidgetRoute::Preflight),
    Route::public(Method::OPTIONS, "/api/widget/init", WidgetRoute::Preflight),
    Route::public(Method::OPTIONS, "/api/widget/message", WidgetRoute::Preflight),
    Route::public(Method::OPTIONS, "/api/widget/contact", WidgetRoute::Preflight),
    Route::public(Method::OPTIONS, "/api/widget/upload", WidgetRoute::Preflight),
    Route::public(Method::OPTIONS, "/api/widget/files/{id}", WidgetRoute::Preflight),
];

/// The widget's look and form, as `config` and `init` answer them.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WidgetConfig {
    pub theme: Theme,
    /// The pre-chat form (`config` calls it `formFields`, as seed 002 does).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub form_fields: Option<Vec<FormField>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_chat_form: Option<Vec<FormField>>,
    pub allow_file_uploads: bool,
    pub greeting: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ConfigResponse {
    pub success: bool,
    pub config: WidgetConfig,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // describes the query string for the OpenAPI document only
pub struct ConfigParams {
    /// The public widget key.
    #[param(rename = "apiKey", min_length = 1)]
    api_key: String,
}

/// Body of `POST /api/widget/init`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InitRequest {
    pub api_key: String,
    pub visitor_id: Option<String>,
    /// `hex(HMAC-SHA256(identity secret, visitorId))`, required when the merchant set a secret.
    pub identifier_hash: Option<String>,
    /// What the page knows: `page_url`, `referrer`, and the pre-chat form's `name` and `email`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: Map<String, Value>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InitResponse {
    pub success: bool,
    pub session_token: String,
    pub expires_at: String,
    pub config: WidgetConfig,
}

/// The multipart form of `POST /api/widget/upload`.
#[derive(ToSchema)]
#[allow(dead_code)] // describes the form for the OpenAPI document only
pub struct WidgetUploadRequest {
    #[schema(rename = "sessionToken", min_length = 1)]
    session_token: String,
    /// Up to what one request carries, 6 MB.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// Body of `POST /api/widget/message`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageRequest {
    pub session_token: String,
    #[schema(min_length = 1, max_length = 5000)]
    pub message: String,
    /// Ids of the visitor's files (`POST /api/widget/upload`), at most 10.
    #[serde(default)]
    #[schema(max_items = 10)]
    pub attachments: Vec<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageResponse {
    pub success: bool,
    pub ticket_id: String,
    pub conversation_id: String,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // describes the query string for the OpenAPI document only
pub struct MessagesParams {
    #[param(rename = "sessionToken", min_length = 1)]
    session_token: String,
}

/// One message of the history (seed 002's shape).
#[derive(Serialize, ToSchema)]
pub struct HistoryMessage {
    pub id: String,
    #[schema(value_type = Option<Object>)]
    pub content: Option<Value>,
    pub content_text: String,
    pub created_at: String,
    #[schema(value_type = Object)]
    pub author: Value,
    pub attachments: Vec<AttachmentRef>,
}

#[derive(Serialize, ToSchema)]
pub struct MessagesResponse {
    pub messages: Vec<HistoryMessage>,
}

/// Body of `POST /api/widget/contact`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactRequest {
    pub api_key: String,
    #[schema(max_length = 200)]
    pub name: Option<String>,
    #[schema(format = Email)]
    pub email: String,
    #[schema(min_length = 1, max_length = 5000)]
    pub message: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub custom_fields: Map<String, Value>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactResponse {
    pub success: bool,
    pub ticket_id: String,
    pub ticket_number: u64,
    pub message: String,
}

pub async fn handle(services: &WidgetServices, request: Request) -> Response<Body> {
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let route = find_route(&ROUTES, &request).map(|route| route.route);
    let preflight = matches!(route, Ok(WidgetRoute::Preflight));
    let result = match route {
        Err(error) => Err(error),
        Ok(WidgetRoute::Preflight) => answer_preflight(services, &request, origin.as_deref()).await,
        Ok(route) => serve(services, &request, route, origin.as_deref()).await,
    };
    // A refused origin gets no CORS header: the browser shows the page nothing.
    let refused = matches!(&result, Err(error) if error.code == ORIGIN_NOT_ALLOWED);
    let response = result.unwrap_or_else(|error| error_response(&error));
    with_cors(response, origin.as_deref().filter(|_| !refused), preflight && !refused)
}

/// The error code of a page whose origin the widget's allowed domains do not name.
pub const ORIGIN_NOT_ALLOWED: &str = "ORIGIN_NOT_ALLOWED";

fn origin_not_allowed(origin: &str) -> ApiError {
    ApiError::forbidden("this page's origin may not use the widget", json!({"origin": origin}))
        .with_code(ORIGIN_NOT_ALLOWED)
}

/// A browser's preflight: 204, or 403 `ORIGIN_NOT_ALLOWED` for a page the widget's allowed
/// domains do not name. A preflight carries no body, so only a request whose query names the
/// widget (`config?apiKey=`, `message?sessionToken=`, `files/{id}?sessionToken=`) is checked
/// here; the others (`init`, `contact`, `upload`, `POST message`: the key or token in the body)
/// are answered for any origin, which lets the browser send them and no more: each of them is
/// refused with 403 `ORIGIN_NOT_ALLOWED` and nothing stored, its answer without CORS headers.
async fn answer_preflight(
    services: &WidgetServices,
    request: &Request,
    origin: Option<&str>,
) -> Result<Response<Body>, ApiError> {
    let named = query_parameter(request, "apiKey")
        .and_then(|key| key_org(&key).map(str::to_string))
        .or_else(|| {
            query_parameter(request, "sessionToken")
                .and_then(|token| token_parts(&token).map(|(org, _)| org.to_string()))
        });
    if let (Some(origin), Some(org_id)) = (origin, named)
        && let Some(settings) = services.store.get_widget_settings(&org_id).await?
        && !settings.allows_origin(origin)
    {
        return Err(origin_not_allowed(origin));
    }
    let mut answer = Response::new(Body::Empty);
    *answer.status_mut() = StatusCode::NO_CONTENT;
    Ok(answer)
}

async fn serve(
    services: &WidgetServices,
    request: &Request,
    route: WidgetRoute,
    origin: Option<&str>,
) -> Result<Response<Body>, ApiError> {
    let max_body = match route {
        // A file, up to what a Lambda request carries.
        WidgetRoute::Upload => MAX_UPLOAD_BODY_BYTES,
        _ => MAX_BODY_BYTES,
    };
    if request.body().len() > max_body {
        return Err(ApiError::payload_too_large(max_body));
    }
    within_limit(services, "widget", &client_ip(request), services.per_client_per_minute).await?;
    let call = WidgetCall {
        services,
        request,
        origin,
    };
    match route {
        WidgetRoute::Config => config(&call).await,
        WidgetRoute::Init => init(&call).await,
        WidgetRoute::SendMessage => send_message(&call).await,
        WidgetRoute::Messages => messages(&call).await,
        WidgetRoute::Contact => contact(&call).await,
        WidgetRoute::Upload => upload(&call).await,
        WidgetRoute::File => file(&call).await,
        // `handle` answers preflights before any limit counts them.
        WidgetRoute::Preflight => answer_preflight(services, request, origin).await,
    }
}

/// One request to the widget routes.
struct WidgetCall<'a> {
    services: &'a WidgetServices,
    request: &'a Request,
    origin: Option<&'a str>,
}

impl WidgetCall<'_> {
    fn now(&self) -> time::OffsetDateTime {
        self.services.clock.now()
    }

    fn desk<'a>(&'a self, org_id: &'a str) -> Desk<'a> {
        Desk {
            store: &self.services.store,
            publisher: &self.services.publisher,
            // Widget tickets' replies show in the visitor's history: nothing is sent.
            replies: None,
            org_id,
            now: self.now(),
        }
    }

    /// The organization and settings of a public widget key, the page's origin allowed and the
    /// widget within its limit: 404 for an unknown key, 403 `ORIGIN_NOT_ALLOWED`, 429.
    async fn widget(&self, public_key: &str) -> Result<(String, WidgetSettings), ApiError> {
        let unknown = || ApiError::not_found("no widget has this key");
        let org_id = key_org(public_key).ok_or_else(unknown)?.to_string();
        let settings = self
            .services
            .store
            .get_widget_settings(&org_id)
            .await?
            .ok_or_else(unknown)?;
        if !constant_time_eq(settings.public_key.as_bytes(), public_key.trim().as_bytes()) {
            return Err(unknown());
        }
        self.admitted(&org_id, &settings).await?;
        Ok((org_id, settings))
    }

    /// The page's origin one the widget allows (403 `ORIGIN_NOT_ALLOWED`), and the widget within
    /// its limit, all its visitors together (429): every route that names a widget, by its key or
    /// a session's token.
    async fn admitted(&self, org_id: &str, settings: &WidgetSettings) -> Result<(), ApiError> {
        if let Some(origin) = self.origin
            && !settings.allows_origin(origin)
        {
            return Err(origin_not_allowed(origin));
        }
        within_limit(self.services, "widgetkey", org_id, self.services.per_widget_per_minute).await
    }

    /// The session of a token, live (401 otherwise), admitted as [`Self::admitted`] says.
    async fn session(&self, token: &str) -> Result<(String, String, WidgetSession, WidgetSettings), ApiError> {
        let invalid = || ApiError::unauthorized("the session token is unknown or expired; call /api/widget/init");
        let (org_id, secret) = token_parts(token).ok_or_else(invalid)?;
        let session = self
            .services
            .store
            .get_widget_session(org_id, secret)
            .await?
            .filter(|session| session.expires_epoch > self.now().unix_timestamp())
            .ok_or_else(invalid)?;
        let settings = self
            .services
            .store
            .get_widget_settings(org_id)
            .await?
            .ok_or_else(invalid)?;
        self.admitted(org_id, &settings).await?;
        Ok((org_id.to_string(), secret.to_string(), session, settings))
    }
}

/// The organization a public widget key (`hg_pub_<org>_...`) names.
pub fn key_org(public_key: &str) -> Option<&str> {
    public_key
        .trim()
        .strip_prefix("hg_pub_")
        .and_then(|rest| rest.split_once('_'))
        .map(|(org, _)| org)
        .filter(|org| org.len() == ORG_ID_LEN && is_base32(org))
}

/// The organization and the secret of a session token (`ws_<org>_<secret>`).
pub fn token_parts(token: &str) -> Option<(&str, &str)> {
    token
        .trim()
        .strip_prefix("ws_")
        .and_then(|rest| rest.split_once('_'))
        .filter(|(org, secret)| {
            org.len() == ORG_ID_LEN && is_base32(org) && secret.len() == SESSION_SECRET_CHARS && is_base32(secret)
        })
}

async fn within_limit(services: &WidgetServices, route: &str, client: &str, limit: u32) -> Result<(), ApiError> {
    within_public_limit(&services.store, services.clock.now(), route, client, limit, "widget").await
}

/// The widget's CORS: the page's origin echoed (the routes refused it when not allowed), never
/// with credentials; a preflight also names the methods and headers, an answer the headers the
/// page may read (`Retry-After` of a 429).
fn with_cors(mut response: Response<Body>, origin: Option<&str>, preflight: bool) -> Response<Body> {
    let headers = response.headers_mut();
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = origin.and_then(|o| HeaderValue::from_str(o).ok()) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    if preflight {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, OPTIONS"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("content-type"),
        );
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    } else {
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("Retry-After"),
        );
    }
    response
}

fn config_of(settings: &WidgetSettings, seed_config_names: bool) -> WidgetConfig {
    let form = Some(settings.pre_chat_form.clone());
    WidgetConfig {
        theme: settings.theme.clone(),
        form_fields: if seed_config_names { form.clone() } else { None },
        pre_chat_form: if seed_config_names { None } else { form },
        allow_file_uploads: settings.allow_file_uploads,
        greeting: settings.greeting.clone(),
    }
}

/// The widget's look and pre-chat form.
#[utoipa::path(get, path = "/api/widget/config", operation_id = "widget_config", tag = "Widget", params(ConfigParams),
    responses((status = 200, body = ConfigResponse), (status = 403, description = "ORIGIN_NOT_ALLOWED", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = "4XX", body = ErrorBody)))]
async fn config(call: &WidgetCall<'_>) -> Result<Response<Body>, ApiError> {
    let key = query_parameter(call.request, "apiKey").ok_or_else(|| ApiError::bad_request("apiKey required"))?;
    let (_, settings) = call.widget(&key).await?;
    Ok(json_response(
        StatusCode::OK,
        &ConfigResponse {
            success: true,
            config: config_of(&settings, true),
        },
    ))
}

fn text_field(metadata: &Map<String, Value>, name: &str, max: usize) -> Option<String> {
    metadata
        .get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|text| !text.is_empty() && text.chars().count() <= max && !text.contains('\0'))
        .map(str::to_string)
}

/// Open a visitor's session.
#[utoipa::path(post, path = "/api/widget/init", operation_id = "widget_init", tag = "Widget", request_body = InitRequest,
    responses((status = 200, body = InitResponse), (status = 401, description = "identifierHash missing or wrong", body = ErrorBody),
        (status = 403, description = "ORIGIN_NOT_ALLOWED", body = ErrorBody), (status = "4XX", body = ErrorBody)))]
async fn init(call: &WidgetCall<'_>) -> Result<Response<Body>, ApiError> {
    let body: InitRequest = typed_body(call.request)?;
    let (org_id, settings) = call.widget(&body.api_key).await?;
    let visitor_id = body.visitor_id.as_deref().map(str::trim).filter(|v| !v.is_empty());
    if visitor_id.is_some_and(|v| v.len() > 200 || v.contains('\0')) {
        return Err(ApiError::invalid_input(
            "visitorId",
            "visitorId is at most 200 characters",
        ));
    }
    if let Some(sealed) = &settings.identity_secret_sealed {
        let secret = call.services.secrets.open(sealed).ok_or_else(ApiError::internal)?;
        let expected = visitor_id.map(|v| hex::encode(hmac_sha256(secret.as_bytes(), &[v.as_bytes()])));
        let given = body.identifier_hash.as_deref().map(|h| h.trim().to_lowercase());
        let verified =
            matches!((&expected, &given), (Some(e), Some(g)) if constant_time_eq(e.as_bytes(), g.as_bytes()));
        if !verified {
            return Err(ApiError::unauthorized(
                "this widget verifies visitors: send visitorId with identifierHash = hex(HMAC-SHA256(identity secret, visitorId))",
            ));
        }
    }
    let now = call.now();
    let secret = crate::ids::random_base32(SESSION_SECRET_CHARS);
    let session = WidgetSession {
        visitor_id: visitor_id.map(str::to_string),
        ticket_id: None,
        ticket_claimed_epoch: None,
        page_url: text_field(&body.metadata, "page_url", 2000),
        country: call
            .request
            .headers()
            .get("cloudfront-viewer-country")
            .and_then(|v| v.to_str().ok())
            .filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()))
            .map(str::to_string),
        name: text_field(&body.metadata, "name", 200),
        email: text_field(&body.metadata, "email", 320).and_then(|e| normalized_email(&e)),
        created_at: rfc3339(now),
        expires_epoch: (now + Duration::seconds(SESSION_SECONDS)).unix_timestamp(),
    };
    call.services
        .store
        .create_widget_session(&org_id, &secret, &session)
        .await?;
    // Seed 003's `sessionId` and `storeId` (the organization), never the token.
    let event = json!({"sessionId": session_id(&secret), "storeId": org_id,
        "visitorId": session.visitor_id, "pageUrl": session.page_url,
        "referrer": text_field(&body.metadata, "referrer", 2000), "country": session.country,
        "name": session.name, "email": session.email});
    call.desk(&org_id).publish("chat.session.created", &event).await?;
    Ok(json_response(
        StatusCode::OK,
        &InitResponse {
            success: true,
            session_token: format!("ws_{org_id}_{secret}"),
            expires_at: rfc3339(now + Duration::seconds(SESSION_SECONDS)),
            config: config_of(&settings, false),
        },
    ))
}

fn checked_message(text: &str) -> Result<String, ApiError> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > MAX_MESSAGE_CHARS || text.contains('\0') {
        return Err(ApiError::invalid_input(
            "message",
            format!("message is 1 to {MAX_MESSAGE_CHARS} characters"),
        ));
    }
    Ok(text.to_string())
}

/// Send a visitor's message: the first opens a ticket, later ones add to it; once the ticket is
/// closed, the next message opens a new one.
#[utoipa::path(post, path = "/api/widget/message", operation_id = "widget_send_message", tag = "Widget",
    request_body = MessageRequest,
    responses((status = 200, body = MessageResponse), (status = 401, body = ErrorBody), (status = "4XX", body = ErrorBody)))]
async fn send_message(call: &WidgetCall<'_>) -> Result<Response<Body>, ApiError> {
    let body: MessageRequest = typed_body(call.request)?;
    let text = checked_message(&body.message)?;
    if body.attachments.len() > 10 {
        return Err(ApiError::invalid_input("attachments", "at most 10 attachments"));
    }
    let (org_id, secret, session, _) = call.session(&body.session_token).await?;
    let store = &call.services.store;
    let target = session_ticket(call, &org_id, &secret, &session).await?;
    let ticket_id = target.ticket_id().to_string();
    let claim = RecentMessage {
        entry_id: new_entry_id(),
        ticket_id: ticket_id.clone(),
    };
    let now = call.now().unix_timestamp();
    let desk = call.desk(&org_id);
    let attachments = desk.attachments(&ticket_id, &body.attachments).await?;
    let new_ticket = |first| NewTicket {
        ticket_id: Some(ticket_id.clone()),
        subject: crate::desk::subject_of(&text),
        channel: Channel::Widget,
        customer_email: session.email.clone(),
        first,
        ..NewTicket::default()
    };
    if let Some(earlier) = store
        .claim_widget_message(&org_id, &secret, &text, &claim, now, DUPLICATE_WINDOW_SECONDS)
        .await?
    {
        // A duplicate. When this request claimed the session's ticket: the request that claimed
        // the message waits for that ticket, so it opens all the same; or the message went to
        // the session's ticket before, which the session then points to again.
        if let SessionTicket::New(_) = target {
            if earlier.ticket_id == ticket_id {
                desk.open(new_ticket(None)).await?;
            } else {
                store
                    .claim_session_ticket(&org_id, &secret, &earlier.ticket_id, Some(&ticket_id), now)
                    .await?;
            }
        }
        return Ok(message_response(earlier));
    }
    let entry = NewEntry {
        entry_id: Some(claim.entry_id.clone()),
        attachments,
        ..NewEntry::from_customer(session.name.clone(), text.clone())
    };
    let stored = match target {
        SessionTicket::New(_) => desk.open(new_ticket(Some(entry))).await.map(drop),
        SessionTicket::Open(ticket) => desk.add(*ticket, entry).await.map(drop),
        SessionTicket::Opening(_) => match opened_ticket(store, &org_id, &ticket_id).await {
            Ok(ticket) => desk.add(ticket, entry).await.map(drop),
            Err(error) => Err(error),
        },
    };
    if let Err(error) = stored {
        release_unstored(store, &org_id, &secret, &text, &claim).await;
        return Err(error);
    }
    // Seed 003's payload (`sessionId`, `storeId`, `message`, `products`: none recommended here).
    let received = json!({"sessionId": session_id(&secret), "storeId": org_id, "message": text,
        "products": [], "ticketId": ticket_id, "messageId": claim.entry_id,
        "visitorId": session.visitor_id, "pageUrl": session.page_url, "country": session.country});
    desk.publish("chat.message.received", &received).await?;
    Ok(message_response(claim))
}

/// A message whose storing failed releases its claim, so that sending it again stores it
/// rather than answering the ids of a message never stored; unless it was stored before the
/// failure (an event not published), when a retry is rightly the same message.
async fn release_unstored(store: &Store, org_id: &str, secret: &str, text: &str, claim: &RecentMessage) {
    let released = match store.entry_stored(org_id, &claim.entry_id).await {
        Ok(true) => Ok(()),
        Ok(false) => {
            store
                .release_widget_message(org_id, secret, text, &claim.entry_id)
                .await
        }
        Err(error) => Err(error),
    };
    if let Err(error) = released {
        tracing::error!(error = ?error, entry_id = %claim.entry_id, "releasing a widget message's claim");
    }
}

/// Where a visitor's message goes.
enum SessionTicket {
    /// The session's ticket, not closed.
    Open(Box<Ticket>),
    /// Claimed by another message of the session, which is opening it right now.
    Opening(String),
    /// A ticket this message opens under this id (the session now points to it).
    New(String),
}

impl SessionTicket {
    fn ticket_id(&self) -> &str {
        match self {
            SessionTicket::Open(ticket) => &ticket.ticket_id,
            SessionTicket::Opening(id) | SessionTicket::New(id) => id,
        }
    }
}

/// The session's ticket, or the id of the one to open: claimed for the session first, so that
/// two first messages at once open one ticket. A new one is claimed when the session has none,
/// its ticket is closed, or the claimed ticket is still not there [`CLAIM_OPENS_WITHIN_SECONDS`]
/// after its claim (its opening failed).
async fn session_ticket(
    call: &WidgetCall<'_>,
    org_id: &str,
    secret: &str,
    session: &WidgetSession,
) -> Result<SessionTicket, ApiError> {
    let store = &call.services.store;
    let now = call.now().unix_timestamp();
    let pointer = |session: &WidgetSession| {
        let claimed_at = session.ticket_claimed_epoch.unwrap_or(0);
        session.ticket_id.clone().map(|ticket_id| (ticket_id, claimed_at))
    };
    let mut pointed = pointer(session);
    // Two rounds: a claim lost to another message of the session reads the session again.
    for _ in 0..2 {
        if let Some((ticket_id, claimed_at)) = &pointed {
            match store.get_ticket(org_id, ticket_id).await? {
                Some(ticket) if ticket.status != Status::Closed => return Ok(SessionTicket::Open(Box::new(ticket))),
                Some(_) => {}
                None if now - claimed_at < CLAIM_OPENS_WITHIN_SECONDS => {
                    return Ok(SessionTicket::Opening(ticket_id.clone()));
                }
                None => {}
            }
        }
        let mine = new_ticket_id();
        let replacing = pointed.as_ref().map(|(id, _)| id.as_str());
        if store
            .claim_session_ticket(org_id, secret, &mine, replacing, now)
            .await?
        {
            return Ok(SessionTicket::New(mine));
        }
        pointed = store
            .get_widget_session(org_id, secret)
            .await?
            .as_ref()
            .and_then(pointer);
    }
    Err(ApiError::conflict(
        "the session's ticket is being opened by another message; send again",
    ))
}

fn message_response(message: RecentMessage) -> Response<Body> {
    json_response(
        StatusCode::OK,
        &MessageResponse {
            success: true,
            ticket_id: message.ticket_id,
            conversation_id: message.entry_id,
        },
    )
}

/// The session's ticket, which another request of the session may be opening this instant.
async fn opened_ticket(store: &Store, org_id: &str, ticket_id: &str) -> Result<Ticket, ApiError> {
    for attempt in 0..20 {
        if let Some(ticket) = store.get_ticket(org_id, ticket_id).await? {
            return Ok(ticket);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50 * (attempt + 1))).await;
    }
    Err(ApiError::conflict(
        "the session's ticket is still being opened; send again",
    ))
}

/// The session's messages, oldest first, internal notes left out.
#[utoipa::path(get, path = "/api/widget/message", operation_id = "widget_messages", tag = "Widget", params(MessagesParams),
    responses((status = 200, body = MessagesResponse), (status = 401, body = ErrorBody), (status = "4XX", body = ErrorBody)))]
async fn messages(call: &WidgetCall<'_>) -> Result<Response<Body>, ApiError> {
    let token =
        query_parameter(call.request, "sessionToken").ok_or_else(|| ApiError::bad_request("sessionToken required"))?;
    let (org_id, _, session, _) = call.session(&token).await?;
    let entries = match &session.ticket_id {
        Some(ticket_id) => call.services.store.list_entries(&org_id, ticket_id).await?,
        None => Vec::new(),
    };
    let messages = entries
        .into_iter()
        .filter(|entry| !entry.internal)
        .map(|entry| HistoryMessage {
            id: entry.entry_id,
            content: entry.content,
            content_text: entry.content_text,
            created_at: entry.created_at,
            author: json!({"name": entry.author.name, "avatar_url": null, "role": entry.author.role}),
            attachments: entry.attachments,
        })
        .collect();
    Ok(json_response(StatusCode::OK, &MessagesResponse { messages }))
}

/// A visitor's file, for the message that names it.
#[utoipa::path(post, path = "/api/widget/upload", operation_id = "widget_upload", tag = "Widget",
    request_body(content = WidgetUploadRequest, content_type = "multipart/form-data"),
    responses((status = 201, body = UploadedFile), (status = 401, body = ErrorBody),
        (status = 403, description = "The widget takes no files, or ORIGIN_NOT_ALLOWED", body = ErrorBody),
        (status = "4XX", body = ErrorBody)))]
async fn upload(call: &WidgetCall<'_>) -> Result<Response<Body>, ApiError> {
    let form = read_form(call.request).await?;
    let token = form
        .session_token
        .as_deref()
        .ok_or_else(|| ApiError::bad_request("sessionToken required"))?;
    let (org_id, _, session, settings) = call.session(token).await?;
    if !settings.allow_file_uploads {
        return Err(ApiError::forbidden(
            "this widget takes no files",
            json!({"allowFileUploads": false}),
        ));
    }
    let now = rfc3339(call.now());
    let links = (session.ticket_id.clone(), None);
    let store = &call.services.store;
    let attachment = store_file(store, &call.services.files, &org_id, &now, form.file, links).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &UploadedFile {
            url: None,
            id: attachment.id,
            filename: attachment.filename,
            size: attachment.size,
            content_type: attachment.content_type,
            ticket_id: attachment.ticket_id,
            conversation_id: None,
        },
    ))
}

/// A download link for a file of the session's conversation: one its history shows.
#[utoipa::path(get, path = "/api/widget/files/{id}", operation_id = "widget_file", tag = "Widget",
    params(("id" = String, Path, description = "The attachment's id, as the history shows it"), MessagesParams),
    responses((status = 200, body = Download), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = "4XX", body = ErrorBody)))]
async fn file(call: &WidgetCall<'_>) -> Result<Response<Body>, ApiError> {
    let token =
        query_parameter(call.request, "sessionToken").ok_or_else(|| ApiError::bad_request("sessionToken required"))?;
    let (org_id, _, session, _) = call.session(&token).await?;
    let not_found = || ApiError::not_found("no file with this id in this conversation");
    let id = path_parameter(call.request, "id").ok_or_else(not_found)?;
    let store = &call.services.store;
    let ticket_id = session.ticket_id.as_deref().ok_or_else(not_found)?;
    // Only what the history shows: a file on a public entry of the session's ticket.
    let shown = store
        .list_entries(&org_id, ticket_id)
        .await?
        .iter()
        .any(|entry| !entry.internal && entry.attachments.iter().any(|a| a.id == id));
    if !shown {
        return Err(not_found());
    }
    let attachment = store.get_attachment(&org_id, &id).await?.ok_or_else(not_found)?;
    let link = download_link(store, &call.services.files, &org_id, attachment, call.now()).await?;
    Ok(json_response(StatusCode::OK, &link))
}

/// The contact form: the customer created or updated, and a ticket opened.
#[utoipa::path(post, path = "/api/widget/contact", operation_id = "widget_contact", tag = "Widget",
    request_body = ContactRequest,
    responses((status = 200, body = ContactResponse), (status = 403, description = "ORIGIN_NOT_ALLOWED", body = ErrorBody),
        (status = "4XX", body = ErrorBody)))]
async fn contact(call: &WidgetCall<'_>) -> Result<Response<Body>, ApiError> {
    let body: ContactRequest = typed_body(call.request)?;
    let email = normalized_email(&body.email)
        .ok_or_else(|| ApiError::invalid_input("email", "email must be an email address"))?;
    let text = checked_message(&body.message)?;
    // Counted as sent, as the document's `maxLength` counts it.
    if body.name.as_ref().is_some_and(|n| n.chars().count() > 200) {
        return Err(ApiError::invalid_input("name", "name is at most 200 characters"));
    }
    let name = body
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    if body.custom_fields.len() > 20 {
        return Err(ApiError::invalid_input(
            "customFields",
            "customFields holds at most 20 fields",
        ));
    }
    let (org_id, _) = call.widget(&body.api_key).await?;
    let now = rfc3339(call.now());
    let mut fields = Map::new();
    fields.insert("email".into(), json!(email));
    if let Some(name) = &name {
        fields.insert("name".into(), json!(name));
    }
    if let Some(phone) = body.custom_fields.get("phone") {
        fields.insert("phone".into(), phone.clone());
    }
    call.services
        .store
        .upsert_customer(&org_id, &email, &fields, &now)
        .await?;
    let new = NewTicket {
        subject: crate::desk::subject_of(&text),
        channel: Channel::Widget,
        customer_email: Some(email),
        custom_fields: body.custom_fields,
        first: Some(NewEntry::from_customer(name, text)),
        ..NewTicket::default()
    };
    let (ticket, _) = call.desk(&org_id).open(new).await?;
    Ok(json_response(
        StatusCode::OK,
        &ContactResponse {
            success: true,
            ticket_id: ticket.ticket_id,
            ticket_number: ticket.number,
            message: "Thank you for contacting us. We will get back to you soon.".into(),
        },
    ))
}
