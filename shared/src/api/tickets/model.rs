//! What `/api/v1/tickets` takes and answers, and the rules of each request.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;
use crate::http::{Validate, normalized_email};
pub use crate::store::tickets::{AuthorType, Channel, Priority, Status};
use crate::store::tickets::{Entry, Ticket};

const MAX_SUBJECT_CHARS: usize = 300;
const MAX_TAGS: usize = 20;
const MAX_TAG_CHARS: usize = 50;
const MAX_ORDER_NUMBERS: usize = 20;
const MAX_NAME_CHARS: usize = 200;
/// A message's text, at most (the request body itself is capped at 100 KB).
pub const MAX_MESSAGE_CHARS: usize = 50_000;
const MAX_CUSTOM_FIELDS: usize = 50;
/// Attachments one entry carries, at most.
const MAX_ENTRY_ATTACHMENTS: usize = 10;

/// The customer's first message of a new ticket.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FirstMessage {
    #[schema(min_length = 1, max_length = 50000, pattern = r"\S")]
    pub content_text: String,
    /// Rich content (a document tree), kept as sent.
    #[schema(value_type = Option<Object>)]
    pub content: Option<Value>,
    /// The customer's name.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub author_name: Option<String>,
}

/// Body of `POST /api/v1/tickets`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTicketRequest {
    #[schema(min_length = 1, max_length = 300, pattern = r"\S")]
    pub subject: String,
    #[schema(format = Email)]
    pub customer_email: Option<String>,
    #[serde(default)]
    pub priority: Priority,
    /// Where the ticket came from (default `api`).
    #[serde(default)]
    pub channel: Channel,
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub assignee: Option<String>,
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub team: Option<String>,
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub category: Option<String>,
    /// At most 20, each 1 to 50 characters.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub tags: Vec<String>,
    /// At most 50, named 1 to 64 characters.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub custom_fields: Map<String, Value>,
    /// Orders the ticket is about: at most 20, each 1 to 256 characters.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub order_numbers: Vec<String>,
    /// The customer's first message, stored as the thread's first entry.
    pub message: Option<FirstMessage>,
}

/// Body of `PATCH /api/v1/tickets/{id}`: only the fields sent change; `null` clears the
/// assignee, team or category.
#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct UpdateTicketRequest {
    #[schema(min_length = 1, max_length = 300, pattern = r"\S")]
    pub subject: Option<String>,
    pub status: Option<Status>,
    pub priority: Option<Priority>,
    #[serde(default, deserialize_with = "crate::http::present")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200, pattern = r"\S")]
    pub assignee: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::present")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200, pattern = r"\S")]
    pub team: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::present")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200, pattern = r"\S")]
    pub category: Option<Option<String>>,
    #[schema(max_items = 20)]
    pub tags: Option<Vec<String>>,
    /// Merged into the ticket's custom fields; a field set to `null` is removed.
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<Map<String, Value>>,
    #[schema(max_items = 20)]
    pub order_numbers: Option<Vec<String>>,
}

/// Body of `POST /api/v1/tickets/{id}/escalate`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalateRequest {
    /// The team the ticket goes to; it becomes the ticket's team.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub team: String,
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub reason: String,
}

impl Validate for EscalateRequest {
    fn validate(&self) -> Result<(), ApiError> {
        check_text("team", &self.team, MAX_NAME_CHARS)?;
        check_text("reason", &self.reason, 2000)
    }
}

/// Body of `POST /api/v1/tickets/{id}/conversations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEntryRequest {
    pub author: Author,
    #[schema(min_length = 1, max_length = 50000, pattern = r"\S")]
    pub content_text: String,
    #[schema(value_type = Option<Object>)]
    pub content: Option<Value>,
    /// An internal note: never shown to the customer (agents, AI and the system only).
    #[serde(default)]
    pub internal: bool,
    /// The provider's id of the message (an email's Message-ID), for threading.
    #[schema(min_length = 1, max_length = 998, pattern = r"\S")]
    pub provider_message_id: Option<String>,
    /// Ids of attachments uploaded before (`POST /api/upload`, `POST /api/v1/attachments`),
    /// unattached or attached to this ticket; at most 10.
    #[serde(default)]
    #[schema(max_items = 10)]
    pub attachments: Vec<String>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct Author {
    pub r#type: AuthorType,
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: Option<String>,
}

fn check_text(field: &str, text: &str, max: usize) -> Result<(), ApiError> {
    if text.trim().is_empty() || text.chars().count() > max || text.contains('\0') {
        return Err(ApiError::invalid_input(
            field,
            format!("{field} must be 1 to {max} characters, without NUL"),
        ));
    }
    Ok(())
}

/// Rich content is a document tree: a JSON object (or `null`).
fn check_content(field: &str, content: Option<&Value>) -> Result<(), ApiError> {
    match content {
        None | Some(Value::Null | Value::Object(_)) => Ok(()),
        Some(_) => Err(ApiError::invalid_input(field, format!("{field} is a JSON object"))),
    }
}

fn check_optional(field: &str, text: &Option<String>, max: usize) -> Result<(), ApiError> {
    text.as_deref().map_or(Ok(()), |text| check_text(field, text, max))
}

fn check_list(field: &str, items: &[String], max_items: usize, max_chars: usize) -> Result<(), ApiError> {
    if items.len() > max_items {
        return Err(ApiError::invalid_input(field, format!("at most {max_items} {field}")));
    }
    items.iter().try_for_each(|item| check_text(field, item, max_chars))
}

fn check_custom_fields(fields: &Map<String, Value>) -> Result<(), ApiError> {
    if fields.len() > MAX_CUSTOM_FIELDS || fields.keys().any(|k| k.is_empty() || k.len() > 64) {
        return Err(ApiError::invalid_input(
            "custom_fields",
            format!("at most {MAX_CUSTOM_FIELDS} custom fields, named 1 to 64 characters"),
        ));
    }
    Ok(())
}

/// Tags as stored: trimmed, lowercased, each once, in the order sent.
pub fn normalized_tags(tags: &[String]) -> Vec<String> {
    let mut seen = Vec::new();
    for tag in tags.iter().map(|t| t.trim().to_lowercase()) {
        if !seen.contains(&tag) {
            seen.push(tag);
        }
    }
    seen
}

impl Validate for CreateTicketRequest {
    fn validate(&self) -> Result<(), ApiError> {
        check_text("subject", &self.subject, MAX_SUBJECT_CHARS)?;
        if let Some(email) = &self.customer_email
            && normalized_email(email).is_none()
        {
            return Err(ApiError::invalid_input(
                "customer_email",
                "customer_email must be an email address",
            ));
        }
        for (field, value) in [
            ("assignee", &self.assignee),
            ("team", &self.team),
            ("category", &self.category),
        ] {
            check_optional(field, value, MAX_NAME_CHARS)?;
        }
        check_list("tags", &self.tags, MAX_TAGS, MAX_TAG_CHARS)?;
        check_list("order_numbers", &self.order_numbers, MAX_ORDER_NUMBERS, 256)?;
        check_custom_fields(&self.custom_fields)?;
        if let Some(message) = &self.message {
            check_text("message.content_text", &message.content_text, MAX_MESSAGE_CHARS)?;
            check_content("message.content", message.content.as_ref())?;
            check_optional("message.author_name", &message.author_name, MAX_NAME_CHARS)?;
        }
        Ok(())
    }
}

impl Validate for UpdateTicketRequest {
    fn validate(&self) -> Result<(), ApiError> {
        check_optional("subject", &self.subject, MAX_SUBJECT_CHARS)?;
        for (field, value) in [
            ("assignee", &self.assignee),
            ("team", &self.team),
            ("category", &self.category),
        ] {
            check_optional(field, &value.clone().flatten(), MAX_NAME_CHARS)?;
        }
        check_list(
            "tags",
            self.tags.as_deref().unwrap_or_default(),
            MAX_TAGS,
            MAX_TAG_CHARS,
        )?;
        check_list(
            "order_numbers",
            self.order_numbers.as_deref().unwrap_or_default(),
            MAX_ORDER_NUMBERS,
            256,
        )?;
        self.custom_fields.as_ref().map_or(Ok(()), check_custom_fields)
    }
}

impl Validate for NewEntryRequest {
    fn validate(&self) -> Result<(), ApiError> {
        check_text("content_text", &self.content_text, MAX_MESSAGE_CHARS)?;
        check_content("content", self.content.as_ref())?;
        check_optional("author.name", &self.author.name, MAX_NAME_CHARS)?;
        check_optional("provider_message_id", &self.provider_message_id, 998)?;
        check_list("attachments", &self.attachments, MAX_ENTRY_ATTACHMENTS, 64)?;
        if self.internal && self.author.r#type == AuthorType::Customer {
            return Err(ApiError::invalid_input(
                "internal",
                "internal notes are written by agents, the AI or the system, not the customer",
            ));
        }
        Ok(())
    }
}

#[derive(Serialize, ToSchema)]
pub struct TicketResponse {
    pub success: bool,
    pub ticket: Ticket,
}

#[derive(Serialize, ToSchema)]
pub struct TicketPageResponse {
    pub success: bool,
    pub tickets: Vec<Ticket>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
    pub has_more: bool,
    /// The organization's tickets by status (all of them, whatever the filters).
    pub counts_by_status: std::collections::BTreeMap<String, i64>,
}

#[derive(Serialize, ToSchema)]
pub struct ConversationList {
    pub success: bool,
    pub conversations: Vec<Entry>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedEntry {
    pub success: bool,
    pub conversation: Entry,
    pub ticket: Ticket,
    /// An AI reply's CSAT token, shown this once: the customer rates the reply with it
    /// (`GET`/`POST /api/csat`) within 30 days.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csat_token: Option<String>,
}

/// The query string of `GET /api/v1/tickets`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // describes the query string for the OpenAPI document only
pub struct TicketListParams {
    status: Option<Status>,
    priority: Option<Priority>,
    channel: Option<Channel>,
    /// An assignee's id, or `unassigned`.
    assignee: Option<String>,
    tag: Option<String>,
    /// The customer's email.
    #[param(format = Email)]
    customer: Option<String>,
    /// Text the subject or the customer's email contains (any case).
    q: Option<String>,
    /// RFC 3339; inclusive.
    #[param(format = DateTime)]
    created_after: Option<String>,
    #[param(format = DateTime)]
    created_before: Option<String>,
    #[param(format = DateTime)]
    updated_after: Option<String>,
    #[param(format = DateTime)]
    updated_before: Option<String>,
    /// Tickets per page, 1 to 100 (default 25).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}
