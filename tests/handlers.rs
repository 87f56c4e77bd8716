//! Handlers called directly with `events/` fixtures, against the emulated DynamoDB, SQS and
//! Secrets Manager.

use std::sync::Arc;

use harness::{fixture, header, new_key, new_org, read, services};
use serde_json::{Value, json};
use shared::api::health::HealthProbes;

fn ingest_body(body: Value) -> String {
    body.to_string()
}

#[tokio::test]
async fn seed_order_is_stored_and_the_agent_can_answer_where_it_is() {
    let services = services().await;
    let org = new_org(&services).await;

    let response = shared::api::ingest::handle(
        &services,
        &harness::publisher().await,
        fixture("ingest-order.json").key(&org.admin_key).build(),
    )
    .await;
    assert!(header(&response, "x-ratelimit-limit").is_some());
    assert!(header(&response, "x-ratelimit-remaining").is_some());
    assert!(header(&response, "x-ratelimit-reset").is_some());
    assert_eq!(
        read(response),
        (200, json!({"success": true, "message": "Order data received"}))
    );

    let customer = json!({"type": "customer", "customer": {"email": "max@example.com", "name": "Max Müller", "tier": "premium", "tags": ["vip"]}});
    let request = fixture("ingest-order.json")
        .key(&org.admin_key)
        .body(ingest_body(customer))
        .build();
    assert_eq!(
        read(shared::api::ingest::handle(&services, &harness::publisher().await, request).await),
        (200, json!({"success": true, "message": "Customer data received"}))
    );

    let delay = json!({"type": "event", "event": "shipping_delay", "data": {"region": "EU", "delay_days": 2, "reason": "Wetterbedingungen", "affected_orders": ["4521", "4522", "4530"]}});
    let request = fixture("ingest-order.json")
        .key(&org.admin_key)
        .body(ingest_body(delay))
        .build();
    let (status, body) = read(shared::api::ingest::handle(&services, &harness::publisher().await, request).await);
    assert_eq!((status, body["message"].as_str()), (200, Some("Event received")));
    let event_id = body["id"].as_str().expect("event id").to_string();

    let (status, context) = read(
        shared::api::agent_context::handle(
            &services,
            fixture("agent-context-order.json").key(&org.admin_key).build(),
        )
        .await,
    );
    assert_eq!(status, 200, "{context}");
    assert_eq!(context["orderNumber"], "4521");
    let order = &context["order"]["data"];
    assert_eq!(order["tracking_number"], "DE-2026-4521-89");
    assert_eq!(order["carrier"], "DHL");
    assert_eq!(order["total"], 149.89);
    assert_eq!(
        order["items"][0],
        json!({"name": "Wireless Headphones Pro", "qty": 2, "price": 59.95})
    );
    assert!(
        order.get("PK").is_none() && order.get("GSI1PK").is_none(),
        "internal attributes leak: {order}"
    );
    assert!(context["order"]["createdAt"].is_string());
    assert_eq!(context["customer"]["data"]["tier"], "premium");
    assert_eq!(context["events"].as_array().unwrap().len(), 1);
    assert_eq!(context["events"][0]["id"], event_id.as_str());
    assert_eq!(context["events"][0]["event"], "shipping_delay");
    assert_eq!(context["events"][0]["data"]["delay_days"], 2);

    // 4522 was never sent, but the delay names it: the agent still knows about the delay.
    let request = fixture("agent-context-order.json")
        .key(&org.admin_key)
        .path_parameter("order_number", "4522")
        .build();
    let (status, context) = read(shared::api::agent_context::handle(&services, request).await);
    assert_eq!(status, 200);
    assert_eq!(context["order"], Value::Null);
    assert_eq!(context["events"][0]["event"], "shipping_delay");
}

/// The store's HTTPS path, as in AWS: an ingest and the agent's read through a TLS relay in front
/// of the emulator, the relay's certificate verified against the roots the client is given.
/// The client as deployed, trusting only AWS's roots, refuses that certificate and sends
/// nothing.
#[tokio::test]
async fn the_store_speaks_https_and_trusts_only_its_roots() {
    use shared::aws::tls_trusting;
    use shared::store::Store;
    use shared::store::dynamodb::DynamoDb;
    let relay = harness::tls_relay::tls_relay();
    let services = services().await;
    let org = new_org(&services).await;
    let credentials = shared::aws::Credentials::new("test", "test", None);
    let trusting_the_relay = tls_trusting(relay.ca_pem()).expect("the relay's CA is a certificate");
    let client = DynamoDb::with_tls(&relay.url, "us-east-1", credentials.clone(), trusting_the_relay).unwrap();
    let over_tls = shared::runtime::Services {
        store: Store::new(client, harness::TABLE),
        ..services.clone()
    };
    let connections = relay.connections();

    let request = fixture("ingest-order.json").key(&org.admin_key).build();
    let response = shared::api::ingest::handle(&over_tls, &harness::publisher().await, request).await;
    assert_eq!(read(response).0, 200);
    let key = org.admin_key.as_str();
    let context = |services| async move {
        let request = fixture("agent-context-order.json").key(key).build();
        read(shared::api::agent_context::handle(services, request).await)
    };
    let (status, over_tls) = context(&over_tls).await;
    assert_eq!((status, &over_tls["order"]["data"]["carrier"]), (200, &json!("DHL")));
    let (_, without_tls) = context(&services).await;
    assert_eq!(without_tls["order"], over_tls["order"], "stored in the table");
    assert!(relay.connections() > connections, "the calls went through the relay");

    let relayed = relay.connections();
    let as_deployed = Store::new(
        DynamoDb::new(&relay.url, "us-east-1", credentials).unwrap(),
        harness::TABLE,
    );
    let refused = as_deployed
        .get_organization(&org.org_id)
        .await
        .expect_err("a certificate from outside AWS's roots is refused");
    let refused = format!("{refused:?}");
    assert!(refused.contains("UnknownIssuer"), "{refused}");
    assert_eq!(relay.connections(), relayed, "no refused handshake was relayed");
    assert_eq!(
        as_deployed.client().requests_sent(),
        1,
        "a refused certificate is not tried again"
    );
}

/// The functions' SQS client sends what the SDK's client then reads, byte for byte: a batch of
/// ten (the most one request takes) and a delayed message, which stays hidden. A queue that
/// does not exist is named by SQS's code, and nothing is retried for it.
#[tokio::test]
async fn the_queues_client_sends_what_sqs_delivers() {
    let queue = harness::OwnQueue::new("lean-sqs").await;
    let bodies: Vec<String> = (0..10)
        .map(|i| json!({"n": i, "text": "Grüße, \"quoted\" \\ and \u{1F600}"}).to_string())
        .collect();
    let failed = queue.sender.send_message_batch(&queue.url, &bodies).await.unwrap();
    assert!(failed.is_empty(), "{failed:?}");
    queue.sender.send_message(&queue.url, "later", 60).await.unwrap();
    let mut received = queue.take_bodies().await;
    received.sort();
    let mut sent = bodies.clone();
    sent.sort();
    assert_eq!(received, sent, "the delayed message stays hidden");

    let missing = format!("{}-missing", queue.url);
    let error = queue.sender.send_message(&missing, "x", 0).await.unwrap_err();
    assert_eq!(error.status, Some(400), "{error}");
    assert_eq!(error.code.as_deref(), Some("QueueDoesNotExist"), "{error}");
    assert!(!error.retryable());
}

/// What the redrive and the health probe ask of SQS, through the functions' client, on messages
/// the SDK's client sent: the count, a receive, a release and a batch delete.
#[tokio::test]
async fn the_queues_client_receives_releases_and_deletes() {
    let queue = harness::OwnQueue::new("lean-sqs-receive").await;
    let sent = ["first", "second \u{1F600}", "third"];
    for body in sent {
        queue
            .sqs
            .send_message()
            .queue_url(&queue.url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    assert_eq!(
        queue.sender.approximate_number_of_messages(&queue.url).await.unwrap(),
        3
    );
    let mut received = Vec::new();
    while received.len() < sent.len() {
        let batch = queue.sender.receive_message(&queue.url, 10, 60).await.unwrap();
        assert!(!batch.is_empty(), "all three are ready");
        received.extend(batch);
    }
    let mut bodies: Vec<&str> = received.iter().map(|m| m.body.as_str()).collect();
    bodies.sort();
    assert_eq!(bodies, sent);
    assert_eq!(
        queue.sender.approximate_number_of_messages(&queue.url).await.unwrap(),
        0,
        "received messages are hidden"
    );

    // One is released at once, two are deleted; a receipt SQS never gave out is refused alone.
    let (released, deleted) = received.split_first().unwrap();
    queue
        .sender
        .change_message_visibility(&queue.url, &released.receipt_handle, 0)
        .await
        .unwrap();
    let mut receipts: Vec<&str> = deleted.iter().map(|m| m.receipt_handle.as_str()).collect();
    receipts.push("not-a-receipt");
    let failed = queue.sender.delete_message_batch(&queue.url, &receipts).await.unwrap();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].id, "2");
    assert!(failed[0].sender_fault);
    assert_eq!(queue.take_bodies().await, [released.body.as_str()]);
}

/// The functions' SNS client publishes what a subscribed queue then receives: the subject, the
/// message with characters the form encoding must escape, and the attribute subscriptions
/// filter on. A topic that does not exist is named by SNS's code, and not tried again.
#[tokio::test]
async fn the_topics_client_publishes_what_subscribers_receive() {
    let sns = shared::aws::sns::Sns::from_config(&harness::aws_config(&harness::emulator().endpoint)).unwrap();
    let (sqs, queue_url) = harness::alerts_queue("sns-client-subscriber").await;
    let topic = &harness::emulator().topic_arns[harness::ALERTS_TOPIC];
    let message = json!({"detail": "a + b = c & d; 100% \"quoted\"\nnext line, Grüße \u{1F600}"}).to_string();
    let message_id = sns
        .publish(topic, "Hookgate test.alert", &message, &[("type", "test.alert")])
        .await
        .unwrap();
    assert!(!message_id.is_empty());

    let received = sqs
        .receive_message()
        .queue_url(&queue_url)
        .wait_time_seconds(5)
        .send()
        .await
        .unwrap();
    let [notification] = received.messages() else {
        panic!("one notification: {received:?}")
    };
    let envelope: Value = serde_json::from_str(notification.body().unwrap()).unwrap();
    assert_eq!(envelope["MessageId"], message_id.as_str());
    assert_eq!(envelope["Subject"], "Hookgate test.alert");
    assert_eq!(envelope["Message"], message.as_str());
    assert_eq!(
        envelope["MessageAttributes"]["type"],
        json!({"Type": "String", "Value": "test.alert"})
    );

    let missing = format!("{topic}-missing");
    let error = sns.publish(&missing, "s", "m", &[]).await.unwrap_err();
    assert_eq!(
        (error.status, error.code.as_deref()),
        (Some(404), Some("NotFound")),
        "{error}"
    );
    assert!(!error.retryable());
}

#[tokio::test]
async fn a_partial_order_update_keeps_what_was_sent_before() {
    let services = services().await;
    let org = new_org(&services).await;
    let request = fixture("ingest-order.json").key(&org.admin_key).build();
    assert_eq!(
        read(shared::api::ingest::handle(&services, &harness::publisher().await, request).await).0,
        200
    );
    let update = json!({"type": "order", "order": {"order_number": 4521, "status": "delivered"}});
    let request = fixture("ingest-order.json")
        .key(&org.admin_key)
        .body(ingest_body(update))
        .build();
    assert_eq!(
        read(shared::api::ingest::handle(&services, &harness::publisher().await, request).await).0,
        200
    );

    let (_, context) = read(
        shared::api::agent_context::handle(
            &services,
            fixture("agent-context-order.json").key(&org.admin_key).build(),
        )
        .await,
    );
    assert_eq!(context["order"]["data"]["status"], "delivered");
    assert_eq!(context["order"]["data"]["tracking_number"], "DE-2026-4521-89");
    // Still in the customer's history.
    let (status, customer) = read(
        shared::api::agent_context::handle(
            &services,
            fixture("agent-context-customer.json").key(&org.admin_key).build(),
        )
        .await,
    );
    assert_eq!(status, 200, "{customer}");
    assert_eq!(customer["orders"].as_array().unwrap().len(), 1);
    assert_eq!(customer["orders"][0]["data"]["status"], "delivered");
}

#[tokio::test]
async fn customer_context_lists_orders_newest_first_one_page_at_a_time() {
    let services = services().await;
    let org = new_org(&services).await;
    let send = |body: Value| {
        fixture("ingest-order.json")
            .key(&org.admin_key)
            .body(body.to_string())
            .build()
    };
    for (number, at) in [
        ("A-1", "2026-01-05T09:00:00Z"),
        ("A-3", "2026-03-01T09:00:00+01:00"),
        ("A-2", "2026-02-10T09:00:00Z"),
    ] {
        let order = json!({"type": "order", "order": {"order_number": number, "customer_email": "Eva@Example.com", "ordered_at": at}});
        assert_eq!(
            read(shared::api::ingest::handle(&services, &harness::publisher().await, send(order)).await).0,
            200
        );
    }
    let profile = json!({"type": "customer", "customer": {"email": "eva@example.com", "name": "Eva"}});
    assert_eq!(
        read(shared::api::ingest::handle(&services, &harness::publisher().await, send(profile)).await).0,
        200
    );

    let page = |cursor: Option<&str>| {
        let mut request = fixture("agent-context-customer.json")
            .key(&org.admin_key)
            .path_parameter("email", "EVA%40example.com")
            .query("limit", "2");
        if let Some(cursor) = cursor {
            request = request.query("cursor", cursor);
        }
        request.build()
    };
    let (status, first) = read(shared::api::agent_context::handle(&services, page(None)).await);
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["customer"]["data"]["name"], "Eva");
    let numbers = |page: &Value| {
        page["orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["data"]["order_number"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(numbers(&first), vec![json!("A-3"), json!("A-2")]);
    let cursor = first["nextCursor"].as_str().expect("a second page").to_string();
    let (status, second) = read(shared::api::agent_context::handle(&services, page(Some(&cursor))).await);
    assert_eq!(status, 200, "{second}");
    assert_eq!(numbers(&second), vec![json!("A-1")]);
    assert_eq!(second["customer"], Value::Null);
    assert_eq!(second["nextCursor"], Value::Null);
}

#[tokio::test]
async fn products_and_other_types_are_stored_as_sent() {
    let services = services().await;
    let org = new_org(&services).await;
    let product = json!({"type": "product", "product": {"sku": "WHP-001", "name": "Wireless Headphones Pro", "price": 59.95, "in_stock": true, "return_policy": "14 Tage Rückgabe"}});
    let request = fixture("ingest-order.json")
        .key(&org.admin_key)
        .body(product.to_string())
        .build();
    assert_eq!(
        read(shared::api::ingest::handle(&services, &harness::publisher().await, request).await),
        (200, json!({"success": true, "message": "Product data received"}))
    );
    let stored = services
        .store
        .get_product(&org.org_id, "WHP-001")
        .await
        .unwrap()
        .expect("product stored");
    assert_eq!(Value::Object(stored.fields), product["product"]);

    let review =
        json!({"type": "review", "rating": 4, "text": "Gut", "nested": {"list": [1, "two", null, {"x": false}]}});
    let request = fixture("ingest-order.json")
        .key(&org.admin_key)
        .body(review.to_string())
        .build();
    let (status, body) = read(shared::api::ingest::handle(&services, &harness::publisher().await, request).await);
    assert_eq!((status, body["message"].as_str()), (200, Some("Data received")));
    let stored = services
        .store
        .get_other(&org.org_id, "review", body["id"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(stored, Some(review));
}

#[tokio::test]
async fn api_keys_are_shown_once_listed_without_secrets_and_revoked_at_once() {
    let services = services().await;
    let org = new_org(&services).await;
    let (status, created) = read(
        shared::api::api_keys::handle(&services, fixture("api-keys-create.json").key(&org.admin_key).build()).await,
    );
    assert_eq!(status, 201, "{created}");
    let token = created["key"].as_str().unwrap().to_string();
    assert!(token.starts_with("hg_live_"));
    assert_eq!(created["scopes"], json!(["webhook:write"]));
    assert_eq!(created["rateLimitPerMinute"], 120);
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["prefix"], format!("hg_live_{id}"));
    let secret = token.rsplit('_').next().unwrap().to_string();

    let (status, listed) =
        read(shared::api::api_keys::handle(&services, fixture("api-keys-list.json").key(&org.admin_key).build()).await);
    assert_eq!(status, 200);
    assert_eq!(listed["keys"].as_array().unwrap().len(), 2, "{listed}");
    assert!(
        !listed.to_string().contains(&secret),
        "a listing must never hold a secret"
    );
    assert!(!listed.to_string().contains("secret_hash"));

    let ingest = || fixture("ingest-order.json").key(&token).build();
    assert_eq!(
        read(shared::api::ingest::handle(&services, &harness::publisher().await, ingest()).await).0,
        200
    );

    let revoke = || {
        fixture("api-keys-revoke.json")
            .key(&org.admin_key)
            .path_parameter("id", &id)
            .build()
    };
    let (status, revoked) = read(shared::api::api_keys::handle(&services, revoke()).await);
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(revoked["id"], id.as_str());
    let (status, body) = read(shared::api::ingest::handle(&services, &harness::publisher().await, ingest()).await);
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("UNAUTHORIZED")));
    // Revoking twice answers the first revocation.
    let (status, again) = read(shared::api::api_keys::handle(&services, revoke()).await);
    assert_eq!((status, &again["revokedAt"]), (200, &revoked["revokedAt"]));
    let (_, listed) =
        read(shared::api::api_keys::handle(&services, fixture("api-keys-list.json").key(&org.admin_key).build()).await);
    let entry = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(entry["status"], "revoked");
    assert!(entry["lastUsedAt"].is_string());

    let unknown = fixture("api-keys-revoke.json")
        .key(&org.admin_key)
        .path_parameter("id", "00000000000000000000")
        .build();
    let (status, body) = read(shared::api::api_keys::handle(&services, unknown).await);
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("NOT_FOUND")));
}

#[tokio::test]
async fn a_key_of_one_organization_cannot_revoke_another_organizations_key() {
    let services = services().await;
    let a = new_org(&services).await;
    let b = new_org(&services).await;
    let token_a = new_key(&services, &a, &["webhook:write"], 60).await;
    let id_a = token_a
        .trim_start_matches("hg_live_")
        .split('_')
        .next()
        .unwrap()
        .to_string();
    let request = fixture("api-keys-revoke.json")
        .key(&b.admin_key)
        .path_parameter("id", &id_a)
        .build();
    assert_eq!(read(shared::api::api_keys::handle(&services, request).await).0, 404);
    assert_eq!(
        read(
            shared::api::ingest::handle(
                &services,
                &harness::publisher().await,
                fixture("ingest-order.json").key(&token_a).build()
            )
            .await
        )
        .0,
        200
    );
}

async fn probes(queue_url: &str) -> HealthProbes {
    let config = harness::aws_config(&harness::emulator().endpoint);
    HealthProbes {
        store: shared::store::Store::from_config(&config, harness::TABLE).expect("store"),
        sqs: shared::aws::sqs::Sqs::from_config(&config).expect("SQS"),
        queue_url: queue_url.into(),
        secrets: shared::aws::secrets_manager::SecretsManager::from_config(&config).expect("Secrets Manager"),
        secret_id: harness::PEPPER_SECRET.into(),
        started: std::time::Instant::now(),
    }
}

#[tokio::test]
async fn health_reports_every_dependency_and_503_when_one_fails() {
    let clock = Arc::new(shared::clock::SystemClock);
    let healthy = probes(&harness::emulator().queue_urls[harness::DELIVERY_QUEUE]).await;
    let (status, report) =
        read(shared::api::health::handle(&healthy, clock.as_ref(), fixture("health-get.json").build()).await);
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["status"], "healthy");
    assert_eq!(report["version"], shared::VERSION);
    for check in ["dynamodb", "sqs", "secretsmanager"] {
        assert_eq!(report["checks"][check]["status"], "healthy", "{report}");
        assert!(report["checks"][check]["latencyMs"].is_u64());
    }
    assert!(report["uptime"].is_number() && report["totalMs"].is_u64() && report["timestamp"].is_string());

    let (status, body) =
        read(shared::api::health::handle(&healthy, clock.as_ref(), fixture("health-head.json").build()).await);
    assert_eq!((status, body), (200, Value::Null));

    let missing_queue = format!("{}/123456789012/NoSuchQueue", harness::emulator().endpoint);
    let broken = probes(&missing_queue).await;
    let (status, report) =
        read(shared::api::health::handle(&broken, clock.as_ref(), fixture("health-get.json").build()).await);
    assert_eq!(status, 503);
    assert_eq!(report["status"], "unhealthy");
    assert_eq!(report["checks"]["sqs"]["status"], "unhealthy");
    assert_eq!(report["checks"]["dynamodb"]["status"], "healthy");
    let (status, _) =
        read(shared::api::health::handle(&broken, clock.as_ref(), fixture("health-head.json").build()).await);
    assert_eq!(status, 503);
}

#[tokio::test]
async fn openapi_fixture_returns_the_document() {
    let (status, document) = read(shared::api::openapi::document(fixture("openapi-get.json").build()).await);
    assert_eq!(status, 200);
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(document["info"]["version"], shared::VERSION);
    assert!(document["components"]["securitySchemes"]["apiKey"].is_object());
}

#[tokio::test]
async fn ingest_takes_two_aws_calls_and_context_reads_one_query_per_answer() {
    let (services, calls) = harness::services_counting_calls().await;
    // One minute throughout, so that no new rate-limit window opens between the counted calls.
    let clock = Arc::new(shared::clock::FixedClock(time::OffsetDateTime::now_utc()));
    let services = shared::runtime::Services { clock, ..services };
    let org = new_org(&services).await;
    // Endpoints cached per container, as in production (no endpoint subscribes here).
    let publisher = shared::outbound::Publisher {
        cache: shared::outbound::EndpointCache::new(std::time::Duration::from_secs(60)),
        ..harness::publisher().await
    };
    let ingest = || {
        shared::api::ingest::handle(
            &services,
            &publisher,
            fixture("ingest-order.json").key(&org.admin_key).build(),
        )
    };
    assert_eq!(read(ingest().await).0, 200);
    calls.take();
    // Within the key's current minute, endpoints cached: one UpdateItem authenticates and counts, one writes.
    assert_eq!(read(ingest().await).0, 200);
    assert_eq!(calls.take(), 2);
    let customer = json!({"type": "customer", "customer": {"email": "max@example.com"}});
    let request = fixture("ingest-order.json")
        .key(&org.admin_key)
        .body(customer.to_string())
        .build();
    assert_eq!(
        read(shared::api::ingest::handle(&services, &harness::publisher().await, request).await).0,
        200
    );
    calls.take();

    let request = fixture("agent-context-customer.json").key(&org.admin_key).build();
    assert_eq!(
        read(shared::api::agent_context::handle(&services, request).await).0,
        200
    );
    // Since the desk: the customer's tickets are read beside their profile and orders.
    assert_eq!(calls.take(), 3, "key check + one query + the customer's tickets");
    let request = fixture("agent-context-order.json").key(&org.admin_key).build();
    assert_eq!(
        read(shared::api::agent_context::handle(&services, request).await).0,
        200
    );
    // Since orders confirmed by call: their items in the number's partition are read beside it.
    assert_eq!(
        calls.take(),
        4,
        "key check + the order's partition + its call order (at once) + its customer"
    );
}

#[tokio::test]
async fn a_key_grants_only_the_scopes_and_rate_limit_it_holds_itself() {
    let services = services().await;
    let org = new_org(&services).await;
    let key_manager = new_key(&services, &org, &["keys:manage", "endpoints:manage"], 100).await;
    let create = |body: Value| {
        read_async(shared::api::api_keys::handle(
            &services,
            fixture("api-keys-create.json")
                .key(&key_manager)
                .body(body.to_string())
                .build(),
        ))
    };
    let count_keys = || async {
        let (_, listed) = read(
            shared::api::api_keys::handle(&services, fixture("api-keys-list.json").key(&org.admin_key).build()).await,
        );
        listed["keys"].as_array().unwrap().len()
    };
    let before = count_keys().await;

    let all_scopes: Vec<&str> = shared::auth::Scope::ALL.iter().map(|s| s.as_str()).collect();
    let (status, refused) = create(json!({"name": "escalate", "scopes": all_scopes})).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (403, Some("FORBIDDEN")),
        "{refused}"
    );
    assert_eq!(refused["error"]["details"]["field"], "scopes");
    let (status, refused) =
        create(json!({"name": "faster", "scopes": ["keys:manage"], "rateLimitPerMinute": 10000})).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (403, Some("FORBIDDEN")),
        "{refused}"
    );
    assert_eq!(refused["error"]["details"]["field"], "rateLimitPerMinute");
    assert_eq!(count_keys().await, before, "nothing is created");

    // What it holds it may grant, and a scope its own include (managing endpoints includes reading them).
    let (status, created) =
        create(json!({"name": "narrower", "scopes": ["endpoints:read"], "rateLimitPerMinute": 50})).await;
    assert_eq!(status, 201, "{created}");
    // Unsaid, the limit is the default or the creator's own, whichever is lower.
    let (status, created) = create(json!({"name": "unsaid", "scopes": ["keys:manage"]})).await;
    assert_eq!(
        (status, created["rateLimitPerMinute"].as_u64()),
        (201, Some(100)),
        "{created}"
    );
    assert_eq!(count_keys().await, before + 2);
}

async fn read_async(
    response: impl std::future::Future<Output = lambda_http::Response<lambda_http::Body>>,
) -> (u16, Value) {
    read(response.await)
}

#[tokio::test]
async fn a_post_with_an_idempotency_key_runs_once_and_answers_the_same() {
    let services = services().await;
    let org = new_org(&services).await;
    let queue = harness::OwnQueue::new("idempotent-tickets").await;
    harness::subscribe(&services, &org, &["ticket.created"]).await;
    let open = |key: &str, subject: &str| {
        fixture("tickets-create.json")
            .key(&org.admin_key)
            .header("idempotency-key", key)
            .body(json!({"subject": subject, "customer_email": "eve@example.com"}).to_string())
            .build()
    };
    let call = |request| async {
        let response =
            shared::api::tickets::handle(&services, &queue.publisher(), &harness::reply_queue().await, request).await;
        let replayed = header(&response, "idempotent-replayed").map(str::to_string);
        let (status, body) = read(response);
        (status, body, replayed)
    };
    let (status, first, replayed) = call(open("order-4521-ticket", "Lost parcel")).await;
    assert_eq!((status, replayed), (201, None), "{first}");
    // The client's retry: the same answer, and nothing done twice.
    let (status, again, replayed) = call(open("order-4521-ticket", "Lost parcel")).await;
    assert_eq!((status, replayed.as_deref()), (201, Some("true")));
    assert_eq!(again, first);
    let events: Vec<Value> = queue.drain().await;
    assert_eq!(
        events.iter().filter(|m| m["event"] == "ticket.created").count(),
        1,
        "one ticket opened: {events:?}"
    );
    // The key on another request.
    let (status, refused, _) = call(open("order-4521-ticket", "Another subject")).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (422, Some("IDEMPOTENCY_KEY_REUSED")),
        "{refused}"
    );
    // Another organization's key of the same name is its own.
    let other = new_org(&services).await;
    let theirs = fixture("tickets-create.json")
        .key(&other.admin_key)
        .header("idempotency-key", "order-4521-ticket")
        .body(json!({"subject": "Lost parcel", "customer_email": "eve@example.com"}).to_string())
        .build();
    let (status, _, replayed) = call(theirs).await;
    assert_eq!((status, replayed), (201, None));
    let (status, refused, _) = call(open(&"x".repeat(256), "Lost parcel")).await;
    assert_eq!(status, 422, "{refused}");
}

/// The functions that seal secrets read the pepper and the signing key in one call, named by
/// name or by ARN as the stack passes them; a secret that is missing fails the start, named.
/// What the functions' client reads is what the SDK's reads.
#[tokio::test]
async fn secrets_read_together_match_each_read_alone() {
    let config = harness::sdk_config(&harness::emulator().endpoint).await;
    let functions = harness::aws_config(&harness::emulator().endpoint);
    let client = shared::aws::secrets_manager::SecretsManager::from_config(&functions).unwrap();
    let pepper = shared::secrets::Pepper::load(&client, harness::PEPPER_SECRET)
        .await
        .unwrap();
    let signing_key = aws_sdk_secretsmanager::Client::new(&config)
        .get_secret_value()
        .secret_id(harness::SIGNING_KEY_SECRET)
        .send()
        .await
        .unwrap();
    let signing_key_arn = signing_key.arn().unwrap();

    let [first, second] = shared::secrets::load_all(&client, [harness::PEPPER_SECRET, signing_key_arn])
        .await
        .unwrap();
    assert_eq!(first.as_bytes(), pepper.as_bytes());
    assert_eq!(Some(second.as_str()), signing_key.secret_string());
    assert_ne!(first, second);

    let missing = shared::secrets::load_all(&client, [harness::PEPPER_SECRET, "NoSuchSecret"])
        .await
        .expect_err("a missing secret");
    assert!(missing.contains("NoSuchSecret"), "{missing}");
    let missing = shared::secrets::load(&client, "NoSuchSecret")
        .await
        .expect_err("a missing secret");
    assert!(
        missing.contains("NoSuchSecret") && missing.contains("ResourceNotFoundException"),
        "{missing}"
    );
}
