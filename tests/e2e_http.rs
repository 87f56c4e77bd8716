//! End to end over real HTTP: `cargo lambda watch` serves every function at its real path
//! through the router in Cargo.toml, against the emulated AWS services, exactly as `make dev`.

use std::time::Duration;

use harness::LocalStack;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::OnceCell;

async fn local_api() -> &'static LocalStack {
    static API: OnceCell<LocalStack> = OnceCell::const_new();
    API.get_or_init(|| LocalStack::start(&[], false)).await
}

fn client() -> reqwest::Client {
    // Generous: the first request to each function compiles it.
    reqwest::Client::builder()
        .timeout(Duration::from_secs(240))
        .build()
        .unwrap()
}

async fn post_webhook(api: &LocalStack, key: &str, body: &str) -> (StatusCode, Value) {
    let response = client()
        .post(format!("{}/api/webhook", api.base))
        .header("Content-Type", "application/json")
        .header("x-api-key", key)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn the_seed_examples_run_unchanged_and_the_agent_context_answers() {
    let api = local_api().await;
    let key = &api.admin_key;
    // The seed's four curl bodies, verbatim.
    let order = r#"{
"type": "order",
"order": {
"order_number": "4521",
"status": "shipped",
"tracking_number": "DE-2026-4521-89",
"carrier": "DHL",
"customer_email": "max@example.com",
"customer_name": "Max Müller",
"items": [
{ "name": "Wireless Headphones Pro", "qty": 2, "price": 59.95 },
{ "name": "Ladestation", "qty": 1, "price": 29.99 }
],
"total": 149.89,
"currency": "EUR",
"ordered_at": "2026-03-12T10:30:00Z",
"shipped_at": "2026-03-14T06:42:00Z"
}
}"#;
    let customer = r#"{
"type": "customer",
"customer": {
"email": "max@example.com",
"name": "Max Müller",
"company": "Müller GmbH",
"phone": "+49 123 456789",
"tier": "premium",
"lifetime_value": 2450.00,
"orders_count": 18,
"since": "2024-01-15",
"tags": ["vip", "enterprise"]
}
}"#;
    let product = r#"{
"type": "product",
"product": {
"sku": "WHP-001",
"name": "Wireless Headphones Pro",
"price": 59.95,
"currency": "EUR",
"in_stock": true,
"category": "Audio",
"description": "Kabellose Kopfhörer mit Active Noise Cancelling",
"return_policy": "14 Tage Rückgabe, Originalverpackung nötig"
}
}"#;
    let event = r#"{
"type": "event",
"event": "shipping_delay",
"data": {
"region": "EU",
"delay_days": 2,
"reason": "Wetterbedingungen",
"affected_orders": ["4521", "4522", "4530"]
}
}"#;
    assert_eq!(
        post_webhook(api, key, order).await,
        (
            StatusCode::OK,
            json!({"success": true, "message": "Order data received"})
        )
    );
    assert_eq!(
        post_webhook(api, key, customer).await,
        (
            StatusCode::OK,
            json!({"success": true, "message": "Customer data received"})
        )
    );
    assert_eq!(
        post_webhook(api, key, product).await,
        (
            StatusCode::OK,
            json!({"success": true, "message": "Product data received"})
        )
    );
    let (status, body) = post_webhook(api, key, event).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (StatusCode::OK, Some("Event received"))
    );

    // The SDK example's partial update, sent with Bearer auth.
    let response = client()
        .post(format!("{}/api/webhook", api.base))
        .bearer_auth(key)
        .json(&json!({"type": "order", "order": {"order_number": "4521", "status": "shipped"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().contains_key("x-ratelimit-remaining"));

    let response = client()
        .get(format!("{}/api/context/orders/4521", api.base))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let context: Value = response.json().await.unwrap();
    assert_eq!(context["order"]["data"]["tracking_number"], "DE-2026-4521-89");
    assert_eq!(context["customer"]["data"]["company"], "Müller GmbH");
    assert_eq!(context["events"][0]["data"]["reason"], "Wetterbedingungen");

    let response = client()
        .get(format!("{}/api/context/customers/max%40example.com", api.base))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let context: Value = response.json().await.unwrap();
    assert_eq!(context["customer"]["data"]["tier"], "premium");
    assert_eq!(context["orders"][0]["data"]["order_number"], "4521");
}

#[tokio::test]
async fn a_key_created_over_http_works_until_it_is_revoked() {
    let api = local_api().await;
    let response = client()
        .post(format!("{}/api/api-keys", api.base))
        .header("x-api-key", &api.admin_key)
        .json(&json!({"name": "Shop webhook", "scopes": ["webhook:write"], "rateLimitPerMinute": 120}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    let key = created["key"].as_str().unwrap();
    let body = r#"{"type": "order", "order": {"order_number": "77", "status": "paid"}}"#;
    assert_eq!(post_webhook(api, key, body).await.0, StatusCode::OK);

    let response = client()
        .get(format!("{}/api/api-keys", api.base))
        .bearer_auth(&api.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let listed = response.text().await.unwrap();
    assert!(!listed.contains(key), "a listing must never hold a key");

    let response = client()
        .delete(format!("{}/api/api-keys/{}", api.base, created["id"].as_str().unwrap()))
        .header("x-api-key", &api.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (status, body) = post_webhook(api, key, r#"{"type": "order", "order": {"order_number": "77"}}"#).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "UNAUTHORIZED");
}

#[tokio::test]
async fn bad_requests_over_http_get_the_json_error() {
    let api = local_api().await;
    let big = format!(r#"{{"type":"note","text":"{}"}}"#, "x".repeat(101 * 1024));
    let (status, body) = post_webhook(api, &api.admin_key, &big).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("PAYLOAD_TOO_LARGE"))
    );
    let response = client()
        .post(format!("{}/api/webhook", api.base))
        .header("x-api-key", &api.admin_key)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let response = client()
        .post(format!("{}/api/webhook", api.base))
        .json(&json!({"type": "order"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["success"], false);
}

#[tokio::test]
async fn health_and_openapi_are_served_at_their_paths() {
    let api = local_api().await;
    let response = client().get(format!("{}/api/health", api.base)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let report: Value = response.json().await.unwrap();
    assert_eq!(report["status"], "healthy", "{report}");
    assert_eq!(report["checks"]["sqs"]["status"], "healthy");
    let response = client().head(format!("{}/api/health", api.base)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.bytes().await.unwrap().is_empty());

    let document: Value = client()
        .get(format!("{}/api/openapi", api.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(document["paths"]["/api/webhook"]["post"].is_object(), "{document}");
    // The served document, as client generators read it, passes a maintained OpenAPI validator
    // (which also refuses an operationId used twice).
    let file = std::env::temp_dir().join(format!("hookgate-openapi-{}.json", std::process::id()));
    std::fs::write(&file, document.to_string()).unwrap();
    let validation = std::process::Command::new(harness::venv_bin("openapi-spec-validator"))
        .arg(&file)
        .output()
        .unwrap();
    std::fs::remove_file(&file).ok();
    assert!(
        validation.status.success(),
        "the OpenAPI document does not validate: {}{}",
        String::from_utf8_lossy(&validation.stdout),
        String::from_utf8_lossy(&validation.stderr)
    );
    let response = client()
        .get(format!("{}/api/not-a-route", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    // Browsers' preflights reach the functions through the router, which adds no CORS of its
    // own (as API Gateway without a CORS configuration): the answer is the function's.
    for path in ["/api/widget/init", "/api/csat"] {
        let preflight = client()
            .request(reqwest::Method::OPTIONS, format!("{}{path}", api.base))
            .header("origin", "https://shop.example.com")
            .header("access-control-request-method", "POST")
            .send()
            .await
            .unwrap();
        assert_eq!(preflight.status(), StatusCode::NO_CONTENT, "{path}");
        let header = |name: &str| preflight.headers().get(name).map(|v| v.to_str().unwrap().to_string());
        assert_eq!(
            header("access-control-allow-methods").as_deref(),
            Some("GET, POST, OPTIONS"),
            "{path}"
        );
        assert_eq!(header("access-control-allow-credentials"), None, "{path}");
    }
}

#[tokio::test]
async fn a_connected_shop_s_order_webhook_answers_the_agent_over_http() {
    let api = local_api().await;
    let secret = "e2e-shopify-app-secret";
    let shop = format!("e2e-{}.myshopify.com", std::process::id());
    let connected = client()
        .post(format!("{}/api/v1/integrations", api.base))
        .header("x-api-key", &api.admin_key)
        .json(&json!({"provider": "shopify", "shop_domain": shop, "secret": secret}))
        .send()
        .await
        .unwrap();
    assert_eq!(connected.status(), StatusCode::CREATED);

    // The sample order, sent now and signed as Shopify signs (base64 HMAC-SHA256 of the body).
    let sample = harness::fixture("shopify-webhooks-orders-fulfilled.json");
    let body = sample.body_text().replace("#1001", "#E2E-1001");
    let signature = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .encode(shared::crypto::hmac_sha256(secret.as_bytes(), &[body.as_bytes()]))
    };
    let send = |signature: String| {
        client()
            .post(format!("{}/api/webhooks/shopify", api.base))
            .header("content-type", "application/json")
            .header("x-shopify-topic", "orders/fulfilled")
            .header("x-shopify-shop-domain", &shop)
            .header("x-shopify-event-id", "e2e-order-event")
            .header("x-shopify-hmac-sha256", signature)
            .header(
                "x-shopify-triggered-at",
                shared::clock::rfc3339(time::OffsetDateTime::now_utc()),
            )
            .body(body.clone())
            .send()
    };
    let forged = send("bm90IHRoZSBzaWduYXR1cmU=".into()).await.unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    let accepted = send(signature).await.unwrap();
    assert_eq!(accepted.status(), StatusCode::OK, "{:?}", accepted.text().await);

    let context: Value = client()
        .get(format!("{}/api/context/orders/E2E-1001", api.base))
        .header("x-api-key", &api.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        context["order"]["data"]["tracking_number"], "1Z999AA10123456784",
        "{context}"
    );
    assert_eq!(context["order"]["data"]["carrier"], "UPS");
    assert_eq!(context["customer"]["data"]["name"], "Jane Doe");
}
