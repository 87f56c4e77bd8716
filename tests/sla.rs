//! SLA policies and breaches against the emulator: policies through the `sla-policies` handler,
//! tickets taking their targets when opened and re-prioritised, and the `sla-breaches` job
//! publishing each breach once, run at instants chosen on an injected clock.

use std::sync::Arc;

use harness::{FixtureRequest, OwnQueue, fixture, new_key, new_org, read, services_with_clock};
use serde_json::{Value, json};
use shared::clock::{FixedClock, rfc3339};
use shared::outbound::Publisher;
use shared::runtime::Services;
use shared::worker::sla_breaches;
use time::{Duration, OffsetDateTime};

async fn policies(services: &Services, request: FixtureRequest) -> (u16, Value) {
    read(shared::api::sla_policies::handle(services, request.build()).await)
}

async fn tickets(services: &Services, publisher: &Publisher, request: FixtureRequest) -> (u16, Value) {
    read(shared::api::tickets::handle(services, publisher, &harness::reply_queue().await, request.build()).await)
}

fn on_policy(key: &str, method: &str, id: &str) -> FixtureRequest {
    fixture("sla-policies-create.json")
        .key(key)
        .method(method, &format!("/api/v1/sla-policies/{id}"))
        .path_parameter("id", id)
}

fn on_ticket(key: &str, method: &str, id: &str, rest: &str) -> FixtureRequest {
    fixture("tickets-create.json")
        .key(key)
        .method(method, &format!("/api/v1/tickets/{id}{rest}"))
        .path_parameter("id", id)
}

/// The `sla.breached` events of `org_id` queued so far, as (ticket id, metric).
async fn breaches(queue: &OwnQueue, org_id: &str) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = queue
        .drain()
        .await
        .into_iter()
        .filter(|m| m["org_id"] == org_id && m["event"] == "sla.breached")
        .map(|m| {
            (
                m["data"]["ticketId"].as_str().unwrap().to_string(),
                m["data"]["metric"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    found.sort();
    found
}

#[tokio::test]
async fn policies_are_created_listed_replaced_and_deleted_and_bad_ones_refused() {
    let services = services_with_clock(Arc::new(FixedClock(OffsetDateTime::now_utc()))).await;
    let org = new_org(&services).await;
    let (status, created) = policies(&services, fixture("sla-policies-create.json").key(&org.admin_key)).await;
    assert_eq!(status, 201, "{created}");
    let id = created["policy"]["id"].as_str().unwrap().to_string();
    assert_eq!(created["policy"]["targets"]["urgent"]["first_response_minutes"], 15);

    let email_only = json!({"name": "Email VIP", "position": 0, "channels": ["email"],
        "targets": {"urgent": {"first_response_minutes": 5}}});
    let (status, second) = policies(
        &services,
        fixture("sla-policies-create.json")
            .key(&org.admin_key)
            .body(email_only.to_string()),
    )
    .await;
    assert_eq!(status, 201, "{second}");
    let listing = fixture("sla-policies-create.json")
        .key(&org.admin_key)
        .method("GET", "/api/v1/sla-policies");
    let (status, listed) = policies(&services, listing).await;
    assert_eq!(status, 200, "{listed}");
    let names: Vec<&str> = listed["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Standard", "Email VIP"], "by position, then age");

    let replacement = json!({"name": "Standard", "position": 5, "targets": {"normal": {"resolution_minutes": 60}}});
    let (status, replaced) = policies(
        &services,
        on_policy(&org.admin_key, "PUT", &id).body(replacement.to_string()),
    )
    .await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["policy"]["created_at"], created["policy"]["created_at"]);
    assert_eq!(replaced["policy"]["targets"]["urgent"], Value::Null);

    for bad in [
        json!({"name": "", "targets": {"urgent": {"first_response_minutes": 5}}}),
        json!({"name": "x", "targets": {}}),
        json!({"name": "x", "targets": {"urgent": {}}}),
        json!({"name": "x", "targets": {"urgent": {"first_response_minutes": 0}}}),
        json!({"name": "x", "targets": {"critical": {"first_response_minutes": 5}}}),
        json!({"name": "x", "channels": ["email", "email"], "targets": {"urgent": {"first_response_minutes": 5}}}),
        json!({"name": "x", "channels": ["fax"], "targets": {"urgent": {"first_response_minutes": 5}}}),
    ] {
        let (status, refused) = policies(
            &services,
            fixture("sla-policies-create.json")
                .key(&org.admin_key)
                .body(bad.to_string()),
        )
        .await;
        assert_eq!(
            (status, refused["error"]["code"].as_str()),
            (422, Some("INVALID_INPUT")),
            "{bad}: {refused}"
        );
    }

    // Reading takes `tickets:read`; changing takes `sla:manage`.
    let reader = new_key(&services, &org, &["tickets:read"], 100).await;
    let (status, _) = policies(&services, on_policy(&reader, "GET", &id)).await;
    assert_eq!(status, 200);
    let (status, refused) = policies(&services, on_policy(&reader, "DELETE", &id)).await;
    assert_eq!(status, 403, "{refused}");

    let other = new_org(&services).await;
    let (status, _) = policies(&services, on_policy(&other.admin_key, "GET", &id)).await;
    assert_eq!(status, 404, "another organization's policy is not found");

    let (status, deleted) = policies(&services, on_policy(&org.admin_key, "DELETE", &id)).await;
    assert_eq!(status, 200, "{deleted}");
    let (status, gone) = policies(&services, on_policy(&org.admin_key, "DELETE", &id)).await;
    assert_eq!((status, gone["error"]["code"].as_str()), (404, Some("NOT_FOUND")));
}

/// Every scenario of the job is in this one test: a run reads every organization's due
/// targets, so two tests running the job at once would take each other's breaches.
/// An organization holds at most 50 policies: the 51st, valid as it is, conflicts with what is
/// there (409) and is not stored; deleting one makes room.
#[tokio::test]
async fn the_fifty_first_policy_conflicts_and_is_not_stored() {
    let services = services_with_clock(Arc::new(FixedClock(OffsetDateTime::now_utc()))).await;
    let org = new_org(&services).await;
    let create = || fixture("sla-policies-create.json").key(&org.admin_key);
    let mut first = String::new();
    for i in 0..50 {
        let (status, created) = policies(&services, create()).await;
        assert_eq!(status, 201, "policy {i}: {created}");
        if i == 0 {
            first = created["policy"]["id"].as_str().unwrap().to_string();
        }
    }
    let (status, refused) = policies(&services, create()).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (409, Some("CONFLICT")),
        "{refused}"
    );
    let listing = create().method("GET", "/api/v1/sla-policies");
    let (_, listed) = policies(&services, listing).await;
    assert_eq!(listed["policies"].as_array().map(Vec::len), Some(50), "nothing stored");
    let (status, _) = policies(&services, on_policy(&org.admin_key, "DELETE", &first)).await;
    assert_eq!(status, 200);
    assert_eq!(policies(&services, create()).await.0, 201, "room again");
}

#[tokio::test]
async fn each_target_breached_unmet_is_published_once_even_by_overlapping_runs() {
    let opened = OffsetDateTime::now_utc();
    let at = |minutes: i64| opened + Duration::minutes(minutes);
    let services = services_with_clock(Arc::new(FixedClock(opened))).await;
    let org = new_org(&services).await;
    harness::subscribe(&services, &org, &["sla.breached"]).await;
    let queue = OwnQueue::new("sla-breaches").await;
    let publisher = queue.publisher();
    // urgent: first response 15 min, resolution 240; low: first response 1440 min.
    let (status, _) = policies(&services, fixture("sla-policies-create.json").key(&org.admin_key)).await;
    assert_eq!(status, 201);

    let open = |priority: &str| {
        let body = json!({"subject": format!("{priority} matter"), "priority": priority,
            "customer_email": "max@example.com"});
        fixture("tickets-create.json")
            .key(&org.admin_key)
            .body(body.to_string())
    };
    let (_, urgent) = tickets(&services, &publisher, open("urgent")).await;
    let urgent_id = urgent["ticket"]["id"].as_str().unwrap().to_string();
    assert_eq!(urgent["ticket"]["sla"]["first_response_due_at"], json!(rfc3339(at(15))));
    assert_eq!(urgent["ticket"]["sla"]["resolution_due_at"], json!(rfc3339(at(240))));

    // A low ticket made urgent takes urgent targets, counted from its opening.
    let (_, raised) = tickets(&services, &publisher, open("low")).await;
    let raised_id = raised["ticket"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        raised["ticket"]["sla"]["first_response_due_at"],
        json!(rfc3339(at(1440)))
    );
    let (status, changed) = tickets(
        &services,
        &publisher,
        on_ticket(&org.admin_key, "PATCH", &raised_id, "").body(json!({"priority": "urgent"}).to_string()),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(
        changed["ticket"]["sla"]["first_response_due_at"],
        json!(rfc3339(at(15)))
    );

    // Answered in time, then solved: neither target is breached.
    let (_, answered) = tickets(&services, &publisher, open("urgent")).await;
    let answered_id = answered["ticket"]["id"].as_str().unwrap().to_string();
    let reply = json!({"author": {"type": "agent", "name": "Ana"}, "content_text": "On it."});
    let (status, _) = tickets(
        &services,
        &publisher,
        on_ticket(&org.admin_key, "POST", &answered_id, "/conversations").body(reply.to_string()),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = tickets(
        &services,
        &publisher,
        on_ticket(&org.admin_key, "PATCH", &answered_id, "").body(json!({"status": "solved"}).to_string()),
    )
    .await;
    assert_eq!(status, 200);
    queue.drain().await;

    sla_breaches::run(&services.store, &publisher, at(14)).await;
    assert_eq!(breaches(&queue, &org.org_id).await, [], "nothing is due yet");

    // Two runs at once: each breach is recorded and published by one of them.
    let store = &services.store;
    let (first, second) = tokio::join!(
        sla_breaches::run(store, &publisher, at(16)),
        sla_breaches::run(store, &publisher, at(16))
    );
    assert_eq!(first.breached + second.breached, 2, "{first:?} {second:?}");
    assert_eq!(first.failed + second.failed, 0, "{first:?} {second:?}");
    let mut expected = vec![
        (urgent_id.clone(), "first_response".to_string()),
        (raised_id.clone(), "first_response".to_string()),
    ];
    expected.sort();
    assert_eq!(breaches(&queue, &org.org_id).await, expected);
    let (_, ticket) = tickets(&services, &publisher, on_ticket(&org.admin_key, "GET", &urgent_id, "")).await;
    assert_eq!(
        ticket["ticket"]["sla"]["first_response_breached_at"],
        json!(rfc3339(at(16)))
    );
    assert_eq!(ticket["ticket"]["sla"]["resolution_breached_at"], Value::Null);

    sla_breaches::run(store, &publisher, at(17)).await;
    assert_eq!(breaches(&queue, &org.org_id).await, [], "a breach is published once");

    // Long after the resolution targets, as after downtime: caught up in one run, only the
    // other target, only for the unsolved tickets.
    sla_breaches::run(store, &publisher, at(600)).await;
    let mut expected = vec![
        (urgent_id.clone(), "resolution".to_string()),
        (raised_id.clone(), "resolution".to_string()),
    ];
    expected.sort();
    assert_eq!(breaches(&queue, &org.org_id).await, expected);
    sla_breaches::run(store, &publisher, at(2000)).await;
    assert_eq!(
        breaches(&queue, &org.org_id).await,
        [],
        "the low target the raised ticket left is not breached"
    );
}
