//! The served OpenAPI document against the server, from outside, over the local stack
//! (`cargo lambda watch` and the emulator): schemathesis generates requests for every operation
//! (examples, coverage of each schema's edges, random fuzzing) and checks every answer: no 5xx,
//! documented status codes and content types, responses that match their schemas, schema-valid
//! requests accepted and schema-violating ones refused, 405 for undocumented methods.
//!
//! `another_organization_s_key_finds_nothing_and_changes_nothing` walks the document too: every
//! operation that takes an API key, called with one organization's key on another's ids.
//!
//! Each test runs with organizations of its own (the contract run's key holds every scope), so
//! nothing one creates, changes or revokes touches the other. `tests/contract/` holds the
//! schemathesis configuration (with the few cross-field rules a schema cannot state) and its
//! hooks.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

use harness::{LocalStack, repo_root, venv_bin};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::OnceCell;

/// One local stack for both tests of this binary.
async fn stack() -> &'static LocalStack {
    static STACK: OnceCell<LocalStack> = OnceCell::const_new();
    STACK.get_or_init(|| LocalStack::start(&[], false)).await
}

/// Test cases per operation and phase, and scenarios of the stateful run: bounded, so each run
/// takes a few minutes, and seeded, so a failure replays.
const EXAMPLES_PER_OPERATION: &str = "10";
const SCENARIOS: &str = "60";
const SEED: &str = "20261204";

#[tokio::test]
async fn every_operation_answers_as_the_document_says() {
    let key = stack().await.new_organization("Contract", 10_000);
    schemathesis(
        &key,
        "examples,coverage,fuzzing",
        EXAMPLES_PER_OPERATION,
        &[],
        "api-contract",
    )
    .await;
}

/// Sequences of calls that follow the document's data flow (an id one answer gives, the next
/// request names): create, read, change, list and delete in the orders a client would. The run
/// has an organization of its own, and its hooks keep it from revoking the key it runs with.
///
/// Its checks are those of state and answers (no 5xx, documented statuses and schemas, a created
/// resource found, a deleted one gone). Whether a request is valid is the other run's to judge,
/// operation by operation: a link writes what an answer gave over the generated request (a
/// ticket's `team: null` into an escalation's required `team`), and a request so made is neither
/// the valid nor the invalid one it was generated as.
#[tokio::test]
async fn call_sequences_answer_as_the_document_says() {
    let key = stack().await.new_organization("Contract stateful", 10_000);
    let not_judged = ["--exclude-checks", "positive_data_acceptance,negative_data_rejection"];
    schemathesis(&key, "stateful", SCENARIOS, &not_judged, "api-contract-stateful").await;
}

/// Runs schemathesis' `phases` over the served document with `key`, `examples` cases each and
/// `options` besides; fails the test on any disagreement. The JUnit report goes to
/// `target/test-logs/<report>.xml`.
async fn schemathesis(key: &str, phases: &str, examples: &str, options: &[&str], report: &str) {
    // One run at a time: each function under `cargo lambda watch` serves one request at a time,
    // so two runs at once queue behind each other, and in such a run the router once answered
    // a 500 of its own (nothing from the function).
    static ONE_RUN_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = ONE_RUN_AT_A_TIME.lock().await;
    let stack = stack().await;
    let contract = repo_root().join("tests/contract");
    let report = repo_root().join(format!("target/test-logs/{report}.xml"));
    let own_key_id = key
        .strip_prefix("hg_live_")
        .and_then(|rest| rest.split('_').next())
        .expect("a key reads hg_live_<id>_<secret>");
    let output = Command::new(venv_bin("schemathesis"))
        .arg("--config-file")
        .arg(contract.join("schemathesis.toml"))
        .args(["run", &format!("{}/api/openapi", stack.base)])
        .args(["--header", &format!("x-api-key: {key}")])
        .args(["--max-examples", examples, "--seed", SEED])
        .args(["--phases", phases, "--checks", "all"])
        .args(options)
        // The first request to each function builds it under `cargo lambda watch`.
        .args(["--request-timeout", "300", "--wait-for-schema", "300"])
        .args(["--no-color", "--report", "junit", "--report-junit-path"])
        .arg(&report)
        // Hypothesis keeps its files in the working directory: under target/, which
        // `cargo lambda watch` ignores, or it would rebuild and restart functions mid-run.
        .args(["--generation-database", "none"])
        .current_dir(report.parent().expect("the report's folder"))
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .env("PYTHONPATH", &contract)
        .env("CONTRACT_OWN_KEY_ID", own_key_id)
        .output()
        .expect("running schemathesis");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the server and its OpenAPI document disagree (the failures above replay with curl; \
         the JUnit report is {}):\n{}",
        report.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A request's answer: status and body as sent.
struct Answer {
    status: u16,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

async fn send(key: &str, method: Method, path: &str, body: Option<&Value>) -> Answer {
    // Generous: the first request to each function compiles it.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(240))
        .build()
        .unwrap();
    let mut request = client
        .request(method, format!("{}{path}", stack().await.base))
        .header("x-api-key", key);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    Answer {
        status: response.status().as_u16(),
        text: response.text().await.unwrap(),
    }
}

/// Sends with `key` and expects `status`; answers the JSON.
async fn expect(key: &str, method: Method, path: &str, body: Option<Value>, status: u16) -> Value {
    let answer = send(key, method.clone(), path, body.as_ref()).await;
    assert_eq!(answer.status, status, "{method} {path}: {}", answer.text);
    answer.json()
}

fn text(value: &Value, pointer: &str) -> String {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no {pointer} in {value}"))
        .to_string()
}

/// What the victim organization holds: for each (path, path parameter), the values naming its
/// resources there, and every string of its data that another organization must never see.
struct Victim {
    key: String,
    ids: BTreeMap<(&'static str, &'static str), Vec<String>>,
    secrets: BTreeSet<String>,
    /// Its ticket, its customer (email and phone), the ticket's subject, its trigger's workflow
    /// and the API key it made.
    ticket: String,
    email: String,
    phone: String,
    subject: String,
    workflow: String,
    api_key: String,
}

impl Victim {
    fn name(&mut self, paths: &[&'static str], parameter: &'static str, value: &str) {
        for path in paths {
            self.ids.entry((path, parameter)).or_default().push(value.to_string());
        }
        self.secrets.insert(value.to_string());
    }

    /// A string of its data that names nothing in a path.
    fn data(&mut self, value: &str) -> String {
        self.secrets.insert(value.to_string());
        value.to_string()
    }
}

/// One of each resource the API has, made over HTTP with the organization's own key.
async fn victim(key: String) -> Victim {
    let run = format!("iso{}", std::process::id());
    let mut victim = Victim {
        key: key.clone(),
        ids: BTreeMap::new(),
        secrets: BTreeSet::new(),
        ticket: String::new(),
        email: format!("{run}-customer@victim.example"),
        phone: "+4915199887766".into(),
        subject: format!("{run} where is my parcel"),
        workflow: format!("wf-{run}"),
        api_key: String::new(),
    };
    let key = key.as_str();
    let (email, phone, subject) = (victim.email.clone(), victim.phone.clone(), victim.subject.clone());
    victim.secrets.extend([email.clone(), phone.clone(), subject.clone()]);
    let name = victim.data(&format!("{run} Victim Customer"));
    expect(
        key,
        Method::POST,
        "/api/v1/customers",
        Some(json!({"email": email, "name": name, "phone": phone})),
        201,
    )
    .await;
    victim.name(
        &["/api/v1/customers/{email}", "/api/context/customers/{email}"],
        "email",
        &email,
    );

    let first_message = victim.data(&format!("{run} my parcel never came"));
    let ticket = expect(
        key,
        Method::POST,
        "/api/v1/tickets",
        Some(json!({"subject": subject, "customer_email": email, "message": {"content_text": first_message}})),
        201,
    )
    .await;
    victim.ticket = text(&ticket, "/ticket/id");
    let ticket_paths = [
        "/api/v1/tickets/{id}",
        "/api/v1/tickets/{id}/conversations",
        "/api/v1/tickets/{id}/escalate",
        "/api/context/tickets/{id}",
    ];
    let ticket_id = victim.ticket.clone();
    victim.name(&ticket_paths, "id", &ticket_id);
    // The ticket's number names it too; the other organization has no ticket of that number.
    let number = ticket["ticket"]["ticketNumber"].to_string();
    victim
        .ids
        .entry(("/api/v1/tickets/{id}", "id"))
        .or_default()
        .push(number);
    let thread = expect(
        key,
        Method::GET,
        &format!("/api/v1/tickets/{ticket_id}/conversations"),
        None,
        200,
    )
    .await;
    victim.name(
        &["/api/v1/conversations/{id}"],
        "id",
        &text(&thread, "/conversations/0/id"),
    );

    let endpoint_name = victim.data(&format!("{run} victim receiver"));
    let endpoint = expect(
        key,
        Method::POST,
        "/api/v1/webhooks",
        // An event nothing here raises: the endpoint's logs and stats stay as they are unless
        // someone sends to it.
        Some(json!({"name": endpoint_name, "url": format!("http://127.0.0.1:9/{run}"), "events": ["sla.breached"]})),
        201,
    )
    .await;
    let endpoint_id = text(&endpoint, "/webhook/id");
    victim.data(&text(&endpoint, "/secret"));
    victim.name(
        &[
            "/api/v1/webhooks/{id}",
            "/api/v1/webhooks/{id}/logs",
            "/api/v1/webhooks/{id}/stats",
            "/api/v1/webhooks/{id}/rotate-secret",
            "/api/v1/webhooks/{id}/test",
            "/api/v1/webhooks/{id}/recover",
        ],
        "id",
        &endpoint_id,
    );

    let external_id = victim.data(&format!("{run}-EXT"));
    let buyer = victim.data(&format!("{run} Victim Buyer"));
    let order = expect(
        key,
        Method::POST,
        "/api/v1/orders",
        Some(
            json!({"customerName": buyer, "customerPhone": "+212612345678", "externalId": external_id,
            "products": [{"name": "Kettle", "quantity": 1, "price": 20}], "totalAmount": 20, "currency": "MAD"}),
        ),
        201,
    )
    .await;
    let order_id = text(&order, "/data/id");
    victim.name(
        &[
            "/api/v1/orders/{id}",
            "/api/v1/orders/{id}/call-attempts",
            "/api/context/orders/{order_number}",
        ],
        "id",
        &order_id,
    );
    // The agent context finds a call order by its id or its external id.
    let context_orders = victim
        .ids
        .remove(&("/api/context/orders/{order_number}", "id"))
        .unwrap_or_default();
    victim
        .ids
        .entry(("/api/context/orders/{order_number}", "order_number"))
        .or_default()
        .extend(context_orders.into_iter().chain([external_id]));

    let order_number = format!("{run}-4521");
    let tracking = victim.data(&format!("{run}-TRACK"));
    expect(
        key,
        Method::POST,
        "/api/webhook",
        Some(
            json!({"type": "order", "order": {"order_number": order_number, "status": "shipped",
            "tracking_number": tracking, "customer_email": email}}),
        ),
        200,
    )
    .await;
    victim.name(&["/api/context/orders/{order_number}"], "order_number", &order_number);

    let policy_name = victim.data(&format!("{run} victim policy"));
    let policy = expect(
        key,
        Method::POST,
        "/api/v1/sla-policies",
        Some(json!({"name": policy_name, "targets": {"urgent": {"first_response_minutes": 30}}})),
        201,
    )
    .await;
    victim.name(&["/api/v1/sla-policies/{id}"], "id", &text(&policy, "/policy/id"));

    let workflow = victim.workflow.clone();
    victim.data(&workflow);
    let trigger_name = victim.data(&format!("{run} victim trigger"));
    let trigger = expect(
        key,
        Method::POST,
        "/api/v1/triggers",
        Some(json!({"name": trigger_name, "workflow_id": workflow})),
        201,
    )
    .await;
    victim.name(&["/api/v1/triggers/{id}"], "id", &text(&trigger, "/trigger/id"));
    let token = victim.data(&text(&trigger, "/token"));
    let input = victim.data(&format!("{run} workflow input"));
    let execution = expect(
        key,
        Method::POST,
        &format!("/webhooks/workflows/{workflow}?token={token}"),
        Some(json!({"input_data": {"note": input}})),
        202,
    )
    .await;
    victim.name(
        &["/api/v1/executions/{id}", "/api/v1/executions/{id}/events"],
        "id",
        &text(&execution, "/execution_id"),
    );

    let key_name = victim.data(&format!("{run} victim key"));
    let api_key = expect(
        key,
        Method::POST,
        "/api/api-keys",
        Some(json!({"name": key_name, "scopes": ["tickets:read"]})),
        201,
    )
    .await;
    victim.data(&text(&api_key, "/key"));
    victim.api_key = text(&api_key, "/id");
    let api_key_id = victim.api_key.clone();
    victim.name(&["/api/api-keys/{id}"], "id", &api_key_id);

    let sender = format!("{run}-spam@spammer.example");
    let reason = victim.data(&format!("{run} sends spam"));
    expect(
        key,
        Method::POST,
        "/api/v1/blocked-senders",
        Some(json!({"sender": sender, "reason": reason})),
        201,
    )
    .await;
    victim.name(&["/api/v1/blocked-senders/{sender}"], "sender", &sender);

    let attachment = stored_attachment(&mut victim, &run).await;
    victim.name(&["/api/attachments/{id}/download"], "id", &attachment);

    let (integration, request_id) = shopify_data_request(&mut victim, &run).await;
    victim.name(
        &[
            "/api/v1/integrations/{id}",
            "/api/v1/integrations/{id}/data-requests/{request_id}",
        ],
        "id",
        &integration,
    );
    victim.name(
        &["/api/v1/integrations/{id}/data-requests/{request_id}"],
        "request_id",
        &request_id,
    );
    victim
}

/// A file uploaded through a presigned POST onto the victim's ticket, as a browser sends it,
/// and stored (its first download marks it so); answers its id.
async fn stored_attachment(victim: &mut Victim, run: &str) -> String {
    const BOUNDARY: &str = "isolation-boundary";
    let filename = victim.data(&format!("{run}-invoice.txt"));
    let contents = victim.data(&format!("{run} invoice contents"));
    let presigned = expect(
        &victim.key,
        Method::POST,
        "/api/v1/attachments",
        Some(json!({"filename": filename, "type": "text/plain", "size": contents.len(), "ticketId": victim.ticket})),
        201,
    )
    .await;
    let mut form = String::new();
    for (name, value) in presigned["upload"]["fields"].as_object().unwrap() {
        form += &format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{}\r\n",
            value.as_str().unwrap()
        );
    }
    form += &format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n\
         Content-Type: text/plain\r\n\r\n{contents}\r\n--{BOUNDARY}--\r\n"
    );
    let posted = reqwest::Client::new()
        .post(text(&presigned, "/upload/url"))
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(form)
        .send()
        .await
        .unwrap();
    assert!(posted.status().is_success(), "{}", posted.status());
    let id = text(&presigned, "/attachment/id");
    expect(
        &victim.key,
        Method::GET,
        &format!("/api/attachments/{id}/download"),
        None,
        200,
    )
    .await;
    id
}

/// A connected Shopify shop and the report of a customer data request it sent, signed as
/// Shopify signs; answers the integration's id and the request's.
async fn shopify_data_request(victim: &mut Victim, run: &str) -> (String, String) {
    let secret = victim.data(&format!("{run}-shopify-app-secret"));
    let shop = victim.data(&format!("{run}.myshopify.com"));
    let integration = expect(
        &victim.key,
        Method::POST,
        "/api/v1/integrations",
        Some(json!({"provider": "shopify", "shop_domain": shop, "secret": secret})),
        201,
    )
    .await;
    let request_id = "4242";
    let body = json!({"shop_domain": shop, "customer": {"email": victim.email},
        "orders_requested": [], "data_request": {"id": 4242}})
    .to_string();
    let signature = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .encode(shared::crypto::hmac_sha256(secret.as_bytes(), &[body.as_bytes()]))
    };
    let answer = reqwest::Client::builder()
        .timeout(Duration::from_secs(240))
        .build()
        .unwrap()
        .post(format!("{}/api/webhooks/shopify/gdpr", stack().await.base))
        .header("content-type", "application/json")
        .header("x-shopify-topic", "customers/data_request")
        .header("x-shopify-shop-domain", &shop)
        .header("x-shopify-event-id", format!("{run}-data-request"))
        .header("x-shopify-hmac-sha256", signature)
        .header(
            "x-shopify-triggered-at",
            shared::clock::rfc3339(time::OffsetDateTime::now_utc()),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "{:?}", answer.text().await);
    (text(&integration, "/integration/id"), request_id.to_string())
}

/// Every keyed operation with a path parameter, with the body a caller would send to the
/// victim's resource there: valid, so that the handler gets past its validation to its lookup.
fn operations_on_ids() -> Vec<(Method, &'static str, Option<Value>)> {
    let since = shared::clock::rfc3339(time::OffsetDateTime::now_utc() - time::Duration::days(1));
    vec![
        (Method::DELETE, "/api/api-keys/{id}", None),
        (Method::GET, "/api/attachments/{id}/download", None),
        (Method::GET, "/api/context/customers/{email}", None),
        (Method::GET, "/api/context/orders/{order_number}", None),
        (Method::GET, "/api/context/tickets/{id}", None),
        (Method::DELETE, "/api/v1/blocked-senders/{sender}", None),
        (Method::GET, "/api/v1/conversations/{id}", None),
        (Method::GET, "/api/v1/customers/{email}", None),
        (
            Method::PATCH,
            "/api/v1/customers/{email}",
            Some(json!({"name": "Changed by another organization"})),
        ),
        (Method::GET, "/api/v1/executions/{id}", None),
        (
            Method::POST,
            "/api/v1/executions/{id}/events",
            Some(json!({"type": "failed", "error": {"message": "stopped by another organization"}})),
        ),
        (Method::GET, "/api/v1/integrations/{id}", None),
        (Method::DELETE, "/api/v1/integrations/{id}", None),
        (
            Method::GET,
            "/api/v1/integrations/{id}/data-requests/{request_id}",
            None,
        ),
        (Method::GET, "/api/v1/orders/{id}", None),
        (
            Method::PATCH,
            "/api/v1/orders/{id}",
            Some(json!({"customerName": "Changed by another organization"})),
        ),
        (Method::DELETE, "/api/v1/orders/{id}", None),
        (
            Method::POST,
            "/api/v1/orders/{id}/call-attempts",
            Some(json!({"outcome": "cancelled", "attemptId": "isolation-1", "reason": "not mine"})),
        ),
        (Method::GET, "/api/v1/sla-policies/{id}", None),
        (
            Method::PUT,
            "/api/v1/sla-policies/{id}",
            Some(json!({"name": "Changed", "targets": {"low": {"resolution_minutes": 1}}})),
        ),
        (Method::DELETE, "/api/v1/sla-policies/{id}", None),
        (Method::GET, "/api/v1/tickets/{id}", None),
        (
            Method::PATCH,
            "/api/v1/tickets/{id}",
            Some(json!({"status": "closed", "subject": "Changed by another organization"})),
        ),
        (Method::GET, "/api/v1/tickets/{id}/conversations", None),
        (
            Method::POST,
            "/api/v1/tickets/{id}/conversations",
            Some(json!({"author": {"type": "agent"}, "content_text": "Written by another organization"})),
        ),
        (
            Method::POST,
            "/api/v1/tickets/{id}/escalate",
            Some(json!({"team": "elsewhere", "reason": "another organization"})),
        ),
        (Method::DELETE, "/api/v1/triggers/{id}", None),
        (Method::GET, "/api/v1/webhooks/{id}", None),
        (
            Method::PUT,
            "/api/v1/webhooks/{id}",
            Some(json!({"url": "http://127.0.0.1:9/elsewhere", "status": "disabled"})),
        ),
        (Method::DELETE, "/api/v1/webhooks/{id}", None),
        (Method::GET, "/api/v1/webhooks/{id}/logs", None),
        (Method::GET, "/api/v1/webhooks/{id}/stats", None),
        (Method::POST, "/api/v1/webhooks/{id}/rotate-secret", None),
        (Method::POST, "/api/v1/webhooks/{id}/test", Some(json!({}))),
        (
            Method::POST,
            "/api/v1/webhooks/{id}/recover",
            Some(json!({"since": since})),
        ),
    ]
}

/// Keyed lists asked about the victim's things by name, besides each list unfiltered.
fn queries_naming_the_victim(victim: &Victim) -> Vec<String> {
    vec![
        format!("/api/v1/customers?email={}", url_escaped(&victim.email)),
        format!("/api/v1/customers?phone={}", url_escaped(&victim.phone)),
        format!("/api/v1/tickets?customer={}", url_escaped(&victim.email)),
        format!("/api/v1/tickets?q={}", url_escaped(&victim.subject)),
        format!("/api/v1/executions?workflow_id={}", url_escaped(&victim.workflow)),
    ]
}

/// Every operation of the document that takes an API key, as (method, path).
fn keyed_operations() -> Vec<(Method, String)> {
    let document: Value = serde_json::from_str(shared::api::openapi::json()).unwrap();
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let keyed = operation["security"]
                .as_array()
                .is_some_and(|schemes| schemes.iter().any(|s| s.get("apiKey").is_some()));
            if keyed {
                operations.push((method.to_uppercase().parse().unwrap(), path.clone()));
            }
        }
    }
    operations
}

/// `path` with its parameters replaced by each combination of the victim's values for them.
fn concrete_paths(victim: &Victim, path: &str) -> Vec<String> {
    let mut paths = vec![path.to_string()];
    let parameters = path
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'));
    for parameter in parameters {
        let values = victim
            .ids
            .get(&(path, parameter))
            .unwrap_or_else(|| panic!("the victim has nothing for {{{parameter}}} of {path}: make one"));
        let placeholder = format!("{{{parameter}}}");
        let placeholder = placeholder.as_str();
        paths = paths
            .iter()
            .flat_map(|partial| {
                values
                    .iter()
                    .map(move |value| partial.replace(placeholder, &url_escaped(value)))
            })
            .collect();
    }
    paths
}

fn url_escaped(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Everything the victim holds, read with its own key through every keyed read of the
/// document: what another organization's calls must leave as it was.
async fn victim_state(victim: &Victim) -> BTreeMap<String, Value> {
    let reads: Vec<String> = keyed_operations()
        .into_iter()
        .filter(|(method, _)| method == Method::GET)
        .flat_map(|(_, path)| concrete_paths(victim, &path))
        .collect();
    let mut state = BTreeMap::new();
    for path in reads {
        let answer = send(&victim.key, Method::GET, &path, None).await;
        let mut json = answer.json();
        if path == "/api/api-keys" {
            // The victim's admin key is used by these very reads (`last_used_at`); the key it
            // made is never used.
            json = json!(
                json["keys"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|k| k["id"] == victim.api_key.as_str())
            );
        }
        if path.ends_with("/download") {
            // Each download link is signed afresh, valid for an hour from now: what stays is the
            // file, its name and its type.
            let url = text(&json, "/url");
            let file = reqwest::get(&url).await.unwrap().text().await.unwrap();
            json = json!({"file": file, "filename": json["filename"], "mimeType": json["mimeType"],
                "object": url.split('?').next()});
        }
        state.insert(path, json!({"status": answer.status, "body": json}));
    }
    state
}

/// Tenant isolation, over every route of the document that takes an API key: organization B's
/// key on organization A's ids answers 404 or 403, with nothing of A's in the answer, and A's
/// resources read the same before and after. B's lists (also filtered by A's customer,
/// subject and workflow) answer B's empty organization. Keyed creations without a path
/// parameter (and `PUT /api/v1/widget`, `POST /api/v1/deliveries/redrive`) act on the caller's
/// own organization, so they are not called here (another organization's redrive of the shared
/// dead-letter queue is in `faults.rs`, ids named in bodies in each resource's tests).
///
/// The provider doors and the public routes (widget, CSAT, `/api/webhooks/*`,
/// `/webhooks/agents|workflows/*`) take no API key: they find their organization by a signature,
/// a token or a widget key, and their own tests hold that one organization's credentials never
/// reach another's data.
#[tokio::test]
async fn another_organization_s_key_finds_nothing_and_changes_nothing() {
    let stack = stack().await;
    let victim = victim(stack.new_organization("Isolation victim", 10_000)).await;
    let other = stack.new_organization("Isolation other tenant", 10_000);
    let before = victim_state(&victim).await;

    let table = operations_on_ids();
    let documented = keyed_operations();
    let with_parameters: BTreeSet<(String, String)> = documented
        .iter()
        .filter(|(_, path)| path.contains('{'))
        .map(|(method, path)| (method.to_string(), path.clone()))
        .collect();
    let tabled: BTreeSet<(String, String)> = table
        .iter()
        .map(|(method, path, _)| (method.to_string(), path.to_string()))
        .collect();
    assert_eq!(
        with_parameters, tabled,
        "every keyed operation with a path parameter needs a row in operations_on_ids (and no row \
         outlives its route)"
    );

    let mut calls = 0;
    for (method, path, body) in &table {
        for concrete in concrete_paths(&victim, path) {
            let answer = send(&other, method.clone(), &concrete, body.as_ref()).await;
            calls += 1;
            assert!(
                [403, 404].contains(&answer.status),
                "{method} {concrete} with another organization's key: {} {}",
                answer.status,
                answer.text
            );
            // A 404 may name what was asked for; anything else of A's is a leak.
            let leaked: Vec<&String> = victim
                .secrets
                .iter()
                .filter(|secret| !concrete.contains(url_escaped(secret).as_str()))
                .filter(|secret| answer.text.contains(secret.as_str()))
                .collect();
            assert!(
                leaked.is_empty(),
                "{method} {concrete} answered {leaked:?}: {}",
                answer.text
            );
        }
    }
    let lists = documented
        .iter()
        .filter(|(method, path)| method == Method::GET && !path.contains('{'))
        .map(|(_, path)| path.clone())
        .chain(queries_naming_the_victim(&victim));
    for path in lists {
        let answer = send(&other, Method::GET, &path, None).await;
        calls += 1;
        assert!(
            (200..300).contains(&answer.status),
            "GET {path}: {} {}",
            answer.status,
            answer.text
        );
        let leaked: Vec<&String> = victim
            .secrets
            .iter()
            .filter(|secret| answer.text.contains(secret.as_str()))
            .collect();
        assert!(leaked.is_empty(), "GET {path} answered {leaked:?}: {}", answer.text);
    }
    println!("{calls} calls with another organization's key");

    let after = victim_state(&victim).await;
    for (path, was) in &before {
        assert_eq!(Some(was), after.get(path), "{path} changed");
    }
}
