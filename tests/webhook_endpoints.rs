//! The endpoints API called directly with `events/` fixtures against the emulator: the
//! lifecycle, what is never returned, and validation.

use harness::{fixture, items_of, new_key, new_org, read, services};
use serde_json::{Value, json};
use shared::api::webhook_endpoints::WebhookSettings;
use shared::runtime::Services;

async fn settings() -> WebhookSettings {
    WebhookSettings {
        secrets: harness::secret_box().await,
        allow_http: false,
        rotation_grace_seconds: 3600,
        destinations: Default::default(),
    }
}

async fn call(services: &Services, settings: &WebhookSettings, request: lambda_http::Request) -> (u16, Value) {
    read(shared::api::webhook_endpoints::handle(services, settings, request).await)
}

fn endpoint_request(method: &str, path: &str, id: Option<&str>) -> harness::FixtureRequest {
    let mut request = fixture("webhook-endpoints-create.json");
    request = request.method(method, path);
    if let Some(id) = id {
        request = request.path_parameter("id", id);
    }
    request
}

#[tokio::test]
async fn an_endpoint_is_created_read_updated_rotated_and_deleted_without_exposing_secrets() {
    let services = services().await;
    let settings = settings().await;
    let org = new_org(&services).await;
    let (status, created) = call(
        &services,
        &settings,
        fixture("webhook-endpoints-create.json").key(&org.admin_key).build(),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));
    let id = created["webhook"]["id"].as_str().unwrap().to_string();
    assert_eq!(created["webhook"]["authentication"], json!({"type": "bearer"}));
    assert_eq!(
        created["webhook"]["retry_policy"]["delays_seconds"],
        json!([60, 300, 900, 3600, 21600, 86400])
    );
    assert_eq!(
        created["webhook"]["signature_style"], "sha256",
        "seed 000's style by default"
    );

    let reader = new_key(&services, &org, &["endpoints:read"], 100).await;
    let (status, listed) = call(
        &services,
        &settings,
        fixture("webhook-endpoints-list.json").key(&reader).build(),
    )
    .await;
    assert_eq!(status, 200, "{listed}");
    let text = listed.to_string();
    assert!(
        !text.contains(&secret) && !text.contains("your_secret"),
        "secrets and tokens are never returned: {text}"
    );
    assert_eq!(
        listed["webhooks"][0]["delivery_stats"],
        json!({"total_deliveries": 0, "successful_deliveries": 0, "failed_deliveries": 0, "total_attempts": 0, "last_delivery": null})
    );
    // A read-only key cannot change anything.
    let request = endpoint_request("DELETE", &format!("/api/v1/webhooks/{id}"), Some(&id))
        .key(&reader)
        .body("");
    assert_eq!(call(&services, &settings, request.build()).await.0, 403);

    let update = json!({"url": "https://new-app.example.com/webhooks/orders", "events": ["order.upserted", "csat.received"], "authentication": null});
    let request = endpoint_request("PUT", &format!("/api/v1/webhooks/{id}"), Some(&id))
        .key(&org.admin_key)
        .body(update.to_string());
    let (status, updated) = call(&services, &settings, request.build()).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["webhook"]["url"], "https://new-app.example.com/webhooks/orders");
    assert_eq!(updated["webhook"]["authentication"], Value::Null);
    assert_eq!(
        updated["webhook"]["name"], created["webhook"]["name"],
        "fields not sent are kept"
    );
    assert_eq!(updated["webhook"]["conditions"], created["webhook"]["conditions"]);

    // Batching is turned on, kept by an update that does not mention it, and turned off by null.
    let batching = json!({"max_events": 50, "max_wait_seconds": 120});
    for (body, expected) in [
        (json!({"batch_settings": batching}), batching.clone()),
        (json!({"name": "Orders"}), batching.clone()),
        (json!({"batch_settings": null}), Value::Null),
    ] {
        let request = endpoint_request("PUT", &format!("/api/v1/webhooks/{id}"), Some(&id))
            .key(&org.admin_key)
            .body(body.to_string());
        let (status, updated) = call(&services, &settings, request.build()).await;
        assert_eq!(status, 200, "{updated}");
        assert_eq!(updated["webhook"]["batch_settings"], expected, "after {body}");
    }

    let request = endpoint_request("POST", &format!("/api/v1/webhooks/{id}/rotate-secret"), Some(&id))
        .key(&org.admin_key)
        .body("");
    let (status, rotated) = call(&services, &settings, request.build()).await;
    assert_eq!(status, 200, "{rotated}");
    assert_ne!(rotated["secret"], secret.as_str());
    let stored = services.store.get_endpoint(&org.org_id, &id).await.unwrap().unwrap();
    assert_eq!(
        settings.secrets.open(&stored.sealed_secret).as_deref(),
        rotated["secret"].as_str()
    );
    assert_eq!(
        settings.secrets.open(stored.sealed_previous_secret.as_deref().unwrap()),
        Some(secret.clone())
    );
    assert!(!stored.sealed_secret.contains("whsec_"), "stored encrypted");

    let request = endpoint_request("GET", &format!("/api/v1/webhooks/{id}/stats"), Some(&id))
        .key(&reader)
        .body("");
    let (status, stats) = call(&services, &settings, request.build()).await;
    assert_eq!((status, stats["success_rate"].clone()), (200, Value::Null));
    let request = endpoint_request("GET", &format!("/api/v1/webhooks/{id}/logs"), Some(&id))
        .key(&reader)
        .body("");
    let (status, logs) = call(&services, &settings, request.build()).await;
    assert_eq!((status, logs["logs"].clone()), (200, json!([])));

    let request = endpoint_request("DELETE", &format!("/api/v1/webhooks/{id}"), Some(&id))
        .key(&org.admin_key)
        .body("");
    assert_eq!(call(&services, &settings, request.build()).await.0, 200);
    let request = endpoint_request("GET", &format!("/api/v1/webhooks/{id}"), Some(&id))
        .key(&org.admin_key)
        .body("");
    assert_eq!(call(&services, &settings, request.build()).await.0, 404);
}

#[tokio::test]
async fn invalid_endpoints_are_refused_and_nothing_is_stored() {
    let services = services().await;
    let settings = settings().await;
    let org = new_org(&services).await;
    let other = new_org(&services).await;
    let (_, created) = call(
        &services,
        &settings,
        fixture("webhook-endpoints-create.json").key(&other.admin_key).build(),
    )
    .await;
    let others_id = created["webhook"]["id"].as_str().unwrap().to_string();
    let base = json!({"name": "x", "url": "https://example.com/hook", "events": ["order.upserted"]});
    let with = |patch: Value| {
        let mut body = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        fixture("webhook-endpoints-create.json")
            .key(&org.admin_key)
            .body(body.to_string())
    };
    let cases = [
        ("http url", with(json!({"url": "http://example.com/hook"})), 422),
        ("not a url", with(json!({"url": "example"})), 422),
        (
            "credentials in url",
            with(json!({"url": "https://user:pass@example.com/"})),
            422,
        ),
        (
            "metadata address",
            with(json!({"url": "https://169.254.169.254/latest/meta-data"})),
            422,
        ),
        ("private address", with(json!({"url": "https://10.1.2.3/hook"})), 422),
        ("loopback address", with(json!({"url": "https://127.0.0.1/hook"})), 422),
        ("loopback v6", with(json!({"url": "https://[::1]/hook"})), 422),
        (
            "mapped private v6",
            with(json!({"url": "https://[::ffff:192.168.0.1]/hook"})),
            422,
        ),
        (
            "unknown signature style",
            with(json!({"signature_style": "base64"})),
            422,
        ),
        ("unknown event", with(json!({"events": ["order.deleted"]})), 422),
        (
            "a NUL in the url",
            with(json!({"url": "https://example.com/ho\u{0}ok"})),
            422,
        ),
        (
            "a line break in the url",
            with(json!({"url": "https://example.com/\nhook"})),
            422,
        ),
        (
            "an event named twice",
            with(json!({"events": ["order.upserted", "order.upserted"]})),
            422,
        ),
        ("no events", with(json!({"events": []})), 422),
        (
            "bad condition",
            with(json!({"conditions": {"score": {"like": 3}}})),
            422,
        ),
        (
            "bad auth type",
            with(json!({"authentication": {"type": "basic", "token": "x"}})),
            422,
        ),
        (
            "missing token",
            with(json!({"authentication": {"type": "bearer"}})),
            422,
        ),
        ("short secret", with(json!({"secret": "short"})), 422),
        (
            "too many retries",
            with(json!({"retry_policy": {"max_retries": 20}})),
            422,
        ),
        (
            "empty batch",
            with(json!({"batch_settings": {"max_events": 0, "max_wait_seconds": 300}})),
            422,
        ),
        (
            "batch waits too long",
            with(json!({"batch_settings": {"max_events": 10, "max_wait_seconds": 86400}})),
            422,
        ),
        (
            "batch without a wait",
            with(json!({"batch_settings": {"max_events": 10}})),
            422,
        ),
        ("unknown field", with(json!({"colour": "blue"})), 422),
        ("null name", with(json!({"name": null})), 422),
        (
            "missing url",
            fixture("webhook-endpoints-create.json")
                .key(&org.admin_key)
                .body(r#"{"name": "x", "events": ["*"]}"#),
            422,
        ),
        (
            "malformed",
            fixture("webhook-endpoints-create.json").key(&org.admin_key).body("{"),
            400,
        ),
        (
            "wrong scope",
            fixture("webhook-endpoints-create.json").key(&new_key(&services, &org, &["webhook:write"], 100).await),
            403,
        ),
        (
            "another organization's endpoint",
            endpoint_request("GET", &format!("/api/v1/webhooks/{others_id}"), Some(&others_id))
                .key(&org.admin_key)
                .body(""),
            404,
        ),
    ];
    let before = items_of(&services, &org.org_id).await;
    for (case, request, status) in cases {
        let (got, body) = call(&services, &settings, request.build()).await;
        assert_eq!(got, status, "{case}: {body}");
        assert_eq!(body["success"], false, "{case}: {body}");
        assert!(body["error"]["code"].is_string(), "{case}: {body}");
    }
    // 10000 event names are refused by their number, before they are read one by one (these
    // are also one name 10000 times).
    let (got, body) = call(&services, &settings, with(json!({"events": vec!["*"; 10_000]})).build()).await;
    assert_eq!(got, 422, "{body}");
    assert_eq!(
        body["error"]["message"], "an endpoint subscribes to at most 53 events",
        "{body}"
    );
    assert_eq!(items_of(&services, &org.org_id).await, before);
}
