//! Seed 001's agents and workflows against the emulator: triggers and their tokens, the
//! incoming webhooks that queue executions, and the runtime's reports that move executions,
//! publish seed 001's events and carry an agent's conversation on the desk.

use std::sync::Arc;

use base64::Engine;
use harness::{OwnQueue, fixture, new_key, new_org, read, services, subscribe};
use serde_json::{Value, json};
use shared::api::trigger_webhooks::TriggerServices;
use shared::clock::FixedClock;
use shared::outbound::JobQueue;
use shared::runtime::Services;

struct Runtime {
    services: Services,
    triggers: TriggerServices,
    /// Where this test's executions are queued.
    executions: OwnQueue,
    /// Where this test's events are published.
    events: OwnQueue,
}

async fn runtime(name: &str, per_trigger: u32) -> Runtime {
    let services = services().await;
    let executions = OwnQueue::new(&format!("{name}-executions")).await;
    let events = OwnQueue::new(&format!("{name}-events")).await;
    let triggers = TriggerServices {
        base: services.clone(),
        executions: JobQueue {
            sqs: executions.sender.clone(),
            queue_url: executions.url.clone(),
        },
        per_trigger_per_minute: per_trigger,
    };
    Runtime {
        services,
        triggers,
        executions,
        events,
    }
}

/// Every execution job queued so far, taken off the queue.
async fn queued(queue: &OwnQueue) -> Vec<Value> {
    let bodies = queue.take_bodies().await;
    bodies.iter().map(|body| serde_json::from_str(body).unwrap()).collect()
}

async fn create_trigger(rt: &Runtime, key: &str, body: Value) -> (String, String) {
    let request = fixture("triggers-create.json").key(key).body(body.to_string()).build();
    let (status, created) = read(shared::api::triggers::handle(&rt.services, request).await);
    assert_eq!(status, 201, "{created}");
    (
        created["trigger"]["id"].as_str().unwrap().to_string(),
        created["token"].as_str().unwrap().to_string(),
    )
}

fn agent_call(agent: &str) -> harness::FixtureRequest {
    fixture("trigger-webhooks-agent.json")
        .without_query()
        .method("POST", &format!("/webhooks/agents/{agent}"))
        .path_parameter("agent_id", agent)
}

fn workflow_call(workflow: &str) -> harness::FixtureRequest {
    fixture("trigger-webhooks-workflow.json")
        .without_header("authorization")
        .method("POST", &format!("/webhooks/workflows/{workflow}"))
        .path_parameter("workflow_id", workflow)
}

async fn door(rt: &Runtime, request: harness::FixtureRequest) -> (u16, Value) {
    read(shared::api::trigger_webhooks::handle(&rt.triggers, request.build()).await)
}

async fn report(rt: &Runtime, key: &str, execution: &str, body: Value) -> (u16, Value) {
    let request = fixture("executions-report.json")
        .key(key)
        .method("POST", &format!("/api/v1/executions/{execution}/events"))
        .path_parameter("id", execution)
        .body(body.to_string())
        .build();
    read(shared::api::executions::handle(&rt.services, &rt.events.publisher(), request).await)
}

async fn execution(rt: &Runtime, key: &str, id: &str) -> (u16, Value) {
    let request = fixture("executions-get.json")
        .key(key)
        .method("GET", &format!("/api/v1/executions/{id}"))
        .path_parameter("id", id)
        .build();
    read(shared::api::executions::handle(&rt.services, &rt.events.publisher(), request).await)
}

#[tokio::test]
async fn a_trigger_token_is_shown_once_and_works_until_the_trigger_is_deleted() {
    let rt = runtime("trigger-lifecycle", 100).await;
    let org = new_org(&rt.services).await;
    let key = new_key(&rt.services, &org, &["triggers:manage"], 100).await;
    let (id, token) = create_trigger(&rt, &key, json!({"name": "Form", "agent_id": "agent_1"})).await;
    assert!(id.starts_with("trg_") && token.starts_with("wh_"));

    let (status, listed) =
        read(shared::api::triggers::handle(&rt.services, fixture("triggers-list.json").key(&key).build()).await);
    assert_eq!(status, 200);
    let listed = listed["triggers"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["type"], "agent");
    assert_eq!(listed[0]["webhook_path"], "/webhooks/agents/agent_1");
    assert!(
        !listed[0].to_string().contains(&token[token.len() - 20..]),
        "the secret is never shown again"
    );

    let (status, _) = door(&rt, agent_call("agent_1").query("token", &token)).await;
    assert_eq!(status, 202);

    let delete = fixture("triggers-delete.json")
        .key(&key)
        .method("DELETE", &format!("/api/v1/triggers/{id}"))
        .path_parameter("id", &id)
        .build();
    assert_eq!(read(shared::api::triggers::handle(&rt.services, delete).await).0, 200);
    let (status, refused) = door(&rt, agent_call("agent_1").query("token", &token)).await;
    assert_eq!(status, 401, "{refused}");
    assert_eq!(
        queued(&rt.executions).await.len(),
        1,
        "only the call before the deletion"
    );

    for body in [
        json!({"agent_id": "a", "workflow_id": "w"}),
        json!({"name": "none"}),
        json!({"agent_id": "a/b"}),
    ] {
        let request = fixture("triggers-create.json").key(&key).body(body.to_string()).build();
        let (status, refused) = read(shared::api::triggers::handle(&rt.services, request).await);
        assert_eq!(status, 422, "{body}: {refused}");
    }
}

#[tokio::test]
async fn each_authentication_style_queues_an_execution_and_wrong_tokens_queue_nothing() {
    let rt = runtime("trigger-auth", 100).await;
    let org = new_org(&rt.services).await;
    let (_, token) = create_trigger(&rt, &org.admin_key, json!({"workflow_id": "wf_1"})).await;
    let (_, agent_token) = create_trigger(&rt, &org.admin_key, json!({"agent_id": "wf_1"})).await;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("user:{token}"));
    let accepted = [
        workflow_call("wf_1").query("token", &token),
        workflow_call("wf_1").header("authorization", &format!("Bearer {token}")),
        workflow_call("wf_1").header("authorization", &format!("Basic {basic}")),
    ];
    let mut ids = Vec::new();
    for request in accepted {
        let (status, answer) = door(&rt, request).await;
        assert_eq!(status, 202, "{answer}");
        assert_eq!(answer["status"], "queued");
        assert_eq!(answer["message"], "Webhook processed successfully");
        ids.push(answer["execution_id"].as_str().unwrap().to_string());
    }
    let jobs = queued(&rt.executions).await;
    assert_eq!(jobs.len(), 3);
    assert_eq!(jobs[0]["workflow_id"], "wf_1");
    assert_eq!(jobs[0]["input"]["input_data"]["name"], "John Doe");
    assert_eq!(jobs[0]["org_id"], org.org_id.as_str());

    let other = new_org(&rt.services).await;
    let (_, foreign) = create_trigger(&rt, &other.admin_key, json!({"workflow_id": "wf_1"})).await;
    let flipped = format!(
        "{}{}",
        &token[..token.len() - 1],
        if token.ends_with('a') { 'b' } else { 'a' }
    );
    let refused = [
        workflow_call("wf_1"),
        workflow_call("wf_1").query("token", &flipped),
        workflow_call("wf_2").query("token", &token),
        workflow_call("wf_1").query("token", &agent_token),
        workflow_call("wf_1").header("authorization", &format!("Bearer {}", &org.admin_key)),
        workflow_call("wf_1").header("authorization", "Basic !!!"),
    ];
    for request in refused {
        let (status, answer) = door(&rt, request).await;
        assert_eq!(status, 401, "{answer}");
        assert_eq!(answer["error"]["code"], "UNAUTHORIZED");
    }
    // Another organization's trigger starts its own organization's workflow, never this one's.
    assert_eq!(door(&rt, workflow_call("wf_1").query("token", &foreign)).await.0, 202);
    let jobs = queued(&rt.executions).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["org_id"], other.org_id.as_str());
    for id in &ids {
        assert_eq!(execution(&rt, &org.admin_key, id).await.0, 200);
        assert_eq!(execution(&rt, &other.admin_key, id).await.0, 404);
    }
}

#[tokio::test]
async fn a_missing_or_mistyped_field_is_refused_in_seed_001s_shape_with_nothing_queued() {
    let rt = runtime("trigger-input", 100).await;
    let org = new_org(&rt.services).await;
    let (_, agent) = create_trigger(&rt, &org.admin_key, json!({"agent_id": "agent_1"})).await;
    let (_, workflow) = create_trigger(&rt, &org.admin_key, json!({"workflow_id": "wf_1"})).await;
    let cases = [
        (
            agent_call("agent_1")
                .query("token", &agent)
                .body(json!({"user_id": "u"}).to_string()),
            "message",
            "string",
            "null",
        ),
        (
            agent_call("agent_1")
                .query("token", &agent)
                .body(json!({"message": 5}).to_string()),
            "message",
            "string",
            "number",
        ),
        (
            agent_call("agent_1")
                .query("token", &agent)
                .body(json!({"message": "hi", "metadata": "x"}).to_string()),
            "metadata",
            "object",
            "string",
        ),
        (
            workflow_call("wf_1")
                .query("token", &workflow)
                .body(json!({"input_data": "x"}).to_string()),
            "input_data",
            "object",
            "string",
        ),
        (
            workflow_call("wf_1")
                .query("token", &workflow)
                .body(json!({}).to_string()),
            "input_data",
            "object",
            "null",
        ),
    ];
    for (request, field, expected, received) in cases {
        let (status, answer) = door(&rt, request).await;
        assert_eq!(status, 422, "{answer}");
        assert_eq!(answer["success"], false);
        assert_eq!(answer["error"]["code"], "INVALID_INPUT");
        assert_eq!(
            answer["error"]["details"],
            json!({"field": field, "expected": expected, "received": received})
        );
    }
    let missing = door(
        &rt,
        agent_call("agent_1").query("token", &agent).body(json!({}).to_string()),
    )
    .await
    .1;
    assert_eq!(missing["error"]["message"], "Required field 'message' is missing");
    assert!(queued(&rt.executions).await.is_empty());
}

#[tokio::test]
async fn a_retried_trigger_with_its_idempotency_key_answers_the_first_execution() {
    let rt = runtime("trigger-idempotent", 100).await;
    let org = new_org(&rt.services).await;
    let (_, token) = create_trigger(&rt, &org.admin_key, json!({"workflow_id": "wf_1"})).await;
    let call = || {
        workflow_call("wf_1")
            .query("token", &token)
            .header("idempotency-key", "form-42")
    };
    let (first_status, first) = door(&rt, call()).await;
    let (again_status, again) = door(&rt, call()).await;
    assert_eq!((first_status, again_status), (202, 202));
    assert_eq!(first["execution_id"], again["execution_id"]);
    let changed = call().body(json!({"input_data": {"other": true}}).to_string());
    let (status, refused) = door(&rt, changed).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["code"], "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(queued(&rt.executions).await.len(), 1);
}

/// An organization holds at most 200 triggers: the 201st, valid as it is, conflicts with what
/// is there (409) and is not stored.
#[tokio::test]
async fn the_two_hundred_and_first_trigger_conflicts_and_is_not_stored() {
    let rt = runtime("trigger-quota", 100).await;
    let org = new_org(&rt.services).await;
    for i in 0..200 {
        create_trigger(&rt, &org.admin_key, json!({"workflow_id": format!("wf_{i}")})).await;
    }
    let body = json!({"workflow_id": "wf_one_more"}).to_string();
    let request = fixture("triggers-create.json").key(&org.admin_key).body(body).build();
    let (status, refused) = read(shared::api::triggers::handle(&rt.services, request).await);
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (409, Some("CONFLICT")),
        "{refused}"
    );
    let stored = rt.services.store.list_triggers(&org.org_id).await.unwrap();
    assert_eq!(stored.len(), 200, "nothing stored");
}

#[tokio::test]
async fn a_trigger_is_limited_per_minute_with_retry_after() {
    let mut rt = runtime("trigger-limit", 2).await;
    let minute = time::OffsetDateTime::now_utc().replace_second(5).unwrap();
    rt.triggers = rt.triggers.with_clock(Arc::new(FixedClock(minute)));
    let org = new_org(&rt.services).await;
    let (_, token) = create_trigger(&rt, &org.admin_key, json!({"workflow_id": "wf_1"})).await;
    for _ in 0..2 {
        assert_eq!(door(&rt, workflow_call("wf_1").query("token", &token)).await.0, 202);
    }
    let request = workflow_call("wf_1").query("token", &token).build();
    let response = shared::api::trigger_webhooks::handle(&rt.triggers, request).await;
    assert_eq!(harness::header(&response, "retry-after"), Some("55"));
    assert_eq!(read(response).0, 429);
    assert_eq!(queued(&rt.executions).await.len(), 2);
}

#[tokio::test]
async fn workflow_reports_move_the_execution_once_each_and_publish_seed_001s_events() {
    let rt = runtime("workflow-reports", 100).await;
    let org = new_org(&rt.services).await;
    subscribe(&rt.services, &org, &["*"]).await;
    let (_, token) = create_trigger(&rt, &org.admin_key, json!({"workflow_id": "wf_abc123"})).await;
    let id = door(&rt, workflow_call("wf_abc123").query("token", &token)).await.1["execution_id"]
        .as_str()
        .unwrap()
        .to_string();
    let runtime_key = new_key(&rt.services, &org, &["executions:report"], 100).await;
    let reader = new_key(&rt.services, &org, &["executions:read"], 100).await;
    assert_eq!(report(&rt, &reader, &id, json!({"type": "started"})).await.0, 403);

    let steps = [
        json!({"type": "started", "occurred_at": "2024-01-15T10:25:00Z"}),
        json!({"type": "step_completed", "step": {"index": 1, "name": "validate"}}),
        json!({"type": "step_completed", "step": {"index": 1, "name": "validate"}}),
        json!({"type": "started", "occurred_at": "2024-01-15T10:25:00Z"}),
        json!({"type": "completed", "occurred_at": "2024-01-15T10:30:00Z",
            "output_data": {"result": "Email sent successfully", "email_id": "email_567890"}, "credits_used": 4.5}),
        json!({"type": "failed", "error": {"code": "LATE"}}),
    ];
    let mut applied = Vec::new();
    for body in steps {
        let (status, answer) = report(&rt, &runtime_key, &id, body).await;
        assert_eq!(status, 200, "{answer}");
        applied.push(answer["applied"].as_bool().unwrap());
    }
    assert_eq!(applied, [true, true, false, false, true, false]);
    let (_, stored) = execution(&rt, &reader, &id).await;
    let stored = &stored["execution"];
    assert_eq!(stored["status"], "success");
    assert_eq!(stored["steps_completed"], 1);
    assert_eq!(stored["duration_seconds"], 300);
    assert!(stored["error"].is_null(), "the first final report wins");

    let events: Vec<Value> = rt.events.drain().await;
    let names: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "workflow.execution.started",
            "workflow.step.completed",
            "workflow.execution.completed"
        ]
    );
    let completed = &events[2]["data"];
    for (field, value) in [
        ("workflow_id", json!("wf_abc123")),
        ("execution_id", json!(id)),
        ("status", json!("success")),
        ("started_at", json!("2024-01-15T10:25:00.000Z")),
        ("completed_at", json!("2024-01-15T10:30:00.000Z")),
        ("duration_seconds", json!(300)),
        ("credits_used", json!(4.5)),
        ("steps_completed", json!(1)),
        (
            "output_data",
            json!({"result": "Email sent successfully", "email_id": "email_567890"}),
        ),
    ] {
        assert_eq!(completed[field], value, "{field}");
    }
    assert_eq!(completed["input_data"]["name"], "John Doe");

    let list = fixture("executions-list.json").key(&reader).build();
    let (status, listed) = read(shared::api::executions::handle(&rt.services, &rt.events.publisher(), list).await);
    assert_eq!(status, 200);
    assert_eq!(listed["executions"][0]["execution_id"], id.as_str());
    let other = new_org(&rt.services).await;
    assert_eq!(
        report(&rt, &other.admin_key, &id, json!({"type": "started"})).await.0,
        404
    );
}

#[tokio::test]
async fn reports_racing_on_one_execution_are_all_counted() {
    let rt = runtime("racing-reports", 100).await;
    let org = new_org(&rt.services).await;
    let (_, token) = create_trigger(&rt, &org.admin_key, json!({"workflow_id": "wf_1"})).await;
    let id = door(&rt, workflow_call("wf_1").query("token", &token)).await.1["execution_id"]
        .as_str()
        .unwrap()
        .to_string();
    let reports = (1..=4).map(|i| {
        report(
            &rt,
            &org.admin_key,
            &id,
            json!({"type": "step_completed", "step": {"index": i}}),
        )
    });
    for (status, answer) in futures_util::future::join_all(reports).await {
        assert_eq!(status, 200, "{answer}");
    }
    let (_, stored) = execution(&rt, &org.admin_key, &id).await;
    assert_eq!(stored["execution"]["steps_completed"], 4);
    assert_eq!(stored["execution"]["status"], "running");
}

#[tokio::test]
async fn an_agent_conversation_is_a_ticket_with_the_ai_reply_and_its_csat_token() {
    let rt = runtime("agent-conversation", 100).await;
    let org = new_org(&rt.services).await;
    subscribe(&rt.services, &org, &["*"]).await;
    let (_, token) = create_trigger(&rt, &org.admin_key, json!({"agent_id": "agent_abc123"})).await;
    let (_, accepted) = door(&rt, agent_call("agent_abc123").query("token", &token)).await;
    let id = accepted["execution_id"].as_str().unwrap().to_string();
    let jobs = queued(&rt.executions).await;
    let conversation = jobs[0]["conversation_id"].as_str().unwrap().to_string();

    // The reply is reported before `started`: the conversation opens all the same.
    let reply = json!({"type": "message_sent", "message": {"id": "m-1", "content": "Your order #12345 ships today."}});
    let (status, answer) = report(&rt, &org.admin_key, &id, reply.clone()).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["csat_token"].as_str().unwrap().starts_with("csat_"));
    assert_eq!(report(&rt, &org.admin_key, &id, reply).await.1["applied"], false);
    report(&rt, &org.admin_key, &id, json!({"type": "started"})).await;
    let done = json!({"type": "completed", "satisfaction_score": 4.5, "credits_used": 12.0,
        "resolution": {"type": "solved", "category": "technical_support", "tags": ["order_status"]}});
    assert_eq!(report(&rt, &org.admin_key, &id, done).await.0, 200);

    let ticket = rt
        .services
        .store
        .get_ticket(&org.org_id, &conversation)
        .await
        .unwrap()
        .expect("the ticket");
    assert_eq!(ticket.channel.as_str(), "api");
    assert_eq!(ticket.status.as_str(), "solved");
    assert_eq!(ticket.customer_email.as_deref(), Some("customer@example.com"));
    assert_eq!(ticket.order_numbers, ["12345"]);
    let entries = rt
        .services
        .store
        .list_entries(&org.org_id, &conversation)
        .await
        .unwrap();
    let thread: Vec<(Value, &str)> = entries
        .iter()
        .map(|e| (json!(e.author.role), e.content_text.as_str()))
        .collect();
    assert_eq!(
        thread,
        [
            (json!("customer"), "Hello, I need help with my order #12345"),
            (json!("ai"), "Your order #12345 ships today.")
        ]
    );

    let events = rt.events.drain().await;
    let completed = events
        .iter()
        .find(|e| e["event"] == "agent.conversation.completed")
        .expect("agent.conversation.completed");
    let data = &completed["data"];
    assert_eq!(data["agent_id"], "agent_abc123");
    assert_eq!(data["conversation_id"], conversation.as_str());
    assert_eq!(data["user_id"], "user_123");
    assert_eq!(data["status"], "resolved");
    assert_eq!(data["message_count"], 1);
    assert_eq!(data["satisfaction_score"], 4.5);
    assert_eq!(data["credits_used"], 12.0);
    assert_eq!(data["resolution"]["category"], "technical_support");
    let names: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    for name in [
        "ticket.created",
        "agent.message.sent",
        "agent.conversation.started",
        "ticket.solved",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
}
