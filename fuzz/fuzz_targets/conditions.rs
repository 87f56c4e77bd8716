//! An endpoint's `conditions` and `filters.include_fields`, checked when the endpoint is saved,
//! then applied to an event's data: `{"conditions": {...}, "include_fields": [...], "data": ...}`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use shared::outbound::matching::{conditions_match, include_fields, validate_conditions};

fuzz_target!(|data: &[u8]| {
    let Ok(Value::Object(input)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let event = input.get("data").cloned().unwrap_or(Value::Null);
    if let Some(Value::Object(conditions)) = input.get("conditions") {
        let _ = validate_conditions(conditions);
        let _ = conditions_match(conditions, &event);
    }
    let fields: Vec<String> = input
        .get("include_fields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|field| field.as_str().map(str::to_string))
        .collect();
    let _ = include_fields(&event, &fields);
});
