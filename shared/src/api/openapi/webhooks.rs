//! The outbound events' payloads, as OpenAPI 3.1 `webhooks`: what a subscribed endpoint
//! receives, `{event, timestamp, webhook_id, data}`, with each event's `data`.

use serde_json::{Value, json};

fn object(properties: Value) -> Value {
    json!({"type": "object", "properties": properties})
}

fn reference(schema: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{schema}")})
}

/// The desk's and the orders' events and what their `data` holds.
fn payloads() -> Vec<(&'static str, &'static str, Value)> {
    let ticket_ref = || object(json!({"ticketId": {"type": "string"}, "ticketNumber": {"type": "integer"}}));
    let text = || json!({"type": "string"});
    let nullable_text = || json!({"type": ["string", "null"]});
    let with_ticket = |extra: Value| {
        let mut schema = ticket_ref();
        if let (Some(properties), Value::Object(extra)) = (schema["properties"].as_object_mut(), extra) {
            properties.extend(extra);
        }
        schema
    };
    let mut events = vec![
        ("ticket.created", "A support ticket was opened", reference("Ticket")),
        ("ticket.updated", "A ticket changed", reference("Ticket")),
        ("ticket.solved", "A ticket was solved", reference("Ticket")),
        (
            "conversation.created",
            "A message, reply or internal note was added to a ticket",
            with_ticket(json!({"conversation": reference("Entry")})),
        ),
        (
            "reply.sent",
            "A public reply by an agent or the AI (seed 000's emailId, replyId, category); on an email ticket, emailId is the entry of the customer's mail it answers",
            with_ticket(
                json!({"emailId": nullable_text(), "replyId": text(), "category": nullable_text(),
                "channel": reference("Channel"), "author": reference("EntryAuthor")}),
            ),
        ),
        (
            "ticket.escalated",
            "A ticket was handed to a team",
            with_ticket(json!({"team": text(), "reason": text(), "channel": reference("Channel")})),
        ),
        (
            "email.received",
            "A customer's mail landed on the desk (a new ticket or one it threads onto)",
            with_ticket(
                json!({"emailId": {"type": "string", "description": "The entry the mail became"},
                "providerEmailId": nullable_text(), "messageId": text(), "newTicket": {"type": "boolean"},
                "from": text(), "fromName": nullable_text(), "to": {"type": "array", "items": text()},
                "subject": text(), "attachments": {"type": "array", "items": reference("AttachmentRef")},
                "receivedAt": text()}),
            ),
        ),
        (
            "message.received",
            "A customer's message came in on a chat or phone channel",
            with_ticket(
                json!({"channel": reference("Channel"), "newTicket": {"type": "boolean"},
                "messageId": {"type": "string", "description": "The entry the message became"},
                "providerMessageId": text(),
                "from": object(json!({"kind": {"type": "string", "enum": ["whatsapp", "messenger", "slack", "phone"]},
                    "id": text(), "name": nullable_text()})),
                "text": text(), "content": {"type": ["object", "null"]}, "receivedAt": text()}),
            ),
        ),
        (
            "email.escalated",
            "An email ticket was handed to a team (seed 000's name)",
            with_ticket(json!({"team": text(), "reason": text(), "channel": reference("Channel")})),
        ),
        (
            "sla.breached",
            "An SLA target passed unmet; once per ticket and target",
            with_ticket(
                json!({"metric": {"type": "string", "enum": ["first_response", "resolution"]},
                "dueAt": text(), "breachedAt": text(), "policyId": nullable_text(),
                "priority": reference("Priority"), "status": reference("Status"), "channel": reference("Channel"),
                "assignee": nullable_text(), "team": nullable_text(), "customerEmail": nullable_text()}),
            ),
        ),
        (
            "order.confirmed",
            "The customer confirmed the order on the call: safe to ship (seed 004)",
            reference("OrderEventData"),
        ),
        (
            "order.cancelled",
            "The customer cancelled the order during the call (seed 004)",
            reference("OrderEventData"),
        ),
        (
            "order.no_answer",
            "Every call attempt went unanswered: decide whether to ship or cancel (seed 004)",
            reference("OrderEventData"),
        ),
        (
            "csat.received",
            "A customer rated an AI reply",
            with_ticket(
                json!({"replyId": text(), "rating": {"type": "integer", "minimum": 1, "maximum": 5},
                "comment": nullable_text(), "customer_email": nullable_text()}),
            ),
        ),
    ];
    events.extend(execution_payloads());
    events
}

/// Seed 001's agent and workflow events, as the runtime's reports publish them.
fn execution_payloads() -> Vec<(&'static str, &'static str, Value)> {
    let text = || json!({"type": "string"});
    let nullable_text = || json!({"type": ["string", "null"]});
    let any = || json!({});
    let workflow = |extra: Value| {
        let mut schema = object(json!({"workflow_id": text(), "execution_id": text(),
            "status": {"type": "string", "enum": ["running", "success", "failed"]},
            "started_at": text(), "input_data": {"type": "object"}, "steps_completed": {"type": "integer"}}));
        if let (Some(properties), Value::Object(extra)) = (schema["properties"].as_object_mut(), extra) {
            properties.extend(extra);
        }
        schema
    };
    let agent = |extra: Value| {
        let mut schema = object(
            json!({"agent_id": text(), "conversation_id": text(), "execution_id": text(),
            "user_id": nullable_text(), "started_at": text(), "message_count": {"type": "integer"}}),
        );
        if let (Some(properties), Value::Object(extra)) = (schema["properties"].as_object_mut(), extra) {
            properties.extend(extra);
        }
        schema
    };
    let end = || {
        json!({"completed_at": text(), "duration_seconds": {"type": "integer"}, "output_data": any(),
        "credits_used": {"type": "number"}, "error": any()})
    };
    let message = || json!({"message_id": text(), "message": text()});
    vec![
        (
            "workflow.execution.started",
            "A workflow execution started",
            workflow(json!({})),
        ),
        (
            "workflow.step.completed",
            "A step of a workflow execution completed",
            workflow(
                json!({"step": object(json!({"index": {"type": "integer"}, "name": nullable_text(), "output": any()}))}),
            ),
        ),
        (
            "workflow.execution.completed",
            "A workflow execution completed (status success)",
            workflow(end()),
        ),
        (
            "workflow.execution.failed",
            "A workflow execution failed",
            workflow(end()),
        ),
        (
            "agent.conversation.started",
            "An agent began a conversation (a desk ticket, channel api)",
            agent(json!({"status": text()})),
        ),
        (
            "agent.message.received",
            "An agent received a message",
            agent(message()),
        ),
        ("agent.message.sent", "An agent answered", agent(message())),
        (
            "agent.conversation.completed",
            "An agent's conversation ended (status resolved, or failed)",
            agent(
                json!({"status": text(), "completed_at": text(), "satisfaction_score": {"type": ["number", "null"]},
                "credits_used": {"type": ["number", "null"]}, "resolution": any(), "error": any()}),
            ),
        ),
    ]
}

/// The `webhooks` object of the document.
pub fn documented() -> Value {
    let mut webhooks = serde_json::Map::new();
    for (event, summary, data) in payloads() {
        let envelope = json!({
            "type": "object",
            "required": ["event", "timestamp", "webhook_id", "data"],
            "properties": {
                "event": {"type": "string", "const": event},
                "timestamp": {"type": "string", "format": "date-time"},
                "webhook_id": {"type": "string", "description": "The endpoint's id"},
                "data": data,
            },
        });
        webhooks.insert(
            event.to_string(),
            json!({"post": {
                "operationId": format!("event_{}", event.replace('.', "_")),
                "summary": summary,
                "tags": ["Outbound webhooks"],
                "description": "Signed with `webhook-id`, `webhook-timestamp`, `webhook-signature` and `X-Hookgate-Signature` (`sha256=<hex>`, or bare hex and `x-confirmai-signature` for an endpoint whose `signature_style` is `hex`); see the endpoints' documentation.",
                "requestBody": {"required": true, "content": {"application/json": {"schema": envelope}}},
                "responses": {"2XX": {"description": "Received; anything else is retried on the endpoint's schedule"}},
            }}),
        );
    }
    Value::Object(webhooks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn references(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    found.push(target.clone());
                }
                map.values().for_each(|v| references(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| references(v, found)),
            _ => {}
        }
    }

    #[test]
    fn every_event_payload_names_schemas_the_document_has_and_is_in_the_catalog() {
        let document: Value = serde_json::from_str(super::super::json()).unwrap();
        let mut found = Vec::new();
        references(&document["webhooks"], &mut found);
        assert!(!found.is_empty());
        for target in found {
            let name = target.trim_start_matches("#/components/schemas/");
            assert!(
                document["components"]["schemas"][name].is_object(),
                "{target} is not in the document"
            );
        }
        for (event, _, _) in payloads() {
            assert!(crate::outbound::catalog::is_known(event), "{event}");
        }
    }
}
