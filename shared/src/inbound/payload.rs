//! Reading providers' payloads: ids sent as numbers or text, decimals as text, and nulls that must not erase what an earlier webhook stored.

use serde_json::{Map, Value};

use crate::error::ApiError;

/// A verified body as a JSON object (400 otherwise).
pub fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(ApiError::invalid_json("the body must be a JSON object")),
        Err(e) => Err(ApiError::invalid_json(format!("the body is not valid JSON: {e}"))),
    }
}

/// A JSON value's text, for ids that providers send as numbers or strings.
pub fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A decimal sent as text ("59.00") or a number.
pub fn decimal(value: Option<&Value>) -> Option<f64> {
    match value? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

/// Drops null fields, so that a partial update never erases what an earlier one stored.
pub fn without_nulls(fields: Map<String, Value>) -> Map<String, Value> {
    fields.into_iter().filter(|(_, v)| !v.is_null()).collect()
}
