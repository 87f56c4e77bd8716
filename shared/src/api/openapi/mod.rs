//! `openapi`: `GET /api/openapi`, the OpenAPI document, generated from the handlers' Rust types.
//! Every operation id is `<function>_<handler>`, unique across the document.

use std::sync::OnceLock;

use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::http::{Route, error_response, find_route};

mod webhooks;

use super::{
    activate, agent_context, api_keys, attachments, blocked_senders, conversations, csat, customers,
    deliveries_redrive, executions, health, ingest, integrations, orders, sla_policies, tickets, trigger_webhooks,
    triggers, webhook_endpoints, webhook_sends, widget, widget_settings,
};
use crate::inbound::{amazon, dialpad, email, messenger, shopify, slack, sms, stripe, whatsapp};

#[derive(OpenApi)]
#[openapi(
    info(title = "Hookgate API", description = "Integration API of an AI customer-support platform for online merchants."),
    paths(
        api_keys::create,
        api_keys::list,
        api_keys::revoke,
        ingest::handle,
        agent_context::order_context,
        agent_context::customer_context,
        agent_context::ticket_context,
        health::handle,
        document,
        webhook_endpoints::crud::create,
        webhook_endpoints::crud::list,
        webhook_endpoints::crud::get,
        webhook_endpoints::crud::update,
        webhook_endpoints::crud::delete,
        webhook_endpoints::secrets::rotate_secret,
        webhook_endpoints::logs::logs,
        webhook_endpoints::logs::stats,
        webhook_sends::send_test,
        webhook_sends::recover,
        deliveries_redrive::redrive,
        integrations::create,
        integrations::list,
        integrations::get,
        integrations::delete,
        integrations::data_request,
        tickets::crud::create,
        tickets::crud::list,
        tickets::crud::get,
        tickets::crud::update,
        tickets::conversations::list,
        tickets::conversations::add,
        tickets::escalation::escalate,
        customers::list,
        customers::create,
        customers::get,
        customers::update,
        sla_policies::create,
        sla_policies::list,
        sla_policies::get,
        sla_policies::replace,
        sla_policies::delete,
        activate::activate,
        attachments::upload,
        attachments::presign_upload,
        attachments::download,
        widget_settings::get,
        widget_settings::replace,
        widget::config,
        widget::init,
        widget::send_message,
        widget::messages,
        widget::contact,
        widget::upload,
        widget::file,
        conversations::list,
        conversations::get,
        csat::status,
        csat::rate,
        shopify::handle,
        shopify::compliance_document,
        stripe::handle,
        amazon::handle,
        email::resend::resend_document,
        email::resend::legacy_document,
        email::raw::inbound_email_document,
        whatsapp::handle,
        whatsapp::handshake_document,
        messenger::handle,
        messenger::handshake_document,
        slack::handle,
        sms::handle,
        dialpad::handle,
        blocked_senders::block,
        blocked_senders::list,
        blocked_senders::unblock,
        triggers::create,
        triggers::list,
        triggers::delete,
        trigger_webhooks::agent,
        trigger_webhooks::workflow,
        executions::list,
        executions::get,
        executions::report,
        orders::create,
        orders::list,
        orders::get,
        orders::update,
        orders::delete,
        orders::report_call,
    ),
    components(schemas(orders::model::OrderEventData, orders::model::CallJob)),
    modifiers(&SecuritySchemes),
    tags((name = "Data ingest"), (name = "Agent context"), (name = "Outbound webhooks"), (name = "API keys"), (name = "Integrations"), (name = "Support desk"), (name = "Orders"), (name = "Widget"), (name = "Agents and workflows"), (name = "Account"), (name = "Provider webhooks"), (name = "Operations"))
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "apiKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("x-api-key"))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        // HEAD /api/health answers like GET, without a body.
        if let Some(health) = openapi.paths.paths.get_mut("/api/health")
            && let Some(mut head) = health.get.clone()
        {
            head.operation_id = Some("health_head".into());
            head.summary = Some("Uptime check: the status code of GET, no body".into());
            health.head = Some(head);
        }
    }
}

/// The document as JSON, rendered once per container.
pub fn json() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        doc.info.version = crate::VERSION.to_string();
        let mut document = serde_json::to_value(&doc).unwrap_or_default();
        document["webhooks"] = webhooks::documented();
        document_preflights(&mut document);
        document_idempotency(&mut document);
        document_field_rules(&mut document);
        document_visible_text(&mut document);
        document_endpoint_requests(&mut document);
        document_empty_query_values(&mut document);
        serde_json::to_string(&document).unwrap_or_else(|_| "{}".to_string())
    })
}

/// Every POST that takes an API key takes an `Idempotency-Key` (see `http::once_per_key`).
fn document_idempotency(document: &mut serde_json::Value) {
    let Some(paths) = document["paths"].as_object_mut() else {
        return;
    };
    for item in paths.values_mut() {
        let Some(post) = item.get_mut("post") else {
            continue;
        };
        let keyed = post["security"]
            .as_array()
            .is_some_and(|schemes| schemes.iter().any(|s| s.get("apiKey").is_some()));
        if !keyed {
            continue;
        }
        let parameter = serde_json::json!({
            "name": "Idempotency-Key", "in": "header", "required": false,
            "schema": {"type": "string", "minLength": 1, "maxLength": 255},
            "description": "Makes a retry safe: for 24 hours a repeat of the same request answers the first response (with `Idempotent-Replayed: true`); the key on a different request is 422 IDEMPOTENCY_KEY_REUSED, a repeat while the first runs 409.",
        });
        match post.get_mut("parameters").and_then(serde_json::Value::as_array_mut) {
            Some(parameters) => parameters.push(parameter),
            None => post["parameters"] = serde_json::json!([parameter]),
        }
    }
}

/// Rules the handlers enforce that utoipa has no attribute for: (schema, field or `""` for the
/// schema itself, keyword, value).
fn document_field_rules(document: &mut serde_json::Value) {
    let field_name = serde_json::json!({"minLength": 1, "maxLength": 64});
    let text = |max: usize| serde_json::json!({"type": "string", "minLength": 1, "maxLength": max, "pattern": r"\S"});
    for (schema, field, keyword, value) in [
        ("CreateApiKeyRequest", "scopes", "uniqueItems", serde_json::json!(true)),
        ("EndpointRequest", "events", "uniqueItems", serde_json::json!(true)),
        (
            "CreateTicketRequest",
            "custom_fields",
            "maxProperties",
            serde_json::json!(50),
        ),
        (
            "UpdateTicketRequest",
            "custom_fields",
            "maxProperties",
            serde_json::json!(50),
        ),
        ("ContactRequest", "customFields", "maxProperties", serde_json::json!(20)),
        ("CreateTicketRequest", "tags", "items", text(50)),
        ("UpdateTicketRequest", "tags", "items", text(50)),
        ("CreateTicketRequest", "order_numbers", "items", text(256)),
        ("UpdateTicketRequest", "order_numbers", "items", text(256)),
        ("NewEntryRequest", "attachments", "items", text(64)),
        // Stated here: utoipa-gen 5.5 writes a struct's `min_properties` as maxProperties.
        ("UpdateOrderRequest", "", "minProperties", serde_json::json!(1)),
        // May be left out of a change, never cleared.
        (
            "UpdateOrderRequest",
            "customerName",
            "type",
            serde_json::json!("string"),
        ),
        (
            "UpdateOrderRequest",
            "customerPhone",
            "type",
            serde_json::json!("string"),
        ),
        (
            "UpdateOrderRequest",
            "maxCallAttempts",
            "type",
            serde_json::json!("integer"),
        ),
        (
            "CreateTicketRequest",
            "custom_fields",
            "propertyNames",
            field_name.clone(),
        ),
        ("UpdateTicketRequest", "custom_fields", "propertyNames", field_name),
        ("UploadRequest", "file", "minLength", serde_json::json!(1)),
        ("WidgetRequest", "allowedDomains", "maxItems", serde_json::json!(50)),
        (
            "WidgetRequest",
            "allowedDomains",
            "items",
            serde_json::json!({"type": "string", "maxLength": 253,
            "pattern": r"^(localhost|(\*\.)?[a-z0-9-]{1,63}(\.[a-z0-9-]{1,63})+)$"}),
        ),
        // u32s, not the int32 utoipa writes for them.
        ("SlaPolicyRequest", "position", "format", serde_json::json!("int64")),
        ("SlaPolicyRequest", "position", "maximum", serde_json::json!(u32::MAX)),
        ("ReportStep", "index", "format", serde_json::json!("int64")),
        ("ReportStep", "index", "maximum", serde_json::json!(u32::MAX)),
        ("WidgetUploadRequest", "file", "minLength", serde_json::json!(1)),
        ("UploadRequest", "", "additionalProperties", serde_json::json!(false)),
        ("SlaPolicyRequest", "channels", "uniqueItems", serde_json::json!(true)),
        // At least one target of one priority (the others absent or null).
        ("PriorityTargets", "", "anyOf", sla_target_set()),
        // Exactly one of the two (the other absent or null).
        (
            "CreateTriggerRequest",
            "",
            "oneOf",
            serde_json::json!([
                {"required": ["agent_id"], "properties": {"agent_id": {"type": "string"}}},
                {"required": ["workflow_id"], "properties": {"workflow_id": {"type": "string"}}},
            ]),
        ),
        (
            "WidgetUploadRequest",
            "",
            "additionalProperties",
            serde_json::json!(false),
        ),
        ("IngestRequest", "", "anyOf", ingest_types()),
        // What each provider needs (`api::integrations::validate`).
        ("IntegrationRequest", "", "anyOf", integration_providers()),
        ("IntegrationRequest", "secret", "maxLength", serde_json::json!(256)),
        (
            "IntegrationRequest",
            "access_token",
            "maxLength",
            serde_json::json!(1024),
        ),
        // What each type of report needs besides its type.
        (
            "ExecutionReport",
            "",
            "anyOf",
            serde_json::json!([
                {"properties": {"type": {"enum": ["started", "completed", "failed"]}}},
                {"required": ["step"], "properties": {"type": {"const": "step_completed"}, "step": {"type": "object"}}},
                {"required": ["message"], "properties": {
                    "type": {"enum": ["message_received", "message_sent"]}, "message": {"type": "object"}}},
            ]),
        ),
    ] {
        let pointer = match field {
            "" => format!("/components/schemas/{schema}"),
            field => format!("/components/schemas/{schema}/properties/{field}"),
        };
        match document.pointer_mut(&pointer) {
            Some(property) => property[keyword] = value,
            None => tracing::error!(pointer, "the OpenAPI document has no such field"),
        }
    }
}

/// An address `http::normalized_email` takes, narrowed: printable ASCII without `<`, `>` or a
/// second `@`, a local part of up to 64 characters and a domain with a dot, 254 in all.
const ADDRESS: &str = r"[!-;=?A-~]{1,64}@[!-;=?A-~]{0,94}\.[!-;=?A-~]{0,94}";

/// What each type of `POST /api/webhook` needs (`api::ingest::read`): an order its number, a
/// customer an email, a product its SKU, an event its name. The operation stays exempt in the
/// contract run (its objects are free-form JSON, whose numbers must fit DynamoDB).
fn ingest_types() -> serde_json::Value {
    use serde_json::json;
    // `ingest::id_value`: a string with a visible character and no control character, or an
    // integer of 64 bits.
    let id = json!({"oneOf": [
        {"type": "string", "maxLength": 256,
            "pattern": r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"},
        {"type": "integer", "minimum": i64::MIN, "maximum": u64::MAX},
    ]});
    let email = json!({"type": "string", "pattern": format!("^{ADDRESS}$")});
    let document = |required: &str, properties: serde_json::Value| json!({"type": "object", "required": [required], "properties": properties});
    let kind = |name: &str, field: &str, object: serde_json::Value| json!({"required": [field], "properties": {"type": {"const": name}, field: object}});
    json!([
        kind("order", "order", document("order_number", json!({
            "order_number": id,
            "customer_email": {"type": ["string", "null"], "pattern": format!("^{ADDRESS}$")},
            "ordered_at": {"type": ["string", "null"], "format": "date-time"},
        }))),
        kind("customer", "customer", document("email", json!({"email": email}))),
        kind("product", "product", document("sku", json!({"sku": id}))),
        {"required": ["event"], "properties": {
            "type": {"const": "event"},
            "event": {"type": "string", "maxLength": 64, "pattern": r"\S"},
            "data": {"type": ["object", "null"], "properties": {
                "affected_orders": {"type": ["array", "null"], "maxItems": 99, "items": id},
            }},
        }},
        {"properties": {"type": {"not": {"enum": ["order", "customer", "product", "event"]}}}},
    ])
}

/// What each provider of `POST /api/v1/integrations` needs, one alternative each. The patterns
/// are the server's rules, or narrower where a rule is not a regular language or not worth one
/// (ASCII addresses of bounded parts without `<`, `>` or a second `@`, domains of up to four
/// labels, E.164 numbers without separators, values without the spaces the server trims), so
/// that whatever they allow is accepted.
fn integration_providers() -> serde_json::Value {
    use serde_json::json;
    let address = ADDRESS;
    let domain = r"[A-Za-z0-9-]{1,62}(\.[A-Za-z0-9-]{1,62}){1,3}";
    let secret = json!({"type": "string", "pattern": r"\S"});
    let account = |pattern: &str| json!({"type": "string", "pattern": pattern});
    // `integrations::MAX_ACCOUNT_CHARS`: an account id keys the account's claim in the table.
    let long_account = |pattern: &str| json!({"type": "string", "pattern": pattern, "maxLength": 255});
    let optional = |pattern: String| json!({"type": ["string", "null"], "pattern": pattern});
    let provider = |name: &str, required: &[&str], properties: serde_json::Value| {
        let mut properties = properties;
        properties["provider"] = json!({"const": name});
        json!({"required": required, "properties": properties})
    };
    let chat = |name: &str, account_id: &str| {
        provider(
            name,
            &["account_id", "secret", "verify_token"],
            json!({"account_id": account(account_id), "secret": secret,
                "verify_token": {"type": "string", "maxLength": 256, "pattern": r"\S"}}),
        )
    };
    json!([
        provider(
            "shopify",
            &["shop_domain", "secret"],
            json!({"shop_domain": long_account(r"^[A-Za-z0-9.-]*\.[Mm][Yy][Ss][Hh][Oo][Pp][Ii][Ff][Yy]\.[Cc][Oo][Mm]$"),
                "secret": secret}),
        ),
        provider(
            "stripe",
            &["account_id", "secret"],
            json!({"account_id": long_account("^acct_[A-Za-z0-9_]*$"), "secret": account("^whsec_")}),
        ),
        provider(
            "amazon",
            &["seller_id", "topic_arns"],
            json!({"seller_id": long_account(r"\S"), "topic_arns": {"type": "array", "minItems": 1, "maxItems": 10,
                "uniqueItems": true,
                "items": {"type": "string", "maxLength": 512, "pattern": "^arn:[^:]*:sns:[^:]*:[^:]*:[^:]+$"}}}),
        ),
        provider(
            "email",
            &[],
            json!({
                "secret": optional("^(whsec_[!-~]{0,250})?$".into()),
                "addresses": {"type": ["array", "null"], "maxItems": 10, "items": account(&format!("^{address}$"))},
                "own_senders": {"type": ["array", "null"], "maxItems": 50,
                    "items": account(&format!("^({address}|{domain})$"))},
                "from_address": optional(format!("^(|{address}|[^<>]*<{address}>)$")),
                "api_key": optional("^(re_[!-~]{0,253})?$".into()),
            }),
        ),
        chat("whatsapp", "^[0-9]{1,32}$"),
        chat("messenger", "^[0-9]{1,32}$"),
        provider(
            "slack",
            &["account_id", "secret"],
            json!({"account_id": account("^[TE][A-Z0-9]{0,31}$"), "secret": secret,
                "access_token": optional(r"^(xoxb-[\s\S]*)?$".into())}),
        ),
        provider(
            "sms",
            &["account_id", "secret", "account_sid"],
            json!({"account_id": account(r"^\+[0-9]{6,15}$"), "secret": secret,
                "account_sid": account("^AC[0-9a-fA-F]{32}$")}),
        ),
        provider(
            "dialpad",
            &["account_id", "secret"],
            json!({"account_id": account("^[A-Za-z0-9_-]{1,64}$"), "secret": secret}),
        ),
    ])
}

/// A character that is not whitespace as the server trims it (Rust's `char::is_whitespace`, the
/// Unicode White_Space set). The regex `\S` differs: ECMA-262 counts U+FEFF as whitespace and
/// not U+0085, so `"\u{85}"` would match it and be refused as blank.
const VISIBLE: &str = r"[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";

/// Every text field whose pattern says "not blank" (`\S`, as the structs write it) says it as
/// the server decides it: [`VISIBLE`].
fn document_visible_text(document: &mut serde_json::Value) {
    match document {
        serde_json::Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if key == "pattern" && value == r"\S" {
                    *value = VISIBLE.into();
                } else {
                    document_visible_text(value);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(document_visible_text),
        _ => {}
    }
}

/// A policy's targets with at least one set: one alternative per priority and target.
fn sla_target_set() -> serde_json::Value {
    let priorities = ["low", "normal", "high", "urgent"];
    let targets = ["first_response_minutes", "resolution_minutes"];
    priorities
        .iter()
        .flat_map(|priority| {
            targets.iter().map(move |target| {
                serde_json::json!({"required": [priority], "properties": {*priority: {
                    "type": "object", "required": [target], "properties": {*target: {"type": "integer"}}
                }}})
            })
        })
        .collect()
}

/// An optional query parameter sent empty (`?customer=`) counts as unsaid (`http::query_parameter`).
fn document_empty_query_values(document: &mut serde_json::Value) {
    let Some(paths) = document["paths"].as_object_mut() else {
        return;
    };
    let operations = paths
        .values_mut()
        .filter_map(|item| item.as_object_mut())
        .flat_map(|item| item.values_mut());
    for operation in operations {
        let Some(parameters) = operation
            .get_mut("parameters")
            .and_then(serde_json::Value::as_array_mut)
        else {
            continue;
        };
        for parameter in parameters {
            if parameter["in"] == "query" && parameter["required"] != true {
                parameter["allowEmptyValue"] = true.into();
            }
        }
    }
}

/// `EndpointRequest` serves both POST and PUT of an endpoint; the document tells them apart as
/// the handlers do: a new endpoint needs `name`, `url` and `events` and starts active (no
/// `status`); a change never carries `secret` (that is `rotate-secret`).
fn document_endpoint_requests(document: &mut serde_json::Value) {
    let base = document["components"]["schemas"]["EndpointRequest"].clone();
    if !base.is_object() {
        return;
    }
    let mut create = base.clone();
    create["required"] = serde_json::json!(["name", "url", "events"]);
    for field in ["name", "url", "events"] {
        if let Some(schema) = create["properties"].get_mut(field) {
            strip_null(schema);
        }
    }
    remove_property(&mut create, "status");
    let mut update = base;
    remove_property(&mut update, "secret");
    for (name, schema, path, method) in [
        ("EndpointCreateRequest", create, "/api/v1/webhooks", "post"),
        ("EndpointUpdateRequest", update, "/api/v1/webhooks/{id}", "put"),
    ] {
        document["components"]["schemas"][name] = schema;
        let body = &mut document["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"];
        *body = serde_json::json!({"$ref": format!("#/components/schemas/{name}")});
    }
}

fn remove_property(schema: &mut serde_json::Value, field: &str) {
    if let Some(properties) = schema["properties"].as_object_mut() {
        properties.remove(field);
    }
}

/// A required field may not be `null`: `["string", "null"]` becomes `"string"`.
fn strip_null(schema: &mut serde_json::Value) {
    if let Some(types) = schema["type"].as_array() {
        let types: Vec<_> = types.iter().filter(|t| *t != "null").cloned().collect();
        if let [only] = types.as_slice() {
            schema["type"] = only.clone();
        }
    }
}

/// The public routes that browsers call across origins answer their own CORS preflights.
fn document_preflights(document: &mut serde_json::Value) {
    let (csat_routes, widget_routes) = (csat::ROUTES, widget::ROUTES);
    let preflights: Vec<(&str, &str)> = csat_routes
        .iter()
        .map(|route| ("csat", &route.method, route.path))
        .chain(widget_routes.iter().map(|route| ("widget", &route.method, route.path)))
        .filter(|(_, method, _)| **method == Method::OPTIONS)
        .map(|(function, _, path)| (function, path))
        .collect();
    for (function, path) in preflights {
        let slug = path
            .trim_start_matches("/api/")
            .replace(['{', '}'], "")
            .replace('/', "_");
        let parameters: Vec<serde_json::Value> = path
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| serde_json::json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        document["paths"][path]["options"] = serde_json::json!({
            "parameters": parameters,
            "operationId": format!("{function}_preflight_{slug}"),
            "summary": "CORS preflight",
            "description": "Answers the browser's preflight: the page's origin echoed (with `Vary: Origin`), the methods and headers allowed; no credentials.",
            "tags": [if function == "csat" { "Support desk" } else { "Widget" }],
            "responses": {"204": {"description": "Preflight answered"}},
        });
    }
}

/// `openapi`'s one route.
pub const ROUTES: [Route<()>; 1] = [Route::public(Method::GET, "/api/openapi", ())];

/// This document.
#[utoipa::path(get, path = "/api/openapi", operation_id = "openapi", tag = "Operations", responses((status = 200, description = "OpenAPI 3.1 document")))]
pub async fn document(request: Request) -> Response<Body> {
    if let Err(error) = find_route(&ROUTES, &request) {
        return error_response(&error);
    }
    let mut response = Response::new(Body::Text(json().to_string()));
    *response.status_mut() = StatusCode::OK;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_posts_document_the_idempotency_key_and_nothing_else_does() {
        let document: serde_json::Value = serde_json::from_str(json()).unwrap();
        let names = |path: &str, method: &str| -> Vec<String> {
            document["paths"][path][method]["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["name"].as_str().map(str::to_string))
                .collect()
        };
        for (path, method) in [
            ("/api/v1/tickets", "post"),
            ("/api/webhook", "post"),
            ("/api/v1/webhooks", "post"),
        ] {
            assert!(
                names(path, method).contains(&"Idempotency-Key".to_string()),
                "{method} {path}"
            );
        }
        for (path, method) in [
            ("/api/v1/tickets", "get"),
            ("/api/webhooks/stripe", "post"),
            ("/api/csat", "post"),
        ] {
            assert!(
                !names(path, method).contains(&"Idempotency-Key".to_string()),
                "{method} {path}"
            );
        }
    }

    #[test]
    fn the_rules_utoipa_cannot_state_land_on_their_fields() {
        let document: serde_json::Value = serde_json::from_str(json()).unwrap();
        let schemas = &document["components"]["schemas"];
        assert_eq!(
            schemas["PriorityTargets"]["anyOf"].as_array().map(Vec::len),
            Some(8),
            "a target of a priority"
        );
        assert_eq!(
            schemas["CreateTriggerRequest"]["oneOf"].as_array().map(Vec::len),
            Some(2),
            "exactly one of agent_id and workflow_id"
        );
        assert_eq!(
            schemas["CreateApiKeyRequest"]["properties"]["scopes"]["uniqueItems"],
            true
        );
        assert_eq!(
            schemas["CreateTicketRequest"]["properties"]["custom_fields"]["maxProperties"],
            50
        );
        // POST and PUT of an endpoint have their own request schemas, both refusing repeats.
        let create = &schemas["EndpointCreateRequest"];
        assert_eq!(create["properties"]["events"]["uniqueItems"], true);
        assert_eq!(create["required"], serde_json::json!(["name", "url", "events"]));
        assert!(create["properties"].get("status").is_none());
        assert!(schemas["EndpointUpdateRequest"]["properties"].get("secret").is_none());
        let post = &document["paths"]["/api/v1/webhooks"]["post"]["requestBody"]["content"]["application/json"];
        assert_eq!(post["schema"]["$ref"], "#/components/schemas/EndpointCreateRequest");
    }

    #[test]
    fn optional_query_parameters_may_be_sent_empty() {
        let document: serde_json::Value = serde_json::from_str(json()).unwrap();
        let parameters = document["paths"]["/api/v1/tickets"]["get"]["parameters"]
            .as_array()
            .unwrap();
        let customer = parameters.iter().find(|p| p["name"] == "customer").unwrap();
        assert_eq!(customer["allowEmptyValue"], true);
        let csat = document["paths"]["/api/csat"]["get"]["parameters"].as_array().unwrap();
        assert!(
            csat.iter().all(|p| p.get("allowEmptyValue").is_none()),
            "a required token is never empty"
        );
    }

    #[test]
    fn only_custom_field_maps_bound_their_number_of_properties() {
        // utoipa-gen 5.5 writes `#[schema(min_properties = n)]` as maxProperties: a change of an
        // order once said it took one field at a time.
        fn walk(pointer: &str, value: &serde_json::Value, found: &mut Vec<String>) {
            match value {
                serde_json::Value::Object(map) => {
                    if map.contains_key("maxProperties") {
                        found.push(pointer.to_string());
                    }
                    for (key, value) in map {
                        walk(&format!("{pointer}/{key}"), value, found);
                    }
                }
                serde_json::Value::Array(items) => {
                    for (i, value) in items.iter().enumerate() {
                        walk(&format!("{pointer}/{i}"), value, found);
                    }
                }
                _ => {}
            }
        }
        let document: serde_json::Value = serde_json::from_str(json()).unwrap();
        let mut bounded = Vec::new();
        walk("", &document, &mut bounded);
        assert_eq!(
            bounded,
            [
                "/components/schemas/ContactRequest/properties/customFields",
                "/components/schemas/CreateTicketRequest/properties/custom_fields",
                "/components/schemas/UpdateTicketRequest/properties/custom_fields",
            ]
        );
        let change = &document["components"]["schemas"]["UpdateOrderRequest"];
        assert_eq!(change["minProperties"], 1, "{change}");
    }

    /// utoipa marks a field required when its `value_type` is not an `Option`, whatever the
    /// Rust type: an optional object must say `Option<Object>`.
    #[test]
    fn optional_objects_are_not_required() {
        let document: serde_json::Value = serde_json::from_str(json()).unwrap();
        let schemas = &document["components"]["schemas"];
        for (schema, required) in [
            ("AgentTriggerRequest", vec!["message"]),
            ("WorkflowTriggerRequest", vec!["input_data"]),
            ("ExecutionReport", vec!["type"]),
            ("ReportStep", vec!["index"]),
        ] {
            assert_eq!(schemas[schema]["required"], serde_json::json!(required), "{schema}");
        }
        let execution = schemas["Execution"]["required"].as_array().unwrap();
        for optional in ["output_data", "error", "resolution"] {
            assert!(!execution.contains(&optional.into()), "Execution requires {optional}");
            assert_eq!(
                schemas["Execution"]["properties"][optional]["type"],
                serde_json::json!(["object", "null"]),
                "{optional}"
            );
        }
    }

    /// "Not blank" is said with the server's whitespace, and the class names exactly the
    /// characters Rust's `char::is_whitespace` takes (the Unicode White_Space set).
    #[test]
    fn not_blank_is_the_server_s_whitespace() {
        assert!(!json().contains(r#""pattern":"\\S""#), "a \\S pattern is left");
        assert!(json().contains(&serde_json::to_string(VISIBLE).unwrap()));
        // The class as written, and the ranges it spells, held to the server's whitespace.
        let class = VISIBLE.trim_start_matches("[^").trim_end_matches(']');
        let unescape = |escape: &str| match escape {
            r"\t" => '\t',
            r"\r" => '\r',
            " " => ' ',
            hex => char::from_u32(u32::from_str_radix(&hex[2..], 16).unwrap()).unwrap(),
        };
        let escapes = [
            (r"\t", r"\r"),
            (" ", " "),
            (r"\x85", r"\x85"),
            (r"\xa0", r"\xa0"),
            (r"\u1680", r"\u1680"),
            (r"\u2000", r"\u200a"),
            (r"\u2028", r"\u2028"),
            (r"\u2029", r"\u2029"),
            (r"\u202f", r"\u202f"),
            (r"\u205f", r"\u205f"),
            (r"\u3000", r"\u3000"),
        ];
        let spelled: String = escapes
            .iter()
            .map(|(from, to)| {
                if from == to {
                    from.to_string()
                } else {
                    format!("{from}-{to}")
                }
            })
            .collect();
        let items: Vec<(char, char)> = escapes
            .iter()
            .map(|(from, to)| (unescape(from), unescape(to)))
            .collect();
        assert_eq!(class, spelled);
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            let in_class = items.iter().any(|(from, to)| (*from..=*to).contains(&c));
            assert_eq!(in_class, c.is_whitespace(), "U+{:04X}", c as u32);
        }
    }

    /// Every list's page size is bounded in the document, as `Call::limit` bounds it.
    #[test]
    fn every_page_size_is_bounded() {
        let document: serde_json::Value = serde_json::from_str(json()).unwrap();
        let mut limits = 0;
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let parameters = operation["parameters"].as_array().into_iter().flatten();
                for limit in parameters.filter(|p| p["name"] == "limit") {
                    let schema = &limit["schema"];
                    assert_eq!(schema["type"], "integer", "{method} {path}: {limit}");
                    assert_eq!(schema["minimum"], 1, "{method} {path}: {limit}");
                    assert!(
                        schema["maximum"].as_u64().is_some_and(|max| max <= 100),
                        "{method} {path}: {limit}"
                    );
                    limits += 1;
                }
            }
        }
        assert!(limits >= 5, "the lists were found: {limits}");
    }
}
