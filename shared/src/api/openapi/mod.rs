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
}
