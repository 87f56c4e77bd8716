//! template.yaml is the one definition of the stack: the local emulator's resources, the local
//! router and the OpenAPI document must agree with it.

use std::collections::BTreeSet;

use admin::template::StackDefinition;
use aws_sdk_sqs::types::QueueAttributeName;
use harness::{emulator, repo_root, sdk_config};
use serde_norway::Value as Yaml;

fn template() -> Yaml {
    serde_norway::from_str(&std::fs::read_to_string(repo_root().join("template.yaml")).unwrap()).unwrap()
}

fn stack() -> StackDefinition {
    StackDefinition::load(&repo_root().join("template.yaml")).unwrap()
}

#[tokio::test]
async fn the_emulated_table_matches_the_template() {
    let config = sdk_config(&emulator().endpoint).await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let stack = stack();
    let expected = stack.table(harness::TABLE).expect("the template defines the table");
    let table = client
        .describe_table()
        .table_name(harness::TABLE)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();

    let keys = |schema: &[aws_sdk_dynamodb::types::KeySchemaElement]| {
        schema
            .iter()
            .map(|k| (k.attribute_name().to_string(), k.key_type().as_str().to_string()))
            .collect::<Vec<_>>()
    };
    let template_keys = |schema: &[admin::template::KeyElement]| {
        schema
            .iter()
            .map(|k| (k.attribute.clone(), k.key_type.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(table.key_schema()), template_keys(&expected.key_schema));
    let attributes: BTreeSet<_> = table
        .attribute_definitions()
        .iter()
        .map(|a| (a.attribute_name().to_string(), a.attribute_type().as_str().to_string()))
        .collect();
    assert_eq!(attributes, expected.attributes.iter().cloned().collect());
    let indexes = table.global_secondary_indexes();
    assert_eq!(indexes.len(), expected.indexes.len());
    for index in &expected.indexes {
        let live = indexes
            .iter()
            .find(|i| i.index_name() == Some(index.name.as_str()))
            .expect("index exists");
        assert_eq!(keys(live.key_schema()), template_keys(&index.key_schema));
        assert_eq!(
            live.projection().and_then(|p| p.projection_type()).map(|p| p.as_str()),
            Some(index.projection.as_str())
        );
    }
    let ttl = client
        .describe_time_to_live()
        .table_name(harness::TABLE)
        .send()
        .await
        .unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!(ttl.attribute_name(), expected.ttl_attribute.as_deref());
    assert_eq!(ttl.time_to_live_status().map(|s| s.as_str()), Some("ENABLED"));
    // The store module writes the same names.
    assert_eq!(expected.ttl_attribute.as_deref(), Some(shared::store::TTL));
    assert_eq!(expected.indexes[0].name, shared::store::GSI1);
}

#[tokio::test]
async fn the_emulated_queues_and_redrive_match_the_template() {
    let config = sdk_config(&emulator().endpoint).await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let stack = stack();
    assert!(!stack.queues.is_empty());
    for queue in &stack.queues {
        let url = &emulator().queue_urls[&queue.name];
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .unwrap();
        let attributes = attributes.attributes().unwrap();
        if let Some(seconds) = queue.visibility_timeout {
            assert_eq!(
                attributes[&QueueAttributeName::VisibilityTimeout],
                seconds.to_string(),
                "{}",
                queue.name
            );
        }
        if let Some(seconds) = queue.message_retention_period {
            assert_eq!(
                attributes[&QueueAttributeName::MessageRetentionPeriod],
                seconds.to_string(),
                "{}",
                queue.name
            );
        }
        match &queue.redrive {
            Some(redrive) => {
                let policy: serde_json::Value =
                    serde_json::from_str(&attributes[&QueueAttributeName::RedrivePolicy]).unwrap();
                let dlq_url = &emulator().queue_urls[&redrive.dead_letter_queue];
                let dlq = sqs
                    .get_queue_attributes()
                    .queue_url(dlq_url)
                    .attribute_names(QueueAttributeName::QueueArn)
                    .send()
                    .await
                    .unwrap();
                let dlq_arn = &dlq.attributes().unwrap()[&QueueAttributeName::QueueArn];
                assert_eq!(policy["deadLetterTargetArn"], dlq_arn.as_str());
                assert_eq!(
                    policy["maxReceiveCount"].as_u64(),
                    Some(redrive.max_receive_count as u64)
                );
            }
            None => assert!(
                !attributes.contains_key(&QueueAttributeName::RedrivePolicy),
                "{}",
                queue.name
            ),
        }
    }
    let delivery = stack.queue(harness::DELIVERY_QUEUE).expect("delivery queue");
    assert!(
        delivery.redrive.is_some(),
        "the delivery queue needs a dead-letter queue"
    );
}

/// (path, binary) of every HttpApi route in template.yaml. Every route takes any method: the
/// function answers 405 with `Allow` for a method it does not serve.
fn template_routes() -> BTreeSet<(String, String)> {
    let template = template();
    let mut routes = BTreeSet::new();
    for (_, resource) in template["Resources"].as_mapping().unwrap() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .expect("every function names its binary");
        assert_eq!(resource["Metadata"]["BuildMethod"].as_str(), Some("rust-cargolambda"));
        let Some(events) = resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (_, event) in events {
            if event["Type"].as_str() == Some("HttpApi") {
                let properties = &event["Properties"];
                let path = properties["Path"].as_str().unwrap();
                assert_eq!(properties["Method"].as_str(), Some("ANY"), "{path} takes any method");
                routes.insert((path.to_string(), binary.to_string()));
            }
        }
    }
    routes
}

/// (path, function) of every route of the local router in Cargo.toml.
fn router_routes() -> BTreeSet<(String, String)> {
    let manifest: toml::Table = std::fs::read_to_string(repo_root().join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let router = manifest["workspace"]["metadata"]["lambda"]["watch"]["router"]
        .as_table()
        .unwrap();
    router
        .iter()
        .map(|(path, function)| {
            let function = function.as_str().expect("a path routes every method to one function");
            (path.clone(), function.to_string())
        })
        .collect()
}

#[test]
fn the_local_router_serves_exactly_the_template_routes() {
    assert_eq!(router_routes(), template_routes());
}

/// (method, path) of every operation the OpenAPI document describes.
fn documented_operations() -> BTreeSet<(String, String)> {
    let document: serde_json::Value = serde_json::from_str(shared::api::openapi::json()).unwrap();
    let mut operations = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            operations.insert((method.to_uppercase(), path.clone()));
        }
    }
    operations
}

/// A module's route table as (method, path).
fn table<R>(routes: &[shared::http::Route<R>]) -> BTreeSet<(String, String)> {
    routes
        .iter()
        .map(|route| (route.method.to_string(), route.path.to_string()))
        .collect()
}

#[test]
fn each_function_module_serves_the_paths_routed_to_it_and_the_document_its_methods() {
    use shared::api::*;
    use shared::inbound::{amazon, dialpad, email, messenger, shopify, slack, sms, stripe, whatsapp};
    let modules = [
        ("agent-context", table(&agent_context::ROUTES)),
        ("api-keys", table(&api_keys::ROUTES)),
        ("deliveries-redrive", table(&deliveries_redrive::ROUTES)),
        ("health", table(&health::ROUTES)),
        ("ingest", table(&ingest::ROUTES)),
        ("integrations", table(&integrations::ROUTES)),
        ("openapi", table(&openapi::ROUTES)),
        ("tickets", table(&tickets::ROUTES)),
        ("csat", table(&csat::ROUTES)),
        ("conversations", table(&conversations::ROUTES)),
        ("customers", table(&customers::ROUTES)),
        ("sla-policies", table(&sla_policies::ROUTES)),
        ("activate", table(&activate::ROUTES)),
        ("attachments", table(&attachments::ROUTES)),
        ("widget", table(&widget::ROUTES)),
        ("widget-settings", table(&widget_settings::ROUTES)),
        ("webhook-endpoints", table(&webhook_endpoints::ROUTES)),
        ("webhook-sends", table(&webhook_sends::ROUTES)),
        ("shopify-webhooks", table(&shopify::ROUTES)),
        ("stripe-webhooks", table(&stripe::ROUTES)),
        ("amazon-webhooks", table(&amazon::ROUTES)),
        ("email-webhooks", table(&email::ROUTES)),
        ("whatsapp-webhooks", table(&whatsapp::ROUTES)),
        ("messenger-webhooks", table(&messenger::ROUTES)),
        ("slack-webhooks", table(&slack::ROUTES)),
        ("sms-webhooks", table(&sms::ROUTES)),
        ("dialpad-webhooks", table(&dialpad::ROUTES)),
        ("blocked-senders", table(&blocked_senders::ROUTES)),
        ("triggers", table(&triggers::ROUTES)),
        ("trigger-webhooks", table(&trigger_webhooks::ROUTES)),
        ("executions", table(&executions::ROUTES)),
        ("orders", table(&orders::ROUTES)),
    ];
    let routed = router_routes();
    let mut served_operations = BTreeSet::new();
    for (function, routes) in &modules {
        let tabled_paths: BTreeSet<_> = routes.iter().map(|(_, path)| path.clone()).collect();
        let routed_paths: BTreeSet<_> = routed
            .iter()
            .filter(|(_, f)| f == function)
            .map(|(path, _)| path.clone())
            .collect();
        assert_eq!(
            tabled_paths, routed_paths,
            "{function}'s route table and the router disagree"
        );
        served_operations.extend(routes.iter().cloned());
    }
    let served: BTreeSet<_> = routed.iter().map(|(_, f)| f.clone()).collect();
    let tabled: BTreeSet<_> = modules.iter().map(|(f, _)| f.to_string()).collect();
    assert_eq!(served, tabled, "every routed function has a route table");
    // The document describes exactly the methods the route tables serve: any other method gets 405.
    assert_eq!(documented_operations(), served_operations);
}

#[test]
fn every_operation_id_is_unique() {
    let document: serde_json::Value = serde_json::from_str(shared::api::openapi::json()).unwrap();
    let mut seen = BTreeSet::new();
    for (path, operations) in document["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let id = operation["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(seen.insert(id.to_string()), "operationId {id} is used twice");
        }
    }
}

/// The binary of every function in template.yaml.
fn template_binaries() -> BTreeSet<String> {
    template()["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .filter_map(|r| r["Metadata"]["BuildProperties"]["Binary"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn the_delivery_worker_consumes_the_delivery_queue_reporting_item_failures() {
    let template = template();
    let worker = &template["Resources"]["DeliveryWorkerFunction"];
    let source = &worker["Properties"]["Events"]["Deliveries"];
    assert_eq!(source["Type"].as_str(), Some("SQS"));
    let queue = &source["Properties"]["Queue"];
    assert!(format!("{queue:?}").contains("DeliveryQueue"), "{queue:?}");
    assert_eq!(
        source["Properties"]["FunctionResponseTypes"][0].as_str(),
        Some("ReportBatchItemFailures")
    );
    let worker_timeout = worker["Properties"]["Timeout"].as_u64().unwrap();
    let visibility = stack()
        .queue(harness::DELIVERY_QUEUE)
        .unwrap()
        .visibility_timeout
        .unwrap() as u64;
    assert!(
        worker_timeout < visibility,
        "the worker must finish before its messages become visible again"
    );
    assert!(
        template["Resources"]["DeadLetterQueueAlarm"].is_mapping(),
        "an alarm watches the dead-letter queue"
    );
}

#[tokio::test]
async fn the_emulated_buckets_match_the_template() {
    let config = sdk_config(&emulator().endpoint).await;
    let s3 = aws_sdk_s3::Client::new(&config);
    let listed = s3.list_buckets().send().await.unwrap();
    let live: BTreeSet<String> = listed
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_string))
        .collect();
    let stack = stack();
    assert!(!stack.buckets.is_empty());
    for bucket in &stack.buckets {
        assert!(
            live.contains(&admin::template::bucket_name(bucket)),
            "{bucket} is not provisioned"
        );
    }
    assert_eq!(
        admin::template::bucket_name("AttachmentsBucket"),
        harness::ATTACHMENTS_BUCKET
    );
}

#[test]
fn the_sla_job_runs_every_minute_one_run_at_a_time() {
    let template = template();
    let job = &template["Resources"]["SlaBreachesFunction"]["Properties"];
    let schedule = &job["Events"]["EveryMinute"];
    assert_eq!(schedule["Type"].as_str(), Some("Schedule"));
    assert_eq!(schedule["Properties"]["Schedule"].as_str(), Some("rate(1 minute)"));
    assert_eq!(job["ReservedConcurrentExecutions"].as_u64(), Some(1));
    assert!(
        job["Timeout"].as_u64().unwrap() < 60,
        "a run ends before the next one starts"
    );
}

#[test]
fn every_function_has_a_sample_event_and_a_template_entry() {
    let binaries = template_binaries();
    let events: Vec<String> = std::fs::read_dir(repo_root().join("events"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for entry in std::fs::read_dir(repo_root().join("functions")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(binaries.contains(&name), "functions/{name} has no template.yaml entry");
        // One invocation at a time on a fraction of a vCPU: one thread (see `shared::runtime`).
        let main = std::fs::read_to_string(repo_root().join(format!("functions/{name}/src/main.rs"))).unwrap();
        assert!(
            main.contains("#[tokio::main(flavor = \"current_thread\")]"),
            "functions/{name} runs on the multi-thread runtime"
        );
        assert!(
            events.iter().any(|e| e.starts_with(&name)),
            "functions/{name} has no sample event under events/"
        );
    }
    // Every sample event is an event its function accepts: SQS for the worker, SNS for the
    // native Amazon door, API Gateway v2 for the others.
    for event in events {
        let text = std::fs::read_to_string(repo_root().join("events").join(&event)).unwrap();
        if event.starts_with("delivery-worker") || event.starts_with("reply-sender") {
            let sqs: shared::runtime::sqs::SqsEvent = serde_json::from_str(&text).unwrap();
            assert!(!sqs.records.is_empty(), "events/{event}");
        } else if event.starts_with("sla-breaches") {
            let scheduled: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(scheduled["detail-type"], "Scheduled Event", "events/{event}");
        } else if event.starts_with("amazon-notifications") {
            let sns: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert!(sns["Records"][0]["Sns"]["TopicArn"].is_string(), "events/{event}");
        } else {
            lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("events/{event}: {e}"));
        }
    }
}

/// The actions of one service (`dynamodb`, `secretsmanager`) a function's policy statements allow.
fn allowed_actions(function: &str, service: &str) -> BTreeSet<String> {
    let template = template();
    let policies = template["Resources"][function]["Properties"]["Policies"]
        .as_sequence()
        .unwrap_or_else(|| panic!("{function} has no policies"))
        .clone();
    let mut actions = BTreeSet::new();
    for statement in policies.iter().filter_map(|p| p["Statement"].as_sequence()) {
        for granted in statement.iter().filter(|s| s["Effect"].as_str() == Some("Allow")) {
            let listed = match &granted["Action"] {
                Yaml::String(one) => vec![one.clone()],
                Yaml::Sequence(many) => many.iter().filter_map(|a| a.as_str().map(str::to_string)).collect(),
                _ => Vec::new(),
            };
            actions.extend(listed.into_iter().filter(|a| a.split(':').next() == Some(service)));
        }
    }
    actions
}

/// Asserts that `function`'s policies allow each of the actions `needed` (of one service).
fn assert_allows(function: &str, needed: &[&str]) {
    let service = needed[0].split(':').next().unwrap();
    let actions = allowed_actions(function, service);
    for action in needed {
        assert!(actions.contains(*action), "{function} may not {action}: {actions:?}");
    }
}

#[test]
fn the_reply_sender_may_remember_the_chat_replies_it_sends() {
    // Reads the reply, its ticket and integration; records the sending; remembers a chat
    // reply's provider id (a new item) for its receipts.
    assert_allows(
        "ReplySenderFunction",
        &[
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:Query",
        ],
    );
}

/// The emulator checks no IAM, so a function reading its two secrets in one call
/// (`start_with_secret_box`) would pass every other test without the permission.
#[test]
fn functions_reading_two_secrets_at_once_may_do_so() {
    let template = template();
    let resources = template["Resources"].as_mapping().unwrap();
    let mut readers = 0;
    for entry in std::fs::read_dir(repo_root().join("functions")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let main = std::fs::read_to_string(repo_root().join(format!("functions/{name}/src/main.rs"))).unwrap();
        if !main.contains("start_with_secret_box()") {
            continue;
        }
        readers += 1;
        let function = resources
            .iter()
            .find(|(_, r)| r["Metadata"]["BuildProperties"]["Binary"].as_str() == Some(name.as_str()))
            .and_then(|(id, _)| id.as_str())
            .unwrap_or_else(|| panic!("functions/{name} has no template.yaml entry"));
        assert_allows(
            function,
            &["secretsmanager:BatchGetSecretValue", "secretsmanager:GetSecretValue"],
        );
    }
    assert!(readers > 0, "no function reads two secrets at once any more");
}

#[test]
fn the_delivery_worker_may_read_and_write_a_batch_of_records_at_once() {
    // Reads a batch's records in one request and writes its new ones in one; appends an attempt
    // to a record, reads an endpoint, flushes a batching endpoint's buffer.
    assert_allows(
        "DeliveryWorkerFunction",
        &[
            "dynamodb:BatchGetItem",
            "dynamodb:BatchWriteItem",
            "dynamodb:UpdateItem",
            "dynamodb:GetItem",
            "dynamodb:Query",
        ],
    );
}

#[test]
fn replies_through_twilio_know_the_public_url_the_sms_webhook_is_signed_for() {
    let template = template();
    let public_url = |function: &str| {
        template["Resources"][function]["Properties"]["Environment"]["Variables"]["PUBLIC_BASE_URL"].clone()
    };
    assert!(
        !public_url("ReplySenderFunction").is_null(),
        "ReplySenderFunction has no PUBLIC_BASE_URL"
    );
    assert_eq!(public_url("ReplySenderFunction"), public_url("SmsWebhooksFunction"));
}
