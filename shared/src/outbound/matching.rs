//! Endpoint `conditions` (deliver only when the payload matches) and `filters.include_fields`
//! (deliver only these fields), both on dotted paths into the event's `data`.
//!
//! `{"satisfaction_score": {"lt": 3}, "resolution.type": {"in": ["solved"]}}`: every path must
//! satisfy every operator: `eq`, `ne`, `lt`, `lte`, `gt`, `gte`, `in`, `exists`.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::error::ApiError;

const OPERATORS: [&str; 8] = ["eq", "ne", "lt", "lte", "gt", "gte", "in", "exists"];

fn lookup<'a>(data: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(data, |value, segment| value.get(segment))
}

/// Checks a `conditions` object when an endpoint is saved.
pub fn validate_conditions(conditions: &Map<String, Value>) -> Result<(), ApiError> {
    for (path, test) in conditions {
        let field = format!("conditions.{path}");
        if path.is_empty() || path.split('.').any(str::is_empty) {
            return Err(ApiError::invalid_input(
                &field,
                "condition paths are dotted field names",
            ));
        }
        let operators = test.as_object().filter(|o| !o.is_empty()).ok_or_else(|| {
            ApiError::invalid_input(
                &field,
                format!("a condition is an object of operators: {}", OPERATORS.join(", ")),
            )
        })?;
        for (operator, operand) in operators {
            let valid = match operator.as_str() {
                "eq" | "ne" => true,
                "lt" | "lte" | "gt" | "gte" => operand.is_number() || operand.is_string(),
                "in" => operand.is_array(),
                "exists" => operand.is_boolean(),
                _ => false,
            };
            if !valid {
                return Err(ApiError::invalid_input(
                    &field,
                    format!(
                        "unknown operator or operand {operator}: {operand}; operators: {}",
                        OPERATORS.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn compare(value: &Value, operand: &Value) -> Option<std::cmp::Ordering> {
    match (value, operand) {
        (Value::Number(a), Value::Number(b)) => a.as_f64()?.partial_cmp(&b.as_f64()?),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

/// True when `data` satisfies every condition.
pub fn conditions_match(conditions: &Map<String, Value>, data: &Value) -> bool {
    use std::cmp::Ordering::*;
    conditions.iter().all(|(path, test)| {
        let value = lookup(data, path);
        test.as_object()
            .into_iter()
            .flatten()
            .all(|(operator, operand)| match (operator.as_str(), value) {
                ("exists", value) => operand.as_bool() == Some(value.is_some()),
                ("eq", Some(value)) => value == operand,
                ("ne", value) => value != Some(operand),
                ("in", Some(value)) => operand.as_array().is_some_and(|options| options.contains(value)),
                ("lt", Some(value)) => compare(value, operand) == Some(Less),
                ("lte", Some(value)) => matches!(compare(value, operand), Some(Less | Equal)),
                ("gt", Some(value)) => compare(value, operand) == Some(Greater),
                ("gte", Some(value)) => matches!(compare(value, operand), Some(Greater | Equal)),
                _ => false,
            })
    })
}

/// `data` reduced to the given dotted paths (all of it, borrowed, when `fields` is empty).
pub fn include_fields<'a>(data: &'a Value, fields: &[String]) -> Cow<'a, Value> {
    if fields.is_empty() {
        return Cow::Borrowed(data);
    }
    let mut reduced = Value::Object(Map::new());
    for path in fields {
        let Some(value) = lookup(data, path) else { continue };
        let mut target = &mut reduced;
        let segments: Vec<&str> = path.split('.').collect();
        for segment in &segments[..segments.len() - 1] {
            let Value::Object(map) = target else { break };
            target = map
                .entry(segment.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
        }
        if let Value::Object(map) = target {
            map.insert(segments[segments.len() - 1].to_string(), value.clone());
        }
    }
    Cow::Owned(reduced)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conditions(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn the_seed_condition_matches_unhappy_long_conversations_only() {
        let c = conditions(json!({"satisfaction_score": {"lt": 3}, "message_count": {"gt": 10}}));
        assert!(validate_conditions(&c).is_ok());
        assert!(conditions_match(
            &c,
            &json!({"satisfaction_score": 2, "message_count": 11})
        ));
        assert!(!conditions_match(
            &c,
            &json!({"satisfaction_score": 4.5, "message_count": 11})
        ));
        assert!(!conditions_match(
            &c,
            &json!({"satisfaction_score": 2, "message_count": 10})
        ));
        assert!(
            !conditions_match(&c, &json!({"message_count": 11})),
            "a missing field does not satisfy lt"
        );
    }

    #[test]
    fn every_operator_on_dotted_paths() {
        let data = json!({"status": "shipped", "total": 149.89, "resolution": {"type": "solved", "tags": ["a"]}});
        let cases = [
            (json!({"status": {"eq": "shipped"}}), true),
            (json!({"status": {"ne": "shipped"}}), false),
            (json!({"missing": {"ne": "x"}}), true),
            (json!({"total": {"gte": 149.89, "lte": 150}}), true),
            (json!({"total": {"gt": 149.89}}), false),
            (json!({"resolution.type": {"in": ["solved", "closed"]}}), true),
            (json!({"resolution.type": {"in": ["open"]}}), false),
            (json!({"resolution.tags": {"exists": true}}), true),
            (json!({"resolution.owner": {"exists": false}}), true),
            (json!({"status": {"lt": 5}}), false),
        ];
        for (condition, expected) in cases {
            let c = conditions(condition.clone());
            assert!(validate_conditions(&c).is_ok(), "{condition}");
            assert_eq!(conditions_match(&c, &data), expected, "{condition}");
        }
    }

    #[test]
    fn invalid_conditions_are_refused() {
        for bad in [
            json!({"a": 3}),
            json!({"a": {}}),
            json!({"a": {"like": "x"}}),
            json!({"a": {"in": 3}}),
            json!({"a..b": {"eq": 1}}),
            json!({"a": {"lt": [1]}}),
        ] {
            assert!(validate_conditions(&conditions(bad.clone())).is_err(), "{bad}");
        }
    }

    #[test]
    fn include_fields_keeps_only_the_named_paths() {
        let data = json!({"workflow_id": "wf", "status": "success", "output_data": {"order_id": "o1", "secret": "x"}, "credits_used": 4.5});
        let fields = [
            "workflow_id",
            "status",
            "output_data.order_id",
            "credits_used",
            "absent.path",
        ]
        .map(String::from);
        assert_eq!(
            *include_fields(&data, &fields),
            json!({"workflow_id": "wf", "status": "success", "output_data": {"order_id": "o1"}, "credits_used": 4.5})
        );
        assert_eq!(*include_fields(&data, &[]), data);
    }
}
