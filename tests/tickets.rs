//! The support desk's tickets and conversations, called through the `tickets` handler against the
//! emulator: lifecycle and events, numbering under concurrency, filters and cursor pages,
//! replies moving the ticket, scopes and bad input.

use harness::{FixtureRequest, fixture, new_key, new_org, read, services};
use serde_json::{Value, json};
use shared::outbound::Publisher;
use shared::runtime::Services;

/// Every event queued on `queue` so far, in the order they were published.
async fn events(queue: &harness::OwnQueue) -> Vec<(String, Value)> {
    let messages = queue.drain().await;
    messages
        .into_iter()
        .map(|message| (message["event"].as_str().unwrap().to_string(), message))
        .collect()
}

async fn call(services: &Services, publisher: &Publisher, request: FixtureRequest) -> (u16, Value) {
    read(shared::api::tickets::handle(services, publisher, &harness::reply_queue().await, request.build()).await)
}

fn open(key: &str, body: Value) -> FixtureRequest {
    fixture("tickets-create.json").key(key).body(body.to_string())
}

fn on_ticket(key: &str, method: &str, id: &str, rest: &str) -> FixtureRequest {
    fixture("tickets-create.json")
        .key(key)
        .method(method, &format!("/api/v1/tickets/{id}{rest}"))
        .path_parameter("id", id)
}

fn list(key: &str, query: &[(&str, &str)]) -> FixtureRequest {
    let mut request = fixture("tickets-list.json").key(key);
    request = request.without_query();
    for (name, value) in query {
        request = request.query(name, value);
    }
    request
}

/// The organization's tickets by status, as the list answers them.
async fn counts(services: &Services, publisher: &Publisher, key: &str) -> Value {
    let (status, page) = call(services, publisher, list(key, &[("limit", "1")])).await;
    assert_eq!(status, 200, "{page}");
    page["counts_by_status"].clone()
}

#[tokio::test]
async fn a_ticket_is_opened_read_by_id_and_number_changed_and_solved_publishing_each_step() {
    let services = services().await;
    let org = new_org(&services).await;
    harness::subscribe(&services, &org, &["*"]).await;
    let queue = harness::OwnQueue::new("tickets-lifecycle").await;
    let publisher = queue.publisher();

    let (status, opened) = call(
        &services,
        &publisher,
        fixture("tickets-create.json").key(&org.admin_key),
    )
    .await;
    assert_eq!(status, 201, "{opened}");
    let ticket = &opened["ticket"];
    assert_eq!(ticket["ticketNumber"], 1, "an organization's first ticket is number 1");
    assert_eq!(
        (ticket["status"].as_str(), ticket["priority"].as_str()),
        (Some("new"), Some("normal"))
    );
    assert_eq!(ticket["customer_email"], "max@example.com");
    assert_eq!(
        ticket["message_count"], 1,
        "the first message is the thread's first entry"
    );
    let id = ticket["id"].as_str().unwrap().to_string();

    let (status, by_id) = call(&services, &publisher, on_ticket(&org.admin_key, "GET", &id, "")).await;
    assert_eq!(status, 200, "{by_id}");
    let (_, by_number) = call(&services, &publisher, on_ticket(&org.admin_key, "GET", "1", "")).await;
    assert_eq!(by_id["ticket"], by_number["ticket"]);
    assert_eq!(by_id["ticket"], *ticket);

    let change = json!({"priority": "urgent", "assignee": "agent-7", "tags": [" VIP ", "vip", "Shipping"],
        "custom_fields": {"region": "EU"}});
    let (status, changed) = call(
        &services,
        &publisher,
        on_ticket(&org.admin_key, "PATCH", &id, "").body(change.to_string()),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["ticket"]["priority"], "urgent");
    assert_eq!(changed["ticket"]["tags"], json!(["vip", "shipping"]));
    assert_eq!(changed["ticket"]["custom_fields"], json!({"region": "EU"}));
    assert_eq!(
        changed["ticket"]["message_count"], 1,
        "a change keeps the thread's count"
    );

    let solve = json!({"status": "solved", "assignee": null, "custom_fields": {"region": null}});
    let (_, solved) = call(
        &services,
        &publisher,
        on_ticket(&org.admin_key, "PATCH", "1", "").body(solve.to_string()),
    )
    .await;
    assert_eq!(solved["ticket"]["status"], "solved");
    assert!(solved["ticket"]["solved_at"].is_string(), "{solved}");
    assert_eq!(solved["ticket"]["assignee"], Value::Null);
    assert_eq!(solved["ticket"]["custom_fields"], json!({}));

    let published: Vec<String> = events(&queue).await.into_iter().map(|(event, _)| event).collect();
    assert_eq!(
        published,
        [
            "ticket.created",
            "conversation.created",
            "ticket.updated",
            "ticket.updated",
            "ticket.solved"
        ]
    );

    let closed = json!({"status": "closed"});
    let (status, _) = call(
        &services,
        &publisher,
        on_ticket(&org.admin_key, "PATCH", &id, "").body(closed.to_string()),
    )
    .await;
    assert_eq!(status, 200);
    let (status, refused) = call(
        &services,
        &publisher,
        on_ticket(&org.admin_key, "PATCH", &id, "").body(json!({"priority": "low"}).to_string()),
    )
    .await;
    assert_eq!((status, refused["error"]["code"].as_str()), (409, Some("CONFLICT")));
    assert_eq!(
        counts(&services, &publisher, &org.admin_key).await,
        json!({"new": 0, "open": 0, "pending": 0, "solved": 0, "closed": 1})
    );
}

#[tokio::test]
async fn fifty_concurrent_openings_get_fifty_consecutive_numbers() {
    let services = services().await;
    let org = new_org(&services).await;
    let publisher = harness::publisher().await;
    let openings = (0..50).map(|i| {
        let request = open(&org.admin_key, json!({"subject": format!("Question {i}")}));
        call(&services, &publisher, request)
    });
    let mut numbers: Vec<u64> = futures_util::future::join_all(openings)
        .await
        .into_iter()
        .map(|(status, body)| {
            assert_eq!(status, 201, "{body}");
            body["ticket"]["ticketNumber"].as_u64().unwrap()
        })
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=50).collect::<Vec<u64>>());
    assert_eq!(
        counts(&services, &publisher, &org.admin_key).await,
        json!({"new": 50, "open": 0, "pending": 0, "solved": 0, "closed": 0})
    );
}

#[tokio::test]
async fn lists_filter_and_page_with_a_cursor() {
    let services = services().await;
    let org = new_org(&services).await;
    let publisher = harness::publisher().await;
    let specs = [
        ("high", "ann@example.com", vec!["vip"], Some("agent-1")),
        ("normal", "bob@example.com", vec![], None),
        ("high", "ann@example.com", vec!["returns"], None),
        ("low", "cid@example.com", vec!["vip", "returns"], Some("agent-2")),
        ("normal", "ann@example.com", vec![], Some("agent-1")),
        ("urgent", "bob@example.com", vec!["vip"], None),
        ("normal", "dee@example.com", vec![], None),
    ];
    let mut ids = Vec::new();
    for (i, (priority, email, tags, assignee)) in specs.iter().enumerate() {
        let body = json!({"subject": format!("Ticket {i}"), "priority": priority, "customer_email": email,
            "tags": tags, "assignee": assignee});
        let (status, opened) = call(&services, &publisher, open(&org.admin_key, body)).await;
        assert_eq!(status, 201, "{opened}");
        ids.push(opened["ticket"]["id"].as_str().unwrap().to_string());
    }
    // Three pages of at most three, newest first, nothing twice.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for expected in [3, 3, 1] {
        let mut query = vec![("limit", "3")];
        if let Some(cursor) = &cursor {
            query.push(("cursor", cursor.as_str()));
        }
        let (status, page) = call(&services, &publisher, list(&org.admin_key, &query)).await;
        assert_eq!(status, 200, "{page}");
        let tickets = page["tickets"].as_array().unwrap();
        assert_eq!(tickets.len(), expected, "{page}");
        assert_eq!(page["has_more"], expected == 3 && seen.len() < 6, "{page}");
        seen.extend(tickets.iter().map(|t| t["id"].as_str().unwrap().to_string()));
        cursor = page["next_cursor"].as_str().map(str::to_string);
    }
    assert!(cursor.is_none());
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);

    let numbers = |query: &[(&str, &str)]| {
        let request = list(&org.admin_key, query);
        let services = &services;
        let publisher = &publisher;
        async move {
            let (status, page) = call(services, publisher, request).await;
            assert_eq!(status, 200, "{page}");
            let mut numbers: Vec<u64> = page["tickets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["ticketNumber"].as_u64().unwrap())
                .collect();
            numbers.sort_unstable();
            numbers
        }
    };
    assert_eq!(numbers(&[("priority", "high")]).await, [1, 3]);
    assert_eq!(numbers(&[("customer", "ANN@example.com")]).await, [1, 3, 5]);
    assert_eq!(numbers(&[("tag", "vip")]).await, [1, 4, 6]);
    assert_eq!(numbers(&[("assignee", "agent-1")]).await, [1, 5]);
    assert_eq!(numbers(&[("assignee", "unassigned")]).await, [2, 3, 6, 7]);
    assert_eq!(numbers(&[("tag", "vip"), ("priority", "urgent")]).await, [6]);
    assert_eq!(numbers(&[("status", "new")]).await, [1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(numbers(&[("status", "solved")]).await, Vec::<u64>::new());
    assert_eq!(
        numbers(&[("q", "TICKET 3")]).await,
        [4],
        "q searches the subject in any case"
    );
    assert_eq!(numbers(&[("q", "ann@")]).await, [1, 3, 5], "and the customer's email");
    // A filter sparser than a page still fills the page from further down the index.
    let (_, page) = call(
        &services,
        &publisher,
        list(&org.admin_key, &[("tag", "vip"), ("limit", "2")]),
    )
    .await;
    assert_eq!(page["tickets"].as_array().unwrap().len(), 2);
    assert_eq!(page["has_more"], true);
    assert_eq!(
        numbers(&[("created_after", "2999-01-01T00:00:00Z")]).await,
        Vec::<u64>::new()
    );
    assert_eq!(
        numbers(&[("created_before", "2000-01-01T00:00:00Z")]).await,
        Vec::<u64>::new()
    );

    for (query, field) in [
        (("status", "closedish"), "status"),
        (("limit", "0"), "limit"),
        (("cursor", "bm90LWEtY3Vyc29y"), "cursor"),
        (("created_after", "yesterday"), "created_after"),
        (("customer", "not-an-email"), "customer"),
    ] {
        let (status, refused) = call(&services, &publisher, list(&org.admin_key, &[query])).await;
        assert_eq!(status, 422, "{query:?}: {refused}");
        assert_eq!(refused["error"]["details"]["field"], field, "{refused}");
    }
}

#[tokio::test]
async fn replies_and_notes_move_the_ticket_as_a_desk_does_and_publish_reply_sent() {
    let services = services().await;
    let org = new_org(&services).await;
    harness::subscribe(&services, &org, &["*"]).await;
    let queue = harness::OwnQueue::new("tickets-replies").await;
    let publisher = queue.publisher();
    let body = json!({"subject": "Broken strap", "customer_email": "max@example.com", "category": "returns",
        "message": {"content_text": "The strap broke after a day."}});
    let (_, opened) = call(&services, &publisher, open(&org.admin_key, body)).await;
    let id = opened["ticket"]["id"].as_str().unwrap().to_string();
    let add = |entry: Value| {
        let request = on_ticket(&org.admin_key, "POST", &id, "/conversations").body(entry.to_string());
        call(&services, &publisher, request)
    };

    let (status, note) = add(json!({"author": {"type": "agent", "name": "Lena"}, "internal": true,
        "content_text": "Check the batch number."}))
    .await;
    assert_eq!(status, 201, "{note}");
    assert_eq!(note["ticket"]["status"], "new", "an internal note moves nothing");
    assert_eq!(note["ticket"]["first_response_at"], Value::Null);
    assert_eq!(note["conversation"]["direction"], "internal");

    let (status, reply) =
        add(json!({"author": {"type": "ai"}, "content_text": "Sorry! A new strap is on its way."})).await;
    assert_eq!(status, 201, "{reply}");
    assert_eq!(reply["ticket"]["status"], "pending", "a reply waits on the customer");
    assert!(reply["ticket"]["first_response_at"].is_string());
    assert_eq!(reply["ticket"]["message_count"], 3);
    assert_eq!(reply["conversation"]["direction"], "outbound");

    let (_, answer) = add(json!({"author": {"type": "customer", "name": "Max"}, "content_text": "Thanks!"})).await;
    assert_eq!(answer["ticket"]["status"], "open", "the customer's answer reopens it");
    assert_eq!(
        answer["ticket"]["first_response_at"],
        reply["ticket"]["first_response_at"]
    );

    // What the handler answered is what the store holds.
    let (_, stored) = call(&services, &publisher, on_ticket(&org.admin_key, "GET", &id, "")).await;
    assert_eq!(stored["ticket"], answer["ticket"]);
    let (status, thread) = call(
        &services,
        &publisher,
        on_ticket(&org.admin_key, "GET", &id, "/conversations"),
    )
    .await;
    assert_eq!(status, 200, "{thread}");
    let roles: Vec<(&str, &str)> = thread["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["author"]["role"].as_str().unwrap(), e["direction"].as_str().unwrap()))
        .collect();
    assert_eq!(
        roles,
        [
            ("customer", "inbound"),
            ("agent", "internal"),
            ("ai", "outbound"),
            ("customer", "inbound")
        ]
    );

    let published = events(&queue).await;
    let names: Vec<&str> = published.iter().map(|(event, _)| event.as_str()).collect();
    assert_eq!(
        names,
        [
            "ticket.created",
            "conversation.created",
            "conversation.created",
            "conversation.created",
            "reply.sent",
            "conversation.created"
        ]
    );
    let sent = &published[4].1["data"];
    assert_eq!(sent["replyId"], reply["conversation"]["id"]);
    assert_eq!(sent["category"], "returns");
    assert_eq!(sent["ticketNumber"], opened["ticket"]["ticketNumber"]);
    assert_eq!(sent["channel"], "api");

    let (status, refused) = add(json!({"author": {"type": "customer"}, "internal": true, "content_text": "x"})).await;
    assert_eq!(
        (status, refused["error"]["details"]["field"].as_str()),
        (422, Some("internal"))
    );
    let close = on_ticket(&org.admin_key, "PATCH", &id, "").body(json!({"status": "closed"}).to_string());
    assert_eq!(call(&services, &publisher, close).await.0, 200);
    let (status, refused) = add(json!({"author": {"type": "customer"}, "content_text": "Hello?"})).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (409, Some("CONFLICT")));
    // new → pending (reply) → open (answer) → closed: counted once, where it is now.
    assert_eq!(
        counts(&services, &publisher, &org.admin_key).await,
        json!({"new": 0, "open": 0, "pending": 0, "solved": 0, "closed": 1})
    );
}

#[tokio::test]
async fn scopes_guard_the_desk_and_bad_input_gets_the_json_error_with_nothing_stored() {
    let services = services().await;
    let org = new_org(&services).await;
    let publisher = harness::publisher().await;
    let reader = new_key(&services, &org, &["tickets:read"], 100).await;
    let outsider = new_key(&services, &org, &["webhook:write"], 100).await;

    let (status, _) = call(&services, &publisher, list(&reader, &[])).await;
    assert_eq!(status, 200, "reading needs tickets:read");
    let (status, refused) = call(&services, &publisher, open(&reader, json!({"subject": "x"}))).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (403, Some("INSUFFICIENT_SCOPE"))
    );
    let (status, _) = call(&services, &publisher, list(&outsider, &[])).await;
    assert_eq!(status, 403);

    let before = harness::items_of(&services, &org.org_id).await;
    for (body, field) in [
        (json!({}), "subject"),
        (json!({"subject": "   "}), "subject"),
        (json!({"subject": "x", "priority": "whenever"}), "priority"),
        (json!({"subject": "x", "channel": "fax"}), "channel"),
        (json!({"subject": "x", "customer_email": "max"}), "customer_email"),
        (json!({"subject": "x", "tags": vec!["a"; 21]}), "tags"),
        (json!({"subject": "x", "surprise": 1}), "surprise"),
        (
            json!({"subject": "x", "message": {"content_text": ""}}),
            "message.content_text",
        ),
        (json!({"subject": "x\u{0}y"}), "subject"),
    ] {
        let (status, refused) = call(&services, &publisher, open(&org.admin_key, body.clone())).await;
        assert_eq!(status, 422, "{body}: {refused}");
        assert_eq!(refused["error"]["code"], "INVALID_INPUT");
        assert_eq!(refused["error"]["details"]["field"], field, "{body}: {refused}");
    }
    let (status, _) = call(&services, &publisher, open(&org.admin_key, json!({})).body("{")).await;
    assert_eq!(status, 400);
    assert_eq!(
        harness::items_of(&services, &org.org_id).await,
        before,
        "nothing stored"
    );

    let (status, missing) = call(&services, &publisher, on_ticket(&org.admin_key, "GET", "999", "")).await;
    assert_eq!((status, missing["error"]["code"].as_str()), (404, Some("NOT_FOUND")));
    let other = new_org(&services).await;
    let (_, theirs) = call(
        &services,
        &publisher,
        open(&other.admin_key, json!({"subject": "theirs"})),
    )
    .await;
    let their_id = theirs["ticket"]["id"].as_str().unwrap();
    let (status, _) = call(&services, &publisher, on_ticket(&org.admin_key, "GET", their_id, "")).await;
    assert_eq!(status, 404, "another organization's ticket is not found");
    let (status, refused) = call(&services, &publisher, on_ticket(&org.admin_key, "DELETE", their_id, "")).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (405, Some("METHOD_NOT_ALLOWED"))
    );
}

#[tokio::test]
async fn escalation_hands_the_ticket_to_a_team_and_email_tickets_also_publish_email_escalated() {
    let services = services().await;
    let org = new_org(&services).await;
    harness::subscribe(&services, &org, &["*"]).await;
    let queue = harness::OwnQueue::new("tickets-escalation").await;
    let publisher = queue.publisher();
    let mut ids = Vec::new();
    for channel in ["email", "widget"] {
        let body = json!({"subject": "Refund not received", "channel": channel, "customer_email": "ida@example.com"});
        let (_, opened) = call(&services, &publisher, open(&org.admin_key, body)).await;
        ids.push(opened["ticket"]["id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        let escalate = json!({"team": "Billing", "reason": "Refund older than 14 days"});
        let request = on_ticket(&org.admin_key, "POST", id, "/escalate").body(escalate.to_string());
        let (status, escalated) = call(&services, &publisher, request).await;
        assert_eq!(status, 200, "{escalated}");
        assert_eq!(escalated["ticket"]["team"], "Billing");
        assert_eq!(escalated["ticket"]["escalation"]["reason"], "Refund older than 14 days");
        assert!(escalated["ticket"]["escalation"]["escalated_at"].is_string());
    }
    let published = events(&queue).await;
    let escalations: Vec<(&str, &Value)> = published
        .iter()
        .filter(|(event, _)| event.ends_with("escalated"))
        .map(|(event, message)| (event.as_str(), &message["data"]["channel"]))
        .collect();
    assert_eq!(
        escalations,
        [
            ("ticket.escalated", &json!("email")),
            ("email.escalated", &json!("email")),
            ("ticket.escalated", &json!("widget"))
        ]
    );
    let request = on_ticket(&org.admin_key, "POST", &ids[0], "/escalate").body(json!({"team": "Billing"}).to_string());
    let (status, refused) = call(&services, &publisher, request).await;
    assert_eq!(
        (status, refused["error"]["details"]["field"].as_str()),
        (422, Some("reason"))
    );
}

#[tokio::test]
async fn simultaneous_status_changes_keep_the_counts_true() {
    let services = services().await;
    let org = new_org(&services).await;
    let publisher = harness::publisher().await;
    let (_, opened) = call(
        &services,
        &publisher,
        open(&org.admin_key, json!({"subject": "Racing"})),
    )
    .await;
    let id = opened["ticket"]["id"].as_str().unwrap().to_string();
    let change = |status: &str| {
        let request = on_ticket(&org.admin_key, "PATCH", &id, "").body(json!({"status": status}).to_string());
        call(&services, &publisher, request)
    };
    let results = futures_util::future::join_all(["open", "pending", "solved"].map(change)).await;
    let won: Vec<u16> = results
        .iter()
        .map(|(status, _)| *status)
        .filter(|s| *s == 200)
        .collect();
    assert!(!won.is_empty(), "{results:?}");
    for (status, body) in &results {
        assert!(
            *status == 200 || (*status == 409 && body["error"]["code"] == "CONFLICT"),
            "{body}"
        );
    }
    let (_, now) = call(&services, &publisher, on_ticket(&org.admin_key, "GET", &id, "")).await;
    let counted = counts(&services, &publisher, &org.admin_key).await;
    let total: i64 = counted.as_object().unwrap().values().map(|v| v.as_i64().unwrap()).sum();
    assert_eq!(total, 1, "one ticket, counted once: {counted}");
    assert_eq!(counted[now["ticket"]["status"].as_str().unwrap()], 1, "{counted}");
}

#[tokio::test]
async fn the_conversation_feed_lists_every_ticket_s_entries_since_a_time_page_by_page() {
    let services = services().await;
    let org = new_org(&services).await;
    let publisher = harness::publisher().await;
    let feed = |query: &[(&str, &str)]| {
        let mut request = fixture("conversations-since.json").key(&org.admin_key).without_query();
        for (name, value) in query {
            request = request.query(name, value);
        }
        let services = &services;
        async move { read(shared::api::conversations::handle(services, request.build()).await) }
    };
    let mut entry_ids = Vec::new();
    for subject in ["First", "Second"] {
        let body = json!({"subject": subject, "message": {"content_text": format!("{subject} question")}});
        let (_, opened) = call(&services, &publisher, open(&org.admin_key, body)).await;
        let id = opened["ticket"]["id"].as_str().unwrap().to_string();
        let (_, thread) = call(
            &services,
            &publisher,
            on_ticket(&org.admin_key, "GET", &id, "/conversations"),
        )
        .await;
        entry_ids.push(thread["conversations"][0]["id"].as_str().unwrap().to_string());
        let reply = json!({"author": {"type": "agent"}, "content_text": format!("{subject} answer")});
        let request = on_ticket(&org.admin_key, "POST", &id, "/conversations").body(reply.to_string());
        let (status, added) = call(&services, &publisher, request).await;
        assert_eq!(status, 201, "{added}");
        entry_ids.push(added["conversation"]["id"].as_str().unwrap().to_string());
    }

    let mut seen = Vec::new();
    let mut cursor = None::<String>;
    for expected in [3, 1] {
        let mut query = vec![("limit", "3")];
        if let Some(cursor) = &cursor {
            query.push(("cursor", cursor));
        }
        let (status, page) = feed(&query).await;
        assert_eq!(status, 200, "{page}");
        let entries = page["conversations"].as_array().unwrap();
        assert_eq!(entries.len(), expected, "{page}");
        seen.extend(entries.iter().map(|e| e["id"].as_str().unwrap().to_string()));
        cursor = page["next_cursor"].as_str().map(str::to_string);
        if expected == 1 {
            assert_eq!(page["has_more"], false);
        }
    }
    assert_eq!(seen, entry_ids, "every entry once, oldest first");

    let (_, last) = feed(&[]).await;
    let third_at = last["conversations"][2]["created_at"].as_str().unwrap().to_string();
    let (_, since) = feed(&[("since", &third_at)]).await;
    let after: Vec<&str> = since["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        after,
        [entry_ids[3].as_str()],
        "only what was created after the time: {since}"
    );

    let one = |id: &str| {
        let request = fixture("conversations-since.json")
            .key(&org.admin_key)
            .without_query()
            .method("GET", &format!("/api/v1/conversations/{id}"))
            .path_parameter("id", id);
        let services = &services;
        async move { read(shared::api::conversations::handle(services, request.build()).await) }
    };
    let (status, entry) = one(&entry_ids[1]).await;
    assert_eq!(
        (status, entry["conversation"]["content_text"].as_str()),
        (200, Some("First answer"))
    );
    let other = new_org(&services).await;
    let other_feed = fixture("conversations-since.json")
        .key(&other.admin_key)
        .without_query()
        .method("GET", &format!("/api/v1/conversations/{}", entry_ids[1]))
        .path_parameter("id", &entry_ids[1]);
    let (status, _) = read(shared::api::conversations::handle(&services, other_feed.build()).await);
    assert_eq!(status, 404, "another organization's entry is not found");
    let (status, refused) = feed(&[("since", "last week")]).await;
    assert_eq!(
        (status, refused["error"]["details"]["field"].as_str()),
        (422, Some("since"))
    );
}

#[tokio::test]
async fn a_customer_is_one_record_per_email_shown_with_their_tickets_and_orders() {
    let services = services().await;
    let org = new_org(&services).await;
    let publisher = harness::publisher().await;
    let customers = |request: FixtureRequest| {
        let services = &services;
        let publisher = &publisher;
        async move { read(shared::api::customers::handle(services, publisher, request.build()).await) }
    };
    let at = |method: &str, email: &str| {
        fixture("customers-create.json")
            .key(&org.admin_key)
            .method(method, &format!("/api/v1/customers/{email}"))
            .path_parameter("email", email)
    };
    let (status, created) = customers(fixture("customers-create.json").key(&org.admin_key)).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["customer"]["data"]["tier"], "premium");
    let (status, refused) = customers(fixture("customers-create.json").key(&org.admin_key)).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (409, Some("CONFLICT")),
        "one record per email"
    );
    let (status, changed) = customers(at("PATCH", "MAX@example.com").body(json!({"tier": "gold"}).to_string())).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["customer"]["data"]["tier"], "gold");
    assert_eq!(
        changed["customer"]["data"]["name"], "Max Müller",
        "fields not sent are kept"
    );
    let (status, refused) =
        customers(at("PATCH", "max@example.com").body(json!({"email": "other@example.com"}).to_string())).await;
    assert_eq!(
        (status, refused["error"]["details"]["field"].as_str()),
        (422, Some("email"))
    );

    // The order the merchant pushed and the tickets the customer opened show with them.
    let ingest = fixture("ingest-order.json").key(&org.admin_key).build();
    assert_eq!(
        read(shared::api::ingest::handle(&services, &publisher, ingest).await).0,
        200
    );
    for subject in ["Late parcel", "Wrong colour"] {
        let body = json!({"subject": subject, "customer_email": "Max@Example.com"});
        assert_eq!(call(&services, &publisher, open(&org.admin_key, body)).await.0, 201);
    }
    let body = json!({"subject": "Someone else", "customer_email": "eve@example.com"});
    assert_eq!(call(&services, &publisher, open(&org.admin_key, body)).await.0, 201);
    let (status, shown) = customers(at("GET", "max@example.com")).await;
    assert_eq!(status, 200, "{shown}");
    let subjects: Vec<&str> = shown["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, ["Wrong colour", "Late parcel"], "newest first, theirs only");
    assert_eq!(shown["orders"][0]["data"]["order_number"], "4521");
    assert_eq!(shown["csat"], json!({"ratings": 0, "average": null}));

    let (status, _) = customers(at("GET", "nobody@example.com")).await;
    assert_eq!(status, 404);
    let reader = new_key(&services, &org, &["customers:read"], 100).await;
    let (status, _) = customers(at("GET", "max@example.com").key(&reader)).await;
    assert_eq!(status, 200);
    let (status, _) = customers(at("PATCH", "max@example.com").key(&reader).body("{}")).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn customers_are_listed_in_pages_and_found_by_phone_or_channel_identity() {
    let services = services().await;
    let org = new_org(&services).await;
    let publisher = harness::publisher().await;
    let customers = |request: FixtureRequest| {
        let services = &services;
        let publisher = &publisher;
        async move { read(shared::api::customers::handle(services, publisher, request.build()).await) }
    };
    let add = |body: Value| {
        fixture("customers-create.json")
            .key(&org.admin_key)
            .body(body.to_string())
    };
    let listing = |query: &[(&str, &str)]| {
        let mut request = fixture("customers-create.json")
            .key(&org.admin_key)
            .method("GET", "/api/v1/customers")
            .without_query();
        for (name, value) in query {
            request = request.query(name, value);
        }
        request
    };
    let max = json!({"email": "max@example.com", "phone": "+49 151 2345-6789",
        "identities": {"whatsapp": "4915123456789", "slack": "U024BE7LH"}});
    assert_eq!(customers(add(max)).await.0, 201);
    for i in 0..4 {
        assert_eq!(
            customers(add(json!({"email": format!("c{i}@example.com")}))).await.0,
            201
        );
    }
    // Ingest writes the same record, and so the same identities.
    let ingested = json!({"type": "customer", "customer": {"email": "eve@example.com", "phone": "0044 20 7946 0958"}});
    let request = fixture("ingest-order.json")
        .key(&org.admin_key)
        .body(ingested.to_string())
        .build();
    assert_eq!(
        read(shared::api::ingest::handle(&services, &publisher, request).await).0,
        200
    );

    let mut emails = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![("limit", "4")];
        if let Some(cursor) = cursor.as_deref() {
            query.push(("cursor", cursor));
        }
        let (status, page) = customers(listing(&query)).await;
        assert_eq!(status, 200, "{page}");
        emails.extend(
            page["customers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["data"]["email"].as_str().unwrap().to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    emails.sort();
    assert_eq!(
        emails,
        [
            "c0@example.com",
            "c1@example.com",
            "c2@example.com",
            "c3@example.com",
            "eve@example.com",
            "max@example.com"
        ]
    );

    for (kind, value, email) in [
        ("phone", "+4915123456789", "max@example.com"),
        ("phone", "+49 (151) 23456789", "max@example.com"),
        ("whatsapp", "4915123456789", "max@example.com"),
        ("slack", "U024BE7LH", "max@example.com"),
        ("phone", "+44 20 7946 0958", "eve@example.com"),
        ("email", "MAX@example.com", "max@example.com"),
    ] {
        let (status, found) = customers(listing(&[(kind, value)])).await;
        assert_eq!(status, 200, "{found}");
        assert_eq!(found["customers"][0]["data"]["email"], email, "{kind} {value}: {found}");
    }
    let (_, none) = customers(listing(&[("messenger", "1234567890")])).await;
    assert_eq!(none["customers"], json!([]));
    // A changed phone finds the customer by the new number only.
    let moved = fixture("customers-create.json")
        .key(&org.admin_key)
        .method("PATCH", "/api/v1/customers/eve@example.com")
        .path_parameter("email", "eve@example.com")
        .body(json!({"phone": "+44 20 7946 0000"}).to_string());
    assert_eq!(customers(moved).await.0, 200);
    let (_, old) = customers(listing(&[("phone", "+44 20 7946 0958")])).await;
    assert_eq!(old["customers"], json!([]), "{old}");
    let (_, new) = customers(listing(&[("phone", "+442079460000")])).await;
    assert_eq!(new["customers"][0]["data"]["email"], "eve@example.com");
    let (status, _) = customers(listing(&[("phone", "12")])).await;
    assert_eq!(status, 422);
    let (status, _) = customers(listing(&[("phone", "+4915123456789"), ("slack", "U1")])).await;
    assert_eq!(status, 422, "one identity at a time");

    // An identity is the organization's own.
    let other = new_org(&services).await;
    let foreign = fixture("customers-create.json")
        .key(&other.admin_key)
        .method("GET", "/api/v1/customers")
        .without_query()
        .query("phone", "+4915123456789");
    let (_, found) = customers(foreign).await;
    assert_eq!(found["customers"], json!([]));
}

#[tokio::test]
async fn the_agent_reads_a_ticket_with_its_thread_orders_and_customer_in_one_call() {
    let services = services().await;
    let org = new_org(&services).await;
    let publisher = harness::publisher().await;
    let ingest = |fixture_name: &str, body: Value| {
        let request = fixture(fixture_name).key(&org.admin_key).body(body.to_string()).build();
        let services = &services;
        let publisher = &publisher;
        async move { read(shared::api::ingest::handle(services, publisher, request).await).0 }
    };
    let order = json!({"type": "order", "order": {"order_number": "7001", "status": "shipped", "customer_email": "lou@example.com"}});
    assert_eq!(ingest("ingest-order.json", order).await, 200);
    let customer = json!({"type": "customer", "customer": {"email": "lou@example.com", "name": "Lou", "tier": "vip"}});
    assert_eq!(ingest("ingest-order.json", customer).await, 200);
    let body = json!({"subject": "Where is 7001?", "customer_email": "lou@example.com", "order_numbers": ["7001", "9999"],
        "message": {"content_text": "Where is my parcel?"}});
    let (_, opened) = call(&services, &publisher, open(&org.admin_key, body)).await;
    let number = opened["ticket"]["ticketNumber"].as_u64().unwrap().to_string();
    let reply = json!({"author": {"type": "ai"}, "content_text": "It arrives tomorrow."});
    let request = on_ticket(&org.admin_key, "POST", &number, "/conversations").body(reply.to_string());
    let (_, replied) = call(&services, &publisher, request).await;
    let token = replied["csat_token"].as_str().unwrap().to_string();

    let context = |path: &str, parameter: (&str, &str)| {
        let request = fixture("agent-context-ticket.json")
            .key(&org.admin_key)
            .method("GET", path)
            .path_parameter(parameter.0, parameter.1)
            .build();
        let services = &services;
        async move { read(shared::api::agent_context::handle(services, request).await) }
    };
    let (status, ticket) = context(&format!("/api/context/tickets/{number}"), ("id", &number)).await;
    assert_eq!(status, 200, "{ticket}");
    assert_eq!(ticket["ticket"]["subject"], "Where is 7001?");
    let thread: Vec<&str> = ticket["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["content_text"].as_str().unwrap())
        .collect();
    assert_eq!(thread, ["Where is my parcel?", "It arrives tomorrow."]);
    assert_eq!(ticket["orders"][0]["data"]["status"], "shipped");
    assert_eq!(ticket["orders"][1], Value::Null, "an unknown order number is null");
    assert_eq!(ticket["customer"]["data"]["tier"], "vip");

    // Rated, the customer context shows the rating and the ticket still open.
    let csat = shared::api::csat::CsatServices {
        store: services.store.clone(),
        publisher: harness::publisher().await,
        clock: std::sync::Arc::new(shared::clock::SystemClock),
        per_client_per_minute: 100,
    };
    let rate = fixture("csat-rate.json").body(json!({"token": token, "rating": 4}).to_string());
    assert_eq!(read(shared::api::csat::handle(&csat, rate.build()).await).0, 200);
    let (status, customer) = context("/api/context/customers/lou@example.com", ("email", "lou@example.com")).await;
    assert_eq!(status, 200, "{customer}");
    assert_eq!(customer["lastCsat"]["rating"], 4);
    let open_numbers: Vec<u64> = customer["openTickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["ticketNumber"].as_u64().unwrap())
        .collect();
    assert_eq!(open_numbers, [number.parse::<u64>().unwrap()]);
}
