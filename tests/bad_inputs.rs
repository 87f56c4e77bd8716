//! Bad input: each case answers the JSON error shape with the right status and stable code,
//! and stores nothing.

use harness::{FixtureRequest, Org, fixture, items_of, new_key, new_org, read, services};
use serde_json::{Value, json};
use shared::runtime::Services;

#[derive(Clone, Copy)]
enum Route {
    Ingest,
    OrderContext,
    CustomerContext,
    ApiKeys,
}

async fn call(services: &Services, route: Route, request: FixtureRequest) -> (u16, Value) {
    let request = request.build();
    read(match route {
        Route::Ingest => shared::api::ingest::handle(services, &harness::publisher().await, request).await,
        Route::OrderContext | Route::CustomerContext => shared::api::agent_context::handle(services, request).await,
        Route::ApiKeys => shared::api::api_keys::handle(services, request).await,
    })
}

fn assert_error_shape(case: &str, body: &Value, code: &str) {
    assert_eq!(body["success"], false, "{case}: {body}");
    assert_eq!(body["error"]["code"], code, "{case}: {body}");
    assert!(
        body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{case}: {body}"
    );
}

#[tokio::test]
async fn every_bad_input_is_refused_with_the_json_error_and_nothing_stored() {
    let services = services().await;
    let org: Org = new_org(&services).await;
    let other: Org = new_org(&services).await;
    let writer = new_key(&services, &org, &["webhook:write"], 1000).await;
    let reader = new_key(&services, &org, &["context:read"], 1000).await;
    let revoked = new_key(&services, &org, &["webhook:write"], 1000).await;
    let revoked_id = revoked
        .trim_start_matches("hg_live_")
        .split('_')
        .next()
        .unwrap()
        .to_string();
    let revoke = fixture("api-keys-revoke.json")
        .key(&org.admin_key)
        .path_parameter("id", &revoked_id);
    assert_eq!(call(&services, Route::ApiKeys, revoke).await.0, 200);
    // The other organization's order, which `org` must not be able to read.
    assert_eq!(
        call(
            &services,
            Route::Ingest,
            fixture("ingest-order.json").key(&other.admin_key)
        )
        .await
        .0,
        200
    );
    let unknown_key = format!("hg_live_{}00000000_{}", org.org_id, "a".repeat(40));

    let ingest = || fixture("ingest-order.json").key(&writer);
    let order = |order: Value| ingest().body(json!({"type": "order", "order": order}).to_string());
    let big = format!(
        r#"{{"type":"order","order":{{"order_number":"1","note":"{}"}}}}"#,
        "x".repeat(101 * 1024)
    );
    let cases: Vec<(&str, Route, FixtureRequest, u16, &str)> = vec![
        (
            "malformed JSON",
            Route::Ingest,
            ingest().body(r#"{"type": "order", "order": {"#),
            400,
            "INVALID_JSON",
        ),
        ("empty body", Route::Ingest, ingest().body(""), 400, "INVALID_JSON"),
        (
            "101 KB body",
            Route::Ingest,
            ingest().body(big),
            413,
            "PAYLOAD_TOO_LARGE",
        ),
        (
            "wrong content type",
            Route::Ingest,
            ingest().header("content-type", "text/plain"),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            "form content type",
            Route::Ingest,
            ingest().header("content-type", "application/x-www-form-urlencoded"),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            "missing key",
            Route::Ingest,
            ingest().without_key(),
            401,
            "UNAUTHORIZED",
        ),
        (
            "malformed key",
            Route::Ingest,
            ingest().key("afc_live_abcdefghij_your_secret_part_here"),
            401,
            "UNAUTHORIZED",
        ),
        (
            "unknown key",
            Route::Ingest,
            ingest().key(&unknown_key),
            401,
            "UNAUTHORIZED",
        ),
        (
            "revoked key",
            Route::Ingest,
            ingest().key(&revoked),
            401,
            "UNAUTHORIZED",
        ),
        (
            "wrong scope",
            Route::Ingest,
            ingest().key(&reader),
            403,
            "INSUFFICIENT_SCOPE",
        ),
        (
            "wrong scope for keys",
            Route::ApiKeys,
            fixture("api-keys-list.json").key(&writer),
            403,
            "INSUFFICIENT_SCOPE",
        ),
        (
            "another organization's order",
            Route::OrderContext,
            fixture("agent-context-order.json").key(&reader),
            404,
            "NOT_FOUND",
        ),
        (
            "another organization's customer",
            Route::CustomerContext,
            fixture("agent-context-customer.json").key(&reader),
            404,
            "NOT_FOUND",
        ),
        (
            "missing order_number",
            Route::Ingest,
            order(json!({"status": "shipped"})),
            422,
            "INVALID_INPUT",
        ),
        (
            "empty order_number",
            Route::Ingest,
            order(json!({"order_number": " "})),
            422,
            "INVALID_INPUT",
        ),
        (
            "type not a string",
            Route::Ingest,
            ingest().body(r#"{"type": 5, "order": {"order_number": "1"}}"#),
            422,
            "INVALID_INPUT",
        ),
        (
            "missing type",
            Route::Ingest,
            ingest().body(r#"{"order": {"order_number": "1"}}"#),
            422,
            "INVALID_INPUT",
        ),
        (
            "body not an object",
            Route::Ingest,
            ingest().body(r#"[{"type": "order"}]"#),
            422,
            "INVALID_INPUT",
        ),
        (
            "order not an object",
            Route::Ingest,
            ingest().body(r#"{"type": "order", "order": "4521"}"#),
            422,
            "INVALID_INPUT",
        ),
        (
            "bad customer_email",
            Route::Ingest,
            order(json!({"order_number": "1", "customer_email": "nobody"})),
            422,
            "INVALID_INPUT",
        ),
        (
            "bad ordered_at",
            Route::Ingest,
            order(json!({"order_number": "1", "ordered_at": "12.03.2026"})),
            422,
            "INVALID_INPUT",
        ),
        (
            // In year 10000 in UTC, which no timestamp holds: it had been a panic (500).
            "ordered_at past year 9999 in UTC",
            Route::Ingest,
            order(json!({"order_number": "1", "ordered_at": "9999-12-31T23:00:00-02:00"})),
            422,
            "INVALID_INPUT",
        ),
        (
            "reserved field",
            Route::Ingest,
            order(json!({"order_number": "1", "GSI1PK": "ORG#x"})),
            422,
            "INVALID_INPUT",
        ),
        (
            "customer without email",
            Route::Ingest,
            ingest().body(r#"{"type": "customer", "customer": {"name": "Max"}}"#),
            422,
            "INVALID_INPUT",
        ),
        (
            "product without sku",
            Route::Ingest,
            ingest().body(r#"{"type": "product", "product": {"name": "X"}}"#),
            422,
            "INVALID_INPUT",
        ),
        (
            "event without name",
            Route::Ingest,
            ingest().body(r#"{"type": "event", "data": {}}"#),
            422,
            "INVALID_INPUT",
        ),
        (
            "affected_orders not a list",
            Route::Ingest,
            ingest().body(r#"{"type": "event", "event": "x", "data": {"affected_orders": "4521"}}"#),
            422,
            "INVALID_INPUT",
        ),
        (
            "too many affected_orders",
            Route::Ingest,
            ingest().body(
                json!({"type": "event", "event": "x", "data": {"affected_orders": (0..100).collect::<Vec<_>>()}})
                    .to_string(),
            ),
            422,
            "INVALID_INPUT",
        ),
        (
            "type with a separator",
            Route::Ingest,
            ingest().body(r##"{"type": "a#b"}"##),
            422,
            "INVALID_INPUT",
        ),
        (
            "unknown scope",
            Route::ApiKeys,
            fixture("api-keys-create.json")
                .key(&org.admin_key)
                .body(r#"{"name": "x", "scopes": ["everything"]}"#),
            422,
            "INVALID_INPUT",
        ),
        (
            "a scope named twice",
            Route::ApiKeys,
            fixture("api-keys-create.json")
                .key(&org.admin_key)
                .body(r#"{"name": "x", "scopes": ["context:read", "context:read"]}"#),
            422,
            "INVALID_INPUT",
        ),
        (
            "a NUL in an order number",
            Route::Ingest,
            order(json!({"order_number": "45\u{0}21"})),
            422,
            "INVALID_INPUT",
        ),
        (
            "no scopes",
            Route::ApiKeys,
            fixture("api-keys-create.json")
                .key(&org.admin_key)
                .body(r#"{"name": "x", "scopes": []}"#),
            422,
            "INVALID_INPUT",
        ),
        (
            "rate limit zero",
            Route::ApiKeys,
            fixture("api-keys-create.json")
                .key(&org.admin_key)
                .body(r#"{"name": "x", "scopes": ["context:read"], "rateLimitPerMinute": 0}"#),
            422,
            "INVALID_INPUT",
        ),
        (
            "blank key name",
            Route::ApiKeys,
            fixture("api-keys-create.json")
                .key(&org.admin_key)
                .body(r#"{"name": "  ", "scopes": ["context:read"]}"#),
            422,
            "INVALID_INPUT",
        ),
        (
            "empty key name",
            Route::ApiKeys,
            fixture("api-keys-create.json")
                .key(&org.admin_key)
                .body(r#"{"name": "", "scopes": ["context:read"]}"#),
            422,
            "INVALID_INPUT",
        ),
        (
            "unknown key field",
            Route::ApiKeys,
            fixture("api-keys-create.json")
                .key(&org.admin_key)
                .body(r#"{"name": "x", "scopes": ["context:read"], "admin": true}"#),
            422,
            "INVALID_INPUT",
        ),
        (
            "bad page size",
            Route::CustomerContext,
            fixture("agent-context-customer.json").key(&reader).query("limit", "0"),
            422,
            "INVALID_INPUT",
        ),
        (
            "forged cursor",
            Route::CustomerContext,
            fixture("agent-context-customer.json")
                .key(&reader)
                .query("cursor", "eyJQSyI6IngifQ"),
            422,
            "INVALID_INPUT",
        ),
    ];

    let before = items_of(&services, &org.org_id).await;
    for (case, route, request, status, code) in cases {
        let (got, body) = call(&services, route, request).await;
        assert_eq!(got, status, "{case}: {body}");
        assert_error_shape(case, &body, code);
    }
    assert_eq!(
        items_of(&services, &org.org_id).await,
        before,
        "a refused request stored something"
    );
}

#[tokio::test]
async fn refused_requests_after_authentication_still_carry_rate_limit_headers() {
    let services = services().await;
    let org = new_org(&services).await;
    let key = new_key(&services, &org, &["webhook:write"], 120).await;
    let response = shared::api::ingest::handle(
        &services,
        &harness::publisher().await,
        fixture("ingest-order.json").key(&key).body("{").build(),
    )
    .await;
    assert_eq!(response.status().as_u16(), 400);
    assert_eq!(harness::header(&response, "content-type"), Some("application/json"));
    assert_eq!(harness::header(&response, "x-ratelimit-limit"), Some("120"));
    let response = shared::api::ingest::handle(
        &services,
        &harness::publisher().await,
        fixture("ingest-order.json").without_key().build(),
    )
    .await;
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(harness::header(&response, "x-ratelimit-limit"), None);
}
