//! What `/api/v1/orders` takes and answers (seed 004's camelCase fields), and the rules of
//! each request.

use serde::{Deserialize, Serialize};
use serde_json::Number;
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;
use crate::http::{Validate, present};
use crate::store::call_orders::{CallAttempt, CallOrder, CallOutcome, OrderProduct, OrderStatus, OrderWithCalls};
use crate::store::customers::normalized_identity;

const MAX_NAME_CHARS: usize = 200;
const MAX_ADDRESS_CHARS: usize = 500;
const MAX_CITY_CHARS: usize = 100;
const MAX_SOURCE_CHARS: usize = 50;
/// As long as an order number `/api/webhook` takes, so that the two meet in the agent context.
const MAX_EXTERNAL_ID_CHARS: usize = 256;
const MAX_PRODUCTS: usize = 100;
const MAX_REASON_CHARS: usize = 500;
const MAX_ATTEMPT_ID_CHARS: usize = 128;
/// A day: no call lasts longer.
const MAX_CALL_SECONDS: u32 = 86_400;
pub const DEFAULT_CALL_ATTEMPTS: u32 = 3;
pub const MAX_CALL_ATTEMPTS: u32 = 10;
/// Of a price or total: a cap on typing errors, far above any real order.
const MAX_AMOUNT: f64 = 1e12;
/// Of one product line: a cap on typing errors, far above any real order.
const MAX_QUANTITY: u32 = 100_000;

/// A product line as sent.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductInput {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    #[schema(minimum = 1, maximum = 100000)]
    pub quantity: u32,
    #[schema(value_type = f64, minimum = 0, maximum = 1000000000000_f64)]
    pub price: Number,
}

/// Body of `POST /api/v1/orders`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateOrderRequest {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub customer_name: String,
    /// International form, e.g. `+212612345678`.
    #[schema(pattern = r"^\+[0-9]{6,15}$")]
    pub customer_phone: String,
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    pub customer_address: Option<String>,
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub customer_city: Option<String>,
    #[serde(default)]
    #[schema(max_items = 100)]
    pub products: Vec<ProductInput>,
    #[schema(value_type = Option<f64>, minimum = 0, maximum = 1000000000000_f64)]
    pub total_amount: Option<Number>,
    /// Three uppercase letters (ISO 4217), e.g. `MAD`.
    #[schema(pattern = "^[A-Z]{3}$")]
    pub currency: Option<String>,
    /// Where the order came from, e.g. `shopify`.
    #[schema(min_length = 1, max_length = 50, pattern = r"\S")]
    pub source: Option<String>,
    /// The merchant's own order number: unique in the organization, and the agent context
    /// finds the order by it.
    #[schema(min_length = 1, max_length = 256, pattern = r"\S")]
    pub external_id: Option<String>,
    /// Calls before the order is given up as `no_answer`, 1 to 10 (default 3).
    #[schema(minimum = 1, maximum = 10)]
    pub max_call_attempts: Option<u32>,
}

/// Body of `PATCH /api/v1/orders/{id}`: only the fields sent change; `null` clears an
/// optional one. Only a pending order changes.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateOrderRequest {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200, pattern = r"\S")]
    pub customer_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, pattern = r"^\+[0-9]{6,15}$")]
    pub customer_phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 500, pattern = r"\S")]
    pub customer_address: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 100, pattern = r"\S")]
    pub customer_city: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<ProductInput>>, max_items = 100)]
    pub products: Option<Option<Vec<ProductInput>>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>, minimum = 0, maximum = 1000000000000_f64)]
    pub total_amount: Option<Option<Number>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, pattern = "^[A-Z]{3}$")]
    pub currency: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 50, pattern = r"\S")]
    pub source: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 256, pattern = r"\S")]
    pub external_id: Option<Option<String>>,
    /// More than the calls already made, at most 10.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 10)]
    pub max_call_attempts: Option<Option<u32>>,
}

/// Body of `POST /api/v1/orders/{id}/call-attempts`: what one call came to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CallAttemptRequest {
    /// `confirmed` and `cancelled` end the order's calls; the others are unanswered calls.
    pub outcome: CallOutcome,
    /// The voice agent's id of this report: a retry with the same id is recorded once.
    #[schema(pattern = "^[!-~]{1,128}$")]
    pub attempt_id: Option<String>,
    /// Why the customer cancelled, or any note on the call.
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    pub reason: Option<String>,
    #[schema(maximum = 86400)]
    pub duration_seconds: Option<u32>,
}

/// The merchant's fields of an order, checked and normalized.
pub struct OrderFields {
    pub customer_name: String,
    pub customer_phone: String,
    pub customer_address: Option<String>,
    pub customer_city: Option<String>,
    pub products: Vec<OrderProduct>,
    pub total_amount: Option<Number>,
    pub currency: Option<String>,
    pub source: Option<String>,
    pub external_id: Option<String>,
    pub max_call_attempts: u32,
}

/// Trimmed text of 1 to `max` characters without NUL.
fn text(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed.chars().count() > max || trimmed.contains('\0') {
        return Err(ApiError::invalid_input(
            field,
            format!("{field} must be 1 to {max} characters, without NUL"),
        ));
    }
    Ok(trimmed.to_string())
}

fn optional_text(field: &str, value: Option<&String>, max: usize) -> Result<Option<String>, ApiError> {
    value.map(|value| text(field, value, max)).transpose()
}

fn phone(value: &str) -> Result<String, ApiError> {
    normalized_identity("phone", value)
        .filter(|_| !value.contains('\0'))
        .ok_or_else(|| {
            ApiError::invalid_input(
                "customerPhone",
                "customerPhone must be in international form, e.g. +212612345678",
            )
        })
}

/// An amount, kept to a millionth (no currency has more than four decimals).
fn amount(field: &str, value: &Number) -> Result<Number, ApiError> {
    match value.as_f64() {
        Some(v) if v.is_finite() && (0.0..=MAX_AMOUNT).contains(&v) => {
            let kept = (v * 1e6).round() / 1e6;
            Ok(if kept == v {
                value.clone()
            } else {
                Number::from_f64(kept).unwrap_or_else(|| value.clone())
            })
        }
        _ => Err(ApiError::invalid_input(
            field,
            format!("{field} must be a number from 0 to {MAX_AMOUNT}"),
        )),
    }
}

fn currency(value: &str) -> Result<String, ApiError> {
    if value.len() == 3 && value.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(value.to_string())
    } else {
        Err(ApiError::invalid_input(
            "currency",
            "currency must be three uppercase letters (ISO 4217), e.g. MAD",
        ))
    }
}

fn products(items: &[ProductInput]) -> Result<Vec<OrderProduct>, ApiError> {
    if items.len() > MAX_PRODUCTS {
        return Err(ApiError::invalid_input(
            "products",
            format!("an order has at most {MAX_PRODUCTS} products"),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            if !(1..=MAX_QUANTITY).contains(&item.quantity) {
                return Err(ApiError::invalid_input(
                    &format!("products[{i}].quantity"),
                    format!("quantity must be 1 to {MAX_QUANTITY}"),
                ));
            }
            Ok(OrderProduct {
                name: text(&format!("products[{i}].name"), &item.name, MAX_NAME_CHARS)?,
                quantity: item.quantity,
                price: amount(&format!("products[{i}].price"), &item.price)?,
            })
        })
        .collect()
}

fn max_attempts(value: u32) -> Result<u32, ApiError> {
    if (1..=MAX_CALL_ATTEMPTS).contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::invalid_input(
            "maxCallAttempts",
            format!("maxCallAttempts must be 1 to {MAX_CALL_ATTEMPTS}"),
        ))
    }
}

impl CreateOrderRequest {
    pub fn fields(&self) -> Result<OrderFields, ApiError> {
        Ok(OrderFields {
            customer_name: text("customerName", &self.customer_name, MAX_NAME_CHARS)?,
            customer_phone: phone(&self.customer_phone)?,
            customer_address: optional_text("customerAddress", self.customer_address.as_ref(), MAX_ADDRESS_CHARS)?,
            customer_city: optional_text("customerCity", self.customer_city.as_ref(), MAX_CITY_CHARS)?,
            products: products(&self.products)?,
            total_amount: self
                .total_amount
                .as_ref()
                .map(|v| amount("totalAmount", v))
                .transpose()?,
            currency: self.currency.as_deref().map(currency).transpose()?,
            source: optional_text("source", self.source.as_ref(), MAX_SOURCE_CHARS)?,
            external_id: optional_text("externalId", self.external_id.as_ref(), MAX_EXTERNAL_ID_CHARS)?,
            max_call_attempts: max_attempts(self.max_call_attempts.unwrap_or(DEFAULT_CALL_ATTEMPTS))?,
        })
    }
}

impl Validate for CreateOrderRequest {
    fn validate(&self) -> Result<(), ApiError> {
        self.fields().map(|_| ())
    }
}

/// A required field sent as `null`.
fn not_null(field: &str) -> ApiError {
    ApiError::invalid_input(field, format!("{field} cannot be null"))
}

impl UpdateOrderRequest {
    /// `order` with the changes applied (its `updatedAt` left as it was).
    pub fn apply(&self, mut order: CallOrder) -> Result<CallOrder, ApiError> {
        if let Some(name) = &self.customer_name {
            let name = name.as_ref().ok_or_else(|| not_null("customerName"))?;
            order.customer_name = text("customerName", name, MAX_NAME_CHARS)?;
        }
        if let Some(value) = &self.customer_phone {
            order.customer_phone = phone(value.as_ref().ok_or_else(|| not_null("customerPhone"))?)?;
        }
        if let Some(value) = &self.customer_address {
            order.customer_address = optional_text("customerAddress", value.as_ref(), MAX_ADDRESS_CHARS)?;
        }
        if let Some(value) = &self.customer_city {
            order.customer_city = optional_text("customerCity", value.as_ref(), MAX_CITY_CHARS)?;
        }
        if let Some(value) = &self.products {
            order.products = products(value.as_deref().unwrap_or_default())?;
        }
        if let Some(value) = &self.total_amount {
            order.total_amount = value.as_ref().map(|v| amount("totalAmount", v)).transpose()?;
        }
        if let Some(value) = &self.currency {
            order.currency = value.as_deref().map(currency).transpose()?;
        }
        if let Some(value) = &self.source {
            order.source = optional_text("source", value.as_ref(), MAX_SOURCE_CHARS)?;
        }
        if let Some(value) = &self.external_id {
            order.external_id = optional_text("externalId", value.as_ref(), MAX_EXTERNAL_ID_CHARS)?;
        }
        if let Some(value) = self.max_call_attempts {
            order.max_call_attempts = max_attempts(value.ok_or_else(|| not_null("maxCallAttempts"))?)?;
        }
        Ok(order)
    }

    fn is_empty(&self) -> bool {
        self.customer_name.is_none()
            && self.customer_phone.is_none()
            && self.customer_address.is_none()
            && self.customer_city.is_none()
            && self.products.is_none()
            && self.total_amount.is_none()
            && self.currency.is_none()
            && self.source.is_none()
            && self.external_id.is_none()
            && self.max_call_attempts.is_none()
    }
}

impl Validate for UpdateOrderRequest {
    fn validate(&self) -> Result<(), ApiError> {
        if self.is_empty() {
            return Err(ApiError::invalid_input("body", "send at least one field to change"));
        }
        Ok(())
    }
}

impl Validate for CallAttemptRequest {
    fn validate(&self) -> Result<(), ApiError> {
        if let Some(id) = &self.attempt_id {
            let visible = id.bytes().all(|b| b.is_ascii_graphic());
            if id.is_empty() || id.len() > MAX_ATTEMPT_ID_CHARS || !visible {
                return Err(ApiError::invalid_input(
                    "attemptId",
                    format!("attemptId must be 1 to {MAX_ATTEMPT_ID_CHARS} visible ASCII characters"),
                ));
            }
        }
        optional_text("reason", self.reason.as_ref(), MAX_REASON_CHARS)?;
        if self.duration_seconds.is_some_and(|d| d > MAX_CALL_SECONDS) {
            return Err(ApiError::invalid_input(
                "durationSeconds",
                format!("durationSeconds must be at most {MAX_CALL_SECONDS}"),
            ));
        }
        Ok(())
    }
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // describes the query string for the OpenAPI document only
pub struct OrderListParams {
    /// Only orders in this status.
    status: Option<OrderStatus>,
    /// Orders per page, 1 to 100 (default 25).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// One order.
#[derive(Serialize, ToSchema)]
pub struct OrderResponse {
    pub success: bool,
    pub data: CallOrder,
}

/// One order with its calls.
#[derive(Serialize, ToSchema)]
pub struct OrderDetailResponse {
    pub success: bool,
    pub data: OrderWithCalls,
}

#[derive(Serialize, ToSchema)]
pub struct OrderPageResponse {
    pub success: bool,
    /// Newest first.
    pub data: Vec<CallOrder>,
    pub has_more: bool,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct DeletedOrder {
    pub id: String,
    pub deleted: bool,
}

#[derive(Serialize, ToSchema)]
pub struct DeletedOrderResponse {
    pub success: bool,
    pub data: DeletedOrder,
}

/// The order after a reported call, and the call as recorded.
#[derive(Serialize, ToSchema)]
pub struct CallAttemptResponse {
    pub success: bool,
    pub data: OrderWithCalls,
    pub attempt: CallAttempt,
    /// The report repeated an `attemptId` already recorded: nothing changed.
    pub duplicate: bool,
}

/// A job on the calls queue: call this order's customer (the `attempt`th call). A job whose
/// order is gone, or no longer pending, is dropped: its report would answer 404 or 409.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CallJob {
    pub org_id: String,
    pub order_id: String,
    pub attempt: u32,
}

/// `data.order` of `order.confirmed`, `order.cancelled` and `order.no_answer` (seed 004).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderEventOrder {
    pub id: String,
    pub external_id: Option<String>,
    pub customer_name: String,
    pub customer_phone: String,
    pub status: OrderStatus,
    #[schema(value_type = Option<f64>)]
    pub total_amount: Option<Number>,
    pub currency: Option<String>,
    pub source: Option<String>,
    pub call_attempts: u32,
    pub max_call_attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmed_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelled_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancellation_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_call_at: Option<String>,
    pub created_at: String,
}

impl From<&CallOrder> for OrderEventOrder {
    fn from(order: &CallOrder) -> Self {
        Self {
            id: order.id.clone(),
            external_id: order.external_id.clone(),
            customer_name: order.customer_name.clone(),
            customer_phone: order.customer_phone.clone(),
            status: order.status,
            total_amount: order.total_amount.clone(),
            currency: order.currency.clone(),
            source: order.source.clone(),
            call_attempts: order.call_attempts,
            max_call_attempts: order.max_call_attempts,
            confirmed_at: order.confirmed_at.clone(),
            cancelled_at: order.cancelled_at.clone(),
            cancellation_reason: order.cancellation_reason.clone(),
            last_call_at: order.last_call_at.clone(),
            created_at: order.created_at.clone(),
        }
    }
}

/// `data` of the order events: `{"order": {...}}`.
#[derive(Serialize, ToSchema)]
pub struct OrderEventData {
    pub order: OrderEventOrder,
}
