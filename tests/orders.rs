//! Orders confirmed by call (seed 004), through the `orders` handler against the emulator: the
//! lifecycle, bad input, tenancy, the voice agent's reports (confirmed, cancelled, unanswered
//! until `no_answer`, racing and repeated ones) with the calls queue and the events they set
//! off, and the agent context's two lookups. One test goes end to end: over HTTP through
//! `cargo lambda watch` to a receiver that checks seed 004's bare-hex signature.

use std::time::{Duration, Instant};

use aws_sdk_sqs::types::QueueAttributeName;
use harness::{FixtureRequest, OwnQueue, fixture, items_of, new_key, new_org, read, services};
use serde_json::{Value, json};
use shared::api::orders::OrderSettings;
use shared::outbound::JobQueue;
use shared::runtime::Services;

/// A test's own delivery queue (the events it publishes) and calls queue (the jobs it queues).
struct Queues {
    events: OwnQueue,
    calls: OwnQueue,
    settings: OrderSettings,
}

async fn queues(name: &str, retry_delay_seconds: u32) -> Queues {
    let events = OwnQueue::new(&format!("orders-events-{name}")).await;
    let calls = OwnQueue::new(&format!("orders-calls-{name}")).await;
    let settings = OrderSettings {
        publisher: events.publisher(),
        calls: JobQueue {
            sqs: calls.sender.clone(),
            queue_url: calls.url.clone(),
        },
        retry_delay_seconds,
    };
    Queues {
        events,
        calls,
        settings,
    }
}

/// Messages on a queue: (visible now, delayed).
async fn queued(queue: &OwnQueue) -> (u64, u64) {
    let attributes = queue
        .sqs
        .get_queue_attributes()
        .queue_url(&queue.url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .unwrap();
    let attributes = attributes.attributes().unwrap();
    let count = |name: QueueAttributeName| attributes.get(&name).map_or(0, |v| v.parse().unwrap());
    (
        count(QueueAttributeName::ApproximateNumberOfMessages),
        count(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
    )
}

/// The events published so far, by name.
async fn events(queues: &Queues) -> Vec<(String, Value)> {
    queues
        .events
        .drain()
        .await
        .into_iter()
        .map(|message| (message["event"].as_str().unwrap().to_string(), message))
        .collect()
}

async fn call(services: &Services, queues: &Queues, request: FixtureRequest) -> (u16, Value) {
    read(shared::api::orders::handle(services, &queues.settings, request.build()).await)
}

fn create(key: &str, body: Value) -> FixtureRequest {
    fixture("orders-create.json").key(key).body(body.to_string())
}

fn on_order(key: &str, method: &str, id: &str, rest: &str) -> FixtureRequest {
    fixture("orders-get.json")
        .key(key)
        .header("content-type", "application/json")
        .method(method, &format!("/api/v1/orders/{id}{rest}"))
        .path_parameter("id", id)
}

fn report(key: &str, id: &str, body: Value) -> FixtureRequest {
    fixture("orders-report-call.json")
        .key(key)
        .method("POST", &format!("/api/v1/orders/{id}/call-attempts"))
        .path_parameter("id", id)
        .body(body.to_string())
}

fn list(key: &str, query: &[(&str, &str)]) -> FixtureRequest {
    let mut request = fixture("orders-list.json").key(key).without_query();
    for (name, value) in query {
        request = request.query(name, value);
    }
    request
}

fn order_body(external_id: &str, max_call_attempts: u32) -> Value {
    json!({
        "customerName": "Ahmed Ben Ali", "customerPhone": "+212 612-345-678",
        "customerAddress": "123 Rue Mohammed V, Casablanca", "customerCity": "Casablanca",
        "products": [{"name": "Running Shoes", "quantity": 1, "price": 499}],
        "totalAmount": 499, "currency": "MAD", "source": "shopify",
        "externalId": external_id, "maxCallAttempts": max_call_attempts
    })
}

/// Creates an order; returns its id.
async fn new_order(services: &Services, queues: &Queues, key: &str, body: Value) -> String {
    let (status, created) = call(services, queues, create(key, body)).await;
    assert_eq!(status, 201, "{created}");
    created["data"]["id"].as_str().unwrap().to_string()
}

async fn context(services: &Services, key: &str, number: &str) -> (u16, Value) {
    let request = fixture("agent-context-order.json")
        .key(key)
        .method("GET", &format!("/api/context/orders/{number}"))
        .path_parameter("order_number", number)
        .build();
    read(shared::api::agent_context::handle(services, request).await)
}

#[tokio::test]
async fn an_order_is_created_queued_listed_read_changed_and_deleted() {
    let services = services().await;
    let org = new_org(&services).await;
    let queues = queues("lifecycle", 900).await;
    let before = items_of(&services, &org.org_id).await;

    let (status, created) = call(&services, &queues, fixture("orders-create.json").key(&org.admin_key)).await;
    assert_eq!(status, 201, "{created}");
    let order = &created["data"];
    let first = order["id"].as_str().unwrap().to_string();
    assert!(first.starts_with("ord_"), "{first}");
    assert_eq!(order["status"], "pending");
    assert_eq!(order["customerName"], "Ahmed Ben Ali");
    assert_eq!(order["customerPhone"], "+212612345678");
    assert_eq!(order["externalId"], "SHOP-1234");
    assert_eq!(order["totalAmount"], json!(499), "the amount as sent");
    assert_eq!(order["currency"], "MAD");
    assert_eq!(
        order["products"],
        json!([{"name": "Running Shoes", "quantity": 1, "price": 499}])
    );
    assert_eq!(
        (order["callAttempts"].as_u64(), order["maxCallAttempts"].as_u64()),
        (Some(0), Some(3))
    );
    assert!(order["createdAt"].is_string() && order["updatedAt"].is_string());
    assert!(order.get("confirmedAt").is_none() && order.get("lastCallAt").is_none());

    // The voice agent is asked to call at once.
    let jobs = queues.calls.drain().await;
    assert_eq!(
        jobs,
        vec![json!({"org_id": org.org_id, "order_id": first, "attempt": 1})]
    );

    let second = new_order(
        &services,
        &queues,
        &org.admin_key,
        json!({"customerName": "Salma", "customerPhone": "+33612345678"}),
    )
    .await;
    let (status, page) = call(&services, &queues, list(&org.admin_key, &[])).await;
    assert_eq!(status, 200, "{page}");
    let ids: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [second.as_str(), first.as_str()], "newest first");
    assert_eq!(
        (page["has_more"].as_bool(), page["next_cursor"].is_null()),
        (Some(false), true)
    );
    let second_view = &page["data"][0];
    assert_eq!(second_view["maxCallAttempts"], 3, "the default");
    assert!(second_view.get("externalId").is_none());

    let (_, one) = call(&services, &queues, list(&org.admin_key, &[("limit", "1")])).await;
    assert_eq!(
        (one["data"][0]["id"].as_str(), one["has_more"].as_bool()),
        (Some(second.as_str()), Some(true))
    );
    let cursor = one["next_cursor"].as_str().unwrap().to_string();
    let (_, rest) = call(
        &services,
        &queues,
        list(&org.admin_key, &[("limit", "1"), ("cursor", &cursor)]),
    )
    .await;
    assert_eq!(
        (rest["data"][0]["id"].as_str(), rest["has_more"].as_bool()),
        (Some(first.as_str()), Some(false))
    );
    let (_, pending) = call(&services, &queues, list(&org.admin_key, &[("status", "pending")])).await;
    assert_eq!(pending["data"].as_array().unwrap().len(), 2);
    let (_, confirmed) = call(&services, &queues, list(&org.admin_key, &[("status", "confirmed")])).await;
    assert_eq!(confirmed["data"], json!([]));
    for (query, field) in [
        (("status", "shipped"), "status"),
        (("limit", "0"), "limit"),
        (("limit", "101"), "limit"),
        (("cursor", cursor.as_str()), "cursor"),
    ] {
        let mut with = vec![query];
        if field == "cursor" {
            // A cursor of the full list does not page the `pending` list.
            with.push(("status", "pending"));
        }
        let (status, refused) = call(&services, &queues, list(&org.admin_key, &with)).await;
        assert_eq!(
            (status, refused["error"]["details"]["field"].as_str()),
            (422, Some(field)),
            "{refused}"
        );
    }

    let (status, read_back) = call(&services, &queues, on_order(&org.admin_key, "GET", &first, "")).await;
    assert_eq!(status, 200, "{read_back}");
    assert_eq!(read_back["data"]["id"], first.as_str());
    assert_eq!(read_back["data"]["calls"], json!([]));

    let change = json!({"customerAddress": "45 Boulevard Zerktouni", "customerCity": null, "externalId": "SHOP-1235", "maxCallAttempts": 5});
    let (status, changed) = call(
        &services,
        &queues,
        on_order(&org.admin_key, "PATCH", &first, "").body(change.to_string()),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    let changed = &changed["data"];
    assert_eq!(changed["customerAddress"], "45 Boulevard Zerktouni");
    assert!(changed.get("customerCity").is_none(), "null clears it: {changed}");
    assert_eq!(
        (changed["externalId"].as_str(), changed["maxCallAttempts"].as_u64()),
        (Some("SHOP-1235"), Some(5))
    );
    assert_eq!(changed["customerName"], "Ahmed Ben Ali", "fields not sent are kept");
    let (status, _) = context(&services, &org.admin_key, "SHOP-1234").await;
    assert_eq!(status, 404, "the old externalId no longer finds the order");
    let (status, found) = context(&services, &org.admin_key, "SHOP-1235").await;
    assert_eq!(
        (status, found["callOrder"]["id"].as_str()),
        (200, Some(first.as_str())),
        "{found}"
    );

    // An externalId is one order's: another order cannot take it, on creation or by a change.
    let (status, taken) = call(&services, &queues, create(&org.admin_key, order_body("SHOP-1235", 3))).await;
    assert_eq!(
        (status, taken["error"]["code"].as_str()),
        (409, Some("CONFLICT")),
        "{taken}"
    );
    let (status, taken) = call(
        &services,
        &queues,
        on_order(&org.admin_key, "PATCH", &second, "").body(json!({"externalId": "SHOP-1235"}).to_string()),
    )
    .await;
    assert_eq!(status, 409, "{taken}");

    for id in [&first, &second] {
        let (status, deleted) = call(&services, &queues, on_order(&org.admin_key, "DELETE", id, "")).await;
        assert_eq!(status, 200, "{deleted}");
        assert_eq!(deleted["data"], json!({"id": id, "deleted": true}));
        let (status, _) = call(&services, &queues, on_order(&org.admin_key, "GET", id, "")).await;
        assert_eq!(status, 404);
        let (status, _) = call(&services, &queues, on_order(&org.admin_key, "DELETE", id, "")).await;
        assert_eq!(status, 404);
    }
    assert_eq!(items_of(&services, &org.org_id).await, before, "nothing is left behind");
    // The voice agent's job for a deleted order leads nowhere: its report is 404.
    let (status, _) = call(
        &services,
        &queues,
        report(&org.admin_key, &first, json!({"outcome": "confirmed"})),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field_and_nothing_is_written() {
    let services = services().await;
    let org = new_org(&services).await;
    let queues = queues("bad-input", 900).await;
    let before = items_of(&services, &org.org_id).await;
    let with = |change: Value| {
        let mut body = order_body("SHOP-1", 3);
        for (name, value) in change.as_object().unwrap() {
            body[name] = value.clone();
        }
        body
    };
    let mut without_name = order_body("SHOP-1", 3);
    without_name.as_object_mut().unwrap().remove("customerName");
    let cases = [
        (without_name, "customerName"),
        (with(json!({"customerName": "  "})), "customerName"),
        (with(json!({"customerName": "Ahmed\u{0}"})), "customerName"),
        (with(json!({"customerPhone": "0612345678"})), "customerPhone"),
        (with(json!({"customerPhone": "+21261234567890123"})), "customerPhone"),
        (
            with(json!({"products": [{"name": "Shoes", "quantity": 0, "price": 1}]})),
            "products[0].quantity",
        ),
        (
            with(json!({"products": [{"name": "Shoes", "quantity": -1, "price": 1}]})),
            "products[0].quantity",
        ),
        (
            with(json!({"products": [{"name": "Shoes", "quantity": 1, "price": -1}]})),
            "products[0].price",
        ),
        (
            with(json!({"products": [{"name": "Shoes", "quantity": 1}]})),
            "products[0].price",
        ),
        (with(json!({"totalAmount": -5})), "totalAmount"),
        (with(json!({"totalAmount": "499"})), "totalAmount"),
        (with(json!({"currency": "mad"})), "currency"),
        (with(json!({"currency": "MADS"})), "currency"),
        (with(json!({"maxCallAttempts": 0})), "maxCallAttempts"),
        (with(json!({"maxCallAttempts": 11})), "maxCallAttempts"),
        (with(json!({"externalId": "x".repeat(257)})), "externalId"),
        (with(json!({"customerCity": "c".repeat(101)})), "customerCity"),
        (with(json!({"status": "confirmed"})), "status"),
    ];
    for (body, field) in cases {
        let (status, refused) = call(&services, &queues, create(&org.admin_key, body.clone())).await;
        assert_eq!(status, 422, "{body}: {refused}");
        assert_eq!(refused["error"]["code"], "INVALID_INPUT");
        assert_eq!(refused["error"]["details"]["field"], field, "{body}: {refused}");
    }
    let huge = with(json!({"customerAddress": "a".repeat(200 * 1024)}));
    let (status, refused) = call(&services, &queues, create(&org.admin_key, huge)).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (413, Some("PAYLOAD_TOO_LARGE"))
    );
    let (status, _) = call(&services, &queues, create(&org.admin_key, json!([1]))).await;
    assert_eq!(status, 422);
    let (status, _) = call(
        &services,
        &queues,
        fixture("orders-create.json").key(&org.admin_key).body("{"),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(items_of(&services, &org.org_id).await, before, "nothing was written");
    assert_eq!(queued(&queues.calls).await, (0, 0), "and nothing queued");

    let id = new_order(&services, &queues, &org.admin_key, order_body("SHOP-2", 2)).await;
    for (body, field) in [
        (json!({}), "body"),
        (json!({"customerName": null}), "customerName"),
        (json!({"customerPhone": "12"}), "customerPhone"),
        (json!({"maxCallAttempts": null}), "maxCallAttempts"),
        (json!({"status": "confirmed"}), "status"),
    ] {
        let (status, refused) = call(
            &services,
            &queues,
            on_order(&org.admin_key, "PATCH", &id, "").body(body.to_string()),
        )
        .await;
        assert_eq!(
            (status, refused["error"]["details"]["field"].as_str()),
            (422, Some(field)),
            "{body}: {refused}"
        );
    }
    for (body, field) in [
        (json!({"outcome": "maybe"}), "outcome"),
        (json!({}), "outcome"),
        (json!({"outcome": "busy", "attemptId": ""}), "attemptId"),
        (json!({"outcome": "busy", "attemptId": "a b"}), "attemptId"),
        (json!({"outcome": "cancelled", "reason": "r".repeat(501)}), "reason"),
        (json!({"outcome": "busy", "durationSeconds": 86401}), "durationSeconds"),
    ] {
        let (status, refused) = call(&services, &queues, report(&org.admin_key, &id, body.clone())).await;
        assert_eq!(
            (status, refused["error"]["details"]["field"].as_str()),
            (422, Some(field)),
            "{body}: {refused}"
        );
    }
    let (_, read_back) = call(&services, &queues, on_order(&org.admin_key, "GET", &id, "")).await;
    assert_eq!(
        (
            read_back["data"]["callAttempts"].as_u64(),
            read_back["data"]["calls"].as_array().map(Vec::len)
        ),
        (Some(0), Some(0))
    );
    let (status, _) = call(&services, &queues, on_order(&org.admin_key, "GET", "ord_UNKNOWN", "")).await;
    assert_eq!(status, 404);
    let (status, _) = call(&services, &queues, on_order(&org.admin_key, "GET", "tkt_1", "")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn another_organization_gets_404_and_scopes_are_enforced() {
    let services = services().await;
    let (org, other) = (new_org(&services).await, new_org(&services).await);
    let queues = queues("tenancy", 900).await;
    let id = new_order(&services, &queues, &org.admin_key, order_body("SHOP-9", 3)).await;
    for request in [
        on_order(&other.admin_key, "GET", &id, ""),
        on_order(&other.admin_key, "PATCH", &id, "").body(json!({"customerName": "X"}).to_string()),
        on_order(&other.admin_key, "DELETE", &id, ""),
        report(&other.admin_key, &id, json!({"outcome": "confirmed"})),
    ] {
        let (status, refused) = call(&services, &queues, request).await;
        assert_eq!(
            (status, refused["error"]["code"].as_str()),
            (404, Some("NOT_FOUND")),
            "{refused}"
        );
    }
    let (_, listed) = call(&services, &queues, list(&other.admin_key, &[])).await;
    assert_eq!(listed["data"], json!([]));
    assert_eq!(context(&services, &other.admin_key, "SHOP-9").await.0, 404);
    assert_eq!(context(&services, &other.admin_key, &id).await.0, 404);

    // The voice agent's key reports calls, and does nothing else.
    let voice = new_key(&services, &org, &["orders:report"], 600).await;
    let (status, refused) = call(&services, &queues, create(&voice, order_body("SHOP-10", 3))).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (403, Some("INSUFFICIENT_SCOPE"))
    );
    let reader = new_key(&services, &org, &["orders:read"], 600).await;
    assert_eq!(call(&services, &queues, on_order(&reader, "GET", &id, "")).await.0, 200);
    assert_eq!(
        call(&services, &queues, on_order(&reader, "DELETE", &id, "")).await.0,
        403
    );
    assert_eq!(
        call(
            &services,
            &queues,
            report(&reader, &id, json!({"outcome": "confirmed"}))
        )
        .await
        .0,
        403
    );
    assert_eq!(
        call(&services, &queues, report(&voice, &id, json!({"outcome": "confirmed"})))
            .await
            .0,
        201
    );
}

#[tokio::test]
async fn a_confirmed_call_confirms_the_order_and_publishes_order_confirmed() {
    let services = services().await;
    let org = new_org(&services).await;
    harness::subscribe(
        &services,
        &org,
        &["order.confirmed", "order.cancelled", "order.no_answer"],
    )
    .await;
    let queues = queues("confirmed", 900).await;
    let voice = new_key(&services, &org, &["orders:report"], 600).await;
    let id = new_order(&services, &queues, &org.admin_key, order_body("SHOP-1234", 3)).await;

    let (status, first) = call(
        &services,
        &queues,
        report(&voice, &id, json!({"outcome": "no_answer", "attemptId": "c1"})),
    )
    .await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(
        (first["data"]["status"].as_str(), first["data"]["callAttempts"].as_u64()),
        (Some("pending"), Some(1))
    );
    let (status, second) = call(
        &services,
        &queues,
        report(
            &voice,
            &id,
            json!({"outcome": "confirmed", "attemptId": "c2", "durationSeconds": 42}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{second}");
    let order = &second["data"];
    assert_eq!(
        (order["status"].as_str(), order["callAttempts"].as_u64()),
        (Some("confirmed"), Some(2))
    );
    let confirmed_at = order["confirmedAt"].as_str().unwrap().to_string();
    assert_eq!(order["lastCallAt"], confirmed_at.as_str());
    assert_eq!(second["attempt"]["attempt"], 2);
    assert_eq!(second["duplicate"], false);

    let (_, read_back) = call(&services, &queues, on_order(&org.admin_key, "GET", &id, "")).await;
    let calls = read_back["data"]["calls"].as_array().unwrap();
    let outcomes: Vec<(u64, &str, &str)> = calls
        .iter()
        .map(|c| {
            (
                c["attempt"].as_u64().unwrap(),
                c["outcome"].as_str().unwrap(),
                c["attemptId"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(outcomes, [(1, "no_answer", "c1"), (2, "confirmed", "c2")]);
    assert_eq!(calls[1]["durationSeconds"], 42);
    assert!(calls[1].get("followedUp").is_none(), "internal: {}", calls[1]);

    let published = events(&queues).await;
    assert_eq!(published.len(), 1, "{published:?}");
    let (event, message) = &published[0];
    assert_eq!(event, "order.confirmed");
    // Seed 004's payload.
    let data = &message["data"]["order"];
    assert_eq!(data["id"], id.as_str());
    assert_eq!(data["externalId"], "SHOP-1234");
    assert_eq!(data["customerName"], "Ahmed Ben Ali");
    assert_eq!(data["status"], "confirmed");
    assert_eq!(data["totalAmount"], json!(499));
    assert_eq!(data["currency"], "MAD");
    assert_eq!(data["callAttempts"], 2);
    assert_eq!(data["confirmedAt"], confirmed_at.as_str());

    let (status, refused) = call(&services, &queues, report(&voice, &id, json!({"outcome": "cancelled"}))).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (409, Some("CONFLICT")),
        "{refused}"
    );
    let change = on_order(&org.admin_key, "PATCH", &id, "").body(json!({"customerName": "Late"}).to_string());
    assert_eq!(
        call(&services, &queues, change).await.0,
        409,
        "a confirmed order no longer changes"
    );
    let (_, listed) = call(&services, &queues, list(&org.admin_key, &[("status", "confirmed")])).await;
    assert_eq!(listed["data"][0]["id"], id.as_str(), "the status index moved with it");
    let (_, pending) = call(&services, &queues, list(&org.admin_key, &[("status", "pending")])).await;
    assert_eq!(pending["data"], json!([]));
}

#[tokio::test]
async fn a_cancelled_call_cancels_the_order_with_its_reason() {
    let services = services().await;
    let org = new_org(&services).await;
    harness::subscribe(&services, &org, &["order.cancelled"]).await;
    let queues = queues("cancelled", 900).await;
    let id = new_order(&services, &queues, &org.admin_key, order_body("SHOP-77", 3)).await;
    let (status, reported) = call(
        &services,
        &queues,
        report(
            &org.admin_key,
            &id,
            json!({"outcome": "cancelled", "reason": "Ordered by mistake"}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{reported}");
    let order = &reported["data"];
    assert_eq!(order["status"], "cancelled");
    assert_eq!(order["cancellationReason"], "Ordered by mistake");
    assert!(order["cancelledAt"].is_string() && order.get("confirmedAt").is_none());
    let published = events(&queues).await;
    assert_eq!(published.len(), 1, "{published:?}");
    assert_eq!(published[0].0, "order.cancelled");
    let data = &published[0].1["data"]["order"];
    assert_eq!(
        (data["status"].as_str(), data["callAttempts"].as_u64()),
        (Some("cancelled"), Some(1))
    );
    assert_eq!(data["cancellationReason"], "Ordered by mistake");
    assert_eq!(queued(&queues.calls).await, (1, 0), "only the first call was queued");
}

#[tokio::test]
async fn unanswered_calls_are_queued_again_with_the_delay_until_the_order_is_no_answer() {
    let services = services().await;
    let org = new_org(&services).await;
    harness::subscribe(&services, &org, &["order.no_answer"]).await;
    let queues = queues("no-answer", 900).await;
    let id = new_order(&services, &queues, &org.admin_key, order_body("SHOP-3", 3)).await;
    assert_eq!(queues.calls.drain().await[0]["attempt"], 1);

    for (n, outcome) in [(1, "busy"), (2, "voicemail")] {
        let (status, reported) = call(
            &services,
            &queues,
            report(&org.admin_key, &id, json!({"outcome": outcome})),
        )
        .await;
        assert_eq!(status, 201, "{reported}");
        assert_eq!(
            (
                reported["data"]["status"].as_str(),
                reported["data"]["callAttempts"].as_u64()
            ),
            (Some("pending"), Some(n))
        );
        // The next call is queued, not yet visible to the voice agent: it waits out the delay.
        assert_eq!(queued(&queues.calls).await, (0, n), "after call {n}");
    }
    assert!(
        events(&queues).await.is_empty(),
        "nothing is published while calls go on"
    );
    // Two calls made: a limit of two is no longer a valid state for this order, however valid
    // the request (a conflict with the order, not bad input).
    let lower = on_order(&org.admin_key, "PATCH", &id, "").body(json!({"maxCallAttempts": 2}).to_string());
    let (status, refused) = call(&services, &queues, lower).await;
    assert_eq!(
        (
            status,
            refused["error"]["code"].as_str(),
            refused["error"]["details"]["field"].as_str()
        ),
        (409, Some("CONFLICT"), Some("maxCallAttempts")),
        "{refused}"
    );

    let (status, last) = call(
        &services,
        &queues,
        report(&org.admin_key, &id, json!({"outcome": "failed"})),
    )
    .await;
    assert_eq!(status, 201, "{last}");
    let order = &last["data"];
    assert_eq!(
        (order["status"].as_str(), order["callAttempts"].as_u64()),
        (Some("no_answer"), Some(3))
    );
    assert_eq!(queued(&queues.calls).await, (0, 2), "no call after the last one");
    let outcomes: Vec<&str> = order["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["busy", "voicemail", "failed"]);

    let published = events(&queues).await;
    assert_eq!(published.len(), 1, "{published:?}");
    assert_eq!(published[0].0, "order.no_answer");
    let data = &published[0].1["data"]["order"];
    assert_eq!(
        (data["status"].as_str(), data["callAttempts"].as_u64()),
        (Some("no_answer"), Some(3))
    );
    assert_eq!(data["externalId"], "SHOP-3");
    assert!(data.get("confirmedAt").is_none());

    let (status, _) = call(
        &services,
        &queues,
        report(&org.admin_key, &id, json!({"outcome": "confirmed"})),
    )
    .await;
    assert_eq!(status, 409, "a no_answer order takes no more calls");
    let (_, listed) = call(&services, &queues, list(&org.admin_key, &[("status", "no_answer")])).await;
    assert_eq!(listed["data"][0]["id"], id.as_str());
}

#[tokio::test]
async fn a_repeated_attempt_id_counts_once() {
    let services = services().await;
    let org = new_org(&services).await;
    let queues = queues("repeated", 0).await;
    let id = new_order(&services, &queues, &org.admin_key, order_body("SHOP-4", 3)).await;
    let body = json!({"outcome": "no_answer", "attemptId": "call-1"});
    let (status, first) = call(&services, &queues, report(&org.admin_key, &id, body.clone())).await;
    assert_eq!((status, first["duplicate"].as_bool()), (201, Some(false)), "{first}");
    let (status, again) = call(&services, &queues, report(&org.admin_key, &id, body)).await;
    assert_eq!((status, again["duplicate"].as_bool()), (200, Some(true)), "{again}");
    assert_eq!(again["attempt"], first["attempt"]);
    assert_eq!(again["data"]["callAttempts"], 1);
    assert_eq!(again["data"]["calls"].as_array().unwrap().len(), 1);
    let (status, _) = call(
        &services,
        &queues,
        report(
            &org.admin_key,
            &id,
            json!({"outcome": "confirmed", "attemptId": "call-1"}),
        ),
    )
    .await;
    assert_eq!(status, 409, "the same attemptId with another outcome");

    // One job for the first call, one for the second: the repeat queued nothing.
    let jobs = queues.calls.drain().await;
    let mut attempts: Vec<u64> = jobs.iter().map(|job| job["attempt"].as_u64().unwrap()).collect();
    attempts.sort();
    assert_eq!(attempts, [1, 2], "{jobs:?}");
    assert!(
        jobs.iter()
            .all(|job| job["order_id"] == id.as_str() && job["org_id"] == org.org_id.as_str())
    );
}

#[tokio::test]
async fn racing_reports_make_one_transition() {
    let services = services().await;
    let org = new_org(&services).await;
    harness::subscribe(&services, &org, &["order.confirmed", "order.cancelled"]).await;
    let queues = queues("racing", 0).await;
    let id = new_order(&services, &queues, &org.admin_key, order_body("SHOP-5", 3)).await;
    let (a, b) = tokio::join!(
        call(
            &services,
            &queues,
            report(&org.admin_key, &id, json!({"outcome": "confirmed", "attemptId": "a"}))
        ),
        call(
            &services,
            &queues,
            report(&org.admin_key, &id, json!({"outcome": "cancelled", "attemptId": "b"}))
        ),
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [201, 409], "{} {}", a.1, b.1);
    let (_, read_back) = call(&services, &queues, on_order(&org.admin_key, "GET", &id, "")).await;
    let order = &read_back["data"];
    assert_eq!(order["callAttempts"], 1);
    assert_eq!(order["calls"].as_array().unwrap().len(), 1);
    let winner = if a.0 == 201 { "confirmed" } else { "cancelled" };
    assert_eq!(order["status"], winner);
    let published = events(&queues).await;
    assert_eq!(published.len(), 1, "{published:?}");
    assert_eq!(published[0].0, format!("order.{winner}"));

    // The same report sent twice at once is recorded once.
    let other = new_order(&services, &queues, &org.admin_key, order_body("SHOP-6", 3)).await;
    let body = json!({"outcome": "busy", "attemptId": "same"});
    let (a, b) = tokio::join!(
        call(&services, &queues, report(&org.admin_key, &other, body.clone())),
        call(&services, &queues, report(&org.admin_key, &other, body.clone())),
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 201], "{} {}", a.1, b.1);
    let (_, read_back) = call(&services, &queues, on_order(&org.admin_key, "GET", &other, "")).await;
    assert_eq!(read_back["data"]["callAttempts"], 1);
}

#[tokio::test]
async fn the_agent_context_finds_a_call_order_by_external_id_and_by_its_id() {
    let services = services().await;
    let org = new_org(&services).await;
    let queues = queues("context", 900).await;
    // The merchant also sent order 4521 through /api/webhook.
    let ingest = fixture("ingest-order.json").key(&org.admin_key).build();
    let (status, _) = read(shared::api::ingest::handle(&services, &harness::publisher().await, ingest).await);
    assert_eq!(status, 200);
    let id = new_order(&services, &queues, &org.admin_key, order_body("4521", 3)).await;

    let (status, by_number) = context(&services, &org.admin_key, "4521").await;
    assert_eq!(status, 200, "{by_number}");
    assert_eq!(
        by_number["order"]["data"]["tracking_number"], "DE-2026-4521-89",
        "the ingested order"
    );
    assert_eq!(by_number["callOrder"]["id"], id.as_str());
    assert_eq!(by_number["callOrder"]["status"], "pending");

    let (status, _) = call(
        &services,
        &queues,
        report(&org.admin_key, &id, json!({"outcome": "confirmed"})),
    )
    .await;
    assert_eq!(status, 201);
    let (_, by_number) = context(&services, &org.admin_key, "4521").await;
    let confirmation = &by_number["callOrder"];
    assert_eq!(
        (confirmation["status"].as_str(), confirmation["callAttempts"].as_u64()),
        (Some("confirmed"), Some(1))
    );
    assert!(confirmation["confirmedAt"].is_string());
    assert_eq!(confirmation["calls"][0]["outcome"], "confirmed");

    let (status, by_id) = context(&services, &org.admin_key, &id).await;
    assert_eq!(status, 200, "{by_id}");
    assert_eq!(by_id["orderNumber"], id.as_str());
    assert_eq!(by_id["order"], Value::Null, "nothing was ingested under the ord_ id");
    assert_eq!(by_id["callOrder"]["externalId"], "4521");
    assert_eq!(by_id["callOrder"]["status"], "confirmed");

    // An order without externalId is found by its id alone.
    let bare = new_order(
        &services,
        &queues,
        &org.admin_key,
        json!({"customerName": "Salma", "customerPhone": "+33612345678"}),
    )
    .await;
    let (status, found) = context(&services, &org.admin_key, &bare).await;
    assert_eq!((status, found["callOrder"]["id"].as_str()), (200, Some(bare.as_str())));

    let (status, _) = call(&services, &queues, on_order(&org.admin_key, "DELETE", &id, "")).await;
    assert_eq!(status, 200);
    assert_eq!(context(&services, &org.admin_key, &id).await.0, 404);
    let (status, by_number) = context(&services, &org.admin_key, "4521").await;
    assert_eq!(status, 200);
    assert_eq!(by_number["callOrder"], Value::Null);
    assert_eq!(by_number["order"]["data"]["order_number"], "4521");
}

// End to end: HTTP through `cargo lambda watch`, the delivery poller and a real receiver.

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(240))
        .build()
        .unwrap()
}

async fn http(
    stack: &harness::LocalStack,
    key: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = client()
        .request(method, format!("{}{path}", stack.base))
        .header("x-api-key", key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The calls queue's messages, left on it (peeked, not taken).
async fn calls_queue_counts() -> (u64, u64) {
    let emulator = harness::emulator();
    let config = harness::sdk_config(&emulator.endpoint).await;
    let queue = OwnQueue {
        sqs: aws_sdk_sqs::Client::new(&config),
        sender: harness::queue_sender(),
        url: emulator.queue_urls[harness::CALLS_QUEUE].clone(),
    };
    queued(&queue).await
}

#[tokio::test]
async fn an_order_left_unanswered_reaches_a_hex_receiver_as_order_no_answer() {
    let root = harness::repo_root();
    let port = harness::free_port();
    let receiver_process = harness::spawn_tied_to_this_process(
        &format!(
            "exec {} {} {port}",
            root.join(".venv/bin/python").display(),
            root.join("tests/receiver.py").display()
        ),
        &[],
        &root.join(format!("target/test-logs/receiver-{port}.log")),
    );
    harness::wait_for_port(port, Duration::from_secs(30));
    let receiver = format!("http://127.0.0.1:{port}");
    let stack = harness::LocalStack::start(&[("ENDPOINT_CACHE_SECONDS", "0".to_string())], true).await;
    let key = stack.admin_key.clone();

    // Seed 004's receiver: its secret, bare hex in x-confirmai-signature.
    let secret = "whsec_b3JkZXJzLWUyZS1zZWVkLTAwNC1yZWNlaXZlcg";
    let configured = client()
        .post(format!("{receiver}/_configure"))
        .json(&json!({"path": "/orders", "statuses": [200], "secrets": [secret]}))
        .send()
        .await
        .unwrap();
    assert!(configured.status().is_success());
    let endpoint = json!({"name": "Seed 004 receiver", "url": format!("{receiver}/orders"),
        "events": ["order.no_answer"], "secret": secret, "signature_style": "hex"});
    let (status, created) = http(&stack, &key, reqwest::Method::POST, "/api/v1/webhooks", Some(endpoint)).await;
    assert_eq!(status, 201, "{created}");

    let (status, created) = http(
        &stack,
        &key,
        reqwest::Method::POST,
        "/api/v1/orders",
        Some(order_body("SHOP-E2E", 2)),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["data"]["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/orders/{id}/call-attempts");
    let (visible, delayed) = calls_queue_counts().await;
    assert_eq!((visible, delayed), (1, 0), "the first call is queued at once");

    let (status, first) = http(
        &stack,
        &key,
        reqwest::Method::POST,
        &path,
        Some(json!({"outcome": "no_answer", "attemptId": "e2e-1"})),
    )
    .await;
    assert_eq!(
        (status, first["data"]["status"].as_str()),
        (201, Some("pending")),
        "{first}"
    );
    assert_eq!(
        calls_queue_counts().await,
        (1, 1),
        "the second call waits out the delay"
    );
    let (status, second) = http(
        &stack,
        &key,
        reqwest::Method::POST,
        &path,
        Some(json!({"outcome": "busy", "attemptId": "e2e-2"})),
    )
    .await;
    assert_eq!(
        (status, second["data"]["status"].as_str()),
        (201, Some("no_answer")),
        "{second}"
    );

    let deadline = Instant::now() + Duration::from_secs(120);
    let arrived = loop {
        let seen: Vec<Value> = client()
            .get(format!("{receiver}/_seen?path=/orders"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if !seen.is_empty() {
            break seen;
        }
        assert!(Instant::now() < deadline, "order.no_answer never reached the receiver");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(arrived.len(), 1, "{arrived:?}");
    let delivery = &arrived[0];
    // The receiver recomputed seed 004's recipe (hex HMAC-SHA256 of the raw body under the
    // secret) and compared it in constant time with x-confirmai-signature.
    assert_eq!(delivery["verified"]["hex"], json!([secret]), "{delivery}");
    assert_eq!(delivery["body"]["event"], "order.no_answer");
    let order = &delivery["body"]["data"]["order"];
    assert_eq!(order["id"], id.as_str());
    assert_eq!(order["externalId"], "SHOP-E2E");
    assert_eq!(order["status"], "no_answer");
    assert_eq!(order["callAttempts"], 2);
    assert_eq!(order["totalAmount"], json!(499));
    assert_eq!(order["currency"], "MAD");
    drop(receiver_process);
}
